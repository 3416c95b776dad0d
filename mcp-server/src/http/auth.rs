//! Authentication middleware for every `/api/v1`, `/v1` and `/api/mcp` request: the caller goes
//! into the request's extensions, and the rate-limit headers onto the answer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, rate_limit_headers};
use crate::core::Core;

pub async fn require_api_key(State(core): State<Arc<Core>>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    match core.authenticate(header.as_deref()).await {
        Ok((caller, limits)) => {
            req.extensions_mut().insert(caller);
            let mut response = next.run(req).await;
            rate_limit_headers(response.headers_mut(), &limits);
            response
        }
        Err(e) => ApiError(e).into_response(),
    }
}
