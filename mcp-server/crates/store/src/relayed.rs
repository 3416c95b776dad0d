//! Objects stored on a provider account whose creation Converra relayed (tenants never share
//! provider-side state): one provider key serves many members, so an id such as a stored response's
//! may be named again only by the member it was relayed for, on that key. A row holds the ids only,
//! never what the object holds.

use super::sql::{Conn, Sql};
use super::{Store, StoreResult};

static INSERT: Sql = Sql::new(
    "INSERT INTO relayed_objects (provider_key_id, kind, object_id, org_id, member_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
);
static FOUND: Sql = Sql::new(
    "SELECT 1 FROM relayed_objects WHERE provider_key_id = $1 AND kind = $2 AND object_id = $3
     AND org_id = $4 AND member_id = $5",
);

/// One relayed object: which key's account holds it, and for whom Converra relayed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedObject {
    pub provider_key_id: String,
    /// What the id names (`response`), so ids of different kinds never match.
    pub kind: &'static str,
    pub object_id: String,
    pub org_id: String,
    pub member_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl Store {
    /// Records a relayed object (once: a second record of the same id is a no-op).
    pub async fn record_relayed(&self, r: RelayedObject) -> StoreResult<()> {
        read!(self, |c| async move {
            c.execute(&INSERT, &[&r.provider_key_id, &r.kind, &r.object_id, &r.org_id, &r.member_id, &r.created_at])
                .await?;
            Ok(())
        })
    }

    /// Whether Converra relayed the creation of `kind` `object_id` on this key for this member
    /// of this organization.
    pub async fn relayed_for(
        &self,
        provider_key_id: &str,
        kind: &'static str,
        object_id: &str,
        org_id: &str,
        member_id: &str,
    ) -> StoreResult<bool> {
        let (key, id, org, member) =
            (provider_key_id.to_owned(), object_id.to_owned(), org_id.to_owned(), member_id.to_owned());
        let found: Option<()> = read!(self, |c| c.query_opt(&FOUND, &[&key, &kind, &id, &org, &member]))?;
        Ok(found.is_some())
    }
}
