//! The one internal request/response shape every adapter translates to and from.

use converra::{FinishReason, KeyStatus, Message};
use futures_util::stream::BoxStream;

use super::Metered;
use converra_base::error::ProviderAnswer;

/// A chat request after Converra's own processing (system prompt split out, tone applied).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model name without the provider prefix.
    pub model: String,
    /// System instructions, joined.
    pub system: Option<String>,
    /// User and assistant turns, oldest first.
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub stop: Vec<String>,
}

/// A finished answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: String,
    pub finish_reason: FinishReason,
    /// As the provider reported it (its totals and their cached and reasoning parts).
    pub usage: Metered,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    Delta(String),
    /// The last event: why it stopped and what it cost.
    Done {
        finish_reason: FinishReason,
        usage: Metered,
    },
}

/// A provider call that failed, mapped to the key status users see, with what the provider
/// answered when the agent endpoints show it (see [`ProviderAnswer`]; the key redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    pub status: KeyStatus,
    pub answer: Option<Box<ProviderAnswer>>,
}

/// A failure with no answer to show (a transport failure, a timeout, an answer that does not
/// parse, a refusal told in Converra's words): `ProviderFailure(KeyStatus::Unreachable)`.
#[allow(non_snake_case)]
pub fn ProviderFailure(status: KeyStatus) -> ProviderFailure {
    ProviderFailure { status, answer: None }
}

pub type ChatStream = BoxStream<'static, Result<ChatEvent, ProviderFailure>>;
