//! Tests of Gemini's answers read as OpenAI's: a recorded whole answer with a thought, text and
//! a signed function call; a recorded stream turned into the exact chunks, the usage chunk
//! when asked for and `[DONE]` at the end of the body; a stream cut before its finish a fault.

use serde_json::{Value, json};

use super::{FromGemini, gemini_completion};
use crate::openai::{StreamFault, ToChunks};

fn sse(data: Value) -> String {
    format!("data: {data}\r\n\r\n")
}

fn frames(mapper: &mut FromGemini, events: &[String]) -> Vec<Value> {
    let mut bytes: Vec<_> = Vec::new();
    for e in events {
        bytes.extend(mapper.event(e.as_bytes()).unwrap());
    }
    bytes.extend(mapper.end().unwrap());
    bytes
        .iter()
        .map(|frame| {
            let data = std::str::from_utf8(frame).unwrap().strip_prefix("data: ").unwrap().trim_end();
            serde_json::from_str(data).unwrap_or_else(|_| json!(data))
        })
        .collect()
}

#[test]
fn a_whole_answer_reads_as_a_chat_completion_its_thoughts_left_out_and_the_signature_in_the_id() {
    let body = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think about Paris...", "thought": true},
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiIBVKhc7o=="}]},
        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 5, "cachedContentTokenCount": 20,
            "thoughtsTokenCount": 7, "totalTokenCount": 42},
        "modelVersion": "gemini-2.5-flash", "responseId": "mfmgZ-2aHZu2nvgPxu2S8Aw"});
    let out = gemini_completion(body.to_string().as_bytes(), "gemini-2.5-flash", 9).unwrap();
    let mut out: Value = serde_json::from_slice(&out).unwrap();
    let id = out["choices"][0]["message"]["tool_calls"][0]["id"].take();
    assert!(
        id.as_str().unwrap().starts_with("call_") && id.as_str().unwrap().ends_with("__thought__CiIBVKhc7o=="),
        "{id}"
    );
    let expected = json!({"id": "chatcmpl-mfmgZ-2aHZu2nvgPxu2S8Aw", "object": "chat.completion", "created": 9,
        "model": "gemini-2.5-flash",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Checking.", "refusal": null,
            "tool_calls": [{"id": null, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
            "prompt_tokens_details": {"cached_tokens": 20}, "completion_tokens_details": {"reasoning_tokens": 7}}});
    assert_eq!(out, expected);

    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}});
    let out: Value =
        serde_json::from_slice(&gemini_completion(blocked.to_string().as_bytes(), "g", 9).unwrap()).unwrap();
    assert_eq!(
        (&out["choices"][0]["message"]["content"], &out["choices"][0]["finish_reason"]),
        (&Value::Null, &json!("content_filter"))
    );
}

#[test]
fn a_stream_becomes_chunks_and_ends_with_the_body() {
    let events = [
        sse(json!({"candidates": [{"content": {"parts": [{"text": "It is"}], "role": "model"}}],
            "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12}, "modelVersion": "gemini-2.5-flash", "responseId": "r1"})),
        sse(
            json!({"candidates": [{"content": {"parts": [{"text": " sunny."}, {"functionCall": {"id": "fc_1", "name": "log", "args": {}}}],
            "role": "model"}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17}, "responseId": "r1"}),
        ),
    ];
    let head = |choices: Value| json!({"id": "chatcmpl-r1", "object": "chat.completion.chunk", "created": 3, "model": "gemini-2.5-flash", "choices": choices});
    let delta = |delta: Value, finish: Value| {
        head(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]))
    };
    let mut expected = vec![
        delta(json!({"role": "assistant", "content": ""}), Value::Null),
        delta(json!({"content": "It is"}), Value::Null),
        delta(json!({"content": " sunny."}), Value::Null),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "fc_1", "type": "function", "function": {"name": "log", "arguments": "{}"}}]}),
            Value::Null,
        ),
        delta(json!({}), json!("tool_calls")),
    ];
    let mut asked = FromGemini::new("gemini-2.5-flash".into(), 3, true);
    let out = frames(&mut asked, &events);
    // Asked for the usage, every other chunk says `"usage": null`, as OpenAI's do.
    for chunk in &mut expected {
        chunk["usage"] = Value::Null;
    }
    let mut usage = head(json!([]));
    usage["usage"] = json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17});
    expected.extend([usage, json!("[DONE]")]);
    assert_eq!(out, expected);

    let mut cut = FromGemini::new("g".into(), 3, false);
    cut.event(events[0].as_bytes()).unwrap();
    assert_eq!(cut.end(), Err(StreamFault::Incomplete));
    let error = sse(json!({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}));
    assert!(matches!(cut.event(error.as_bytes()), Err(StreamFault::Error(_))));
}
