//! `/api/v1/audit-events`: who changed what, when, and with what outcome.

use crate::client::NoQuery;
use crate::types::{AuditEvent, List};
use crate::{Converra, Result};

/// The audit log. Admins and owners only.
///
/// Get one with [`Converra::audit_events`].
#[derive(Debug, Clone, Copy)]
pub struct AuditEvents<'a> {
    client: &'a Converra,
}

impl<'a> AuditEvents<'a> {
    pub(crate) fn new(client: &'a Converra) -> Self {
        Self { client }
    }

    /// Lists the organization's audit events (`GET /api/v1/audit-events`).
    pub async fn list(&self) -> Result<Vec<AuditEvent>> {
        let list: List<AuditEvent> = self.client.get(&["audit-events"], &NoQuery).await?;
        Ok(list.data)
    }
}
