//! Anthropic's Messages wire as the `/v1/messages` face carries it: a request read at its top
//! level and forwarded as written (`view.rs`), the usage read from an answer or its stream
//! events (everything else skipped unbuilt), and the shapes Converra itself answers in
//! (errors, the models list). For an OpenAI model the request is translated into a Chat
//! Completions body (`to_openai.rs`, `to_openai_messages.rs`, written as `chat_body.rs`'s types)
//! and the answer back into a `message` (`from_openai.rs`) or, streamed, into Anthropic's events
//! (`from_openai_stream.rs`). A neutral module, so that no face imports `providers/`.

mod chat_body;
#[cfg(test)]
mod fixture_tests;
mod from_openai;
mod from_openai_stream;
mod models;
mod to_openai;
mod to_openai_messages;
mod view;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use chat_body::ChatBody;
pub use from_openai::message_from_chat;
pub use from_openai_stream::{StreamMapper, Untranslatable};
pub use to_openai::{ToOpenAi, to_chat};
pub use view::MessagesView;

/// The usage of a Messages answer, as Anthropic reports it: `input_tokens` excludes the
/// prompt tokens read from or written to the cache, which are counted apart. In a stream,
/// `message_start` carries the input side and `message_delta` the output (cumulative, and in
/// newer answers the input side again): each member present overrides the one before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct MessagesUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

impl MessagesUsage {
    /// `self` updated by what `later` reports.
    pub fn merged(self, later: MessagesUsage) -> MessagesUsage {
        MessagesUsage {
            input_tokens: later.input_tokens.or(self.input_tokens),
            output_tokens: later.output_tokens.or(self.output_tokens),
            cache_creation_input_tokens: later.cache_creation_input_tokens.or(self.cache_creation_input_tokens),
            cache_read_input_tokens: later.cache_read_input_tokens.or(self.cache_read_input_tokens),
        }
    }
}

/// A whole answer's usage (`{"usage": {…}}` at its top level).
#[derive(Deserialize)]
pub struct UsageOnly {
    #[serde(default)]
    pub usage: Option<MessagesUsage>,
}

/// What Converra reads of one stream event's data.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EventRead {
    /// The usage it reports (`message_start`'s or `message_delta`'s).
    pub usage: Option<MessagesUsage>,
    /// Whether it is `message_delta`, the event after which the usage is complete.
    pub final_usage: bool,
    /// Bytes of generated text (text, thinking, a tool call's JSON), for an estimate should
    /// the usage never arrive.
    pub produced: u64,
}

#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<&'a str>,
    #[serde(default)]
    message: Option<MessageHead>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
    #[serde(default, borrow)]
    delta: Option<DeltaView<'a>>,
}

#[derive(Deserialize)]
struct MessageHead {
    #[serde(default)]
    usage: Option<MessagesUsage>,
}

#[derive(Deserialize)]
struct DeltaView<'a> {
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    thinking: Option<&'a RawValue>,
    #[serde(default, borrow)]
    partial_json: Option<&'a RawValue>,
}

/// Reads one event's `data`; one that does not parse reads as nothing (it is relayed all the same).
pub fn read_event(data: &str) -> EventRead {
    let Ok(event) = serde_json::from_str::<EventView>(data) else { return EventRead::default() };
    let mut read = EventRead::default();
    match event.kind {
        Some("message_start") => read.usage = event.message.and_then(|m| m.usage),
        Some("message_delta") => {
            read.usage = event.usage;
            read.final_usage = true;
        }
        Some("content_block_delta") => {
            read.produced = event
                .delta
                .iter()
                .flat_map(|d| [d.text, d.thinking, d.partial_json])
                .flatten()
                .map(|raw| raw.get().len().saturating_sub(2) as u64)
                .sum();
        }
        _ => {}
    }
    read
}

/// Anthropic's error shape: `{"type": "error", "error": {"type": …, "message": …}}`; Converra
/// adds its code and details beside the message.
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: serde_json::Value,
}

/// `GET /v1/models` in Anthropic's shape.
#[derive(Debug, Serialize)]
pub struct ModelPage {
    pub data: Vec<ModelInfo>,
    pub has_more: bool,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ModelInfo {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub display_name: String,
    pub created_at: &'static str,
}

/// `POST /v1/messages/count_tokens`'s answer.
#[derive(Debug, Serialize)]
pub struct TokenCount {
    pub input_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_events_give_their_usage_and_generated_bytes() {
        let start = r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":1}}}"#;
        let delta = r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":42}}"#;
        let (start, delta) = (read_event(start), read_event(delta));
        assert!(!start.final_usage && delta.final_usage);
        let usage = start.usage.unwrap().merged(delta.usage.unwrap());
        assert_eq!(
            usage,
            MessagesUsage {
                input_tokens: Some(12),
                output_tokens: Some(42),
                cache_creation_input_tokens: Some(100),
                cache_read_input_tokens: Some(2000)
            }
        );
        let text =
            read_event(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#);
        assert_eq!(text.produced, 5);
        assert_eq!(read_event("not json"), EventRead::default());
    }
}
