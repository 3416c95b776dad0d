//! The providers' recorded answers to a translated `/v1/chat/completions` (Anthropic's Messages
//! API and Gemini's `generateContent`, in their real wire formats): a tool call, whole and
//! streamed event by event, and the final text after the tool's result; and the stand-ins that
//! play a tool loop (the first call answers with the tool call, a call carrying the tool's
//! result with the text).

use converra::Provider;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::providers::{MockProviders, auth_header, chat_path};

/// Anthropic's whole answer calling `get_weather` for Paris, with cache reads (20 in, 100 of
/// them read from the cache and 5 written; 9 out).
pub fn anthropic_tool_use(model: &str) -> Value {
    json!({"id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "Checking the weather."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 20, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 9}})
}

/// Anthropic's whole answer saying `text` (30 in, 6 out).
pub fn anthropic_text(model: &str, text: &str) -> Value {
    json!({"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 6}})
}

/// Anthropic's whole answer through the forced tool of a `json_object` request: its input is
/// the answer (40 in, 12 out).
pub fn anthropic_json_tool(model: &str, input: Value) -> Value {
    json!({"id": "msg_01JsonToolAnswer7x", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "tool_use", "id": "toolu_01JsonTool0x", "name": "json_object", "input": input}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 12}})
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Anthropic's stream of the same tool call, as it sends it: the message, a sentence, a ping,
/// the `tool_use` block with its input in three pieces, the stop reason with the output
/// tokens, the end (472 in, 100 of them cache reads; 89 out).
pub fn anthropic_tool_use_events(model: &str) -> Vec<String> {
    let delta = |index: u32, delta: Value| {
        event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": delta}))
    };
    vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_014p7gG3wDgGV9EUtLvnow3U",
            "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 372, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": 2}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
        delta(0, json!({"type": "text_delta", "text": "Checking the weather."})),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}}),
        ),
        delta(1, json!({"type": "input_json_delta", "partial_json": ""})),
        delta(1, json!({"type": "input_json_delta", "partial_json": "{\"city\": "})),
        delta(1, json!({"type": "input_json_delta", "partial_json": "\"Par"})),
        delta(1, json!({"type": "input_json_delta", "partial_json": "is\"}"})),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 89}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
}

/// Gemini's whole answer calling `get_weather` for Paris, the call signed as Gemini 3 signs it
/// (30 in, 20 of them cached; 5 out and 7 of thought).
pub fn gemini_function_call(model: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQBVKhc7oSIG2k="}]},
        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 5, "totalTokenCount": 42,
            "cachedContentTokenCount": 20, "thoughtsTokenCount": 7},
        "modelVersion": model, "responseId": "mfmgZ-2aHZu2nvgPxu2S8Aw"})
}

/// Gemini's whole answer saying `text` (40 in, 6 out).
pub fn gemini_text(model: &str, text: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 6, "totalTokenCount": 46},
        "modelVersion": model, "responseId": "nGmhZ-3bIZv3owgPyv3T9Bx"})
}

/// Gemini's stream of a sentence and the same call (`alt=sse`: one JSON answer per event, CRLF
/// line ends, no end event; the usage complete on the last, 12 in and 8 out).
pub fn gemini_function_call_events(model: &str) -> Vec<String> {
    let chunk = |parts: Value, last: bool| {
        let mut c = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12}, "modelVersion": model, "responseId": "r-stream-1"});
        if last {
            c["candidates"][0]["finishReason"] = json!("STOP");
            c["usageMetadata"] = json!({"promptTokenCount": 12, "candidatesTokenCount": 8, "totalTokenCount": 20});
        }
        format!("data: {c}\r\n\r\n")
    };
    vec![
        chunk(json!([{"text": "Checking"}]), false),
        chunk(json!([{"text": " the weather."}]), false),
        chunk(
            json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQBVKhc7oSIG2k="}]),
            true,
        ),
    ]
}

/// Server-sent events as a provider's streamed answer.
pub fn sse(events: &[String]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(events.concat(), "text/event-stream")
}

impl MockProviders {
    /// A tool loop on `model` with `key`: a call whose body holds `result_marker` (the tool's
    /// result as the provider's wire writes it: `"tool_result"`, `"functionResponse"`) answers
    /// `then`, any other whole call answers `first`.
    pub async fn play_tool_loop(
        &self,
        provider: Provider,
        key: &str,
        model: &str,
        result_marker: &str,
        first: Value,
        then: Value,
    ) {
        let (name, value) = auth_header(provider, key);
        let call = || {
            Mock::given(method("POST")).and(path(chat_path(provider, model, false))).and(header(name, value.as_str()))
        };
        call()
            .and(body_string_contains(result_marker))
            .respond_with(ResponseTemplate::new(200).set_body_json(then))
            .with_priority(1)
            .mount(self.server(provider))
            .await;
        call()
            .respond_with(ResponseTemplate::new(200).set_body_json(first))
            .with_priority(3)
            .mount(self.server(provider))
            .await;
    }

    /// Every request one provider received: its path and query, headers and JSON body.
    pub async fn requests(&self, provider: Provider) -> Vec<(String, reqwest::header::HeaderMap, Value)> {
        self.posted(provider)
            .await
            .into_iter()
            .map(|r| {
                let at = match r.url.query() {
                    Some(query) => format!("{}?{query}", r.url.path()),
                    None => r.url.path().to_owned(),
                };
                (at, r.headers.clone(), serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            })
            .collect()
    }
}
