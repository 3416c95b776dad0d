//! OpenAI's Chat Completions answer as a translated path writes it, whichever provider answered:
//! a whole `chat.completion`, or `chat.completion.chunk` frames (`data: {…}` and a blank line)
//! ending in `data: [DONE]`. The usage counts every prompt token, cache reads included
//! (`prompt_tokens_details.cached_tokens`), and reasoning as a part of the output.

use bytes::Bytes;
use serde::Serialize;

/// The end of a stream, as OpenAI ends one.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// What every frame of one answer repeats.
#[derive(Debug, Clone)]
pub struct Head {
    /// `chatcmpl-` and the provider's own id of the answer.
    pub id: String,
    pub created: u64,
    /// The model as the client named it.
    pub model: String,
    /// The client asked for the usage chunk (`stream_options.include_usage`): every other
    /// chunk then carries `"usage": null`, as OpenAI's own do.
    pub usage_null: bool,
}

/// A call the model made, whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: Function,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Function {
    pub name: String,
    /// The arguments as JSON text, as OpenAI sends them.
    pub arguments: String,
}

impl Call {
    pub fn new(id: String, name: String, arguments: String) -> Self {
        Call { id, kind: "function", function: Function { name, arguments } }
    }
}

/// The usage in OpenAI's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PromptDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CompletionDetails {
    pub reasoning_tokens: u64,
}

impl Usage {
    /// `prompt` counts every prompt token (`cached` of them read from the cache); `completion`
    /// every output token (`reasoning` of them spent thinking). A part of zero is left out.
    pub fn new(prompt: u64, cached: u64, completion: u64, reasoning: u64) -> Self {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: (cached > 0).then_some(PromptDetails { cached_tokens: cached }),
            completion_tokens_details: (reasoning > 0).then_some(CompletionDetails { reasoning_tokens: reasoning }),
        }
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Choice {
    index: u32,
    message: Message,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message {
    role: &'static str,
    content: Option<String>,
    refusal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<Call>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice>,
    /// Absent, `null` (`Some(None)`) or the usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice {
    index: u32,
    delta: Delta,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// What one chunk adds to the answer.
#[derive(Debug, Default, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<CallDelta>,
}

/// A piece of a tool call: its first carries the id and name, the others argument text.
#[derive(Debug, Serialize)]
pub struct CallDelta {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta,
}

#[derive(Debug, Serialize)]
pub struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}

impl Delta {
    /// The first chunk's: who speaks.
    pub fn role() -> Self {
        Delta { role: Some("assistant"), content: Some(String::new()), tool_calls: Vec::new() }
    }

    pub fn text(text: String) -> Self {
        Delta { content: Some(text), ..Delta::default() }
    }

    /// A call's start: its index among the answer's calls, id and name (and any arguments).
    pub fn call_start(index: u32, id: String, name: String, arguments: String) -> Self {
        let function = FunctionDelta { name: Some(name), arguments };
        Delta {
            tool_calls: vec![CallDelta { index, id: Some(id), kind: Some("function"), function }],
            ..Delta::default()
        }
    }

    /// More of a call's arguments.
    pub fn call_arguments(index: u32, arguments: String) -> Self {
        let function = FunctionDelta { name: None, arguments };
        Delta { tool_calls: vec![CallDelta { index, id: None, kind: None, function }], ..Delta::default() }
    }
}

impl Head {
    /// The whole answer: its text (`None` when it only calls tools), calls, finish and usage.
    pub fn completion(&self, content: Option<String>, calls: Vec<Call>, finish: &'static str, usage: Usage) -> Vec<u8> {
        let message = Message { role: "assistant", content, refusal: None, tool_calls: calls };
        let choice = Choice { index: 0, message, logprobs: None, finish_reason: finish };
        let completion = Completion {
            id: &self.id,
            object: "chat.completion",
            created: self.created,
            model: &self.model,
            choices: [choice],
            usage,
        };
        serde_json::to_vec(&completion).unwrap_or_default()
    }

    /// One chunk frame adding `delta`, with the finish reason on the last.
    pub fn chunk(&self, delta: Delta, finish: Option<&'static str>) -> Bytes {
        let choices = vec![ChunkChoice { index: 0, delta, logprobs: None, finish_reason: finish }];
        self.frame(&Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage: self.usage_null.then_some(None),
        })
    }

    /// The usage-only chunk OpenAI sends last when the client asked for it.
    pub fn usage_chunk(&self, usage: Usage) -> Bytes {
        self.frame(&Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: Vec::new(),
            usage: Some(Some(usage)),
        })
    }

    fn frame<T: Serialize>(&self, chunk: &T) -> Bytes {
        let mut frame = b"data: ".to_vec();
        frame.extend(serde_json::to_vec(chunk).unwrap_or_default());
        frame.extend(b"\n\n");
        frame.into()
    }

    /// How a stream ends once the provider's answer is complete: the usage chunk if the
    /// client asked for it, then `[DONE]`.
    pub fn end(&self, usage: Option<Usage>) -> Vec<Bytes> {
        let mut frames: Vec<Bytes> = usage.map(|u| self.usage_chunk(u)).into_iter().collect();
        frames.push(Bytes::from_static(DONE));
        frames
    }
}

/// Why a translated stream cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFault {
    /// The provider's own error event; its data, for the provider's classification.
    Error(String),
    /// The provider's stream ended before its answer did.
    Incomplete,
}

/// A provider's stream events turned into `chat.completion.chunk` frames, one event at a time.
pub trait ToChunks: Send {
    /// One event as relayed (its bytes, blank line included): the frames it becomes.
    fn event(&mut self, bytes: &[u8]) -> Result<Vec<Bytes>, StreamFault>;
    /// The provider's stream has ended: the frames that close the answer.
    fn end(&mut self) -> Result<Vec<Bytes>, StreamFault>;
}
