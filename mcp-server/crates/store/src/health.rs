//! Live key health, the re-test schedule, rotation bookkeeping and the webhook outbox: what
//! every replica must see, so it lives here and not in one process's memory.

use std::sync::Arc;

use converra::KeyStatus;

use super::provider_keys::key_cols;
use super::sql::{Conn, FromRow, Row, Sql};
use super::{HealthChange, HealthTally, OutboxEvent, ProviderKeyRow, Stale, Store, StoreResult};

/// The statuses that flag a key (as stored).
macro_rules! failing {
    () => {
        "('invalid_key', 'quota_exceeded')"
    };
}

static SET_HEALTH: Sql = Sql::new(
    "UPDATE provider_keys SET health_status = $3, status = $3, health_since = $4,
       health_failures = CASE WHEN $5 THEN 0 ELSE 1 END,
       health_error = CASE WHEN $5 THEN health_error ELSE $3 END,
       health_error_at = CASE WHEN $5 THEN health_error_at ELSE $4 END,
       health_success_at = CASE WHEN $5 THEN $4 ELSE coalesce($6, health_success_at) END,
       retest_at = $7, retest_attempts = 0
     WHERE org_id = $1 AND id = $2 AND coalesce(health_status, '') <> $3",
);
static ADD_TALLY: Sql = Sql::new(concat!(
    "UPDATE provider_keys SET
       health_failures = CASE WHEN health_status IN ",
    failing!(),
    " THEN health_failures + $2 ELSE health_failures END,
       health_error = coalesce($3, health_error), health_error_at = coalesce($4, health_error_at),
       health_success_at = coalesce($5, health_success_at),
       health_since = CASE WHEN health_status IS NULL AND CAST($5 AS TEXT) IS NOT NULL THEN $5 ELSE health_since END,
       health_status = CASE WHEN health_status IS NULL AND CAST($5 AS TEXT) IS NOT NULL THEN 'ok' ELSE health_status END
     WHERE id = $1"
));
static DUE_FOR_RETEST: Sql = Sql::new(concat!(
    "SELECT ",
    key_cols!(),
    " FROM provider_keys WHERE active = TRUE AND retest_at IS NOT NULL AND retest_at <= $1
     AND health_status IN ",
    failing!(),
    " ORDER BY retest_at LIMIT $2"
));
static SCHEDULE_RETEST: Sql = Sql::new("UPDATE provider_keys SET retest_at = $2, retest_attempts = $3 WHERE id = $1");
static NOT_YET_DUE: Sql = Sql::new(concat!(
    "SELECT ",
    key_cols!(),
    " FROM provider_keys WHERE active = TRUE AND rotation_notified_at IS NULL"
));
static MARK_DUE: Sql =
    Sql::new("UPDATE provider_keys SET rotation_notified_at = $2 WHERE id = $1 AND rotation_notified_at IS NULL");
static HEALTH_COUNTS: Sql =
    Sql::new("SELECT health_status, count(*) FROM provider_keys WHERE active = TRUE GROUP BY health_status");
static INSERT_EVENT: Sql = Sql::new(
    "INSERT INTO webhook_outbox (id, body, created_at, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $3)",
);
static DUE_WEBHOOKS: Sql = Sql::new(
    "SELECT id, body, created_at, attempts FROM webhook_outbox WHERE next_attempt_at <= $1
     ORDER BY created_at, id LIMIT $2",
);
static REMOVE_WEBHOOK: Sql = Sql::new("DELETE FROM webhook_outbox WHERE id = $1");
static RETRY_WEBHOOK: Sql = Sql::new("UPDATE webhook_outbox SET attempts = $2, next_attempt_at = $3 WHERE id = $1");
static PRUNE_REPORTS: Sql = Sql::new("DELETE FROM leases WHERE name LIKE $1 AND expires_at <= $2");
static REPORT: Sql = Sql::new(
    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
);
static WITHDRAW_REPORT: Sql = Sql::new("DELETE FROM leases WHERE holder = $1 AND name LIKE $2");
static REPORTS: Sql = Sql::new("SELECT name FROM leases WHERE name LIKE $1 AND expires_at > $2");

impl FromRow for OutboxEvent {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(OutboxEvent { id: r.get(0)?, body: r.get(1)?, created_at: r.u64(2)?, attempts: r.u32(3)? })
    }
}

/// A health status and how many active keys have it.
struct StatusCount(Option<KeyStatus>, u64);

impl FromRow for StatusCount {
    fn from_row(r: &impl Row) -> StoreResult<Self> {
        Ok(StatusCount(r.parse_opt("provider_keys", 0)?, r.u64(1)?))
    }
}

/// After a conditional write (`n` rows changed): when it applied, its event joins the outbox
/// in the same transaction. Whether it applied is the answer.
async fn applied(c: &impl Conn, n: u64, event: Option<&OutboxEvent>) -> StoreResult<bool> {
    if n == 1
        && let Some(e) = event
    {
        queue_event(c, e).await?;
    }
    Ok(n == 1)
}

/// Queues a webhook event in the outbox, in the caller's transaction.
pub(super) async fn queue_event(c: &impl Conn, e: &OutboxEvent) -> StoreResult<()> {
    c.execute(&INSERT_EVENT, &[&e.id, &e.body, &(e.created_at as i64), &i64::from(e.attempts)]).await?;
    Ok(())
}

/// The `LIKE` pattern of every master-key report.
fn reports() -> String {
    format!("{MASTER_KEY_REPORT}%")
}

impl Store {
    /// Changes a key's health status if the stored one differs (so of many replicas seeing the
    /// same failure, one writes it), queuing `event` in the webhook outbox in the same
    /// transaction. Returns whether it changed. Every replica's cached key reloads.
    pub async fn set_key_health(
        &self,
        org_id: &str,
        id: &str,
        ch: HealthChange,
        event: Option<OutboxEvent>,
    ) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_owned(), id.to_owned());
        write!(self, Stale::KEYS, [], |c| async {
            let ok = ch.status == KeyStatus::Ok;
            let retest_at = ch.retest_at.map(|t| t as i64);
            let params: [&dyn super::sql::Value; 7] =
                [&org_id, &id, &ch.status.as_str(), &ch.at, &ok, &ch.last_success_at, &retest_at];
            let n = c.execute(&SET_HEALTH, &params).await?;
            applied(c, n, event.as_ref()).await
        })
    }

    /// Adds batched live outcomes (failure counts, last error, last success). Only the cached
    /// key lists show them: the request path's caches stay.
    pub async fn add_health_tallies(&self, tallies: Arc<Vec<HealthTally>>) -> StoreResult<()> {
        write!(self, Stale::LISTS, [], |c| async {
            for t in tallies.iter() {
                let (error, error_at) = t.last_error.as_ref().map(|(s, at)| (s.as_str(), at.as_str())).unzip();
                c.execute(&ADD_TALLY, &[&t.key_id, &(t.failures as i64), &error, &error_at, &t.last_success_at])
                    .await?;
            }
            Ok(())
        })
    }

    /// Active flagged keys whose re-test is due at `now` (unix seconds), soonest first.
    pub async fn keys_due_for_retest(&self, now: u64, limit: u32) -> StoreResult<Vec<ProviderKeyRow>> {
        read!(self, |c| c.query(&DUE_FOR_RETEST, &[&(now as i64), &i64::from(limit)]))
    }

    /// Sets when a key is re-tested next (`None`: never) and how many re-tests it has failed.
    pub async fn schedule_retest(&self, id: &str, at: Option<u64>, attempts: u32) -> StoreResult<()> {
        let id = id.to_owned();
        write!(self, Stale::LISTS, [], |c| async {
            c.execute(&SCHEDULE_RETEST, &[&id, &at.map(|t| t as i64), &i64::from(attempts)]).await?;
            Ok(())
        })
    }

    /// Active keys whose rotation-due event has not been queued for their current secret.
    pub async fn keys_not_yet_due(&self) -> StoreResult<Vec<ProviderKeyRow>> {
        read!(self, |c| c.query(&NOT_YET_DUE, &[]))
    }

    /// Marks a key's secret rotation-due (once) and queues `event`. Returns whether it marked.
    pub async fn mark_rotation_due(&self, id: &str, at: &str, event: Option<OutboxEvent>) -> StoreResult<bool> {
        let (id, at) = (id.to_owned(), at.to_owned());
        write!(self, Stale::LISTS, [], |c| async {
            let n = c.execute(&MARK_DUE, &[&id, &at]).await?;
            applied(c, n, event.as_ref()).await
        })
    }

    /// Active keys counted by health status (`None`: not used yet), over every organization.
    pub async fn key_health_counts(&self) -> StoreResult<Vec<(Option<KeyStatus>, u64)>> {
        let counts: Vec<StatusCount> = read!(self, |c| c.query(&HEALTH_COUNTS, &[]))?;
        Ok(counts.into_iter().map(|StatusCount(status, n)| (status, n)).collect())
    }

    /// Webhook events whose next attempt is due at `now`, oldest first.
    pub async fn due_webhooks(&self, now: u64, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        read!(self, |c| c.query(&DUE_WEBHOOKS, &[&(now as i64), &i64::from(limit)]))
    }

    /// Removes a delivered (or abandoned) event from the outbox.
    pub async fn remove_webhook(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        read!(self, |c| async move {
            c.execute(&REMOVE_WEBHOOK, &[&id]).await?;
            Ok(())
        })
    }

    /// Records a failed delivery and when to try again.
    pub async fn retry_webhook(&self, id: &str, attempts: u32, next_at: u64) -> StoreResult<()> {
        let id = id.to_owned();
        read!(self, |c| async move {
            c.execute(&RETRY_WEBHOOK, &[&id, &i64::from(attempts), &(next_at as i64)]).await?;
            Ok(())
        })
    }

    // A running server's report of the master-key version it holds is a lease of its own,
    // `master_key_v<version>/<replica>`, renewed by its background loop, so a report lapses by
    // itself when a server dies; expired reports are deleted with the next report.

    /// Reports that `replica` runs with master-key `version`, until `now + ttl` (unix seconds).
    pub async fn report_master_key_version(&self, replica: &str, version: u32, now: u64, ttl: u64) -> StoreResult<()> {
        let name = format!("{MASTER_KEY_REPORT}{version}/{replica}");
        let replica = replica.to_owned();
        write!(self, Stale::NONE, [], |c| async {
            c.execute(&PRUNE_REPORTS, &[&reports(), &(now as i64)]).await?;
            c.execute(&REPORT, &[&name, &replica, &((now + ttl) as i64)]).await?;
            Ok(())
        })
    }

    /// Withdraws `replica`'s report (a server shutting down).
    pub async fn withdraw_master_key_report(&self, replica: &str) -> StoreResult<()> {
        let replica = replica.to_owned();
        read!(self, |c| async move {
            c.execute(&WITHDRAW_REPORT, &[&replica, &reports()]).await?;
            Ok(())
        })
    }

    /// The master-key version of every running server that reported one (unexpired at `now`).
    pub async fn master_key_versions_in_use(&self, now: u64) -> StoreResult<Vec<u32>> {
        let names: Vec<String> = read!(self, |c| c.query(&REPORTS, &[&reports(), &(now as i64)]))?;
        let version = |name: &str| name.strip_prefix(MASTER_KEY_REPORT)?.split_once('/')?.0.parse().ok();
        Ok(names.iter().filter_map(|n| version(n)).collect())
    }
}

/// The lease-name prefix of the master-key reports; `LIKE` patterns add `%`.
const MASTER_KEY_REPORT: &str = "master_key_v";
