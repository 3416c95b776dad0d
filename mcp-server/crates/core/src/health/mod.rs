//! Live key health: a provider answer in real traffic that means the key itself is bad (401 →
//! `invalid_key`, quota 429 → `quota_exceeded`) flags the key at once; a success clears it.
//!
//! Cost on the hot path: the active key's row is already in the store's read cache, and its
//! health travels in it, so a completion checks the status without a store hit. The store is
//! written only when a status *changes* (`set_key_health` compares in SQL, so of many replicas
//! seeing the same failure one writes it and one webhook event is queued); failure counts, the
//! last error and the last success are tallied in memory and written in batches
//! ([`HealthTallies`]). A status change invalidates every replica's cached key.
//!
//! Failing keys are re-tested in the background (`background.rs`); keys older than their
//! organization's rotation period are flagged `rotation_due`; both send webhook events from an
//! outbox in the store (`events.rs`).

mod background;
mod events;
mod tallies;

use std::time::Duration;

use converra::{HealthStatus, KeyHealth, KeyStatus, Provider};
use secrecy::SecretString;

pub(crate) use background::Replica;
pub(crate) use tallies::HealthTallies;

use super::{Core, ids};
use converra_store::{HealthChange, ProviderKeyRow, Store};

/// The key-health service: owns the tallies of live outcomes and the operator's health
/// configuration, flags and clears keys, and counts them. The faces reach it as
/// `core.health()`; the completions and the vault report outcomes to it. The background work
/// (`background.rs`) runs on the core, since a re-test needs the vault and the providers.
pub struct Health {
    pub(crate) store: Store,
    pub(crate) config: HealthConfig,
    pub(crate) tallies: HealthTallies,
    /// The operator's webhook is configured: a status change queues its event.
    webhook: bool,
}

impl Health {
    /// Starts the tally writer, so it must be called inside a tokio runtime.
    pub(crate) fn new(store: Store, config: HealthConfig) -> Self {
        Self { tallies: HealthTallies::start(store.clone()), webhook: config.webhook.is_some(), store, config }
    }
}

impl Core {
    /// Key health: counts, and the tallies' flush.
    pub fn health(&self) -> &Health {
        &self.health
    }
}

/// How the background health work runs (operator configuration, `CONVERRA_KEY_RETEST*`,
/// `CONVERRA_KEY_HEALTH_INTERVAL_MS`, `CONVERRA_WEBHOOK_*`).
#[derive(Clone)]
pub struct HealthConfig {
    /// Re-test failing keys in the background.
    pub retest: bool,
    /// Delay before the first re-test of a newly flagged key.
    pub retest_first: Duration,
    /// Longest delay between re-tests (the backoff's cap).
    pub retest_max: Duration,
    /// How often the background looks for due re-tests, rotation-due keys and webhook events.
    pub interval: Duration,
    /// Where key-health events go, and the secret that signs them.
    pub webhook: Option<(String, SecretString)>,
    /// How long the background lease holds without renewal (at least three intervals). It is
    /// renewed before every re-test and webhook delivery, so it must outlast the longest single
    /// one (a delivery times out after 10 s); a round stops where the lease was lost.
    pub lease: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            retest: true,
            retest_first: Duration::from_secs(60),
            retest_max: Duration::from_secs(3600),
            interval: Duration::from_secs(10),
            webhook: None,
            lease: Duration::from_secs(30),
        }
    }
}

/// Active keys by live health, over every organization (for the metrics gauge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyHealthCounts {
    pub unknown: u64,
    pub ok: u64,
    pub invalid_key: u64,
    pub quota_exceeded: u64,
}

/// The wire status of a stored one.
fn status_of(stored: Option<KeyStatus>) -> HealthStatus {
    match stored {
        Some(KeyStatus::Ok) => HealthStatus::Ok,
        Some(KeyStatus::InvalidKey) => HealthStatus::InvalidKey,
        Some(KeyStatus::QuotaExceeded) => HealthStatus::QuotaExceeded,
        _ => HealthStatus::Unknown,
    }
}

/// Whether a live answer means the key itself is bad (and flags it).
fn flags(status: KeyStatus) -> bool {
    matches!(status, KeyStatus::InvalidKey | KeyStatus::QuotaExceeded)
}

/// Whole days since `row`'s secret was stored.
fn age_days(row: &ProviderKeyRow, now: u64) -> u64 {
    let stored = row.health.secret_at.as_deref().unwrap_or(&row.created_at);
    let at = ids::parse_time(stored).map_or(now, |t| t.unix_timestamp().max(0) as u64);
    now.saturating_sub(at) / 86_400
}

/// The health a face shows for `row`, in an organization whose rotation period is `rotation_days`.
pub(crate) fn view(row: &ProviderKeyRow, rotation_days: u32, pending_failures: u64) -> KeyHealth {
    let now = ids::unix_now();
    let age = age_days(row, now);
    let status = status_of(row.health.status);
    KeyHealth {
        status,
        since: row.health.since.clone(),
        consecutive_failures: if status.is_failing() { row.health.failures + pending_failures } else { 0 },
        last_error: row.health.last_error,
        last_error_at: row.health.last_error_at.clone(),
        last_success_at: row.health.last_success_at.clone(),
        next_retest_at: row
            .health
            .retest_at
            .filter(|_| status.is_failing() && row.active)
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t as i64).ok())
            .map(ids::format_time),
        age_days: age,
        rotation_due: age >= u64::from(rotation_days),
    }
}

fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::Openai => "OpenAI",
        Provider::Anthropic => "Anthropic",
        Provider::Gemini => "Google Gemini",
        Provider::Deepseek => "DeepSeek",
    }
}

/// "the organization's OpenAI key has failed 12 times since 10:04 UTC: Invalid API key".
fn sentence(row: &ProviderKeyRow, health: &KeyHealth, status: KeyStatus) -> String {
    let scope = if row.project_id.is_some() { "project" } else { "organization" };
    let n = health.consecutive_failures.max(1);
    let times = if n == 1 { "time" } else { "times" };
    let since = health.since.as_deref().and_then(ids::parse_time).map(|t| {
        let clock = format!("{:02}:{:02} UTC", t.hour(), t.minute());
        let today = time::OffsetDateTime::now_utc().date() == t.date();
        if today { format!(" since {clock}") } else { format!(" since {} {clock}", t.date()) }
    });
    format!(
        "the {scope}'s {} key has failed {n} {times}{}: {}",
        provider_name(row.provider),
        since.unwrap_or_default(),
        status.message()
    )
}

impl Health {
    /// A live call with a stored key failed with `status`. Flags the key (a status change,
    /// written at once) or tallies the failure; returns the key's health in a sentence when it
    /// is flagged, for the error's `health` field.
    pub(crate) async fn key_failed(&self, row: &ProviderKeyRow, status: KeyStatus) -> Option<String> {
        let now = ids::unix_now();
        match status {
            KeyStatus::PermissionDenied => {
                // Shown as the last error; never flags (one model the key may not use).
                self.tallies.failed(&row.id, status, now, false);
                return None;
            }
            s if !flags(s) => return None,
            _ => {}
        }
        if row.health.status == Some(status) || !self.observe(row, status, "live_traffic").await {
            self.tallies.failed(&row.id, status, now, true);
        }
        // A failure is off the hot path: read the key as stored now (another replica may have
        // flagged it first).
        let stored = self.store.provider_key(&row.org_id, &row.id).await.ok().flatten()?;
        let health = view(&stored, u32::MAX, self.tallies.pending_failures(&row.id));
        health.status.is_failing().then(|| sentence(&stored, &health, status))
    }

    /// A live call with a stored key succeeded. Returns whether the key was flagged (the
    /// caller then awaits [`Health::key_recovered`]); otherwise the success is only tallied.
    pub(crate) fn key_succeeded(&self, row: &ProviderKeyRow) -> bool {
        if row.health.status.is_some_and(flags) {
            return true;
        }
        self.tallies.succeeded(&row.id, ids::unix_now());
        false
    }

    /// Clears a flagged key after a live success.
    pub(crate) async fn key_recovered(&self, row: &ProviderKeyRow) {
        self.observe(row, KeyStatus::Ok, "live_traffic").await;
    }

    /// Records an outcome that may change the key's status (live traffic, a re-test, a manual
    /// test): `ok` clears a flag, `invalid_key` / `quota_exceeded` set one; anything else says
    /// nothing about the key. Returns whether the status changed (then a webhook event was
    /// queued in the same transaction).
    pub(crate) async fn observe(&self, row: &ProviderKeyRow, status: KeyStatus, reason: &'static str) -> bool {
        let clears = status == KeyStatus::Ok && row.health.status.is_some_and(flags);
        if !(clears || flags(status) && row.health.status != Some(status)) {
            return false;
        }
        let now = ids::unix_now();
        let change = HealthChange {
            status,
            at: ids::format_time(time::OffsetDateTime::now_utc()),
            last_success_at: self.tallies.last_success(&row.id),
            retest_at: (flags(status) && self.config.retest).then(|| now + self.retest_delay(0)),
        };
        let event = self.webhook.then(|| events::health_changed(row, status, &change.at, reason));
        match self.store.set_key_health(&row.org_id, &row.id, change, event).await {
            Ok(changed) => {
                if changed {
                    tracing::info!(provider_key_id = %row.id, status = status.as_str(), reason, "provider key health changed");
                }
                changed
            }
            Err(e) => {
                tracing::warn!(provider_key_id = %row.id, error = %e, "could not record the key's health");
                false
            }
        }
    }

    /// Active keys counted by live health, over every organization.
    pub async fn key_health_counts(&self) -> super::Result<KeyHealthCounts> {
        let mut counts = KeyHealthCounts::default();
        for (status, n) in self.store.key_health_counts().await? {
            match status_of(status) {
                HealthStatus::Unknown => counts.unknown += n,
                HealthStatus::Ok => counts.ok += n,
                HealthStatus::InvalidKey => counts.invalid_key += n,
                HealthStatus::QuotaExceeded => counts.quota_exceeded += n,
            }
        }
        Ok(counts)
    }

    /// Writes the tallied failures and successes now (shutdown, tests).
    pub async fn flush(&self) {
        self.tallies.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: Option<KeyStatus>, since: &str, failures: u64) -> ProviderKeyRow {
        ProviderKeyRow {
            id: "pk_1".into(),
            org_id: "org_1".into(),
            project_id: None,
            environment: converra::Environment::Live,
            provider: Provider::Openai,
            name: "OpenAI".into(),
            ciphertext: vec![],
            data_key_version: 1,
            masked: "sk-…wxyz".into(),
            last_four: "wxyz".into(),
            active: true,
            status: KeyStatus::Untested,
            last_test: None,
            health: converra_store::HealthRow { status, since: Some(since.into()), failures, ..Default::default() },
            created_by: None,
            updated_by: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn the_health_sentence_names_scope_provider_count_and_time() {
        let r = row(Some(KeyStatus::InvalidKey), "2026-01-02T10:04:00Z", 11);
        let health = view(&r, 90, 1);
        assert_eq!(health.consecutive_failures, 12);
        assert_eq!(
            sentence(&r, &health, KeyStatus::InvalidKey),
            "the organization's OpenAI key has failed 12 times since 2026-01-02 10:04 UTC: Invalid API key"
        );
        assert!(health.rotation_due, "a key from January is older than 90 days by now");
    }

    #[test]
    fn only_a_bad_key_flags() {
        assert!(flags(KeyStatus::InvalidKey) && flags(KeyStatus::QuotaExceeded));
        assert!(!flags(KeyStatus::PermissionDenied) && !flags(KeyStatus::RateLimited));
    }
}
