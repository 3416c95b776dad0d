//! The MCP face at `/api/mcp`, with the official rmcp client: every tool and the HTTP-level
//! guarantees (`tools.rs`), and the protocol itself (`protocol.rs`).

mod protocol;
mod tools;
