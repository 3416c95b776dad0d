//! One small handle per API area, borrowed from a [`Converra`](crate::Converra) client:
//! `converra.provider_keys().list(...)`, `converra.completions().create(...)`, and so on.
//!
//! A handle holds nothing but the client reference; getting one is free. Lists return the
//! items of the API's `{"data": [...]}` answer as a `Vec`.

mod api_keys;
mod audit_events;
mod budgets;
mod completions;
mod members;
mod projects;
mod provider_keys;
mod settings;
mod usage;

pub use api_keys::ApiKeys;
pub use audit_events::AuditEvents;
pub use budgets::Budgets;
pub use completions::Completions;
pub use members::Members;
pub use projects::Projects;
pub use provider_keys::ProviderKeys;
pub use settings::Settings;
pub use usage::UsageReports;
