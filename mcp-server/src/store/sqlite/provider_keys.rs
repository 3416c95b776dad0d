//! The vault's rows: wrapped data keys, encrypted provider keys, and the master-key verifiers.
//! Only ciphertext and non-secret previews are stored here.

use converra::{Environment, KeyStatus, Provider, ProviderKeyFilter};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Sqlite, parse};
use crate::store::{
    DataKeyRow, HealthRow, NewAuditEvent, NewProviderKey, ProviderKeyRow, Reencrypted, SecretUpdate, StoreResult,
    TestRecord,
};

pub(super) const DK_COLS: &str =
    "org_id, version, wrapped, master_version, created_at, wrapped_prev, prev_master_version";

pub(super) fn data_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DataKeyRow> {
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

pub(super) const PK_COLS: &str = "id, org_id, project_id, environment, provider, name, ciphertext, data_key_version, masked, last_four, \
                       active, status, test_status, test_message, tested_at, test_latency_ms, created_by, updated_by, created_at, updated_at, \
                       health_status, health_since, health_failures, health_error, health_error_at, health_success_at, \
                       retest_at, retest_attempts, secret_at, rotation_notified_at";

type RawRow = (ProviderKeyRow, [String; 3], Option<String>, [Option<String>; 2]);

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
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
        health: HealthRow {
            status: None,
            since: r.get(21)?,
            failures: r.get::<_, i64>(22)? as u64,
            last_error: None,
            last_error_at: r.get(24)?,
            last_success_at: r.get(25)?,
            retest_at: r.get::<_, Option<i64>>(26)?.map(|t| t as u64),
            retest_attempts: r.get(27)?,
            secret_at: r.get(28)?,
            rotation_notified_at: r.get(29)?,
        },
        created_by: r.get(16)?,
        updated_by: r.get(17)?,
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
    };
    Ok((row, [env, provider, status], test_status, [r.get(20)?, r.get(23)?]))
}

fn finish_row(raw: RawRow) -> StoreResult<ProviderKeyRow> {
    let (mut row, [env, provider, status], test_status, [health, error]) = raw;
    row.health.status = health.map(|s| parse("provider_keys", s)).transpose()?;
    row.health.last_error = error.map(|s| parse("provider_keys", s)).transpose()?;
    row.environment = parse("provider_keys", env)?;
    row.provider = parse("provider_keys", provider)?;
    row.status = parse("provider_keys", status)?;
    if let (Some(test), Some(s)) = (row.last_test.as_mut(), test_status) {
        test.status = parse("provider_keys", s)?;
    }
    Ok(row)
}

pub(super) fn query_rows(c: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<ProviderKeyRow>> {
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

/// The row of a slot's active key, if any.
fn active_row(
    c: &Connection,
    org_id: &str,
    project_id: Option<&str>,
    environment: Environment,
    provider: Provider,
) -> StoreResult<Option<ProviderKeyRow>> {
    Ok(query_rows(
        c,
        &format!(
            "SELECT {PK_COLS} FROM provider_keys WHERE org_id = ?1 AND ifnull(project_id, '') = ifnull(?2, '')
             AND environment = ?3 AND provider = ?4 AND active = 1"
        ),
        params![org_id, project_id, environment.as_str(), provider.as_str()],
    )?
    .pop())
}

impl Sqlite {
    pub(in crate::store) async fn data_key(
        &self,
        org_id: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<DataKeyRow>> {
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

    pub(in crate::store) async fn all_data_keys(&self) -> StoreResult<Vec<DataKeyRow>> {
        self.run(|c| {
            let mut stmt = c.prepare(&format!("SELECT {DK_COLS} FROM data_keys ORDER BY org_id, version"))?;
            let rows = stmt.query_map([], data_key_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub(in crate::store) async fn rewrap_data_keys(&self, org_id: &str, rewrapped: Vec<DataKeyRow>) -> StoreResult<()> {
        let org_id = org_id.to_owned();
        self.transaction(move |tx| {
            for d in &rewrapped {
                tx.execute(
                    "UPDATE data_keys SET wrapped = ?3, master_version = ?4, wrapped_prev = ?5, prev_master_version = ?6
                     WHERE org_id = ?1 AND version = ?2",
                    params![org_id, d.version, d.wrapped, d.master_version, d.wrapped_prev, d.prev_master_version],
                )?;
            }
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn drop_previous_wrappings(&self) -> StoreResult<u64> {
        self.run(|c| {
            let n = c.execute(
                "UPDATE data_keys SET wrapped_prev = NULL, prev_master_version = NULL WHERE wrapped_prev IS NOT NULL",
                [],
            )?;
            // secure_delete (on since open) zeroed the old cells; the WAL still holds the pages
            // as they were before: copy it into the database and truncate it to nothing. The
            // checkpoint waits (the busy timeout) for readers of older pages; when it still
            // cannot finish, the WAL keeps them, and that is an error (the deletion stands,
            // and running this again completes the scrub).
            let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some(
                        "the old wrappings are deleted, but the write-ahead log that still holds them could not be \
                         checkpointed: another connection kept reading; run it again"
                            .into(),
                    ),
                )
                .into());
            }
            Ok(n as u64)
        })
        .await
    }

    pub(in crate::store) async fn rotate_data_key(
        &self,
        data_key: DataKeyRow,
        reencrypted: Vec<Reencrypted>,
    ) -> StoreResult<bool> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            insert_data_key_row(&tx, &data_key)?;
            for r in &reencrypted {
                let n = tx.execute(
                    "UPDATE provider_keys SET ciphertext = ?4, data_key_version = ?5
                     WHERE org_id = ?1 AND id = ?2 AND ciphertext = ?3",
                    params![data_key.org_id, r.id, r.previous, r.ciphertext, data_key.version],
                )?;
                if n != 1 {
                    // Replaced or removed since it was read: roll back, the caller reads again.
                    return Ok(false);
                }
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub(in crate::store) async fn reseal_provider_keys(
        &self,
        org_id: &str,
        version: u32,
        resealed: Vec<Reencrypted>,
    ) -> StoreResult<u64> {
        let org_id = org_id.to_owned();
        self.transaction(move |tx| {
            let mut n = 0;
            for r in &resealed {
                n += tx.execute(
                    "UPDATE provider_keys SET ciphertext = ?4, data_key_version = ?5
                     WHERE org_id = ?1 AND id = ?2 AND ciphertext = ?3",
                    params![org_id, r.id, r.previous, r.ciphertext, version],
                )?;
            }
            Ok(n as u64)
        })
        .await
    }

    pub(in crate::store) async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.run(move |c| Ok(c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?))
            .await
    }

    pub(in crate::store) async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(move |c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.transaction(move |tx| {
            tx.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING", [&key, &value])?;
            Ok(tx.query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| r.get(0))?)
        })
        .await
    }

    pub(in crate::store) async fn insert_provider_key(
        &self,
        row: NewProviderKey,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        self.audited([audit], move |tx| {
            clear_slot(tx, &row, &row.id)?;
            insert_provider_key_row(tx, &row)
        })
        .await
    }

    pub(in crate::store) async fn provider_keys(
        &self,
        org_id: &str,
        filter: ProviderKeyFilter,
    ) -> StoreResult<Vec<ProviderKeyRow>> {
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

    pub(in crate::store) async fn provider_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.run(move |c| one_row(c, &org_id, &id)).await
    }

    pub(in crate::store) async fn active_provider_key(
        &self,
        org_id: &str,
        project_id: Option<&str>,
        environment: Environment,
        provider: Provider,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, project_id) = (org_id.to_owned(), project_id.map(str::to_owned));
        self.run(move |c| active_row(c, &org_id, project_id.as_deref(), environment, provider)).await
    }

    pub(in crate::store) async fn update_provider_key_secret(
        &self,
        org_id: &str,
        id: &str,
        u: SecretUpdate,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.audited([audit], move |tx| {
            let n = tx.execute(
                "UPDATE provider_keys SET ciphertext = ?3, data_key_version = ?4, masked = ?5, last_four = ?6,
                   name = ifnull(?7, name), updated_by = ?8, updated_at = ?9, status = 'untested',
                   test_status = NULL, test_message = NULL, tested_at = NULL, test_latency_ms = NULL,
                   health_status = NULL, health_since = NULL, health_failures = 0, health_error = NULL,
                   health_error_at = NULL, health_success_at = NULL, retest_at = NULL, retest_attempts = 0,
                   secret_at = ?9, rotation_notified_at = NULL
                 WHERE org_id = ?1 AND id = ?2",
                params![
                    org_id,
                    id,
                    u.ciphertext,
                    u.data_key_version,
                    u.masked,
                    u.last_four,
                    u.name,
                    u.updated_by,
                    u.at
                ],
            )?;
            if n == 0 {
                return Ok(None);
            }
            one_row(tx, &org_id, &id)
        })
        .await
    }

    pub(in crate::store) async fn activate_provider_key(
        &self,
        org_id: &str,
        id: &str,
        updated_by: &str,
        at: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id, updated_by, at) = (org_id.to_owned(), id.to_owned(), updated_by.to_owned(), at.to_owned());
        self.audited([audit], move |tx| {
            let Some(row) = one_row(tx, &org_id, &id)? else { return Ok(None) };
            clear_slot(tx, &row, &id)?;
            tx.execute(
                "UPDATE provider_keys SET active = 1, updated_by = ?3, updated_at = ?4 WHERE org_id = ?1 AND id = ?2",
                params![org_id, id, updated_by, at],
            )?;
            one_row(tx, &org_id, &id)
        })
        .await
    }

    pub(in crate::store) async fn delete_provider_key(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.audited([audit], move |tx| {
            let Some(row) = one_row(tx, &org_id, &id)? else { return Ok(None) };
            tx.execute("DELETE FROM provider_keys WHERE org_id = ?1 AND id = ?2", [&org_id, &id])?;
            Ok(Some(row))
        })
        .await
    }

    pub(in crate::store) async fn record_provider_key_test(
        &self,
        org_id: &str,
        id: &str,
        test: TestRecord,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.audited([audit], move |tx| {
            Ok(tx.execute(
                "UPDATE provider_keys SET status = ?3, test_status = ?3, test_message = ?4, tested_at = ?5, test_latency_ms = ?6
                 WHERE org_id = ?1 AND id = ?2",
                params![org_id, id, test.status.as_str(), test.message, test.tested_at, test.latency_ms as i64],
            )? == 1)
        })
        .await
    }

    pub(in crate::store) async fn org_provider_keys(&self, org_id: &str) -> StoreResult<Vec<ProviderKeyRow>> {
        let org_id = org_id.to_owned();
        self.run(move |c| query_rows(c, &format!("SELECT {PK_COLS} FROM provider_keys WHERE org_id = ?1"), [org_id]))
            .await
    }
}

/// Inserts a provider-key row as it is (its `active` flag included).
pub(super) fn insert_provider_key_row(c: &Connection, row: &ProviderKeyRow) -> StoreResult<()> {
    c.execute(
        &format!("INSERT INTO provider_keys ({PK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
             ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)"),
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
            row.active,
            row.status.as_str(),
            row.last_test.as_ref().map(|t| t.status.as_str()),
            row.last_test.as_ref().map(|t| t.message.as_str()),
            row.last_test.as_ref().map(|t| t.tested_at.as_str()),
            row.last_test.as_ref().map(|t| t.latency_ms as i64),
            row.created_by,
            row.updated_by,
            row.created_at,
            row.updated_at,
            row.health.status.map(|s| s.as_str()),
            row.health.since,
            row.health.failures as i64,
            row.health.last_error.map(|s| s.as_str()),
            row.health.last_error_at,
            row.health.last_success_at,
            row.health.retest_at.map(|t| t as i64),
            row.health.retest_attempts,
            row.health.secret_at,
            row.health.rotation_notified_at
        ],
    )?;
    Ok(())
}
