//! The HTTP edge that both HTTP faces share — the REST and OpenAI-compatible routes (`http/`)
//! and MCP over Streamable HTTP (`mcp/`): authentication middleware, the HTTP error mapping and
//! the logging of internal errors. A neutral module, so that no face imports another.

pub mod auth;
pub mod error;

use std::sync::atomic::{AtomicUsize, Ordering};

static BODY_LIMIT: AtomicUsize = AtomicUsize::new(1024 * 1024);

/// The configured largest request body (`CONVERRA_BODY_LIMIT`), for the 413 message and for
/// the faces that read a whole body themselves.
pub fn body_limit() -> usize {
    BODY_LIMIT.load(Ordering::Relaxed)
}

pub(crate) fn set_body_limit(limit: usize) {
    BODY_LIMIT.store(limit, Ordering::Relaxed);
}
