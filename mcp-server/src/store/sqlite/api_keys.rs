//! Converra API keys: stored only as a SHA-256 hash of the whole token.

use rusqlite::{Connection, OptionalExtension, params};

use super::orgs::{MEMBER_COLS, ORG_COLS, member_from_raw, org_from_raw, raw_member, raw_org};
use super::{Sqlite, parse};
use crate::store::{ApiKeyRow, MemberRow, NewAuditEvent, OrgRow, StoreError, StoreResult};

pub(super) const KEY_COLS: &str = "k.id, k.lookup_id, k.org_id, k.member_id, k.name, k.environment, k.secret_hash, k.prefix, \
                        k.last_four, k.expires_at, k.last_used_at, k.revoked_at, k.created_at";

type RawKey = (
    String,
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

pub(super) fn raw_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawKey> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

pub(super) fn key_from_raw(raw: RawKey) -> StoreResult<ApiKeyRow> {
    let (
        id,
        lookup_id,
        org_id,
        member_id,
        name,
        env,
        hash,
        prefix,
        last_four,
        expires_at,
        last_used_at,
        revoked_at,
        created_at,
    ) = raw;
    let secret_hash: [u8; 32] =
        hash.try_into().map_err(|_| StoreError::Corrupt { table: "api_keys", what: "hash is not 32 bytes".into() })?;
    Ok(ApiKeyRow {
        id,
        lookup_id,
        org_id,
        member_id,
        name,
        environment: parse("api_keys", env)?,
        secret_hash,
        prefix,
        last_four,
        expires_at,
        last_used_at,
        revoked_at,
        created_at,
    })
}

pub(super) fn insert_api_key_row(c: &Connection, k: &ApiKeyRow) -> StoreResult<()> {
    let k = &k.in_utc()?;
    c.execute(
        "INSERT INTO api_keys (id, lookup_id, org_id, member_id, name, environment, secret_hash, prefix, last_four, expires_at, last_used_at, revoked_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            k.id,
            k.lookup_id,
            k.org_id,
            k.member_id,
            k.name,
            k.environment.as_str(),
            &k.secret_hash[..],
            k.prefix,
            k.last_four,
            k.expires_at,
            k.last_used_at,
            k.revoked_at,
            k.created_at
        ],
    )?;
    Ok(())
}

impl Sqlite {
    pub(in crate::store) async fn insert_api_key(
        &self,
        key: ApiKeyRow,
        cap: u32,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let key = key.in_utc()?;
        self.audited([audit], move |tx| {
            // Both times are in the stored form (UTC, whole seconds: `ApiKeyRow::in_utc`), so
            // comparing their text compares the instants.
            let active: i64 = tx.query_row(
                "SELECT count(*) FROM api_keys WHERE member_id = ?1 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > ?2)",
                params![key.member_id, key.created_at],
                |r| r.get(0),
            )?;
            if active >= i64::from(cap) {
                return Ok(false);
            }
            insert_api_key_row(tx, &key)?;
            Ok(true)
        })
        .await
    }

    pub(in crate::store) async fn api_key_for_auth(
        &self,
        lookup_id: &str,
    ) -> StoreResult<Option<(ApiKeyRow, MemberRow, OrgRow)>> {
        let lookup_id = lookup_id.to_owned();
        self.run(move |c| {
            let sql = format!(
                "SELECT {KEY_COLS}, {MEMBER_COLS}, {ORG_COLS} FROM api_keys k
                 JOIN members m ON m.id = k.member_id JOIN organizations o ON o.id = k.org_id
                 WHERE k.lookup_id = ?1"
            );
            let raw = c
                .query_row(&sql, [lookup_id], |r| Ok((raw_key(r)?, raw_member(r, 13)?, raw_org(r, 19)?)))
                .optional()?;
            raw.map(|(k, m, o)| Ok((key_from_raw(k)?, member_from_raw(m)?, org_from_raw(o)?))).transpose()
        })
        .await
    }

    pub(in crate::store) async fn api_keys(
        &self,
        org_id: &str,
        member_id: Option<&str>,
    ) -> StoreResult<Vec<ApiKeyRow>> {
        let (org_id, member_id) = (org_id.to_owned(), member_id.map(str::to_owned));
        self.run(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {KEY_COLS} FROM api_keys k WHERE k.org_id = ?1 AND (?2 IS NULL OR k.member_id = ?2)
                 ORDER BY k.created_at DESC, k.id DESC"
            ))?;
            let raws = stmt.query_map(params![org_id, member_id], raw_key)?.collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(key_from_raw).collect()
        })
        .await
    }

    pub(in crate::store) async fn api_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ApiKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {KEY_COLS} FROM api_keys k WHERE k.org_id = ?1 AND k.id = ?2"),
                [org_id, id],
                raw_key,
            )
            .optional()?
            .map(key_from_raw)
            .transpose()
        })
        .await
    }

    pub(in crate::store) async fn revoke_api_key(
        &self,
        org_id: &str,
        id: &str,
        at: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let (org_id, id, at) = (org_id.to_owned(), id.to_owned(), at.to_owned());
        self.audited([audit], move |tx| {
            Ok(tx.execute(
                "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL",
                params![org_id, id, at],
            )? == 1)
        })
        .await
    }

    pub(in crate::store) async fn touch_api_key(&self, id: &str, at: &str) -> StoreResult<()> {
        let (id, at) = (id.to_owned(), at.to_owned());
        self.run(move |c| {
            c.execute("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1", [id, at])?;
            Ok(())
        })
        .await
    }
}
