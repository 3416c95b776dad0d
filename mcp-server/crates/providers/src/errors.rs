//! Mapping provider answers to key statuses, and keeping what a client may see of a refusal.
//! Bodies are inspected for known codes; what the agent endpoints show of one (a request
//! error, a server error) has the key redacted first (`redact.rs`): a provider's error text can
//! echo the key, whole or masked. No body is ever logged.

use bytes::Bytes;
use converra::{KeyStatus, Provider};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::chat::ProviderFailure;
use super::redact::{redact, redact_str};
use converra_base::error::{ErrorShape, ProviderAnswer};

/// Sends a provider request; a transport failure is `unreachable`, a non-2xx answer is
/// classified from its status and body, with what a client may see of it.
pub async fn send(provider: Provider, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderFailure> {
    let unreachable = |e: reqwest::Error| {
        tracing::info!(provider = %provider, timeout = e.is_timeout(), connect = e.is_connect(), "provider unreachable");
        ProviderFailure(KeyStatus::Unreachable)
    };
    let (client, request) = request.build_split();
    let request = request.map_err(unreachable)?;
    // The key as sent (the header's shared bytes, not a copy), to redact from a refusal.
    let sent = sent_key(request.headers());
    let response = client.execute(request).await.map_err(unreachable)?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let headers = shown_headers(response.headers());
    let body = response.bytes().await.unwrap_or_default();
    let mapped = classify(provider, status, &body);
    tracing::info!(provider = %provider, status, mapped = mapped.as_str(), "provider refused the call");
    let answer = shown(status, mapped).then(|| Box::new(answer(status, mapped, &body, headers, sent)));
    Err(ProviderFailure { status: mapped, answer })
}

/// The header that carried the key: `Authorization: Bearer …` (OpenAI, DeepSeek),
/// `x-api-key` (Anthropic), `x-goog-api-key` (Gemini).
fn sent_key(headers: &HeaderMap) -> Option<HeaderValue> {
    [AUTHORIZATION.as_str(), "x-api-key", "x-goog-api-key"].into_iter().find_map(|name| headers.get(name).cloned())
}

/// The answers the agent endpoints show as the provider gave them (each endpoint answers in its own
/// API's error shape): a request error that is not about the key or the account, a server error;
/// and with their status only, in Converra's words, a rate limit (with its `retry-after`: its text
/// names the provider's organization) and a 403 (a model the account may not use, which the SDKs
/// raise as a permission error). The others (401, quota) are told in Converra's words only, as a
/// gateway's failure: the client's own key is not the one refused.
fn shown(status: u16, mapped: KeyStatus) -> bool {
    match mapped {
        KeyStatus::RateLimited | KeyStatus::PermissionDenied => true,
        KeyStatus::ProviderError => matches!(status, 400 | 404 | 413 | 422) || status >= 500,
        _ => false,
    }
}

/// What a client may see of a refusal: its status and headers; its body, type and message
/// with the key redacted (none of them when the key that was sent cannot be told).
fn answer(
    status: u16,
    mapped: KeyStatus,
    body: &[u8],
    headers: HeaderMap,
    sent: Option<HeaderValue>,
) -> ProviderAnswer {
    let mut answer = ProviderAnswer { status, shape: None, kind: None, message: None, body: Bytes::new(), headers };
    let key = sent.map(|v| {
        let value = String::from_utf8_lossy(v.as_bytes());
        SecretString::from(value.strip_prefix("Bearer ").unwrap_or(&value).to_owned())
    });
    let Some(key) = key.filter(|k| !k.expose_secret().is_empty()) else { return answer };
    if matches!(mapped, KeyStatus::RateLimited | KeyStatus::PermissionDenied) {
        return answer;
    }
    let body = redact(body, key.expose_secret());
    let Ok(value) = serde_json::from_slice::<Value>(&body) else { return answer };
    let (error, text) = (&value["error"], |v: &Value| v.as_str().map(|s| redact_str(s, key.expose_secret())));
    answer.message = text(&error["message"]);
    answer.shape = if value["type"] == "error" && error["type"].is_string() {
        Some(ErrorShape::Anthropic)
    } else if error["message"].is_string() && !error["status"].is_string() {
        // Gemini's error has a `status` word where OpenAI's has a `type`.
        Some(ErrorShape::OpenAi)
    } else {
        None
    };
    if answer.shape.is_some() {
        answer.kind = text(&error["type"]);
        answer.body = Bytes::from(body.into_owned());
    }
    answer
}

/// The headers of a refusal a client may see, whichever API answered: its request id,
/// `retry-after` and the rate-limit headers. Never a credential, a cookie or an account id.
fn shown_headers(from: &HeaderMap) -> HeaderMap {
    let allowed = |name: &str| {
        matches!(name, "x-request-id" | "request-id" | "retry-after")
            || name.starts_with("x-ratelimit-")
            || name.starts_with("anthropic-ratelimit-")
    };
    from.iter().filter(|(name, _)| allowed(name.as_str())).map(|(n, v)| (n.clone(), v.clone())).collect()
}

/// Reads a 2xx JSON answer; one we cannot read is a provider error.
pub async fn json<T: DeserializeOwned>(provider: Provider, response: reqwest::Response) -> Result<T, ProviderFailure> {
    parse(provider, body(response).await?.as_ref())
}

/// A 2xx answer's body; a connection that breaks while it comes is `unreachable`.
pub async fn body(response: reqwest::Response) -> Result<impl AsRef<[u8]> + use<>, ProviderFailure> {
    response.bytes().await.map_err(|_| ProviderFailure(KeyStatus::Unreachable))
}

/// Parses an answer's body (possibly borrowing from it); one we cannot read is a provider error.
pub fn parse<'a, T: serde::Deserialize<'a>>(provider: Provider, body: &'a [u8]) -> Result<T, ProviderFailure> {
    serde_json::from_slice(body).map_err(|e| {
        tracing::warn!(provider = %provider, error = %e, "provider answer did not parse");
        ProviderFailure(KeyStatus::ProviderError)
    })
}

/// Classifies an `event: error` inside a stream (Anthropic's shape: `{"error": {"type": …}}`).
pub fn classify_stream_error(data: &str) -> KeyStatus {
    let kind = serde_json::from_str::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v["error"]["type"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match kind.as_str() {
        "authentication_error" => KeyStatus::InvalidKey,
        "permission_error" => KeyStatus::PermissionDenied,
        "rate_limit_error" => KeyStatus::RateLimited,
        "billing_error" => KeyStatus::QuotaExceeded,
        _ => KeyStatus::ProviderError,
    }
}

/// Classifies an HTTP answer of `provider`.
pub fn classify(provider: Provider, status: u16, body: &[u8]) -> KeyStatus {
    let text = std::str::from_utf8(body).unwrap_or_default();
    let has = |needle: &str| text.contains(needle);
    match status {
        200..=299 => KeyStatus::Ok,
        401 => KeyStatus::InvalidKey,
        // DeepSeek: 402 "Insufficient Balance".
        402 => KeyStatus::QuotaExceeded,
        403 => KeyStatus::PermissionDenied,
        429 if has("insufficient_quota") || has("quota") && provider != Provider::Anthropic => KeyStatus::QuotaExceeded,
        // Anthropic: an organization past its monthly spend limit (not a rate: waiting won't do).
        429 if has("enforced_spend_limit_reached") => KeyStatus::QuotaExceeded,
        429 => KeyStatus::RateLimited,
        // Gemini answers an unknown key with 400 API_KEY_INVALID.
        400 if has("API_KEY_INVALID") || has("API key not valid") => KeyStatus::InvalidKey,
        // Anthropic answers an empty account with 400 "credit balance is too low", and one
        // past its workspace's limit with 400 "You have reached your specified workspace API
        // usage limits".
        400 if has("credit balance") || has("API usage limits") => KeyStatus::QuotaExceeded,
        _ => KeyStatus::ProviderError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_error_bodies_map_to_statuses() {
        let openai_quota = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(classify(Provider::Openai, 429, openai_quota), KeyStatus::QuotaExceeded);
        let openai_rate =
            br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        assert_eq!(classify(Provider::Openai, 429, openai_rate), KeyStatus::RateLimited);
        let gemini_invalid = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
        assert_eq!(classify(Provider::Gemini, 400, gemini_invalid), KeyStatus::InvalidKey);
        let anthropic_credit =
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low"}}"#;
        assert_eq!(classify(Provider::Anthropic, 400, anthropic_credit), KeyStatus::QuotaExceeded);
        assert_eq!(classify(Provider::Deepseek, 402, b"{}"), KeyStatus::QuotaExceeded);
        assert_eq!(classify(Provider::Anthropic, 529, b"{}"), KeyStatus::ProviderError);
        assert_eq!(classify(Provider::Openai, 401, b""), KeyStatus::InvalidKey);
        assert_eq!(classify(Provider::Openai, 403, b""), KeyStatus::PermissionDenied);
        let workspace_limit = br#"{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified workspace API usage limits. You will regain access on 2026-06-01 at 00:00 UTC."}}"#;
        assert_eq!(classify(Provider::Anthropic, 400, workspace_limit), KeyStatus::QuotaExceeded);
        let spend_limit = br#"{"type":"error","error":{"type":"rate_limit_error","message":"Spend limit reached","details":{"error_code":"enforced_spend_limit_reached"}}}"#;
        assert_eq!(classify(Provider::Anthropic, 429, spend_limit), KeyStatus::QuotaExceeded);
    }

    fn sent(key: &str) -> Option<HeaderValue> {
        Some(HeaderValue::from_str(&format!("Bearer {key}")).unwrap())
    }

    #[test]
    fn a_refusal_keeps_its_status_type_and_message_with_the_key_redacted() {
        let key = "sk-proj-VALIDopenaiKEY0123456789wxyz";
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("req_1"));
        headers.insert("openai-organization", HeaderValue::from_static("org-AbC"));
        headers.insert("set-cookie", HeaderValue::from_static("__cf_bm=x"));
        let body = format!(
            r#"{{"error":{{"message":"Bad value near {key}","type":"invalid_request_error","param":null,"code":null}}}}"#
        );
        assert!(shown(400, KeyStatus::ProviderError));
        let kept = answer(400, KeyStatus::ProviderError, body.as_bytes(), shown_headers(&headers), sent(key));
        assert_eq!(kept.status, 400);
        assert_eq!((kept.shape, kept.kind.as_deref()), (Some(ErrorShape::OpenAi), Some("invalid_request_error")));
        assert_eq!(kept.message.as_deref(), Some("Bad value near [redacted]"));
        assert_eq!(kept.body, body.replace(key, "[redacted]"));
        assert_eq!(kept.headers.len(), 1, "the request id only: {:?}", kept.headers);

        // Anthropic's shape; Gemini's is none a face speaks (its words are kept for a re-shape).
        let overloaded = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let kept = answer(529, KeyStatus::ProviderError, overloaded, HeaderMap::new(), sent(key));
        assert_eq!((kept.shape, kept.kind.as_deref()), (Some(ErrorShape::Anthropic), Some("overloaded_error")));
        let gemini =
            br#"{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}"#;
        let kept = answer(400, KeyStatus::ProviderError, gemini, HeaderMap::new(), sent(key));
        assert_eq!(
            (kept.shape, kept.message.as_deref(), kept.body.len()),
            (None, Some("Invalid JSON payload received."), 0)
        );

        // A rate limit: its status and headers, never its text (it names the organization).
        let limited = br#"{"error":{"message":"Rate limit reached in organization org-AbC","type":"requests"}}"#;
        let kept = answer(429, KeyStatus::RateLimited, limited, HeaderMap::new(), sent(key));
        assert_eq!((kept.status, kept.message, kept.body.len()), (429, None, 0));

        // The key sent cannot be told: nothing of the body is kept.
        let kept = answer(400, KeyStatus::ProviderError, body.as_bytes(), HeaderMap::new(), None);
        assert_eq!((kept.message, kept.body.len()), (None, 0));
        // A 403 keeps its status only; answers about the key or the account are not shown.
        let kept =
            answer(403, KeyStatus::PermissionDenied, br#"{"error":{"message":"no"}}"#, HeaderMap::new(), sent(key));
        assert_eq!((kept.status, kept.message, kept.body.len()), (403, None, 0));
        for (status, mapped) in [
            (401, KeyStatus::InvalidKey),
            (429, KeyStatus::QuotaExceeded),
            (402, KeyStatus::QuotaExceeded),
            (409, KeyStatus::ProviderError),
        ] {
            assert!(!shown(status, mapped), "{status}");
        }
    }
}
