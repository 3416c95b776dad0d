//! The one internal request/response shape every adapter translates to and from.

use converra::{FinishReason, KeyStatus, Message};
use futures_util::stream::BoxStream;

use super::Metered;

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

/// A provider call that failed, mapped to the key status users see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderFailure(pub KeyStatus);

pub type ChatStream = BoxStream<'static, Result<ChatEvent, ProviderFailure>>;
