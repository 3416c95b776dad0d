//! Building audit events: who (from the caller), what, which object, outcome. Never a secret:
//! callers pass ids, roles, last fours and outcomes only.

use converra::{Actor, AuditEvent};
use serde_json::Value;

use super::access::Caller;
use super::error::Result;
use super::{Core, ids};
use converra_store::NewAuditEvent;

/// The actor of changes made by the operator's CLI (no member, no key).
pub fn operator() -> Actor {
    Actor { member_id: None, email: Some("operator (cli)".into()), api_key_id: None }
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            member_id: Some(self.member_id.clone()),
            email: Some(self.email.clone()),
            api_key_id: Some(self.api_key_id.clone()),
        }
    }
}

pub fn event(
    org_id: &str,
    actor: Actor,
    action: &'static str,
    object_type: &'static str,
    object_id: &str,
    detail: Value,
) -> NewAuditEvent {
    NewAuditEvent {
        id: ids::new_id("evt"),
        org_id: org_id.to_owned(),
        actor,
        action,
        object_type,
        object_id: object_id.to_owned(),
        detail,
        outcome: "success",
        created_at: ids::now(),
    }
}

impl Core {
    /// `GET /audit-events`: owners and admins only.
    pub async fn audit_events(&self, caller: &Caller) -> Result<Vec<AuditEvent>> {
        caller.require_admin()?;
        Ok(self.store.audit_events(&caller.org_id, 500).await?)
    }
}
