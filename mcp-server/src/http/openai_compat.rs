//! The OpenAI-compatible face: `POST /v1/chat/completions` (streaming and not) and
//! `GET /v1/models`, so official OpenAI clients and agents work by changing only their base URL
//! and key. A chat request is checked at its top level (`ChatView`) and handed to the core,
//! which forwards it as written (OpenAI, DeepSeek: the answer comes back as the provider sent
//! it) or translates it (Anthropic, Gemini: the core answers in OpenAI's shapes, and the
//! advisory fields it left out are named in `X-Converra-Dropped-Fields`). Errors take
//! OpenAI's shape, with `x-should-retry: false` on every refusal that a retry cannot change.
//! The project comes from `X-Converra-Project`; which key paid goes back in
//! `X-Converra-Key-Source` and `X-Converra-Key-Id`. Bodies are read up to the `/v1` limit.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use converra::{ErrorCode, KeySourceInfo};
use futures_util::StreamExt;

use crate::core::error::ErrorShape;
use crate::core::{Caller, ChatAnswer, Core, Error};
use crate::edge::auth;
use crate::edge::error::say_key_source;
use crate::openai_wire::{ChatView, ModelEntry, ModelList, OpenAiError, OpenAiErrorBody};

/// A core error in OpenAI's error shape.
pub struct OpenAiApiError(pub Error);

impl From<Error> for OpenAiApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// OpenAI's error object for `e`: Converra's code and message, or a provider's refusal in its
/// own words and type (re-shaped by its status when the provider spoke another API).
pub(super) fn openai_error(e: &Error) -> OpenAiError {
    let mut body = e.body().error;
    let kind = match (e.provider_answer(), &body.code) {
        (Some(answer), _) => {
            if let Some(message) = &answer.message {
                body.message = message.clone();
            }
            match (answer.kind_in(ErrorShape::OpenAi), answer.status) {
                (Some(kind), _) => kind,
                (None, 429) => "rate_limit_error",
                (None, 500..) => "server_error",
                (None, _) => "invalid_request_error",
            }
        }
        (None, ErrorCode::RateLimited) => "rate_limit_error",
        (None, ErrorCode::AllowanceExhausted) => "insufficient_quota",
        (None, ErrorCode::ProviderError | ErrorCode::Unavailable | ErrorCode::Internal) => "api_error",
        // Every other code is the caller's to fix.
        _ => "invalid_request_error",
    };
    let code = match (&body.code, body.provider_status) {
        (ErrorCode::Unauthorized, _) => "invalid_api_key".to_owned(),
        (ErrorCode::ProviderError, Some(status)) => status.as_str().to_owned(),
        (code, _) => code.as_str().to_ascii_lowercase(),
    };
    OpenAiError {
        error: OpenAiErrorBody {
            message: body.message,
            kind: kind.into(),
            param: body.field,
            code: Some(code),
            health: body.health,
        },
    }
}

impl IntoResponse for OpenAiApiError {
    fn into_response(self) -> Response {
        super::relay::error_response(&self.0, ErrorShape::OpenAi, openai_error(&self.0))
    }
}

/// The same authentication as every face, with errors in OpenAI's shape.
#[derive(Clone, Copy)]
struct OpenAiGate;

impl auth::Gate for OpenAiGate {
    async fn admit(self, core: Arc<Core>, req: Request) -> auth::Admitted {
        // `GET /v1/models` asked by an Anthropic client answers in Anthropic's shapes.
        if super::messages::speaks_anthropic(req.headers()) {
            return super::messages::AnthropicGate.admit(core, req).await;
        }
        auth::admit_with(&core, req, OpenAiApiError).await
    }
}

/// A request body read within the `/v1` limit; over it, OpenAI's error shape with 413.
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = OpenAiApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Body(super::extract::read_body(req, state).await?))
    }
}

/// `X-Converra-Project`, if sent.
pub(super) fn project_of(headers: &HeaderMap) -> Result<Option<String>, Error> {
    match headers.get("x-converra-project") {
        Some(v) => Ok(Some(
            v.to_str().map_err(|_| Error::validation("X-Converra-Project", "must be a project id"))?.to_owned(),
        )),
        None => Ok(None),
    }
}

/// Forwarded or translated, whole or streamed, as the core decides; a forwarded answer goes
/// back as the provider sent it.
pub async fn chat_completions(
    State(core): State<Arc<Core>>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OpenAiApiError> {
    let view = ChatView::parse(&body)?;
    let project_id = project_of(&headers)?;
    Ok(match core.openai_chat(&caller, &view, project_id).await? {
        ChatAnswer::Forwarded { body, key_source } => whole(body, key_source),
        ChatAnswer::ForwardedStream { events, key_source } => streamed(events, key_source),
        ChatAnswer::Translated { body, key_source, dropped } => with_dropped(whole(body, key_source), &dropped),
        ChatAnswer::TranslatedStream { events, key_source, dropped } => {
            with_dropped(streamed(events, key_source), &dropped)
        }
    })
}

/// A whole answer: the provider's body, or its translation.
fn whole(body: axum::body::Bytes, key_source: KeySourceInfo) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    say_key_source(response.headers_mut(), key_source);
    response
}

/// A stream's frames as they come; an error ends it in OpenAI's error shape.
fn streamed(
    events: futures_util::stream::BoxStream<'static, Result<axum::body::Bytes, Error>>,
    key_source: KeySourceInfo,
) -> Response {
    let events = events.map(|item| {
        Ok::<_, Infallible>(item.unwrap_or_else(|e| {
            crate::edge::error::log(&e);
            let mut frame = b"data: ".to_vec();
            frame.extend(serde_json::to_vec(&openai_error(&e)).unwrap_or_default());
            frame.extend(b"\n\n");
            frame.into()
        }))
    });
    let mut response = axum::body::Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    say_key_source(headers, key_source);
    response
}

/// `X-Converra-Dropped-Fields`: the advisory fields a translated request left out.
fn with_dropped(mut response: Response, dropped: &[String]) -> Response {
    if let Ok(value) = HeaderValue::try_from(dropped.join(", "))
        && !dropped.is_empty()
    {
        response.headers_mut().insert(DROPPED, value);
    }
    response
}

const DROPPED: HeaderName = HeaderName::from_static("x-converra-dropped-fields");

/// The models of the providers this caller can reach, in OpenAI's list shape (Anthropic's when
/// the request carries `anthropic-version`).
pub async fn models(State(core): State<Arc<Core>>, caller: Caller, headers: HeaderMap) -> Response {
    if super::messages::speaks_anthropic(&headers) {
        return super::messages::models(core, caller).await.into_response();
    }
    openai_models(core, caller).await.into_response()
}

async fn openai_models(core: Arc<Core>, caller: Caller) -> Result<axum::Json<ModelList>, OpenAiApiError> {
    let data = core
        .available_models(&caller)
        .await?
        .into_iter()
        .map(|(provider, model)| ModelEntry {
            id: format!("{provider}/{model}"),
            object: "model".into(),
            created: 0,
            owned_by: provider.as_str().into(),
        })
        .collect();
    Ok(axum::Json(ModelList { object: "list".into(), data }))
}

/// The `/v1` routes, with their own body limit (the 413 says which).
pub fn routes(core: Arc<Core>, body_limit: usize) -> axum::Router<Arc<Core>> {
    axum::Router::new()
        // Another method (`GET`: the provider's stored-completion list) is a 404, never a relay.
        .route("/v1/chat/completions", axum::routing::post(chat_completions).fallback(super::messages::not_found))
        .route("/v1/models", axum::routing::get(models))
        .merge(super::responses::routes())
        .route_layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .route_layer(axum::Extension(crate::edge::BodyLimit(body_limit)))
        .route_layer(auth::RequireApiKey::layer(core, OpenAiGate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_take_openais_shape() {
        let e = openai_error(&Error::Unauthorized(crate::core::AuthError::Invalid));
        assert_eq!(e.error.kind, "invalid_request_error");
        assert_eq!(e.error.code.as_deref(), Some("invalid_api_key"));
        assert_eq!(e.error.message, "Invalid API key");
    }
}
