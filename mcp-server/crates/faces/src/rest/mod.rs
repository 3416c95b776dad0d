//! The HTTP faces: REST under `/api/v1`, health probes, and (mounted by `app.rs`) MCP. Handlers
//! are a few lines over core functions; the error mapping is `error.rs`, once.

mod completions;
pub mod extract;
mod messages;
mod openai_compat;
mod relay;
mod resources;
mod responses;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::auth;
use crate::http::error::ApiError;
use converra_core::{Core, Error};

/// The routes that need an API key; the agent endpoints (`/v1`) read bodies up to
/// `v1_body_limit`, the others up to the app's body limit.
pub fn api_routes(core: Arc<Core>, v1_body_limit: usize) -> Router<Arc<Core>> {
    use resources as r;
    Router::new()
        .route("/api/v1/me", get(r::me))
        .route("/api/v1/api-keys", post(r::create_api_key).get(r::list_api_keys))
        .route("/api/v1/api-keys/{id}", axum::routing::delete(r::revoke_api_key))
        .route("/api/v1/members", post(r::create_member).get(r::list_members))
        .route("/api/v1/members/{id}", axum::routing::patch(r::update_member).delete(r::remove_member))
        .route("/api/v1/projects", post(r::create_project).get(r::list_projects))
        .route("/api/v1/projects/{id}", get(r::get_project).delete(r::delete_project))
        .route("/api/v1/provider-keys", post(r::add_provider_key).get(r::list_provider_keys))
        .route("/api/v1/provider-keys/resolve", get(r::resolve_provider_key))
        .route("/api/v1/provider-keys/connect-links", post(r::create_connect_link))
        .route(
            "/api/v1/provider-keys/{id}",
            get(r::get_provider_key).put(r::update_provider_key).delete(r::remove_provider_key),
        )
        .route("/api/v1/provider-keys/{id}/activate", post(r::activate_provider_key))
        .route("/api/v1/provider-keys/{id}/test", post(r::test_provider_key))
        .route("/api/v1/completions", post(completions::create))
        .route("/api/v1/usage", get(completions::usage))
        .route("/api/v1/budgets", get(r::list_budgets).put(r::set_budget).delete(r::delete_budget))
        .route("/api/v1/audit-events", get(r::audit_events))
        .route("/api/v1/settings/ai", get(r::get_ai_settings).put(r::update_ai_settings))
        .route_layer(auth::RequireApiKey::layer(core.clone(), auth::Rest))
        .merge(openai_compat::routes(core.clone(), v1_body_limit))
        .merge(messages::routes(core, v1_body_limit))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(core): State<Arc<Core>>) -> Response {
    if core.ready().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError(Error::NotFound("Route"))
}

async fn method_not_allowed() -> ApiError {
    ApiError(Error::MethodNotAllowed)
}

/// A handler that panicked answers JSON 500 `INTERNAL` like any internal error, instead of a
/// dropped connection. The panic's payload is not logged: it could quote anything.
fn panicked(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let inner = converra_core::InternalError::Other("a request handler panicked".into());
    ApiError(Error::Internal(inner)).into_response()
}

/// Wraps the routes with what every answer needs: a body limit, the buffered-bytes budget of
/// `/v1`, request ids, JSON 404/405, JSON 500 for a panic, the request metrics when they are
/// on, and a trace span that records the path (a token in a link's path replaced by its
/// template) but never the query string or headers.
///
/// One stack, applied once: axum wraps every route in each `Router::layer` separately, and
/// each wrapping boxes the request's future and clones the route once more per request
/// (`docs/performance.md`, "Fifth round").
pub fn finish(router: Router<Arc<Core>>, core: Arc<Core>, body_limit: usize, v1_buffer_budget: usize) -> Router {
    // Inside the routing (so the route template is known), outside the panic catcher.
    let metrics = core.metrics().is_enabled().then(|| crate::http::metrics::Record::layer(core.metrics().clone()));
    router
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(core)
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::Extension(crate::http::budget::BufferBudget::new(v1_buffer_budget)))
                .layer(crate::http::outer::Outer::layer(body_limit))
                .layer(axum::extract::DefaultBodyLimit::max(body_limit))
                .option_layer(metrics)
                // The panic catcher's answer has a body type of its own.
                .map_response(IntoResponse::into_response)
                .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked)),
        )
}
