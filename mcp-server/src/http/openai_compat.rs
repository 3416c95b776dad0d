//! The OpenAI-compatible face: `POST /v1/chat/completions` (streaming and not) and
//! `GET /v1/models`, so official OpenAI clients and agents work by changing only their base URL
//! and key. A chat request is checked at its top level (`ChatView`) and handed to the core,
//! which forwards it as written (OpenAI, DeepSeek: the answer comes back as the provider sent
//! it) or translates it (Anthropic, Gemini: rendered here in OpenAI's shapes). Errors take
//! OpenAI's shape, with `x-should-retry: false` on every refusal that a retry cannot change.
//! The project comes from `X-Converra-Project`; which key paid goes back in
//! `X-Converra-Key-Source` and `X-Converra-Key-Id`. Bodies are read up to the `/v1` limit.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use converra::{CompletionChunk, ErrorCode, FinishReason, KeySourceInfo};
use futures_util::StreamExt;

use crate::core::{Caller, ChatAnswer, Core, Error, ids};
use crate::edge::auth;
use crate::edge::error::{error_headers, say_key_source};
use crate::openai_wire::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatView, Choice, ChunkChoice, Delta, ModelEntry, ModelList,
    OpenAiError, OpenAiErrorBody, WireUsage,
};

/// A core error in OpenAI's error shape.
pub struct OpenAiApiError(pub Error);

impl From<Error> for OpenAiApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub(super) fn openai_error(e: &Error) -> OpenAiError {
    let body = e.body().error;
    let kind = match body.code {
        ErrorCode::RateLimited => "rate_limit_error",
        ErrorCode::AllowanceExhausted => "insufficient_quota",
        ErrorCode::ProviderError | ErrorCode::Unavailable | ErrorCode::Internal => "api_error",
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
        crate::edge::error::log(&self.0);
        let status = StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(openai_error(&self.0))).into_response();
        error_headers(response.headers_mut(), &self.0);
        if !self.0.may_succeed_on_retry() {
            // The official SDKs retry 409 and 5xx unless told that it would change nothing.
            response.headers_mut().insert(SHOULD_RETRY, HeaderValue::from_static("false"));
        }
        response
    }
}

const SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");

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

fn finish_name(reason: FinishReason) -> String {
    match reason {
        FinishReason::Other => "stop".into(),
        r => r.as_str().into(),
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
    let response = match core.openai_chat(&caller, &view, project_id).await? {
        ChatAnswer::Forwarded { body, key_source } => {
            let mut response = body.into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            say_key_source(response.headers_mut(), key_source);
            response
        }
        ChatAnswer::ForwardedStream { events, key_source } => {
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
        ChatAnswer::Translated { mut completion, dropped } => {
            let model = view.model.clone().into_owned();
            let source =
                KeySourceInfo { key_id: completion.key_source.key_id.take(), masked: None, ..completion.key_source };
            let mut response = axum::Json(whole_answer(completion, model, ids::unix_now())).into_response();
            say_key_source(response.headers_mut(), source);
            say_dropped(response.headers_mut(), &dropped);
            response
        }
        ChatAnswer::TranslatedStream { chunks, dropped } => {
            let mut response = translated_stream(chunks, view.model.clone().into_owned(), view.include_usage).await;
            say_dropped(response.headers_mut(), &dropped);
            response
        }
    };
    Ok(response)
}

/// A translated stream in OpenAI's `chat.completion.chunk` shape.
async fn translated_stream(
    mut chunks: crate::core::completions::CompletionStream,
    model: String,
    include_usage: bool,
) -> Response {
    let created = ids::unix_now();
    // The first item, ready at once, names the key that pays: into the headers.
    let first = chunks.next().await;
    let source = match &first {
        Some(Ok(CompletionChunk { key_source: Some(source), .. })) => Some(source.clone()),
        _ => None,
    };
    let chunks = futures_util::stream::iter(first).chain(chunks);
    let chunk = move |id: &str, delta: Delta, finish: Option<String>, usage: Option<WireUsage>, choices: bool| {
        ChatCompletionChunk {
            id: format!("chatcmpl-{}", id.trim_start_matches("cmpl_")),
            object: "chat.completion.chunk".into(),
            created,
            model: model.clone(),
            choices: if choices { vec![ChunkChoice { index: 0, delta, finish_reason: finish }] } else { vec![] },
            usage,
        }
    };
    let events = chunks
        .flat_map(move |item| {
            let out: Vec<Event> = match item {
                Ok(c) if c.key_source.is_some() => vec![json_event(&chunk(
                    &c.id,
                    Delta { role: Some("assistant".into()), content: Some(String::new()) },
                    None,
                    None,
                    true,
                ))],
                Ok(c) => match (c.finish_reason, c.usage) {
                    (Some(reason), usage) => {
                        let mut v =
                            vec![json_event(&chunk(&c.id, Delta::default(), Some(finish_name(reason)), None, true))];
                        if let (true, Some(u)) = (include_usage, usage) {
                            v.push(json_event(&chunk(&c.id, Delta::default(), None, Some(wire_usage(u)), false)));
                        }
                        v
                    }
                    (None, _) => {
                        vec![json_event(&chunk(&c.id, Delta { role: None, content: Some(c.delta) }, None, None, true))]
                    }
                },
                Err(e) => {
                    crate::edge::error::log(&e);
                    vec![json_event(&openai_error(&e))]
                }
            };
            futures_util::stream::iter(out)
        })
        .chain(futures_util::stream::once(async { Event::default().data("[DONE]") }))
        .map(Ok::<_, Infallible>);
    let mut response = Sse::new(events).into_response();
    if let Some(source) = source {
        say_key_source(response.headers_mut(), source);
    }
    response
}

/// `X-Converra-Dropped-Fields`: the advisory fields a translated request left out.
fn say_dropped(headers: &mut HeaderMap, dropped: &[&str]) {
    if let Ok(value) = HeaderValue::try_from(dropped.join(", "))
        && !dropped.is_empty()
    {
        headers.insert(DROPPED, value);
    }
}

const DROPPED: HeaderName = HeaderName::from_static("x-converra-dropped-fields");

/// A whole completion in OpenAI's `chat.completion` shape.
fn whole_answer(c: converra::Completion, model: String, created: u64) -> ChatCompletion {
    ChatCompletion {
        id: format!("chatcmpl-{}", c.id.trim_start_matches("cmpl_")),
        object: "chat.completion".into(),
        created,
        model,
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage { role: "assistant".into(), content: Some(c.content), refusal: None },
            logprobs: None,
            finish_reason: Some(finish_name(c.finish_reason)),
        }],
        usage: Some(wire_usage(c.usage)),
        system_fingerprint: None,
    }
}

fn wire_usage(u: converra::Usage) -> WireUsage {
    WireUsage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.input_tokens + u.output_tokens,
    }
}

fn json_event<T: serde::Serialize>(value: &T) -> Event {
    Event::default().json_data(value).unwrap_or_else(|_| Event::default().data("{}"))
}

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
