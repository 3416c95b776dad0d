//! What every endpoint shares: list pages, the error body and its codes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A list answer: every collection route wraps its items in `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct List<T> {
    /// The items.
    pub data: Vec<T>,
}

impl<T> From<Vec<T>> for List<T> {
    fn from(data: Vec<T>) -> Self {
        Self { data }
    }
}

/// Every error answer of the REST API: `{"error": {"code", "message", ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The body of an error answer. The `message` is fixed per case; everything else a client may
/// need is a field beside it, never folded into the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `UNAUTHORIZED`.
    pub code: ErrorCode,
    /// A sentence written for the person reading it.
    pub message: String,
    /// The request field at fault, for `VALIDATION_ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The provider failure, for `PROVIDER_ERROR` and `KEY_REJECTED` (`invalid_key`,
    /// `quota_exceeded`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<super::KeyStatus>,
    /// `false` when a provider key sent with `"test": true` failed its test and was not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<bool>,
    /// The provider host that was tried, when a provider could not be reached (operator
    /// configuration, never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Seconds to wait before trying again, for `RATE_LIMITED` (also the `Retry-After` header
    /// over HTTP; this field is what a face without headers, MCP, can read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// For a completion that failed on a stored key the provider refuses: the key's live
    /// health in a sentence, e.g. "the organization's OpenAI key has failed 12 times since
    /// 10:04 UTC: Invalid API key".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// For `NO_PROVIDER_KEY`: the provider asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<super::Provider>,
    /// For `NO_PROVIDER_KEY`: the environment asked for (the calling API key's: a `sk_test_`
    /// key spends only test provider keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<super::Environment>,
    /// For `NO_PROVIDER_KEY`: the other environments that do have a key for the provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_environments: Vec<super::Environment>,
    /// For `BUDGET_EXCEEDED`: the budget that refused the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<super::BudgetRefusal>,
}

/// `NO_PROVIDER_KEY`'s detail in a few words, the same on every face: "no test DeepSeek key; a
/// live one exists".
pub fn missing_key_sentence(
    provider: super::Provider,
    environment: super::Environment,
    others: &[super::Environment],
) -> String {
    let mut text = format!("no {} {} key", environment.as_str(), provider.label());
    for other in others {
        text.push_str(&format!("; a {} one exists", other.as_str()));
    }
    text
}

impl ErrorDetail {
    /// A detail with only a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            provider_status: None,
            stored: None,
            host: None,
            retry_after: None,
            health: None,
            provider: None,
            environment: None,
            other_environments: Vec::new(),
            budget: None,
        }
    }

    /// For `NO_PROVIDER_KEY`: [`missing_key_sentence`], when the detail names the environment.
    pub fn missing_key(&self) -> Option<String> {
        Some(missing_key_sentence(self.provider?, self.environment?, &self.other_environments))
    }
}

/// The stable error codes of every face (REST, MCP, SDK).
///
/// A code this version does not know yet (sent by a newer server) is kept as
/// [`ErrorCode::Unknown`], so adding a code never breaks an older client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 401: missing, malformed, unknown, expired or revoked API key.
    Unauthorized,
    /// 403: the caller's role may not do this.
    Forbidden,
    /// 404: no such object in the caller's organization.
    NotFound,
    /// 400/422: a request field is missing or invalid.
    ValidationError,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 413: the request body is over the size limit.
    PayloadTooLarge,
    /// 429: the API key's rate limit is spent; see `Retry-After`.
    RateLimited,
    /// 409: no provider key and no platform allowance for this provider.
    NoProviderKey,
    /// 402: the organization's monthly token allowance is spent.
    AllowanceExhausted,
    /// 409: AI features are turned off for the organization.
    AiDisabled,
    /// 402: a budget (organization, project, API key or member) is spent for the month, or a
    /// budget applies and the call's cost cannot be bounded; `budget` names it. Never retried.
    BudgetExceeded,
    /// 502: the AI provider refused or failed the call.
    ProviderError,
    /// 422: a provider key tested on add or replace was refused by its provider (invalid,
    /// without permission or out of quota); nothing was stored.
    KeyRejected,
    /// 409: the member's active API keys are at the plan's cap.
    ApiKeyLimit,
    /// 400: a field of an agent endpoint's request (`/v1`) that cannot reach the resolved
    /// provider; the field is named and nothing was sent.
    UnsupportedField,
    /// 503: the database (or another engine Converra needs) is down; retry later.
    Unavailable,
    /// 500: something failed inside Converra (no detail is exposed).
    Internal,
    /// A code this version of the crate does not know, as the server sent it.
    Unknown(String),
}

impl ErrorCode {
    /// Every code this version knows (all but [`ErrorCode::Unknown`]).
    pub const KNOWN: [ErrorCode; 17] = [
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::ValidationError,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::NoProviderKey,
        Self::AllowanceExhausted,
        Self::BudgetExceeded,
        Self::AiDisabled,
        Self::ProviderError,
        Self::KeyRejected,
        Self::ApiKeyLimit,
        Self::UnsupportedField,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The code as it appears on the wire, e.g. `"NOT_FOUND"`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::ValidationError => "VALIDATION_ERROR",
            Self::Conflict => "CONFLICT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RateLimited => "RATE_LIMITED",
            Self::NoProviderKey => "NO_PROVIDER_KEY",
            Self::AllowanceExhausted => "ALLOWANCE_EXHAUSTED",
            Self::BudgetExceeded => "BUDGET_EXCEEDED",
            Self::AiDisabled => "AI_DISABLED",
            Self::ProviderError => "PROVIDER_ERROR",
            Self::KeyRejected => "KEY_REJECTED",
            Self::ApiKeyLimit => "API_KEY_LIMIT",
            Self::UnsupportedField => "UNSUPPORTED_FIELD",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::Unknown(code) => code,
        }
    }

    /// A short lower-case label for messages, e.g. "not found".
    pub fn label(&self) -> &str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not found",
            Self::ValidationError => "invalid request",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload too large",
            Self::RateLimited => "rate limited",
            Self::NoProviderKey => "no provider key",
            Self::AllowanceExhausted => "allowance exhausted",
            Self::BudgetExceeded => "budget exceeded",
            Self::AiDisabled => "AI disabled",
            Self::ProviderError => "provider error",
            Self::KeyRejected => "key rejected",
            Self::ApiKeyLimit => "API key limit",
            Self::UnsupportedField => "unsupported field",
            Self::Unavailable => "unavailable",
            Self::Internal => "server error",
            Self::Unknown(code) => code,
        }
    }

    /// The code a bare HTTP status stands for, for answers without a Converra error body (a
    /// proxy's page); `None` where several codes share the status or none has it.
    pub fn for_status(status: u16) -> Option<Self> {
        Some(match status {
            400 | 422 => Self::ValidationError,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            429 => Self::RateLimited,
            500 => Self::Internal,
            503 => Self::Unavailable,
            _ => return None,
        })
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = std::convert::Infallible;

    /// Never fails: an unknown code becomes [`ErrorCode::Unknown`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::KNOWN.into_iter().find(|code| code.as_str() == s).unwrap_or_else(|| Self::Unknown(s.to_owned())))
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

impl JsonSchema for ErrorCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let known: Vec<&str> = Self::KNOWN.iter().map(ErrorCode::as_str).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "A stable error code; clients treat codes they do not know by the HTTP status.",
            "examples": known,
        })
    }
}

/// Serializes a secret that the API shows exactly once (a new API key). Only the server's
/// creation answer uses it; `Debug` of the holding type still redacts.
pub(crate) mod expose_once {
    use secrecy::{ExposeSecret, SecretString};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.expose_secret())
    }
}

/// JSON schema of a secret string field (a plain string the server never returns).
pub(crate) fn secret_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "writeOnly": true })
}
