//! The MCP face at `/api/mcp`, with the official rmcp client: every tool and the HTTP-level
//! guarantees (`tools.rs`), budgets through `set_budget` and `get_usage` (`budgets.rs`), and the
//! protocol itself (`protocol.rs`).

mod budgets;
mod protocol;
mod tools;
