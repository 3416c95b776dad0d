//! Authentication and rate limiting of `/api/mcp`, by what each request is. `tools/call` and
//! `resources/read` are work (a resource is a tool's answer: the usage report flushes usage and
//! aggregates a month), and spend the key's plan bucket; everything else (`initialize`,
//! notifications, the `GET` stream request, `ping`, `tools/list`, `resources/list`, …) is
//! protocol, and spends the protocol bucket (10× the plan's rate), so that opening sessions
//! never locks a user out of their tools. A
//! rate-limited `tools/call` is answered as a tool result (`isError: true`, `RATE_LIMITED`, the
//! seconds to wait) that the model can read and act on, not as an HTTP 429 that clients turn
//! into a generic transport failure.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ToolError;
use crate::http::auth::{Admitted, Gate};
use crate::http::error::{ApiError, rate_limit_headers};
use converra_core::access::Bucket;
use converra_core::{Core, Error, RateLimitInfo};

/// The two fields of a JSON-RPC message this layer reads.
#[derive(Deserialize)]
struct Envelope {
    method: Option<String>,
    id: Option<serde_json::Value>,
}

/// MCP's gate: the bucket by what the message is, a refused `tools/call` as a tool result.
#[derive(Clone, Copy)]
pub struct McpGate;

impl Gate for McpGate {
    async fn admit(self, core: Arc<Core>, req: Request) -> Admitted {
        let (parts, body) = req.into_parts();
        let limit = crate::http::BodyLimit::of(&parts.extensions);
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return Err(ApiError(Error::PayloadTooLarge { limit }).into_response());
        };
        let envelope = serde_json::from_slice::<Envelope>(&bytes).ok();
        let method = envelope.as_ref().and_then(|e| e.method.as_deref());
        let tool_call = method == Some("tools/call");
        let work = tool_call || method == Some("resources/read");
        let bucket = if work { Bucket::Plan } else { Bucket::Protocol };
        let header = parts.headers.get(AUTHORIZATION).map(|v| v.as_bytes());
        let (caller, limits) = match core.authenticate_for(header, bucket).await {
            Ok(ok) => ok,
            Err(Error::RateLimited(info)) if tool_call => {
                let id = envelope.and_then(|e| e.id).unwrap_or(serde_json::Value::Null);
                return Err(rate_limited_tool_result(id, info));
            }
            Err(e) => return Err(ApiError(e).into_response()),
        };
        let mut req = Request::from_parts(parts, Body::from(bytes));
        req.extensions_mut().insert(caller);
        Ok((req, limits))
    }
}

/// A JSON-RPC answer to `id` whose result is the `RATE_LIMITED` tool error of `info`.
fn rate_limited_tool_result(id: serde_json::Value, info: RateLimitInfo) -> Response {
    let result = ToolError(Error::RateLimited(info)).into_result();
    let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result});
    let mut response = (StatusCode::OK, Bytes::from(body.to_string())).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    rate_limit_headers(response.headers_mut(), &info);
    response
}
