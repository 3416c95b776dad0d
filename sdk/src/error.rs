//! The one error type of the client, and the one mapping from an HTTP answer to it.
//!
//! Every error code of the API ([`ErrorCode`]) has its own variant, so callers `match` on
//! meaning rather than on status numbers. Messages come from the server, which writes them for
//! people and never puts a secret in them; the client additionally scrubs its own API key from
//! any text it copies out of an answer, so an [`Error`] is always safe to log.

use std::time::Duration;

use serde::Deserialize;

use crate::types::{ErrorBody, ErrorCode, ErrorDetail, KeyStatus};

/// The result of every client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a call to Converra can fail with.
///
/// The API variants carry the server's `X-Request-Id` (quote it when reporting a problem);
/// [`Error::request_id`] and [`Error::code`] read them uniformly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `UNAUTHORIZED` (401): the API key is missing, malformed, unknown, expired or revoked.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// E.g. "API key has been revoked".
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `FORBIDDEN` (403): the key's role may not do this.
    #[error("forbidden: {message}")]
    Forbidden {
        /// What was refused.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `NOT_FOUND` (404): no such object in the key's organization.
    #[error("not found: {message}")]
    NotFound {
        /// What was not found.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `VALIDATION_ERROR` (400/422): a request field is missing or invalid.
    #[error("invalid request: {message}{}", field_suffix(.field))]
    Validation {
        /// The field at fault, when the server named one.
        field: Option<String>,
        /// Why it is invalid.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `CONFLICT` (409): the request conflicts with the current state (e.g. a duplicate name).
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `PAYLOAD_TOO_LARGE` (413): the request body is over the server's size limit.
    #[error("payload too large: {message}")]
    PayloadTooLarge {
        /// The server's explanation.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `RATE_LIMITED` (429): the API key's rate limit is spent (after any automatic retries).
    #[error("rate limited: {message}")]
    RateLimited {
        /// How long the server asked to wait (`Retry-After`).
        retry_after: Option<Duration>,
        /// The server's explanation.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `NO_PROVIDER_KEY` (409): no project key, no organization key and no platform allowance
    /// for the provider.
    #[error("no provider key: {message}")]
    NoProviderKey {
        /// Which provider and scope lacked a key.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `ALLOWANCE_EXHAUSTED` (402): the plan's monthly token allowance is spent.
    #[error("allowance exhausted: {message}")]
    AllowanceExhausted {
        /// The server's explanation.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `AI_DISABLED` (409): AI features are turned off in the organization's settings.
    #[error("AI disabled: {message}")]
    AiDisabled {
        /// The server's explanation.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `PROVIDER_ERROR` (502): the AI provider refused or failed the call.
    #[error("provider error: {message}")]
    Provider {
        /// The mapped provider failure (`invalid_key`, `quota_exceeded`, ...), when known.
        status: Option<KeyStatus>,
        /// In the help pages' wording, e.g. "Quota exceeded"; never the provider's raw text.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// `INTERNAL` (500), or any other 5xx answer without a Converra error body (e.g. from a
    /// proxy in front of the server).
    #[error("server error (HTTP {status}): {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's explanation (no internal detail is ever exposed).
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// The server could not be reached or the connection failed (after any automatic retries),
    /// including timeouts.
    #[error("could not reach Converra: {}", with_causes(.0))]
    Transport(#[source] reqwest::Error),
    /// No complete answer within the client's timeout (after any automatic retries); see
    /// [`ConverraBuilder::timeout`](crate::ConverraBuilder::timeout).
    #[error("Converra did not answer within {after:?}")]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The server's answer was not what this client understands: a body that is not the
    /// expected JSON, an unexpected status, or a stream that ended early.
    #[error("unexpected answer from Converra: {message}")]
    Decode {
        /// What was wrong with the answer.
        message: String,
        /// The server's `X-Request-Id`.
        request_id: Option<String>,
    },
    /// The client was configured wrongly (missing API key, invalid base URL, ...). Nothing was
    /// sent.
    #[error("invalid Converra client configuration: {message}")]
    Config {
        /// What to fix.
        message: String,
    },
}

/// `reqwest`'s message says only which request failed; the reason (connection refused, DNS,
/// TLS, ...) is further down its source chain, and is what the reader needs.
fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn field_suffix(field: &Option<String>) -> String {
    match field {
        Some(field) => format!(" (field `{field}`)"),
        None => String::new(),
    }
}

impl Error {
    /// The `X-Request-Id` of the answer this error came from, if the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { request_id, .. }
            | Self::Forbidden { request_id, .. }
            | Self::NotFound { request_id, .. }
            | Self::Validation { request_id, .. }
            | Self::Conflict { request_id, .. }
            | Self::PayloadTooLarge { request_id, .. }
            | Self::RateLimited { request_id, .. }
            | Self::NoProviderKey { request_id, .. }
            | Self::AllowanceExhausted { request_id, .. }
            | Self::AiDisabled { request_id, .. }
            | Self::Provider { request_id, .. }
            | Self::Server { request_id, .. }
            | Self::Decode { request_id, .. } => request_id.as_deref(),
            Self::Transport(_) | Self::Timeout { .. } | Self::Config { .. } => None,
        }
    }

    /// The API error code this error stands for; `None` for errors that did not come from a
    /// Converra error answer (transport, decoding, configuration, a proxy's 5xx).
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            Self::Unauthorized { .. } => ErrorCode::Unauthorized,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Validation { .. } => ErrorCode::ValidationError,
            Self::Conflict { .. } => ErrorCode::Conflict,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::NoProviderKey { .. } => ErrorCode::NoProviderKey,
            Self::AllowanceExhausted { .. } => ErrorCode::AllowanceExhausted,
            Self::AiDisabled { .. } => ErrorCode::AiDisabled,
            Self::Provider { .. } => ErrorCode::ProviderError,
            Self::Server { status: 500, .. } => ErrorCode::Internal,
            Self::Server { status: 503, .. } => ErrorCode::Unavailable,
            Self::Server { .. }
            | Self::Transport(_)
            | Self::Timeout { .. }
            | Self::Decode { .. }
            | Self::Config { .. } => return None,
        })
    }

    /// For [`Error::RateLimited`]: how long the server asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error for a non-success HTTP answer: its status, raw body, `Retry-After` and
    /// `X-Request-Id`. A Converra error body maps by its code; anything else (an unknown code, a
    /// proxy's HTML page, an empty body) maps by the status.
    pub(crate) fn from_response(
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        request_id: Option<String>,
    ) -> Self {
        if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
            return Self::from_detail(error, Some(status), retry_after, request_id);
        }
        // A recognisable shape with a code this client does not know yet: keep the message.
        let (message, field) = match serde_json::from_slice::<LenientBody>(body) {
            Ok(LenientBody { error }) => (error.message, error.field),
            Err(_) => (body_summary(status, body), None),
        };
        match status {
            400 | 422 => Self::Validation { field, message, request_id },
            401 => Self::Unauthorized { message, request_id },
            402 => Self::AllowanceExhausted { message, request_id },
            403 => Self::Forbidden { message, request_id },
            404 => Self::NotFound { message, request_id },
            409 => Self::Conflict { message, request_id },
            413 => Self::PayloadTooLarge { message, request_id },
            429 => Self::RateLimited { retry_after, message, request_id },
            500..=599 => Self::Server { status, message, request_id },
            _ => Self::Decode { message: format!("HTTP {status}: {message}"), request_id },
        }
    }

    /// The error for a Converra error body, from an HTTP answer (`status`) or from an `error`
    /// event in the middle of a stream (no status of its own).
    pub(crate) fn from_detail(
        detail: ErrorDetail,
        status: Option<u16>,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    ) -> Self {
        let ErrorDetail { code, message, field, provider_status } = detail;
        match code {
            ErrorCode::Unauthorized => Self::Unauthorized { message, request_id },
            ErrorCode::Forbidden => Self::Forbidden { message, request_id },
            ErrorCode::NotFound => Self::NotFound { message, request_id },
            ErrorCode::ValidationError => Self::Validation { field, message, request_id },
            ErrorCode::Conflict | ErrorCode::ApiKeyLimit => Self::Conflict { message, request_id },
            ErrorCode::PayloadTooLarge => Self::PayloadTooLarge { message, request_id },
            ErrorCode::RateLimited => Self::RateLimited { retry_after, message, request_id },
            ErrorCode::NoProviderKey => Self::NoProviderKey { message, request_id },
            ErrorCode::AllowanceExhausted => Self::AllowanceExhausted { message, request_id },
            ErrorCode::AiDisabled => Self::AiDisabled { message, request_id },
            ErrorCode::ProviderError => Self::Provider { status: provider_status, message, request_id },
            ErrorCode::Internal => Self::Server { status: status.unwrap_or(500), message, request_id },
            ErrorCode::Unavailable => Self::Server { status: status.unwrap_or(503), message, request_id },
        }
    }

    /// Removes `secret` from every message this error carries: text copied from an answer must
    /// not leak the caller's own API key into logs, whatever sent it.
    pub(crate) fn scrub(mut self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let text = match &mut self {
            Self::Unauthorized { message, .. }
            | Self::Forbidden { message, .. }
            | Self::NotFound { message, .. }
            | Self::Validation { message, .. }
            | Self::Conflict { message, .. }
            | Self::PayloadTooLarge { message, .. }
            | Self::RateLimited { message, .. }
            | Self::NoProviderKey { message, .. }
            | Self::AllowanceExhausted { message, .. }
            | Self::AiDisabled { message, .. }
            | Self::Provider { message, .. }
            | Self::Server { message, .. }
            | Self::Decode { message, .. }
            | Self::Config { message } => message,
            Self::Transport(_) | Self::Timeout { .. } => return self,
        };
        if text.contains(secret) {
            *text = text.replace(secret, "[REDACTED]");
        }
        if let Self::Validation { field: Some(field), .. } = &mut self
            && field.contains(secret)
        {
            *field = field.replace(secret, "[REDACTED]");
        }
        self
    }
}

/// An error body whose code this client does not know.
#[derive(Deserialize)]
struct LenientBody {
    error: LenientDetail,
}

#[derive(Deserialize)]
struct LenientDetail {
    message: String,
    #[serde(default)]
    field: Option<String>,
}

/// The longest stretch of a non-JSON body copied into an error message.
const MAX_BODY_IN_MESSAGE: usize = 200;

/// A short human summary of a body that is not a Converra error: its text if it is short plain
/// text, otherwise the status's reason phrase.
fn body_summary(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('<') {
        let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
        return reason.unwrap_or("unexpected answer").to_owned();
    }
    match text.char_indices().nth(MAX_BODY_IN_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, message: &str) -> Vec<u8> {
        format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#).into_bytes()
    }

    #[test]
    fn maps_every_code_to_its_variant() {
        let cases = [
            (401, "UNAUTHORIZED", ErrorCode::Unauthorized),
            (403, "FORBIDDEN", ErrorCode::Forbidden),
            (404, "NOT_FOUND", ErrorCode::NotFound),
            (422, "VALIDATION_ERROR", ErrorCode::ValidationError),
            (409, "CONFLICT", ErrorCode::Conflict),
            (413, "PAYLOAD_TOO_LARGE", ErrorCode::PayloadTooLarge),
            (429, "RATE_LIMITED", ErrorCode::RateLimited),
            (409, "NO_PROVIDER_KEY", ErrorCode::NoProviderKey),
            (402, "ALLOWANCE_EXHAUSTED", ErrorCode::AllowanceExhausted),
            (409, "AI_DISABLED", ErrorCode::AiDisabled),
            (502, "PROVIDER_ERROR", ErrorCode::ProviderError),
            (500, "INTERNAL", ErrorCode::Internal),
        ];
        for (status, wire, code) in cases {
            let err = Error::from_response(status, &body(wire, "msg"), None, Some("req_1".into()));
            assert_eq!(err.code(), Some(code), "{wire}");
            assert_eq!(err.request_id(), Some("req_1"), "{wire}");
            assert!(err.to_string().contains("msg"), "{wire}: {err}");
        }
    }

    #[test]
    fn keeps_the_details_of_each_code() {
        let err = Error::from_response(401, &body("UNAUTHORIZED", "API key has been revoked"), None, None);
        assert!(matches!(&err, Error::Unauthorized { message, .. } if message == "API key has been revoked"));
        assert_eq!(err.to_string(), "unauthorized: API key has been revoked");

        let validation = br#"{"error":{"code":"VALIDATION_ERROR","message":"must not be empty","field":"name"}}"#;
        let err = Error::from_response(422, validation, None, None);
        assert!(matches!(&err, Error::Validation { field: Some(f), .. } if f == "name"));
        assert_eq!(err.to_string(), "invalid request: must not be empty (field `name`)");

        let provider =
            br#"{"error":{"code":"PROVIDER_ERROR","message":"Quota exceeded","provider_status":"quota_exceeded"}}"#;
        let err = Error::from_response(502, provider, None, None);
        assert!(matches!(err, Error::Provider { status: Some(KeyStatus::QuotaExceeded), .. }));

        let wait = Some(Duration::from_secs(12));
        let err = Error::from_response(429, &body("RATE_LIMITED", "slow down"), wait, None);
        assert_eq!(err.retry_after(), wait);

        let err = Error::from_response(500, &body("INTERNAL", "Internal error"), None, None);
        assert!(matches!(err, Error::Server { status: 500, .. }));
    }

    #[test]
    fn non_json_bodies_map_by_status() {
        let err = Error::from_response(502, b"<html><body>Bad Gateway</body></html>", None, Some("r".into()));
        assert!(matches!(&err, Error::Server { status: 502, message, .. } if message == "Bad Gateway"), "{err:?}");
        assert_eq!(err.code(), None);
        assert_eq!(err.request_id(), Some("r"));

        let err = Error::from_response(503, b"", None, None);
        assert!(matches!(&err, Error::Server { status: 503, message, .. } if message == "Service Unavailable"));

        let err = Error::from_response(413, b"length limit exceeded", None, None);
        assert!(matches!(&err, Error::PayloadTooLarge { message, .. } if message == "length limit exceeded"));

        let err = Error::from_response(429, b"too many", Some(Duration::from_secs(1)), None);
        assert!(matches!(err, Error::RateLimited { retry_after: Some(_), .. }));

        let err = Error::from_response(418, b"teapot", None, None);
        assert!(matches!(&err, Error::Decode { message, .. } if message == "HTTP 418: teapot"));
    }

    #[test]
    fn unknown_codes_keep_the_message_and_map_by_status() {
        let err = Error::from_response(404, &body("SOMETHING_NEW", "no such thing"), None, None);
        assert!(matches!(&err, Error::NotFound { message, .. } if message == "no such thing"));
    }

    #[test]
    fn long_bodies_are_cut() {
        let long = "x".repeat(1000);
        let err = Error::from_response(500, long.as_bytes(), None, None);
        let Error::Server { message, .. } = err else { panic!("not a server error") };
        assert_eq!(message.chars().count(), MAX_BODY_IN_MESSAGE + 1);
    }

    #[test]
    fn mid_stream_errors_have_no_status() {
        let detail = ErrorDetail {
            code: ErrorCode::Internal,
            message: "stream failed".into(),
            field: None,
            provider_status: None,
        };
        let err = Error::from_detail(detail, None, None, None);
        assert!(matches!(err, Error::Server { status: 500, .. }));
    }

    #[test]
    fn scrub_removes_the_api_key_from_messages() {
        let key = "sk_live_secretsecret";
        let echoed = format!("bad header: Bearer {key}");
        let err = Error::from_response(400, echoed.as_bytes(), None, None).scrub(key);
        assert!(!err.to_string().contains(key), "{err}");
        assert!(!format!("{err:?}").contains(key));
        assert!(err.to_string().contains("[REDACTED]"));
    }
}
