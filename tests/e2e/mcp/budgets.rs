//! Budgets through MCP: an admin sets one with `set_budget`, `get_usage` shows it with its spend,
//! a member may not set one, and a completion it has no room for is a tool error carrying
//! `BUDGET_EXCEEDED` with the budget that refused it.

use converra::Provider;
use converra_test_kit::app_with_mocks;
use converra_test_kit::mcp::{call, connect};
use converra_test_kit::providers::valid_key;
use serde_json::{Value, json};

use super::tools::{assert_tool_error, ok, tool_error};

#[tokio::test]
async fn an_admin_sets_a_budget_get_usage_shows_it_and_a_completion_past_it_is_a_tool_error() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    mocks.answer_text(Provider::Openai, key, "gpt-4o-mini", "Hi.").await;
    let owner = connect(&app, &app.api_key).await;
    let (_, member_key) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    let member = connect(&app, &member_key).await;

    let budget = json!({"scope": "organization", "limit_micro_usd": 100, "threshold_percent": 50});
    assert_tool_error(
        call(&member, "set_budget", budget.clone()).await,
        "FORBIDDEN",
        "This action requires the admin or owner role",
    );
    let set = ok(call(&owner, "set_budget", budget).await);
    assert_eq!((set["limit_micro_usd"].as_u64(), set["threshold_percent"].as_u64()), (Some(100), Some(50)));

    let ask = |max_tokens: u32| json!({"model": "openai/gpt-4o-mini", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "Hi"}]});
    let done = ok(call(&member, "run_completion", ask(10)).await);
    assert_eq!((done["cost_micro_usd"].as_u64(), done["cost_known"].as_bool()), (Some(5), Some(true)));
    let usage = ok(call(&member, "get_usage", json!({})).await);
    assert_eq!(usage["budgets"][0]["spent_micro_usd"], 5, "members read the budgets: {usage}");
    assert_eq!(usage["budgets"][0]["scope"], "organization");

    let refused = call(&member, "run_completion", ask(1000)).await;
    let body = tool_error(refused);
    assert_eq!(body["error"]["code"], "BUDGET_EXCEEDED", "{body}");
    assert_eq!(body["error"]["budget"]["limit_micro_usd"], 100);
    assert_eq!(body["error"]["budget"]["call_max_micro_usd"], 601);
    owner.cancel().await.ok();
    member.cancel().await.ok();
}
