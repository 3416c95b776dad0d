//! Live key health, re-tests, rotation bookkeeping and the webhook outbox.

use std::sync::Arc;

use converra::KeyStatus;
use deadpool_postgres::GenericClient;

use super::provider_keys::{PK_COLS, key_at};
use super::{Postgres, notify, parse};
use crate::store::health::{FAILING, MASTER_KEY_REPORT};
use crate::store::{HealthChange, HealthTally, OutboxEvent, ProviderKeyRow, Stale, StoreResult};

async fn insert_event(c: &impl GenericClient, e: &OutboxEvent) -> StoreResult<()> {
    c.execute(
        "INSERT INTO webhook_outbox (id, body, created_at, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $3)",
        &[&e.id, &e.body, &(e.created_at as i64), &i64::from(e.attempts)],
    )
    .await?;
    Ok(())
}

/// Ends a conditional write's transaction: when the write applied (`n == 1`), its event joins
/// the outbox and `stale` is announced to the other replicas in the same transaction. Whether
/// it applied is the answer.
async fn commit_applied(
    tx: deadpool_postgres::Transaction<'_>,
    n: u64,
    event: Option<OutboxEvent>,
    stale: Stale,
) -> StoreResult<bool> {
    if n == 1 {
        if let Some(e) = &event {
            insert_event(&tx, e).await?;
        }
        notify(&tx, stale).await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

impl Postgres {
    pub(in crate::store) async fn set_key_health(
        &self,
        org_id: &str,
        id: &str,
        ch: HealthChange,
        event: Option<OutboxEvent>,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE provider_keys SET health_status = $3, status = $3, health_since = $4,
                   health_failures = CASE WHEN $5 THEN 0 ELSE 1 END,
                   health_error = CASE WHEN $5 THEN health_error ELSE $3 END,
                   health_error_at = CASE WHEN $5 THEN health_error_at ELSE $4 END,
                   health_success_at = CASE WHEN $5 THEN $4 ELSE coalesce($6, health_success_at) END,
                   retest_at = $7, retest_attempts = 0
                 WHERE org_id = $1 AND id = $2 AND coalesce(health_status, '') <> $3",
                &[
                    &org_id,
                    &id,
                    &ch.status.as_str(),
                    &ch.at,
                    &(ch.status == KeyStatus::Ok),
                    &ch.last_success_at,
                    &ch.retest_at.map(|t| t as i64),
                ],
            )
            .await?;
        commit_applied(tx, n, event, Stale::KEYS).await
    }

    pub(in crate::store) async fn add_health_tallies(&self, tallies: Arc<Vec<HealthTally>>) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let stmt = tx
            .prepare_cached(&format!(
                "UPDATE provider_keys SET
                   health_failures = CASE WHEN health_status IN {FAILING} THEN health_failures + $2 ELSE health_failures END,
                   health_error = coalesce($3, health_error), health_error_at = coalesce($4, health_error_at),
                   health_success_at = coalesce($5, health_success_at),
                   health_since = CASE WHEN health_status IS NULL AND $5::text IS NOT NULL THEN $5 ELSE health_since END,
                   health_status = CASE WHEN health_status IS NULL AND $5::text IS NOT NULL THEN 'ok' ELSE health_status END
                 WHERE id = $1"
            ))
            .await?;
        for t in tallies.iter() {
            let (error, error_at) = t.last_error.as_ref().map(|(s, at)| (s.as_str(), at.as_str())).unzip();
            tx.execute(&stmt, &[&t.key_id, &(t.failures as i64), &error, &error_at, &t.last_success_at]).await?;
        }
        notify(&tx, Stale::LISTS).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(in crate::store) async fn keys_due_for_retest(&self, now: u64, limit: u32) -> StoreResult<Vec<ProviderKeyRow>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {PK_COLS} FROM provider_keys WHERE active AND retest_at IS NOT NULL AND retest_at <= $1
                     AND health_status IN {FAILING} ORDER BY retest_at LIMIT $2"
                ),
                &[&(now as i64), &i64::from(limit)],
            )
            .await?;
        rows.iter().map(key_at).collect()
    }

    pub(in crate::store) async fn schedule_retest(&self, id: &str, at: Option<u64>, attempts: u32) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "UPDATE provider_keys SET retest_at = $2, retest_attempts = $3 WHERE id = $1",
            &[&id, &at.map(|t| t as i64), &i64::from(attempts)],
        )
        .await?;
        notify(&tx, Stale::LISTS).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(in crate::store) async fn keys_not_yet_due(&self) -> StoreResult<Vec<ProviderKeyRow>> {
        let c = self.client().await?;
        let rows = c
            .query(&format!("SELECT {PK_COLS} FROM provider_keys WHERE active AND rotation_notified_at IS NULL"), &[])
            .await?;
        rows.iter().map(key_at).collect()
    }

    pub(in crate::store) async fn mark_rotation_due(
        &self,
        id: &str,
        at: &str,
        event: Option<OutboxEvent>,
    ) -> StoreResult<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE provider_keys SET rotation_notified_at = $2 WHERE id = $1 AND rotation_notified_at IS NULL",
                &[&id, &at],
            )
            .await?;
        commit_applied(tx, n, event, Stale::LISTS).await
    }

    pub(in crate::store) async fn key_health_counts(&self) -> StoreResult<Vec<(Option<KeyStatus>, u64)>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT health_status, count(*) FROM provider_keys WHERE active GROUP BY health_status", &[])
            .await?;
        rows.iter()
            .map(|r| {
                let status = r.try_get::<_, Option<&str>>(0)?.map(|s| parse("provider_keys", s)).transpose()?;
                Ok((status, r.try_get::<_, i64>(1)? as u64))
            })
            .collect()
    }

    pub(in crate::store) async fn due_webhooks(&self, now: u64, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, body, created_at, attempts FROM webhook_outbox WHERE next_attempt_at <= $1
                 ORDER BY created_at, id LIMIT $2",
                &[&(now as i64), &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxEvent {
                    id: r.try_get(0)?,
                    body: r.try_get(1)?,
                    created_at: r.try_get::<_, i64>(2)? as u64,
                    attempts: r.try_get::<_, i64>(3)? as u32,
                })
            })
            .collect()
    }

    pub(in crate::store) async fn remove_webhook(&self, id: &str) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute("DELETE FROM webhook_outbox WHERE id = $1", &[&id]).await?;
        Ok(())
    }

    pub(in crate::store) async fn retry_webhook(&self, id: &str, attempts: u32, next_at: u64) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute(
            "UPDATE webhook_outbox SET attempts = $2, next_attempt_at = $3 WHERE id = $1",
            &[&id, &i64::from(attempts), &(next_at as i64)],
        )
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn report_master_key_version(
        &self,
        name: &str,
        replica: &str,
        now: u64,
        ttl: u64,
    ) -> StoreResult<()> {
        let reports = format!("{MASTER_KEY_REPORT}%");
        let c = self.client().await?;
        c.execute("DELETE FROM leases WHERE name LIKE $1 AND expires_at <= $2", &[&reports, &(now as i64)]).await?;
        c.execute(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
            &[&name, &replica, &((now + ttl) as i64)],
        )
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn withdraw_master_key_report(&self, replica: &str) -> StoreResult<()> {
        let reports = format!("{MASTER_KEY_REPORT}%");
        let c = self.client().await?;
        c.execute("DELETE FROM leases WHERE holder = $1 AND name LIKE $2", &[&replica, &reports]).await?;
        Ok(())
    }

    pub(in crate::store) async fn master_key_reports(&self, now: u64) -> StoreResult<Vec<String>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT name FROM leases WHERE name LIKE $1 AND expires_at > $2",
                &[&format!("{MASTER_KEY_REPORT}%"), &(now as i64)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
