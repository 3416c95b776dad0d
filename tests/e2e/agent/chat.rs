//! `/v1/chat/completions` carried whole: an agent's turn (tools, tool calls and results, an
//! image, a JSON schema, sampling options, an unknown future field) reaches OpenAI byte for byte
//! but the model, whole and streamed, and the answer comes back as OpenAI sent it; on an
//! Anthropic key what cannot be translated is refused by name and nothing is sent (what can is
//! in `chat_translated.rs`).

use converra::Provider;
use converra_test_kit::app_with_mocks;
use converra_test_kit::providers::{openai_tool_call_events, openai_tool_call_text, valid_key};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::{post_chat, received, with_model};

const MODEL: &str = "gpt-4o-mini";

/// An agent's turn as the OpenAI SDK would send it, written by hand (spacing, order, `1.50`
/// and an escaped `é` included) so that any re-serialization would show.
const AGENT_TURN: &str = r#"{
  "model": "openai/gpt-4o-mini",
  "messages": [
    {"role": "developer", "content": "You are a weather bot. Use the tools."},
    {"role": "user", "content": [
      {"type": "text", "text": "What's the weather where this photo was taken?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==", "detail": "low"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "locate", "arguments": "{\"photo\":0}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "Paris"}
  ],
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "strict": true,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}}],
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "parallel_tool_calls": false,
  "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true,
    "schema": {"type": "object", "properties": {"t": {"type": "number"}}, "required": ["t"], "additionalProperties": false}}},
  "seed": 42, "top_p": 0.9, "temperature": 0.2, "logprobs": true, "top_logprobs": 2,
  "reasoning_effort": "low",
  "user": "agent-7",
  "metadata": {"run": "r-1"},
  "max_completion_tokens": 300,
  "future_field_2027": {"nested": ["kept", 1.50, "\u00e9"]}
}"#;

/// The same turn, streamed with usage asked for.
fn streamed_turn() -> String {
    AGENT_TURN.replace(
        r#""max_completion_tokens": 300,"#,
        r#""max_completion_tokens": 300, "stream": true, "stream_options": {"include_usage": true},"#,
    )
}

fn sse(events: &[String]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(events.concat(), "text/event-stream")
}

#[tokio::test]
async fn an_agents_turn_reaches_openai_byte_for_byte_but_the_model_and_its_answer_comes_back_unchanged() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    let stored = app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    let answer_text = openai_tool_call_text(MODEL);
    let whole = ResponseTemplate::new(200).set_body_raw(answer_text.clone(), "application/json");
    mocks.answer_chat(Provider::Openai, key, MODEL, false, whole).await;
    mocks.answer_chat(Provider::Openai, key, MODEL, true, sse(&openai_tool_call_events(MODEL))).await;

    // Whole: the tool call, log-probabilities and fingerprint reach the client as OpenAI wrote them.
    let answer = post_chat(&app, AGENT_TURN).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, answer_text);
    assert_eq!(answer.body["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_weather");
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(answer.header("x-converra-key-source"), Some("organization"));
    assert_eq!(answer.header("x-converra-key-id"), stored["id"].as_str());
    // Its cost beside the body, in dollars (8 micro-USD by gpt-4o-mini's row, below).
    assert_eq!(answer.header("x-converra-cost-usd"), Some("0.000008"));

    // Streamed: every event as sent, the usage chunk included (the client asked for it).
    let streamed = post_chat(&app, streamed_turn()).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    assert_eq!(streamed.header("x-converra-key-source"), Some("organization"));
    assert_eq!(streamed.text, openai_tool_call_events(MODEL).concat());

    // What OpenAI received: the client's bytes, the model's `openai/` prefix the only change.
    let sent = received(&mocks, Provider::Openai).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], with_model(AGENT_TURN, "openai/gpt-4o-mini", MODEL));
    assert_eq!(sent[1], with_model(&streamed_turn(), "openai/gpt-4o-mini", MODEL));

    // Metered from OpenAI's own usage (20 in, 8 of them cached; 9 out, 3 of them reasoning; each time)
    // and costed by gpt-4o-mini's row: 12 × 0.15 + 8 × 0.075 + 9 × 0.60 = 7.8 micro-USD, 8 each.
    let usage = app.get("/api/v1/usage", &app.api_key).await;
    let expected = json!({"requests": 2, "input_tokens": 40, "output_tokens": 18, "cache_read_tokens": 16,
        "cache_write_tokens": 0, "reasoning_tokens": 6, "cost_micro_usd": 16, "unpriced_requests": 0, "cost_known": true});
    assert_eq!(usage.body["totals"], expected, "{}", usage.text);
}

#[tokio::test]
async fn a_stream_keeps_the_usage_chunk_from_a_client_that_did_not_ask_for_it_and_usage_is_still_recorded() {
    let (app, mocks) = app_with_mocks(&[]).await;
    let key = valid_key(Provider::Openai);
    app.add_provider_key(&app.api_key, Provider::Openai, key, Value::Null).await;
    let events = openai_tool_call_events(MODEL);
    mocks.answer_chat(Provider::Openai, key, MODEL, true, sse(&events)).await;

    let sent = r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Weather in Paris?"}],"user":"u-1"}"#;
    let streamed = post_chat(&app, sent).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text);
    // Every event but the usage-only one; the `"usage":null` fields of the others stay.
    let expected: String = events.iter().filter(|e| !e.contains(r#""choices":[],"usage":{"#)).cloned().collect();
    assert_eq!(streamed.text, expected);
    assert!(streamed.text.contains(r#""usage":null"#) && streamed.text.ends_with("data: [DONE]\n\n"));

    // Converra asked for the usage itself, in front of the client's own bytes.
    let asked = received(&mocks, Provider::Openai).await;
    assert_eq!(asked, [format!(r#"{{"stream_options":{{"include_usage":true}},{}"#, &sent[1..])]);
    let usage = app.get("/api/v1/usage", &app.api_key).await;
    let expected = json!({"requests": 1, "input_tokens": 20, "output_tokens": 9, "cache_read_tokens": 8,
        "cache_write_tokens": 0, "reasoning_tokens": 3, "cost_micro_usd": 8, "unpriced_requests": 0, "cost_known": true});
    assert_eq!(usage.body["totals"], expected, "{}", usage.text);
}

#[tokio::test]
async fn a_duplicate_top_level_key_is_refused_by_name_and_nothing_is_sent() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Openai, valid_key(Provider::Openai), Value::Null).await;
    let twice = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"max_completion_tokens":5,"max_completion_tokens":50000}"#;
    let refused = post_chat(&app, twice).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.body,
        json!({"error": {"message": "`max_completion_tokens` appears more than once in the request body: send each field once",
            "type": "invalid_request_error", "param": "max_completion_tokens", "code": "validation_error"}})
    );
    assert_eq!(refused.header("x-should-retry"), Some("false"));
    assert!(received(&mocks, Provider::Openai).await.is_empty());
}

#[tokio::test]
async fn the_organizations_tone_never_changes_an_agents_system_prompt() {
    let (app, mocks) = app_with_mocks(&[]).await;
    for (provider, model) in [(Provider::Openai, MODEL), (Provider::Anthropic, "claude-sonnet-4-5")] {
        app.add_provider_key(&app.api_key, provider, valid_key(provider), Value::Null).await;
        mocks.answer_text(provider, valid_key(provider), model, "ok").await;
    }
    let tone = app.put("/api/v1/settings/ai", &app.api_key, json!({"tone": "friendly"})).await;
    assert_eq!(tone.status, 200, "{}", tone.text);

    let sent = r#"{"model":"gpt-4o-mini","user":"u-1","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}"#;
    assert_eq!(post_chat(&app, sent).await.status, 200);
    assert_eq!(received(&mocks, Provider::Openai).await, [sent]);

    // Translated for Anthropic: the system prompt is the agent's, word for word.
    let to_claude = json!({"model": "claude-sonnet-4-5", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]});
    let answer = post_chat(&app, to_claude.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let claude = mocks.chat_bodies(Provider::Anthropic).await.pop().expect("Anthropic called");
    assert_eq!(claude["system"], "Be brief.");
    assert_eq!(claude["messages"], json!([{"role": "user", "content": "hi"}]));
}

#[tokio::test]
async fn on_an_anthropic_key_what_cannot_be_translated_is_refused_by_name_and_nothing_is_sent() {
    let (app, mocks) = app_with_mocks(&[]).await;
    app.add_provider_key(&app.api_key, Provider::Anthropic, valid_key(Provider::Anthropic), Value::Null).await;
    let claude = "anthropic/claude-sonnet-4-5";
    let user = json!({"role": "user", "content": "Weather?"});
    let cases: [(String, &str); 6] = [
        // The agent's turn carries its tools, image and schema; its `seed` comes first of what cannot.
        (with_model(AGENT_TURN, "openai/gpt-4o-mini", claude), "seed"),
        (json!({"model": claude, "messages": [user], "logprobs": true}).to_string(), "logprobs"),
        (json!({"model": claude, "messages": [user], "n": 2}).to_string(), "n"),
        (json!({"model": claude, "messages": [user], "reasoning_effort": "low"}).to_string(), "reasoning_effort"),
        (
            json!({"model": claude, "messages": [{"role": "user", "content": [{"type": "text", "text": "What is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}]}]})
            .to_string(),
            "messages[0].content[1].image_url.detail",
        ),
        (
            json!({"model": claude, "messages": [user, {"role": "assistant", "content": null,
                "function_call": {"name": "f", "arguments": "{}"}}]})
            .to_string(),
            "messages[1].function_call",
        ),
    ];
    for (body, field) in cases {
        let refused = post_chat(&app, body).await;
        assert_eq!(refused.status, 400, "{field}: {}", refused.text);
        assert_eq!(refused.body["error"]["code"], "unsupported_field", "{}", refused.text);
        assert_eq!(refused.body["error"]["type"], "invalid_request_error");
        assert_eq!(refused.body["error"]["param"], field, "{}", refused.text);
        assert!(refused.body["error"]["message"].as_str().unwrap().contains(&format!("`{field}`")), "{}", refused.text);
        assert_eq!(refused.header("x-should-retry"), Some("false"));
    }
    assert!(received(&mocks, Provider::Anthropic).await.is_empty(), "nothing reached Anthropic");

    // Advisory fields are left out and named, never dropped silently.
    mocks.answer_text(Provider::Anthropic, valid_key(Provider::Anthropic), "claude-sonnet-4-5", "Sunny").await;
    let advisory = r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Weather?"}],"user":"u-1","metadata":{"a":"b"}}"#;
    let kept = post_chat(&app, advisory).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(kept.header("x-converra-dropped-fields"), Some("user, metadata"));
}
