//! Light per-provider format checks and the masked preview. The checks catch a key pasted into
//! the wrong provider or with stray text; they are not a validity test (that is `test`).

use converra::Provider;
use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// Trims the pasted key and checks its shape. The error never quotes the key.
pub fn normalize(provider: Provider, key: &SecretString) -> Result<SecretString> {
    let trimmed = key.expose_secret().trim();
    let field = "api_key";
    if trimmed.is_empty() {
        return Err(Error::validation(field, "api_key must not be empty"));
    }
    if trimmed.len() > 512 {
        return Err(Error::validation(field, "api_key is too long to be a provider key (over 512 characters)"));
    }
    if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::validation(
            field,
            "api_key contains spaces or characters that never appear in a provider key: copy the entire key without extra text",
        ));
    }
    let (ok, expected) = match provider {
        Provider::Openai => {
            (trimmed.starts_with("sk-") && !trimmed.starts_with("sk-ant-"), "OpenAI keys start with `sk-`")
        }
        Provider::Anthropic => (trimmed.starts_with("sk-ant-"), "Anthropic keys start with `sk-ant-`"),
        Provider::Gemini => (trimmed.starts_with("AIza"), "Gemini keys start with `AIza`"),
        Provider::Deepseek => {
            (trimmed.starts_with("sk-") && !trimmed.starts_with("sk-ant-"), "DeepSeek keys start with `sk-`")
        }
    };
    if !ok {
        return Err(Error::validation(field, format!("this does not look like a {provider} key: {expected}")));
    }
    if trimmed.len() < 20 {
        return Err(Error::validation(field, "api_key is too short: copy the entire key"));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

/// Provider prefixes kept visible in the preview; nothing after them is shown but the last four.
const VISIBLE_PREFIXES: [&str; 5] = ["sk-ant-", "sk-proj-", "sk-svcacct-", "sk-", "AIza"];

/// `sk-proj-…wxyz`: the provider prefix, `…`, the last four. Keys are at least 20 characters,
/// so the preview never reveals more than the public prefix and four characters.
pub fn mask(key: &SecretString) -> (String, String) {
    let k = key.expose_secret();
    let last_four = k[k.len().saturating_sub(4)..].to_owned();
    let head = VISIBLE_PREFIXES.iter().find(|p| k.starts_with(*p)).map_or("", |p| p);
    (format!("{head}…{last_four}"), last_four)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_owned())
    }

    #[test]
    fn masks_keep_the_prefix_and_last_four() {
        assert_eq!(mask(&s("sk-proj-abcdefghijklmnopwxyz")).0, "sk-proj-…wxyz");
        assert_eq!(mask(&s("sk-ant-api03-abcdefghijklmnop1234")).0, "sk-ant-…1234");
        assert_eq!(mask(&s("AIzaSyAbcdefghijklmnopqrstu9876")).0, "AIza…9876");
        assert_eq!(mask(&s("sk-0123456789abcdef0123")).0, "sk-…0123");
    }

    #[test]
    fn format_checks_name_the_provider_and_never_echo_the_key() {
        let err = normalize(Provider::Anthropic, &s("sk-proj-abcdefghijklmnopqrstuv")).unwrap_err();
        assert!(err.to_string().contains("anthropic"));
        assert!(!err.to_string().contains("abcdefghijkl"));
        assert!(normalize(Provider::Openai, &s("  sk-proj-abcdefghijklmnopqrstuv \n")).is_ok());
        assert!(normalize(Provider::Gemini, &s("AIzaSyAbcdefghijklmnopqrstu9876")).is_ok());
        assert!(normalize(Provider::Openai, &s("sk-proj abc defghijklmnopqrstuv")).is_err());
    }
}
