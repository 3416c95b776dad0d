//! The MCP face (Streamable HTTP at `/api/mcp`, and stdio): coming with the MCP issue.

use std::sync::Arc;

use axum::Router;

use crate::config::Config;
use crate::core::Core;

/// The MCP routes (none yet).
pub fn routes(_core: Arc<Core>, _config: &Config) -> Router<Arc<Core>> {
    Router::new()
}
