//! The AI providers, behind the narrow interface the core asks for. One file per wire format;
//! each keeps its provider's quirks (auth header, error body) to itself. Base URLs come only
//! from operator configuration: no request can change where a key is sent.

mod anthropic;
pub mod chat;
mod errors;
mod forward;
mod gemini;
mod openai;
mod redact;
mod responses;
mod sse;
mod tail;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use converra::{KeyStatus, Provider};
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

pub use chat::{ChatEvent, ChatRequest, ChatResponse, ChatStream, ProviderFailure};
pub use errors::classify_stream_error;
pub use forward::{Api, Forwarded, Frame, FrameStream, Metered, Streamed, Target};

/// Where each provider is reached, how long it may take, and the operator's own keys behind
/// the allowance with the output they may be asked for.
#[derive(Clone, Default)]
pub struct ProviderConfig {
    pub base_urls: HashMap<Provider, String>,
    pub platform_keys: HashMap<Provider, SecretString>,
    /// Timeout of a key test (the cheap models-list call).
    pub test_timeout: Option<Duration>,
    pub timeouts: Timeouts,
    pub allowance: AllowanceLimits,
    /// Where a provider serves Anthropic's Messages API, relative to its base URL (DeepSeek:
    /// `/anthropic`, its own Anthropic-compatible endpoint); a provider absent here and not
    /// Anthropic has none. See [`default_messages_path`].
    pub messages_paths: HashMap<Provider, String>,
}

/// Where a provider serves Anthropic's Messages API (`…/v1/messages`) under its base URL, unless
/// the operator configured otherwise.
pub fn default_messages_path(provider: Provider) -> Option<&'static str> {
    match provider {
        Provider::Anthropic => Some(""),
        Provider::Deepseek => Some("/anthropic"),
        Provider::Openai | Provider::Gemini => None,
    }
}

/// How long a provider may take. There is no total limit on a stream: a long generation that
/// keeps sending is never cut, one that goes silent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the connection (TCP and TLS).
    pub connect: Duration,
    /// A stream's longest silence: before its first byte, and between any two chunks.
    pub idle: Duration,
    /// A non-streamed answer, whole (reasoning models think for minutes before answering).
    pub response: Duration,
    /// A relayed stream's silence after which its client is sent an SSE comment, so that
    /// proxies and clients do not take the quiet connection for a dead one.
    pub keep_alive: Duration,
}

/// The shortest idle limit of a Responses stream (at least 600 s: reasoning may be silent that long).
pub const RESPONSES_IDLE: Duration = Duration::from_secs(600);

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            idle: Duration::from_secs(120),
            response: Duration::from_secs(600),
            keep_alive: Duration::from_secs(15),
        }
    }
}

/// The output a platform-allowance call may ask for: its `max_tokens`, this default when it
/// gives none, never more than the maximum. The call's reservation counts this cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowanceLimits {
    pub default_output_tokens: u32,
    pub max_output_tokens: u32,
}

impl Default for AllowanceLimits {
    fn default() -> Self {
        Self { default_output_tokens: 1024, max_output_tokens: 16_384 }
    }
}

pub fn default_base_url(provider: Provider) -> &'static str {
    match provider {
        Provider::Openai => "https://api.openai.com/v1",
        Provider::Anthropic => "https://api.anthropic.com",
        Provider::Gemini => "https://generativelanguage.googleapis.com",
        Provider::Deepseek => "https://api.deepseek.com",
    }
}

/// The outcome of verifying a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub status: KeyStatus,
    pub latency_ms: u64,
}

/// One shared HTTP client (pooled, keep-alive, redirects off) for every provider call.
#[derive(Clone)]
pub struct Providers {
    client: reqwest::Client,
    base_urls: HashMap<Provider, String>,
    /// Chat endpoints that do not depend on the model, parsed once.
    chat_urls: HashMap<Provider, reqwest::Url>,
    /// The endpoints a forwarded body goes to, by provider and API, parsed once.
    forward_urls: HashMap<(Provider, Api), reqwest::Url>,
    platform_keys: HashMap<Provider, SecretString>,
    test_timeout: Duration,
    timeouts: Timeouts,
    allowance: AllowanceLimits,
}

impl Providers {
    pub fn new(config: ProviderConfig) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // No client-wide total timeout: it would cut long generations. Each call sets its own.
            .connect_timeout(config.timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("converra/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is static and valid");
        let base_urls: HashMap<Provider, String> = Provider::ALL
            .into_iter()
            .map(|p| {
                let url = config.base_urls.get(&p).cloned().unwrap_or_else(|| default_base_url(p).to_owned());
                (p, url.trim_end_matches('/').to_owned())
            })
            .collect();
        let chat_urls: HashMap<Provider, reqwest::Url> = base_urls
            .iter()
            .filter_map(|(p, base)| {
                let path = match p {
                    Provider::Openai | Provider::Deepseek => "/chat/completions",
                    Provider::Anthropic => "/v1/messages",
                    Provider::Gemini => return None,
                };
                reqwest::Url::parse(&format!("{base}{path}")).ok().map(|u| (*p, u))
            })
            .collect();
        let mut forward_urls: HashMap<(Provider, Api), reqwest::Url> = chat_urls
            .iter()
            .filter(|(p, _)| matches!(p, Provider::Openai | Provider::Deepseek))
            .map(|(p, url)| ((*p, Api::ChatCompletions), url.clone()))
            .collect();
        for (p, base) in &base_urls {
            let Some(path) = config.messages_paths.get(p).map(String::as_str).or(default_messages_path(*p)) else {
                continue;
            };
            let path = path.trim_end_matches('/');
            for (api, tail) in [(Api::Messages, "/v1/messages"), (Api::CountTokens, "/v1/messages/count_tokens")] {
                if let Ok(url) = reqwest::Url::parse(&format!("{base}{path}{tail}")) {
                    forward_urls.insert((*p, api), url);
                }
            }
        }
        // OpenAI's other APIs carried whole, under its base URL (which holds `/v1`).
        let openai = &base_urls[&Provider::Openai];
        for (api, tail) in [
            (Api::Responses, "/responses"),
            (Api::ResponsesCompact, "/responses/compact"),
            (Api::Embeddings, "/embeddings"),
        ] {
            if let Ok(url) = reqwest::Url::parse(&format!("{openai}{tail}")) {
                forward_urls.insert((Provider::Openai, api), url);
            }
        }
        // Gemini's models, each under its own path (`forward_url` adds the model and method).
        if let Ok(url) = reqwest::Url::parse(&format!("{}/v1beta/models/", base_urls[&Provider::Gemini])) {
            forward_urls.insert((Provider::Gemini, Api::GenerateContent), url);
        }
        Self {
            client,
            base_urls,
            chat_urls,
            forward_urls,
            platform_keys: config.platform_keys,
            test_timeout: config.test_timeout.unwrap_or(Duration::from_secs(10)),
            timeouts: config.timeouts,
            allowance: config.allowance,
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// What a platform-allowance call may ask for.
    pub fn allowance(&self) -> AllowanceLimits {
        self.allowance
    }

    /// Whether the operator configured any platform key (so there is an allowance at all).
    pub fn has_platform_keys(&self) -> bool {
        !self.platform_keys.is_empty()
    }

    pub fn platform_key(&self, provider: Provider) -> Option<&SecretString> {
        self.platform_keys.get(&provider)
    }

    /// The parsed chat endpoint; a base URL that does not parse makes the provider unreachable.
    fn chat_url(&self, provider: Provider) -> Result<reqwest::Url, ProviderFailure> {
        self.chat_urls.get(&provider).cloned().ok_or(ProviderFailure(KeyStatus::Unreachable))
    }

    fn base(&self, provider: Provider) -> &str {
        &self.base_urls[&provider]
    }

    /// The host (and port, when not the scheme's default) a provider is reached at: what an
    /// error may name when the provider cannot be reached. Operator configuration, never a
    /// secret (a base URL's user and password, if any, are left out).
    pub fn host(&self, provider: Provider) -> String {
        let base = self.base(provider);
        match reqwest::Url::parse(base) {
            Ok(url) => match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_owned(),
                (None, _) => String::new(),
            },
            Err(_) => String::new(),
        }
    }

    /// Calls the provider's cheapest authenticated endpoint (list models) with `key`.
    pub async fn verify_key(&self, provider: Provider, key: &SecretString) -> VerifyOutcome {
        let request = match provider {
            Provider::Openai | Provider::Deepseek => openai::list_models(&self.client, self.base(provider), key),
            Provider::Anthropic => anthropic::list_models(&self.client, self.base(provider), key),
            Provider::Gemini => gemini::list_models(&self.client, self.base(provider), key),
        };
        let started = Instant::now();
        let status = match request.timeout(self.test_timeout).send().await {
            Ok(response) => {
                let code = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                errors::classify(provider, code, &body)
            }
            Err(e) => {
                // reqwest errors carry the URL; ours never carry a key (no `?key=`), but log the kind only.
                tracing::info!(provider = %provider, timeout = e.is_timeout(), connect = e.is_connect(), "provider unreachable");
                KeyStatus::Unreachable
            }
        };
        VerifyOutcome { status, latency_ms: started.elapsed().as_millis() as u64 }
    }
}

impl Providers {
    /// Runs a completion with `key`, within the whole-response timeout.
    pub async fn complete(
        &self,
        provider: Provider,
        key: &SecretString,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderFailure> {
        let (client, base) = (&self.client, self.base(provider));
        let call = async {
            match provider {
                Provider::Openai | Provider::Deepseek => {
                    openai::complete(client, provider, self.chat_url(provider)?, key, req).await
                }
                Provider::Anthropic => anthropic::complete(client, self.chat_url(provider)?, key, req).await,
                Provider::Gemini => gemini::complete(client, base, key, req).await,
            }
        };
        within(self.timeouts.response, provider, "provider timed out", call).await
    }

    /// Starts a streamed completion with `key`; failures before the first byte come back here.
    /// The answer's head, and then every chunk, must come within the idle timeout.
    pub async fn stream(
        &self,
        provider: Provider,
        key: &SecretString,
        req: &ChatRequest,
    ) -> Result<ChatStream, ProviderFailure> {
        let (client, base, idle) = (&self.client, self.base(provider), self.timeouts.idle);
        let start = async {
            match provider {
                Provider::Openai | Provider::Deepseek => {
                    openai::stream(client, provider, self.chat_url(provider)?, key, req, idle).await
                }
                Provider::Anthropic => anthropic::stream(client, self.chat_url(provider)?, key, req, idle).await,
                Provider::Gemini => gemini::stream(client, base, key, req, idle).await,
            }
        };
        within(idle, provider, "provider sent nothing within the idle timeout", start).await
    }
}

impl Providers {
    /// Sends a body in `target`'s API to the provider's endpoint for it as given (with the
    /// client `headers` the core allowed), within the whole-response timeout; the answer's body
    /// comes back unchanged.
    pub async fn forward(
        &self,
        provider: Provider,
        target: impl Into<Target<'_>>,
        key: &SecretString,
        headers: &[(HeaderName, HeaderValue)],
        body: Vec<u8>,
    ) -> Result<Forwarded, ProviderFailure> {
        let target = target.into();
        let call = async {
            let url = self.forward_url(provider, target, false)?;
            forward::whole(&self.client, provider, target.api, url, key, headers, body).await
        };
        within(self.timeouts.response, provider, "provider timed out", call).await
    }

    /// Sends a body asking for a stream; its events come back one by one, as sent.
    pub async fn forward_stream(
        &self,
        provider: Provider,
        target: impl Into<Target<'_>>,
        key: &SecretString,
        headers: &[(HeaderName, HeaderValue)],
        body: Vec<u8>,
    ) -> Result<Streamed, ProviderFailure> {
        let target = target.into();
        let api = target.api;
        // A reasoning model on the Responses API may think in silence for minutes.
        let idle = if api == Api::Responses { self.timeouts.idle.max(RESPONSES_IDLE) } else { self.timeouts.idle };
        let start = async {
            let url = self.forward_url(provider, target, true)?;
            forward::stream(&self.client, provider, api, url, key, headers, body, idle).await
        };
        within(idle, provider, "provider sent nothing within the idle timeout", start).await
    }

    /// Whether `provider` serves `api` (so a body in that wire can be forwarded to it).
    pub fn serves(&self, provider: Provider, api: Api) -> bool {
        self.forward_urls.contains_key(&(provider, api))
    }

    /// The endpoint of `provider` for `target` (Gemini's names the model, checked by the core
    /// to be `[A-Za-z0-9._:-]`, and the method, streamed or not).
    fn forward_url(
        &self,
        provider: Provider,
        target: Target<'_>,
        stream: bool,
    ) -> Result<reqwest::Url, ProviderFailure> {
        let url = self.forward_urls.get(&(provider, target.api)).ok_or(ProviderFailure(KeyStatus::ProviderError))?;
        if target.api != Api::GenerateContent {
            return Ok(url.clone());
        }
        let method = if stream { "streamGenerateContent?alt=sse" } else { "generateContent" };
        reqwest::Url::parse(&format!("{url}{}:{method}", target.model))
            .map_err(|_| ProviderFailure(KeyStatus::ProviderError))
    }
}

/// A header value holding a secret, marked sensitive so it is redacted from any debug output.
pub(crate) fn secret_header(prefix: &str, key: &SecretString) -> HeaderValue {
    let mut value = HeaderValue::from_str(&format!("{prefix}{}", key.expose_secret()))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    value.set_sensitive(true);
    value
}

/// `call` within `limit`; past it the provider counts as unreachable (`what` is logged, with the
/// provider only).
async fn within<T>(
    limit: std::time::Duration,
    provider: Provider,
    what: &'static str,
    call: impl Future<Output = Result<T, ProviderFailure>>,
) -> Result<T, ProviderFailure> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        tracing::info!(provider = %provider, "{what}");
        Err(ProviderFailure(KeyStatus::Unreachable))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_named_in_errors_is_host_and_port_only() {
        let mut config = ProviderConfig::default();
        config.base_urls.insert(Provider::Openai, "http://user:pass@127.0.0.1:4010/v1".into());
        let providers = Providers::new(config);
        assert_eq!(providers.host(Provider::Openai), "127.0.0.1:4010");
        assert_eq!(providers.host(Provider::Anthropic), "api.anthropic.com");
    }
}
