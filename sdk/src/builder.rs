//! [`ConverraBuilder`]: the client's settings (key, base URL, timeout, retries, HTTP client, user
//! agent), checked once when the client is built.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::client::{CONNECT_TIMEOUT, Converra, DEFAULT_BASE_URL};
use crate::error::{Error, Result};

/// Builds a [`Converra`] client; start with [`Converra::builder`].
///
/// ```no_run
/// use std::time::Duration;
///
/// # fn main() -> converra::Result<()> {
/// let converra = converra::Converra::builder()
///     .api_key("sk_live_...")
///     .base_url("https://converra.internal.example.com")
///     .timeout(Duration::from_secs(30))
///     .max_retries(3)
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct ConverraBuilder {
    api_key: Option<SecretString>,
    base_url: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) retry_non_idempotent: bool,
    http_client: Option<reqwest::Client>,
    pub(crate) user_agent: Option<String>,
}

impl fmt::Debug for ConverraBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConverraBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_non_idempotent", &self.retry_non_idempotent)
            .field("http_client", &self.http_client.is_some())
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl ConverraBuilder {
    /// The Converra API key (`sk_live_…` or `sk_test_…`). Required.
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(api_key.into()));
        self
    }

    /// The server's base URL, e.g. `https://converra.example.com` or
    /// `https://example.com/converra` behind a path prefix. Default `http://127.0.0.1:8080`.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The longest a request may take, from sending to the last byte of the answer (for
    /// streamed completions: until the answer starts). Default 120 seconds. Each retry gets
    /// the full timeout again.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times a failed request is retried (429, 502, 503 and connection failures, for
    /// `GET`, `PUT` and `DELETE`). Default 2; 0 turns retries off.
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = Some(max_retries);
        self
    }

    /// Also retry `POST` and `PATCH` requests (creating objects, running completions). Off by
    /// default, because a request that failed in transit may still have taken effect, and a
    /// retry would then do it twice.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.retry_non_idempotent = retry;
        self
    }

    /// Use this `reqwest` client (its proxy, TLS and pool settings) instead of a new one. The
    /// builder's timeout and user agent still apply, per request.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The `User-Agent` header. Default `converra-rust/<version>`.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the API key is missing or cannot be sent in a header, the base URL
    /// is not an `http(s)` URL, the user agent is not a valid header value, or the HTTP client
    /// cannot be created.
    pub fn build(mut self) -> Result<Converra> {
        let config = |message: &str| Error::Config { message: message.to_owned() };
        let api_key = self
            .api_key
            .take()
            .filter(|key| !key.expose_secret().trim().is_empty())
            .ok_or_else(|| config("an API key is required: set one with `.api_key(...)`"))?;
        if HeaderValue::from_str(api_key.expose_secret()).is_err() {
            return Err(config("the API key contains characters that cannot be sent in an HTTP header"));
        }
        let base_url = parse_base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
        if let Some(ua) = &self.user_agent
            && HeaderValue::from_str(ua).is_err()
        {
            return Err(config("the user agent contains characters that cannot be sent in an HTTP header"));
        }
        let http = match self.http_client.take() {
            Some(http) => http,
            None => default_http_client()
                .map_err(|e| Error::Config { message: format!("the HTTP client could not be created: {e}") })?,
        };
        Ok(Converra::from_parts(http, base_url, api_key, self))
    }
}

pub(crate) fn default_http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build()
}

fn parse_base_url(raw: &str) -> Result<Url> {
    let invalid = |why: String| Error::Config { message: format!("invalid base URL `{raw}`: {why}") };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("expected an http:// or https:// URL".into()));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(invalid("expected a URL with a host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("put credentials in the API key, not in the URL".into()));
    }
    Ok(url)
}
