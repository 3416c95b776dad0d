//! Reading a provider's server-sent events into our event stream. Each adapter supplies a step
//! function that turns one event's data (or `None` at the end of the byte stream) into a step.

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
/// provider's mapped failure; a broken connection ends it as `unreachable`.
pub fn events(response: reqwest::Response, mut step: impl FnMut(Option<&str>) -> Step + Send + 'static) -> ChatStream {
    let mut ended = false;
    response
        .bytes_stream()
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
