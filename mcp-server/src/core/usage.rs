//! Usage: every completion is counted (org, day, project, API key, provider, model, key
//! source, outcome: requests, tokens, latency) into in-memory roll-ups that a background
//! writer adds to the database every `BATCH_WINDOW`, so the hot path never waits for SQLite;
//! `flush` writes them at once (on shutdown, and before a usage report).
//!
//! A completion is counted through a [`Meter`] taken when it is dispatched, which counts it
//! exactly once however it ends: with the provider's usage, or an estimate when that never
//! arrived (the caller went away mid-stream, the stream broke). A platform-allowance call also
//! holds a reservation in the store (see `Core::meter`); the batch that writes its usage
//! releases it in the same transaction, so the allowance is never counted twice or not at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use converra::{Allowance, UsageQuery, UsageReport};
use converra::{KeySource, Usage};

use super::{Caller, Core, Error, Result, ids};
use crate::metrics::Metrics;
use crate::store::{Store, UsageBatch, UsageBucket, UsageCounts, UsageGroupBy};

/// How long counted usage waits to be written. Reports flush first, and the allowance never
/// waits for it (a call's reservation holds its tokens until the write).
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// Bytes of text counted as one token when a provider's own count is missing: a documented,
/// deliberately simple rule (English averages ~4 bytes a token), rounded up.
pub const BYTES_PER_TOKEN: u64 = 4;

/// The estimated tokens of `bytes` bytes of text: `ceil(bytes / 4)`.
pub fn estimate_tokens(bytes: u64) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN)
}

/// Counted usage not yet written, and the reservations its writing settles.
#[derive(Default)]
struct Unwritten {
    batch: UsageBatch,
    settled: Vec<String>,
    /// When the oldest count in `batch` was made (the writer's lag, for the metrics).
    since: Option<Instant>,
}

/// A batch taken for writing, with its id: a batch whose write failed is retried as it is,
/// under the same id, so that if its commit happened after all it is not counted twice.
struct Taken {
    id: String,
    batch: Arc<UsageBatch>,
    settled: Arc<Vec<String>>,
    since: Option<Instant>,
}

struct Pending {
    store: Store,
    unwritten: Mutex<Unwritten>,
    /// A batch whose write failed, to be written (same id) before anything newer.
    failed: Mutex<Option<Taken>>,
    /// Wakes the writer when the first completion of a window is counted, or to stop.
    wake: tokio::sync::Notify,
    closed: AtomicBool,
    /// Held while a batch is taken and written, so `flush` returns only once everything
    /// counted before it is in the database (not merely taken by the writer).
    writing: tokio::sync::Mutex<()>,
    metrics: Metrics,
}

impl Pending {
    async fn write(&self) {
        let _writing = self.writing.lock().await;
        let retry = self.failed.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(taken) = retry
            && !self.write_one(taken).await
        {
            // Still failing: newer counts wait behind it in memory.
            return;
        }
        let Unwritten { batch, settled, since } = std::mem::take(&mut *self.lock());
        if batch.is_empty() && settled.is_empty() {
            return;
        }
        let taken = Taken { id: ids::new_id("ub"), batch: Arc::new(batch), settled: Arc::new(settled), since };
        self.write_one(taken).await;
    }

    /// Writes one batch; on failure keeps it (the reservations it settles stay held until it
    /// is written or they expire). Returns whether it was written.
    async fn write_one(&self, taken: Taken) -> bool {
        match self.store.add_usage(&taken.id, taken.batch.clone(), taken.settled.clone()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(buckets = taken.batch.len(), error = %e, "could not record usage; will retry");
                *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(taken);
                false
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Unwritten> {
        self.unwritten.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one completion (and the reservation it settles); never waits.
    fn count(&self, bucket: UsageBucket, counts: UsageCounts, settles: Option<String>) {
        let first = {
            let mut pending = self.lock();
            let first = pending.batch.is_empty() && pending.settled.is_empty();
            if first {
                pending.since = Some(Instant::now());
            }
            pending.batch.entry(bucket).or_default().add(counts);
            pending.settled.extend(settles);
            first
        };
        if first {
            self.wake.notify_one();
        }
    }

    /// Roll-ups waiting to be written (a failed batch included), and the age of the oldest.
    fn lag(&self) -> (usize, Duration) {
        let (mut buckets, mut since) = {
            let pending = self.lock();
            (pending.batch.len(), pending.since)
        };
        if let Some(failed) = &*self.failed.lock().unwrap_or_else(PoisonError::into_inner) {
            buckets += failed.batch.len();
            since = since.into_iter().chain(failed.since).min();
        }
        (buckets, since.map_or(Duration::ZERO, |at| at.elapsed()))
    }
}

/// The usage roll-ups waiting to be written.
pub struct UsageRecorder {
    pending: Arc<Pending>,
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
    pub fn start(store: Store, metrics: Metrics) -> Self {
        let pending = Arc::new(Pending {
            store,
            unwritten: Mutex::new(Unwritten::default()),
            failed: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
            writing: tokio::sync::Mutex::new(()),
            metrics,
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
        Self { pending }
    }

    /// Waits until every completion counted so far is in the database.
    pub async fn flush(&self) {
        self.pending.write().await;
    }

    /// Roll-ups waiting to be written, and how long the oldest has waited.
    pub fn lag(&self) -> (usize, Duration) {
        self.pending.lag()
    }

    /// A meter for one completion about to be dispatched; `bucket.status` is set when it ends.
    pub(crate) fn meter(&self, bucket: UsageBucket, input_estimate: u64, reservation: Option<String>) -> Meter {
        Meter {
            pending: self.pending.clone(),
            bucket,
            started: Instant::now(),
            input_estimate,
            streamed_bytes: 0,
            reservation,
            counted: false,
        }
    }
}

/// Counts one dispatched completion exactly once: by [`Meter::settle`] or [`Meter::refused`]
/// when the answer ends, otherwise when dropped (the caller disconnected mid-stream, or the
/// request was cancelled), as `ok` with the estimate — the provider was not at fault, and the
/// tokens it produced were spent.
pub(crate) struct Meter {
    pending: Arc<Pending>,
    bucket: UsageBucket,
    started: Instant,
    input_estimate: u64,
    streamed_bytes: u64,
    reservation: Option<String>,
    counted: bool,
}

impl Meter {
    /// Notes text the provider produced (for the estimate, should its own count not arrive).
    pub fn produced(&mut self, text: &str) {
        self.streamed_bytes += text.len() as u64;
    }

    /// The estimate of what the call cost so far: the prompt and the text produced.
    pub fn estimate(&self) -> Usage {
        Usage { input_tokens: self.input_estimate, output_tokens: estimate_tokens(self.streamed_bytes) }
    }

    /// Counts the call with the provider's usage, or the estimate when it reported none (no
    /// usage, or all zeros, which no real call costs). Returns what was counted.
    pub fn settle(&mut self, reported: Option<Usage>, status: &'static str) -> Usage {
        let usage = reported.filter(|u| *u != Usage::default()).unwrap_or_else(|| self.estimate());
        self.count(usage, status);
        usage
    }

    /// Counts a call the provider refused before answering: a request, no tokens.
    pub fn refused(&mut self, status: &'static str) {
        self.count(Usage::default(), status);
    }

    fn count(&mut self, usage: Usage, status: &'static str) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        let bucket = UsageBucket { day: ids::current_day(), status, ..self.bucket.clone() };
        let latency_ms = self.started.elapsed().as_millis() as u64;
        let counts = UsageCounts::one(usage.input_tokens, usage.output_tokens, latency_ms);
        if bucket.key_source == KeySource::Platform.as_str() {
            self.pending.metrics.allowance_used(bucket.provider, usage.input_tokens + usage.output_tokens);
        }
        self.pending.count(bucket, counts, self.reservation.take());
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if !self.counted {
            self.settle(None, "ok");
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
            allowance: self.providers.has_platform_keys().then(|| Allowance {
                limit: caller.monthly_tokens,
                used,
                remaining: caller.monthly_tokens.saturating_sub(used),
            }),
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
