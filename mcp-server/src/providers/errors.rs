//! Mapping provider answers to key statuses. Bodies are inspected for known codes only and
//! never copied into a message: a provider's error text can echo part of the key.

use converra::{KeyStatus, Provider};

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
