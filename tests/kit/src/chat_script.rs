//! A scripted Chat Completions model as a wiremock stand-in, in DeepSeek's recorded shapes
//! (OpenAI's wire; the usage with DeepSeek's cache-hit count, in the stream's last chunk, then
//! `[DONE]`): it calls a tool first; once a tool's result is in the conversation, it answers
//! with text. Whole or streamed, as each request asks. What the `/v1/responses` translation to
//! chat-only providers is tested against, and what the real Codex talks to through it.

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

/// The usage every scripted answer reports: 20 in (8 of them cache hits), 9 out.
pub fn script_usage() -> Value {
    json!({"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29, "prompt_tokens_details": {"cached_tokens": 8},
        "prompt_cache_hit_tokens": 8, "prompt_cache_miss_tokens": 12})
}

/// Which tool to call, given the names of the tools offered: its name and arguments (a JSON
/// text), or `None` when none of them will do (answered 400, naming them).
pub type Chooser = Box<dyn Fn(&[&str]) -> Option<(String, String)> + Send + Sync>;

/// The script: a call of the tool `choose` picks (with `call_id`), then `text`. With `mark`,
/// a conversation that does not contain it (a client's side request) is answered "ok".
pub struct ToolThenText {
    pub call_id: String,
    pub choose: Chooser,
    pub text: String,
    pub mark: Option<String>,
}

impl ToolThenText {
    /// Calls the tool `name` with `arguments`, whatever else is offered.
    pub fn calling(name: &str, arguments: &str, call_id: &str, text: &str) -> Self {
        let (name, arguments) = (name.to_owned(), arguments.to_owned());
        Self {
            call_id: call_id.to_owned(),
            choose: Box::new(move |offered: &[&str]| {
                offered.contains(&name.as_str()).then(|| (name.clone(), arguments.clone()))
            }),
            text: text.to_owned(),
            mark: None,
        }
    }
}

impl Respond for ToolThenText {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let model = body["model"].as_str().unwrap_or("deepseek-chat");
        let stream = body["stream"] == json!(true);
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let text = String::from_utf8_lossy(&request.body);
        if self.mark.as_ref().is_some_and(|mark| !text.contains(mark.as_str())) {
            return answer(model, stream, Turn::Text("ok"));
        }
        if messages.iter().any(|m| m["role"] == "tool") {
            return answer(model, stream, Turn::Text(&self.text));
        }
        let offered: Vec<&str> =
            body["tools"].as_array().into_iter().flatten().filter_map(|t| t["function"]["name"].as_str()).collect();
        match (self.choose)(&offered) {
            Some((name, arguments)) => {
                answer(model, stream, Turn::Call { id: &self.call_id, name: &name, arguments: &arguments })
            }
            None => ResponseTemplate::new(400).set_body_string(format!("no tool to call among {offered:?}")),
        }
    }
}

/// What the model says this time.
pub enum Turn<'a> {
    Text(&'a str),
    Call { id: &'a str, name: &'a str, arguments: &'a str },
}

/// DeepSeek's answer of `turn`, whole or as its event stream.
pub fn answer(model: &str, stream: bool, turn: Turn) -> ResponseTemplate {
    if stream {
        return ResponseTemplate::new(200).set_body_raw(chat_events(model, &turn).concat(), "text/event-stream");
    }
    let (message, finish) = match turn {
        Turn::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Turn::Call { id, name, arguments } => (
            json!({"role": "assistant", "content": "", "tool_calls": [
                {"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}}]}),
            "tool_calls",
        ),
    };
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "b4f6a1c2-7e0d-4c55-9d2e-3f1a2b3c4d5e", "object": "chat.completion", "created": 1757000000, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": script_usage(), "system_fingerprint": "fp_8802369eaa_prod0623"}))
}

/// DeepSeek's stream of `turn`: the role, the text in two pieces or the call (its name, then its
/// arguments in two pieces), the finish with the usage, `[DONE]`.
pub fn chat_events(model: &str, turn: &Turn) -> Vec<String> {
    let chunk = |delta: Value, finish: Value, usage: Value| {
        let mut chunk = json!({"id": "b4f6a1c2-7e0d-4c55-9d2e-3f1a2b3c4d5e", "object": "chat.completion.chunk", "created": 1757000000,
            "model": model, "system_fingerprint": "fp_8802369eaa_prod0623",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if !usage.is_null() {
            chunk["usage"] = usage;
        }
        format!("data: {chunk}\n\n")
    };
    let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null, Value::Null)];
    let finish = match turn {
        Turn::Text(text) => {
            for piece in halves(text) {
                out.push(chunk(json!({"content": piece}), Value::Null, Value::Null));
            }
            "stop"
        }
        Turn::Call { id, name, arguments } => {
            let call = json!([{"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]);
            out.push(chunk(json!({"tool_calls": call}), Value::Null, Value::Null));
            for piece in halves(arguments) {
                let call = json!([{"index": 0, "function": {"arguments": piece}}]);
                out.push(chunk(json!({"tool_calls": call}), Value::Null, Value::Null));
            }
            "tool_calls"
        }
    };
    out.push(chunk(json!({"content": ""}), json!(finish), script_usage()));
    out.push("data: [DONE]\n\n".to_owned());
    out
}

/// `text` in two pieces, cut between characters.
pub(crate) fn halves(text: &str) -> [&str; 2] {
    let half = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
    [&text[..half], &text[half..]]
}
