//! Mapping provider answers to key statuses. Bodies are inspected for known codes only and
//! never copied into a message: a provider's error text can echo part of the key.

use converra::{KeyStatus, Provider};
use serde::de::DeserializeOwned;

use super::chat::ProviderFailure;

/// Sends a provider request; a transport failure is `unreachable`, a non-2xx answer is
/// classified from its status and body.
pub async fn send(provider: Provider, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderFailure> {
    let response = request.send().await.map_err(|e| {
        tracing::info!(provider = %provider, timeout = e.is_timeout(), connect = e.is_connect(), "provider unreachable");
        ProviderFailure(KeyStatus::Unreachable)
    })?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = response.bytes().await.unwrap_or_default();
    let mapped = classify(provider, status, &body);
    tracing::info!(provider = %provider, status, mapped = mapped.as_str(), "provider refused the call");
    Err(ProviderFailure(mapped))
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
        429 => KeyStatus::RateLimited,
        // Gemini answers an unknown key with 400 API_KEY_INVALID.
        400 if has("API_KEY_INVALID") || has("API key not valid") => KeyStatus::InvalidKey,
        // Anthropic answers an empty account with 400 "credit balance is too low".
        400 if has("credit balance") => KeyStatus::QuotaExceeded,
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
    }
}
