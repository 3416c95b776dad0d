//! The HTTP edge that both HTTP faces share — the REST and OpenAI-compatible routes (`http/`)
//! and MCP over Streamable HTTP (`mcp/`): authentication middleware, the HTTP error mapping and
//! the logging of internal errors. A neutral module, so that no face imports another.

pub mod auth;
pub mod error;
