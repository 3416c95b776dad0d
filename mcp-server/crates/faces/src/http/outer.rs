//! The outermost layer of the main listener, one layer for what every request gets before
//! routing: a request id (the caller's `X-Request-Id`, or a new one) sent back on the answer,
//! the configured body limit in its extensions, and a `debug` span with the method and the
//! loggable path. It was four tower-http layers (set id, propagate id, trace, extension); each
//! wrapped the response future of the next and moved it on every poll, a measurable share of a
//! proxied completion (`docs/performance.md`, "Third round").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use tracing::Instrument;

use super::BodyLimit;
use super::layer::{Answer, Inner, Wrap, WrapLayer};

/// The request id's header, read from the caller and sent back.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids `<process prefix>-<counter>`: unique per process start without a random draw
/// (a syscall) per request.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        Self { prefix: format!("{:08x}", rand::random::<u32>()).into(), next: Arc::default() }
    }

    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(self.prefix.len() + 17);
        id.push_str(&self.prefix);
        id.push('-');
        // `{:x}` of a number never needs escaping: always a valid header value.
        std::fmt::Write::write_fmt(&mut id, format_args!("{n:x}")).expect("writing to a String");
        HeaderValue::try_from(id).expect("hex digits and a dash are a valid header value")
    }
}

/// The layer: the outermost of every route's stack (`rest::finish`).
#[derive(Clone)]
pub struct Outer {
    ids: RequestIds,
    body_limit: BodyLimit,
}

impl Outer {
    pub fn layer(body_limit: usize) -> WrapLayer<Self> {
        WrapLayer(Self { ids: RequestIds::new(), body_limit: BodyLimit(body_limit) })
    }
}

impl Wrap for Outer {
    fn call<S: Inner>(&self, inner: &mut S, mut req: Request) -> Answer {
        let id = match req.headers().get(&REQUEST_ID) {
            Some(given) => given.clone(),
            None => {
                let id = self.ids.next();
                req.headers_mut().insert(REQUEST_ID.clone(), id.clone());
                id
            }
        };
        req.extensions_mut().insert(self.body_limit);
        // Built only when debug logging is on for this target; otherwise a disabled span.
        let span =
            tracing::debug_span!("request", method = %req.method(), path = %super::loggable_path(req.uri().path()));
        let started = (!span.is_disabled()).then(Instant::now);
        let answer = span.in_scope(|| inner.call(req));
        Box::pin(
            async move {
                let mut response = answer.await?;
                if let Some(started) = started {
                    tracing::debug!(
                        status = response.status().as_u16(),
                        latency_us = started.elapsed().as_micros() as u64,
                        "answered"
                    );
                }
                response.headers_mut().entry(&REQUEST_ID).or_insert(id);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn request_ids_are_distinct_and_valid_header_values() {
        let ids = RequestIds::new();
        let seen: HashSet<HeaderValue> = (0..1000).map(|_| ids.next()).collect();
        assert_eq!(seen.len(), 1000);
        let one = ids.next();
        let text = one.to_str().unwrap();
        assert!(text.starts_with(&*ids.prefix) && text.ends_with("-3e8"), "{text}");
    }
}
