//! Converra's own completions (REST, MCP, CLI): the request, the answer, its stream chunks and
//! usage, and which key served it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{KeySource, Provider, Tone};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// Instructions for the model.
    System,
    /// The person asking.
    User,
    /// The model's earlier answers.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: MessageRole,
    /// The text.
    pub content: String,
}

impl Message {
    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: MessageRole::User, content: content.into() }
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: MessageRole::System, content: content.into() }
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: MessageRole::Assistant, content: content.into() }
    }
}

/// `POST /api/v1/completions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    /// `provider/model` (e.g. `anthropic/claude-sonnet-4-5`) or a bare model name whose
    /// provider is inferred from its prefix (`gpt-`, `o1`/`o3`/`o4`, `claude-`, `gemini-`, `deepseek-`).
    pub model: String,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Upper bound on output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Sequences that end the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Run in this project (its provider key wins over the organization's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Answer in this tone (defaults to the organization's AI settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
    /// Stream the answer as server-sent events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

impl CompletionRequest {
    /// A request for `model` with a single user message.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self { model: model.into(), messages: vec![Message::user(prompt)], ..Self::default() }
    }
}

/// Token counts of a completion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
}

/// Which key paid for a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeySourceInfo {
    /// `project`, `organization` or `platform`.
    pub scope: KeySource,
    /// The provider key's id (not for the platform key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The provider key's masked preview (admins and owners only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<String>,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The provider's content filter.
    ContentFilter,
    /// Something else.
    Other,
}

impl FinishReason {
    /// The reason's name on the wire (OpenAI's names).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ContentFilter => "content_filter",
            Self::Other => "other",
        }
    }
}

/// The answer of `POST /api/v1/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Completion {
    /// Completion id (`cmpl_…`).
    pub id: String,
    /// The provider that answered.
    pub provider: Provider,
    /// The model that answered (without the provider prefix).
    pub model: String,
    /// The answer's text.
    pub content: String,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
    /// Token counts.
    pub usage: Usage,
    /// Which key paid.
    pub key_source: KeySourceInfo,
    /// What it cost by the price table, micro-USD (1,000,000 = 1 USD); `null` when the model has
    /// no price (then `cost_known` is false: never 0).
    #[serde(default)]
    pub cost_micro_usd: Option<u64>,
    /// Whether `cost_micro_usd` is known.
    #[serde(default)]
    pub cost_known: bool,
}

/// One server-sent event of a streamed completion (`stream: true`). The stream is a sequence
/// of `delta` chunks and ends with one chunk carrying `finish_reason` and `usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CompletionChunk {
    /// Completion id, the same on every chunk.
    pub id: String,
    /// New text since the previous chunk (may be empty).
    pub delta: String,
    /// Set on the last chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Set on the last chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Set on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_source: Option<KeySourceInfo>,
}
