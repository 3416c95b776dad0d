//! The one mapping from core errors to MCP tool errors: a result with `isError: true` whose text
//! is the REST error body (`{"error": {"code", "message", ...}}`), so a model reads the same code
//! and message a REST client gets. Internal failures are logged here and shown only as
//! `INTERNAL` / "Internal error".
//!
//! No `structuredContent` on errors: clients validate `structuredContent` against the tool's
//! `outputSchema` even on errors, and an error body is not a `Completion`.

use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};

use converra_core::Error;

/// A core error on its way out as a tool error.
#[derive(Debug)]
pub struct ToolError(pub Error);

impl From<Error> for ToolError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl ToolError {
    /// The tool result a client sees.
    pub fn into_result(self) -> CallToolResult {
        crate::http::error::log(&self.0);
        let text = serde_json::to_string(&self.0.body())
            .unwrap_or_else(|_| r#"{"error":{"code":"INTERNAL","message":"Internal error"}}"#.to_owned());
        CallToolResult::error(vec![ContentBlock::text(text)])
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        Ok(self.into_result().into())
    }
}
