//! `/v1/messages` refusals in Anthropic's own error shape (`{"type":"error","error":{…}}`, with
//! Converra's code beside the message) and `x-should-retry: false` wherever a retry changes
//! nothing: Converra's refusals (AI off, an account-resource beta, a Gemini model, a
//! duplicate field, a body over the `/v1` limit, an unknown `/v1` path) send nothing upstream;
//! the provider's 401 flags the key (a gateway failure, 502), its 403 flags nothing (403).

use converra::Provider;
use converra_test_kit::providers::{MockProviders, invalid_key_answer, valid_key};
use converra_test_kit::{Options, app_with_mocks, spawn_app_with};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::messages::{BETA, post_with, received_at};

fn assert_anthropic_error(answer: &converra_test_kit::Answer, status: u16, kind: &str, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.body["type"], "error", "{}", answer.text);
    assert_eq!(answer.body["error"]["type"], kind, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.text);
    assert!(answer.body["error"]["message"].is_string(), "{}", answer.text);
}

#[tokio::test]
async fn converras_refusals_take_anthropics_shape_say_not_to_retry_and_send_nothing() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Anthropic, valid_key(Provider::Anthropic), Value::Null).await;
    let agent = app.api_key.clone();
    let headers = [("x-api-key", agent.as_str()), ("anthropic-version", "2023-06-01")];
    let hi = r#"{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;

    let twice = r#"{"model":"claude-sonnet-4-5","max_tokens":10,"max_tokens":100000,"messages":[]}"#;
    let refused = post_with(&app, "/v1/messages", &headers, twice).await;
    assert_anthropic_error(&refused, 400, "invalid_request_error", "VALIDATION_ERROR");
    assert_eq!(refused.body["error"]["field"], "max_tokens");
    assert_eq!(refused.header("x-should-retry"), Some("false"));

    // A beta that opens objects stored on the provider account: no member's file is ever relayed.
    let files = [headers[0], headers[1], ("anthropic-beta", "claude-code-20250219,files-api-2025-04-14")];
    let refused = post_with(&app, "/v1/messages", &files, hi).await;
    assert_anthropic_error(&refused, 400, "invalid_request_error", "UNSUPPORTED_FIELD");
    assert_eq!(refused.body["error"]["field"], "anthropic-beta: files-api-2025-04-14");
    assert_eq!(refused.header("x-should-retry"), Some("false"));

    // Gemini's models are not carried on this endpoint (OpenAI's are translated): named.
    let gemini = r#"{"model":"gemini-2.5-flash","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;
    let refused = post_with(&app, "/v1/messages", &headers, gemini).await;
    assert_anthropic_error(&refused, 400, "invalid_request_error", "UNSUPPORTED_FIELD");
    assert_eq!(refused.body["error"]["field"], "model");

    // Any other `/v1` path, asked by an Anthropic client.
    let elsewhere = post_with(&app, "/v1/files", &headers, "{}").await;
    assert_anthropic_error(&elsewhere, 404, "not_found_error", "NOT_FOUND");

    let off = app.put("/api/v1/settings/ai", &app.api_key, json!({"enabled": false})).await;
    assert_eq!(off.status, 200, "{}", off.text);
    let refused = post_with(&app, "/v1/messages", &headers, hi).await;
    assert_anthropic_error(&refused, 409, "invalid_request_error", "AI_DISABLED");
    assert_eq!(refused.header("x-should-retry"), Some("false"));

    assert!(received_at(&mocks, Provider::Anthropic, "/v1/messages").await.is_empty(), "nothing reached Anthropic");
}

#[tokio::test]
async fn a_body_over_the_v1_limit_gets_413_in_anthropics_shape() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        configure: Some(|c| c.v1_body_limit = 1 << 20),
        ..Default::default()
    })
    .await;
    let big = format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(2 << 20)
    );
    let refused = post_with(&app, "/v1/messages", &[("x-api-key", app.api_key.as_str())], big).await;
    assert_anthropic_error(&refused, 413, "request_too_large", "PAYLOAD_TOO_LARGE");
    assert_eq!(refused.header("x-should-retry"), Some("false"));
}

#[tokio::test]
async fn the_providers_401_flags_the_key_and_its_403_flags_nothing() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    let stored = app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    let id = stored["id"].as_str().unwrap();
    let headers = [("x-api-key", app.api_key.as_str()), ("anthropic-version", "2023-06-01"), ("anthropic-beta", BETA)];
    let hi = r#"{"model":"claude-opus-4-1","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#;

    let forbidden = ResponseTemplate::new(403).set_body_json(json!({"type": "error",
        "error": {"type": "permission_error", "message": "Your API key does not have permission to use the specified resource."}}));
    mocks.answer_chat(Provider::Anthropic, key, "claude-opus-4-1", false, forbidden).await;
    let refused = post_with(&app, "/v1/messages", &headers, hi).await;
    // Its status and Anthropic's type (the SDKs raise a permission error), in Converra's words.
    assert_anthropic_error(&refused, 403, "permission_error", "PROVIDER_ERROR");
    assert_eq!(refused.body["error"]["message"], "Permission denied");
    assert_eq!(refused.body["error"]["provider_status"], "permission_denied");
    assert_eq!(refused.header("x-should-retry"), Some("false"));
    let listed = app.get(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await;
    assert_ne!(listed.body["health"]["status"], "permission_denied", "a 403 flags nothing: {}", listed.text);

    mocks.anthropic.reset().await;
    mocks
        .answer_chat(Provider::Anthropic, key, "claude-opus-4-1", false, invalid_key_answer(Provider::Anthropic, key))
        .await;
    let refused = post_with(&app, "/v1/messages", &headers, hi).await;
    assert_anthropic_error(&refused, 502, "api_error", "PROVIDER_ERROR");
    assert_eq!(refused.body["error"]["message"], "Invalid API key");
    assert_eq!(refused.body["error"]["provider_status"], "invalid_key");
    assert_eq!(refused.header("x-should-retry"), Some("false"));
    assert_eq!(refused.header("x-converra-key-source"), Some("organization"), "which key failed");
    assert_eq!(refused.header("x-converra-key-id"), Some(id));
    let listed = app.get(&format!("/api/v1/provider-keys/{id}"), &app.api_key).await;
    assert_eq!(listed.body["health"]["status"], "invalid_key", "{}", listed.text);
}
