//! [`Converra`] and the one path every request takes: build the URL, attach the key, send,
//! retry what the retry rule allows, record the rate-limit headers, map failures to [`Error`]
//! (its builder is `builder.rs`).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, Response, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::builder::{ConverraBuilder, default_http_client};
use crate::error::{ApiError, Error, Result};
use crate::resources::{
    ApiKeys, AuditEvents, Budgets, Completions, Members, Projects, ProviderKeys, Settings, UsageReports,
};
use crate::retry::{Failure, RetryRule};
use crate::types::ErrorCode;
use crate::types::Me;

/// Where the client goes when no base URL is given: `converra serve`'s default address.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";
/// Retries after a failed first attempt, unless configured otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// How long a request may take, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

const API_KEY_VAR: &str = "CONVERRA_API_KEY";
const BASE_URL_VAR: &str = "CONVERRA_BASE_URL";
const DEFAULT_USER_AGENT: &str = concat!("converra-rust/", env!("CARGO_PKG_VERSION"));
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client of a Converra server.
///
/// Cheap to clone: clones share one connection pool and one record of the last rate-limit
/// headers. Each API area is reached through a small handle, e.g.
/// [`provider_keys()`](Self::provider_keys) or [`completions()`](Self::completions).
///
/// `Debug` shows the base URL and settings, never the API key.
#[derive(Clone)]
pub struct Converra {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    api_key: SecretString,
    timeout: Duration,
    user_agent: HeaderValue,
    retry: RetryRule,
    last_rate_limit: Mutex<Option<RateLimit>>,
}

/// The rate-limit state of the API key, from the `X-RateLimit-*` headers of an answer.
///
/// Read the latest with [`Converra::last_rate_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Requests allowed per minute (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Requests left in the current window (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Unix time in seconds when the allowance is full again (`X-RateLimit-Reset`).
    pub reset: u64,
}

impl RateLimit {
    /// [`reset`](Self::reset) as a point in time.
    pub fn reset_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.reset)
    }

    /// Reads the three headers; `None` unless all are present and numeric.
    fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Some(Self {
            limit: header_number(headers, "x-ratelimit-limit")?,
            remaining: header_number(headers, "x-ratelimit-remaining")?,
            reset: header_number(headers, "x-ratelimit-reset")?,
        })
    }
}

fn header_number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    Some(headers.get("x-request-id")?.to_str().ok()?.to_owned())
}

/// `Retry-After` in seconds (the only form Converra sends).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_number::<u64>(headers, RETRY_AFTER.as_str()).map(Duration::from_secs)
}

impl fmt::Debug for Converra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Converra")
            .field("base_url", &self.inner.base_url.as_str())
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.inner.timeout)
            .field("max_retries", &self.inner.retry.max_retries)
            .field("retry_non_idempotent", &self.inner.retry.retry_non_idempotent)
            .finish_non_exhaustive()
    }
}

impl Converra {
    /// A client for the server at `http://127.0.0.1:8080` with this API key (`sk_live_…` or
    /// `sk_test_…`) and default settings. Use [`Converra::builder`] for anything else.
    ///
    /// # Panics
    ///
    /// If the TLS backend cannot be initialised, like [`reqwest::Client::new`].
    pub fn new(api_key: impl Into<String>) -> Self {
        let api_key = SecretString::from(api_key.into());
        let http = default_http_client().expect("the TLS backend could not be initialised");
        Self::from_parts(
            http,
            Url::parse(DEFAULT_BASE_URL).expect("the default base URL is valid"),
            api_key,
            ConverraBuilder::default(),
        )
    }

    /// A client configured from the environment: `CONVERRA_API_KEY` (required) and
    /// `CONVERRA_BASE_URL` (optional, default `http://127.0.0.1:8080`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if `CONVERRA_API_KEY` is unset or empty, or `CONVERRA_BASE_URL` is not
    /// a valid `http(s)` URL.
    pub fn from_env() -> Result<Self> {
        let api_key =
            std::env::var(API_KEY_VAR).ok().filter(|key| !key.trim().is_empty()).ok_or_else(|| Error::Config {
                message: format!(
                    "{API_KEY_VAR} is not set: export a Converra API key (sk_live_… or sk_test_…), \
                     e.g. the one `converra serve` prints on its first start"
                ),
            })?;
        let mut builder = Self::builder().api_key(api_key);
        if let Some(base_url) = std::env::var(BASE_URL_VAR).ok().filter(|url| !url.trim().is_empty()) {
            builder = builder.base_url(base_url);
        }
        builder.build()
    }

    /// A builder for every setting: API key, base URL, timeout, retries, HTTP client, user agent.
    pub fn builder() -> ConverraBuilder {
        ConverraBuilder::default()
    }

    /// The server this client talks to.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The rate-limit headers of the most recent answer that carried them (every
    /// authenticated answer does), or `None` before the first such answer.
    ///
    /// Shared by all clones of this client, so it reflects the API key's state as last seen
    /// by any of them. Useful to slow down before the limit is hit:
    ///
    /// ```no_run
    /// # async fn run(converra: converra::Converra) -> converra::Result<()> {
    /// converra.me().await?;
    /// if let Some(limit) = converra.last_rate_limit() {
    ///     println!("{} of {} requests left this minute", limit.remaining, limit.limit);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn last_rate_limit(&self) -> Option<RateLimit> {
        *self.inner.last_rate_limit.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Who the API key is: its organization, member and the key itself (`GET /api/v1/me`).
    pub async fn me(&self) -> Result<Me> {
        self.get(&["me"], &NoQuery).await
    }

    /// Provider keys: the organization's own AI keys (`/api/v1/provider-keys`).
    pub fn provider_keys(&self) -> ProviderKeys<'_> {
        ProviderKeys::new(self)
    }

    /// Completions through the organization's provider keys (`/api/v1/completions`).
    pub fn completions(&self) -> Completions<'_> {
        Completions::new(self)
    }

    /// Converra API keys (`/api/v1/api-keys`).
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys::new(self)
    }

    /// Members of the organization (`/api/v1/members`).
    pub fn members(&self) -> Members<'_> {
        Members::new(self)
    }

    /// Projects of the organization (`/api/v1/projects`).
    pub fn projects(&self) -> Projects<'_> {
        Projects::new(self)
    }

    /// Token usage and the plan's allowance (`/api/v1/usage`).
    pub fn usage(&self) -> UsageReports<'_> {
        UsageReports::new(self)
    }

    /// Monthly budgets in dollars (`/api/v1/budgets`).
    pub fn budgets(&self) -> Budgets<'_> {
        Budgets::new(self)
    }

    /// The organization's audit log (`/api/v1/audit-events`).
    pub fn audit_events(&self) -> AuditEvents<'_> {
        AuditEvents::new(self)
    }

    /// Organization settings (`/api/v1/settings`).
    pub fn settings(&self) -> Settings<'_> {
        Settings::new(self)
    }

    pub(crate) fn from_parts(
        http: reqwest::Client,
        base_url: Url,
        api_key: SecretString,
        builder: ConverraBuilder,
    ) -> Self {
        let user_agent = builder
            .user_agent
            .and_then(|ua| HeaderValue::from_str(&ua).ok())
            .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_USER_AGENT));
        Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                api_key,
                timeout: builder.timeout.unwrap_or(DEFAULT_TIMEOUT),
                user_agent,
                retry: RetryRule {
                    max_retries: builder.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
                    retry_non_idempotent: builder.retry_non_idempotent,
                },
                last_rate_limit: Mutex::new(None),
            }),
        }
    }
}

/// The request path shared by every resource handle.
impl Converra {
    /// `GET` the API path made of `segments` (each percent-encoded) with `query`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, segments: &[&str], query: &impl Serialize) -> Result<T> {
        let url = self.url(segments, query)?;
        self.json(Method::GET, url, None).await
    }

    /// Sends `body` as JSON with `method` and decodes the JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<T> {
        let url = self.url(segments, &NoQuery)?;
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::Config { message: format!("the request could not be encoded as JSON: {e}") })?;
        self.json(method, url, Some(body)).await
    }

    /// `POST` without a body (actions such as `activate`), decoding the JSON answer.
    pub(crate) async fn post_empty<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T> {
        let url = self.url(segments, &NoQuery)?;
        self.json(Method::POST, url, None).await
    }

    /// `DELETE`, expecting an empty answer (204).
    pub(crate) async fn delete(&self, segments: &[&str]) -> Result<()> {
        self.delete_with(segments, &NoQuery).await
    }

    /// `DELETE` with `query` naming what to delete, expecting an empty answer (204).
    pub(crate) async fn delete_with(&self, segments: &[&str], query: &impl Serialize) -> Result<()> {
        let url = self.url(segments, query)?;
        self.send(Method::DELETE, url, None, false).await.map(drop)
    }

    /// Sends a JSON body and returns the successful answer unread, for streaming: the timeout
    /// covers only the wait for the answer's headers, not the (arbitrarily long) stream.
    pub(crate) async fn open_stream(&self, segments: &[&str], body: &impl Serialize) -> Result<Response> {
        let url = self.url(segments, &NoQuery)?;
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::Config { message: format!("the request could not be encoded as JSON: {e}") })?;
        self.send(Method::POST, url, Some(body), true).await
    }

    /// Scrubs the API key from an error built from answer text.
    pub(crate) fn scrub(&self, error: Error) -> Error {
        error.scrub(self.inner.api_key.expose_secret())
    }

    async fn json<T: DeserializeOwned>(&self, method: Method, url: Url, body: Option<Vec<u8>>) -> Result<T> {
        let response = self.send(method, url, body, false).await?;
        let request_id = request_id(response.headers());
        let bytes = response.bytes().await.map_err(Error::Transport)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            self.scrub(Error::Decode { message: format!("the answer is not the expected JSON: {e}"), request_id })
        })
    }

    /// `{base_url}/api/v1/{segments…}?{query}`, every segment percent-encoded as one segment
    /// (so an id can never add a path level or a query), keeping any path prefix of the base URL.
    fn url(&self, segments: &[&str], query: &impl Serialize) -> Result<Url> {
        // URL rules drop `.` and `..` segments and an empty one changes the route: such an id
        // could only ever reach the wrong endpoint, so it is refused before anything is sent.
        if segments.iter().any(|s| matches!(*s, "" | "." | "..")) {
            let refused = ApiError::new(ErrorCode::ValidationError, "an id must not be empty, `.` or `..`");
            return Err(ApiError { field: Some("id".into()), ..refused }.into());
        }
        let mut url = self.inner.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config { message: "the base URL cannot have a path".into() })?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        let pairs = query_pairs(query)?;
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        Ok(url)
    }

    /// Sends one logical request, retrying as [`RetryRule`] allows, and returns the first
    /// successful answer; a final failure becomes the matching [`Error`].
    async fn send(&self, method: Method, url: Url, body: Option<Vec<u8>>, stream: bool) -> Result<Response> {
        let inner = &*self.inner;
        let authorization = self.authorization()?;
        let mut retries_done = 0;
        loop {
            let mut request = inner
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, authorization.clone())
                .header(USER_AGENT, inner.user_agent.clone());
            if let Some(body) = &body {
                request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
            }
            let sent = if stream {
                request = request.header(ACCEPT, "text/event-stream");
                match tokio::time::timeout(inner.timeout, request.send()).await {
                    Ok(sent) => sent.map_err(|e| self.transport_error(e)),
                    Err(_elapsed) => Err(Error::Timeout { after: inner.timeout }),
                }
            } else {
                let sent = request.header(ACCEPT, "application/json").timeout(inner.timeout).send().await;
                sent.map_err(|e| self.transport_error(e))
            };

            let (failure, retry_after) = match &sent {
                Ok(response) => {
                    if let Some(limit) = RateLimit::from_headers(response.headers()) {
                        *inner.last_rate_limit.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(limit);
                    }
                    if response.status().is_success() {
                        return sent;
                    }
                    (Failure::Status(response.status().as_u16()), retry_after(response.headers()))
                }
                // A request that could not even be built fails the same way every time.
                Err(Error::Transport(e)) if e.is_builder() => return sent,
                Err(_) => (Failure::Transport, None),
            };

            match inner.retry.delay(&method, retries_done, failure, retry_after, rand::random::<f64>()) {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    retries_done += 1;
                }
                None => {
                    return match sent {
                        Ok(response) => Err(self.error_from(response).await),
                        Err(e) => Err(e),
                    };
                }
            }
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> Error {
        if e.is_timeout() { Error::Timeout { after: self.inner.timeout } } else { Error::Transport(e) }
    }

    async fn error_from(&self, response: Response) -> Error {
        let status = response.status().as_u16();
        let request_id = request_id(response.headers());
        let retry_after = retry_after(response.headers());
        // A body that cannot be read still leaves the status to go by.
        let body = response.bytes().await.unwrap_or_default();
        self.scrub(Error::from_response(status, &body, retry_after, request_id))
    }

    fn authorization(&self) -> Result<HeaderValue> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", self.inner.api_key.expose_secret())).map_err(|_| {
                Error::Config {
                    message: "the API key contains characters that cannot be sent in an HTTP header".into(),
                }
            })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// An empty query string.
#[derive(Serialize)]
pub(crate) struct NoQuery;

/// A query type's fields as `(name, value)` pairs: absent (`null`) fields are left out,
/// strings go as they are, numbers and booleans as their JSON text.
fn query_pairs(query: &impl Serialize) -> Result<Vec<(String, String)>> {
    let invalid = |detail: String| Error::Config { message: format!("the query could not be encoded: {detail}") };
    let value = serde_json::to_value(query).map_err(|e| invalid(e.to_string()))?;
    let fields = match value {
        serde_json::Value::Object(fields) => fields,
        serde_json::Value::Null => return Ok(Vec::new()),
        other => return Err(invalid(format!("expected a struct, got {other}"))),
    };
    let mut pairs = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let value = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
            other => return Err(invalid(format!("field `{name}` is not a scalar: {other}"))),
        };
        pairs.push((name, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Environment, HealthFilter, Provider, ProviderKeyFilter};

    fn client(base: &str) -> Converra {
        Converra::builder().api_key("sk_test_abcdefgh").base_url(base).build().unwrap()
    }

    #[test]
    fn urls_encode_every_segment_and_keep_a_path_prefix() {
        let c = client("http://localhost:9000/prefix/");
        let url = c.url(&["provider-keys", "pk_1/../x?y#z", "activate"], &NoQuery).unwrap();
        assert_eq!(url.as_str(), "http://localhost:9000/prefix/api/v1/provider-keys/pk_1%2F..%2Fx%3Fy%23z/activate");
        for bad in ["", ".", ".."] {
            let refused = c.url(&["provider-keys", bad], &NoQuery);
            let code = refused.unwrap_err().code().cloned();
            assert_eq!(code, Some(ErrorCode::ValidationError), "{bad:?}");
        }
        let url = client("http://localhost:9000").url(&["me"], &NoQuery).unwrap();
        assert_eq!(url.as_str(), "http://localhost:9000/api/v1/me");
    }

    #[test]
    fn queries_leave_out_absent_fields() {
        let c = client(DEFAULT_BASE_URL);
        let filter = ProviderKeyFilter {
            provider: Some(Provider::Openai),
            project_id: Some("prj 1&x".into()),
            environment: Some(Environment::Test),
            health: Some(HealthFilter::Failing),
        };
        let url = c.url(&["provider-keys"], &filter).unwrap();
        // The order of the pairs follows serde_json's map and does not matter to the server.
        let mut pairs: Vec<_> = url.query().unwrap().split('&').collect();
        pairs.sort_unstable();
        assert_eq!(pairs, ["environment=test", "health=failing", "project_id=prj+1%26x", "provider=openai"]);
        let url = c.url(&["provider-keys"], &ProviderKeyFilter::default()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/api/v1/provider-keys");
    }

    #[test]
    fn client_and_errors_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Converra>();
        send_sync::<Error>();
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = "sk_live_verysecretvalue";
        let c = Converra::new(key);
        assert!(!format!("{c:?}").contains(key));
        let builder = Converra::builder().api_key(key);
        assert!(!format!("{builder:?}").contains(key));
    }

    #[test]
    fn build_checks_its_configuration() {
        assert!(matches!(Converra::builder().build(), Err(Error::Config { .. })));
        assert!(matches!(Converra::builder().api_key("  ").build(), Err(Error::Config { .. })));
        assert!(matches!(Converra::builder().api_key("sk\n").build(), Err(Error::Config { .. })));
        for bad in ["not a url", "ftp://host", "http://host/?q=1", "http://user:pw@host"] {
            let built = Converra::builder().api_key("sk_test_x").base_url(bad).build();
            assert!(matches!(built, Err(Error::Config { .. })), "{bad}");
        }
        let c = Converra::builder().api_key("sk_test_x").max_retries(0).retry_non_idempotent(true).build().unwrap();
        assert_eq!(c.inner.retry, RetryRule { max_retries: 0, retry_non_idempotent: true });
        assert_eq!(Converra::new("k").inner.retry.max_retries, DEFAULT_MAX_RETRIES);
    }

    #[test]
    fn rate_limit_headers_are_read_only_when_complete() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static("60"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("59"));
        assert_eq!(RateLimit::from_headers(&headers), None);
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1700000000"));
        let limit = RateLimit::from_headers(&headers).unwrap();
        assert_eq!(limit, RateLimit { limit: 60, remaining: 59, reset: 1_700_000_000 });
        assert_eq!(limit.reset_at(), UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    }
}
