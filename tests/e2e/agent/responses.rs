//! `/v1/responses` (Codex, the OpenAI Agents SDK), `/v1/responses/compact` and `/v1/embeddings`
//! forwarded to OpenAI: a Codex turn reaches the mock byte for byte but the model, whole and
//! streamed, and OpenAI's answer and every event come back as sent; each end of a stream
//! (completed, incomplete, failed) is metered; a stored response may be named again only by
//! the member it was relayed for on that key, and on the platform key account state, hosted
//! tools and `store` are refused or forced; `GET /v1/models/{id}`; every other `/v1` path 404s.

use converra::{Plan, Provider};
use converra_test_kit::providers::valid_key;
use converra_test_kit::responses::{responses_body, responses_events, sse};
use converra_test_kit::{Answer, TestApp, app_with_mocks};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::with_model;

const MODEL: &str = "gpt-5-codex";
const PLATFORM: &str = "sk-platformKEY0123456789abcdef";

/// A Codex turn as Codex 0.169 writes it (its fields, spacing and an escaped `é` by hand, so any
/// re-serialization would show), plus an end-user id (so that Converra adds none).
const CODEX_TURN: &str = r#"{"model":"openai/gpt-5-codex","instructions":"You are Codex, a coding agent.",
 "input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"List the files, caf\u00e9."}]},
  {"type":"function_call","name":"shell","arguments":"{\"command\":[\"ls\"]}","call_id":"call_1"},
  {"type":"function_call_output","call_id":"call_1","output":"Cargo.toml\nsrc"}],
 "tools":[{"type":"function","name":"shell","description":"Runs a shell command","strict":false,
   "parameters":{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}}},"required":["command"]}}],
 "tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"medium","summary":"auto"},
 "store":false,"stream":false,"include":["reasoning.encrypted_content"],"prompt_cache_key":"0199-session",
 "client_metadata":{"x-codex":"1"},"safety_identifier":"codex-user-7","future_field_2027":[1.50]}"#;

fn streamed(turn: &str) -> String {
    turn.replace(r#""stream":false"#, r#""stream":true"#)
}

async fn post(app: &TestApp, key: &str, endpoint: &str, body: impl Into<reqwest::Body>) -> Answer {
    app.post_raw(&format!("/v1/{endpoint}"), key, body).await
}

/// The totals of `n` recorded Responses answers (`responses_usage`: 30 in, 12 of them cached;
/// 9 out, 4 of them reasoning).
fn metered(n: u64) -> Value {
    json!({"requests": n, "input_tokens": 30 * n, "output_tokens": 9 * n, "cache_read_tokens": 12 * n,
        "cache_write_tokens": 0, "reasoning_tokens": 4 * n})
}

/// The organization's usage totals.
async fn totals(app: &TestApp) -> Value {
    app.get("/api/v1/usage", &app.api_key).await.body["totals"].clone()
}

/// The parts of the tokens a usage report may carry beside the totals.
const PARTS: [&str; 3] = ["cache_read_tokens", "cache_write_tokens", "reasoning_tokens"];

/// Asserts the organization's totals: requests, input and output tokens, and the parts of the
/// tokens wherever the report carries them.
async fn assert_metered(app: &TestApp, expected: Value) {
    let totals = totals(app).await;
    for (name, value) in expected.as_object().unwrap() {
        if PARTS.contains(&name.as_str()) && totals.get(name).is_none() {
            continue;
        }
        assert_eq!(&totals[name], value, "{name} in {totals}");
    }
}

#[tokio::test]
async fn a_codex_turn_reaches_openai_byte_for_byte_but_the_model_whole_and_streamed_and_comes_back_as_sent() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    let stored = app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    let whole = responses_body("resp_whole", MODEL, "Two files.");
    let events = responses_events("resp_stream", MODEL, &["Two ", "files."], "response.completed");
    mocks
        .answer_openai(
            "responses",
            key,
            false,
            ResponseTemplate::new(200).set_body_raw(whole.clone(), "application/json"),
        )
        .await;
    mocks.answer_openai("responses", key, true, sse(&events)).await;
    let compacted = r#"{"id":"resp_c","object":"response.compaction","output":[{"type":"compaction","encrypted_content":"gAAA"}],"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":12},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":39}}"#;
    mocks
        .answer_openai(
            "responses/compact",
            key,
            false,
            ResponseTemplate::new(200).set_body_raw(compacted, "application/json"),
        )
        .await;

    let answer = post(&app, &app.api_key, "responses", CODEX_TURN).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, whole);
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(answer.header("x-converra-key-source"), Some("organization"));
    assert_eq!(answer.header("x-converra-key-id"), stored["id"].as_str());

    // Streamed: every event, its `event:` line and sequence number included, as OpenAI sent it.
    let stream = post(&app, &app.api_key, "responses", streamed(CODEX_TURN)).await;
    assert_eq!(stream.status, 200, "{}", stream.text);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    assert_eq!(stream.text, events.concat());

    let compact = post(&app, &app.api_key, "responses/compact", CODEX_TURN).await;
    assert_eq!((compact.status, compact.text.as_str()), (200, compacted));

    let sent = mocks.openai_received("responses").await;
    let expected = [
        with_model(CODEX_TURN, "openai/gpt-5-codex", MODEL),
        with_model(&streamed(CODEX_TURN), "openai/gpt-5-codex", MODEL),
    ];
    assert_eq!(sent.iter().map(|(body, _)| body.clone()).collect::<Vec<_>>(), expected);
    assert!(sent.iter().all(|(_, auth)| *auth == format!("Bearer {key}")));
    assert_eq!(mocks.openai_received("responses/compact").await[0].0, expected[0]);
    // Metered from OpenAI's own usage: 30 in (12 from the cache), 9 out (4 reasoning), each time.
    assert_metered(&app, metered(3)).await;
}

#[tokio::test]
async fn every_end_of_a_responses_stream_is_metered_completed_incomplete_and_failed() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    let ends = ["response.completed", "response.incomplete", "response.failed"];
    for end in ends {
        Mock::given(method("POST"))
            .and(path("/v1/responses"))
            .and(body_partial_json(json!({"metadata": {"end": end}})))
            .respond_with(sse(&responses_events(&format!("resp_{end}"), MODEL, &["Partly"], end)))
            .mount(&mocks.openai)
            .await;
    }
    for end in ends {
        let body = json!({"model": MODEL, "input": "hi", "stream": true, "store": false, "metadata": {"end": end}});
        let answer = post(&app, &app.api_key, "responses", body.to_string()).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(answer.text.contains(&format!("event: {end}\n")), "{}", answer.text);
    }
    assert_metered(&app, metered(3)).await;
}

#[tokio::test]
async fn a_stream_cut_before_its_end_is_charged_an_estimate_of_what_was_relayed() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    // 400 bytes of text relayed, then the stream stops: no event ever reports the usage.
    let mut events = responses_events("resp_cut", MODEL, &[&"x".repeat(200), &"y".repeat(200)], "response.completed");
    events.truncate(6);
    mocks.answer_openai("responses", key, true, sse(&events)).await;
    let body = json!({"model": MODEL, "input": "a".repeat(400), "stream": true, "store": false});
    let answer = post(&app, &app.api_key, "responses", body.to_string()).await;
    assert_eq!((answer.status, answer.text.clone()), (200, events.concat()));
    let totals = totals(&app).await;
    assert_eq!(totals["requests"], 1, "{totals}");
    // About a token per 4 bytes: the 400 relayed, the prompt's 400 and its quotes.
    assert_eq!((totals["input_tokens"].as_u64(), totals["output_tokens"].as_u64()), (Some(101), Some(100)), "{totals}");
}

#[tokio::test]
async fn a_stored_response_may_be_named_again_only_by_the_member_it_was_relayed_for() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    let (_, member_b) = app.member_key(&app.api_key, "b@example.com", "member").await;
    let whole = ResponseTemplate::new(200).set_body_raw(responses_body("resp_A1", MODEL, "Hi."), "application/json");
    mocks.answer_openai("responses", key, false, whole).await;
    mocks
        .answer_openai("responses", key, true, sse(&responses_events("resp_A2", MODEL, &["Hi."], "response.completed")))
        .await;

    // Member A creates one response whole and one streamed (store not false: OpenAI keeps them).
    let first = post(&app, &app.api_key, "responses", json!({"model": MODEL, "input": "hi"}).to_string()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second =
        post(&app, &app.api_key, "responses", json!({"model": MODEL, "input": "hi", "stream": true}).to_string()).await;
    assert_eq!(second.status, 200, "{}", second.text);

    for id in ["resp_A1", "resp_A2"] {
        let sent_before = mocks.openai_received("responses").await.len();
        let next = json!({"model": MODEL, "input": "and then?", "previous_response_id": id}).to_string();
        let refused = post(&app, &member_b, "responses", next.clone()).await;
        assert_eq!(refused.status, 404, "{}", refused.text);
        assert_eq!(refused.body["error"]["param"], "previous_response_id");
        assert_eq!(refused.body["error"]["type"], "invalid_request_error");
        assert_eq!(refused.header("x-should-retry"), Some("false"));
        assert_eq!(mocks.openai_received("responses").await.len(), sent_before, "nothing sent for B");
        // A may go on from it.
        assert_eq!(post(&app, &app.api_key, "responses", next).await.status, 200);
    }
    // Objects Converra never relayed are nobody's to name.
    let sent_before = mocks.openai_received("responses").await.len();
    for (field, body) in [
        ("conversation", json!({"model": MODEL, "input": "hi", "conversation": "conv_1"})),
        ("prompt.id", json!({"model": MODEL, "prompt": {"id": "pmpt_1", "version": "2"}})),
        ("item_reference", json!({"model": MODEL, "input": [{"type": "item_reference", "id": "msg_1"}]})),
        (
            "file_id",
            json!({"model": MODEL, "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}),
        ),
        (
            "vector_store_ids",
            json!({"model": MODEL, "input": "hi", "tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}),
        ),
        (
            "container",
            json!({"model": MODEL, "input": "hi", "tools": [{"type": "code_interpreter", "container": "cntr_1"}]}),
        ),
    ] {
        let refused = post(&app, &app.api_key, "responses", body.to_string()).await;
        assert_eq!((refused.status, &refused.body["error"]["param"]), (404, &json!(field)), "{}", refused.text);
    }
    assert_eq!(mocks.openai_received("responses").await.len(), sent_before);
}

#[tokio::test]
async fn on_the_platform_key_account_state_and_hosted_tools_are_refused_and_store_is_forced_false() {
    let (app, mocks) = app_with_mocks(&[(Provider::Openai, PLATFORM)]).await;
    let org_b = app.new_org("beta", Plan::Free).await;
    let whole = ResponseTemplate::new(200).set_body_raw(responses_body("resp_P1", MODEL, "Hi."), "application/json");
    mocks.answer_openai("responses", PLATFORM, false, whole).await;

    let sent = r#"{"model":"gpt-5-codex","input":"hi","max_output_tokens":999999}"#;
    let answer = post(&app, &app.api_key, "responses", sent).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("x-converra-key-source"), Some("platform"));
    let upstream = &mocks.openai_received("responses").await[0].0;
    let parsed: Value = serde_json::from_str(upstream).unwrap();
    // Set in front or clamped in place; the client's bytes otherwise unchanged.
    assert_eq!((parsed["store"].clone(), parsed["max_output_tokens"].clone()), (json!(false), json!(16384)));
    assert!(parsed["safety_identifier"].as_str().is_some_and(|s| s.len() == 32), "{upstream}");
    assert!(upstream.ends_with(r#""input":"hi","max_output_tokens":16384}"#), "{upstream}");

    // Organization B names what A made: refused, as every field naming account state is.
    for (field, body) in [
        ("previous_response_id", json!({"model": MODEL, "input": "hi", "previous_response_id": "resp_P1"})),
        ("conversation", json!({"model": MODEL, "input": "hi", "conversation": {"id": "conv_1"}})),
        ("tools: web_search", json!({"model": MODEL, "input": "hi", "tools": [{"type": "web_search"}]})),
        (
            "tools: code_interpreter",
            json!({"model": MODEL, "input": "hi", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}),
        ),
    ] {
        let refused = post(&app, &org_b, "responses", body.to_string()).await;
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(
            (&refused.body["error"]["code"], &refused.body["error"]["param"]),
            (&json!("unsupported_field"), &json!(field))
        );
    }
    assert_eq!(mocks.openai_received("responses").await.len(), 1);
}

#[tokio::test]
async fn embeddings_and_compaction_go_to_openai_and_other_providers_are_refused_by_model() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    app.add_provider_key(&app.api_key, Provider::Deepseek, valid_key(Provider::Deepseek), Value::Null).await;
    let vectors = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    mocks
        .answer_openai("embeddings", key, false, ResponseTemplate::new(200).set_body_raw(vectors, "application/json"))
        .await;

    let sent =
        r#"{"model":"openai/text-embedding-3-small","input":["The food was delicious"],"encoding_format":"float"}"#;
    let answer = post(&app, &app.api_key, "embeddings", sent).await;
    assert_eq!((answer.status, answer.text.as_str()), (200, vectors));
    assert_eq!(
        mocks.openai_received("embeddings").await[0].0,
        with_model(sent, "openai/text-embedding-3-small", "text-embedding-3-small")
    );
    let expected = json!({"requests": 1, "input_tokens": 8, "output_tokens": 0, "cache_read_tokens": 0,
        "cache_write_tokens": 0, "reasoning_tokens": 0});
    assert_metered(&app, expected).await;

    // Compaction is OpenAI's own (its encrypted summary); `/v1/responses` itself is translated
    // for other providers (`responses_translated.rs`).
    for (endpoint, model) in [("embeddings", "deepseek-chat"), ("responses/compact", "deepseek-chat")] {
        let refused = post(&app, &app.api_key, endpoint, json!({"model": model, "input": "hi"}).to_string()).await;
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(
            (&refused.body["error"]["code"], &refused.body["error"]["param"]),
            (&json!("unsupported_field"), &json!("model"))
        );
    }
}

#[tokio::test]
async fn a_model_is_described_in_openais_shape_and_every_other_v1_path_is_openais_404() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    for id in ["openai/gpt-4o-mini", "gpt-4o-mini"] {
        let model = app.get(&format!("/v1/models/{id}"), &app.api_key).await;
        assert_eq!(model.status, 200, "{}", model.text);
        assert_eq!(
            model.body,
            json!({"id": "openai/gpt-4o-mini", "object": "model", "created": 0, "owned_by": "openai"})
        );
    }
    let unknown = app.get("/v1/models/claude-sonnet-4-5", &app.api_key).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.body["error"]["type"], "invalid_request_error");

    let paths = [
        (reqwest::Method::GET, "/v1/chat/completions"),
        (reqwest::Method::GET, "/v1/chat/completions/chatcmpl-1/messages"),
        (reqwest::Method::GET, "/v1/responses"),
        (reqwest::Method::GET, "/v1/responses/resp_1"),
        (reqwest::Method::DELETE, "/v1/responses/resp_1"),
        (reqwest::Method::GET, "/v1/files"),
        (reqwest::Method::POST, "/v1/batches"),
        (reqwest::Method::GET, "/v1/assistants"),
        (reqwest::Method::POST, "/v1/vector_stores"),
        (reqwest::Method::POST, "/v1/conversations"),
    ];
    for (method, path) in paths {
        let answer = Answer::of(app.request(method.clone(), path, &app.api_key).send().await.unwrap()).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.text);
        assert_eq!(answer.body["error"]["type"], "invalid_request_error", "{method} {path}");
        assert_eq!(answer.body["error"]["code"], "not_found", "{method} {path}");
    }
    assert!(mocks.openai.received_requests().await.unwrap().iter().all(|r| r.url.path() == "/v1/models"));
}
