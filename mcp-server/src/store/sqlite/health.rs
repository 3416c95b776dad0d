//! Live key health, re-tests, rotation bookkeeping and the webhook outbox.

use std::sync::Arc;

use converra::KeyStatus;
use rusqlite::{Connection, params};

use super::provider_keys::{PK_COLS, query_rows};
use super::{Sqlite, parse};
use crate::store::health::{FAILING, MASTER_KEY_REPORT};
use crate::store::{HealthChange, HealthTally, OutboxEvent, ProviderKeyRow, StoreResult};

fn insert_event(c: &Connection, e: &OutboxEvent) -> StoreResult<()> {
    c.execute(
        "INSERT INTO webhook_outbox (id, body, created_at, attempts, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?3)",
        params![e.id, e.body, e.created_at as i64, e.attempts],
    )?;
    Ok(())
}

/// After a conditional write: when it applied (`n == 1`), its event joins the outbox in the
/// same transaction. Whether it applied is the answer.
fn applied(tx: &Connection, n: usize, event: Option<&OutboxEvent>) -> StoreResult<bool> {
    if n == 1
        && let Some(e) = event
    {
        insert_event(tx, e)?;
    }
    Ok(n == 1)
}

impl Sqlite {
    pub(in crate::store) async fn set_key_health(
        &self,
        org_id: &str,
        id: &str,
        ch: HealthChange,
        event: Option<OutboxEvent>,
    ) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        self.transaction(move |tx| {
            let ok = ch.status == KeyStatus::Ok;
            let n = tx.execute(
                "UPDATE provider_keys SET health_status = ?3, status = ?3, health_since = ?4,
                   health_failures = CASE WHEN ?5 THEN 0 ELSE 1 END,
                   health_error = CASE WHEN ?5 THEN health_error ELSE ?3 END,
                   health_error_at = CASE WHEN ?5 THEN health_error_at ELSE ?4 END,
                   health_success_at = CASE WHEN ?5 THEN ?4 ELSE coalesce(?6, health_success_at) END,
                   retest_at = ?7, retest_attempts = 0
                 WHERE org_id = ?1 AND id = ?2 AND ifnull(health_status, '') <> ?3",
                params![org_id, id, ch.status.as_str(), ch.at, ok, ch.last_success_at, ch.retest_at.map(|t| t as i64)],
            )?;
            applied(tx, n, event.as_ref())
        })
        .await
    }

    pub(in crate::store) async fn add_health_tallies(&self, tallies: Arc<Vec<HealthTally>>) -> StoreResult<()> {
        self.transaction(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "UPDATE provider_keys SET
                   health_failures = CASE WHEN health_status IN {FAILING} THEN health_failures + ?2 ELSE health_failures END,
                   health_error = coalesce(?3, health_error), health_error_at = coalesce(?4, health_error_at),
                   health_success_at = coalesce(?5, health_success_at),
                   health_since = CASE WHEN health_status IS NULL AND ?5 IS NOT NULL THEN ?5 ELSE health_since END,
                   health_status = CASE WHEN health_status IS NULL AND ?5 IS NOT NULL THEN 'ok' ELSE health_status END
                 WHERE id = ?1"
            ))?;
            for t in tallies.iter() {
                let (error, error_at) = t.last_error.as_ref().map(|(s, at)| (s.as_str(), at.as_str())).unzip();
                stmt.execute(params![t.key_id, t.failures as i64, error, error_at, t.last_success_at])?;
            }
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn keys_due_for_retest(&self, now: u64, limit: u32) -> StoreResult<Vec<ProviderKeyRow>> {
        self.run(move |c| {
            query_rows(
                c,
                &format!(
                    "SELECT {PK_COLS} FROM provider_keys WHERE active = 1 AND retest_at IS NOT NULL AND retest_at <= ?1
                     AND health_status IN {FAILING} ORDER BY retest_at LIMIT ?2"
                ),
                params![now as i64, limit],
            )
        })
        .await
    }

    pub(in crate::store) async fn schedule_retest(&self, id: &str, at: Option<u64>, attempts: u32) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |c| {
            c.execute(
                "UPDATE provider_keys SET retest_at = ?2, retest_attempts = ?3 WHERE id = ?1",
                params![id, at.map(|t| t as i64), attempts],
            )?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn keys_not_yet_due(&self) -> StoreResult<Vec<ProviderKeyRow>> {
        self.run(|c| {
            query_rows(
                c,
                &format!("SELECT {PK_COLS} FROM provider_keys WHERE active = 1 AND rotation_notified_at IS NULL"),
                [],
            )
        })
        .await
    }

    pub(in crate::store) async fn mark_rotation_due(
        &self,
        id: &str,
        at: &str,
        event: Option<OutboxEvent>,
    ) -> StoreResult<bool> {
        let (id, at) = (id.to_owned(), at.to_owned());
        self.transaction(move |tx| {
            let n = tx.execute(
                "UPDATE provider_keys SET rotation_notified_at = ?2 WHERE id = ?1 AND rotation_notified_at IS NULL",
                params![id, at],
            )?;
            applied(tx, n, event.as_ref())
        })
        .await
    }

    pub(in crate::store) async fn key_health_counts(&self) -> StoreResult<Vec<(Option<KeyStatus>, u64)>> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT health_status, count(*) FROM provider_keys WHERE active = 1 GROUP BY health_status",
            )?;
            let raw = stmt
                .query_map([], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            raw.into_iter().map(|(s, n)| Ok((s.map(|s| parse("provider_keys", s)).transpose()?, n as u64))).collect()
        })
        .await
    }

    pub(in crate::store) async fn due_webhooks(&self, now: u64, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, body, created_at, attempts FROM webhook_outbox WHERE next_attempt_at <= ?1
                 ORDER BY created_at, id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now as i64, limit], |r| {
                Ok(OutboxEvent {
                    id: r.get(0)?,
                    body: r.get(1)?,
                    created_at: r.get::<_, i64>(2)? as u64,
                    attempts: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub(in crate::store) async fn remove_webhook(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |c| {
            c.execute("DELETE FROM webhook_outbox WHERE id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn retry_webhook(&self, id: &str, attempts: u32, next_at: u64) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |c| {
            c.execute(
                "UPDATE webhook_outbox SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1",
                params![id, attempts, next_at as i64],
            )?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn report_master_key_version(
        &self,
        name: &str,
        replica: &str,
        now: u64,
        ttl: u64,
    ) -> StoreResult<()> {
        let (name, replica) = (name.to_owned(), replica.to_owned());
        self.transaction(move |tx| {
            let reports = format!("{MASTER_KEY_REPORT}%");
            tx.execute("DELETE FROM leases WHERE name LIKE ?1 AND expires_at <= ?2", params![reports, now as i64])?;
            tx.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
                params![name, replica, (now + ttl) as i64],
            )?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn withdraw_master_key_report(&self, replica: &str) -> StoreResult<()> {
        let replica = replica.to_owned();
        self.run(move |c| {
            let reports = format!("{MASTER_KEY_REPORT}%");
            c.execute("DELETE FROM leases WHERE holder = ?1 AND name LIKE ?2", params![replica, reports])?;
            Ok(())
        })
        .await
    }

    pub(in crate::store) async fn master_key_reports(&self, now: u64) -> StoreResult<Vec<String>> {
        self.run(move |c| {
            let mut stmt = c.prepare("SELECT name FROM leases WHERE name LIKE ?1 AND expires_at > ?2")?;
            let rows = stmt.query_map(params![format!("{MASTER_KEY_REPORT}%"), now as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}
