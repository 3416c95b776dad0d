//! Relayed provider-side objects (see `store/relayed.rs`).

use rusqlite::{OptionalExtension, params};

use super::Sqlite;
use crate::store::StoreResult;
use crate::store::relayed::RelayedObject;

impl Sqlite {
    pub(in crate::store) async fn record_relayed(&self, r: RelayedObject) -> StoreResult<()> {
        self.run(move |c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO relayed_objects (provider_key_id, kind, object_id, org_id, member_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![r.provider_key_id, r.kind, r.object_id, r.org_id, r.member_id, r.created_at])?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn relayed_for(
        &self,
        provider_key_id: &str,
        kind: &'static str,
        object_id: &str,
        org_id: &str,
        member_id: &str,
    ) -> StoreResult<bool> {
        let (key, id, org, member) =
            (provider_key_id.to_owned(), object_id.to_owned(), org_id.to_owned(), member_id.to_owned());
        self.run(move |c| {
            let found = c
                .prepare_cached(
                    "SELECT 1 FROM relayed_objects WHERE provider_key_id = ?1 AND kind = ?2 AND object_id = ?3
                     AND org_id = ?4 AND member_id = ?5",
                )?
                .query_row(params![key, kind, id, org, member], |_| Ok(()))
                .optional()?;
            Ok(found.is_some())
        })
        .await
    }
}
