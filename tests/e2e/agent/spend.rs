//! Budgets on the agent endpoints: a call a budget has no room for is refused before anything
//! is sent, with status 402 in the endpoint's own API's error shape (OpenAI's
//! `insufficient_quota` with code `budget_exceeded`, Anthropic's `billing_error`) and
//! `x-should-retry: false`, so the official SDKs and the agents built on them do not retry it;
//! a whole answer says what it cost in `X-Converra-Cost-Usd`; a tool the provider runs and bills
//! per use must be capped for a call to be bounded while a budget applies.

use converra::Provider;
use converra_test_kit::app_with_mocks;
use converra_test_kit::providers::valid_key;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::messages::{post_with, received_at};
use super::post_chat;

#[tokio::test]
async fn a_spent_budget_answers_402_in_openais_shape_and_anthropics_and_says_not_to_retry() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let (openai, anthropic) = (valid_key(Provider::Openai), valid_key(Provider::Anthropic));
    app.add_provider_key(&app.api_key, Provider::Openai, openai, Value::Null).await;
    app.add_provider_key(&app.api_key, Provider::Anthropic, anthropic, Value::Null).await;
    mocks.answer_text(Provider::Openai, openai, "gpt-4o-mini", "Hi.").await;
    let budget = json!({"scope": "organization", "limit_micro_usd": 10_000});
    assert_eq!(app.put("/api/v1/budgets", &app.api_key, budget).await.status, 200);

    // Capped at 100 tokens: it fits (at most 61 micro-dollars), runs and says what it cost.
    let small =
        r#"{"model":"gpt-4o-mini","max_completion_tokens":100,"messages":[{"role":"user","content":"Say hi"}]}"#;
    let ok = post_chat(&app, small).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(ok.header("x-converra-cost-usd").is_some(), "{:?}", ok.headers);

    // No cap: up to 128,000 output tokens at $0.60 per million, $0.0768, over the $0.01 limit.
    let uncapped = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a novel"}]}"#;
    let refused = post_chat(&app, uncapped).await;
    assert_eq!(refused.status, 402, "{}", refused.text);
    assert_eq!(refused.body["error"]["type"], "insufficient_quota");
    assert_eq!(refused.body["error"]["code"], "budget_exceeded");
    let message = refused.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("The organization budget of $0.010000 for this month has no room"), "{message}");
    assert_eq!(refused.header("x-should-retry"), Some("false"));

    let claude =
        r#"{"model":"claude-sonnet-4-5","max_tokens":64000,"messages":[{"role":"user","content":"Write a novel"}]}"#;
    let headers = [("x-api-key", app.api_key.as_str()), ("anthropic-version", "2023-06-01")];
    let refused = post_with(&app, "/v1/messages", &headers, claude).await;
    assert_eq!(refused.status, 402, "{}", refused.text);
    assert_eq!(refused.body["type"], "error");
    assert_eq!(refused.body["error"]["type"], "billing_error");
    assert!(refused.body["error"]["message"].as_str().unwrap_or_default().contains("has no room for this call"));
    assert_eq!(refused.header("x-should-retry"), Some("false"));
    assert!(received_at(&mocks, Provider::Anthropic, "/v1/messages").await.is_empty(), "nothing reached Anthropic");
    assert_eq!(mocks.chat_requests(Provider::Openai).await.len(), 1, "only the call that fit reached OpenAI");
}

/// While a budget applies, a tool the provider runs and bills per use must be capped
/// (`max_uses`) for the call to be bounded, and one billed by container time cannot be.
#[tokio::test]
async fn a_budget_refuses_provider_run_tools_it_cannot_bound_and_reserves_for_capped_ones() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    let answer = super::messages::claude_message("claude-sonnet-4-5", "Found it.");
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(answer, "application/json"))
        .mount(&mocks.anthropic)
        .await;
    let ask = |tool: &str| {
        format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{{"role":"user","content":"Search"}}],"tools":[{tool}]}}"#
        )
    };
    let search = r#"{"type":"web_search_20250305","name":"web_search"}"#;
    let capped = r#"{"type":"web_search_20250305","name":"web_search","max_uses":3}"#;
    let code = r#"{"type":"code_execution_20250825","name":"code_execution"}"#;
    let headers = [("x-api-key", app.api_key.as_str()), ("anthropic-version", "2023-06-01")];
    // No budget: nothing is read or refused.
    assert_eq!(post_with(&app, "/v1/messages", &headers, ask(search)).await.status, 200);

    let budget = json!({"scope": "organization", "limit_micro_usd": 1_000_000});
    assert_eq!(app.put("/api/v1/budgets", &app.api_key, budget).await.status, 200);
    let refused = post_with(&app, "/v1/messages", &headers, ask(search)).await;
    assert_eq!(refused.status, 402, "{}", refused.text);
    assert_eq!(refused.body["error"]["type"], "billing_error");
    assert_eq!(
        refused.body["error"]["message"],
        "The organization budget applies to this call and its cost cannot be bounded: the `web_search` charge has no \
         cap on its units"
    );
    let refused = post_with(&app, "/v1/messages", &headers, ask(code)).await;
    assert_eq!(refused.status, 402, "{}", refused.text);
    // Three searches at $10 per 1,000 are at most $0.03 more: bounded, reserved, sent.
    let sent = post_with(&app, "/v1/messages", &headers, ask(capped)).await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(received_at(&mocks, Provider::Anthropic, "/v1/messages").await.len(), 2, "the refused were not sent");
}
