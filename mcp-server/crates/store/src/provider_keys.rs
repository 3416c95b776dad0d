//! Provider keys: ciphertext under the organization's data key, non-secret previews, the one
//! active key of each slot (organization, project, environment, provider), the last test.

use std::sync::Arc;

use converra::{Environment, KeyStatus, Provider};

use super::TestRecord;
use super::sql::{Conn, FromRow, Row, Sql};
use super::{HealthRow, NewAuditEvent, NewProviderKey, ProviderKeyRow, SecretUpdate, Stale, Store, StoreResult};

/// A provider key's columns.
macro_rules! key_cols {
    () => {
        "id, org_id, project_id, environment, provider, name, ciphertext, data_key_version, masked, last_four, \
         active, status, test_status, test_message, tested_at, test_latency_ms, created_by, updated_by, created_at, \
         updated_at, health_status, health_since, health_failures, health_error, health_error_at, health_success_at, \
         retest_at, retest_attempts, secret_at, rotation_notified_at"
    };
}

pub(super) use key_cols;

static INSERT: Sql = Sql::new(concat!(
    "INSERT INTO provider_keys (",
    key_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
     $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"
));
static ONE: Sql = Sql::new(concat!("SELECT ", key_cols!(), " FROM provider_keys WHERE org_id = $1 AND id = $2"));
static ACTIVE: Sql = Sql::new(concat!(
    "SELECT ",
    key_cols!(),
    " FROM provider_keys WHERE org_id = $1 AND coalesce(project_id, '') = coalesce($2, '')
     AND environment = $3 AND provider = $4 AND active = TRUE"
));
static OF_ORG: Sql =
    Sql::new(concat!("SELECT ", key_cols!(), " FROM provider_keys WHERE org_id = $1 ORDER BY created_at, id"));
pub(super) static ALL: Sql = Sql::new(concat!("SELECT ", key_cols!(), " FROM provider_keys ORDER BY created_at, id"));
static CLEAR_SLOT: Sql = Sql::new(
    "UPDATE provider_keys SET active = FALSE WHERE org_id = $1 AND coalesce(project_id, '') = coalesce($2, '')
       AND environment = $3 AND provider = $4 AND active = TRUE AND id <> $5",
);
static SET_SECRET: Sql = Sql::new(
    "UPDATE provider_keys SET ciphertext = $3, data_key_version = $4, masked = $5, last_four = $6,
       name = coalesce($7, name), updated_by = $8, updated_at = $9, status = 'untested',
       test_status = NULL, test_message = NULL, tested_at = NULL, test_latency_ms = NULL,
       health_status = NULL, health_since = NULL, health_failures = 0, health_error = NULL,
       health_error_at = NULL, health_success_at = NULL, retest_at = NULL, retest_attempts = 0,
       secret_at = $9, rotation_notified_at = NULL
     WHERE org_id = $1 AND id = $2",
);
static ACTIVATE: Sql =
    Sql::new("UPDATE provider_keys SET active = TRUE, updated_by = $3, updated_at = $4 WHERE org_id = $1 AND id = $2");
static DELETE: Sql = Sql::new("DELETE FROM provider_keys WHERE org_id = $1 AND id = $2");
static RECORD_TEST: Sql = Sql::new(
    "UPDATE provider_keys SET status = $3, test_status = $3, test_message = $4, tested_at = $5, test_latency_ms = $6
     WHERE org_id = $1 AND id = $2",
);

impl FromRow for ProviderKeyRow {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        const T: &str = "provider_keys";
        let test_status: Option<KeyStatus> = r.parse_opt(T, 12)?;
        Ok(ProviderKeyRow {
            id: r.get(0)?,
            org_id: r.get(1)?,
            project_id: r.get(2)?,
            environment: r.parse(T, 3)?,
            provider: r.parse(T, 4)?,
            name: r.get(5)?,
            ciphertext: r.get(6)?,
            data_key_version: r.u32(7)?,
            masked: r.get(8)?,
            last_four: r.get(9)?,
            active: r.get(10)?,
            status: r.parse(T, 11)?,
            last_test: match test_status {
                Some(status) => Some(TestRecord {
                    status,
                    message: r.get::<Option<String>>(13)?.unwrap_or_default(),
                    tested_at: r.get::<Option<String>>(14)?.unwrap_or_default(),
                    latency_ms: r.opt_u64(15)?.unwrap_or_default(),
                }),
                None => None,
            },
            health: HealthRow {
                status: r.parse_opt(T, 20)?,
                since: r.get(21)?,
                failures: r.u64(22)?,
                last_error: r.parse_opt(T, 23)?,
                last_error_at: r.get(24)?,
                last_success_at: r.get(25)?,
                retest_at: r.opt_u64(26)?,
                retest_attempts: r.u32(27)?,
                secret_at: r.get(28)?,
                rotation_notified_at: r.get(29)?,
            },
            created_by: r.get(16)?,
            updated_by: r.get(17)?,
            created_at: r.get(18)?,
            updated_at: r.get(19)?,
        })
    }
}

/// Inserts a provider-key row as it is (its `active` flag included).
pub(super) async fn insert(c: &impl Conn, row: &ProviderKeyRow) -> StoreResult<()> {
    let test = row.last_test.as_ref();
    c.execute(
        &INSERT,
        &[
            &row.id,
            &row.org_id,
            &row.project_id,
            &row.environment.as_str(),
            &row.provider.as_str(),
            &row.name,
            &row.ciphertext,
            &i64::from(row.data_key_version),
            &row.masked,
            &row.last_four,
            &row.active,
            &row.status.as_str(),
            &test.map(|t| t.status.as_str()),
            &test.map(|t| t.message.as_str()),
            &test.map(|t| t.tested_at.as_str()),
            &test.map(|t| t.latency_ms as i64),
            &row.created_by,
            &row.updated_by,
            &row.created_at,
            &row.updated_at,
            &row.health.status.map(|s| s.as_str()),
            &row.health.since,
            &(row.health.failures as i64),
            &row.health.last_error.map(|s| s.as_str()),
            &row.health.last_error_at,
            &row.health.last_success_at,
            &row.health.retest_at.map(|t| t as i64),
            &i64::from(row.health.retest_attempts),
            &row.health.secret_at,
            &row.health.rotation_notified_at,
        ],
    )
    .await?;
    Ok(())
}

async fn one(c: &impl Conn, org_id: &str, id: &str) -> StoreResult<Option<ProviderKeyRow>> {
    c.query_opt(&ONE, &[&org_id, &id]).await
}

/// Deactivates whatever key holds the slot of `row`, so `row` can become active. The slot is
/// locked for the rest of the transaction first, so two writers of one slot queue instead of
/// one failing on the one-active-key index.
async fn clear_slot(c: &impl Conn, row: &ProviderKeyRow, except_id: &str) -> StoreResult<()> {
    let (env, provider) = (row.environment.as_str(), row.provider.as_str());
    let project = row.project_id.as_deref().unwrap_or("");
    c.lock(&format!("{}/{project}/{env}/{provider}", row.org_id)).await?;
    c.execute(&CLEAR_SLOT, &[&row.org_id, &row.project_id, &env, &provider, &except_id]).await?;
    Ok(())
}

impl Store {
    /// Inserts `row` as the active key of its slot; the previous active key becomes inactive.
    pub async fn insert_provider_key(&self, row: NewProviderKey, audit: NewAuditEvent) -> StoreResult<()> {
        write!(self, Stale::KEYS, [audit], |c| async {
            clear_slot(c, &row, &row.id).await?;
            insert(c, &row).await
        })
    }

    pub async fn provider_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        read!(self, |c| one(c, &org_id, &id))
    }

    /// The active key of a slot, if any.
    pub async fn active_provider_key(
        &self,
        org_id: &str,
        project_id: Option<&str>,
        environment: Environment,
        provider: Provider,
    ) -> StoreResult<Option<Arc<ProviderKeyRow>>> {
        let generation = self.generation(Stale::KEYS);
        let key = (org_id.to_owned(), project_id.map(str::to_owned), environment.as_str(), provider.as_str());
        if let Some(hit) = generation.and_then(|g| self.caches.active_keys.get(&key, g)) {
            return Ok(hit);
        }
        let (org, project) = (key.0.clone(), key.1.clone());
        let (env, provider) = (key.2, key.3);
        let found: Option<ProviderKeyRow> = read!(self, |c| c.query_opt(&ACTIVE, &[&org, &project, &env, &provider]))?;
        let found = found.map(Arc::new);
        if let Some(g) = generation {
            self.caches.active_keys.put(key, g, found.clone());
        }
        Ok(found)
    }

    /// Replaces a key's secret (and name) in place. Returns the updated row, or `None` if absent.
    pub async fn update_provider_key_secret(
        &self,
        org_id: &str,
        id: &str,
        u: SecretUpdate,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        write!(self, Stale::KEYS, [audit], |c| async {
            let n = c
                .execute(
                    &SET_SECRET,
                    &[
                        &org_id,
                        &id,
                        &u.ciphertext,
                        &i64::from(u.data_key_version),
                        &u.masked,
                        &u.last_four,
                        &u.name,
                        &u.updated_by,
                        &u.at,
                    ],
                )
                .await?;
            if n == 0 { Ok(None) } else { one(c, &org_id, &id).await }
        })
    }

    /// Makes a key the active one of its slot (rotation and rollback).
    pub async fn activate_provider_key(
        &self,
        org_id: &str,
        id: &str,
        updated_by: &str,
        at: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id, updated_by, at) = (org_id.to_owned(), id.to_owned(), updated_by.to_owned(), at.to_owned());
        write!(self, Stale::KEYS, [audit], |c| async {
            let Some(row) = one(c, &org_id, &id).await? else { return Ok(None) };
            clear_slot(c, &row, &id).await?;
            c.execute(&ACTIVATE, &[&org_id, &id, &updated_by, &at]).await?;
            one(c, &org_id, &id).await
        })
    }

    /// Deletes a key and its ciphertext. Returns the deleted row.
    pub async fn delete_provider_key(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        write!(self, Stale::KEYS, [audit], |c| async {
            let row = one(c, &org_id, &id).await?;
            if row.is_some() {
                c.execute(&DELETE, &[&org_id, &id]).await?;
            }
            Ok(row)
        })
    }

    /// Stores a test outcome (and the key's status) with its audit event.
    pub async fn record_provider_key_test(
        &self,
        org_id: &str,
        id: &str,
        test: TestRecord,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        write!(self, Stale::KEYS, [audit], |c| async {
            let params: [&dyn super::sql::Value; 6] =
                [&org_id, &id, &test.status.as_str(), &test.message, &test.tested_at, &(test.latency_ms as i64)];
            Ok(c.execute(&RECORD_TEST, &params).await? == 1)
        })
    }

    /// Every provider key of an organization, oldest first (uncached; `provider_keys` caches).
    pub async fn org_provider_keys(&self, org_id: &str) -> StoreResult<Vec<ProviderKeyRow>> {
        let org_id = org_id.to_owned();
        read!(self, |c| c.query(&OF_ORG, &[&org_id]))
    }
}
