//! A provider key sent with `"test": true` (on add or on replace) that fails its test is not
//! stored, and the answer says so: `KEY_REJECTED` 422 when the provider refused the key itself
//! (invalid, no permission, no quota), `PROVIDER_ERROR` 502 with the host that was tried when it
//! could not be reached or rate-limited the test; always `stored: false`, the status's fixed words
//! (`KeyStatus::message`) as the message, and nothing in the message beyond it. The attempt is in
//! the audit log, refused.

use converra::{AddProviderKey, ErrorCode, KeyStatus, Provider, UpdateProviderKey};
use converra_test_kit::providers::{MockProviders, insufficient_quota, permission_denied, revoked_key, valid_key};
use converra_test_kit::{Answer, Options, TestApp, spawn_app_on, spawn_app_with};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

const OPENAI_QUOTA: &str = "sk-proj-NOQUOTAopenaiKEY0123456789abcdqqqq";
const OPENAI_DENIED: &str = "sk-proj-NOPERMISSIONopenaiKEY0123456789pppp";
const OPENAI_REPLACEMENT: &str = "sk-proj-REPLACEMENTopenaiKEY0123456789rrrr";

/// Adds an OpenAI key with `test: true` (tested before it is stored).
async fn add_tested(app: &TestApp, secret: &str) -> Answer {
    app.try_add_provider_key(&app.api_key, Provider::Openai, secret, json!({"test": true})).await
}

async fn stored_keys(app: &TestApp) -> Vec<Value> {
    let listed = app.get("/api/v1/provider-keys", &app.api_key).await;
    listed.body["data"].as_array().cloned().unwrap_or_else(|| panic!("a list: {}", listed.text))
}

/// The error fields beside `code` and `message`, and that no secret is in the answer.
#[track_caller]
fn assert_not_stored(answer: &Answer, provider_status: &str, host: Option<&str>, secret: &str) {
    let error = &answer.body["error"];
    assert_eq!(error["provider_status"], provider_status, "{}", answer.text);
    assert_eq!(error["stored"], false, "{}", answer.text);
    assert_eq!(error["host"].as_str(), host, "{}", answer.text);
    assert!(!answer.text.contains(secret) && !answer.text.contains(&secret[8..24]), "{}", answer.text);
}

#[tokio::test]
async fn a_key_the_provider_refuses_is_rejected_as_the_callers_error_and_not_stored() {
    let mocks = MockProviders::start().await;
    mocks.answer_models(Provider::Openai, OPENAI_QUOTA, insufficient_quota()).await;
    mocks.answer_models(Provider::Openai, OPENAI_DENIED, permission_denied()).await;
    let app = spawn_app_on(&mocks).await;

    for (secret, status, message) in [
        (revoked_key(Provider::Openai), "invalid_key", "Invalid API key"),
        (OPENAI_QUOTA, "quota_exceeded", "Quota exceeded"),
        (OPENAI_DENIED, "permission_denied", "Permission denied"),
    ] {
        let refused = add_tested(&app, secret).await;
        refused.assert_error(422, "KEY_REJECTED", message);
        assert_not_stored(&refused, status, None, secret);
        assert!(!refused.text.contains("exceeded your current quota"), "no provider text: {}", refused.text);
    }
    assert!(stored_keys(&app).await.is_empty(), "nothing was stored");
    // Each attempt is in the audit log, refused, with nothing of the secret but its last four.
    let audit = app.get("/api/v1/audit-events", &app.api_key).await;
    let refusals: Vec<&Value> =
        audit.body["data"].as_array().unwrap().iter().filter(|e| e["action"] == "provider_key.created").collect();
    assert_eq!(refusals.len(), 3, "{}", audit.text);
    let newest = refusals[0];
    assert_eq!((&newest["outcome"], &newest["object_id"]), (&json!("failure"), &json!("")), "{newest}");
    let detail = &newest["detail"];
    assert_eq!(
        (&detail["stored"], &detail["status"], &detail["last_four"]),
        (&json!(false), &json!("permission_denied"), &json!("pppp"))
    );
    assert!(!audit.text.contains(&OPENAI_DENIED[8..24]), "{}", audit.text);

    // The SDK reads the same answer into one sentence.
    let sdk = app.sdk(&app.api_key);
    let add = AddProviderKey::new(Provider::Openai, "Tested", OPENAI_QUOTA).test_first();
    let err = sdk.provider_keys().add(add).await.unwrap_err();
    let api = err.api().expect("an error answer");
    assert_eq!((api.code.as_ref(), api.status), (Some(&ErrorCode::KeyRejected), Some(422)));
    assert_eq!((api.provider_status, api.stored), (Some(KeyStatus::QuotaExceeded), Some(false)));
    assert_eq!(err.to_string(), "The key was not stored: Quota exceeded");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_provider_error_that_names_the_host_tried() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base_urls = [(Provider::Openai, format!("http://127.0.0.1:{port}/v1"))].into_iter().collect();
    let app = spawn_app_with(Options { base_urls, ..Default::default() }).await;
    let secret = valid_key(Provider::Openai);
    let host = format!("127.0.0.1:{port}");

    let refused = add_tested(&app, secret).await;
    refused.assert_error(502, "PROVIDER_ERROR", "Provider unreachable");
    assert_not_stored(&refused, "unreachable", Some(&host), secret);
    assert!(stored_keys(&app).await.is_empty(), "nothing was stored");

    let err = app
        .sdk(&app.api_key)
        .provider_keys()
        .add(AddProviderKey::new(Provider::Openai, "Tested", secret).test_first())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), format!("The key was not stored: Provider unreachable (tried {host})"));
}

#[tokio::test]
async fn a_rate_limited_test_is_a_provider_error_too() {
    let mocks = MockProviders::start().await;
    let rate_limited = ResponseTemplate::new(429).set_body_json(json!({"error": {
        "message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}));
    mocks.answer_models(Provider::Openai, OPENAI_QUOTA, rate_limited).await;
    let app = spawn_app_on(&mocks).await;
    let host = mocks.server(Provider::Openai).address().to_string();

    let refused = add_tested(&app, OPENAI_QUOTA).await;
    refused.assert_error(502, "PROVIDER_ERROR", "Rate limited by the provider");
    assert_not_stored(&refused, "rate_limited", Some(&host), OPENAI_QUOTA);
    assert!(stored_keys(&app).await.is_empty());
}

#[tokio::test]
async fn replacing_with_a_test_keeps_the_old_secret_unless_the_new_one_passes() {
    let mocks = MockProviders::start().await;
    mocks.accept_models(Provider::Openai, OPENAI_REPLACEMENT).await;
    let app = spawn_app_on(&mocks).await;
    let added = app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    let (id, masked) = (added["id"].as_str().unwrap().to_owned(), added["masked"].clone());
    let path = format!("/api/v1/provider-keys/{id}");

    let refused = app.put(&path, &app.api_key, json!({"api_key": revoked_key(Provider::Openai), "test": true})).await;
    refused.assert_error(422, "KEY_REJECTED", "Invalid API key");
    assert_not_stored(&refused, "invalid_key", None, revoked_key(Provider::Openai));
    let kept = app.get(&path, &app.api_key).await;
    assert_eq!((&kept.body["masked"], &kept.body["status"]), (&masked, &json!("untested")), "{}", kept.text);
    let audit = app.get("/api/v1/audit-events", &app.api_key).await;
    let newest = &audit.body["data"][0];
    assert_eq!(
        (&newest["action"], &newest["object_id"], &newest["outcome"]),
        (&json!("provider_key.updated"), &json!(id), &json!("failure"))
    );
    let detail = &newest["detail"];
    assert_eq!((&detail["stored"], &detail["status"]), (&json!(false), &json!("invalid_key")));
    assert_eq!(detail["last_four"], "zzzz", "the refused secret's last four, not the stored one's");

    let update = UpdateProviderKey::new(OPENAI_REPLACEMENT).test_first();
    let replaced = app.sdk(&app.api_key).provider_keys().update(&id, update).await.unwrap();
    assert_eq!(replaced.status, KeyStatus::Ok);
    assert!(replaced.masked.unwrap().ends_with("rrrr"));
    assert_eq!(replaced.last_test.map(|t| t.message).as_deref(), Some("Connection successful"));
}
