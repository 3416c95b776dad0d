//! The audit log: written in the same transaction as the change it records.

use converra::{Actor, AuditEvent};
use rusqlite::{Connection, params};

use super::{Store, StoreResult};

/// An audit event to record. `detail` must never hold a secret (the core builds it from ids,
/// last fours and outcomes only).
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub id: String,
    pub org_id: String,
    pub actor: Actor,
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
    pub detail: serde_json::Value,
    pub outcome: &'static str,
    pub created_at: String,
}

pub(super) fn insert_audit(c: &Connection, e: &NewAuditEvent) -> StoreResult<()> {
    c.execute(
        "INSERT INTO audit_events (id, org_id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.id,
            e.org_id,
            e.actor.member_id,
            e.actor.email,
            e.actor.api_key_id,
            e.action,
            e.object_type,
            e.object_id,
            e.detail.to_string(),
            e.outcome,
            e.created_at
        ],
    )?;
    Ok(())
}

impl Store {
    /// Records an event on its own (for outcomes that change nothing else, e.g. a failed test).
    pub async fn insert_audit(&self, event: NewAuditEvent) -> StoreResult<()> {
        self.run(move |c| insert_audit(c, &event)).await
    }

    /// The organization's newest events first.
    pub async fn audit_events(&self, org_id: &str, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        let org_id = org_id.to_owned();
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at
                 FROM audit_events WHERE org_id = ?1 ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![org_id, limit], |r| {
                    let detail: String = r.get(7)?;
                    Ok(AuditEvent {
                        id: r.get(0)?,
                        actor: Actor { member_id: r.get(1)?, email: r.get(2)?, api_key_id: r.get(3)? },
                        action: r.get(4)?,
                        object_type: r.get(5)?,
                        object_id: r.get(6)?,
                        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                        outcome: r.get(8)?,
                        created_at: r.get(9)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}
