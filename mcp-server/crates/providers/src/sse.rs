//! Reading a provider's server-sent events into our event stream. Each adapter supplies a step
//! function that turns one event's data (or `None` at the end of the byte stream) into a step.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;

use super::chat::{ChatEvent, ChatStream, ProviderFailure};
use super::errors;

/// What one provider event turns into.
pub enum Step {
    Emit(ChatEvent),
    Skip,
    /// The final event; the stream ends after it.
    End(ChatEvent),
    Fail(ProviderFailure),
}

/// Parses the SSE body of `response` with `step`. An `event: error` ends the stream with the
/// provider's mapped failure; a broken connection, or `idle` without a byte, ends it as
/// `unreachable`.
pub fn events(
    response: reqwest::Response,
    idle: Duration,
    mut step: impl FnMut(Option<&str>) -> Step + Send + 'static,
) -> ChatStream {
    let mut ended = false;
    idle_bounded(response, idle)
        .eventsource()
        .map(Some)
        .chain(futures_util::stream::once(async { None }))
        .filter_map(move |item| {
            let out = if ended {
                None
            } else {
                let next = match item {
                    Some(Ok(event)) if event.event == "error" => {
                        Step::Fail(ProviderFailure(errors::classify_stream_error(&event.data)))
                    }
                    Some(Ok(event)) => step(Some(&event.data)),
                    Some(Err(_)) => Step::Fail(ProviderFailure(converra::KeyStatus::Unreachable)),
                    None => step(None),
                };
                match next {
                    Step::Emit(e) => Some(Ok(e)),
                    Step::Skip => None,
                    Step::End(e) => {
                        ended = true;
                        Some(Ok(e))
                    }
                    Step::Fail(f) => {
                        ended = true;
                        Some(Err(f))
                    }
                }
            };
            std::future::ready(out)
        })
        .boxed()
}

/// Why the body stopped early: the connection broke, or the provider went silent.
#[derive(Debug)]
pub(super) enum Broken {
    Connection,
    Silent,
}

/// The body's chunks; after `idle` without one, a `Silent` error ends it. Every byte counts,
/// keep-alive comments and pings included: a provider still thinking out loud is not idle.
pub(super) fn idle_bounded(
    response: reqwest::Response,
    idle: Duration,
) -> impl futures_util::Stream<Item = Result<impl AsRef<[u8]>, Broken>> {
    futures_util::stream::unfold(Some(response.bytes_stream().boxed()), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(chunk)) => Some((chunk.map_err(|_| Broken::Connection), Some(body))),
            Ok(None) => None,
            Err(_) => {
                tracing::info!(idle_secs = idle.as_secs_f64(), "provider stream went silent");
                Some((Err(Broken::Silent), None))
            }
        }
    })
}
