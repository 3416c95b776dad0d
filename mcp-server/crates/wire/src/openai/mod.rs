//! OpenAI Chat Completions wire types: what Converra sends to OpenAI and DeepSeek for its own
//! requests (REST, MCP), and what it reads of their answers. A `/v1` request is never parsed
//! into these: it is read as a top-level view and forwarded as written (`view.rs`), or, for
//! Anthropic and Gemini, translated field by field, refusing by name what is not carried
//! (`translate.rs`, `turns.rs`; then `to_anthropic.rs`, `to_gemini.rs` with
//! `gemini_schema.rs`), and the provider's answer, whole or event by event, written back in
//! OpenAI's shapes (`from_anthropic.rs`, `from_gemini.rs`, `answer.rs`). The Responses API
//! and embeddings are read the same way (`responses.rs`, with what Converra reads of a
//! Responses answer).

mod answer;
pub(crate) mod chat_answer;
mod chat_to_responses;
mod chat_to_responses_stream;
pub(crate) mod events;
pub(crate) mod finish;
#[cfg(test)]
mod fixture_tests;
mod from_anthropic;
mod from_gemini;
mod gemini_schema;
pub mod responses;
mod responses_input;
mod responses_to_chat;
mod to_anthropic;
mod to_gemini;
mod translate;
mod turns;
mod view;

use serde::{Deserialize, Serialize};

pub use answer::{StreamFault, ToChunks};
pub use chat_to_responses::{ResponseHead, response_json};
pub use chat_to_responses_stream::ResponsesStream;
pub use from_anthropic::{FromAnthropic, anthropic_completion};
pub use from_gemini::{FromGemini, UsageMetadata as GeminiUsage, gemini_completion};
pub use responses::{EmbeddingsView, ResponsesView};
pub use responses_to_chat::{ChatTranslation, ToolNames, responses_field};
pub use to_anthropic::{DEFAULT_MAX_TOKENS, to_anthropic};
pub use to_gemini::to_gemini;
pub use translate::{Chat, Format};
pub(crate) use view::{Attachments, Conversation, Members, object_with, splice, value_of};
pub use view::{ChatView, PromptSize, json_string, json_text};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// A forwarded answer's usage, with the details Converra reads (OpenAI's `*_details`; DeepSeek
/// reports cache hits as `prompt_cache_hit_tokens`). Every other field is skipped unbuilt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct FullUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetails>,
    #[serde(default)]
    pub prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl FullUsage {
    /// Prompt tokens read from the provider's cache (a part of `prompt_tokens`).
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details.and_then(|d| d.cached_tokens).or(self.prompt_cache_hit_tokens).unwrap_or(0)
    }

    /// Output tokens spent reasoning (a part of `completion_tokens`).
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details.and_then(|d| d.reasoning_tokens).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// OpenAI's error shape, used by the compatible face.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenAiError {
    pub error: OpenAiErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenAiErrorBody {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
    /// Converra's addition beside OpenAI's fields: a failing provider key's live health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub owned_by: String,
}

pub fn finish_reason_of(reason: Option<&str>) -> converra::FinishReason {
    use converra::FinishReason;
    match reason {
        Some("stop") | None => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Other,
    }
}
