//! An OpenAI Chat Completions stream as Anthropic's Messages events, frame by frame: each
//! `chat.completion.chunk` becomes the events it means as it arrives (nothing is held back but
//! the end), in the order an Anthropic client's parser needs — `message_start`, then per block
//! `content_block_start`, its deltas and `content_block_stop` (text as `text_delta`, each tool
//! call as a `tool_use` block whose arguments arrive as `input_json_delta` fragments), a `ping`
//! after the first block starts (where Anthropic sends it), and once OpenAI's finish and its
//! usage-only chunk are in, `message_delta` with the `stop_reason` and the usage, and
//! `message_stop`. Anthropic blocks never interleave: a block is closed when another begins.

use serde::Serialize;

use super::from_openai::Usage;
use crate::openai::chat_answer::{CallDelta, Chunk};
use crate::openai::events;
use crate::openai::finish::stop_reason;

/// A stream that cannot be read as a Messages answer (an error chunk, an event that does not
/// parse, arguments for a call already closed, an end before the finish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untranslatable;

/// The state of one translated stream.
pub struct StreamMapper {
    id: String,
    started: bool,
    pinged: bool,
    open: Option<Open>,
    next_index: u32,
    finish: Option<String>,
    refused: bool,
    /// Whether a tool call was streamed (its `stop_reason` is `tool_use` whatever the finish).
    called: bool,
    usage: Option<Usage>,
    done: bool,
}

/// The block being written: its Anthropic index and, for a tool call, OpenAI's index of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text { index: u32 },
    Tool { index: u32, call: u32 },
}

impl StreamMapper {
    /// A stream answered under the message id `id` (Converra's own).
    pub fn new(id: String) -> Self {
        Self {
            id,
            started: false,
            pinged: false,
            open: None,
            next_index: 0,
            finish: None,
            refused: false,
            called: false,
            usage: None,
            done: false,
        }
    }

    /// One event of OpenAI's stream, as relayed: the Anthropic events it makes (maybe none).
    pub fn map(&mut self, frame: &[u8]) -> Result<Vec<u8>, Untranslatable> {
        let mut out = Vec::new();
        let (_, Some(data)) = events::read(frame) else { return Ok(out) };
        if self.done {
            return Ok(out);
        }
        if data == "[DONE]" {
            self.close(&mut out)?;
            return Ok(out);
        }
        let chunk: Chunk = serde_json::from_str(&data).map_err(|_| Untranslatable)?;
        if chunk.error.is_some() {
            return Err(Untranslatable);
        }
        if !self.started {
            self.started = true;
            let model = chunk.model.as_deref().unwrap_or_default();
            let message = Head {
                id: &self.id,
                kind: "message",
                role: "assistant",
                content: [],
                model,
                stop_reason: None,
                stop_sequence: None,
                usage: StartUsage { input_tokens: 0, output_tokens: 0 },
            };
            emit(&mut out, &Event::MessageStart { message });
        }
        if let Some(choice) = chunk.choices.unwrap_or_default().into_iter().next() {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    self.text(&mut out, &text);
                }
                if let Some(refusal) = delta.refusal.filter(|t| !t.is_empty()) {
                    self.refused = true;
                    self.text(&mut out, &refusal);
                }
                for call in delta.tool_calls.unwrap_or_default() {
                    self.tool_call(&mut out, call)?;
                }
            }
            if let Some(finish) = choice.finish_reason {
                self.finish = Some(finish);
                self.close_block(&mut out);
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into());
        }
        Ok(out)
    }

    /// OpenAI's stream ended: the closing events if `[DONE]` did not send them already.
    pub fn end(&mut self) -> Result<Vec<u8>, Untranslatable> {
        let mut out = Vec::new();
        if !self.done {
            self.close(&mut out)?;
        }
        Ok(out)
    }

    fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        let index = match self.open {
            Some(Open::Text { index }) => index,
            _ => {
                let index = self.start_block(out, Start::Text { text: "" });
                self.open = Some(Open::Text { index });
                index
            }
        };
        emit(out, &Event::ContentBlockDelta { index, delta: Delta::TextDelta { text } });
    }

    /// A tool call's piece: a new call (it has an id) opens its block; arguments go to the
    /// call's open block.
    fn tool_call(&mut self, out: &mut Vec<u8>, call: CallDelta) -> Result<(), Untranslatable> {
        let function = call.function.unwrap_or_default();
        let index = match (call.id, self.open) {
            (Some(id), _) => {
                let name = function.name.as_deref().unwrap_or_default();
                self.called = true;
                let index = self.start_block(out, Start::ToolUse { id: &id, name, input: Empty {} });
                self.open = Some(Open::Tool { index, call: call.index });
                index
            }
            (None, Some(Open::Tool { index, call: open })) if open == call.index => index,
            (None, _) => return Err(Untranslatable),
        };
        if let Some(partial_json) = function.arguments.as_deref().filter(|a| !a.is_empty()) {
            emit(out, &Event::ContentBlockDelta { index, delta: Delta::InputJsonDelta { partial_json } });
        }
        Ok(())
    }

    /// Closes the open block and starts the next, returning its index.
    fn start_block(&mut self, out: &mut Vec<u8>, content_block: Start<'_>) -> u32 {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        emit(out, &Event::ContentBlockStart { index, content_block });
        if !self.pinged {
            self.pinged = true;
            emit(out, &Event::Ping);
        }
        index
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some(Open::Text { index } | Open::Tool { index, .. }) = self.open.take() {
            emit(out, &Event::ContentBlockStop { index });
        }
    }

    /// The end of the answer: `message_delta` and `message_stop`; before the finish, the
    /// answer was cut short.
    fn close(&mut self, out: &mut Vec<u8>) -> Result<(), Untranslatable> {
        let Some(finish) = self.finish.as_deref() else { return Err(Untranslatable) };
        let stop_reason = if self.refused { "refusal" } else { stop_reason(Some(finish), self.called) };
        self.close_block(out);
        let usage = self.usage.unwrap_or_default();
        emit(out, &Event::MessageDelta { delta: Stop { stop_reason, stop_sequence: None }, usage });
        emit(out, &Event::MessageStop);
        self.done = true;
        Ok(())
    }
}

/// `event: <type>\ndata: <json>\n\n`.
fn emit(out: &mut Vec<u8>, event: &Event<'_>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.name().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing these plain structs cannot fail.
    out.extend(serde_json::to_vec(event).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart { message: Head<'a> },
    ContentBlockStart { index: u32, content_block: Start<'a> },
    Ping,
    ContentBlockDelta { index: u32, delta: Delta<'a> },
    ContentBlockStop { index: u32 },
    MessageDelta { delta: Stop, usage: Usage },
    MessageStop,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::Ping => "ping",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
        }
    }
}

/// `message_start`'s message: empty, its usage told at the end (OpenAI reports it only there).
#[derive(Serialize)]
struct Head<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    content: [(); 0],
    model: &'a str,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: StartUsage,
}

#[derive(Serialize)]
struct StartUsage {
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Start<'a> {
    Text { text: &'a str },
    ToolUse { id: &'a str, name: &'a str, input: Empty },
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct Stop {
    stop_reason: &'static str,
    stop_sequence: Option<&'static str>,
}

#[cfg(test)]
#[path = "from_openai_stream_tests.rs"]
mod tests;
