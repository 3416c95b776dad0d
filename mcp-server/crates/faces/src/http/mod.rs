//! The HTTP plumbing every face served over HTTP shares — the REST and agent routes (`rest/`),
//! MCP over Streamable HTTP (`mcp/`) and the web pages (`web/`): authentication middleware, the
//! HTTP error mapping and the logging of internal errors; and the server loop both listeners run
//! (`serve.rs`). A neutral module, so that no face imports another.

pub mod auth;
pub mod budget;
pub mod error;
pub mod layer;
pub mod metrics;
pub mod outer;
pub mod serve;

/// The configured largest request body (`CONVERRA_BODY_LIMIT`), put into every request's
/// extensions by the outermost layer, for the 413 message and for the faces that read a whole
/// body themselves. Per app, not per process: two apps in one process keep their own.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    /// The limit of the app this request reached.
    pub fn of(extensions: &axum::http::Extensions) -> usize {
        extensions.get::<BodyLimit>().map_or(1024 * 1024, |l| l.0)
    }
}

/// What a log line shows for a request's path: the paths whose last segment is a secret token
/// (the web face's login and connect links) are shown as their templates.
pub fn loggable_path(path: &str) -> &str {
    converra_base::links::template_of(path)
}
