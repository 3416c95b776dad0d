//! Tests of Anthropic's answers read as OpenAI's: a recorded whole answer calling a tool, and a
//! recorded stream (text, a tool call whose input arrives in pieces, a ping, the usage in two
//! halves) turned into the exact chunks; the forced JSON tool read back as content; an error
//! event and a cut stream as faults.

use serde_json::{Value, json};

use super::{FromAnthropic, anthropic_completion};
use crate::openai::{StreamFault, ToChunks};

/// Anthropic's event as it sends it.
fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A recorded stream: a sentence, then a `get_weather` call, usage with cache reads.
fn tool_call_events() -> Vec<String> {
    vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_014p7gG3wDgGV9EUtLvnow3U",
            "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 472, "cache_read_input_tokens": 100, "output_tokens": 2}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking"}}),
        ),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "ris\"}"}}),
        ),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
}

/// Every frame the events become, parsed (`[DONE]` as a string).
fn chunks(mapper: &mut FromAnthropic, events: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for e in events {
        for frame in mapper.event(e.as_bytes()).unwrap() {
            let text = std::str::from_utf8(&frame).unwrap();
            let data = text.strip_prefix("data: ").and_then(|d| d.strip_suffix("\n\n")).expect("one data line");
            out.push(serde_json::from_str(data).unwrap_or_else(|_| json!(data)));
        }
    }
    out
}

#[test]
fn a_whole_answer_with_a_tool_call_reads_as_a_chat_completion() {
    let body = json!({"id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 20, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 9}});
    let out =
        anthropic_completion(body.to_string().as_bytes(), "anthropic/claude-sonnet-4-5", 1757000000, false).unwrap();
    let expected = json!({"id": "chatcmpl-msg_01Aq9w938a90dw8q", "object": "chat.completion", "created": 1757000000,
        "model": "anthropic/claude-sonnet-4-5",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Checking.", "refusal": null,
            "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 125, "completion_tokens": 9, "total_tokens": 134, "prompt_tokens_details": {"cached_tokens": 100}}});
    assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), expected);
    assert!(anthropic_completion(b"<html>", "m", 0, false).is_none());
}

#[test]
fn a_stream_becomes_chunks_frame_by_frame_with_the_usage_only_when_asked() {
    let head = |choices: Value| {
        json!({"id": "chatcmpl-msg_014p7gG3wDgGV9EUtLvnow3U", "object": "chat.completion.chunk",
        "created": 7, "model": "claude-sonnet-4-5", "choices": choices})
    };
    let delta = |delta: Value, finish: Value| {
        head(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]))
    };
    let call = |d: Value| delta(json!({"tool_calls": [d]}), Value::Null);
    let mut expected = vec![
        delta(json!({"role": "assistant", "content": ""}), Value::Null),
        delta(json!({"content": "Checking"}), Value::Null),
        call(json!({"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}})),
        call(json!({"index": 0, "function": {"arguments": "{\"city\": \"Pa"}})),
        call(json!({"index": 0, "function": {"arguments": "ris\"}"}})),
        delta(json!({}), json!("tool_calls")),
    ];
    let mut quiet = FromAnthropic::new("claude-sonnet-4-5".into(), 7, false, false);
    let mut out = chunks(&mut quiet, &tool_call_events());
    assert_eq!(out.pop(), Some(json!("[DONE]")));
    assert_eq!(out, expected);
    assert_eq!(quiet.end(), Ok(Vec::new()));

    let mut asked = FromAnthropic::new("claude-sonnet-4-5".into(), 7, false, true);
    let out = chunks(&mut asked, &tool_call_events());
    // Asked for the usage, every other chunk says `"usage": null`, as OpenAI's do.
    for chunk in &mut expected {
        chunk["usage"] = Value::Null;
    }
    let mut usage = head(json!([]));
    usage["usage"] = json!({"prompt_tokens": 572, "completion_tokens": 89, "total_tokens": 661,
        "prompt_tokens_details": {"cached_tokens": 100}});
    expected.extend([usage, json!("[DONE]")]);
    assert_eq!(out, expected);
}

#[test]
fn the_forced_json_tool_streams_as_content_and_an_error_or_a_cut_stream_is_a_fault() {
    let events: Vec<String> = tool_call_events()
        .into_iter()
        .filter(|e| !e.contains("\"index\":0") && !e.contains("\"index\": 0"))
        .map(|e| e.replace("get_weather", "json_object"))
        .collect();
    let mut json = FromAnthropic::new("m".into(), 7, true, false);
    let out = chunks(&mut json, &events);
    let content: String = out.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(content, "{\"city\": \"Paris\"}");
    assert!(out.iter().all(|c| c["choices"][0]["delta"].get("tool_calls").is_none()));
    assert_eq!(out[out.len() - 2]["choices"][0]["finish_reason"], "stop");

    let mut failing = FromAnthropic::new("m".into(), 7, false, false);
    chunks(&mut failing, &tool_call_events()[..4]);
    let error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    assert_eq!(
        failing.event(error.as_bytes()),
        Err(StreamFault::Error(
            "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}".into()
        ))
    );
    assert_eq!(failing.end(), Err(StreamFault::Incomplete));
}
