//! The end-to-end tests: the server in-process on a random port (`converra_test_kit::spawn_app`),
//! driven through HTTP, the SDK, the rmcp client and real outside clients, with wiremock
//! standing in for the AI providers. One test binary.
//!
//! A new test goes under the face it drives: `rest/<area>/` for `/api/v1`, `agent/` for `/v1`,
//! `mcp/`, `sdk/` (and its `examples/`), `web/`, `clients/` for real outside programs; and
//! under `http/` when it holds for every HTTP face alike.

#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

mod agent;
mod clients;
mod http;
mod mcp;
mod rest;
mod sdk;
mod web;
