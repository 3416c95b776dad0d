//! A scripted model on Anthropic's Messages API as a wiremock stand-in, in Anthropic's own wire
//! (which DeepSeek's Anthropic-compatible `/anthropic` endpoint speaks too): it calls a tool
//! first; once a `tool_result` block is in the conversation, it answers with text. Whole or
//! streamed, as each request asks; streamed as Anthropic streams (`message_start`, the block's
//! start, its deltas in two pieces, its stop, `message_delta` with the stop reason and the output
//! tokens, `message_stop`). What the real Claude Code runs its tool loop against, on Anthropic and
//! on DeepSeek; the Messages twin of `chat_script`, whose script ([`ToolThenText`]) and [`Turn`] it
//! plays.

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use crate::chat_script::{ToolThenText, Turn, halves};

/// The usage every scripted answer reports: 10 in (nothing cached), 5 out.
pub const MESSAGES_USAGE: (u64, u64) = (10, 5);

/// `chat_script`'s script (a call of the tool its `choose` picks, then its `text`; a
/// conversation without its `mark` answered "ok") played on the Messages wire: the call as a
/// `tool_use` block, the tool's result read from a `tool_result` block.
pub struct ToolUseThenText(pub ToolThenText);

impl Respond for ToolUseThenText {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let script = &self.0;
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let model = body["model"].as_str().unwrap_or("claude-sonnet-4-5");
        let stream = body["stream"] == json!(true);
        let text = String::from_utf8_lossy(&request.body);
        if script.mark.as_ref().is_some_and(|mark| !text.contains(mark.as_str())) {
            return messages_answer(model, stream, Turn::Text("ok"));
        }
        let messages = body["messages"].as_array().into_iter().flatten();
        if messages.filter_map(|m| m["content"].as_array()).flatten().any(|b| b["type"] == "tool_result") {
            return messages_answer(model, stream, Turn::Text(&script.text));
        }
        let offered: Vec<&str> =
            body["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        match (script.choose)(&offered) {
            Some((name, input)) => {
                messages_answer(model, stream, Turn::Call { id: &script.call_id, name: &name, arguments: &input })
            }
            None => ResponseTemplate::new(400).set_body_json(json!({"type": "error",
                "error": {"type": "invalid_request_error", "message": format!("no tool to call among {offered:?}")}})),
        }
    }
}

/// Anthropic's answer of `turn`, whole or as its event stream.
pub fn messages_answer(model: &str, stream: bool, turn: Turn) -> ResponseTemplate {
    if stream {
        return ResponseTemplate::new(200).set_body_raw(messages_events(model, &turn).concat(), "text/event-stream");
    }
    let (input, output) = MESSAGES_USAGE;
    let (block, stop) = match turn {
        Turn::Text(text) => (json!({"type": "text", "text": text}), "end_turn"),
        Turn::Call { id, name, arguments } => {
            let input: Value = serde_json::from_str(arguments).expect("a tool's input is a JSON object");
            (json!({"type": "tool_use", "id": id, "name": name, "input": input}), "tool_use")
        }
    };
    ResponseTemplate::new(200).set_body_json(json!({"id": "msg_01ScriptedWhole", "type": "message", "role": "assistant",
        "model": model, "content": [block], "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": output}}))
}

/// Anthropic's stream of `turn`: the message (its input tokens), one block — the text, or the
/// `tool_use` with its input — in two deltas, the stop reason with the output tokens, the end.
pub fn messages_events(model: &str, turn: &Turn) -> Vec<String> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let (input, output) = MESSAGES_USAGE;
    let (block, deltas, stop) = match turn {
        Turn::Text(text) => (
            json!({"type": "text", "text": ""}),
            halves(text).map(|piece| json!({"type": "text_delta", "text": piece})),
            "end_turn",
        ),
        Turn::Call { id, name, arguments } => (
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
            halves(arguments).map(|piece| json!({"type": "input_json_delta", "partial_json": piece})),
            "tool_use",
        ),
    };
    let mut out = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_01ScriptedStream", "type": "message", "role": "assistant",
                "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        ),
        event("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": block})),
    ];
    for delta in deltas {
        out.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": delta})));
    }
    out.push(event("content_block_stop", json!({"type": "content_block_stop", "index": 0})));
    out.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": output}}),
    ));
    out.push(event("message_stop", json!({"type": "message_stop"})));
    out
}
