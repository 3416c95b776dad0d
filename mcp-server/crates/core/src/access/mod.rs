//! Organizations, members, roles, projects, Converra API keys, authentication and rate limits.

mod api_keys;
mod auth;
mod members;
mod once;
mod orgs;
mod projects;
mod rate_limit;
pub mod sessions;
pub mod token;

pub use auth::{Bucket, Caller, LastUsed};
pub use members::{LAST_OWNER, is_last_owner};
pub(crate) use orgs::validate_name;
pub use orgs::{Bootstrap, PlanLimits, plan_limits};
pub use rate_limit::RateLimits;
