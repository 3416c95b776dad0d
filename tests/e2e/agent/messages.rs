//! `/v1/messages` carried whole for Claude Code and the Anthropic SDKs: a Claude Code turn
//! (tools, thinking, prompt caching, an image, its long `anthropic-beta` list) reaches Anthropic
//! byte for byte but the model, on the organization's key and never the Converra key, and its
//! events come back as sent with the usage (cache tokens included) metered; the key as
//! `x-api-key`; DeepSeek's Anthropic-compatible endpoint; `count_tokens`; the models list in
//! Anthropic's shape; the platform allowance's cap and thinking budget.

use converra::Provider;
use converra_test_kit::TestApp;
use converra_test_kit::app_with_mocks;
use converra_test_kit::providers::{MockProviders, valid_key};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

/// What Claude Code 2.1.197 sends as `anthropic-beta`, as captured from its requests.
pub(super) const BETA: &str = "claude-code-20250219,interleaved-thinking-2025-05-14,thinking-token-count-2026-05-13,context-management-2025-06-27,prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,effort-2025-11-24";

/// A Claude Code turn, written by hand (spacing, order and an escaped `é` included) so that any
/// re-serialization would show: a cached system prompt, a tool with `cache_control`, thinking,
/// an earlier tool call and its result, a pasted screenshot, metadata and an unknown field.
pub(super) const CLAUDE_CODE_TURN: &str = r#"{
  "model": "anthropic/claude-sonnet-4-5-20250929",
  "max_tokens": 32000,
  "stream": true,
  "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}}],
  "thinking": {"type": "enabled", "budget_tokens": 31999},
  "tools": [{"name": "Bash", "description": "Run a shell command", "input_schema": {"type": "object",
    "properties": {"command": {"type": "string"}}, "required": ["command"]}, "cache_control": {"type": "ephemeral"}}],
  "messages": [
    {"role": "user", "content": [
      {"type": "text", "text": "What is in this screenshot? R\u00e9sum\u00e9 it."},
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="}}
    ]},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "I should list files.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
      {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}}
    ]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "README.md", "cache_control": {"type": "ephemeral"}}]}
  ],
  "metadata": {"user_id": "user_abc_account__session_1"},
  "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
  "future_field_2027": {"nested": ["kept", 1.50]}
}"#;

/// Anthropic's stream for that turn: thinking, a tool call, usage with cache reads and writes
/// (12 in, 100 written, 2,000 read, 42 out), a ping; the exact text a relay must pass on.
pub(super) fn claude_events(model: &str) -> Vec<String> {
    [
        ("message_start", format!(r#"{{"type":"message_start","message":{{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"{model}","stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}}}}"#)),
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Read the README."}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}"#.into()),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#.into()),
        ("ping", r#"{"type": "ping"}"#.into()),
        ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01B","name":"Bash","input":{}}}"#.into()),
        ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"command\": \"cat README.md\"}"}}"#.into()),
        ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#.into()),
        ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}"#.into()),
        ("message_stop", r#"{"type":"message_stop"}"#.into()),
    ]
    .into_iter()
    .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
    .collect()
}

/// A whole Messages answer saying `text` (10 in, 3 out), as Anthropic writes it.
pub(super) fn claude_message(model: &str, text: &str) -> String {
    format!(
        r#"{{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"{text}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}}}}"#
    )
}

/// Posts `body` to `path` with `headers`, exactly as written.
pub(super) async fn post_with(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> converra_test_kit::Answer {
    let mut request = app.http.post(app.url(path)).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    converra_test_kit::Answer::of(request.body(body).send().await.expect("the request is sent")).await
}

/// The requests a mock server received on `at`.
pub(super) async fn received_at(mocks: &MockProviders, provider: Provider, at: &str) -> Vec<wiremock::Request> {
    let all = mocks.server(provider).received_requests().await.unwrap_or_default();
    all.into_iter().filter(|r| r.url.path() == at).collect()
}

#[tokio::test]
async fn a_claude_code_turn_reaches_anthropic_byte_for_byte_but_the_model_on_the_orgs_key_and_streams_back_as_sent() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    let stored = app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    let (_, member) = app.member_key(&app.api_key, "dev@example.com", "member").await;
    let model = "claude-sonnet-4-5-20250929";
    let events = claude_events(model);
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", key))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy")
                .insert_header("anthropic-ratelimit-requests-remaining", "49")
                .insert_header("anthropic-organization-id", "org-secret-of-the-account")
                .set_body_raw(events.concat(), "text/event-stream"),
        )
        .mount(&mocks.anthropic)
        .await;

    let bearer = format!("Bearer {member}");
    let headers = [("authorization", bearer.as_str()), ("anthropic-version", "2023-06-01"), ("anthropic-beta", BETA)];
    let answer = post_with(&app, "/v1/messages", &headers, CLAUDE_CODE_TURN).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // Every event as Anthropic sent it, thinking and the tool call included.
    assert_eq!(answer.text, events.concat());
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert_eq!(answer.header("request-id"), Some("req_011CSHoEeqs5C35K2UUqR7Fy"));
    assert_eq!(answer.header("anthropic-ratelimit-requests-remaining"), Some("49"));
    assert_eq!(answer.header("anthropic-organization-id"), None, "the provider account's id stays behind");
    assert_eq!(answer.header("x-converra-key-source"), Some("organization"));
    assert_eq!(answer.header("x-converra-key-id"), stored["id"].as_str());

    // What Anthropic received: the client's bytes but the model's `anthropic/` prefix, on the
    // organization's key; Claude Code's headers unchanged; the Converra key nowhere.
    let sent = received_at(&mocks, Provider::Anthropic, "/v1/messages").await;
    assert_eq!(sent.len(), 1);
    let expected = CLAUDE_CODE_TURN.replacen("anthropic/claude-sonnet-4-5-20250929", model, 1);
    assert_eq!(String::from_utf8(sent[0].body.clone()).unwrap(), expected);
    let got = |name: &str| sent[0].headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(got("x-api-key").as_deref(), Some(key));
    assert_eq!(got("anthropic-beta").as_deref(), Some(BETA));
    assert_eq!(got("anthropic-version").as_deref(), Some("2023-06-01"));
    assert_eq!(got("authorization"), None);
    for (name, value) in sent[0].headers.iter() {
        assert!(!value.to_str().unwrap_or_default().contains("sk_"), "the Converra key reached Anthropic in {name}");
    }

    // Metered from Anthropic's own figures: the prompt's cache reads and writes count as input.
    let usage = app.get("/api/v1/usage", &member).await;
    assert_totals(&usage, 1, 2112, 42, (2000, 100));
    assert_eq!(usage.body["by_model"][0]["key"], model, "{}", usage.text);
}

#[tokio::test]
async fn the_converra_key_works_as_x_api_key_a_whole_answer_comes_back_as_sent_and_a_revoked_key_fails_next() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Anthropic);
    app.add_provider_key(&app.api_key, Provider::Anthropic, key, Value::Null).await;
    let model = "claude-haiku-4-5";
    let whole = claude_message(model, "Hello!");
    mocks
        .answer_chat(
            Provider::Anthropic,
            key,
            model,
            false,
            ResponseTemplate::new(200).set_body_raw(whole.clone(), "application/json"),
        )
        .await;
    let created = app.post("/api/v1/api-keys", &app.api_key, json!({"name": "claude code"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let agent = created.body["key"].as_str().unwrap().to_owned();

    let sent = r#"{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}"#;
    let headers = [("x-api-key", agent.as_str()), ("anthropic-version", "2023-06-01")];
    let answer = post_with(&app, "/v1/messages", &headers, sent).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, whole);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert!(answer.header("x-ratelimit-limit").is_some(), "the plan bucket was spent");
    let upstream = received_at(&mocks, Provider::Anthropic, "/v1/messages").await;
    assert_eq!(String::from_utf8(upstream[0].body.clone()).unwrap(), sent);

    // Revoked: the very next request is refused, in Anthropic's shape.
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), &app.api_key).await.status, 204);
    let refused = post_with(&app, "/v1/messages", &headers, sent).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.body["type"], "error");
    assert_eq!(refused.body["error"]["type"], "authentication_error");
    assert_eq!(refused.body["error"]["message"], "API key has been revoked");
    assert_eq!(refused.body["error"]["code"], "UNAUTHORIZED");
    assert_eq!(refused.header("x-should-retry"), Some("false"));
    let none = post_with(&app, "/v1/messages", &[("anthropic-version", "2023-06-01")], sent).await;
    assert_eq!((none.status, none.body["error"]["type"].as_str()), (401, Some("authentication_error")));
    assert_eq!(received_at(&mocks, Provider::Anthropic, "/v1/messages").await.len(), 1, "nothing more was sent");
}

#[tokio::test]
async fn a_deepseek_model_goes_to_deepseeks_anthropic_endpoint_forwarded_as_sent() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Deepseek);
    app.add_provider_key(&app.api_key, Provider::Deepseek, key, Value::Null).await;
    let whole = claude_message("deepseek-chat", "Hi from DeepSeek");
    Mock::given(method("POST"))
        .and(path("/anthropic/v1/messages"))
        .and(header("x-api-key", key))
        .respond_with(ResponseTemplate::new(200).set_body_raw(whole.clone(), "application/json"))
        .mount(&mocks.deepseek)
        .await;
    let sent = r#"{"model":"deepseek-chat","max_tokens":64,"messages":[{"role":"user","content":"Hi"}],"thinking":{"type":"enabled","budget_tokens":1024}}"#;
    let bearer = format!("Bearer {}", app.api_key);
    let headers = [("authorization", bearer.as_str()), ("anthropic-version", "2023-06-01"), ("anthropic-beta", BETA)];
    let answer = post_with(&app, "/v1/messages", &headers, sent).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, whole);
    let upstream = received_at(&mocks, Provider::Deepseek, "/anthropic/v1/messages").await;
    assert_eq!(upstream.len(), 1);
    assert_eq!(String::from_utf8(upstream[0].body.clone()).unwrap(), sent);
    assert_eq!(upstream[0].headers.get("anthropic-beta").unwrap(), BETA);
    let usage = app.get("/api/v1/usage", &app.api_key).await;
    assert_totals(&usage, 1, 10, 3, (0, 0));
}

/// The month's totals: requests, every prompt token (cache reads and writes included), output
/// tokens, and where the report breaks them out, the cache reads and writes apart.
pub(super) fn assert_totals(
    usage: &converra_test_kit::Answer,
    requests: u64,
    input: u64,
    output: u64,
    cache: (u64, u64),
) {
    let totals = &usage.body["totals"];
    let counted = (&totals["requests"], &totals["input_tokens"], &totals["output_tokens"]);
    assert_eq!(counted, (&json!(requests), &json!(input), &json!(output)), "{}", usage.text);
    for (name, expected) in [("cache_read_tokens", cache.0), ("cache_write_tokens", cache.1)] {
        if let Some(value) = totals.get(name) {
            assert_eq!(value, &json!(expected), "{name}: {}", usage.text);
        }
    }
}

#[tokio::test]
async fn count_tokens_is_anthropics_own_for_claude_and_an_estimate_for_deepseek_and_models_take_anthropics_shape() {
    let (app, mocks) = app_with_mocks(&[]).await;
    for p in [Provider::Anthropic, Provider::Deepseek] {
        app.add_provider_key(&app.api_key, p, valid_key(p), Value::Null).await;
    }
    Mock::given(method("POST"))
        .and(path("/v1/messages/count_tokens"))
        .and(header("x-api-key", valid_key(Provider::Anthropic)))
        .respond_with(ResponseTemplate::new(200).set_body_raw(r#"{"input_tokens":2095}"#, "application/json"))
        .mount(&mocks.anthropic)
        .await;
    let bearer = format!("Bearer {}", app.api_key);
    let headers = [("authorization", bearer.as_str()), ("anthropic-version", "2023-06-01")];
    let sent = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello, world"}],"tools":[]}"#;
    let counted = post_with(&app, "/v1/messages/count_tokens", &headers, sent).await;
    assert_eq!((counted.status, counted.text.as_str()), (200, r#"{"input_tokens":2095}"#));
    assert_eq!(counted.header("x-converra-estimate"), None);
    let upstream = received_at(&mocks, Provider::Anthropic, "/v1/messages/count_tokens").await;
    assert_eq!(String::from_utf8(upstream[0].body.clone()).unwrap(), sent);

    // DeepSeek has no count: Converra's estimate (4 bytes a token, rounded up), said so.
    let deepseek = r#"{"model":"deepseek-chat","messages":[{"role":"user","content":"Hello, world"}]}"#;
    let estimated = post_with(&app, "/v1/messages/count_tokens", &headers, deepseek).await;
    assert_eq!(estimated.status, 200, "{}", estimated.text);
    // `[{"role":"user","content":"Hello, world"}]`: 41 bytes, 11 tokens.
    assert_eq!(estimated.body, json!({"input_tokens": 11}));
    assert_eq!(estimated.header("x-converra-estimate"), Some("true"));
    let usage = app.get("/api/v1/usage", &app.api_key).await;
    assert_eq!(usage.body["totals"]["requests"], 0, "counting tokens is not a completion");

    // The models list, in Anthropic's shape when asked with `anthropic-version`.
    let listed = app.http.get(app.url("/v1/models")).headers(reqwest_headers(&headers)).send().await.unwrap();
    let listed = converra_test_kit::Answer::of(listed).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["has_more"], false);
    assert_eq!(
        listed.body["data"][0],
        json!({"type": "model", "id": "claude-sonnet-4-5", "display_name": "claude-sonnet-4-5", "created_at": "1970-01-01T00:00:00Z"})
    );
    let ids: Vec<&str> = listed.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"deepseek-chat") && !ids.iter().any(|m| m.starts_with("gpt")), "{ids:?}");
    assert_eq!(listed.body["first_id"], "claude-sonnet-4-5");
    // Without it, OpenAI's.
    assert_eq!(app.get("/v1/models", &app.api_key).await.body["object"], "list");
}

pub(super) fn reqwest_headers(headers: &[(&str, &str)]) -> reqwest::header::HeaderMap {
    headers
        .iter()
        .map(|(n, v)| {
            (
                reqwest::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn on_the_platform_key_max_tokens_is_clamped_in_place_and_the_thinking_budget_kept_below_it() {
    const PLATFORM: &str = "sk-ant-api03-PLATFORMkey0123456789abcdefgh";
    let (app, mocks) = app_with_mocks(&[(Provider::Anthropic, PLATFORM)]).await;
    let model = "claude-sonnet-4-5";
    mocks
        .answer_chat(
            Provider::Anthropic,
            PLATFORM,
            model,
            false,
            ResponseTemplate::new(200).set_body_raw(claude_message(model, "ok"), "application/json"),
        )
        .await;
    let sent = r#"{"model":"claude-sonnet-4-5","max_tokens": 64000,"thinking":{"type":"enabled","budget_tokens":60000},"messages":[{"role":"user","content":"hi"}]}"#;
    let bearer = format!("Bearer {}", app.api_key);
    let answer = post_with(&app, "/v1/messages", &[("authorization", bearer.as_str())], sent).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("x-converra-key-source"), Some("platform"));
    let upstream = received_at(&mocks, Provider::Anthropic, "/v1/messages").await;
    let expected = sent.replace("64000", "16384").replace(r#""budget_tokens":60000"#, r#""budget_tokens":16383"#);
    assert_eq!(String::from_utf8(upstream[0].body.clone()).unwrap(), expected);
    // The version Anthropic requires is sent when the client sent none.
    assert_eq!(upstream[0].headers.get("anthropic-version").unwrap(), "2023-06-01");
}
