//! Anthropic's answer to a translated request, as OpenAI's: a whole Messages answer as a
//! `chat.completion` (text, `tool_use` blocks as `tool_calls` with their input as JSON text, the
//! stop reason as a finish reason, the usage with cache reads and writes in the prompt), and a
//! stream's events as `chat.completion.chunk` frames, event by event ([`FromAnthropic`]). The
//! forced tool of a `json_object` answer ([`JSON_TOOL`]) comes back as the message's content.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::answer::{Call, Delta, Head, StreamFault, ToChunks, Usage};
use super::events;
use super::finish::finish_reason_of_anthropic;
use super::to_anthropic::JSON_TOOL;
use crate::anthropic::MessagesUsage;

/// Every prompt token counts, those read from and written to the cache included.
fn usage(u: MessagesUsage) -> Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let prompt = u.input_tokens.unwrap_or(0) + read + u.cache_creation_input_tokens.unwrap_or(0);
    Usage::new(prompt, read, u.output_tokens.unwrap_or(0), 0)
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: String,
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: MessagesUsage,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

/// A whole Messages answer as a `chat.completion` (`model` as the client named it); `None` for
/// a body that is not one.
pub fn anthropic_completion(body: &[u8], model: &str, created: u64, json_tool: bool) -> Option<Vec<u8>> {
    let message: Message = serde_json::from_slice(body).ok()?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in message.content {
        match (block.kind.as_str(), block.input) {
            ("text", _) => text.push_str(block.text.as_deref().unwrap_or_default()),
            ("tool_use", Some(input)) if json_tool && block.name.as_deref() == Some(JSON_TOOL) => {
                text.push_str(&input.to_string());
            }
            ("tool_use", input) => calls.push(Call::new(
                block.id.unwrap_or_default(),
                block.name.unwrap_or_default(),
                input.unwrap_or_else(|| Value::Object(Default::default())).to_string(),
            )),
            // Thinking, which a translated request never asks for.
            _ => {}
        }
    }
    let head = Head { id: format!("chatcmpl-{}", message.id), created, model: model.to_owned(), usage_null: false };
    // OpenAI's content is null beside tool calls and nothing else.
    let content = (!text.is_empty() || calls.is_empty()).then_some(text);
    Some(head.completion(
        content,
        calls,
        finish_reason_of_anthropic(message.stop_reason.as_deref(), json_tool),
        usage(message.usage),
    ))
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", default)]
    kind: &'a str,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    content_block: Option<Block>,
    #[serde(default, borrow)]
    delta: Option<EventDelta<'a>>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
}

#[derive(Deserialize)]
struct EventDelta<'a> {
    #[serde(rename = "type", default)]
    kind: Option<&'a str>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    stop_reason: Option<String>,
}

/// A Messages stream read as chunks: `message_start` gives the role chunk, text deltas content,
/// each `tool_use` block a call (index, id and name, then its `input_json_delta`s as argument
/// text), `message_delta` the finish reason, `message_stop` the usage chunk (if asked for) and
/// `[DONE]`. Pings and thinking are skipped; an `error` event ends the stream as a fault.
pub struct FromAnthropic {
    head: Head,
    json_tool: bool,
    include_usage: bool,
    /// Each `tool_use` block's index among the answer's calls, by its content block index.
    calls: HashMap<u64, u32>,
    /// The content block of the forced JSON tool, whose input is the answer's text.
    json_block: Option<u64>,
    usage: MessagesUsage,
    stop_reason: Option<String>,
    done: bool,
}

impl FromAnthropic {
    pub fn new(model: String, created: u64, json_tool: bool, include_usage: bool) -> Self {
        FromAnthropic {
            head: Head { id: String::from("chatcmpl-"), created, model, usage_null: include_usage },
            json_tool,
            include_usage,
            calls: HashMap::new(),
            json_block: None,
            usage: MessagesUsage::default(),
            stop_reason: None,
            done: false,
        }
    }

    fn read(&mut self, event: Event<'_>) -> Vec<Bytes> {
        let head = &self.head;
        match event.kind {
            "message_start" => {
                if let Some(message) = event.message {
                    self.head.id = format!("chatcmpl-{}", message.id);
                    self.usage = self.usage.merged(message.usage);
                }
                vec![self.head.chunk(Delta::role(), None)]
            }
            "content_block_start" => match (event.content_block, event.index) {
                (Some(block), Some(index)) if block.kind == "tool_use" => {
                    if self.json_tool && block.name.as_deref() == Some(JSON_TOOL) {
                        self.json_block = Some(index);
                        return Vec::new();
                    }
                    let call = self.calls.len() as u32;
                    self.calls.insert(index, call);
                    let (id, name) = (block.id.unwrap_or_default(), block.name.unwrap_or_default());
                    vec![head.chunk(Delta::call_start(call, id, name, String::new()), None)]
                }
                (Some(block), _) if block.kind == "text" => match block.text.filter(|t| !t.is_empty()) {
                    Some(text) => vec![head.chunk(Delta::text(text), None)],
                    None => Vec::new(),
                },
                _ => Vec::new(),
            },
            "content_block_delta" => {
                let Some(delta) = event.delta else { return Vec::new() };
                match (delta.kind, event.index) {
                    (Some("text_delta"), _) => {
                        delta.text.map(|t| vec![head.chunk(Delta::text(t), None)]).unwrap_or_default()
                    }
                    (Some("input_json_delta"), Some(index)) => {
                        let Some(json) = delta.partial_json.filter(|j| !j.is_empty()) else { return Vec::new() };
                        if self.json_block == Some(index) {
                            return vec![head.chunk(Delta::text(json), None)];
                        }
                        match self.calls.get(&index) {
                            Some(call) => vec![head.chunk(Delta::call_arguments(*call, json), None)],
                            None => Vec::new(),
                        }
                    }
                    _ => Vec::new(),
                }
            }
            "message_delta" => {
                if let Some(usage) = event.usage {
                    self.usage = self.usage.merged(usage);
                }
                self.stop_reason = event.delta.and_then(|d| d.stop_reason);
                let reason = finish_reason_of_anthropic(self.stop_reason.as_deref(), self.json_tool);
                vec![self.head.chunk(Delta::default(), Some(reason))]
            }
            "message_stop" => {
                self.done = true;
                self.head.end(self.include_usage.then(|| usage(self.usage)))
            }
            _ => Vec::new(),
        }
    }
}

impl ToChunks for FromAnthropic {
    fn event(&mut self, bytes: &[u8]) -> Result<Vec<Bytes>, StreamFault> {
        let (name, data) = events::read(bytes);
        let Some(data) = data else { return Ok(Vec::new()) };
        if name == Some("error") {
            return Err(StreamFault::Error(data));
        }
        match serde_json::from_str::<Event>(&data) {
            Ok(event) if event.kind == "error" => Err(StreamFault::Error(data.clone())),
            Ok(event) => Ok(self.read(event)),
            // An event Converra cannot read carries nothing it translates.
            Err(_) => Ok(Vec::new()),
        }
    }

    fn end(&mut self) -> Result<Vec<Bytes>, StreamFault> {
        if self.done { Ok(Vec::new()) } else { Err(StreamFault::Incomplete) }
    }
}

#[cfg(test)]
#[path = "from_anthropic_tests.rs"]
mod tests;
