//! A Chat Completions answer translated back into the Responses API's `response` object, for a
//! Responses request that went to a provider serving chat only (`responses_to_chat.rs` took it
//! there): the model's reasoning text (DeepSeek's `reasoning_content`) as a `reasoning` item,
//! its text (and a refusal) as a `message` item, each tool call as a `function_call` item
//! (a namespace's function under its own name and `namespace`), the finish as the status
//! (`incomplete` when the output cap or a content filter stopped it), and the usage with its
//! cached and reasoning parts. The request's settings are echoed as OpenAI echoes them;
//! `store` is false, since nothing is kept. The stream's counterpart is
//! `chat_to_responses_stream.rs`, which shares these shapes.

use serde::Serialize;
use serde_json::value::RawValue;

use super::FullUsage;
use super::chat_answer::Completion;
use super::finish::End;
use super::responses::ResponsesView;
use super::responses_to_chat::ToolNames;

/// What a translated response says of itself beside its output: its id, its time, the model,
/// the request's settings as OpenAI echoes them, and the names of namespaced tools.
#[derive(Debug)]
pub struct ResponseHead {
    /// `resp_…`, made up by Converra (nothing is stored under it).
    pub id: String,
    pub created_at: u64,
    /// The model as the client named it, until the provider's answer names its own.
    pub model: String,
    pub names: ToolNames,
    echo: Echo,
}

/// The request's settings a `response` object repeats, as the client wrote them (or OpenAI's
/// defaults).
#[derive(Debug)]
struct Echo {
    instructions: Option<Box<RawValue>>,
    max_output_tokens: Option<Box<RawValue>>,
    parallel_tool_calls: Box<RawValue>,
    reasoning: Box<RawValue>,
    temperature: Option<Box<RawValue>>,
    text: Box<RawValue>,
    tool_choice: Box<RawValue>,
    tools: Box<RawValue>,
    top_p: Option<Box<RawValue>>,
    metadata: Box<RawValue>,
}

impl ResponsesView<'_> {
    /// The head of the translated answer to this request.
    pub fn response_head(&self, id: String, created_at: u64, names: ToolNames) -> ResponseHead {
        let own = |name: &str| self.members.get(name).map(RawValue::to_owned);
        let or = |name: &str, default: &str| own(name).unwrap_or_else(|| raw(default));
        let echo = Echo {
            instructions: own("instructions"),
            max_output_tokens: own("max_output_tokens"),
            parallel_tool_calls: or("parallel_tool_calls", "true"),
            reasoning: or("reasoning", r#"{"effort":null,"summary":null}"#),
            temperature: own("temperature"),
            text: or("text", r#"{"format":{"type":"text"}}"#),
            tool_choice: or("tool_choice", r#""auto""#),
            tools: or("tools", "[]"),
            top_p: own("top_p"),
            metadata: or("metadata", "{}"),
        };
        ResponseHead { id, created_at, model: self.model.clone().into_owned(), names, echo }
    }
}

/// A JSON text Converra writes itself, as a raw value.
fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// One output item of a translated response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutputItem {
    Reasoning {
        id: String,
        summary: [u8; 0],
        content: Vec<ReasoningPart>,
    },
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<MessagePart>,
    },
    FunctionCall {
        id: String,
        status: &'static str,
        arguments: String,
        call_id: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ReasoningPart {
    ReasoningText { text: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum MessagePart {
    OutputText { text: String, annotations: [u8; 0], logprobs: [u8; 0] },
    Refusal { refusal: String },
}

impl OutputItem {
    pub(super) fn id(&self) -> &str {
        match self {
            OutputItem::Reasoning { id, .. } | OutputItem::Message { id, .. } | OutputItem::FunctionCall { id, .. } => {
                id
            }
        }
    }
}

impl MessagePart {
    pub(super) fn text(text: String) -> Self {
        MessagePart::OutputText { text, annotations: [], logprobs: [] }
    }
}

impl ResponseHead {
    /// The id of the output item at `index`: its kind's prefix, this response's id, the index.
    pub(super) fn item_id(&self, prefix: &str, index: usize) -> String {
        format!("{prefix}_{}_{index}", self.id.trim_start_matches("resp_"))
    }

    /// A call of the chat tool `chat_name`, as the client named the function.
    pub(super) fn call_item(
        &self,
        index: usize,
        call_id: String,
        chat_name: &str,
        arguments: String,
        status: &'static str,
    ) -> OutputItem {
        let (namespace, name) = self.names.split(chat_name);
        OutputItem::FunctionCall {
            id: self.item_id("fc", index),
            status,
            arguments,
            call_id,
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
        }
    }

    /// The `response` object with this `status`, `output` and `usage`.
    pub(super) fn object<'a>(&'a self, end: End, output: &'a [OutputItem], usage: Option<Usage>) -> ResponseObject<'a> {
        let e = &self.echo;
        ResponseObject {
            id: &self.id,
            object: "response",
            created_at: self.created_at,
            status: end.status,
            error: None,
            incomplete_details: end.reason.map(|reason| Incomplete { reason }),
            instructions: e.instructions.as_deref(),
            max_output_tokens: e.max_output_tokens.as_deref(),
            model: &self.model,
            output,
            parallel_tool_calls: &e.parallel_tool_calls,
            previous_response_id: None,
            reasoning: &e.reasoning,
            store: false,
            temperature: e.temperature.as_deref(),
            text: &e.text,
            tool_choice: &e.tool_choice,
            tools: &e.tools,
            top_p: e.top_p.as_deref(),
            truncation: "disabled",
            usage,
            user: None,
            metadata: &e.metadata,
        }
    }
}

#[derive(Serialize)]
pub(super) struct ResponseObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    error: Option<()>,
    incomplete_details: Option<Incomplete>,
    instructions: Option<&'a RawValue>,
    max_output_tokens: Option<&'a RawValue>,
    model: &'a str,
    output: &'a [OutputItem],
    parallel_tool_calls: &'a RawValue,
    previous_response_id: Option<()>,
    reasoning: &'a RawValue,
    store: bool,
    temperature: Option<&'a RawValue>,
    text: &'a RawValue,
    tool_choice: &'a RawValue,
    tools: &'a RawValue,
    top_p: Option<&'a RawValue>,
    truncation: &'static str,
    usage: Option<Usage>,
    user: Option<()>,
    metadata: &'a RawValue,
}

#[derive(Serialize)]
struct Incomplete {
    reason: &'static str,
}

/// A Responses usage: cached tokens a part of the input, reasoning a part of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) struct Usage {
    input_tokens: u64,
    input_tokens_details: Cached,
    output_tokens: u64,
    output_tokens_details: Reasoned,
    total_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct Cached {
    cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct Reasoned {
    reasoning_tokens: u64,
}

impl From<FullUsage> for Usage {
    fn from(u: FullUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            input_tokens_details: Cached { cached_tokens: u.cached_tokens() },
            output_tokens: u.completion_tokens,
            output_tokens_details: Reasoned { reasoning_tokens: u.reasoning_tokens() },
            total_tokens: u.prompt_tokens + u.completion_tokens,
        }
    }
}

/// A whole `chat.completion` as a `response` object; `None` when the answer cannot be read.
pub fn response_json(chat: &[u8], head: &mut ResponseHead) -> Option<Vec<u8>> {
    let completion: Completion = serde_json::from_slice(chat).ok()?;
    if let Some(model) = completion.model {
        head.model = model;
    }
    let choice = completion.choices.into_iter().next()?;
    let message = choice.message?;
    let mut output = Vec::new();
    if let Some(text) = message.reasoning_content.filter(|t| !t.is_empty()) {
        let id = head.item_id("rs", output.len());
        output.push(OutputItem::Reasoning { id, summary: [], content: vec![ReasoningPart::ReasoningText { text }] });
    }
    let end = End::of(choice.finish_reason.as_deref());
    let mut parts = Vec::new();
    if let Some(text) = message.content.filter(|t| !t.is_empty()) {
        parts.push(MessagePart::text(text));
    }
    if let Some(refusal) = message.refusal.filter(|t| !t.is_empty()) {
        parts.push(MessagePart::Refusal { refusal });
    }
    if !parts.is_empty() {
        let id = head.item_id("msg", output.len());
        let status = if end.status == "incomplete" { "incomplete" } else { "completed" };
        output.push(OutputItem::Message { id, status, role: "assistant", content: parts });
    }
    for call in message.tool_calls.unwrap_or_default() {
        let item = head.call_item(output.len(), call.id, &call.function.name, call.function.arguments, "completed");
        output.push(item);
    }
    serde_json::to_vec(&head.object(end, &output, completion.usage.map(Usage::from))).ok()
}

#[cfg(test)]
#[path = "chat_to_responses_tests.rs"]
mod tests;
