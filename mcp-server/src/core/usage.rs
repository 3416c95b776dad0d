//! Usage: per-completion records and monthly totals.

use converra::{UsageQuery, UsageReport};

use super::{Caller, Core, Error, InternalError, Result};

impl Core {
    /// Monthly totals by provider, model, key source and project, with the allowance.
    pub async fn usage(&self, caller: &Caller, query: UsageQuery) -> Result<UsageReport> {
        let _ = (caller, query);
        Err(Error::Internal(InternalError::Other("usage is being built".into())))
    }
}
