//! The MCP face's interface as the tests see it: the tool list, and `tools/call` through any
//! rmcp client (Streamable HTTP in `tests/e2e`, stdio in `mcp-server/tests/binary`).

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

use crate::app::TestApp;

/// The MCP tools' names, sorted: part of the interface.
pub const MCP_TOOLS: [&str; 8] = [
    "add_provider_key",
    "get_usage",
    "list_provider_keys",
    "resolve_provider_key",
    "revoke_provider_key",
    "run_completion",
    "set_budget",
    "test_provider_key",
];

/// An rmcp client, over any transport.
pub type Client = RunningService<RoleClient, ()>;

/// The official rmcp client over Streamable HTTP at `app`'s `/api/mcp`, sending
/// `Authorization: Bearer key` on every request.
pub async fn connect(app: &TestApp, key: &str) -> Client {
    connect_to(app.url("/api/mcp"), key).await
}

/// The same client at the MCP endpoint `url` (a server of any kind, e.g. the real binary's
/// `{base}/api/mcp`).
pub async fn connect_to(url: String, key: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(key);
    ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("the MCP client initializes")
}

/// Calls `tool` with `arguments` (a JSON object); a protocol error fails the test, a tool error
/// is the caller's to inspect.
pub async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else { panic!("arguments must be an object") };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool} answered with a protocol error: {e}"))
}
