//! Converra API keys: stored only as a SHA-256 hash of the whole token; and the per-member cap.

use std::sync::Arc;

use super::orgs::{member_cols, org_cols};
use super::sql::{At, Conn, FromRow, Row, Sql};
use super::{ApiKeyRow, AuthRow, MemberRow, NewAuditEvent, OrgRow, Stale, Store, StoreError, StoreResult};

/// An API key's columns, as `k`.
macro_rules! key_cols {
    () => {
        "k.id, k.lookup_id, k.org_id, k.member_id, k.name, k.environment, k.secret_hash, k.prefix, \
         k.last_four, k.expires_at, k.last_used_at, k.revoked_at, k.created_at, k.project_id"
    };
}

static INSERT: Sql = Sql::new(
    "INSERT INTO api_keys (id, lookup_id, org_id, member_id, name, environment, secret_hash, prefix, last_four, expires_at, last_used_at, revoked_at, created_at, project_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
);
/// The member's row is the lock that makes concurrent creations count one at a time.
static LOCK_MEMBER: Sql = Sql::new("SELECT 1 FROM members WHERE id = $1 FOR UPDATE");
/// The per-member cap's count. Both times are in the stored form (UTC, whole seconds:
/// `ApiKeyRow::in_utc`), so comparing their text compares the instants.
static ACTIVE: Sql = Sql::new(
    "SELECT count(*) FROM api_keys WHERE member_id = $1 AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > $2)",
);
static FOR_AUTH: Sql = Sql::new(concat!(
    "SELECT ",
    key_cols!(),
    ", ",
    member_cols!(),
    ", ",
    org_cols!(),
    " FROM api_keys k JOIN members m ON m.id = k.member_id JOIN organizations o ON o.id = k.org_id
     WHERE k.lookup_id = $1"
));
static OF_ORG: Sql = Sql::new(concat!(
    "SELECT ",
    key_cols!(),
    " FROM api_keys k WHERE k.org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR k.member_id = $2)
     ORDER BY k.created_at DESC, k.id DESC"
));
static ONE: Sql = Sql::new(concat!("SELECT ", key_cols!(), " FROM api_keys k WHERE k.org_id = $1 AND k.id = $2"));
pub(super) static ALL: Sql = Sql::new(concat!("SELECT ", key_cols!(), " FROM api_keys k ORDER BY k.created_at, k.id"));
static REVOKE: Sql =
    Sql::new("UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL");
static TOUCH: Sql = Sql::new("UPDATE api_keys SET last_used_at = $2 WHERE id = $1");

impl FromRow for ApiKeyRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        let hash: Vec<u8> = r.get(6)?;
        let secret_hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| StoreError::Corrupt { table: "api_keys", what: "hash is not 32 bytes".into() })?;
        Ok(ApiKeyRow {
            id: r.get(0)?,
            lookup_id: r.get(1)?,
            org_id: r.get(2)?,
            member_id: r.get(3)?,
            name: r.get(4)?,
            environment: r.parse("api_keys", 5)?,
            secret_hash,
            prefix: r.get(7)?,
            last_four: r.get(8)?,
            expires_at: r.get(9)?,
            last_used_at: r.get(10)?,
            revoked_at: r.get(11)?,
            created_at: r.get(12)?,
            project_id: r.get(13)?,
        })
    }
}

/// A key with its member and organization, as `FOR_AUTH` joins them.
struct Auth((ApiKeyRow, MemberRow, OrgRow));

impl FromRow for Auth {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(Auth((ApiKeyRow::from_row(r)?, MemberRow::from_row(&At(r, 14))?, OrgRow::from_row(&At(r, 20))?)))
    }
}

/// Inserts a key as it is, its times in the stored form.
pub(super) async fn insert(c: &impl Conn, k: &ApiKeyRow) -> StoreResult<()> {
    let k = &k.in_utc()?;
    c.execute(
        &INSERT,
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
            &k.project_id,
        ],
    )
    .await?;
    Ok(())
}

impl Store {
    /// Inserts a key unless its member already has `cap` active (unrevoked, unexpired) keys,
    /// counted in the same transaction so concurrent creations cannot pass the cap together.
    /// Returns whether it was inserted.
    pub async fn insert_api_key(&self, key: ApiKeyRow, cap: u32, audit: NewAuditEvent) -> StoreResult<bool> {
        let key = key.in_utc()?;
        write!(self, Stale::AUTH, [audit], |c| async {
            c.query::<()>(&LOCK_MEMBER, &[&key.member_id]).await?;
            let active: i64 = c.query_one(&ACTIVE, &[&key.member_id, &key.created_at]).await?;
            let inserted = active < i64::from(cap);
            if inserted {
                insert(c, &key).await?;
            }
            Ok(inserted)
        })
    }

    /// The key with this lookup id, with its member and organization, for authentication.
    pub async fn api_key_for_auth(&self, lookup_id: &str) -> StoreResult<Option<AuthRow>> {
        let generation = self.generation(Stale::AUTH);
        if let Some(hit) = generation.and_then(|g| self.caches.auth.get(lookup_id, g)) {
            return Ok(hit);
        }
        if generation.and_then(|g| self.caches.auth_misses.get(lookup_id, g)).is_some() {
            return Ok(None);
        }
        let lookup = lookup_id.to_owned();
        let found: Option<Auth> = read!(self, |c| c.query_opt(&FOR_AUTH, &[&lookup]))?;
        let found: Option<AuthRow> = found.map(|Auth(row)| Arc::new(row));
        if let Some(g) = generation {
            match &found {
                Some(_) => self.caches.auth.put(lookup_id.to_owned(), g, found.clone()),
                None => self.caches.auth_misses.put(lookup_id.to_owned(), g, ()),
            }
        }
        Ok(found)
    }

    /// The organization's keys, optionally only one member's, newest first.
    pub async fn api_keys(&self, org_id: &str, member_id: Option<&str>) -> StoreResult<Vec<ApiKeyRow>> {
        let (org_id, member_id) = (org_id.to_owned(), member_id.map(str::to_owned));
        read!(self, |c| c.query(&OF_ORG, &[&org_id, &member_id]))
    }

    pub async fn api_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ApiKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        read!(self, |c| c.query_opt(&ONE, &[&org_id, &id]))
    }

    /// Marks a key revoked. Returns false if it was already revoked or does not exist.
    pub async fn revoke_api_key(&self, org_id: &str, id: &str, at: &str, audit: NewAuditEvent) -> StoreResult<bool> {
        let (org_id, id, at) = (org_id.to_owned(), id.to_owned(), at.to_owned());
        write!(self, Stale::AUTH.and(Stale::BUDGETS), [audit], |c| async {
            // A revoked key makes no more calls: its budget goes (the key stays listed).
            c.execute(&super::budgets::OF_API_KEY, &[&org_id, &id]).await?;
            Ok(c.execute(&REVOKE, &[&org_id, &id, &at]).await? == 1)
        })
    }

    /// Records when a key was last used (the core throttles how often). No cached query reads
    /// it, so it does not invalidate the caches.
    pub async fn touch_api_key(&self, id: &str, at: &str) -> StoreResult<()> {
        let (id, at) = (id.to_owned(), at.to_owned());
        read!(self, |c| c.execute(&TOUCH, &[&id, &at])).map(drop)
    }
}
