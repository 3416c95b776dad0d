//! MCP protocol traffic does not spend the user's work budget: only `tools/call` spends the
//! key's plan bucket; `initialize`, notifications, `tools/list` and the rest spend the protocol
//! bucket (10× the plan rate). A rate-limited `tools/call` is a tool result the model can read
//! (`isError: true`, `RATE_LIMITED`, the seconds to wait), not an HTTP 429.

use converra_test_kit::mcp::{Client, connect};
use converra_test_kit::spawn_app;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::Value;

async fn list_keys(client: &Client) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new("list_provider_keys".to_owned()))
        .await
        .expect("a tool result, never a transport error")
}

#[tokio::test]
async fn sessions_never_lock_a_free_plan_out_and_the_61st_tool_call_is_a_readable_tool_error() {
    let app = spawn_app().await;
    // 20 sessions of the real rmcp client on the free plan (60/min): each initializes, notifies
    // and lists tools, far more than 60 requests in all, and every one connects.
    for session in 0..20 {
        let client = connect(&app, &app.api_key).await;
        let tools = client.list_all_tools().await.unwrap_or_else(|e| panic!("session {session}: tools/list: {e}"));
        assert_eq!(tools.len(), 7, "session {session}");
        client.cancel().await.ok();
    }
    // The plan's 60 tool calls are all there; the 61st is a tool error with the wait in it.
    let client = connect(&app, &app.api_key).await;
    for i in 0..60 {
        let result = list_keys(&client).await;
        assert_ne!(result.is_error, Some(true), "call {i} was refused: {result:?}");
    }
    let refused = list_keys(&client).await;
    assert_eq!(refused.is_error, Some(true), "the 61st call is a tool error: {refused:?}");
    let text = refused.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect::<String>();
    let body: Value = serde_json::from_str(&text).expect("the error text is the JSON error body");
    assert_eq!(body["error"]["code"], "RATE_LIMITED", "{body}");
    assert!(body["error"]["retry_after"].as_u64().is_some_and(|s| (1..=60).contains(&s)), "seconds to wait: {body}");
    // Protocol traffic still passes, and REST shares the plan bucket the tool calls spent.
    assert!(client.list_all_tools().await.is_ok(), "tools/list still answers");
    assert_eq!(app.get("/api/v1/me", &app.api_key).await.status, 429, "one plan bucket for REST and tools/call");
}
