//! The one domain error: its code, its message and the details beside it. Every face maps it in
//! one place (`http/error.rs`, which also gives each code its HTTP status; `mcp/error.rs`;
//! `web/error.rs`).

use bytes::Bytes;
use converra::{Environment, ErrorCode, KeySourceInfo, KeyStatus, Provider};
use http::HeaderMap;

/// Why authentication failed; the messages are part of the interface (clients match on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    /// An `Authorization` header without a Bearer token (another scheme, or nothing after
    /// `Bearer`): no token was given, though the message is the same as [`AuthError::Invalid`].
    NotBearer,
    Invalid,
    Expired,
    Revoked,
    /// The web face: no session, or one that ended (expired, signed out, member removed, the
    /// API key it signed in with revoked).
    SignedOut,
    /// A login link unknown, already used or expired.
    LinkInvalid,
}

impl AuthError {
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "Authorization header required",
            Self::NotBearer | Self::Invalid => "Invalid API key",
            Self::Expired => "API key has expired",
            Self::Revoked => "API key has been revoked",
            Self::SignedOut => "Sign in to continue",
            Self::LinkInvalid => "This sign-in link is invalid, already used or expired: ask for a new one",
        }
    }

    /// Whether a Bearer token was presented (and refused): RFC 6750 then asks for
    /// `error="invalid_token"` in the challenge, and for no error code otherwise.
    pub fn token_given(self) -> bool {
        matches!(self, Self::Invalid | Self::Expired | Self::Revoked)
    }
}

/// The caller's rate-limit state, sent as `X-RateLimit-*` headers on every authenticated answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the bucket is full again.
    pub reset: u64,
    /// Seconds to wait, when the request was refused.
    pub retry_after: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", .0.message())]
    Unauthorized(AuthError),
    #[error("{0}")]
    Forbidden(&'static str),
    /// The object kind, e.g. "Provider key"; a foreign id answers exactly like a missing one.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A known route asked with a method it does not take (answered 405, code `NOT_FOUND`).
    #[error("Method not allowed on this route")]
    MethodNotAllowed,
    #[error("{message}")]
    Validation { field: Option<String>, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("This member already has {limit} active API keys, the most the plan allows: revoke one first")]
    ApiKeyLimit { limit: u32 },
    #[error("Request body is too large (the limit is {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("Rate limit exceeded: {} requests per minute for this API key", .0.limit)]
    RateLimited(RateLimitInfo),
    #[error("No {provider} key is configured for this scope and no platform allowance covers it: add a provider key")]
    /// `environment`: the one asked for (the caller's); `other_environments`: those that do
    /// have a key for the provider (detail beside the fixed message, `vault/environments.rs`).
    NoProviderKey { provider: Provider, environment: Environment, other_environments: Vec<Environment> },
    #[error("The monthly AI token allowance of your plan is used up: add your own provider key to continue")]
    AllowanceExhausted,
    #[error("AI features are turned off for this organization")]
    AiDisabled,
    /// A budget that applies to the call has no room for its largest possible cost this month:
    /// refused before anything is sent.
    #[error(
        "The {} budget of {} for this month has no room for this call: {} is spent or held by calls in flight, and this call may cost up to {}. Set a lower output cap (max_tokens), wait for it to reset at {}, or ask an admin to raise it",
        .0.scope_text(), converra::usd_text(.0.limit_micro_usd), converra::usd_text(.0.spent_micro_usd),
        converra::usd_text(.0.call_max_micro_usd.unwrap_or_default()), .0.resets_at
    )]
    BudgetExceeded(Box<converra::BudgetRefusal>),
    /// A budget applies to the call and its cost cannot be bounded (`why`: its model has no
    /// price, or a charge it may incur has no cap): refused, so that no call gets around a budget.
    #[error("The {} budget applies to this call and its cost cannot be bounded: {why}", .refusal.scope_text())]
    BudgetUnbounded { refusal: Box<converra::BudgetRefusal>, why: String },
    /// A field of an agent endpoint's request that cannot reach the resolved provider (not
    /// translated to its API, or not allowed on the platform key): named, and nothing is sent.
    #[error(
        "`{field}` cannot be sent to {provider} through this endpoint: leave it out, or use a model whose provider takes it"
    )]
    UnsupportedField { field: String, provider: Provider },
    /// A field naming an object stored on the provider's account (a stored response, a file, a
    /// vector store…) that Converra did not relay the creation of for this member on this key:
    /// answered 404 like a missing one, and nothing is sent (tenants never share
    /// provider-side state).
    #[error("`{field}` names an object that was not created through Converra by you with this key")]
    NotRelayed { field: String },
    /// `health`: the stored key's live health in a sentence, when the failure flagged it;
    /// `key_source`: which key failed, so every face can say so beside the error; `answer`: what
    /// the provider said, when the agent endpoints show it (REST and MCP keep the mapped words).
    #[error("{}", .status.message())]
    Provider {
        provider: Provider,
        status: KeyStatus,
        health: Option<String>,
        key_source: Option<Box<KeySourceInfo>>,
        answer: Option<Box<ProviderAnswer>>,
    },
    /// The store (or another engine the request needs) cannot be reached right now.
    #[error("Service unavailable: the database cannot be reached; retry shortly")]
    Unavailable,
    /// The process's budget of buffered request bytes is spent (`CONVERRA_V1_BUFFER_BUDGET`,
    /// `http/budget.rs`): answered 503 `UNAVAILABLE` with `retry-after: 1`.
    #[error("Too many large requests are being handled at once: retry in a moment")]
    Overloaded,
    /// A key sent with `"test": true` failed its test and was not stored: `KEY_REJECTED` when
    /// the provider refused the key itself, `PROVIDER_ERROR` (with the host tried) otherwise.
    #[error("{}", .status.message())]
    NotStored { status: KeyStatus, host: String },
    /// Details are logged (with ids only) where this is mapped, never shown.
    #[error("Internal error")]
    Internal(#[from] InternalError),
}

/// A provider's refusal as the agent endpoints show it (in the endpoint's own API's error shape): a
/// request error (400, 404, 413, 422) as the provider sent it, a server error (5xx, 529) with its
/// status and type, a rate limit with its `retry-after` and a 403 with their status in Converra's
/// words. The key is redacted from the body and the message before this is built
/// (`providers/redact.rs`); answers that speak of the key or the account (401, quota) carry none,
/// and are told in Converra's words as a gateway failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAnswer {
    /// The provider's HTTP status, which the client's answer keeps.
    pub status: u16,
    /// The API whose error shape `body` has; `None` when it has no shape a face speaks (or the
    /// body is not kept).
    pub shape: Option<ErrorShape>,
    /// The provider's error type in that shape (`invalid_request_error`, `overloaded_error`…).
    pub kind: Option<String>,
    /// The provider's message; `None` where Converra's words replace it (a rate limit: its
    /// text names the provider's organization; a 403).
    pub message: Option<String>,
    /// The body as the provider sent it but for the redactions; empty when not kept. An endpoint
    /// of the API `shape` names relays it as it is; any other re-shapes `kind` and `message`.
    pub body: Bytes,
    /// The headers of the answer a client may see: the request id, `retry-after`, rate limits.
    pub headers: HeaderMap,
}

/// The error shapes of the APIs Converra's agent endpoints speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error": {"message", "type", "param", "code"}}` (OpenAI, DeepSeek).
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}` (Anthropic, DeepSeek's `/anthropic`).
    Anthropic,
}

impl ProviderAnswer {
    /// The provider's error type, when the provider spoke the API of `shape`.
    pub fn kind_in(&self, shape: ErrorShape) -> Option<&str> {
        self.kind.as_deref().filter(|_| self.shape == Some(shape))
    }

    /// Whether the same request may succeed if sent again: not after a request error (the
    /// provider would refuse it again), after a rate limit or a server error it may.
    pub fn may_succeed_on_retry(&self) -> bool {
        !(400..500).contains(&self.status) || matches!(self.status, 408 | 409 | 429)
    }
}

/// Failures inside Converra. Their text names operations and ids, never values. The store's
/// and the vault's errors are boxed here, since this crate sits below both: their conversions
/// live beside them (`converra-store`'s `From<StoreError>`, the core's `From<CryptoError>`).
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error(transparent)]
    Store(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Crypto(Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation { field: Some(field.into()), message: message.into() }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound(_) | Error::MethodNotAllowed | Error::NotRelayed { .. } => ErrorCode::NotFound,
            Error::Validation { .. } => ErrorCode::ValidationError,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::ApiKeyLimit { .. } => ErrorCode::ApiKeyLimit,
            Error::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Error::RateLimited(_) => ErrorCode::RateLimited,
            Error::NoProviderKey { .. } => ErrorCode::NoProviderKey,
            Error::AllowanceExhausted => ErrorCode::AllowanceExhausted,
            Error::BudgetExceeded(_) | Error::BudgetUnbounded { .. } => ErrorCode::BudgetExceeded,
            Error::AiDisabled => ErrorCode::AiDisabled,
            Error::UnsupportedField { .. } => ErrorCode::UnsupportedField,
            Error::Provider { .. } => ErrorCode::ProviderError,
            Error::Unavailable | Error::Overloaded => ErrorCode::Unavailable,
            Error::NotStored { status, .. } if rejects_the_key(*status) => ErrorCode::KeyRejected,
            Error::NotStored { .. } => ErrorCode::ProviderError,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The JSON error body (`{"error": {...}}`) every face shows: the fixed message, and every
    /// detail in a field beside it.
    pub fn body(&self) -> converra::ErrorBody {
        let mut detail = converra::ErrorDetail::new(self.code(), self.to_string());
        match self {
            Error::Validation { field, .. } => detail.field = field.clone(),
            Error::UnsupportedField { field, .. } | Error::NotRelayed { field } => detail.field = Some(field.clone()),
            Error::Provider { status, health, .. } => {
                detail.provider_status = Some(*status);
                detail.health = health.clone();
            }
            Error::RateLimited(info) => detail.retry_after = info.retry_after,
            Error::NoProviderKey { provider, environment, other_environments } => {
                detail.provider = Some(*provider);
                detail.environment = Some(*environment);
                detail.other_environments = other_environments.clone();
            }
            Error::BudgetExceeded(refusal) | Error::BudgetUnbounded { refusal, .. } => {
                detail.budget = Some((**refusal).clone());
            }
            Error::NotStored { status, host } => {
                detail.provider_status = Some(*status);
                detail.stored = Some(false);
                if detail.code == ErrorCode::ProviderError {
                    detail.host = Some(host.clone());
                }
            }
            _ => {}
        }
        converra::ErrorBody { error: detail }
    }
}

impl Error {
    /// `NO_PROVIDER_KEY` for a caller in `environment` without looking further (the platform
    /// key went away between resolution and use); the core's `Core::no_provider_key` names the
    /// other environments.
    pub fn no_provider_key(provider: Provider, environment: Environment) -> Self {
        Error::NoProviderKey { provider, environment, other_environments: Vec::new() }
    }

    /// Which key a failed provider call used (`X-Converra-Key-Source` / `-Key-Id` on the answer).
    pub fn key_source(&self) -> Option<&KeySourceInfo> {
        match self {
            Error::Provider { key_source, .. } => key_source.as_deref(),
            _ => None,
        }
    }

    /// What the provider answered, when an agent endpoint shows it in place of Converra's words.
    pub fn provider_answer(&self) -> Option<&ProviderAnswer> {
        match self {
            Error::Provider { answer, .. } => answer.as_deref(),
            _ => None,
        }
    }

    /// Whether the same request may succeed if sent again unchanged: a rate limit, an engine
    /// that is down, a failure inside Converra, or a provider that failed or could not be
    /// reached (not one that refused the request itself). Every other refusal stands until the
    /// request or the configuration changes (the agent endpoints say so with
    /// `x-should-retry: false`).
    pub fn may_succeed_on_retry(&self) -> bool {
        match self {
            Error::RateLimited(_) | Error::Unavailable | Error::Overloaded | Error::Internal(_) => true,
            Error::Provider { answer: Some(answer), .. } => answer.may_succeed_on_retry(),
            Error::Provider { status, .. } => {
                matches!(status, KeyStatus::RateLimited | KeyStatus::Unreachable | KeyStatus::ProviderError)
            }
            _ => false,
        }
    }
}

/// The test outcomes that are the key's fault (the caller's error, 422) rather than the
/// provider's or the network's (502).
fn rejects_the_key(status: KeyStatus) -> bool {
    matches!(status, KeyStatus::InvalidKey | KeyStatus::PermissionDenied | KeyStatus::QuotaExceeded)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_fails_its_test_is_not_stored() {
        let rejected = Error::NotStored { status: KeyStatus::QuotaExceeded, host: "api.openai.com".into() };
        assert_eq!(rejected.code(), ErrorCode::KeyRejected);
        let body = serde_json::to_value(rejected.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "KEY_REJECTED", "message": "Quota exceeded",
                "provider_status": "quota_exceeded", "stored": false}})
        );
        let unreachable = Error::NotStored { status: KeyStatus::Unreachable, host: "127.0.0.1:9".into() };
        let body = serde_json::to_value(unreachable.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "PROVIDER_ERROR", "message": "Provider unreachable",
                "provider_status": "unreachable", "stored": false, "host": "127.0.0.1:9"}})
        );
    }
}
