//! Usage: every completion is counted (org, day, project, API key, provider, model, key
//! source, outcome: requests, tokens, latency) into in-memory roll-ups that a background
//! writer adds to the database every `BATCH_WINDOW`, so the hot path never waits for SQLite;
//! `flush` writes them at once (on shutdown, and before a usage report).
//!
//! Platform-key tokens are also counted in memory per organization and month, seeded from the
//! database on first use, so the allowance check never runs on stale numbers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use converra::{Allowance, KeySource, Provider, Usage, UsageQuery, UsageReport};

use super::{Caller, Core, Error, Result, ids};
use crate::store::{Store, UsageBatch, UsageBucket, UsageCounts, UsageGroupBy};

/// How long counted usage waits to be written. The allowance never waits for the database
/// (it is counted in memory), and reports flush first.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

struct Pending {
    store: Store,
    batch: Mutex<UsageBatch>,
    /// Wakes the writer when the first completion of a window is counted, or to stop.
    wake: tokio::sync::Notify,
    closed: AtomicBool,
    /// Held while a batch is taken and written, so `flush` returns only once everything
    /// counted before it is in the database (not merely taken by the writer).
    writing: tokio::sync::Mutex<()>,
}

impl Pending {
    async fn write(&self) {
        let _writing = self.writing.lock().await;
        let batch = std::mem::take(&mut *self.batch.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            return;
        }
        // Shared with the blocking write, and kept here in case it fails.
        let batch = Arc::new(batch);
        if let Err(e) = self.store.add_usage(batch.clone()).await {
            // Counts add up, so they go back and are written with the next batch.
            tracing::error!(buckets = batch.len(), error = %e, "could not record usage; will retry");
            let mut pending = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
            for (bucket, counts) in batch.iter() {
                pending.entry(bucket.clone()).or_default().add(*counts);
            }
        }
    }
}

/// The usage roll-ups waiting to be written and the in-memory allowance counters.
pub struct UsageRecorder {
    pending: Arc<Pending>,
    /// Platform tokens per (organization, month).
    platform: tokio::sync::Mutex<HashMap<(String, String), u64>>,
}

impl Drop for UsageRecorder {
    /// The writer writes what is left, then stops.
    fn drop(&mut self) {
        self.pending.closed.store(true, Ordering::Release);
        self.pending.wake.notify_one();
    }
}

impl UsageRecorder {
    /// Starts the background writer (needs a tokio runtime).
    pub fn start(store: Store) -> Self {
        let pending = Arc::new(Pending {
            store,
            batch: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
            writing: tokio::sync::Mutex::new(()),
        });
        let writer = pending.clone();
        tokio::spawn(async move {
            loop {
                writer.wake.notified().await;
                let closed = writer.closed.load(Ordering::Acquire);
                if !closed {
                    tokio::time::sleep(BATCH_WINDOW).await;
                }
                writer.write().await;
                if closed {
                    return;
                }
            }
        });
        Self { pending, platform: tokio::sync::Mutex::new(HashMap::new()) }
    }

    /// Waits until every completion counted so far is in the database.
    pub async fn flush(&self) {
        self.pending.write().await;
    }

    /// Platform tokens the organization spent this month.
    pub async fn platform_used(&self, store: &Store, org_id: &str) -> Result<u64> {
        let month = ids::current_month();
        let mut counters = self.platform.lock().await;
        if let Some(used) = counters.get(&(org_id.to_owned(), month.clone())) {
            return Ok(*used);
        }
        let used = store.platform_tokens_used(org_id, &month).await?;
        counters.insert((org_id.to_owned(), month), used);
        Ok(used)
    }

    /// Counts one completion (successful or not).
    #[allow(clippy::too_many_arguments)]
    pub async fn record(
        &self,
        store: &Store,
        caller: &Caller,
        provider: Provider,
        model: &str,
        source: KeySource,
        project_id: Option<&str>,
        usage: Usage,
        started: Instant,
        status: &'static str,
    ) {
        if source == KeySource::Platform && status == "ok" {
            // Seed before counting, so the database read cannot miss this completion.
            if self.platform_used(store, &caller.org_id).await.is_ok() {
                let mut counters = self.platform.lock().await;
                if let Some(used) = counters.get_mut(&(caller.org_id.clone(), ids::current_month())) {
                    *used += usage.input_tokens + usage.output_tokens;
                }
            }
        }
        let bucket = UsageBucket {
            org_id: caller.org_id.clone(),
            day: ids::current_day(),
            project_id: project_id.map(str::to_owned),
            api_key_id: caller.api_key_id.clone(),
            provider: provider.as_str(),
            model: model.to_owned(),
            key_source: source.as_str(),
            status,
        };
        let counts = UsageCounts::one(usage.input_tokens, usage.output_tokens, started.elapsed().as_millis() as u64);
        let first = {
            let mut batch = self.pending.batch.lock().unwrap_or_else(PoisonError::into_inner);
            let first = batch.is_empty();
            batch.entry(bucket).or_default().add(counts);
            first
        };
        if first {
            self.pending.wake.notify_one();
        }
    }
}

fn valid_month(month: &str) -> bool {
    let b = month.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && matches!(month[5..].parse::<u8>(), Ok(1..=12))
}

impl Core {
    /// Monthly totals by provider, model, key source and project, with the plan's allowance.
    pub async fn usage(&self, caller: &Caller, query: UsageQuery) -> Result<UsageReport> {
        let month = query.month.unwrap_or_else(ids::current_month);
        if !valid_month(&month) {
            return Err(Error::validation("month", "month must be a calendar month like 2026-11"));
        }
        self.usage.flush().await;
        let org = &caller.org_id;
        let totals = self.store.usage_groups(org, &month, None).await?.pop().map(|g| g.totals).unwrap_or_default();
        let used = self.store.platform_tokens_used(org, &month).await?;
        Ok(UsageReport {
            by_provider: self.store.usage_groups(org, &month, Some(UsageGroupBy::Provider)).await?,
            by_model: self.store.usage_groups(org, &month, Some(UsageGroupBy::Model)).await?,
            by_key_source: self.store.usage_groups(org, &month, Some(UsageGroupBy::KeySource)).await?,
            by_project: self.store.usage_groups(org, &month, Some(UsageGroupBy::Project)).await?,
            allowance: Allowance {
                limit: caller.monthly_tokens,
                used,
                remaining: caller.monthly_tokens.saturating_sub(used),
            },
            totals,
            month,
        })
    }

    /// Drains pending usage writes (on shutdown).
    pub async fn flush_usage(&self) {
        self.usage.flush().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn months_are_checked() {
        assert!(super::valid_month("2026-11"));
        for bad in ["2026-13", "2026-00", "26-11", "2026/11", "2026-1x", ""] {
            assert!(!super::valid_month(bad), "{bad}");
        }
    }
}
