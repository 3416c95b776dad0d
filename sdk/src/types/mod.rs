//! The wire types of the Converra API: the one definition shared by the server and this client.
//!
//! Request types reject unknown fields, so a typo in a field name is a `VALIDATION_ERROR`
//! naming the field instead of a silently ignored option. Timestamps are RFC 3339 strings in UTC.

mod access;
mod audit;
mod budgets;
mod common;
mod completions;
mod connect;
mod health;
mod settings;
mod usage;
mod vault;

pub use access::*;
pub use audit::*;
pub use budgets::*;
pub use common::*;
pub use completions::*;
pub use connect::*;
pub use health::*;
pub use settings::*;
pub use usage::*;
pub use vault::*;
