//! What a client of `/v1/chat/completions` sees of a stream while the provider does something
//! other than answer: SSE keep-alive comments while it is silent, forwarded or translated (as on
//! `/v1/messages` and `/v1/responses`: every agent stream is rendered by the one relay); and an
//! error in the middle of a stream, OpenAI's or Anthropic's, with the key it echoes redacted.
//!
//! A stream that must go silent halfway comes from [`pausing`], a stand-in sending a provider's
//! real events with a pause after the first few (wiremock answers a body whole).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use converra::Provider;
use converra_test_kit::providers::{MockProviders, stream_events};
use converra_test_kit::{Options, TestApp, app_with_mocks, spawn_app_with};
use futures_util::StreamExt;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::messages::post_with;
use super::post_chat;

const OPENAI_KEY: &str = "sk-proj-platformKEY0123456789abcdefXYZ";
const ANTHROPIC_KEY: &str = "sk-ant-api03-platformKEY0123456789abcdef";
const COMMENT: &str = ": keep-alive\n\n";

/// A provider stand-in at the returned address: to every request it sends the first `before`
/// of `events`, is silent for `pause`, then sends the rest.
async fn pausing(events: Vec<String>, before: usize, pause: Duration) -> String {
    let app = axum::Router::new().fallback(move || {
        let events = events.clone();
        async move {
            let rest = events[before..].concat();
            let first = futures_util::stream::iter([Ok::<_, Infallible>(Bytes::from(events[..before].concat()))]);
            let later = futures_util::stream::once(async move {
                tokio::time::sleep(pause).await;
                Ok(Bytes::from(rest))
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(first.chain(later)))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The app with the operator's key for `provider` behind the allowance, reached at `base_url`,
/// sending a keep-alive comment after 200 ms of silence.
async fn app_at(provider: Provider, base_url: String, key: &str) -> TestApp {
    spawn_app_with(Options {
        base_urls: [(provider, base_url)].into(),
        platform_keys: [(provider, key.to_owned())].into(),
        configure: Some(|c| c.providers.timeouts.keep_alive = Duration::from_millis(200)),
        ..Default::default()
    })
    .await
}

/// `text` split around its keep-alive comments: what came before the first, how many came in
/// a row, and what came after them.
fn around_comments(text: &str) -> (&str, usize, &str) {
    let first = text.find(COMMENT).unwrap_or_else(|| panic!("no keep-alive comment in {text}"));
    let mut after = &text[first..];
    let mut comments = 0;
    while let Some(rest) = after.strip_prefix(COMMENT) {
        after = rest;
        comments += 1;
    }
    (&text[..first], comments, after)
}

#[tokio::test]
async fn a_forwarded_stream_gets_keep_alive_comments_while_openai_is_silent_and_its_events_as_sent() {
    let events = stream_events(Provider::Openai, "gpt-4o-mini", &["Thinking", " it", " over"]);
    let stand_in = pausing(events.clone(), 2, Duration::from_millis(900)).await;
    let app = app_at(Provider::Openai, format!("{stand_in}/v1"), OPENAI_KEY).await;

    let ask = r#"{"model":"openai/gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Think"}]}"#;
    let answer = post_chat(&app, ask).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    // Every event as OpenAI sent it, and only comments in the silence between.
    let (before, comments, after) = around_comments(&answer.text);
    assert_eq!((before, after), (events[..2].concat().as_str(), events[2..].concat().as_str()));
    assert!((2..=6).contains(&comments), "{comments} comments in 900 ms at one per 200 ms");
}

#[tokio::test]
async fn a_translated_stream_gets_keep_alive_comments_while_anthropic_is_silent() {
    let model = "claude-sonnet-4-5";
    // Anthropic's message start, its text block start, a ping and "Hello"; silence; the rest.
    let events = stream_events(Provider::Anthropic, model, &["Hello", " world"]);
    let stand_in = pausing(events, 4, Duration::from_millis(900)).await;
    let app = app_at(Provider::Anthropic, stand_in, ANTHROPIC_KEY).await;

    let ask =
        json!({"model": format!("anthropic/{model}"), "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    let answer = post_chat(&app, ask.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let (before, comments, after) = around_comments(&answer.text);
    assert!(before.contains(r#""content":"Hello""#) && !before.contains(" world"), "{before}");
    assert!(after.contains(r#""content":" world""#) && after.ends_with("data: [DONE]\n\n"), "{after}");
    assert!(comments >= 2, "{comments} comments in 900 ms at one per 200 ms");
}

/// Mounts a stream answer on `provider`'s chat path: `events` as one body.
async fn answer_stream(mocks: &MockProviders, provider: Provider, at: &str, events: &[String]) {
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-request-id", "req_5b1f0c")
                .insert_header("openai-organization", "org-secret-of-the-account")
                .set_body_raw(events.concat(), "text/event-stream"),
        )
        .mount(mocks.server(provider))
        .await;
}

#[tokio::test]
async fn an_openai_error_in_the_middle_of_a_stream_reaches_the_client_with_the_key_redacted() {
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, OPENAI_KEY)]).await;
    let mut events = stream_events(Provider::Openai, "gpt-4o-mini", &["Half"]);
    events.truncate(2);
    // OpenAI's error event, echoing the key whole and as its masked form.
    let error = |key: &str, masked: &str| {
        format!(
            "data: {{\"error\":{{\"message\":\"The server had an error processing your request with key {key} ({masked}).\",\"type\":\"server_error\",\"param\":null,\"code\":null}}}}\n\n"
        )
    };
    events.push(error(OPENAI_KEY, "sk-proj-****fXYZ"));
    answer_stream(&mocks, Provider::Openai, "/v1/chat/completions", &events).await;

    let ask = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Go"}]}"#;
    let answer = post_chat(&app, ask).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(!answer.text.contains("platformKEY") && !answer.text.contains("fXYZ"), "{}", answer.text);
    let expected = [&events[..2].concat(), error("[redacted]", "[redacted]").as_str()].concat();
    assert_eq!(answer.text, expected);
    // The headers of OpenAI's answer a client may see, and none other.
    assert_eq!(answer.header("x-request-id"), Some("req_5b1f0c"));
    assert_eq!(answer.header("openai-organization"), None);
}

#[tokio::test]
async fn an_anthropic_error_event_in_the_middle_of_a_stream_reaches_the_client_with_the_key_redacted() {
    let (app, mocks) = app_with_mocks(&[(Provider::Anthropic, ANTHROPIC_KEY)]).await;
    let model = "claude-sonnet-4-5";
    let mut events = stream_events(Provider::Anthropic, model, &["Half"]);
    events.truncate(4);
    let error = |key: &str| {
        format!(
            "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded (x-api-key: {key})\"}}}}\n\n"
        )
    };
    events.push(error(ANTHROPIC_KEY));
    answer_stream(&mocks, Provider::Anthropic, "/v1/messages", &events).await;

    let ask =
        json!({"model": model, "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "Go"}]});
    let bearer = format!("Bearer {}", app.api_key);
    let headers = [("authorization", bearer.as_str()), ("anthropic-version", "2023-06-01")];
    let answer = post_with(&app, "/v1/messages", &headers, ask.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, [&events[..4].concat(), error("[redacted]").as_str()].concat());
}
