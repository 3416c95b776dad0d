//! The process's budget of buffered request bytes (`CONVERRA_V1_BUFFER_BUDGET`):
//! while one large request holds its body (the provider is slow to answer), another that does
//! not fit in what is left is refused at once with 503 and `retry-after: 1`, in OpenAI's shape
//! on `/v1/chat/completions` and Anthropic's on `/v1/messages`, and nothing of it is sent; a
//! small one still passes; once the first is answered its bytes are given back and the same
//! requests pass.

use std::time::{Duration, Instant};

use converra::Provider;
use converra_test_kit::providers::{MockProviders, chat_answer, valid_key};
use converra_test_kit::{Options, spawn_app_with};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::messages::{claude_message, post_with};
use super::post_chat;

/// The budget of this test's app: room for one of the large bodies below, not two.
const BUDGET: usize = 100 * 1024;

/// A chat body of about `size` bytes whose user turn says `marker`.
fn chat_of(size: usize, marker: &str) -> String {
    format!(r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"{marker} {}"}}]}}"#, "a".repeat(size))
}

/// A Messages body of about `size` bytes.
fn messages_of(size: usize) -> String {
    format!(
        r#"{{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(size)
    )
}

#[tokio::test]
async fn a_body_over_what_is_left_of_the_budget_gets_503_with_retry_after_in_each_apis_shape_until_the_holder_is_done()
{
    let mocks = MockProviders::start().await;
    let app = spawn_app_with(Options {
        base_urls: mocks.base_urls(),
        configure: Some(|c| c.v1_buffer_budget = BUDGET),
        ..Default::default()
    })
    .await;
    let (openai, anthropic) = (valid_key(Provider::Openai), valid_key(Provider::Anthropic));
    app.add_provider_key(&app.api_key, Provider::Openai, openai, Value::Null).await;
    app.add_provider_key(&app.api_key, Provider::Anthropic, anthropic, Value::Null).await;
    // OpenAI takes two seconds over the request that holds the budget, no time over the others.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("hold-the-budget"))
        .respond_with(chat_answer(Provider::Openai, "gpt-4o-mini", "Slow.").set_delay(Duration::from_secs(2)))
        .with_priority(1)
        .mount(&mocks.openai)
        .await;
    mocks.answer_text(Provider::Openai, openai, "gpt-4o-mini", "Fast.").await;
    let whole = claude_message("claude-haiku-4-5", "Hello!");
    let claude = ResponseTemplate::new(200).set_body_raw(whole.clone(), "application/json");
    mocks.answer_chat(Provider::Anthropic, anthropic, "claude-haiku-4-5", false, claude).await;

    let large = chat_of(60 * 1024, "again");
    let large_messages = messages_of(60 * 1024);
    let anthropic_headers = [("x-api-key", app.api_key.as_str()), ("anthropic-version", "2023-06-01")];
    let holder = post_chat(&app, chat_of(60 * 1024, "hold-the-budget"));
    let meanwhile = async {
        // The holder's body is buffered and at the provider: its bytes are held.
        let started = Instant::now();
        while mocks.chat_requests(Provider::Openai).await.is_empty() {
            assert!(started.elapsed() < Duration::from_secs(10), "the holder never reached the provider");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let chat = post_chat(&app, large.clone()).await;
        let messages = post_with(&app, "/v1/messages", &anthropic_headers, large_messages.clone()).await;
        let small = post_chat(&app, chat_of(100, "small")).await;
        (chat, messages, small)
    };
    let (held, (chat, messages, small)) = tokio::join!(holder, meanwhile);

    let message = "Too many large requests are being handled at once: retry in a moment";
    assert_eq!(chat.status, 503, "{}", chat.text);
    assert_eq!(
        chat.body,
        json!({"error": {"message": message, "type": "api_error", "param": null, "code": "unavailable"}})
    );
    assert_eq!(chat.header("retry-after"), Some("1"));
    assert_eq!(chat.header("x-should-retry"), None, "the SDKs may retry it");
    assert_eq!(messages.status, 503, "{}", messages.text);
    assert_eq!(
        messages.body,
        json!({"type": "error", "error": {"type": "overloaded_error", "code": "UNAVAILABLE", "message": message}})
    );
    assert_eq!(messages.header("retry-after"), Some("1"));
    assert_eq!(messages.header("x-should-retry"), None);
    // What is left of the budget still takes a small body.
    assert_eq!(small.status, 200, "{}", small.text);
    assert_eq!(small.body["choices"][0]["message"]["content"], "Fast.");
    assert_eq!(held.status, 200, "{}", held.text);
    assert_eq!(held.body["choices"][0]["message"]["content"], "Slow.");
    // Neither refused body reached a provider: OpenAI saw the holder and the small one.
    let sent = mocks.chat_requests(Provider::Openai).await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|b| !String::from_utf8_lossy(b).contains("again")));
    assert!(mocks.chat_requests(Provider::Anthropic).await.is_empty());

    // The holder was answered: its bytes are back, and the same requests pass.
    let chat = post_chat(&app, large.clone()).await;
    assert_eq!(chat.status, 200, "{}", chat.text);
    assert_eq!(chat.body["choices"][0]["message"]["content"], "Fast.");
    let messages = post_with(&app, "/v1/messages", &anthropic_headers, large_messages.clone()).await;
    assert_eq!(messages.status, 200, "{}", messages.text);
    assert_eq!(messages.text, whole);
    assert_eq!(mocks.chat_requests(Provider::Anthropic).await, vec![large_messages.into_bytes()]);
}
