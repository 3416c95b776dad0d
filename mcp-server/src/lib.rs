//! Converra's backend: the provider-key vault and completion gateway, with its REST,
//! OpenAI-compatible and MCP faces and the `converra` command line. Start with
//! `ARCHITECTURE.md` at the repository root.

pub mod app;
pub mod cli;
pub mod config;
#[cfg(test)]
mod tidy;
