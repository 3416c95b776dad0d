//! The one error type of the client, and the one mapping from an HTTP answer to it.
//!
//! An error answer from Converra is [`Error::Api`] carrying an [`ApiError`]: its code
//! ([`ErrorCode`]), HTTP status, message and the fields beside it (`field`, `provider_status`,
//! `stored`, `host`, `retry_after`, the request id). Callers `match` on the code, so a new code
//! on the server needs a new [`ErrorCode`] and nothing here. Messages come from the server, which
//! writes them for people and never puts a secret in them; the client additionally scrubs its
//! own API key from any text it copies out of an answer, so an [`Error`] is always safe to log.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::types::{ErrorBody, ErrorCode, ErrorDetail, KeyStatus};

/// The result of every client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a call to Converra can fail with.
///
/// [`Error::code`], [`Error::request_id`] and [`Error::retry_after`] read the common details
/// of any variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Converra (or a proxy in front of it) answered with an error.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The server could not be reached or the connection failed (after any automatic retries).
    #[error("could not reach Converra: {}", with_causes(.0))]
    Transport(#[source] reqwest::Error),
    /// No complete answer within the client's timeout (after any automatic retries); see
    /// [`ConverraBuilder::timeout`](crate::ConverraBuilder::timeout).
    #[error("Converra did not answer within {after:?}")]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The server's answer was not what this client understands: a success body that is not
    /// the expected JSON, an unexpected status, or a stream that ended early.
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

/// An error answer: the code, the message written for people, and the details beside it.
///
/// `Display` turns it into one sentence: "not found: Provider key not found", or for a key
/// sent with a test that failed, "The key was not stored: Invalid API key".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The error code; for an answer without a Converra error body (a proxy's page), the code
    /// its status stands for ([`ErrorCode::for_status`]), or `None` when no code does.
    pub code: Option<ErrorCode>,
    /// The HTTP status; `None` for an error event in the middle of a stream, or a request the
    /// client refused before sending it.
    pub status: Option<u16>,
    /// In the server's words, e.g. "API key has been revoked"; never the provider's raw text.
    pub message: String,
    /// The request field at fault (`VALIDATION_ERROR`).
    pub field: Option<String>,
    /// The mapped provider failure (`PROVIDER_ERROR`, `KEY_REJECTED`).
    pub provider_status: Option<KeyStatus>,
    /// `Some(false)`: a provider key sent with a test failed it and was not stored.
    pub stored: Option<bool>,
    /// The provider host that was tried, when it could not be reached.
    pub host: Option<String>,
    /// How long the server asked to wait (`Retry-After`), after any automatic retries.
    pub retry_after: Option<Duration>,
    /// The server's `X-Request-Id`: quote it when reporting a problem.
    pub request_id: Option<String>,
    /// The failing provider key's live health in a sentence (`PROVIDER_ERROR` on a stored key).
    pub health: Option<String>,
    /// `NO_PROVIDER_KEY`: the provider asked for.
    pub provider: Option<crate::types::Provider>,
    /// `NO_PROVIDER_KEY`: the environment asked for (the calling API key's).
    pub environment: Option<crate::types::Environment>,
    /// `NO_PROVIDER_KEY`: the other environments that do have a key for the provider.
    pub other_environments: Vec<crate::types::Environment>,
    /// `BUDGET_EXCEEDED`: the budget that refused the completion (its limit, spend and reset).
    pub budget: Option<Box<crate::types::BudgetRefusal>>,
}

impl ApiError {
    /// An error with a code and a message and nothing else.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            status: None,
            message: message.into(),
            field: None,
            provider_status: None,
            stored: None,
            host: None,
            retry_after: None,
            request_id: None,
            health: None,
            provider: None,
            environment: None,
            other_environments: Vec::new(),
            budget: None,
        }
    }

    /// Whether the answer said that a provider key was not stored.
    pub fn not_stored(&self) -> bool {
        self.stored == Some(false)
    }

    /// `NO_PROVIDER_KEY` in a few words: "no test DeepSeek key; a live one exists".
    pub fn missing_key(&self) -> Option<String> {
        let (provider, environment) = (self.provider?, self.environment?);
        Some(crate::types::missing_key_sentence(provider, environment, &self.other_environments))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.not_stored() {
            write!(f, "The key was not stored: {}", self.message)?;
        } else {
            match (&self.code, self.status) {
                (None | Some(ErrorCode::Internal), status) => {
                    write!(f, "server error (HTTP {}): {}", status.unwrap_or(500), self.message)?
                }
                (Some(code), _) => write!(f, "{}: {}", code.label(), self.message)?,
            }
        }
        if let Some(field) = &self.field {
            write!(f, " (field `{field}`)")?;
        }
        if let Some(host) = &self.host {
            write!(f, " (tried {host})")?;
        }
        if let Some(missing) = self.missing_key() {
            write!(f, " ({missing})")?;
        }
        Ok(())
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(Box::new(e))
    }
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

impl Error {
    /// The error answer, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The `X-Request-Id` of the answer this error came from, if the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.request_id.as_deref(),
            Self::Decode { request_id, .. } => request_id.as_deref(),
            Self::Transport(_) | Self::Timeout { .. } | Self::Config { .. } => None,
        }
    }

    /// The API error code this error stands for; `None` for errors that did not come from an
    /// error answer (transport, decoding, configuration) or whose status names no code.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.api().and_then(|e| e.code.as_ref())
    }

    /// How long the server asked to wait before trying again (`RATE_LIMITED`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|e| e.retry_after)
    }

    /// The error for a non-success HTTP answer: its status, raw body, `Retry-After` and
    /// `X-Request-Id`. A Converra error body gives its code and fields; anything else (a proxy's
    /// HTML page, an empty body) keeps a short summary and the code its status stands for.
    pub(crate) fn from_response(
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        request_id: Option<String>,
    ) -> Self {
        if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
            return Self::from_detail(error, Some(status), retry_after, request_id);
        }
        // An OpenAI-shaped error (the `/v1` face, or a proxy speaking it): keep its message.
        let (message, field) = match serde_json::from_slice::<LenientBody>(body) {
            Ok(LenientBody { error }) => (error.message, error.field),
            Err(_) => (body_summary(status, body), None),
        };
        if !(400..=599).contains(&status) {
            return Self::Decode { message: format!("HTTP {status}: {message}"), request_id };
        }
        let code = ErrorCode::for_status(status);
        ApiError {
            code,
            status: Some(status),
            message,
            field,
            provider_status: None,
            stored: None,
            host: None,
            retry_after,
            request_id,
            health: None,
            provider: None,
            environment: None,
            other_environments: Vec::new(),
            budget: None,
        }
        .into()
    }

    /// The error for a Converra error body, from an HTTP answer (`status`) or from an `error`
    /// event in the middle of a stream (no status of its own).
    pub(crate) fn from_detail(
        detail: ErrorDetail,
        status: Option<u16>,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    ) -> Self {
        let ErrorDetail {
            code,
            message,
            field,
            provider_status,
            stored,
            host,
            retry_after: seconds,
            health,
            provider,
            environment,
            other_environments,
            budget,
        } = detail;
        // The header wins; the body's field serves where there is none (a stream's error event).
        let retry_after = retry_after.or(seconds.map(Duration::from_secs));
        ApiError {
            code: Some(code),
            status,
            message,
            field,
            provider_status,
            stored,
            host,
            retry_after,
            request_id,
            health,
            provider,
            environment,
            other_environments,
            budget: budget.map(Box::new),
        }
        .into()
    }

    /// Removes `secret` from every text this error carries: text copied from an answer must not
    /// leak the caller's own API key into logs, whatever sent it.
    pub(crate) fn scrub(mut self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let scrub = |text: &mut String| {
            if text.contains(secret) {
                *text = text.replace(secret, "[REDACTED]");
            }
        };
        match &mut self {
            Self::Api(e) => {
                scrub(&mut e.message);
                for text in [&mut e.field, &mut e.host, &mut e.request_id].into_iter().flatten() {
                    scrub(text);
                }
                if let Some(ErrorCode::Unknown(code)) = &mut e.code {
                    scrub(code);
                }
            }
            Self::Decode { message, .. } | Self::Config { message } => scrub(message),
            Self::Transport(_) | Self::Timeout { .. } => {}
        }
        self
    }
}

/// An error body whose shape is not Converra's but has a message (OpenAI's, or a code this
/// client cannot read).
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

    fn api(err: &Error) -> &ApiError {
        err.api().unwrap_or_else(|| panic!("not an API error: {err:?}"))
    }

    #[test]
    fn maps_every_code_to_an_api_error() {
        for code in ErrorCode::KNOWN {
            let wire = code.as_str();
            let err = Error::from_response(418, &body(wire, "msg"), None, Some("req_1".into()));
            assert_eq!(err.code(), Some(&code), "{wire}");
            assert_eq!(api(&err).status, Some(418), "{wire}");
            assert_eq!(err.request_id(), Some("req_1"), "{wire}");
            assert!(err.to_string().contains("msg"), "{wire}: {err}");
        }
    }

    #[test]
    fn keeps_the_details_of_each_code() {
        let err = Error::from_response(401, &body("UNAUTHORIZED", "API key has been revoked"), None, None);
        assert_eq!(api(&err).message, "API key has been revoked");
        assert_eq!(err.to_string(), "unauthorized: API key has been revoked");

        let validation = br#"{"error":{"code":"VALIDATION_ERROR","message":"must not be empty","field":"name"}}"#;
        let err = Error::from_response(422, validation, None, None);
        assert_eq!(api(&err).field.as_deref(), Some("name"));
        assert_eq!(err.to_string(), "invalid request: must not be empty (field `name`)");

        let provider =
            br#"{"error":{"code":"PROVIDER_ERROR","message":"Quota exceeded","provider_status":"quota_exceeded"}}"#;
        let err = Error::from_response(502, provider, None, None);
        assert_eq!(api(&err).provider_status, Some(KeyStatus::QuotaExceeded));
        assert_eq!(err.to_string(), "provider error: Quota exceeded");

        let wait = Some(Duration::from_secs(12));
        let err = Error::from_response(429, &body("RATE_LIMITED", "slow down"), wait, None);
        assert_eq!(err.retry_after(), wait);
        let in_body = br#"{"error":{"code":"RATE_LIMITED","message":"slow down","retry_after":7}}"#;
        let err = Error::from_response(429, in_body, None, None);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(Error::from_response(429, in_body, wait, None).retry_after(), wait);

        let err = Error::from_response(500, &body("INTERNAL", "Internal error"), None, None);
        assert_eq!((err.code(), api(&err).status), (Some(&ErrorCode::Internal), Some(500)));
        assert_eq!(err.to_string(), "server error (HTTP 500): Internal error");
    }

    #[test]
    fn a_key_that_was_not_stored_says_so() {
        let rejected = br#"{"error":{"code":"KEY_REJECTED","message":"Invalid API key","provider_status":"invalid_key","stored":false}}"#;
        let err = Error::from_response(422, rejected, None, None);
        assert_eq!(err.code(), Some(&ErrorCode::KeyRejected));
        assert!(api(&err).not_stored());
        assert_eq!(err.to_string(), "The key was not stored: Invalid API key");

        let unreachable = br#"{"error":{"code":"PROVIDER_ERROR","message":"Provider unreachable","provider_status":"unreachable","stored":false,"host":"api.openai.com"}}"#;
        let err = Error::from_response(502, unreachable, None, None);
        assert_eq!(api(&err).host.as_deref(), Some("api.openai.com"));
        assert_eq!(err.to_string(), "The key was not stored: Provider unreachable (tried api.openai.com)");
    }

    #[test]
    fn non_json_bodies_map_by_status() {
        let err = Error::from_response(502, b"<html><body>Bad Gateway</body></html>", None, Some("r".into()));
        assert_eq!((api(&err).status, api(&err).message.as_str()), (Some(502), "Bad Gateway"));
        assert_eq!(err.code(), None);
        assert_eq!(err.request_id(), Some("r"));
        assert_eq!(err.to_string(), "server error (HTTP 502): Bad Gateway");

        let err = Error::from_response(503, b"", None, None);
        assert_eq!(api(&err).message, "Service Unavailable");
        assert_eq!(err.code(), Some(&ErrorCode::Unavailable));

        let err = Error::from_response(413, b"length limit exceeded", None, None);
        assert_eq!(err.code(), Some(&ErrorCode::PayloadTooLarge));
        assert_eq!(api(&err).message, "length limit exceeded");

        let err = Error::from_response(429, b"too many", Some(Duration::from_secs(1)), None);
        assert_eq!(err.code(), Some(&ErrorCode::RateLimited));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));

        let err = Error::from_response(418, b"teapot", None, None);
        assert_eq!((err.code(), api(&err).status), (None, Some(418)));
        let err = Error::from_response(304, b"", None, None);
        assert!(matches!(&err, Error::Decode { message, .. } if message.starts_with("HTTP 304")), "{err:?}");
    }

    #[test]
    fn unknown_codes_are_kept_as_sent() {
        let err = Error::from_response(404, &body("SOMETHING_NEW", "no such thing"), None, None);
        assert_eq!(err.code(), Some(&ErrorCode::Unknown("SOMETHING_NEW".into())));
        assert_eq!((api(&err).status, api(&err).message.as_str()), (Some(404), "no such thing"));
        assert_eq!(err.to_string(), "SOMETHING_NEW: no such thing");
    }

    #[test]
    fn error_codes_round_trip_on_the_wire() {
        for code in ErrorCode::KNOWN {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        let newer: ErrorCode = serde_json::from_str("\"NEWER\"").unwrap();
        assert_eq!((newer.as_str(), serde_json::to_string(&newer).unwrap()), ("NEWER", "\"NEWER\"".into()));
    }

    #[test]
    fn long_bodies_are_cut() {
        let long = "x".repeat(1000);
        let err = Error::from_response(500, long.as_bytes(), None, None);
        assert_eq!(api(&err).message.chars().count(), MAX_BODY_IN_MESSAGE + 1);
    }

    #[test]
    fn mid_stream_errors_have_no_status() {
        let detail = ErrorDetail::new(ErrorCode::Internal, "stream failed");
        let err = Error::from_detail(detail, None, None, None);
        assert_eq!((err.code(), api(&err).status), (Some(&ErrorCode::Internal), None));
        assert_eq!(err.to_string(), "server error (HTTP 500): stream failed");
    }

    #[test]
    fn scrub_removes_the_api_key_from_messages() {
        let key = "sk_live_secretsecret";
        let echoed = format!("bad header: Bearer {key}");
        let err = Error::from_response(400, echoed.as_bytes(), None, None).scrub(key);
        assert!(!err.to_string().contains(key), "{err}");
        assert!(!format!("{err:?}").contains(key));
        assert!(err.to_string().contains("[REDACTED]"));

        let field = format!(r#"{{"error":{{"code":"VALIDATION_ERROR","message":"m","field":"{key}"}}}}"#);
        let err = Error::from_response(422, field.as_bytes(), None, None).scrub(key);
        assert!(!format!("{err} {err:?}").contains(key), "{err:?}");
    }
}
