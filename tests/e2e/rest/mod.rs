//! The REST API (`/api/v1`), one folder or file per product area: access (authentication,
//! members, API keys, projects, rate limits, tenancy), the provider-key vault, live key health,
//! completions, and usage.

mod access;
mod completions;
mod health;
mod usage;
mod vault;
