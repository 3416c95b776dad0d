//! Usage: metering that nothing escapes (`metering.rs`), the provider's own figures down to
//! their parts, cache and reasoning tokens (`parts.rs`), and budgets that stop spend (`budgets.rs`).

mod budgets;
mod metering;
mod parts;
