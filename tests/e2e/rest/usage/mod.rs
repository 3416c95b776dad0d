//! Usage: metering that nothing escapes (`metering.rs`), and the provider's own figures down to
//! their parts, cache and reasoning tokens (`parts.rs`).

mod metering;
mod parts;
