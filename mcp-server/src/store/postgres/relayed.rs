//! Relayed provider-side objects (see `store/relayed.rs`).

use super::Postgres;
use crate::store::StoreResult;
use crate::store::relayed::RelayedObject;

impl Postgres {
    pub(in crate::store) async fn record_relayed(&self, r: RelayedObject) -> StoreResult<()> {
        let c = self.client().await?;
        let insert = c
            .prepare_cached(
                "INSERT INTO relayed_objects (provider_key_id, kind, object_id, org_id, member_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .await?;
        c.execute(&insert, &[&r.provider_key_id, &r.kind, &r.object_id, &r.org_id, &r.member_id, &r.created_at])
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn relayed_for(
        &self,
        provider_key_id: &str,
        kind: &'static str,
        object_id: &str,
        org_id: &str,
        member_id: &str,
    ) -> StoreResult<bool> {
        let c = self.client().await?;
        let select = c
            .prepare_cached(
                "SELECT 1 FROM relayed_objects WHERE provider_key_id = $1 AND kind = $2 AND object_id = $3
                 AND org_id = $4 AND member_id = $5",
            )
            .await?;
        Ok(c.query_opt(&select, &[&provider_key_id, &kind, &object_id, &org_id, &member_id]).await?.is_some())
    }
}
