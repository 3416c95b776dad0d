//! The MCP face: the eight tools of `tools.rs` over Streamable HTTP at `/api/mcp` (in the same
//! axum app, behind the same API-key middleware as REST) and over stdio (`converra mcp`).
//!
//! HTTP is stateless with plain JSON answers: no session can carry one key's identity into
//! another key's calls, every request is authenticated and rate limited like REST, and any
//! replica can answer any request. The caller reaches each tool as an argument
//! ([`extract::Authenticated`]); core errors become tool errors in one place (`error.rs`).

mod add_key;
mod auth;
pub mod error;
pub mod extract;
mod prompts;
mod resources;
mod schema;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, ServiceExt, tool_handler};
use secrecy::{ExposeSecret, SecretString};

use converra_core::Core;
use converra_core::access::Bucket;
use error::ToolError;

/// Where the Streamable HTTP endpoint is mounted.
pub const PATH: &str = "/api/mcp";

/// What the model is told about the server at `initialize`.
pub const INSTRUCTIONS: &str = "\
Converra is this organization's vault for its own AI provider keys (OpenAI, Anthropic, Google Gemini, DeepSeek) \
and a gateway that runs completions with them. Every call acts as the Converra API key this server was configured \
with: that member's role in one organization, in that key's environment (live or test).
- Which provider keys exist and whether they work: list_provider_keys; check one with the provider: test_provider_key.
- Which key a completion would use, and why: resolve_provider_key.
- Run a prompt on a provider's model with the organization's key: run_completion.
- Token usage, spend in dollars, budgets and the plan's remaining monthly allowance: get_usage.
- A monthly budget in dollars on the organization, a project, an API key or a member (admins): set_budget.
- Store a key: call add_provider_key WITHOUT api_key; it answers with a one-time link (connect_link.url) for the \
user to open in a browser, where they paste the key, so the secret never enters this conversation (in a terminal, \
`converra keys add` does the same from stdin). Pass api_key only when the user has chosen to give the key here.
- Remove a key for good: revoke_provider_key (irreversible: confirm with the user first).
Members may list, resolve, run completions and read usage; admins and owners also add, test and revoke keys. \
Errors are tool errors whose text is {\"error\": {\"code\", \"message\"}}: FORBIDDEN (role too low), NOT_FOUND \
(no such object in this organization), VALIDATION_ERROR (which argument, why), NO_PROVIDER_KEY, PROVIDER_ERROR, \
KEY_REJECTED (a key tested on add that its provider refused; `stored: false`: nothing was stored).";

/// The MCP server: one value per HTTP request (stateless), or one for a stdio session.
pub struct ConverraMcp {
    core: Arc<Core>,
    /// Built once; cloned by reference into every per-request server.
    tool_router: Arc<ToolRouter<Self>>,
    /// Stdio only: the API key, resolved again before every call so that revocation, expiry
    /// and role changes apply at once, as over HTTP.
    stdio_key: Option<Arc<SecretString>>,
}

impl ConverraMcp {
    fn new(core: Arc<Core>, tool_router: Arc<ToolRouter<Self>>, stdio_key: Option<Arc<SecretString>>) -> Self {
        Self { core, tool_router, stdio_key }
    }

    /// Who is calling, for the handlers that are not tools: over HTTP the auth middleware's
    /// caller, over stdio the configured key, resolved again now.
    async fn caller(&self, context: &RequestContext<RoleServer>) -> Result<converra_core::Caller, rmcp::ErrorData> {
        if let Some(key) = &self.stdio_key {
            return self
                .core
                .caller_for_token(key.expose_secret())
                .await
                .map_err(|e| rmcp::ErrorData::invalid_request(e.to_string(), None));
        }
        context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<converra_core::Caller>())
            .cloned()
            .ok_or_else(|| rmcp::ErrorData::internal_error("the request is not authenticated", None))
    }

    /// The tools, with schemas every client accepts (see `schema.rs`).
    fn portable_tool_router() -> ToolRouter<Self> {
        let mut router = Self::tool_router();
        schema::make_portable(&mut router);
        router
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ConverraMcp {
    // Logging is deprecated by the next MCP revision (SEP-2577), but clients and the
    // conformance suite of today's revision still ask for it.
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder().enable_tools().enable_prompts().enable_resources().enable_logging().build(),
        )
        .with_server_info(Implementation::new("converra", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_prompts(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListPromptsResult, rmcp::ErrorData> {
        Ok(rmcp::model::ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetPromptResponse, rmcp::ErrorData> {
        prompts::get(&request.name, request.arguments.as_ref())
            .map(Into::into)
            .map_err(|prompts::PromptError(why)| rmcp::ErrorData::invalid_params(why, None))
    }

    async fn list_resources(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, rmcp::ErrorData> {
        Ok(rmcp::model::ListResourcesResult::with_all_items(resources::list()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, rmcp::ErrorData> {
        Ok(rmcp::model::ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, rmcp::ErrorData> {
        let caller = self.caller(&context).await?;
        match resources::read(&self.core, &caller, &request.uri).await {
            Ok(contents) => Ok(rmcp::model::ReadResourceResult::new(vec![contents]).into()),
            Err(resources::ReadError::Unknown) => {
                Err(rmcp::ErrorData::resource_not_found(format!("no resource {}", request.uri), None))
            }
            Err(resources::ReadError::Core(e)) => {
                let body = e.body();
                Err(rmcp::ErrorData::invalid_params(body.error.message.clone(), serde_json::to_value(&body).ok()))
            }
        }
    }

    /// Accepted, and that is all: over stateless HTTP there is no stream to send log
    /// notifications on, and over stdio the server's own log goes to stderr (see the README).
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        tracing::debug!(level = ?request.level, "MCP client asked for a log level");
        Ok(())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        if let Some(key) = &self.stdio_key {
            // The plan bucket, as over HTTP: a refusal is a RATE_LIMITED tool result.
            match self.core.admit_token(key.expose_secret(), Bucket::Plan).await {
                Ok((caller, _)) => {
                    context.extensions.insert(caller);
                }
                Err(e) => return Ok(ToolError(e).into_result().into()),
            }
        }
        // Over HTTP the edge waits for the provider time of this request on another task.
        let wait = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<converra_metrics::wait::SharedWait>())
            .cloned();
        converra_metrics::wait::carry(wait, self.tool_router.call(ToolCallContext::new(self, request, context))).await
    }
}

/// The hosts the MCP endpoint allows when `CONVERRA_MCP_ALLOWED_HOSTS` names none.
pub const DEFAULT_ALLOWED_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What the MCP endpoint takes from the configuration (`app.rs` builds it): the hosts and
/// origins rmcp's DNS-rebinding check allows (`CONVERRA_MCP_ALLOWED_HOSTS`,
/// `CONVERRA_MCP_ALLOWED_ORIGINS`) and the body limit (`CONVERRA_BODY_LIMIT`).
#[derive(Debug, Clone)]
pub struct McpConfig {
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub body_limit: usize,
}

/// The Streamable HTTP transport's settings: stateless JSON, the configured hosts and origins,
/// the configured body limit.
fn http_config(config: &McpConfig) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(config.allowed_hosts.clone())
        .with_allowed_origins(allowed_origins(config))
        .enforce_origin_validation()
        .with_max_request_body_bytes(config.body_limit)
}

/// The configured origins; when none are, the http(s) origins of the allowed hosts (any port),
/// so a page served from another site is refused while local tools that send their own
/// origin still work. Requests without `Origin` (most MCP clients) always pass.
fn allowed_origins(config: &McpConfig) -> Vec<String> {
    if !config.allowed_origins.is_empty() {
        return config.allowed_origins.clone();
    }
    let mut origins = Vec::new();
    for host in &config.allowed_hosts {
        let authority = if host.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{host}]:*")
        } else if host.contains(':') {
            host.clone()
        } else {
            format!("{host}:*")
        };
        origins.push(format!("http://{authority}"));
        origins.push(format!("https://{authority}"));
    }
    origins
}

/// The MCP endpoint's DNS-rebinding check — rmcp's own, on `Host` and `Origin`, with this
/// configuration — as a layer for another listener: `/metrics` on `CONVERRA_METRICS_ADDR`,
/// which a page that rebinds its name to that address could otherwise read. One check, so
/// both refuse the same requests with the same answer (403).
#[derive(Clone)]
pub struct RebindingCheck(StreamableHttpService<ConverraMcp, NeverSessionManager>);

impl RebindingCheck {
    /// The MCP endpoint's hosts and origins, and `also` (the listener's own address).
    pub fn new(config: &McpConfig, also: Option<String>) -> Self {
        let mut http = http_config(config);
        http.allowed_hosts.extend(also);
        let never = || Err(std::io::Error::other("a Host check serves no MCP"));
        Self(StreamableHttpService::new(never, Arc::new(NeverSessionManager::default()), http))
    }

    /// rmcp's refusal of this request's `Host` or `Origin`, if it refuses them. rmcp checks
    /// them before anything else; a GET, which the stateless endpoint does not serve, then
    /// stops at 405 without touching a server.
    async fn refusal(&self, uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Option<axum::response::Response> {
        let mut probe = axum::extract::Request::new(axum::body::Body::empty());
        (*probe.uri_mut(), *probe.headers_mut()) = (uri, headers);
        let answer = self.0.handle(probe).await;
        (answer.status() != axum::http::StatusCode::METHOD_NOT_ALLOWED).then(|| answer.map(axum::body::Body::new))
    }
}

impl crate::http::layer::Wrap for RebindingCheck {
    fn call<S: crate::http::layer::Inner>(
        &self,
        inner: &mut S,
        req: axum::extract::Request,
    ) -> crate::http::layer::Answer {
        let (check, mut inner) = (self.clone(), inner.clone());
        Box::pin(async move {
            match check.refusal(req.uri().clone(), req.headers().clone()).await {
                Some(refusal) => Ok(refusal),
                None => tower::Service::call(&mut inner, req).await,
            }
        })
    }
}

/// The MCP routes: `/api/mcp`, authenticated and rate limited by the REST middleware. No OAuth
/// discovery documents are served (the router's fallback answers them 404), so clients use the
/// configured `Authorization: Bearer` header.
pub fn routes(core: Arc<Core>, config: &McpConfig) -> Router<Arc<Core>> {
    let tool_router = Arc::new(ConverraMcp::portable_tool_router());
    let server_core = core.clone();
    let service = StreamableHttpService::new(
        move || Ok(ConverraMcp::new(server_core.clone(), tool_router.clone(), None)),
        Arc::new(NeverSessionManager::default()),
        http_config(config),
    );
    Router::new().route_service(PATH, service).route_layer(crate::http::auth::RequireApiKey::layer(core, auth::McpGate))
}

/// Why the stdio server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("the MCP client did not initialize: {0}")]
    Initialize(String),
    #[error("the MCP stdio server failed: {0}")]
    Failed(String),
}

/// Serves the tools over stdin/stdout, as the caller `api_key` identifies, until the client
/// closes stdin. The key must already be known to resolve (see `cli/mcp.rs`).
pub async fn serve_stdio(core: Arc<Core>, api_key: SecretString) -> Result<(), StdioError> {
    let server = ConverraMcp::new(core, Arc::new(ConverraMcp::portable_tool_router()), Some(Arc::new(api_key)));
    let running =
        server.serve(rmcp::transport::stdio_pipes()).await.map_err(|e| StdioError::Initialize(e.to_string()))?;
    running.waiting().await.map_err(|e| StdioError::Failed(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refused(check: &RebindingCheck, host: &str) -> Option<u16> {
        let headers = axum::http::HeaderMap::from_iter([(axum::http::header::HOST, host.parse().unwrap())]);
        check.refusal("/metrics".parse().unwrap(), headers).await.map(|r| r.status().as_u16())
    }

    #[tokio::test]
    async fn the_rebinding_check_refuses_a_foreign_host_as_the_mcp_endpoint_does() {
        let config = McpConfig {
            allowed_hosts: DEFAULT_ALLOWED_HOSTS.map(String::from).to_vec(),
            allowed_origins: Vec::new(),
            body_limit: 1 << 20,
        };
        let check = RebindingCheck::new(&config, Some("10.1.2.3".into()));
        assert_eq!(refused(&check, "evil.example.com:9090").await, Some(403));
        assert_eq!(refused(&check, "10.1.2.3.evil.example.com").await, Some(403));
        for allowed in ["127.0.0.1:9090", "localhost", "[::1]:9090", "10.1.2.3:9090"] {
            assert_eq!(refused(&check, allowed).await, None, "{allowed}");
        }
    }
}
