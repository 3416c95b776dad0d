//! The OpenAI-compatible face: `POST /v1/chat/completions` (streaming and not) and
//! `GET /v1/models`, so official OpenAI clients and agents work by changing only their base URL
//! and key. A chat request is checked at its top level (`ChatView`) and handed to the core,
//! which forwards it as written (OpenAI, DeepSeek: the answer comes back as the provider sent
//! it) or translates it (Anthropic, Gemini: the core answers in OpenAI's shapes, and the
//! advisory fields it left out are named in `X-Converra-Dropped-Fields`); either way the answer
//! is rendered by `relay.rs`, like every agent endpoint's (keep-alive comments on a silent
//! stream). Errors take OpenAI's shape, with `x-should-retry: false` on every refusal that a
//! retry cannot change.
//! The project comes from `X-Converra-Project`; which key paid goes back in
//! `X-Converra-Key-Source` and `X-Converra-Key-Id`. Bodies are read up to the `/v1` limit.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use converra::ErrorCode;

use super::extract::Authenticated;
use super::relay;
use crate::http::auth;
use converra_base::error::ErrorShape;
use converra_core::{Caller, ChatAnswer, Core, Error, Relayed};
use converra_wire::openai::{ChatView, ModelEntry, ModelList, OpenAiError, OpenAiErrorBody};

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
        (None, ErrorCode::AllowanceExhausted | ErrorCode::BudgetExceeded) => "insufficient_quota",
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
        relay::error_response(&self.0, ErrorShape::OpenAi, openai_error(&self.0))
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

/// Forwarded or translated, whole or streamed, as the core decides, rendered as every agent
/// endpoint renders its answers (`relay.rs`): a forwarded answer as the provider sent it, with
/// the headers of its answer a client may see; a stream with keep-alive comments while the
/// provider is silent.
pub async fn chat_completions(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OpenAiApiError> {
    let view = ChatView::parse(&body)?;
    let project_id = project_of(&headers)?;
    let keep_alive = core.stream_keep_alive();
    let render = |relayed| relay::render(relayed, error_event, keep_alive);
    Ok(match core.openai_chat(&caller, &view, project_id).await? {
        ChatAnswer::Forwarded(relayed) => render(relayed),
        ChatAnswer::Translated { body, headers, key_source, dropped } => {
            with_dropped(render(Relayed::Whole { body, headers, key_source }), &dropped)
        }
        ChatAnswer::TranslatedStream { events, key_source, dropped } => {
            with_dropped(render(Relayed::Stream { events, headers: HeaderMap::new(), key_source }), &dropped)
        }
    })
}

/// An error that ends a chat stream, as OpenAI's SDKs read one: a `data:` event holding
/// OpenAI's error object.
fn error_event(e: &Error) -> Bytes {
    crate::http::error::log(e);
    let mut frame = b"data: ".to_vec();
    frame.extend(serde_json::to_vec(&openai_error(e)).unwrap_or_default());
    frame.extend(b"\n\n");
    frame.into()
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
pub async fn models(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
) -> Response {
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
        .route_layer(crate::http::auth::v1_layers(core, OpenAiGate, body_limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_take_openais_shape() {
        let e = openai_error(&Error::Unauthorized(converra_core::AuthError::Invalid));
        assert_eq!(e.error.kind, "invalid_request_error");
        assert_eq!(e.error.code.as_deref(), Some("invalid_api_key"));
        assert_eq!(e.error.message, "Invalid API key");
    }
}
