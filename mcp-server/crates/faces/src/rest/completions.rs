//! `POST /api/v1/completions` (JSON, or server-sent events with `stream: true`) and
//! `GET /api/v1/usage`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use converra::{CompletionChunk, CompletionRequest, UsageQuery};
use futures_util::StreamExt;

use super::extract::{Authenticated, Json, Query};
use crate::http::error::ApiResult;
use converra_core::Core;
use converra_core::completions::CompletionStream;

pub async fn create(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    Json(req): Json<CompletionRequest>,
) -> ApiResult<Response> {
    if req.stream {
        Ok(sse(core.stream(&caller, req).await?))
    } else {
        Ok(axum::Json(core.complete(&caller, req).await?).into_response())
    }
}

/// Chunks as `data:` events; a failure mid-stream as `event: error` with the error body; then
/// `[DONE]`. This wire names the paying key in its first event, an empty chunk before the
/// answer (where the SDK reads it).
fn sse(stream: CompletionStream) -> Response {
    let CompletionStream { id, key_source, chunks } = stream;
    let first =
        CompletionChunk { id, delta: String::new(), finish_reason: None, usage: None, key_source: Some(key_source) };
    let events = futures_util::stream::once(std::future::ready(Ok(first)))
        .chain(chunks)
        .map(|item| {
            let event = match item {
                Ok(chunk) => Event::default().json_data(chunk),
                Err(e) => {
                    crate::http::error::log(&e);
                    Event::default().event("error").json_data(e.body())
                }
            };
            Ok::<_, Infallible>(event.unwrap_or_else(|_| Event::default().event("error").data("{}")))
        })
        .chain(futures_util::stream::once(async { Ok(Event::default().data("[DONE]")) }));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

pub async fn usage(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    Query(q): Query<UsageQuery>,
) -> ApiResult<axum::Json<converra::UsageReport>> {
    Ok(axum::Json(core.spend().usage(&caller, q).await?))
}
