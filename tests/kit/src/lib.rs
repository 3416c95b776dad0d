//! The test kit: one definition of everything Converra's tests and benchmark share.
//!
//! - [`app`]: `spawn_app()`, the server in-process on port 0 with a fresh database, and
//!   [`Answer`], an HTTP answer read whole (the end-to-end tests, `tests/e2e`);
//! - [`providers`]: wiremock stand-ins for the AI providers with their recorded bodies, and
//!   [`responses`]: OpenAI's Responses API (whole answers and full event streams),
//!   [`translated`]: Anthropic's and Gemini's answers to a translated chat (tool loops),
//!   [`openai_script`]: OpenAI's chunks of a scripted text answer or tool call, and
//!   [`chat_script`]: a scripted chat model in DeepSeek's shapes that calls a tool, then answers,
//!   and [`messages_script`]: its twin on Anthropic's Messages API (Anthropic, DeepSeek's
//!   `/anthropic`);
//! - [`one_key`]: an organization with one provider key and a member, where a real agent's
//!   session starts, and the check that the provider saw only the organization's key;
//! - [`process`]: the real `converra` binary as a process ([`Binary`], [`Server`]) and private
//!   PostgreSQL and Redis servers (`mcp-server/tests/binary`, the benchmark);
//! - [`mcp`]: the MCP tool list and a `tools/call` helper for rmcp clients;
//! - [`proxy`]: a reverse proxy that sets or strips the `Authorization` header;
//! - [`browser`]: a private chromedriver and headless Chromium's capabilities (the web face).
//!
//! wiremock stands in for the providers only; Converra's own components are never mocked.

#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

pub mod app;
pub mod browser;
pub mod chat_script;
pub mod mcp;
pub mod messages_script;
pub mod one_key;
pub mod openai_script;
pub mod process;
pub mod providers;
pub mod proxy;
pub mod responses;
pub mod translated;

pub use app::{
    Answer, Options, TestApp, app_with_mocks, fresh_postgres_database, id_of, on_postgres, rfc3339, spawn_app,
    spawn_app_on, spawn_app_with, str_of, unix_now,
};
pub use process::{Binary, PrivatePostgres, PrivateRedis, Server, free_port, random_master_key, run, stderr_of};
