//! `GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shapes when asked with
//! `anthropic-version` (what the Anthropic SDKs' `models.list` / `models.retrieve` and Claude Code
//! read): each listed model retrieved alone is the list's own entry (OpenAI's included, which
//! `/v1/messages` translates), a model `/v1/messages` does not serve or no key reaches is Anthropic's 404, and the same path without the header stays
//! OpenAI's. Nothing reaches a provider.

use converra::Provider;
use converra_test_kit::providers::valid_key;
use converra_test_kit::{Answer, TestApp, app_with_mocks};
use serde_json::{Value, json};

/// `GET path` as an Anthropic client sends it: the key as `x-api-key`, with `anthropic-version`.
async fn get_anthropic(app: &TestApp, path: &str, key: &str) -> Answer {
    let request = app.http.get(app.url(path)).header("x-api-key", key).header("anthropic-version", "2023-06-01");
    Answer::of(request.send().await.expect("request sent")).await
}

#[tokio::test]
async fn a_model_asked_with_anthropic_version_is_the_lists_entry_in_anthropics_shape() {
    let (app, mocks) = app_with_mocks(&[]).await;
    for p in [Provider::Anthropic, Provider::Deepseek, Provider::Openai] {
        app.add_provider_key(&app.api_key, p, valid_key(p), Value::Null).await;
    }
    let sent_before = mocks.anthropic.received_requests().await.unwrap().len();

    let listed = get_anthropic(&app, "/v1/models", &app.api_key).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let data = listed.body["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
    // OpenAI's too: `/v1/messages` translates them.
    assert!(
        ids.contains(&"claude-sonnet-4-5") && ids.contains(&"deepseek-chat") && ids.contains(&"gpt-4o-mini"),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|m| m.starts_with("gemini")), "only what /v1/messages serves: {ids:?}");
    for entry in data {
        let id = entry["id"].as_str().unwrap();
        let one = get_anthropic(&app, &format!("/v1/models/{id}"), &app.api_key).await;
        assert_eq!((one.status, &one.body), (200, entry), "{id}: {}", one.text);
    }
    let claude = json!({"type": "model", "id": "claude-sonnet-4-5", "display_name": "claude-sonnet-4-5", "created_at": "1970-01-01T00:00:00Z"});
    // The `provider/` prefix `/v1/messages` accepts names the same model.
    let prefixed = get_anthropic(&app, "/v1/models/anthropic/claude-sonnet-4-5", &app.api_key).await;
    assert_eq!((prefixed.status, prefixed.body), (200, claude));

    // A Gemini model (not served by `/v1/messages`) and a model nobody knows: Anthropic's 404.
    app.add_provider_key(&app.api_key, Provider::Gemini, valid_key(Provider::Gemini), Value::Null).await;
    for id in ["gemini-2.5-flash", "claude-nonexistent-9"] {
        let missing = get_anthropic(&app, &format!("/v1/models/{id}"), &app.api_key).await;
        assert_eq!(missing.status, 404, "{id}: {}", missing.text);
        assert_eq!(missing.body["type"], "error", "{}", missing.text);
        assert_eq!(missing.body["error"]["type"], "not_found_error", "{}", missing.text);
        assert_eq!(missing.body["error"]["code"], "NOT_FOUND", "{}", missing.text);
        assert!(missing.body["error"]["message"].is_string(), "{}", missing.text);
    }
    // A wrong key, asked the same way: Anthropic's authentication error.
    let refused = get_anthropic(&app, "/v1/models/claude-sonnet-4-5", "sk_live_wrong").await;
    assert_eq!(
        (refused.status, &refused.body["error"]["type"]),
        (401, &json!("authentication_error")),
        "{}",
        refused.text
    );

    // Without the header, OpenAI's shape for the same path.
    let openai = app.get("/v1/models/claude-sonnet-4-5", &app.api_key).await;
    assert_eq!(openai.status, 200, "{}", openai.text);
    assert_eq!(
        openai.body,
        json!({"id": "anthropic/claude-sonnet-4-5", "object": "model", "created": 0, "owned_by": "anthropic"})
    );
    assert_eq!(mocks.anthropic.received_requests().await.unwrap().len(), sent_before, "nothing reached Anthropic");
}

#[tokio::test]
async fn without_a_key_that_reaches_claude_its_models_are_anthropics_404() {
    let (app, _mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    let listed = get_anthropic(&app, "/v1/models", &app.api_key).await;
    let ids: Vec<&str> = listed.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|m| m.starts_with("gpt") || m.starts_with('o')),
        "only OpenAI's: {}",
        listed.text
    );
    let missing = get_anthropic(&app, "/v1/models/claude-sonnet-4-5", &app.api_key).await;
    assert_eq!((missing.status, &missing.body["error"]["type"]), (404, &json!("not_found_error")), "{}", missing.text);
}
