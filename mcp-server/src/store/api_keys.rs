//! Converra API keys: stored only as a SHA-256 hash of the whole token.

use converra::Environment;
use rusqlite::{Connection, OptionalExtension, params};

use super::audit::insert_audit;
use super::orgs::{MEMBER_COLS, ORG_COLS, member_from_raw, org_from_raw, raw_member, raw_org};
use super::{MemberRow, NewAuditEvent, OrgRow, Store, StoreResult, parse_col};

/// What authentication reads: the key with its member and organization, shared (cached).
pub type AuthRow = std::sync::Arc<(ApiKeyRow, MemberRow, OrgRow)>;

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: String,
    /// The non-secret id embedded in the token, used to find the row without a scan.
    pub lookup_id: String,
    pub org_id: String,
    pub member_id: String,
    pub name: String,
    pub environment: Environment,
    pub secret_hash: [u8; 32],
    pub prefix: String,
    pub last_four: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub created_at: String,
}

const KEY_COLS: &str = "k.id, k.lookup_id, k.org_id, k.member_id, k.name, k.environment, k.secret_hash, k.prefix, \
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

fn raw_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawKey> {
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

fn key_from_raw(raw: RawKey) -> StoreResult<ApiKeyRow> {
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
    let secret_hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| super::StoreError::Corrupt { table: "api_keys", what: "hash is not 32 bytes".into() })?;
    Ok(ApiKeyRow {
        id,
        lookup_id,
        org_id,
        member_id,
        name,
        environment: parse_col("api_keys", env)?,
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

impl Store {
    pub async fn insert_api_key(&self, key: ApiKeyRow, audit: NewAuditEvent) -> StoreResult<()> {
        self.run(move |c| {
            let tx = c.transaction()?;
            insert_api_key_row(&tx, &key)?;
            insert_audit(&tx, &audit)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The key with this lookup id, with its member and organization, for authentication.
    pub async fn api_key_for_auth(&self, lookup_id: &str) -> StoreResult<Option<AuthRow>> {
        let generation = self.generation();
        if let Some(hit) = self.caches().auth.get(&lookup_id.to_owned(), generation) {
            return Ok(hit);
        }
        let found = self.api_key_for_auth_uncached(lookup_id).await?.map(std::sync::Arc::new);
        self.caches().auth.put(lookup_id.to_owned(), generation, found.clone());
        Ok(found)
    }

    async fn api_key_for_auth_uncached(&self, lookup_id: &str) -> StoreResult<Option<(ApiKeyRow, MemberRow, OrgRow)>> {
        let lookup_id = lookup_id.to_owned();
        self.run(move |c| {
            let sql = format!(
                "SELECT {KEY_COLS}, {MEMBER_COLS}, {ORG_COLS} FROM api_keys k
                 JOIN members m ON m.id = k.member_id JOIN organizations o ON o.id = k.org_id
                 WHERE k.lookup_id = ?1"
            );
            let raw = c
                .query_row(&sql, [lookup_id], |r| Ok((raw_key(r)?, raw_member(r, 13)?, raw_org(r, 18)?)))
                .optional()?;
            raw.map(|(k, m, o)| Ok((key_from_raw(k)?, member_from_raw(m)?, org_from_raw(o)?))).transpose()
        })
        .await
    }

    /// The organization's keys, optionally only one member's, newest first.
    pub async fn api_keys(&self, org_id: &str, member_id: Option<&str>) -> StoreResult<Vec<ApiKeyRow>> {
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

    pub async fn api_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ApiKeyRow>> {
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

    /// Marks a key revoked. Returns false if it was already revoked or does not exist.
    pub async fn revoke_api_key(&self, org_id: &str, id: &str, at: &str, audit: NewAuditEvent) -> StoreResult<bool> {
        let (org_id, id, at) = (org_id.to_owned(), id.to_owned(), at.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL",
                params![org_id, id, at],
            )?;
            if n == 1 {
                insert_audit(&tx, &audit)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    /// Records when a key was last used (the core throttles how often this is called).
    pub async fn touch_api_key(&self, id: &str, at: &str) -> StoreResult<()> {
        let (id, at) = (id.to_owned(), at.to_owned());
        self.run_unversioned(move |c| {
            c.execute("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1", [id, at])?;
            Ok(())
        })
        .await
    }
}
