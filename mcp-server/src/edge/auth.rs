//! Authentication middleware for every `/api/v1`, `/v1` and `/api/mcp` request: the caller goes
//! into the request's extensions, and the rate-limit headers onto the answer. A refusal is
//! rendered in the face's own error shape.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, rate_limit_headers};
use crate::core::{Core, Error};

pub async fn require_api_key(State(core): State<Arc<Core>>, req: Request, next: Next) -> Response {
    authenticated(&core, req, next, ApiError).await
}

/// Authenticates the request, runs the rest with the caller in its extensions and adds the
/// rate-limit headers; `reject` renders a refusal in the face's own error shape.
pub(crate) async fn authenticated<E: IntoResponse>(
    core: &Core,
    mut req: Request,
    next: Next,
    reject: impl FnOnce(Error) -> E,
) -> Response {
    // A `HeaderValue` clone shares its bytes: no copy of the token.
    let header = req.headers().get(AUTHORIZATION).cloned();
    match core.authenticate(header.as_ref().map(|v| v.as_bytes())).await {
        Ok((caller, limits)) => {
            req.extensions_mut().insert(caller);
            let mut response = next.run(req).await;
            rate_limit_headers(response.headers_mut(), &limits);
            response
        }
        Err(e) => reject(e).into_response(),
    }
}
