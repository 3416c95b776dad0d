//! Live key health, the re-test schedule, rotation bookkeeping and the webhook outbox: what
//! every replica must see, so it lives here and not in one process's memory.

use std::sync::Arc;

use converra::KeyStatus;

use super::{Backend, HealthChange, HealthTally, OutboxEvent, ProviderKeyRow, Stale, Store, StoreResult};

impl Store {
    /// Changes a key's health status if the stored one differs (so of many replicas seeing the
    /// same failure, one writes it), queuing `event` in the webhook outbox in the same
    /// transaction. Returns whether it changed. Every replica's cached key reloads.
    pub async fn set_key_health(
        &self,
        org_id: &str,
        id: &str,
        change: HealthChange,
        event: Option<OutboxEvent>,
    ) -> StoreResult<bool> {
        self.write(Stale::KEYS, async { dispatch!(self.set_key_health(org_id, id, change, event)) }).await
    }

    /// Adds batched live outcomes (failure counts, last error, last success). Only the cached
    /// key lists show them: the request path's caches stay.
    pub async fn add_health_tallies(&self, tallies: Arc<Vec<HealthTally>>) -> StoreResult<()> {
        self.write(Stale::LISTS, async { dispatch!(self.add_health_tallies(tallies)) }).await
    }

    /// Active flagged keys whose re-test is due at `now` (unix seconds), soonest first.
    pub async fn keys_due_for_retest(&self, now: u64, limit: u32) -> StoreResult<Vec<ProviderKeyRow>> {
        dispatch!(self.keys_due_for_retest(now, limit))
    }

    /// Sets when a key is re-tested next (`None`: never) and how many re-tests it has failed.
    pub async fn schedule_retest(&self, id: &str, at: Option<u64>, attempts: u32) -> StoreResult<()> {
        self.write(Stale::LISTS, async { dispatch!(self.schedule_retest(id, at, attempts)) }).await
    }

    /// Active keys whose rotation-due event has not been queued for their current secret.
    pub async fn keys_not_yet_due(&self) -> StoreResult<Vec<ProviderKeyRow>> {
        dispatch!(self.keys_not_yet_due())
    }

    /// Marks a key's secret rotation-due (once) and queues `event`. Returns whether it marked.
    pub async fn mark_rotation_due(&self, id: &str, at: &str, event: Option<OutboxEvent>) -> StoreResult<bool> {
        self.write(Stale::LISTS, async { dispatch!(self.mark_rotation_due(id, at, event)) }).await
    }

    /// Active keys counted by health status (`None`: not used yet), over every organization.
    pub async fn key_health_counts(&self) -> StoreResult<Vec<(Option<KeyStatus>, u64)>> {
        dispatch!(self.key_health_counts())
    }

    /// Webhook events whose next attempt is due at `now`, oldest first.
    pub async fn due_webhooks(&self, now: u64, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        dispatch!(self.due_webhooks(now, limit))
    }

    /// Removes a delivered (or abandoned) event from the outbox.
    pub async fn remove_webhook(&self, id: &str) -> StoreResult<()> {
        dispatch!(self.remove_webhook(id))
    }

    /// Records a failed delivery and when to try again.
    pub async fn retry_webhook(&self, id: &str, attempts: u32, next_at: u64) -> StoreResult<()> {
        dispatch!(self.retry_webhook(id, attempts, next_at))
    }

    // A running server's report of the master-key version it holds is a lease of its own,
    // `master_key_v<version>/<replica>`, renewed by its background loop, so a report lapses by
    // itself when a server dies; expired reports are deleted with the next report.

    /// Reports that `replica` runs with master-key `version`, until `now + ttl` (unix seconds).
    pub async fn report_master_key_version(&self, replica: &str, version: u32, now: u64, ttl: u64) -> StoreResult<()> {
        let name = format!("{MASTER_KEY_REPORT}{version}/{replica}");
        dispatch!(self.report_master_key_version(&name, replica, now, ttl))
    }

    /// Withdraws `replica`'s report (a server shutting down).
    pub async fn withdraw_master_key_report(&self, replica: &str) -> StoreResult<()> {
        dispatch!(self.withdraw_master_key_report(replica))
    }

    /// The master-key version of every running server that reported one (unexpired at `now`).
    pub async fn master_key_versions_in_use(&self, now: u64) -> StoreResult<Vec<u32>> {
        let names: Vec<String> = dispatch!(self.master_key_reports(now))?;
        let version = |name: &str| name.strip_prefix(MASTER_KEY_REPORT)?.split_once('/')?.0.parse().ok();
        Ok(names.iter().filter_map(|n| version(n)).collect())
    }
}

/// The lease-name prefix of the master-key reports; `LIKE` patterns add `%`.
pub(super) const MASTER_KEY_REPORT: &str = "master_key_v";

/// The statuses that flag a key (as stored).
pub(super) const FAILING: &str = "('invalid_key', 'quota_exceeded')";
