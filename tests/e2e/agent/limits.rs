//! `/v1`'s own size limit (32 MiB by default: a pasted screenshot fits; the other faces keep
//! theirs) with its 413 in OpenAI's shape, and the platform allowance on a forwarded call: an
//! image counted by a fixed estimate, not its bytes; the output cap set or clamped in place;
//! more than one answer refused.

use converra::Provider;
use converra_test_kit::providers::{MockProviders, valid_key};
use converra_test_kit::{Options, app_with_mocks, spawn_app_with};
use serde_json::{Value, json};

use super::{post_chat, received, with_model};

const PLATFORM: &str = "sk-platformKEY0123456789abcdef";

/// A chat with one user turn holding an image of `image_bytes` base64 characters.
fn with_image(model: &str, image_bytes: usize) -> String {
    format!(
        r#"{{"model":"{model}","user":"u-1","messages":[{{"role":"user","content":[{{"type":"text","text":"What is on this screenshot?"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{}"}}}}]}}]}}"#,
        "A".repeat(image_bytes)
    )
}

#[tokio::test]
async fn an_8_mib_request_with_an_image_is_carried_on_the_platform_allowance() {
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, PLATFORM)]).await;
    mocks.answer_text(Provider::Openai, PLATFORM, "gpt-4o-mini", "A cat.").await;
    // 8 MiB of image would be ~2.1 M tokens by its bytes, over the free plan's 100,000: it
    // fits because an image counts a fixed amount.
    let sent = with_image("gpt-4o-mini", 8 << 20);
    let answer = post_chat(&app, sent.clone()).await;
    assert_eq!(answer.status, 200, "{}", &answer.text[..answer.text.len().min(300)]);
    assert_eq!(answer.body["choices"][0]["message"]["content"], "A cat.");
    assert_eq!(answer.header("x-converra-key-source"), Some("platform"));
    // Forwarded whole; on the platform key the output cap is added in front.
    let asked = received(&mocks, Provider::Openai).await;
    assert_eq!(asked.len(), 1);
    assert!(asked[0] == format!(r#"{{"max_completion_tokens":1024,{}"#, &sent[1..]), "the body changed beyond the cap");

    // The REST face keeps its own limit (1 MiB).
    let rest = app
        .post(
            "/api/v1/completions",
            &app.api_key,
            json!({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "x".repeat(2 << 20)}]}),
        )
        .await;
    rest.assert_code(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_request_over_the_v1_limit_gets_413_in_openais_shape() {
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        configure: Some(|c| c.v1_body_limit = 9 << 20),
        ..Default::default()
    })
    .await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    let refused = post_chat(&app, with_image("gpt-4o-mini", 10 << 20)).await;
    assert_eq!(refused.status, 413, "{}", refused.text);
    assert_eq!(
        refused.body,
        json!({"error": {"message": "Request body is too large (the limit is 9437184 bytes)",
            "type": "invalid_request_error", "param": null, "code": "payload_too_large"}})
    );
    assert_eq!(refused.header("x-should-retry"), Some("false"));
    assert!(received(&mocks, Provider::Openai).await.is_empty());
}

#[tokio::test]
async fn on_the_platform_key_a_forwarded_cap_is_clamped_in_place_and_n_above_1_refused() {
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, PLATFORM)]).await;
    mocks.answer_text(Provider::Openai, PLATFORM, "gpt-4o-mini", "ok").await;

    let sent = r#"{"model":"openai/gpt-4o-mini", "max_completion_tokens": 100000, "messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(post_chat(&app, sent).await.status, 200);
    let asked = received(&mocks, Provider::Openai).await;
    // The cap clamped to the allowance's maximum; with no end-user id, the member's, hashed.
    let clamped = with_model(sent, "openai/gpt-4o-mini", "gpt-4o-mini").replace("100000", "16384");
    let body: Value = serde_json::from_str(&asked[0]).unwrap();
    let id = body["safety_identifier"].as_str().expect("a safety identifier");
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(asked[0], format!(r#"{{"safety_identifier":"{id}",{}"#, &clamped[1..]));

    let twice = post_chat(&app, r#"{"model":"gpt-4o-mini","n":2,"messages":[{"role":"user","content":"hi"}]}"#).await;
    assert_eq!(twice.status, 400, "{}", twice.text);
    assert_eq!(
        (&twice.body["error"]["code"], &twice.body["error"]["param"]),
        (&json!("unsupported_field"), &json!("n"))
    );
    assert_eq!(received(&mocks, Provider::Openai).await.len(), 1, "nothing more was sent");
}
