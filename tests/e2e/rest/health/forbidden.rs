//! A 403 in traffic can be one model the key may not use, which any member could trigger: it
//! is shown as the key's last error and never flags it.

use converra_test_kit::providers::{MockProviders, permission_denied};

use super::*;

#[tokio::test]
async fn a_403_in_traffic_is_the_last_error_but_does_not_flag_the_key() {
    let mocks = MockProviders::start().await;
    let (name, value) = auth_header(Provider::Openai, KEY);
    Mock::given(method("POST"))
        .and(path(chat_path(Provider::Openai, MODEL, false)))
        .and(header(name, value.as_str()))
        .respond_with(permission_denied())
        .mount(mocks.server(Provider::Openai))
        .await;
    let (webhook, received) = webhook_receiver().await;
    let app = health_app(&mocks, &webhook, false).await;
    add_key(&app).await;

    let failed = complete(&app).await;
    failed.assert_error(502, "PROVIDER_ERROR", "Permission denied");
    assert!(failed.body["error"].get("health").is_none(), "an unflagged key has no health sentence: {}", failed.text);
    app.core.health().flush().await;
    let key = &listed(&app, "").await[0];
    assert_eq!(key["health"]["status"], "unknown", "{key}");
    assert_eq!(key["health"]["last_error"], "permission_denied", "{key}");
    assert!(key["health"]["last_error_at"].is_string(), "{key}");
    assert_eq!(listed(&app, "?health=failing").await.len(), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(received.lock().unwrap().is_empty(), "no event for a key that did not change");
}
