//! `/api/v1/usage`: token usage per month and the plan's allowance.

use crate::types::{UsageQuery, UsageReport};
use crate::{Converra, Result};

/// Usage reports.
///
/// Get one with [`Converra::usage`].
///
/// ```no_run
/// # async fn run(converra: converra::Converra) -> converra::Result<()> {
/// let report = converra.usage().get(converra::UsageQuery { month: Some("2025-06".into()) }).await?;
/// if let Some(a) = &report.allowance {
///     println!("{} of {} allowance tokens left", a.remaining, a.limit);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UsageReports<'a> {
    client: &'a Converra,
}

impl<'a> UsageReports<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// The report of one calendar month (UTC); `UsageQuery::default()` for the current month
    /// (`GET /api/v1/usage?month=YYYY-MM`).
    pub async fn get(&self, query: UsageQuery) -> Result<UsageReport> {
        self.client.get(&["usage"], &query).await
    }
}
