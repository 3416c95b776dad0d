//! The audit log: written in the same transaction as the change it records (`write!`), or
//! alone for an attempt refused before anything was written.

use converra::{Actor, AuditEvent};

use super::rows::Applied;
use super::sql::{Conn, FromRow, Row, Sql};
use super::{NewAuditEvent, Stale, Store, StoreResult};

static INSERT: Sql = Sql::new(
    "INSERT INTO audit_events (id, org_id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
);
static NEWEST: Sql = Sql::new(
    "SELECT id, actor_member, actor_email, actor_key, action, object_type, object_id, detail, outcome, created_at
     FROM audit_events WHERE org_id = $1 ORDER BY seq DESC LIMIT $2",
);

impl FromRow for AuditEvent {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(AuditEvent {
            id: r.get(0)?,
            actor: Actor { member_id: r.get(1)?, email: r.get(2)?, api_key_id: r.get(3)? },
            action: r.get(4)?,
            object_type: r.get(5)?,
            object_id: r.get(6)?,
            detail: serde_json::from_str(&r.get::<String>(7)?).unwrap_or(serde_json::Value::Null),
            outcome: r.get(8)?,
            created_at: r.get(9)?,
        })
    }
}

/// Writes one event of `org_id` as it is (new, or copied from another store).
pub(super) async fn insert_event(c: &impl Conn, org_id: &str, e: &AuditEvent) -> StoreResult<()> {
    let detail = e.detail.to_string();
    c.execute(
        &INSERT,
        &[
            &e.id,
            &org_id,
            &e.actor.member_id,
            &e.actor.email,
            &e.actor.api_key_id,
            &e.action,
            &e.object_type,
            &e.object_id,
            &detail,
            &e.outcome,
            &e.created_at,
        ],
    )
    .await?;
    Ok(())
}

/// The one ending of every write (`write!`): if the change applied, its audit events are
/// written in the same transaction and the other replicas are told what it made stale.
pub(super) async fn finish<T: Applied>(
    c: &impl Conn,
    out: T,
    audit: impl IntoIterator<Item = NewAuditEvent>,
    stale: Stale,
) -> StoreResult<T> {
    if out.applied() {
        for event in audit {
            insert_event(c, &event.org_id, &event.to_event()).await?;
        }
        c.notify(stale).await?;
    }
    Ok(out)
}

impl Store {
    /// An event with no change beside it: an attempt refused before anything was written.
    pub async fn record_audit(&self, event: NewAuditEvent) -> StoreResult<()> {
        read!(self, |c| insert_event(c, &event.org_id, &event.to_event()))
    }

    /// The organization's newest events first.
    pub async fn audit_events(&self, org_id: &str, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        let org_id = org_id.to_owned();
        read!(self, |c| c.query(&NEWEST, &[&org_id, &i64::from(limit)]))
    }
}
