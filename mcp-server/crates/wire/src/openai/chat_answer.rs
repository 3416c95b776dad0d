//! What the translations read of an OpenAI Chat Completions answer (OpenAI's or DeepSeek's): a
//! whole `chat.completion`, or one `chat.completion.chunk` of a stream. One reading for both
//! the Messages (`anthropic::from_openai*`) and the Responses (`chat_to_responses*`) answer.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::FullUsage;

/// A whole `chat.completion`.
#[derive(Deserialize)]
pub(crate) struct Completion {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<FullUsage>,
}

#[derive(Deserialize)]
pub(crate) struct Choice {
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// What the model says, whole (`C` a [`Call`]) or a chunk's piece of it (`C` a [`CallDelta`]).
#[derive(Deserialize)]
pub(crate) struct Said<C> {
    #[serde(default)]
    pub content: Option<String>,
    /// DeepSeek's thinking.
    #[serde(default)]
    pub reasoning_content: Option<String>,
    #[serde(default)]
    pub refusal: Option<String>,
    /// (No `default` here, which would ask `C: Default`: serde reads a missing `Option` as `None`.)
    pub tool_calls: Option<Vec<C>>,
}

/// A whole answer's message.
pub(crate) type Message = Said<Call>;
/// A chunk's delta.
pub(crate) type Delta = Said<CallDelta>;

#[derive(Deserialize)]
pub(crate) struct Call {
    pub id: String,
    pub function: CallFunction,
}

#[derive(Deserialize)]
pub(crate) struct CallFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

/// One `chat.completion.chunk`.
#[derive(Deserialize)]
pub(crate) struct Chunk {
    /// OpenAI's way of ending a stream in error: a chunk that is `{"error": {…}}`.
    #[serde(default)]
    pub error: Option<IgnoredAny>,
    #[serde(default)]
    pub model: Option<String>,
    /// Empty (or `null`) in the usage-only chunk.
    #[serde(default)]
    pub choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    pub usage: Option<FullUsage>,
}

#[derive(Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub delta: Option<Delta>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// A fragment of a streamed call: its `index` among the answer's calls, then its id and name
/// once, and its arguments in pieces.
#[derive(Deserialize)]
pub(crate) struct CallDelta {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionDelta>,
}

#[derive(Default, Deserialize)]
pub(crate) struct FunctionDelta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}
