//! `/metrics` at the HTTP edge: the layer that counts every request (face, route template,
//! status, duration, added overhead) and the scrape endpoint, on the main listener behind
//! `CONVERRA_METRICS_TOKEN` or alone on `CONVERRA_METRICS_ADDR` (see `docs/metrics.md`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::layer::{Answer, Inner, Wrap, WrapLayer};
use converra_core::{AuthError, Core, Error};
use converra_metrics::Metrics;
use converra_metrics::wait::{self, SharedWait};

/// Where the scrape is served.
pub const PATH: &str = "/metrics";

/// The layer that counts every request once it is answered (the response head: a stream's
/// body flows later). It calls the route it wraps without cloning it and boxes one future,
/// which is all it costs per request besides the recording (see `docs/performance.md`,
/// "Metrics cost").
#[derive(Clone)]
pub struct Record(pub Metrics);

impl Record {
    pub fn layer(metrics: Metrics) -> WrapLayer<Self> {
        WrapLayer(Self(metrics))
    }
}

impl Wrap for Record {
    fn call<S: Inner>(&self, inner: &mut S, mut req: Request) -> Answer {
        let started = Instant::now();
        let matched = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
        let Some(series) = self.0.route(matched, req.uri().path()) else {
            return Box::pin(inner.call(req));
        };
        // The MCP transport answers on a task of its own: the wait comes back through here.
        let shared = series.is_mcp().then(|| {
            let shared = SharedWait::default();
            req.extensions_mut().insert(shared.clone());
            shared
        });
        let answer = inner.call(req);
        Box::pin(async move {
            let (response, waited) = match shared {
                Some(shared) => {
                    let response = answer.await;
                    (response, shared.get())
                }
                None => wait::measure(answer).await,
            };
            let response = response?;
            series.record(response.status().as_u16(), started.elapsed(), waited);
            Ok(response)
        })
    }
}

/// The scrape, behind `Authorization: Bearer <token>` (on the main listener).
pub fn guarded_routes(token: SecretString) -> Router<Arc<Core>> {
    let expected: [u8; 32] = Sha256::digest(token.expose_secret().as_bytes()).into();
    Router::new().route(
        PATH,
        get(move |State(core): State<Arc<Core>>, req: Request| async move {
            match authorized(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()), &expected) {
                Ok(()) => scrape(&core).await,
                Err(e) => ApiError(Error::Unauthorized(e)).into_response(),
            }
        }),
    )
}

/// The scrape alone, without a token: for the separate listener `CONVERRA_METRICS_ADDR`.
pub fn open_routes() -> Router<Arc<Core>> {
    Router::new()
        .route(PATH, get(|State(core): State<Arc<Core>>| async move { scrape(&core).await }))
        .fallback(|| async { ApiError(Error::NotFound("Route")) })
}

/// Checks the Bearer token against the configured one's hash, in constant time (hashing
/// first, so neither the length nor a prefix of the token shows in the timing).
fn authorized(header: Option<&[u8]>, expected: &[u8; 32]) -> Result<(), AuthError> {
    let header = header.ok_or(AuthError::Missing)?;
    let token = header
        .split_at_checked(7)
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty())
        .map(|(_, token)| token)
        .ok_or(AuthError::NotBearer)?;
    let presented: [u8; 32] = Sha256::digest(token).into();
    if bool::from(presented.ct_eq(expected)) { Ok(()) } else { Err(AuthError::Invalid) }
}

async fn scrape(core: &Core) -> Response {
    core.refresh_metric_gauges().await;
    match core.metrics().encode() {
        Some(text) => ([(CONTENT_TYPE, converra_metrics::CONTENT_TYPE)], text).into_response(),
        None => ApiError(Error::NotFound("Route")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let expected: [u8; 32] = Sha256::digest(b"s3cret-token").into();
        assert_eq!(authorized(Some(b"Bearer s3cret-token"), &expected), Ok(()));
        assert_eq!(authorized(Some(b"bearer s3cret-token"), &expected), Ok(()));
        assert_eq!(authorized(None, &expected), Err(AuthError::Missing));
        assert_eq!(authorized(Some(b"Basic s3cret-token"), &expected), Err(AuthError::NotBearer));
        assert_eq!(authorized(Some(b"Bearer s3cret-toke"), &expected), Err(AuthError::Invalid));
        assert_eq!(authorized(Some(b"Bearer s3cret-token2"), &expected), Err(AuthError::Invalid));
    }
}
