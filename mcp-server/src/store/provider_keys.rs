//! The vault's rows: wrapped data keys, encrypted provider keys, and the master-key verifiers.
//! Only ciphertext and non-secret previews are stored here.

use converra::{Environment, KeyStatus, Provider, ProviderKeyFilter};
use rusqlite::{Connection, OptionalExtension, params};

use super::audit::insert_audit;
use super::{NewAuditEvent, Store, StoreResult, parse_col};

/// An organization's data key, sealed by a master key.
#[derive(Debug, Clone)]
pub struct DataKeyRow {
    pub org_id: String,
    pub version: u32,
    pub wrapped: Vec<u8>,
    pub master_version: u32,
    /// During a master-key rotation: the same data key sealed by the previous master key, so
    /// a server still running with that key keeps working.
    pub wrapped_prev: Option<Vec<u8>>,
    pub prev_master_version: Option<u32>,
    pub created_at: String,
}

const DK_COLS: &str = "org_id, version, wrapped, master_version, created_at, wrapped_prev, prev_master_version";

fn data_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DataKeyRow> {
    Ok(DataKeyRow {
        org_id: r.get(0)?,
        version: r.get(1)?,
        wrapped: r.get(2)?,
        master_version: r.get(3)?,
        created_at: r.get(4)?,
        wrapped_prev: r.get(5)?,
        prev_master_version: r.get(6)?,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord {
    pub status: KeyStatus,
    pub message: String,
    pub tested_at: String,
    pub latency_ms: u64,
}

#[derive(Debug, Clone)]
pub struct ProviderKeyRow {
    pub id: String,
    pub org_id: String,
    pub project_id: Option<String>,
    pub environment: Environment,
    pub provider: Provider,
    pub name: String,
    pub ciphertext: Vec<u8>,
    pub data_key_version: u32,
    pub masked: String,
    pub last_four: String,
    pub active: bool,
    pub status: KeyStatus,
    pub last_test: Option<TestRecord>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A key to insert as the active key of its slot.
pub type NewProviderKey = ProviderKeyRow;

const PK_COLS: &str = "id, org_id, project_id, environment, provider, name, ciphertext, data_key_version, masked, last_four, \
                       active, status, test_status, test_message, tested_at, test_latency_ms, created_by, updated_by, created_at, updated_at";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ProviderKeyRow, [String; 3], Option<String>)> {
    // Enum columns are read as text and parsed after, so a corrupt value is a typed error.
    let env: String = r.get(3)?;
    let provider: String = r.get(4)?;
    let status: String = r.get(11)?;
    let test_status: Option<String> = r.get(12)?;
    let row = ProviderKeyRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        project_id: r.get(2)?,
        environment: Environment::Test,
        provider: Provider::Openai,
        name: r.get(5)?,
        ciphertext: r.get(6)?,
        data_key_version: r.get(7)?,
        masked: r.get(8)?,
        last_four: r.get(9)?,
        active: r.get(10)?,
        status: KeyStatus::Untested,
        last_test: match test_status {
            Some(_) => Some(TestRecord {
                status: KeyStatus::Untested,
                message: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                tested_at: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                latency_ms: r.get::<_, Option<i64>>(15)?.unwrap_or_default() as u64,
            }),
            None => None,
        },
        created_by: r.get(16)?,
        updated_by: r.get(17)?,
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
    };
    Ok((row, [env, provider, status], test_status))
}

fn finish_row(raw: (ProviderKeyRow, [String; 3], Option<String>)) -> StoreResult<ProviderKeyRow> {
    let (mut row, [env, provider, status], test_status) = raw;
    row.environment = parse_col("provider_keys", env)?;
    row.provider = parse_col("provider_keys", provider)?;
    row.status = parse_col("provider_keys", status)?;
    if let (Some(test), Some(s)) = (row.last_test.as_mut(), test_status) {
        test.status = parse_col("provider_keys", s)?;
    }
    Ok(row)
}

fn query_rows(c: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<ProviderKeyRow>> {
    let mut stmt = c.prepare_cached(sql)?;
    let raws = stmt.query_map(params, read_row)?.collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(finish_row).collect()
}

fn one_row(c: &Connection, org_id: &str, id: &str) -> StoreResult<Option<ProviderKeyRow>> {
    Ok(query_rows(c, &format!("SELECT {PK_COLS} FROM provider_keys WHERE org_id = ?1 AND id = ?2"), [org_id, id])?
        .pop())
}

pub(super) fn insert_data_key_row(c: &Connection, d: &DataKeyRow) -> StoreResult<()> {
    c.execute(
        &format!("INSERT INTO data_keys ({DK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![d.org_id, d.version, d.wrapped, d.master_version, d.created_at, d.wrapped_prev, d.prev_master_version],
    )?;
    Ok(())
}

/// Deactivates whatever key holds the slot of `row`, so `row` can become active.
fn clear_slot(c: &Connection, row: &ProviderKeyRow, except_id: &str) -> StoreResult<()> {
    c.execute(
        "UPDATE provider_keys SET active = 0 WHERE org_id = ?1 AND ifnull(project_id, '') = ifnull(?2, '')
           AND environment = ?3 AND provider = ?4 AND active = 1 AND id <> ?5",
        params![row.org_id, row.project_id, row.environment.as_str(), row.provider.as_str(), except_id],
    )?;
    Ok(())
}

impl Store {
    /// The organization's newest data key.
    pub async fn current_data_key(&self, org_id: &str) -> StoreResult<Option<DataKeyRow>> {
        self.data_key(org_id, None).await
    }

    /// One data key version (or the newest when `version` is `None`).
    pub async fn data_key(&self, org_id: &str, version: Option<u32>) -> StoreResult<Option<DataKeyRow>> {
        let org_id = org_id.to_owned();
        self.run(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {DK_COLS} FROM data_keys
                         WHERE org_id = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1"
                ),
                params![org_id, version],
                data_key_row,
            )
            .optional()?)
        })
        .await
    }

    /// Every data key of every organization (for master-key rotation).
    pub fn all_data_keys_sync(&self) -> StoreResult<Vec<DataKeyRow>> {
        self.run_sync(|c| {
            let mut stmt = c.prepare(&format!("SELECT {DK_COLS} FROM data_keys ORDER BY org_id, version"))?;
            let rows = stmt.query_map([], data_key_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Replaces every data key of one organization with its rewrapped form, in one transaction.
    pub fn rewrap_org_data_keys_sync(&self, org_id: &str, rewrapped: &[DataKeyRow]) -> StoreResult<()> {
        self.run_sync(|c| {
            let tx = c.transaction()?;
            for d in rewrapped {
                tx.execute(
                    "UPDATE data_keys SET wrapped = ?3, master_version = ?4, wrapped_prev = ?5, prev_master_version = ?6
                     WHERE org_id = ?1 AND version = ?2",
                    params![org_id, d.version, d.wrapped, d.master_version, d.wrapped_prev, d.prev_master_version],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Adds a data key version and re-encrypts the organization's provider keys under it, atomically.
    pub fn rotate_data_key_sync(&self, data_key: &DataKeyRow, reencrypted: &[(String, Vec<u8>)]) -> StoreResult<()> {
        self.run_sync(|c| {
            let tx = c.transaction()?;
            insert_data_key_row(&tx, data_key)?;
            for (id, ciphertext) in reencrypted {
                tx.execute(
                    "UPDATE provider_keys SET ciphertext = ?3, data_key_version = ?4 WHERE org_id = ?1 AND id = ?2",
                    params![data_key.org_id, id, ciphertext, data_key.version],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    pub fn meta_sync(&self, key: &str) -> StoreResult<Option<String>> {
        self.run_sync(|c| Ok(c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?))
    }

    pub fn set_meta_sync(&self, key: &str, value: &str) -> StoreResult<()> {
        self.run_sync(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )?;
            Ok(())
        })
    }

    /// Inserts `row` as the active key of its slot; the previous active key becomes inactive.
    pub async fn insert_provider_key(&self, row: NewProviderKey, audit: NewAuditEvent) -> StoreResult<()> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            clear_slot(&tx, &row, &row.id)?;
            tx.execute(
                &format!("INSERT INTO provider_keys ({PK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"),
                params![
                    row.id,
                    row.org_id,
                    row.project_id,
                    row.environment.as_str(),
                    row.provider.as_str(),
                    row.name,
                    row.ciphertext,
                    row.data_key_version,
                    row.masked,
                    row.last_four,
                    true,
                    row.status.as_str(),
                    row.last_test.as_ref().map(|t| t.status.as_str()),
                    row.last_test.as_ref().map(|t| t.message.as_str()),
                    row.last_test.as_ref().map(|t| t.tested_at.as_str()),
                    row.last_test.as_ref().map(|t| t.latency_ms as i64),
                    row.created_by,
                    row.updated_by,
                    row.created_at,
                    row.updated_at
                ],
            )?;
            insert_audit(&tx, &audit)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn provider_keys(&self, org_id: &str, filter: ProviderKeyFilter) -> StoreResult<Vec<ProviderKeyRow>> {
        let org_id = org_id.to_owned();
        self.run(move |c| {
            query_rows(
                c,
                &format!(
                    "SELECT {PK_COLS} FROM provider_keys WHERE org_id = ?1 AND (?2 IS NULL OR provider = ?2)
                     AND (?3 IS NULL OR project_id = ?3) AND (?4 IS NULL OR environment = ?4)
                     ORDER BY created_at, id"
                ),
                params![
                    org_id,
                    filter.provider.map(|p| p.as_str()),
                    filter.project_id,
                    filter.environment.map(|e| e.as_str())
                ],
            )
        })
        .await
    }

    pub async fn provider_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| one_row(c, &org_id, &id)).await
    }

    /// The active key of a slot, if any.
    pub async fn active_provider_key(
        &self,
        org_id: &str,
        project_id: Option<&str>,
        environment: Environment,
        provider: Provider,
    ) -> StoreResult<Option<std::sync::Arc<ProviderKeyRow>>> {
        let generation = self.generation();
        let key = (org_id.to_owned(), project_id.map(str::to_owned), environment.as_str(), provider.as_str());
        if let Some(hit) = self.caches().active_keys.get(&key, generation) {
            return Ok(hit);
        }
        let (org_id, project_id) = (org_id.to_owned(), project_id.map(str::to_owned));
        let found = self
            .run(move |c| {
                Ok(query_rows(
                    c,
                    &format!(
                    "SELECT {PK_COLS} FROM provider_keys WHERE org_id = ?1 AND ifnull(project_id, '') = ifnull(?2, '')
                     AND environment = ?3 AND provider = ?4 AND active = 1"
                ),
                    params![org_id, project_id, environment.as_str(), provider.as_str()],
                )?
                .pop()
                .map(std::sync::Arc::new))
            })
            .await?;
        self.caches().active_keys.put(key, generation, found.clone());
        Ok(found)
    }

    /// Replaces a key's secret (and name) in place. Returns the updated row, or `None` if absent.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_provider_key_secret(
        &self,
        org_id: &str,
        id: &str,
        ciphertext: Vec<u8>,
        data_key_version: u32,
        masked: String,
        last_four: String,
        name: Option<String>,
        updated_by: String,
        at: String,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE provider_keys SET ciphertext = ?3, data_key_version = ?4, masked = ?5, last_four = ?6,
                   name = ifnull(?7, name), updated_by = ?8, updated_at = ?9, status = 'untested',
                   test_status = NULL, test_message = NULL, tested_at = NULL, test_latency_ms = NULL
                 WHERE org_id = ?1 AND id = ?2",
                params![org_id, id, ciphertext, data_key_version, masked, last_four, name, updated_by, at],
            )?;
            if n == 0 {
                return Ok(None);
            }
            insert_audit(&tx, &audit)?;
            let row = one_row(&tx, &org_id, &id)?;
            tx.commit()?;
            Ok(row)
        })
        .await
    }

    /// Makes a key the active one of its slot (rotation and rollback).
    pub async fn activate_provider_key(
        &self,
        org_id: &str,
        id: &str,
        updated_by: String,
        at: String,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let Some(row) = one_row(&tx, &org_id, &id)? else { return Ok(None) };
            clear_slot(&tx, &row, &id)?;
            tx.execute(
                "UPDATE provider_keys SET active = 1, updated_by = ?3, updated_at = ?4 WHERE org_id = ?1 AND id = ?2",
                params![org_id, id, updated_by, at],
            )?;
            insert_audit(&tx, &audit)?;
            let row = one_row(&tx, &org_id, &id)?;
            tx.commit()?;
            Ok(row)
        })
        .await
    }

    /// Deletes a key and its ciphertext. Returns the deleted row.
    pub async fn delete_provider_key(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            let Some(row) = one_row(&tx, &org_id, &id)? else {
                return Ok(None);
            };
            tx.execute("DELETE FROM provider_keys WHERE org_id = ?1 AND id = ?2", [&org_id, &id])?;
            insert_audit(&tx, &audit)?;
            tx.commit()?;
            Ok(Some(row))
        })
        .await
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
        self.run(move |c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE provider_keys SET status = ?3, test_status = ?3, test_message = ?4, tested_at = ?5, test_latency_ms = ?6
                 WHERE org_id = ?1 AND id = ?2",
                params![org_id, id, test.status.as_str(), test.message, test.tested_at, test.latency_ms as i64],
            )?;
            if n == 1 {
                insert_audit(&tx, &audit)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    /// Marks a key's health from live traffic (e.g. `invalid_key` after a provider 401).
    pub async fn set_provider_key_status(&self, org_id: &str, id: &str, status: KeyStatus) -> StoreResult<()> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| {
            c.execute(
                "UPDATE provider_keys SET status = ?3 WHERE org_id = ?1 AND id = ?2",
                params![org_id, id, status.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    /// Every provider key of an organization, for data-key rotation.
    pub fn org_provider_keys_sync(&self, org_id: &str) -> StoreResult<Vec<ProviderKeyRow>> {
        self.run_sync(|c| query_rows(c, &format!("SELECT {PK_COLS} FROM provider_keys WHERE org_id = ?1"), [org_id]))
    }
}
