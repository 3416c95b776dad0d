//! The audit log: written in the same transaction as the change it records (see
//! `Sqlite::audited`).

use converra::{Actor, AuditEvent};
use rusqlite::{Connection, params};

use super::Sqlite;
use crate::store::{NewAuditEvent, StoreResult};

pub(super) fn insert(c: &Connection, e: &NewAuditEvent) -> StoreResult<()> {
    insert_event(c, &e.org_id, &e.to_event())
}

/// Writes one event of `org_id` as it is (new, or copied from another store).
pub(super) fn insert_event(c: &Connection, org_id: &str, e: &AuditEvent) -> StoreResult<()> {
    c.execute(
        "INSERT INTO audit_events (id, org_id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.id,
            org_id,
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

impl Sqlite {
    pub(in crate::store) async fn record_audit(&self, event: NewAuditEvent) -> StoreResult<()> {
        self.run(move |c| insert(c, &event)).await
    }

    pub(in crate::store) async fn audit_events(&self, org_id: &str, limit: u32) -> StoreResult<Vec<AuditEvent>> {
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
