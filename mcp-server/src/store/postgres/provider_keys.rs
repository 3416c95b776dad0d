//! The vault's rows: wrapped data keys, encrypted provider keys, and the master-key records.
//! Only ciphertext and non-secret previews are stored here.

use converra::{Environment, Provider, ProviderKeyFilter};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Postgres, commit_audited, notify, parse};
use crate::store::Stale;
use crate::store::{
    DataKeyRow, HealthRow, NewAuditEvent, NewProviderKey, ProviderKeyRow, Reencrypted, SecretUpdate, StoreResult,
    TestRecord,
};

pub(super) const DK_COLS: &str =
    "org_id, version, wrapped, master_version, created_at, wrapped_prev, prev_master_version";

pub(super) fn data_key_at(r: &Row) -> StoreResult<DataKeyRow> {
    Ok(DataKeyRow {
        org_id: r.try_get(0)?,
        version: r.try_get::<_, i64>(1)? as u32,
        wrapped: r.try_get(2)?,
        master_version: r.try_get::<_, i64>(3)? as u32,
        created_at: r.try_get(4)?,
        wrapped_prev: r.try_get(5)?,
        prev_master_version: r.try_get::<_, Option<i64>>(6)?.map(|v| v as u32),
    })
}

pub(super) const PK_COLS: &str = "id, org_id, project_id, environment, provider, name, ciphertext, data_key_version, masked, last_four, \
                       active, status, test_status, test_message, tested_at, test_latency_ms, created_by, updated_by, created_at, updated_at, \
                       health_status, health_since, health_failures, health_error, health_error_at, health_success_at, \
                       retest_at, retest_attempts, secret_at, rotation_notified_at";

pub(super) fn key_at(r: &Row) -> StoreResult<ProviderKeyRow> {
    let test_status: Option<&str> = r.try_get(12)?;
    Ok(ProviderKeyRow {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        project_id: r.try_get(2)?,
        environment: parse("provider_keys", r.try_get(3)?)?,
        provider: parse("provider_keys", r.try_get(4)?)?,
        name: r.try_get(5)?,
        ciphertext: r.try_get(6)?,
        data_key_version: r.try_get::<_, i64>(7)? as u32,
        masked: r.try_get(8)?,
        last_four: r.try_get(9)?,
        active: r.try_get(10)?,
        status: parse("provider_keys", r.try_get(11)?)?,
        last_test: match test_status {
            Some(status) => Some(TestRecord {
                status: parse("provider_keys", status)?,
                message: r.try_get::<_, Option<String>>(13)?.unwrap_or_default(),
                tested_at: r.try_get::<_, Option<String>>(14)?.unwrap_or_default(),
                latency_ms: r.try_get::<_, Option<i64>>(15)?.unwrap_or_default() as u64,
            }),
            None => None,
        },
        health: HealthRow {
            status: r.try_get::<_, Option<&str>>(20)?.map(|s| parse("provider_keys", s)).transpose()?,
            since: r.try_get(21)?,
            failures: r.try_get::<_, i64>(22)? as u64,
            last_error: r.try_get::<_, Option<&str>>(23)?.map(|s| parse("provider_keys", s)).transpose()?,
            last_error_at: r.try_get(24)?,
            last_success_at: r.try_get(25)?,
            retest_at: r.try_get::<_, Option<i64>>(26)?.map(|t| t as u64),
            retest_attempts: r.try_get::<_, i64>(27)? as u32,
            secret_at: r.try_get(28)?,
            rotation_notified_at: r.try_get(29)?,
        },
        created_by: r.try_get(16)?,
        updated_by: r.try_get(17)?,
        created_at: r.try_get(18)?,
        updated_at: r.try_get(19)?,
    })
}

async fn one_row(c: &impl GenericClient, org_id: &str, id: &str) -> StoreResult<Option<ProviderKeyRow>> {
    let row = c
        .query_opt(&format!("SELECT {PK_COLS} FROM provider_keys WHERE org_id = $1 AND id = $2"), &[&org_id, &id])
        .await?;
    row.as_ref().map(key_at).transpose()
}

pub(super) async fn insert_data_key_row(c: &impl GenericClient, d: &DataKeyRow) -> StoreResult<()> {
    c.execute(
        &format!("INSERT INTO data_keys ({DK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        &[
            &d.org_id,
            &i64::from(d.version),
            &d.wrapped,
            &i64::from(d.master_version),
            &d.created_at,
            &d.wrapped_prev,
            &d.prev_master_version.map(i64::from),
        ],
    )
    .await?;
    Ok(())
}

/// Inserts a provider-key row as it is (its `active` flag included).
pub(super) async fn insert_provider_key_row(c: &impl GenericClient, row: &ProviderKeyRow) -> StoreResult<()> {
    c.execute(
        &format!(
            "INSERT INTO provider_keys ({PK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"
        ),
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
            &row.last_test.as_ref().map(|t| t.status.as_str()),
            &row.last_test.as_ref().map(|t| t.message.as_str()),
            &row.last_test.as_ref().map(|t| t.tested_at.as_str()),
            &row.last_test.as_ref().map(|t| t.latency_ms as i64),
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

/// Deactivates whatever key holds the slot of `row`, so `row` can become active. The slot is
/// locked for the rest of the transaction first, so two writers of one slot queue instead of
/// one failing on the one-active-key index.
async fn clear_slot(c: &impl GenericClient, row: &ProviderKeyRow, except_id: &str) -> StoreResult<()> {
    let slot = format!(
        "{}/{}/{}/{}",
        row.org_id,
        row.project_id.as_deref().unwrap_or(""),
        row.environment.as_str(),
        row.provider.as_str()
    );
    c.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&slot]).await?;
    c.execute(
        "UPDATE provider_keys SET active = FALSE WHERE org_id = $1 AND coalesce(project_id, '') = coalesce($2, '')
           AND environment = $3 AND provider = $4 AND active AND id <> $5",
        &[&row.org_id, &row.project_id, &row.environment.as_str(), &row.provider.as_str(), &except_id],
    )
    .await?;
    Ok(())
}

impl Postgres {
    pub(in crate::store) async fn data_key(
        &self,
        org_id: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<DataKeyRow>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {DK_COLS} FROM data_keys WHERE org_id = $1 AND ($2::bigint IS NULL OR version = $2)
                     ORDER BY version DESC LIMIT 1"
                ),
                &[&org_id, &version.map(i64::from)],
            )
            .await?;
        row.as_ref().map(data_key_at).transpose()
    }

    pub(in crate::store) async fn all_data_keys(&self) -> StoreResult<Vec<DataKeyRow>> {
        let c = self.client().await?;
        let rows = c.query(&format!("SELECT {DK_COLS} FROM data_keys ORDER BY org_id, version"), &[]).await?;
        rows.iter().map(data_key_at).collect()
    }

    pub(in crate::store) async fn rewrap_data_keys(&self, org_id: &str, rewrapped: Vec<DataKeyRow>) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        for d in &rewrapped {
            tx.execute(
                "UPDATE data_keys SET wrapped = $3, master_version = $4, wrapped_prev = $5, prev_master_version = $6
                 WHERE org_id = $1 AND version = $2",
                &[
                    &org_id,
                    &i64::from(d.version),
                    &d.wrapped,
                    &i64::from(d.master_version),
                    &d.wrapped_prev,
                    &d.prev_master_version.map(i64::from),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(in crate::store) async fn drop_previous_wrappings(&self) -> StoreResult<u64> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE data_keys SET wrapped_prev = NULL, prev_master_version = NULL WHERE wrapped_prev IS NOT NULL",
                &[],
            )
            .await?;
        // Rewrites the table so that the dead row versions holding the old wrappings leave
        // its files (PostgreSQL's WAL and any archive still hold them: docs/security.md).
        c.batch_execute("VACUUM FULL data_keys").await?;
        Ok(n)
    }

    pub(in crate::store) async fn rotate_data_key(
        &self,
        data_key: DataKeyRow,
        reencrypted: Vec<Reencrypted>,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        insert_data_key_row(&tx, &data_key).await?;
        for r in &reencrypted {
            let n = tx
                .execute(
                    "UPDATE provider_keys SET ciphertext = $4, data_key_version = $5
                     WHERE org_id = $1 AND id = $2 AND ciphertext = $3",
                    &[&data_key.org_id, &r.id, &r.previous, &r.ciphertext, &i64::from(data_key.version)],
                )
                .await?;
            if n != 1 {
                // Replaced or removed since it was read: roll back, the caller reads again.
                return Ok(false);
            }
        }
        notify(&tx, Stale::KEYS).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(in crate::store) async fn reseal_provider_keys(
        &self,
        org_id: &str,
        version: u32,
        resealed: Vec<Reencrypted>,
    ) -> StoreResult<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let mut n = 0;
        for r in &resealed {
            n += tx
                .execute(
                    "UPDATE provider_keys SET ciphertext = $4, data_key_version = $5
                     WHERE org_id = $1 AND id = $2 AND ciphertext = $3",
                    &[&org_id, &r.id, &r.previous, &r.ciphertext, &i64::from(version)],
                )
                .await?;
        }
        notify(&tx, Stale::KEYS).await?;
        tx.commit().await?;
        Ok(n)
    }

    pub(in crate::store) async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        let c = self.client().await?;
        Ok(c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key]).await?.map(|r| r.get(0)))
    }

    pub(in crate::store) async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        let c = self.client().await?;
        c.execute("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &[&key, &value])
            .await?;
        Ok(c.query_one("SELECT value FROM meta WHERE key = $1", &[&key]).await?.get(0))
    }

    pub(in crate::store) async fn insert_provider_key(
        &self,
        row: NewProviderKey,
        audit: NewAuditEvent,
    ) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        clear_slot(&tx, &row, &row.id).await?;
        insert_provider_key_row(&tx, &row).await?;
        commit_audited(tx, (), [audit], Stale::KEYS).await
    }

    pub(in crate::store) async fn provider_keys(
        &self,
        org_id: &str,
        filter: ProviderKeyFilter,
    ) -> StoreResult<Vec<ProviderKeyRow>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {PK_COLS} FROM provider_keys WHERE org_id = $1 AND ($2::text IS NULL OR provider = $2)
                     AND ($3::text IS NULL OR project_id = $3) AND ($4::text IS NULL OR environment = $4)
                     ORDER BY created_at, id"
                ),
                &[
                    &org_id,
                    &filter.provider.map(|p| p.as_str()),
                    &filter.project_id,
                    &filter.environment.map(|e| e.as_str()),
                ],
            )
            .await?;
        rows.iter().map(key_at).collect()
    }

    pub(in crate::store) async fn provider_key(&self, org_id: &str, id: &str) -> StoreResult<Option<ProviderKeyRow>> {
        one_row(&self.client().await?, org_id, id).await
    }

    pub(in crate::store) async fn active_provider_key(
        &self,
        org_id: &str,
        project_id: Option<&str>,
        environment: Environment,
        provider: Provider,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {PK_COLS} FROM provider_keys WHERE org_id = $1 AND coalesce(project_id, '') = coalesce($2, '')
                     AND environment = $3 AND provider = $4 AND active"
                ),
                &[&org_id, &project_id, &environment.as_str(), &provider.as_str()],
            )
            .await?;
        row.as_ref().map(key_at).transpose()
    }

    pub(in crate::store) async fn update_provider_key_secret(
        &self,
        org_id: &str,
        id: &str,
        u: SecretUpdate,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE provider_keys SET ciphertext = $3, data_key_version = $4, masked = $5, last_four = $6,
                   name = coalesce($7, name), updated_by = $8, updated_at = $9, status = 'untested',
                   test_status = NULL, test_message = NULL, tested_at = NULL, test_latency_ms = NULL,
                   health_status = NULL, health_since = NULL, health_failures = 0, health_error = NULL,
                   health_error_at = NULL, health_success_at = NULL, retest_at = NULL, retest_attempts = 0,
                   secret_at = $9, rotation_notified_at = NULL
                 WHERE org_id = $1 AND id = $2",
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
        let row = if n == 0 { None } else { one_row(&tx, org_id, id).await? };
        commit_audited(tx, row, [audit], Stale::KEYS).await
    }

    pub(in crate::store) async fn activate_provider_key(
        &self,
        org_id: &str,
        id: &str,
        updated_by: &str,
        at: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let Some(row) = one_row(&tx, org_id, id).await? else { return Ok(None) };
        clear_slot(&tx, &row, id).await?;
        tx.execute(
            "UPDATE provider_keys SET active = TRUE, updated_by = $3, updated_at = $4 WHERE org_id = $1 AND id = $2",
            &[&org_id, &id, &updated_by, &at],
        )
        .await?;
        let row = one_row(&tx, org_id, id).await?;
        commit_audited(tx, row, [audit], Stale::KEYS).await
    }

    pub(in crate::store) async fn delete_provider_key(
        &self,
        org_id: &str,
        id: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<Option<ProviderKeyRow>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let row = one_row(&tx, org_id, id).await?;
        if row.is_some() {
            tx.execute("DELETE FROM provider_keys WHERE org_id = $1 AND id = $2", &[&org_id, &id]).await?;
        }
        commit_audited(tx, row, [audit], Stale::KEYS).await
    }

    pub(in crate::store) async fn record_provider_key_test(
        &self,
        org_id: &str,
        id: &str,
        test: TestRecord,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE provider_keys SET status = $3, test_status = $3, test_message = $4, tested_at = $5, test_latency_ms = $6
                 WHERE org_id = $1 AND id = $2",
                &[&org_id, &id, &test.status.as_str(), &test.message, &test.tested_at, &(test.latency_ms as i64)],
            )
            .await?;
        commit_audited(tx, n == 1, [audit], Stale::KEYS).await
    }

    pub(in crate::store) async fn org_provider_keys(&self, org_id: &str) -> StoreResult<Vec<ProviderKeyRow>> {
        let c = self.client().await?;
        let rows = c.query(&format!("SELECT {PK_COLS} FROM provider_keys WHERE org_id = $1"), &[&org_id]).await?;
        rows.iter().map(key_at).collect()
    }
}
