//! The end-to-end tests: the server in-process on a random port (`converra_test_kit::spawn_app`),
//! driven through HTTP, the SDK, the rmcp client and real outside clients, with wiremock
//! standing in for the AI providers. One test binary; one module per thing tested.

#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

mod access;
mod adversarial;
mod agent;
mod clients;
mod completions;
mod edges;
mod examples;
mod health;
mod ids;
mod mcp;
mod mcp_protocol;
mod metering;
mod metrics;
mod not_stored;
mod sdk;
mod usage_parts;
mod vault;
mod web;
