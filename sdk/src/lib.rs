//! # Converra
//!
//! The typed Rust client for Converra, the self-hosted "bring your own AI key" vault and
//! completion gateway, and the one definition of every type on its wire ([`types`]).
#![deny(missing_docs)]

pub mod types;

pub use types::*;
