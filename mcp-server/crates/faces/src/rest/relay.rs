//! A forwarded answer (`core::Relayed`) as an HTTP response, whatever its API: the provider's
//! bytes as sent (or their translation, rendered the same way), the headers of its answer a
//! client may see, which key paid (`X-Converra-Key-Source`, `X-Converra-Key-Id`). A stream's
//! events go out as they arrive, an SSE comment (`: keep-alive`, after 15 s of silence by
//! default) while the provider is silent (a reasoning model may think for minutes: proxies and
//! clients must not take the quiet connection for a dead one), and an error that ends it as the
//! endpoint's own error event (`error_event`). A provider's refusal goes back the same way: its
//! status, its body as sent (the key redacted) to an endpoint of the provider's own API,
//! re-shaped into the endpoint's on a translated path (`error_response`).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::http::error::{error_headers, say_key_source};
use converra_base::error::ErrorShape;
use converra_core::{Error, Relayed};

const COMMENT: &[u8] = b": keep-alive\n\n";

/// Renders a forwarded answer; `error_event` frames (and logs) an error that ends a stream,
/// and a stream silent for `keep_alive` (`Core::stream_keep_alive`) is sent a comment.
pub fn render(relayed: Relayed, error_event: fn(&Error) -> Bytes, keep_alive: Duration) -> Response {
    match relayed {
        Relayed::Whole { body, headers, key_source } => {
            let mut response = body.into_response();
            response.headers_mut().extend(headers);
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            say_key_source(response.headers_mut(), key_source);
            response
        }
        Relayed::Stream { events, headers, key_source } => {
            let events = events.map(move |item| item.unwrap_or_else(|e| error_event(&e)));
            let body = with_keep_alive(events.boxed(), keep_alive).map(Ok::<_, Infallible>);
            let mut response = axum::body::Body::from_stream(body).into_response();
            let out = response.headers_mut();
            out.extend(headers);
            out.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            say_key_source(out, key_source);
            response
        }
    }
}

/// An error as an agent endpoint speaking `shape` answers it, `own` being the error in that
/// shape: a provider's refusal with the provider's status, and its body as the provider sent it
/// (the key redacted) when the provider spoke the same API; every other error with its own
/// status. The headers of every error answer (`error_headers`: which key failed, the provider's
/// request id, `retry-after` and rate limits), and `x-should-retry: false` where a retry
/// changes nothing (the official SDKs retry 409 and 5xx unless told so).
pub fn error_response(e: &Error, shape: ErrorShape, own: impl serde::Serialize) -> Response {
    crate::http::error::log(e);
    let answer = e.provider_answer();
    let status = answer.map_or_else(|| crate::http::error::http_status(e), |a| a.status);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match answer {
        Some(answer) if answer.shape == Some(shape) && !answer.body.is_empty() => {
            let mut response = (status, answer.body.clone()).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        _ => (status, axum::Json(own)).into_response(),
    };
    error_headers(response.headers_mut(), e);
    if !e.may_succeed_on_retry() {
        response.headers_mut().insert(SHOULD_RETRY, HeaderValue::from_static("false"));
    }
    response
}

const SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");

/// `events`, with a keep-alive comment after each `every` of silence. One timer per stream,
/// reset as events pass.
fn with_keep_alive(events: BoxStream<'static, Bytes>, every: Duration) -> BoxStream<'static, Bytes> {
    let quiet = Box::pin(tokio::time::sleep(every));
    futures_util::stream::unfold((events, quiet), move |(mut events, mut quiet)| async move {
        tokio::select! {
            biased;
            next = events.next() => {
                let bytes = next?;
                quiet.as_mut().reset(tokio::time::Instant::now() + every);
                Some((bytes, (events, quiet)))
            }
            () = quiet.as_mut() => {
                quiet.as_mut().reset(tokio::time::Instant::now() + every);
                Some((Bytes::from_static(COMMENT), (events, quiet)))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_silent_stream_gets_keep_alive_comments_and_every_event_as_sent() {
        let events = futures_util::stream::iter([Bytes::from_static(b"data: 1\n\n")])
            .chain(futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(250)).await;
                Bytes::from_static(b"data: 2\n\n")
            }))
            .boxed();
        let out: Vec<Bytes> = with_keep_alive(events, Duration::from_millis(100)).collect().await;
        // Comments only while silent (about two, however busy the machine), the events as sent.
        assert_eq!(
            (out.first().unwrap().as_ref(), out.last().unwrap().as_ref()),
            (&b"data: 1\n\n"[..], &b"data: 2\n\n"[..])
        );
        assert!(out.len() > 2 && out[1..out.len() - 1].iter().all(|c| c.as_ref() == COMMENT), "{out:?}");
    }
}
