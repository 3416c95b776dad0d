//! The Anthropic face: `POST /v1/messages` (whole and streamed) and
//! `POST /v1/messages/count_tokens`, so Claude Code (`ANTHROPIC_BASE_URL`) and the Anthropic SDKs
//! work by changing only their base URL and key; `GET /v1/models` answers in Anthropic's shape
//! when asked with `anthropic-version` (`openai_compat.rs` routes it here). The Converra key
//! comes as `x-api-key` or `Authorization: Bearer`. A body is checked at its top level
//! (`MessagesView`) and handed to the core, which forwards it; the answer goes back as the
//! provider sent it (`relay.rs`: a stream event by event, with SSE comments while the provider
//! is silent) with its `request-id`, `retry-after` and `anthropic-ratelimit-*` headers. Errors take
//! Anthropic's shape with Converra's code beside the message, and `x-should-retry: false` on
//! every refusal a retry cannot change. Any other `/v1` path answers 404 in the shape of the API
//! the request speaks (Anthropic's when it carries `anthropic-version`, else OpenAI's).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use converra::ErrorCode;

use super::extract::Authenticated;
use super::openai_compat::{OpenAiApiError, project_of};
use crate::http::auth;
use converra_base::error::ErrorShape;
use converra_core::{AnthropicHeaders, Caller, Core, Error, Relayed, TokenCount};
use converra_wire::anthropic::{ErrorEnvelope, MessagesView, ModelPage, TokenCount as Count};

/// A core error in Anthropic's error shape.
pub struct AnthropicApiError(pub Error);

impl From<Error> for AnthropicApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// Anthropic's error `type` for each of Converra's codes (what the Anthropic SDKs raise on).
fn error_type(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Unauthorized => "authentication_error",
        ErrorCode::Forbidden => "permission_error",
        ErrorCode::NotFound => "not_found_error",
        ErrorCode::PayloadTooLarge => "request_too_large",
        ErrorCode::RateLimited => "rate_limit_error",
        ErrorCode::AllowanceExhausted | ErrorCode::BudgetExceeded => "billing_error",
        ErrorCode::ProviderError | ErrorCode::Internal => "api_error",
        ErrorCode::Unavailable => "overloaded_error",
        // Every other code is the caller's to fix.
        _ => "invalid_request_error",
    }
}

/// Anthropic's error `type` for a provider's HTTP status (its errors page), for a refusal of a
/// provider that spoke another API.
fn status_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500.. => "api_error",
        _ => "invalid_request_error",
    }
}

/// `{"type": "error", "error": {"type", "message", "code", …details}}`: Converra's code and
/// message, or a provider's refusal in its own words and type (re-shaped by its status when the
/// provider spoke another API), Converra's code beside.
fn anthropic_error(e: &Error) -> ErrorEnvelope {
    let mut body = e.body().error;
    let kind = match e.provider_answer() {
        Some(answer) => {
            if let Some(message) = &answer.message {
                body.message = message.clone();
            }
            answer.kind_in(ErrorShape::Anthropic).unwrap_or_else(|| status_type(answer.status))
        }
        None => error_type(body.code.clone()),
    };
    let mut error = serde_json::to_value(&body).unwrap_or_default();
    if let Some(map) = error.as_object_mut() {
        map.insert("type".into(), kind.into());
    }
    ErrorEnvelope { kind: "error", error }
}

impl IntoResponse for AnthropicApiError {
    fn into_response(self) -> Response {
        super::relay::error_response(&self.0, ErrorShape::Anthropic, anthropic_error(&self.0))
    }
}
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");

/// The same authentication as every face, the key as `Authorization: Bearer` or (Anthropic's
/// own way) `x-api-key`; refusals in Anthropic's shape.
#[derive(Clone, Copy)]
pub(super) struct AnthropicGate;

impl auth::Gate for AnthropicGate {
    async fn admit(self, core: Arc<Core>, mut req: Request) -> auth::Admitted {
        if !req.headers().contains_key(AUTHORIZATION)
            && let Some(key) = req.headers().get(X_API_KEY)
            && let Ok(bearer) = HeaderValue::from_bytes(&[b"Bearer ", key.as_bytes()].concat())
        {
            req.headers_mut().insert(AUTHORIZATION, bearer);
        }
        auth::admit_with(&core, req, AnthropicApiError).await
    }
}

/// Whether a request speaks Anthropic's API (so its answer takes Anthropic's shapes).
pub(super) fn speaks_anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key(ANTHROPIC_VERSION)
}

/// A request body read within the `/v1` limit; over it, Anthropic's error shape with 413.
pub struct Body(Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = AnthropicApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Body(super::extract::read_body(req, state).await?))
    }
}

fn client_headers(headers: &HeaderMap) -> AnthropicHeaders {
    AnthropicHeaders { version: headers.get(ANTHROPIC_VERSION).cloned(), beta: headers.get(ANTHROPIC_BETA).cloned() }
}

/// `POST /v1/messages`: forwarded, whole or streamed, as the core decides.
pub async fn messages(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, AnthropicApiError> {
    let view = MessagesView::parse(&body)?;
    let project_id = project_of(&headers)?;
    let relayed = core.anthropic_messages(&caller, &view, &client_headers(&headers), project_id).await?;
    Ok(render(&core, relayed))
}

/// `POST /v1/messages/count_tokens`: Anthropic's count for a Claude model, Converra's estimate
/// for another provider's (said in `X-Converra-Estimate: true`).
pub async fn count_tokens(
    State(core): State<Arc<Core>>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, AnthropicApiError> {
    let view = MessagesView::parse(&body)?;
    let project_id = project_of(&headers)?;
    Ok(match core.anthropic_count_tokens(&caller, &view, &client_headers(&headers), project_id).await? {
        TokenCount::Forwarded(relayed) => render(&core, relayed),
        TokenCount::Estimated { input_tokens } => {
            let mut response = axum::Json(Count { input_tokens }).into_response();
            response.headers_mut().insert(ESTIMATE, HeaderValue::from_static("true"));
            response
        }
    })
}

const ESTIMATE: HeaderName = HeaderName::from_static("x-converra-estimate");

/// A forwarded answer as the provider sent it, with its relayable headers and which key paid
/// (`relay.rs`, shared by every forwarded API), a failing stream ending in Anthropic's event.
fn render(core: &Core, relayed: Relayed) -> Response {
    super::relay::render(relayed, error_event, core.stream_keep_alive())
}

/// A failure after the stream began, as Anthropic ends a stream that fails: an `error` event.
fn error_event(e: &Error) -> Bytes {
    crate::http::error::log(e);
    let mut frame = b"event: error\ndata: ".to_vec();
    frame.extend(serde_json::to_vec(&anthropic_error(e)).unwrap_or_default());
    frame.extend(b"\n\n");
    frame.into()
}

/// `GET /v1/models` in Anthropic's shape: the models this caller can reach through
/// `/v1/messages` (Claude's, and DeepSeek's through its Anthropic-compatible endpoint).
pub async fn models(core: Arc<Core>, caller: Caller) -> Result<Response, AnthropicApiError> {
    Ok(axum::Json(ModelPage::of(core.messages_models(&caller).await?)).into_response())
}

/// Any `/v1` path not served: 404 in the shape of the API the request speaks.
pub async fn not_found(headers: HeaderMap) -> Response {
    let e = Error::NotFound("Route");
    if speaks_anthropic(&headers) { AnthropicApiError(e).into_response() } else { OpenAiApiError(e).into_response() }
}

/// The Messages routes, with the `/v1` body limit (the 413 in Anthropic's shape), and the 404
/// of every other `/v1` path.
pub fn routes(core: Arc<Core>, body_limit: usize) -> axum::Router<Arc<Core>> {
    axum::Router::new()
        // Another method on these paths is a 404 too, in the shape of the API asked.
        .route("/v1/messages", axum::routing::post(messages).fallback(not_found))
        .route("/v1/messages/count_tokens", axum::routing::post(count_tokens).fallback(not_found))
        .route_layer(crate::http::auth::v1_layers(core, AnthropicGate, body_limit))
        .route("/v1/{*rest}", axum::routing::any(not_found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_take_anthropics_shape_with_converras_code_beside() {
        let e = anthropic_error(&Error::Unauthorized(converra_core::AuthError::Invalid));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "authentication_error");
        assert_eq!(v["error"]["message"], "Invalid API key");
        assert_eq!(v["error"]["code"], "UNAUTHORIZED");
    }
}
