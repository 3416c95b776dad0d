//! Converra API keys: stored only as a SHA-256 hash of the whole token.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::orgs::{MEMBER_COLS, ORG_COLS, member_at, org_at};
use super::{Postgres, commit_audited, parse};
use crate::store::Stale;
use crate::store::{ApiKeyRow, MemberRow, NewAuditEvent, OrgRow, StoreError, StoreResult};

pub(super) const KEY_COLS: &str = "k.id, k.lookup_id, k.org_id, k.member_id, k.name, k.environment, k.secret_hash, k.prefix, \
                        k.last_four, k.expires_at, k.last_used_at, k.revoked_at, k.created_at";

pub(super) fn api_key_at(r: &Row) -> StoreResult<ApiKeyRow> {
    let hash: &[u8] = r.try_get(6)?;
    let secret_hash: [u8; 32] =
        hash.try_into().map_err(|_| StoreError::Corrupt { table: "api_keys", what: "hash is not 32 bytes".into() })?;
    Ok(ApiKeyRow {
        id: r.try_get(0)?,
        lookup_id: r.try_get(1)?,
        org_id: r.try_get(2)?,
        member_id: r.try_get(3)?,
        name: r.try_get(4)?,
        environment: parse("api_keys", r.try_get(5)?)?,
        secret_hash,
        prefix: r.try_get(7)?,
        last_four: r.try_get(8)?,
        expires_at: r.try_get(9)?,
        last_used_at: r.try_get(10)?,
        revoked_at: r.try_get(11)?,
        created_at: r.try_get(12)?,
    })
}

pub(super) async fn insert_api_key_row(c: &impl GenericClient, k: &ApiKeyRow) -> StoreResult<()> {
    let k = &k.in_utc()?;
    c.execute(
        "INSERT INTO api_keys (id, lookup_id, org_id, member_id, name, environment, secret_hash, prefix, last_four, expires_at, last_used_at, revoked_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &k.id,
            &k.lookup_id,
            &k.org_id,
            &k.member_id,
            &k.name,
            &k.environment.as_str(),
            &&k.secret_hash[..],
            &k.prefix,
            &k.last_four,
            &k.expires_at,
            &k.last_used_at,
            &k.revoked_at,
            &k.created_at,
        ],
    )
    .await?;
    Ok(())
}

impl Postgres {
    pub(in crate::store) async fn insert_api_key(
        &self,
        key: ApiKeyRow,
        cap: u32,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let key = key.in_utc()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // The member's row is the lock that makes concurrent creations count one at a time.
        tx.execute("SELECT 1 FROM members WHERE id = $1 FOR UPDATE", &[&key.member_id]).await?;
        // Both times are in the stored form (UTC, whole seconds: `ApiKeyRow::in_utc`), so
        // comparing their text compares the instants.
        let active: i64 = tx
            .query_one(
                "SELECT count(*) FROM api_keys WHERE member_id = $1 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > $2)",
                &[&key.member_id, &key.created_at],
            )
            .await?
            .get(0);
        let inserted = active < i64::from(cap);
        if inserted {
            insert_api_key_row(&tx, &key).await?;
        }
        commit_audited(tx, inserted, [audit], Stale::AUTH).await
    }

    pub(in crate::store) async fn api_key_for_auth(
        &self,
        lookup_id: &str,
    ) -> StoreResult<Option<(ApiKeyRow, MemberRow, OrgRow)>> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT {KEY_COLS}, {MEMBER_COLS}, {ORG_COLS} FROM api_keys k
             JOIN members m ON m.id = k.member_id JOIN organizations o ON o.id = k.org_id
             WHERE k.lookup_id = $1"
        );
        let row = c.query_opt(&sql, &[&lookup_id]).await?;
        row.map(|r| Ok((api_key_at(&r)?, member_at(&r, 13)?, org_at(&r, 19)?))).transpose()
    }

    pub(in crate::store) async fn api_keys(
        &self,
        org_id: &str,
        member_id: Option<&str>,
    ) -> StoreResult<Vec<ApiKeyRow>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys k WHERE k.org_id = $1 AND ($2::text IS NULL OR k.member_id = $2)
                     ORDER BY k.created_at DESC, k.id DESC"
                ),
                &[&org_id, &member_id],
            )
            .await?;
        rows.iter().map(api_key_at).collect()
    }

    pub(in crate::store) async fn api_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ApiKeyRow>> {
        let c = self.client().await?;
        let row = c
            .query_opt(&format!("SELECT {KEY_COLS} FROM api_keys k WHERE k.org_id = $1 AND k.id = $2"), &[&org_id, &id])
            .await?;
        row.as_ref().map(api_key_at).transpose()
    }

    pub(in crate::store) async fn revoke_api_key(
        &self,
        org_id: &str,
        id: &str,
        at: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
                &[&org_id, &id, &at],
            )
            .await?;
        commit_audited(tx, n == 1, [audit], Stale::AUTH).await
    }

    pub(in crate::store) async fn touch_api_key(&self, id: &str, at: &str) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute("UPDATE api_keys SET last_used_at = $2 WHERE id = $1", &[&id, &at]).await?;
        Ok(())
    }
}
