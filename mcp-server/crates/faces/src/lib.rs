//! The faces over the one core: the HTTP plumbing both listeners share (`http`: the outer layer,
//! the buffer budget, authentication, the one error mapping, metrics, the server loop), REST
//! and the agent endpoints (`rest`: `/api/v1`, and `/v1` in OpenAI's and Anthropic's shapes),
//! MCP (`mcp`: over Streamable HTTP and stdio) and the web pages (`web`). A face extracts its
//! input, calls one core function and renders the answer; neither face imports another, and
//! none reaches the store or the providers (this crate does not depend on them).

pub mod http;
pub mod mcp;
pub mod rest;
pub mod web;
