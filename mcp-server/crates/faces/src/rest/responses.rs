//! The rest of OpenAI's API under `/v1` (the agent traffic): `POST /v1/responses` (whole or
//! streamed) and `/v1/responses/compact` for Codex and the OpenAI Agents SDK, `POST
//! /v1/embeddings`, `GET /v1/models/{id}` (in Anthropic's shape when asked with
//! `anthropic-version`), and OpenAI's 404 for every other `/v1` method and
//! path (no stored-completion listing, files, batches, assistants or vector stores: they would
//! reach objects on the provider account). Each body is checked at its top level and handed to
//! the core, which forwards it; the answer goes back as OpenAI sent it (`relay.rs`). Errors take
//! OpenAI's shape (`openai_compat.rs`), and in a stream Responses' own `error` event.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::extract::Authenticated;
use super::messages::AnthropicApiError;
use super::openai_compat::{Body, OpenAiApiError, openai_error, project_of};
use super::relay;
use converra_core::{Caller, Core, Error, ResponsesEndpoint};
use converra_wire::anthropic::ModelInfo;
use converra_wire::openai::{EmbeddingsView, ModelEntry, ResponsesView};

/// A stream's error in the Responses API's own event shape (what its SDKs and Codex read).
fn error_event(e: &Error) -> axum::body::Bytes {
    crate::http::error::log(e);
    let body = openai_error(e).error;
    let event = serde_json::json!({"type": "error", "code": body.code, "message": body.message, "param": body.param});
    let mut frame = b"event: error\ndata: ".to_vec();
    frame.extend(serde_json::to_vec(&event).unwrap_or_default());
    frame.extend(b"\n\n");
    frame.into()
}

async fn responses_at(
    core: Arc<Core>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
    endpoint: ResponsesEndpoint,
) -> Result<Response, OpenAiApiError> {
    let view = ResponsesView::parse(&body)?;
    let project_id = project_of(&headers)?;
    let relayed = core.openai_responses(&caller, &view, endpoint, project_id).await?;
    Ok(relay::render(relayed, error_event, core.stream_keep_alive()))
}

/// `POST /v1/responses`.
pub async fn create(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OpenAiApiError> {
    responses_at(core, caller, headers, body, ResponsesEndpoint::Create).await
}

/// `POST /v1/responses/compact`.
pub async fn compact(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OpenAiApiError> {
    responses_at(core, caller, headers, body, ResponsesEndpoint::Compact).await
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OpenAiApiError> {
    let view = EmbeddingsView::parse(&body)?;
    let project_id = project_of(&headers)?;
    let relayed = core.openai_embeddings(&caller, &view, project_id).await?;
    Ok(relay::render(relayed, error_event, core.stream_keep_alive()))
}

/// `GET /v1/models/{id}`: one model of the list, in OpenAI's shape, or Anthropic's when the
/// request carries `anthropic-version`; a model this caller cannot reach is 404 in that shape.
pub async fn model(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if super::messages::speaks_anthropic(&headers) {
        return anthropic_model(&core, &caller, &id).await.into_response();
    }
    openai_model(&core, &caller, &id).await.into_response()
}

/// One model as the Anthropic SDKs' `models.retrieve` reads it: only those `/v1/messages` serves.
async fn anthropic_model(core: &Core, caller: &Caller, id: &str) -> Result<axum::Json<ModelInfo>, AnthropicApiError> {
    Ok(axum::Json(ModelInfo::named(core.messages_model(caller, id).await?)))
}

async fn openai_model(core: &Core, caller: &Caller, id: &str) -> Result<axum::Json<ModelEntry>, OpenAiApiError> {
    let (provider, model) = core.available_model(caller, id).await?;
    Ok(axum::Json(ModelEntry {
        id: format!("{provider}/{model}"),
        object: "model".into(),
        created: 0,
        owned_by: provider.as_str().into(),
    }))
}

/// The routes of this file, to merge under the `/v1` face's layers; another method on one of
/// these paths is a 404 in the API's shape, like any `/v1` path not served (`messages.rs`).
pub fn routes() -> axum::Router<Arc<Core>> {
    use super::messages::not_found;
    axum::Router::new()
        .route("/v1/responses", post(create).fallback(not_found))
        .route("/v1/responses/compact", post(compact).fallback(not_found))
        .route("/v1/embeddings", post(embeddings).fallback(not_found))
        .route("/v1/models/{*id}", axum::routing::get(model).fallback(not_found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streams_error_is_a_responses_error_event() {
        let frame = error_event(&Error::NotRelayed { field: "previous_response_id".into() });
        let frame = String::from_utf8(frame.to_vec()).unwrap();
        assert!(frame.starts_with("event: error\ndata: {") && frame.ends_with("}\n\n"), "{frame}");
        assert!(frame.contains(r#""type":"error""#) && frame.contains(r#""param":"previous_response_id""#), "{frame}");
    }
}
