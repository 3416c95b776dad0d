//! `/api/v1/budgets`: monthly limits in dollars on the organization, a project, an API key or a
//! member, which refuse completions (`BUDGET_EXCEEDED`, 402) once spent.

use reqwest::Method;

use crate::types::{Budget, BudgetTarget, List, SetBudget, UsageQuery};
use crate::{Converra, Result};

/// The organization's budgets. Everybody may read them; admins and owners set them.
///
/// Get one with [`Converra::budgets`].
#[derive(Debug, Clone, Copy)]
pub struct Budgets<'a> {
    client: &'a Converra,
}

impl<'a> Budgets<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// Every budget with a month's spend against it; `UsageQuery::default()` for the current
    /// month (`GET /api/v1/budgets?month=YYYY-MM`).
    pub async fn list(&self, query: UsageQuery) -> Result<Vec<Budget>> {
        let list: List<Budget> = self.client.get(&["budgets"], &query).await?;
        Ok(list.data)
    }

    /// Sets (or replaces) the budget of a scope, and model (`PUT /api/v1/budgets`).
    pub async fn set(&self, budget: SetBudget) -> Result<Budget> {
        self.client.send_json(Method::PUT, &["budgets"], &budget).await
    }

    /// Removes the budget of a scope, and model (`DELETE /api/v1/budgets?scope=…`).
    pub async fn remove(&self, target: BudgetTarget) -> Result<()> {
        self.client.delete_with(&["budgets"], &target).await
    }
}
