//! The story of issue 18: a key runs dry mid-traffic, is flagged by the next completion, shows
//! on every face, is re-tested in the background and turns green when topped up, and the
//! operator's webhook hears both changes.

use converra::{CompletionRequest, HealthFilter, HealthStatus, ProviderKeyFilter};
use converra_test_kit::mcp::{call, connect};
use converra_test_kit::providers::MockProviders;

use super::*;

fn tool_text(result: &rmcp::model::CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn a_key_that_runs_dry_mid_traffic_is_flagged_everywhere_then_turns_green_by_itself() {
    let mocks = MockProviders::start().await;
    let account = Account::default();
    mount_account(&mocks, &account).await;
    let (webhook, received) = webhook_receiver().await;
    let app = health_app(&mocks, &webhook, false).await;
    let id = add_key(&app).await;

    // In credit: completions work and the key is not flagged.
    assert_eq!(complete(&app).await.status, 200);
    app.core.health().flush().await;
    let key = &listed(&app, "").await[0];
    assert_eq!(key["health"]["status"], "ok", "{key}");
    assert!(key["health"]["last_success_at"].is_string(), "{key}");

    // The account runs dry: the very next completion flags the key and its error says so,
    // beside the unchanged message.
    account.run_dry();
    let failed = complete(&app).await;
    failed.assert_error(502, "PROVIDER_ERROR", "Quota exceeded");
    assert_eq!(failed.body["error"]["provider_status"], "quota_exceeded");
    let health = failed.body["error"]["health"].as_str().expect("a health field");
    assert!(
        health.starts_with("the organization's OpenAI key has failed 1 time since ")
            && health.ends_with(" UTC: Quota exceeded"),
        "{health}"
    );
    let again = complete(&app).await;
    let health = again.body["error"]["health"].as_str().expect("a health field");
    assert!(health.contains("has failed 2 times since"), "failures are counted: {health}");

    // The OpenAI-compatible face: the same field beside OpenAI's error object.
    let body = json!({"model": format!("openai/{MODEL}"), "messages": [{"role": "user", "content": "Hi"}]});
    let v1 = app.post("/v1/chat/completions", &app.api_key, body).await;
    assert_eq!(v1.status, 502, "{}", v1.text);
    assert_eq!(
        (v1.body["error"]["code"].as_str(), v1.body["error"]["message"].as_str()),
        (Some("quota_exceeded"), Some("Quota exceeded"))
    );
    assert!(v1.body["error"]["health"].as_str().unwrap().contains("has failed 3 times"), "{}", v1.text);

    // REST: the health object, and the filter.
    let key = &listed(&app, "").await[0];
    assert_eq!(
        (key["health"]["status"].as_str(), key["status"].as_str()),
        (Some("quota_exceeded"), Some("quota_exceeded"))
    );
    assert_eq!(key["health"]["consecutive_failures"], 3, "{key}");
    assert!(key["health"]["since"].is_string() && key["health"]["next_retest_at"].is_string(), "{key}");
    assert!(key.get("last_test").is_none(), "live health is not the manual test: {key}");
    assert_eq!(listed(&app, "?health=failing").await.len(), 1);
    assert_eq!(listed(&app, "?health=healthy").await.len(), 0);
    let counts = app.core.health().key_health_counts().await.unwrap();
    assert_eq!((counts.quota_exceeded, counts.ok, counts.invalid_key), (1, 0, 0), "the metrics' counts");

    // MCP: the list and the tool error.
    let mcp = connect(&app, &app.api_key).await;
    let list = call(&mcp, "list_provider_keys", json!({"health": "failing"})).await;
    let list = list.structured_content.expect("structured content");
    assert_eq!(list["data"][0]["health"]["status"], "quota_exceeded", "{list}");
    let run = call(
        &mcp,
        "run_completion",
        json!({"model": format!("openai/{MODEL}"), "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(run.is_error, Some(true));
    let error: Value = serde_json::from_str(&tool_text(&run)).unwrap();
    assert_eq!(error["error"]["message"], "Quota exceeded");
    assert!(error["error"]["health"].as_str().unwrap().contains("OpenAI key has failed"), "{error}");

    // SDK: the typed list and `ApiError::health`.
    let sdk = app.sdk(&app.api_key);
    let filter = ProviderKeyFilter { health: Some(HealthFilter::Failing), ..Default::default() };
    let failing = sdk.provider_keys().list(filter).await.unwrap();
    assert_eq!(failing[0].health.as_ref().unwrap().status, HealthStatus::QuotaExceeded);
    let err = sdk.completions().create(CompletionRequest::new(format!("openai/{MODEL}"), "Hi")).await.unwrap_err();
    let converra::Error::Api(api) = err else { panic!("an API error: {err:?}") };
    assert_eq!(api.message, "Quota exceeded");
    assert!(api.health.as_deref().unwrap().contains("OpenAI key has failed"), "{api:?}");

    // The web face: the Integrations page names the failure, its count and the last use.
    let page = crate::web::signed_in(&app, &app.api_key).await.get("/settings/integrations").await;
    assert!(page.body.contains("Quota exceeded</span> ×5") && page.body.contains("Last used "), "{}", page.body);

    // Topped up: nobody presses Test, no completion runs; the background re-test turns it green.
    account.top_up();
    let mut status = String::new();
    for _ in 0..100 {
        status = listed(&app, "").await[0]["health"]["status"].as_str().unwrap().to_owned();
        if status == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "ok", "the re-test cleared the flag");
    assert_eq!(listed(&app, "?health=failing").await.len(), 0);

    // The webhook heard both changes, each once, signed, with nothing of the key but its last four.
    let events = events(&received, 2).await;
    let kinds: Vec<_> =
        events.iter().map(|e| (e["type"].as_str().unwrap(), e["data"]["status"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("key.health_changed", "quota_exceeded"), ("key.health_changed", "ok")]);
    assert_eq!(
        (events[0]["data"]["reason"].as_str(), events[1]["data"]["reason"].as_str()),
        (Some("live_traffic"), Some("retest"))
    );
    assert_ne!(events[0]["id"], events[1]["id"], "each event has its own id");
    assert_eq!(events[0]["data"]["key"]["id"], id.as_str());
    assert_eq!(events[0]["data"]["key"]["last_four"], "qrst");
    for (_, body) in received.lock().unwrap().iter() {
        assert_no_secret(body);
        assert!(!body.contains(WEBHOOK_SECRET), "{body}");
    }
}
