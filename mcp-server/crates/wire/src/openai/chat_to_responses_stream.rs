//! A Chat Completions stream translated, frame by frame, into the Responses API's event
//! sequence (what Codex and the OpenAI SDKs parse): `response.created` and
//! `response.in_progress` first; then for each output item `response.output_item.added`, its
//! parts (`response.content_part.added`), its deltas (`response.reasoning_text.delta`,
//! `response.output_text.delta`, `response.refusal.delta`,
//! `response.function_call_arguments.delta`), their `.done` events and
//! `response.output_item.done`; and at the chat stream's end `response.completed` (or
//! `response.incomplete`) with the whole response and its usage. Every event carries its
//! `sequence_number`. The mapper holds what it needs across frames (the items so far, the
//! finish, the usage); a frame's events go out as soon as it is read. A chunk that is an error
//! (`{"error": …}`, how OpenAI's wire ends a stream in error) becomes the Responses `error` event.

use serde::Serialize;

use super::FullUsage;
use super::chat_answer::{CallDelta, Chunk};
use super::chat_to_responses::{MessagePart, OutputItem, ReasoningPart, ResponseHead, Usage};
use super::finish::End;

/// The event writer: one sequence of numbers, the events of the frame being read.
struct Sink {
    sequence: u64,
    out: Vec<u8>,
}

impl Sink {
    fn emit<B: Serialize>(&mut self, kind: &str, body: B) {
        #[derive(Serialize)]
        struct Event<'a, B> {
            #[serde(rename = "type")]
            kind: &'a str,
            #[serde(flatten)]
            body: B,
            sequence_number: u64,
        }
        let event = Event { kind, body, sequence_number: self.sequence };
        self.sequence += 1;
        self.out.extend_from_slice(format!("event: {kind}\ndata: ").as_bytes());
        self.out.extend(serde_json::to_vec(&event).unwrap_or_default());
        self.out.extend_from_slice(b"\n\n");
    }
}

#[derive(Serialize)]
struct ItemEvent<'a> {
    output_index: usize,
    item: &'a OutputItem,
}

#[derive(Serialize)]
struct PartEvent<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    part: Part<'a>,
}

/// A content part as `content_part.*` events show it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    ReasoningText { text: &'a str },
    OutputText { text: &'a str, annotations: [u8; 0] },
    Refusal { refusal: &'a str },
}

#[derive(Serialize)]
struct DeltaEvent<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<usize>,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[u8; 0]>,
}

#[derive(Serialize)]
struct TextDone<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[u8; 0]>,
}

#[derive(Serialize)]
struct ArgumentsDone<'a> {
    item_id: &'a str,
    output_index: usize,
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ResponseEvent<'a> {
    response: super::chat_to_responses::ResponseObject<'a>,
}

/// Which kind of text a delta adds to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
    Reasoning,
    Output,
    Refusal,
}

/// The translation of one chat stream into Responses events.
pub struct ResponsesStream {
    head: ResponseHead,
    sink: Sink,
    started: bool,
    ended: bool,
    /// Every item so far, by output index.
    items: Vec<OutputItem>,
    /// The reasoning or message item receiving text, if one is open.
    open: Option<usize>,
    /// Open calls: chat's index of the call, and the item's output index.
    calls: Vec<(u32, usize)>,
    finish: Option<String>,
    usage: Option<FullUsage>,
}

impl ResponsesStream {
    pub fn new(head: ResponseHead) -> Self {
        let sink = Sink { sequence: 0, out: Vec::new() };
        Self {
            head,
            sink,
            started: false,
            ended: false,
            items: Vec::new(),
            open: None,
            calls: Vec::new(),
            finish: None,
            usage: None,
        }
    }

    /// The events one chat frame (`data: {…}` and its blank line) translates into; empty for a
    /// frame that carries nothing (a comment, the role alone). `data: [DONE]` ends the response.
    pub fn push(&mut self, frame: &[u8]) -> Vec<u8> {
        let (_, Some(data)) = super::events::read(frame) else { return Vec::new() };
        if data == "[DONE]" {
            return self.end();
        }
        let Ok(chunk) = serde_json::from_str::<Chunk>(&data) else { return Vec::new() };
        if chunk.error.is_some() {
            return self.failed();
        }
        if let Some(model) = chunk.model.filter(|_| !self.started) {
            self.head.model = model;
        }
        self.start();
        for choice in chunk.choices.unwrap_or_default() {
            if let Some(delta) = choice.delta {
                for (kind, text) in [
                    (Text::Reasoning, delta.reasoning_content),
                    (Text::Output, delta.content),
                    (Text::Refusal, delta.refusal),
                ] {
                    if let Some(text) = text.filter(|t| !t.is_empty()) {
                        self.text(kind, &text);
                    }
                }
                for call in delta.tool_calls.unwrap_or_default() {
                    self.call(call);
                }
            }
            if choice.finish_reason.is_some() {
                self.finish = choice.finish_reason;
            }
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        std::mem::take(&mut self.sink.out)
    }

    /// The events that end the response (every open item done, then `response.completed` or
    /// `.incomplete`), once the chat stream ended after its finish; nothing for a stream cut
    /// before it finished, or already ended.
    pub fn end(&mut self) -> Vec<u8> {
        if self.ended || self.finish.is_none() {
            return std::mem::take(&mut self.sink.out);
        }
        self.ended = true;
        self.start();
        self.close_open();
        for (_, index) in std::mem::take(&mut self.calls) {
            self.close_call(index);
        }
        let end = End::of(self.finish.as_deref());
        let kind = if end.status == "incomplete" { "response.incomplete" } else { "response.completed" };
        let response = self.head.object(end, &self.items, self.usage.map(Usage::from));
        self.sink.emit(kind, ResponseEvent { response });
        std::mem::take(&mut self.sink.out)
    }

    /// The provider ended the stream with an error chunk: the Responses API's `error` event, in
    /// Converra's words (a provider's error text is not repeated), and nothing after it.
    fn failed(&mut self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Failure {
            code: &'static str,
            message: &'static str,
            param: Option<()>,
        }
        self.ended = true;
        let status = converra::KeyStatus::ProviderError;
        self.sink.emit("error", Failure { code: status.as_str(), message: status.message(), param: None });
        std::mem::take(&mut self.sink.out)
    }

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        for kind in ["response.created", "response.in_progress"] {
            let response = self.head.object(End::IN_PROGRESS, &[], None);
            self.sink.emit(kind, ResponseEvent { response });
        }
    }

    fn text(&mut self, kind: Text, delta: &str) {
        let reasoning = kind == Text::Reasoning;
        // A text goes on the open item of its kind, else on a new one.
        let fits = self.open.is_some_and(|i| matches!(self.items[i], OutputItem::Reasoning { .. }) == reasoning);
        if !fits {
            self.close_open();
            let index = self.items.len();
            let item = if reasoning {
                OutputItem::Reasoning { id: self.head.item_id("rs", index), summary: [], content: Vec::new() }
            } else {
                OutputItem::Message {
                    id: self.head.item_id("msg", index),
                    status: "in_progress",
                    role: "assistant",
                    content: Vec::new(),
                }
            };
            self.items.push(item);
            self.open = Some(index);
            self.sink.emit("response.output_item.added", ItemEvent { output_index: index, item: &self.items[index] });
        }
        let index = self.open.unwrap_or_default();
        // A part of the delta's kind, the last one or a new one after it.
        let opened = match &mut self.items[index] {
            OutputItem::Reasoning { content, .. } => match content.last_mut() {
                Some(ReasoningPart::ReasoningText { text }) => {
                    text.push_str(delta);
                    None
                }
                None => {
                    content.push(ReasoningPart::ReasoningText { text: delta.to_owned() });
                    Some(0)
                }
            },
            OutputItem::Message { content, .. } => match (content.last_mut(), kind) {
                (Some(MessagePart::OutputText { text, .. }), Text::Output)
                | (Some(MessagePart::Refusal { refusal: text }), Text::Refusal) => {
                    text.push_str(delta);
                    None
                }
                _ => {
                    content.push(if kind == Text::Refusal {
                        MessagePart::Refusal { refusal: delta.to_owned() }
                    } else {
                        MessagePart::text(delta.to_owned())
                    });
                    Some(content.len() - 1)
                }
            },
            OutputItem::FunctionCall { .. } => None,
        };
        if let Some(part) = opened {
            if part > 0 {
                self.close_part(index, part - 1);
            }
            let empty = match kind {
                Text::Reasoning => Part::ReasoningText { text: "" },
                Text::Output => Part::OutputText { text: "", annotations: [] },
                Text::Refusal => Part::Refusal { refusal: "" },
            };
            let item_id = self.items[index].id();
            self.sink.emit(
                "response.content_part.added",
                PartEvent { item_id, output_index: index, content_index: part, part: empty },
            );
        }
        let content_index = self.part_count(index).saturating_sub(1);
        let (event, logprobs) = match kind {
            Text::Reasoning => ("response.reasoning_text.delta", None),
            Text::Output => ("response.output_text.delta", Some([])),
            Text::Refusal => ("response.refusal.delta", None),
        };
        let item_id = self.items[index].id();
        self.sink.emit(
            event,
            DeltaEvent { item_id, output_index: index, content_index: Some(content_index), delta, logprobs },
        );
    }

    fn part_count(&self, index: usize) -> usize {
        match &self.items[index] {
            OutputItem::Reasoning { content, .. } => content.len(),
            OutputItem::Message { content, .. } => content.len(),
            OutputItem::FunctionCall { .. } => 0,
        }
    }

    /// The `.done` events of a part of an item.
    fn close_part(&mut self, index: usize, part: usize) {
        let item = &self.items[index];
        let item_id = item.id();
        // Each kind of part: its event, its text or refusal, and its logprobs (output text only).
        let (event, text, refusal, logprobs, shown) = match item {
            OutputItem::Reasoning { content, .. } => {
                let ReasoningPart::ReasoningText { text } = &content[part];
                ("response.reasoning_text.done", Some(text.as_str()), None, None, Part::ReasoningText { text })
            }
            OutputItem::Message { content, .. } => match &content[part] {
                MessagePart::OutputText { text, .. } => (
                    "response.output_text.done",
                    Some(text.as_str()),
                    None,
                    Some([]),
                    Part::OutputText { text, annotations: [] },
                ),
                MessagePart::Refusal { refusal } => {
                    ("response.refusal.done", None, Some(refusal.as_str()), None, Part::Refusal { refusal })
                }
            },
            OutputItem::FunctionCall { .. } => return,
        };
        let done = TextDone { item_id, output_index: index, content_index: part, text, refusal, logprobs };
        self.sink.emit(event, done);
        self.sink.emit(
            "response.content_part.done",
            PartEvent { item_id, output_index: index, content_index: part, part: shown },
        );
    }

    /// Ends the open reasoning or message item: its last part, then the item.
    fn close_open(&mut self) {
        let Some(index) = self.open.take() else { return };
        let parts = self.part_count(index);
        if parts > 0 {
            self.close_part(index, parts - 1);
        }
        let incomplete = End::of(self.finish.as_deref()).status == "incomplete";
        if let OutputItem::Message { status, .. } = &mut self.items[index] {
            *status = if incomplete { "incomplete" } else { "completed" };
        }
        self.sink.emit("response.output_item.done", ItemEvent { output_index: index, item: &self.items[index] });
    }

    fn call(&mut self, delta: CallDelta) {
        let function = delta.function.unwrap_or_default();
        let index = match self.calls.iter().find(|(chat, _)| *chat == delta.index) {
            Some((_, index)) => *index,
            None => {
                self.close_open();
                let index = self.items.len();
                let call_id = delta.id.unwrap_or_else(|| self.head.item_id("call", index));
                let item = self.head.call_item(
                    index,
                    call_id,
                    function.name.as_deref().unwrap_or_default(),
                    String::new(),
                    "in_progress",
                );
                self.items.push(item);
                self.calls.push((delta.index, index));
                self.sink
                    .emit("response.output_item.added", ItemEvent { output_index: index, item: &self.items[index] });
                index
            }
        };
        let Some(piece) = function.arguments.filter(|a| !a.is_empty()) else { return };
        if let OutputItem::FunctionCall { arguments, .. } = &mut self.items[index] {
            arguments.push_str(&piece);
        }
        let item_id = self.items[index].id();
        self.sink.emit(
            "response.function_call_arguments.delta",
            DeltaEvent { item_id, output_index: index, content_index: None, delta: &piece, logprobs: None },
        );
    }

    fn close_call(&mut self, index: usize) {
        if let OutputItem::FunctionCall { status, .. } = &mut self.items[index] {
            *status = "completed";
        }
        let item = &self.items[index];
        if let OutputItem::FunctionCall { id, arguments, name, .. } = item {
            self.sink.emit(
                "response.function_call_arguments.done",
                ArgumentsDone { item_id: id, output_index: index, name, arguments },
            );
        }
        self.sink.emit("response.output_item.done", ItemEvent { output_index: index, item });
    }
}
