//! The tests that run the real `converra` binary as a process: the CLI, stdio MCP, `kill -9`,
//! logs, replicas. One test binary; one module per thing tested; the launcher is the test
//! kit's (`converra_test_kit::process`).

#![allow(clippy::unwrap_used, reason = "test code: a panic is the failure report")]

use converra_test_kit::Binary;

/// The binary under test: Cargo names it only to this package's own tests.
const CONVERRA: Binary = Binary::new(env!("CARGO_BIN_EXE_converra"));

mod budget_race;
mod budgets;
mod cli_client;
mod configuration;
mod connections;
mod crash_durability;
mod leakage;
mod mcp_stdio;
mod metrics;
mod prices;
mod rate_limits;
mod replicas;
mod serve;
mod store_outage;
mod web_links;
