//! wiremock stand-ins for the AI providers, answering with their real wire formats and real
//! error bodies (including the ones that echo part of the key, to prove Converra never repeats
//! them).

use std::collections::HashMap;

use converra::Provider;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One mock server per provider.
pub struct MockProviders {
    pub openai: MockServer,
    pub anthropic: MockServer,
    pub gemini: MockServer,
    pub deepseek: MockServer,
}

/// A key each provider accepts in the tests (format-valid for its provider).
pub fn valid_key(provider: Provider) -> &'static str {
    match provider {
        Provider::Openai => "sk-proj-VALIDopenaiKEY0123456789wxyz",
        Provider::Anthropic => "sk-ant-api03-VALIDanthropicKEY0123456789abcd",
        Provider::Gemini => "AIzaSyVALIDgeminiKEY0123456789efgh",
        Provider::Deepseek => "sk-VALIDdeepseekKEY0123456789ijkl",
    }
}

/// A format-valid key each provider rejects.
pub fn revoked_key(provider: Provider) -> &'static str {
    match provider {
        Provider::Openai => "sk-proj-REVOKEDopenaiKEY012345678zzzz",
        Provider::Anthropic => "sk-ant-api03-REVOKEDanthropicKEY012345zzzz",
        Provider::Gemini => "AIzaSyREVOKEDgeminiKEY0123456789zzzz",
        Provider::Deepseek => "sk-REVOKEDdeepseekKEY0123456789zzzz",
    }
}

/// The auth header each provider uses, and its value for `key`.
pub fn auth_header(provider: Provider, key: &str) -> (&'static str, String) {
    match provider {
        Provider::Openai | Provider::Deepseek => ("authorization", format!("Bearer {key}")),
        Provider::Anthropic => ("x-api-key", key.to_owned()),
        Provider::Gemini => ("x-goog-api-key", key.to_owned()),
    }
}

/// The provider's real answer to an unknown key. OpenAI and DeepSeek echo part of it.
pub fn invalid_key_answer(provider: Provider, key: &str) -> ResponseTemplate {
    let tail = &key[key.len() - 4..];
    match provider {
        Provider::Openai => ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": format!("Incorrect API key provided: {}********{tail}. You can find your API key at https://platform.openai.com/account/api-keys.", &key[..12]),
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})),
        Provider::Deepseek => ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": format!("Authentication Fails, Your api key: {key} is invalid"),
            "type": "authentication_error", "param": null, "code": "invalid_request_error"}})),
        Provider::Anthropic => ResponseTemplate::new(401).set_body_json(json!({"type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"}})),
        Provider::Gemini => ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 400,
            "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}})),
    }
}

/// OpenAI's answer when the account has no credit.
pub fn insufficient_quota() -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(json!({"error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}))
}

/// OpenAI's answer to a key without model access.
pub fn permission_denied() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({"error": {
        "message": "You are not allowed to sample from this model", "type": "invalid_request_error", "param": null, "code": null}}))
}

/// The models-list path of each provider (relative to the mock's root).
pub fn models_path(provider: Provider) -> &'static str {
    match provider {
        Provider::Openai => "/v1/models",
        Provider::Anthropic => "/v1/models",
        Provider::Gemini => "/v1beta/models",
        Provider::Deepseek => "/models",
    }
}

fn models_body(provider: Provider) -> Value {
    match provider {
        Provider::Openai => json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}]}),
        Provider::Deepseek => json!({"object": "list", "data": [{"id": "deepseek-chat", "object": "model", "owned_by": "deepseek"}]}),
        Provider::Anthropic => json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"}],
            "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}),
        Provider::Gemini => json!({"models": [{"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash", "supportedGenerationMethods": ["generateContent"]}]}),
    }
}

impl MockProviders {
    pub async fn start() -> Self {
        let s = Self {
            openai: MockServer::start().await,
            anthropic: MockServer::start().await,
            gemini: MockServer::start().await,
            deepseek: MockServer::start().await,
        };
        for p in Provider::ALL {
            s.accept_models(p, valid_key(p)).await;
        }
        s
    }

    pub fn server(&self, provider: Provider) -> &MockServer {
        match provider {
            Provider::Openai => &self.openai,
            Provider::Anthropic => &self.anthropic,
            Provider::Gemini => &self.gemini,
            Provider::Deepseek => &self.deepseek,
        }
    }

    /// Base URLs as the operator would configure them (OpenAI's includes `/v1`).
    pub fn base_urls(&self) -> HashMap<Provider, String> {
        Provider::ALL
            .into_iter()
            .map(|p| {
                let uri = self.server(p).uri();
                (p, if p == Provider::Openai { format!("{uri}/v1") } else { uri })
            })
            .collect()
    }

    /// The models list answers 200 for `key` (with the provider's own auth header and, for
    /// Anthropic, its version header) and the real invalid-key error for anything else.
    pub async fn accept_models(&self, provider: Provider, key: &str) {
        let (name, value) = auth_header(provider, key);
        let mut ok = Mock::given(method("GET")).and(path(models_path(provider))).and(header(name, value.as_str()));
        if provider == Provider::Anthropic {
            ok = ok.and(header("anthropic-version", "2023-06-01"));
        }
        ok.respond_with(ResponseTemplate::new(200).set_body_json(models_body(provider))).with_priority(1).mount(self.server(provider)).await;
        Mock::given(method("GET"))
            .and(path(models_path(provider)))
            .respond_with(invalid_key_answer(provider, revoked_key(provider)))
            .with_priority(10)
            .mount(self.server(provider))
            .await;
    }

    /// The models list answers `template` for `key`.
    pub async fn answer_models(&self, provider: Provider, key: &str, template: ResponseTemplate) {
        let (name, value) = auth_header(provider, key);
        Mock::given(method("GET"))
            .and(path(models_path(provider)))
            .and(header(name, value.as_str()))
            .respond_with(template)
            .with_priority(1)
            .mount(self.server(provider))
            .await;
    }
}
