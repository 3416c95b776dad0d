//! The audit log: written in the same transaction as the change it records (see
//! `commit_audited`).

use converra::{Actor, AuditEvent};
use deadpool_postgres::GenericClient;

use super::Postgres;
use crate::store::{NewAuditEvent, StoreResult};

pub(super) async fn insert(c: &impl GenericClient, e: &NewAuditEvent) -> StoreResult<()> {
    insert_event(c, &e.org_id, &e.to_event()).await
}

/// Writes one event of `org_id` as it is (new, or copied from another store).
pub(super) async fn insert_event(c: &impl GenericClient, org_id: &str, e: &AuditEvent) -> StoreResult<()> {
    let insert = c
        .prepare_cached(
            "INSERT INTO audit_events (id, org_id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await?;
    c.execute(
        &insert,
        &[
            &e.id,
            &org_id,
            &e.actor.member_id,
            &e.actor.email,
            &e.actor.api_key_id,
            &e.action,
            &e.object_type,
            &e.object_id,
            &e.detail.to_string(),
            &e.outcome,
            &e.created_at,
        ],
    )
    .await?;
    Ok(())
}

impl Postgres {
    pub(in crate::store) async fn record_audit(&self, event: NewAuditEvent) -> StoreResult<()> {
        insert(&self.client().await?, &event).await
    }

    pub(in crate::store) async fn audit_events(&self, org_id: &str, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at
                 FROM audit_events WHERE org_id = $1 ORDER BY seq DESC LIMIT $2",
                &[&org_id, &i64::from(limit)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEvent {
                id: r.get(0),
                actor: Actor { member_id: r.get(1), email: r.get(2), api_key_id: r.get(3) },
                action: r.get(4),
                object_type: r.get(5),
                object_id: r.get(6),
                detail: serde_json::from_str(r.get(7)).unwrap_or(serde_json::Value::Null),
                outcome: r.get(8),
                created_at: r.get(9),
            })
            .collect())
    }
}
