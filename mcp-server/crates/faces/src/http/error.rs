//! The one mapping from core errors to HTTP answers, shared by the REST face and the HTTP
//! layer of the MCP face: status, JSON body, and the headers some codes require
//! (`WWW-Authenticate` on 401, RFC 6750, `Retry-After` and `X-RateLimit-*` on 429, `Retry-After`
//! on the 503 of a full buffer budget, which key failed on a provider error); the agent faces
//! render the same headers beside their own bodies.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use converra::{ErrorCode, KeySourceInfo};

use converra_core::{AuthError, Error, RateLimitInfo};

/// A core error on its way out as an HTTP answer.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The HTTP status of an error (the MCP face reports the same code and message): a known route
/// asked with a method it does not take is 405, any other error the status of its code.
pub fn http_status(error: &Error) -> u16 {
    if let Error::MethodNotAllowed = error {
        return 405;
    }
    http_status_of(&error.code())
}

/// The HTTP status of a code.
pub fn http_status_of(code: &ErrorCode) -> u16 {
    match code {
        ErrorCode::Unauthorized => 401,
        ErrorCode::Forbidden => 403,
        ErrorCode::NotFound => 404,
        ErrorCode::ValidationError => 400,
        ErrorCode::Conflict => 409,
        ErrorCode::ApiKeyLimit => 409,
        ErrorCode::PayloadTooLarge => 413,
        ErrorCode::RateLimited => 429,
        ErrorCode::NoProviderKey => 409,
        ErrorCode::AllowanceExhausted => 402,
        ErrorCode::BudgetExceeded => 402,
        ErrorCode::AiDisabled => 409,
        ErrorCode::ProviderError => 502,
        ErrorCode::KeyRejected => 422,
        ErrorCode::UnsupportedField => 400,
        ErrorCode::Unavailable => 503,
        ErrorCode::Internal => 500,
        _ => 500,
    }
}

pub fn rate_limit_headers(headers: &mut HeaderMap, info: &RateLimitInfo) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(info.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(info.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(info.reset));
    if let Some(after) = info.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(after));
    }
}

/// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3): `error="invalid_token"` when a
/// Bearer token was presented and refused, no error code when none was.
pub(crate) fn challenge(error: AuthError) -> HeaderValue {
    if error.token_given() {
        HeaderValue::from_static(r#"Bearer realm="converra", error="invalid_token""#)
    } else {
        HeaderValue::from_static(r#"Bearer realm="converra""#)
    }
}

/// Logs what the caller will not see: internal failures with their (id-only) detail.
pub(crate) fn log(error: &Error) {
    if let Error::Internal(inner) = error {
        tracing::error!(error = %inner, "internal error");
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        log(&self.0);
        let status = StatusCode::from_u16(http_status(&self.0)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.0.body())).into_response();
        error_headers(response.headers_mut(), &self.0);
        response
    }
}

/// The headers an error answer carries whatever its body's shape: the 401 challenge, the
/// rate-limit state of a 429, and which key a failed provider call used.
pub fn error_headers(headers: &mut HeaderMap, error: &Error) {
    match error {
        Error::Unauthorized(e) => {
            headers.insert(header::WWW_AUTHENTICATE, challenge(*e));
        }
        Error::RateLimited(info) => rate_limit_headers(headers, info),
        Error::Overloaded => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    if let Some(source) = error.key_source() {
        say_key_source(headers, source.clone());
    }
    // A provider's refusal: its request id, `retry-after` and rate-limit headers.
    if let Some(answer) = error.provider_answer() {
        headers.extend(answer.headers.clone());
    }
}

/// `X-Converra-Key-Source` (`project`, `organization` or `platform`) and, for a stored key,
/// `X-Converra-Key-Id`: a provider's body has no place for which key paid (or failed), so it
/// goes beside it. Written into the answer's own headers (no map of their own, the id moved).
pub fn say_key_source(headers: &mut HeaderMap, source: KeySourceInfo) {
    headers.insert(KEY_SOURCE, HeaderValue::from_static(source.scope.as_str()));
    if let Some(id) = source.key_id.and_then(|id| HeaderValue::try_from(id).ok()) {
        headers.insert(KEY_ID, id);
    }
}

const KEY_SOURCE: HeaderName = HeaderName::from_static("x-converra-key-source");
const KEY_ID: HeaderName = HeaderName::from_static("x-converra-key-id");

#[cfg(test)]
mod tests {
    use converra::KeyStatus;

    use super::*;

    #[test]
    fn every_known_code_has_its_own_status() {
        for code in ErrorCode::KNOWN.iter().filter(|c| **c != ErrorCode::Internal) {
            assert_ne!(http_status_of(code), 500, "{code} needs an HTTP status");
        }
    }

    #[test]
    fn a_key_that_fails_its_test_is_refused_422_or_502() {
        let rejected = Error::NotStored { status: KeyStatus::QuotaExceeded, host: "api.openai.com".into() };
        assert_eq!(http_status(&rejected), 422);
        let unreachable = Error::NotStored { status: KeyStatus::Unreachable, host: "127.0.0.1:9".into() };
        assert_eq!(http_status(&unreachable), 502);
    }
}
