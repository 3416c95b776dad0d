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

/// The body of an error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `UNAUTHORIZED`.
    pub code: ErrorCode,
    /// A sentence written for the person reading it.
    pub message: String,
    /// The request field at fault, for `VALIDATION_ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The provider failure, for `PROVIDER_ERROR` (`invalid_key`, `quota_exceeded`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<super::KeyStatus>,
}

/// The stable error codes of every face (REST, MCP, SDK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
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
    /// 409: the member's active API keys are at the plan's cap; revoke one first.
    ApiKeyLimit,
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
    /// 502: the AI provider refused or failed the call.
    ProviderError,
    /// 500: something failed inside Converra (no detail is exposed).
    Internal,
    /// 503: the database (or another engine Converra needs) is down; retry later.
    Unavailable,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `"NOT_FOUND"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::ValidationError => "VALIDATION_ERROR",
            Self::Conflict => "CONFLICT",
            Self::ApiKeyLimit => "API_KEY_LIMIT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RateLimited => "RATE_LIMITED",
            Self::NoProviderKey => "NO_PROVIDER_KEY",
            Self::AllowanceExhausted => "ALLOWANCE_EXHAUSTED",
            Self::AiDisabled => "AI_DISABLED",
            Self::ProviderError => "PROVIDER_ERROR",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
