//! OpenAI's Chat Completions playing a scripted model, in OpenAI's own recorded shapes, for tests
//! that drive an agent through a translated endpoint (`/v1/messages` on an OpenAI model, Claude
//! Code included): the `chat.completion.chunk` events of a text answer or of a tool call whose
//! arguments arrive in pieces, as OpenAI writes them when usage was asked for (`"usage":null` on
//! every chunk, then the usage-only chunk and `[DONE]`), and the whole `chat.completion` of a
//! tool call. (`chat_script.rs` scripts DeepSeek's shapes, whose usage rides on the finish.)
//! Every answer reports the same usage: 30 prompt tokens (10 read from the cache), 7 completion
//! tokens (2 of them reasoning).

use serde_json::{Value, json};

/// The usage every scripted answer reports.
pub fn openai_script_usage() -> Value {
    json!({"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37,
           "prompt_tokens_details": {"cached_tokens": 10, "audio_tokens": 0},
           "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
}

fn chunk(model: &str, delta: Value, finish: Value) -> String {
    let data = json!({"id": "chatcmpl-Scripted0001", "object": "chat.completion.chunk", "created": 1757000100,
        "model": model, "service_tier": "default", "system_fingerprint": "fp_scripted",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}], "usage": null});
    format!("data: {data}\n\n")
}

/// The end of every scripted stream: the finish, the usage-only chunk, `[DONE]`.
fn end(model: &str, finish: &str, out: &mut Vec<String>) {
    out.push(chunk(model, json!({}), json!(finish)));
    let usage = json!({"id": "chatcmpl-Scripted0001", "object": "chat.completion.chunk", "created": 1757000100,
        "model": model, "service_tier": "default", "system_fingerprint": "fp_scripted", "choices": [], "usage": openai_script_usage()});
    out.push(format!("data: {usage}\n\n"));
    out.push("data: [DONE]\n\n".to_owned());
}

/// A streamed text answer saying `parts` in order.
pub fn text_chunks(model: &str, parts: &[&str]) -> Vec<String> {
    let mut out = vec![chunk(model, json!({"role": "assistant", "content": "", "refusal": null}), Value::Null)];
    out.extend(parts.iter().map(|part| chunk(model, json!({"content": part}), Value::Null)));
    end(model, "stop", &mut out);
    out
}

/// A streamed call of the function `name` (id `call_id`), its arguments sent in `pieces`.
pub fn call_chunks(model: &str, call_id: &str, name: &str, pieces: &[&str]) -> Vec<String> {
    let opening = json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
        {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]});
    let mut out = vec![chunk(model, opening, Value::Null)];
    for piece in pieces {
        let delta = json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]});
        out.push(chunk(model, delta, Value::Null));
    }
    end(model, "tool_calls", &mut out);
    out
}

/// The whole `chat.completion` that calls `name` (id `call_id`) with `arguments` (JSON text),
/// saying `text` beside the call.
pub fn call_body(model: &str, text: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"id": "chatcmpl-Scripted0002", "object": "chat.completion", "created": 1757000200, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null, "annotations": [],
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": openai_script_usage(), "service_tier": "default", "system_fingerprint": "fp_scripted"})
}
