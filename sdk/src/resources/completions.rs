//! `/api/v1/completions`: run a completion through the organization's provider keys, whole
//! or streamed as server-sent events.

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::stream::{self, Stream, StreamExt, TryStreamExt};
use reqwest::Method;

use crate::types::{Completion, CompletionChunk, CompletionRequest, ErrorBody};
use crate::{Converra, Error, Result};

/// Completions.
///
/// Get one with [`Converra::completions`]. Converra picks the provider key (project key, then
/// organization key, then the platform's allowance) and reports which one paid in
/// `key_source`.
#[derive(Debug, Clone, Copy)]
pub struct Completions<'a> {
    client: &'a Converra,
}

impl<'a> Completions<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// Runs a completion and waits for the whole answer (`POST /api/v1/completions`).
    /// `request.stream` is ignored: use [`stream`](Self::stream) for a streamed answer.
    ///
    /// ```no_run
    /// use converra::{CompletionRequest, Converra};
    ///
    /// # async fn run() -> converra::Result<()> {
    /// let converra = Converra::from_env()?;
    /// let answer = converra
    ///     .completions()
    ///     .create(CompletionRequest::new("openai/gpt-4o-mini", "Say hello"))
    ///     .await?;
    /// println!("{} (paid by the {:?} key)", answer.content, answer.key_source.scope);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create(&self, request: CompletionRequest) -> Result<Completion> {
        let request = CompletionRequest { stream: false, ..request };
        self.client.send_json(Method::POST, &["completions"], &request).await
    }

    /// Runs a completion and streams its answer as it is written (`POST /api/v1/completions`
    /// with `stream: true`; `request.stream` need not be set).
    ///
    /// The stream yields text deltas; the last chunk carries `finish_reason` and `usage`, the
    /// first `key_source`. A failure before the answer starts (e.g. `NO_PROVIDER_KEY`)
    /// is the stream's first and only item; a failure in the middle (an `error` event, a
    /// dropped connection, a stream cut before its end marker) is its last item.
    ///
    /// ```no_run
    /// use converra::{CompletionRequest, Converra};
    /// use futures_util::StreamExt;
    ///
    /// # async fn run() -> converra::Result<()> {
    /// let converra = Converra::from_env()?;
    /// let mut chunks = converra
    ///     .completions()
    ///     .stream(CompletionRequest::new("anthropic/claude-sonnet-4-5", "Write a haiku"));
    /// while let Some(chunk) = chunks.next().await {
    ///     print!("{}", chunk?.delta);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream(
        &self,
        request: CompletionRequest,
    ) -> impl Stream<Item = Result<CompletionChunk>> + Send + Unpin + 'static {
        let client = self.client.clone();
        let request = CompletionRequest { stream: true, ..request };
        let opened = async move {
            let response = client.open_stream(&["completions"], &request).await?;
            let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let content_type = response.headers().get(reqwest::header::CONTENT_TYPE);
            if !content_type.and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/event-stream")) {
                return Err(Error::Decode {
                    message: format!("expected a text/event-stream answer, got content type {content_type:?}"),
                    request_id,
                });
            }
            Ok(chunks(Box::pin(response.bytes_stream()), request_id, client))
        };
        Box::pin(stream::once(opened).try_flatten())
    }
}

/// What one server-sent event means for the caller.
#[derive(Debug)]
enum Step {
    /// A chunk of the answer.
    Chunk(CompletionChunk),
    /// `data: [DONE]`: the answer is complete.
    Done,
    /// An `error` event, or an event this client cannot read; the stream ends with it.
    Fail(Error),
    /// An event of a type this client does not know (ignored, for forward compatibility).
    Skip,
}

/// Reads one event (`event` is its type, `message` when the server named none).
fn step(event: &str, data: &str, request_id: &Option<String>) -> Step {
    let decode = |what: &str, e: serde_json::Error| Error::Decode {
        message: format!("{what} in the completion stream could not be read: {e}"),
        request_id: request_id.clone(),
    };
    match event {
        "error" => match serde_json::from_str::<ErrorBody>(data) {
            Ok(body) => Step::Fail(Error::from_detail(body.error, None, None, request_id.clone())),
            Err(e) => Step::Fail(decode("an error event", e)),
        },
        "message" if data.trim() == "[DONE]" => Step::Done,
        "message" => match serde_json::from_str::<CompletionChunk>(data) {
            Ok(chunk) => Step::Chunk(chunk),
            Err(e) => Step::Fail(decode("a chunk", e)),
        },
        _ => Step::Skip,
    }
}

/// Where a completion stream is.
struct ChunkStream<S> {
    events: S,
    /// `[DONE]` or an error was seen, or the body ended: read no more.
    finished: bool,
    request_id: Option<String>,
    /// Kept to scrub the API key from error messages copied out of the stream.
    client: Converra,
}

/// The completion chunks of an event-stream body (framing by `eventsource-stream`).
fn chunks<S, B>(body: S, request_id: Option<String>, client: Converra) -> impl Stream<Item = Result<CompletionChunk>>
where
    S: Stream<Item = reqwest::Result<B>> + Unpin,
    B: AsRef<[u8]>,
{
    let state = ChunkStream { events: body.eventsource(), finished: false, request_id, client };
    stream::unfold(state, |mut state| async move {
        while !state.finished {
            let failure = match state.events.next().await {
                Some(Ok(event)) => match step(&event.event, &event.data, &state.request_id) {
                    Step::Chunk(chunk) => return Some((Ok(chunk), state)),
                    Step::Skip => continue,
                    Step::Done => {
                        state.finished = true;
                        continue;
                    }
                    Step::Fail(error) => state.client.scrub(error),
                },
                Some(Err(EventStreamError::Transport(e))) => Error::Transport(e),
                Some(Err(e)) => Error::Decode {
                    message: format!("the completion stream could not be read: {e}"),
                    request_id: state.request_id.clone(),
                },
                None => Error::Decode {
                    message: "the completion stream ended without its end marker ([DONE])".into(),
                    request_id: state.request_id.clone(),
                },
            };
            state.finished = true;
            return Some((Err(failure), state));
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ErrorCode, FinishReason, KeyStatus};

    #[test]
    fn data_events_are_chunks_until_done() {
        let chunk = r#"{"id":"cmpl_1","delta":"Hel"}"#;
        assert!(matches!(step("message", chunk, &None), Step::Chunk(c) if c.delta == "Hel"));
        assert!(matches!(step("message", "[DONE]", &None), Step::Done));
        assert!(matches!(step("ping", "{}", &None), Step::Skip));
        assert!(matches!(step("message", "{not json", &None), Step::Fail(Error::Decode { .. })));
    }

    #[test]
    fn error_events_become_typed_errors() {
        let data =
            r#"{"error":{"code":"PROVIDER_ERROR","message":"Quota exceeded","provider_status":"quota_exceeded"}}"#;
        let Step::Fail(err) = step("error", data, &Some("req_9".into())) else {
            panic!("not a failure");
        };
        assert_eq!(err.api().and_then(|e| e.provider_status), Some(KeyStatus::QuotaExceeded));
        assert_eq!(err.code(), Some(&ErrorCode::ProviderError));
        assert_eq!(err.request_id(), Some("req_9"));
    }

    async fn collect(pieces: &[&str]) -> Vec<Result<CompletionChunk>> {
        let body =
            stream::iter(pieces.iter().map(|p| Ok::<_, reqwest::Error>(p.as_bytes().to_vec())).collect::<Vec<_>>());
        chunks(body, None, Converra::new("sk_test_key")).collect().await
    }

    #[tokio::test]
    async fn a_whole_stream_split_anywhere() {
        let body = concat!(
            "data: {\"id\":\"c\",\"delta\":\"Hel\",\"key_source\":{\"scope\":\"organization\"}}\n\n",
            ": keep-alive\n\n",
            "data: {\"id\":\"c\",\"delta\":\"lo\"}\r\n\r\n",
            "data: {\"id\":\"c\",\"delta\":\"\",\"finish_reason\":\"stop\",\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
            "data: {\"id\":\"ignored after done\",\"delta\":\"x\"}\n\n",
        );
        let (head, tail) = body.split_at(37);
        let items = collect(&[head, tail]).await;
        let chunks: Vec<CompletionChunk> = items.into_iter().collect::<Result<_>>().unwrap();
        let text: String = chunks.iter().map(|c| c.delta.as_str()).collect();
        assert_eq!(text, "Hello");
        assert_eq!(chunks.last().unwrap().finish_reason, Some(FinishReason::Stop));
        assert_eq!(chunks.len(), 3);
    }

    #[tokio::test]
    async fn an_error_event_ends_the_stream() {
        let items = collect(&[
            "data: {\"id\":\"c\",\"delta\":\"a\"}\n\n",
            "event: error\ndata: {\"error\":{\"code\":\"INTERNAL\",\"message\":\"Internal error\"}}\n\n",
            "data: {\"id\":\"c\",\"delta\":\"b\"}\n\n",
        ])
        .await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        let err = items[1].as_ref().unwrap_err();
        assert_eq!((err.code(), err.api().and_then(|e| e.status)), (Some(&ErrorCode::Internal), None));
    }

    #[tokio::test]
    async fn a_stream_without_its_end_marker_is_an_error() {
        let items = collect(&["data: {\"id\":\"c\",\"delta\":\"a\"}\n\n"]).await;
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[1], Err(Error::Decode { message, .. }) if message.contains("[DONE]")));

        let items = collect(&["data: {\"id\":\"c\",\"del"]).await;
        assert_eq!(items.len(), 1);
        assert!(matches!(&items[0], Err(Error::Decode { message, .. }) if message.contains("[DONE]")));
    }
}
