//! Converra's backend as one program: the configuration (`config`), the wiring of the store,
//! the providers and the adapters into the core and of the core into the faces (`app`), and the
//! `converra` command line (`cli`). The layers themselves are the crates under `crates/`; start
//! with `ARCHITECTURE.md` at the repository root.

pub mod app;
pub mod cli;
pub mod config;
