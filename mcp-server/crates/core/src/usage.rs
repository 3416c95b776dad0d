//! Usage: every completion is counted (org, day, project, API key, provider, model, key
//! source, outcome: requests, tokens (input and output, and the parts the provider reports:
//! cache reads and writes, reasoning), latency) into in-memory roll-ups that a background
//! writer adds to the database every `BATCH_WINDOW`, so the hot path never waits for SQLite;
//! `flush` writes them at once (on shutdown, and before a usage report).
//!
//! A store outage loses nothing the process keeps: a batch that could not be written stays in
//! memory and the writer retries it on its own (backing off to `RETRY_MAX`) until the store
//! answers, however long that takes; newer counts wait behind it. Memory is bounded by what
//! waits (`MAX_WAITING_BUCKETS` roll-ups, `MAX_WAITING_SETTLEMENTS` reservations): once either
//! is reached, new completions are refused as `UNAVAILABLE` rather than served unmetered.
//!
//! An organization's usage holds at most `MAX_MODELS_PER_MONTH` distinct model names a month
//! (callers name any model they like, and each name would be roll-up rows of its own): only a
//! completion answered `ok` brings a new name, and once the bound is reached, completions of
//! names not yet held are counted under [`OTHER_MODEL`]. The names held are read from the store
//! when a batch brings one this process has not seen, so replicas agree (two adding a name in
//! the same instant may each add one past the bound).
//!
//! A completion is counted through a [`Meter`] taken when it is dispatched, which counts it
//! exactly once however it ends: with the provider's usage, or an estimate when that never
//! arrived (the caller went away mid-stream, the stream broke). A platform-allowance call also
//! holds a reservation in the store (see `Core::meter`); the batch that writes its usage
//! releases it in the same transaction, so the allowance is never counted twice or not at all.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use converra::{Allowance, SpendForecast, UsageQuery, UsageReport, UsageTotals};
use converra::{KeySource, Usage};

use super::{Caller, Error, Result, Spend, ids};
use converra_adapters::spend::Hold;
use converra_metrics::Metrics;
use converra_prices::{Call, PriceTable};
use converra_providers::Metered;
use converra_store::{Store, UsageBatch, UsageBucket, UsageCounts, UsageGroupBy};

/// How long counted usage waits to be written. Reports flush first, and the allowance never
/// waits for it (a call's reservation holds its tokens until the write).
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// The longest wait between two attempts to write a batch the store refused (the first retry
/// comes after `BATCH_WINDOW`, each next one after twice as long).
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Roll-ups (distinct organization, day, key, model, … of completions) that may wait to be
/// written before new completions are refused: a few hundred bytes each.
const MAX_WAITING_BUCKETS: usize = 50_000;

/// Platform-allowance reservations that may wait to be settled before new completions are
/// refused (one id each).
const MAX_WAITING_SETTLEMENTS: usize = 200_000;

/// How long a shutdown keeps retrying usage the store refused before giving up on it.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

/// Distinct model names an organization's usage holds in one month: far more than the
/// catalogue, for agents' dated names; beyond it, new names are counted as [`OTHER_MODEL`].
pub const MAX_MODELS_PER_MONTH: usize = 100;

/// Where usage of the names beyond [`MAX_MODELS_PER_MONTH`] is counted: not a valid model name
/// (see `parse_model`), so it is never mistaken for one.
pub const OTHER_MODEL: &str = "(other)";

/// The model names an organization's usage holds in a month, as far as this process knows.
#[derive(Default)]
struct Models {
    names: HashSet<String>,
    /// Read from the store at least once (names other replicas added are then known).
    loaded: bool,
    /// New names of failed completions, counted as [`OTHER_MODEL`]: not read for again until
    /// one succeeds (bounded: forgotten past `MAX_MODELS_PER_MONTH`).
    folded: HashSet<String>,
}

impl Models {
    fn full(&self) -> bool {
        self.names.len() >= MAX_MODELS_PER_MONTH
    }
}

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
    /// By (organization, month): the model names its usage holds.
    models: Mutex<HashMap<(String, String), Models>>,
    metrics: Metrics,
    /// What each completion costs (`converra_prices`): computed when it is counted.
    prices: Arc<PriceTable>,
}

impl crate::batch_writer::Batched for Pending {
    fn wake(&self) -> &tokio::sync::Notify {
        &self.wake
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn write_pending(&self) -> impl std::future::Future<Output = bool> + Send {
        self.write()
    }
}

impl Pending {
    /// Writes the batch that failed before (if any), then everything counted since. Returns
    /// whether nothing is left waiting.
    async fn write(&self) -> bool {
        let _writing = self.writing.lock().await;
        let retry = self.failed.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(taken) = retry
            && !self.write_one(taken).await
        {
            // Still failing: newer counts wait behind it in memory.
            return false;
        }
        let Unwritten { batch, settled, since } = std::mem::take(&mut *self.lock());
        if batch.is_empty() && settled.is_empty() {
            return true;
        }
        let batch = match self.bound_models(batch).await {
            Ok(batch) => batch,
            Err(batch) => {
                // The store could not say which names it holds: everything waits, as if refused.
                let mut pending = self.lock();
                for (bucket, counts) in batch {
                    pending.batch.entry(bucket).or_default().add(counts);
                }
                pending.settled.extend(settled);
                pending.since = pending.since.into_iter().chain(since).min();
                drop(pending);
                self.wake.notify_one();
                return false;
            }
        };
        let taken = Taken { id: ids::new_id("ub"), batch: Arc::new(batch), settled: Arc::new(settled), since };
        self.write_one(taken).await
    }

    /// Writes one batch; on failure keeps it (the reservations it settles stay held until it
    /// is written or they expire) and wakes the writer, which retries it until the store
    /// answers. Returns whether it was written.
    async fn write_one(&self, taken: Taken) -> bool {
        match self.store.add_usage(&taken.id, taken.batch.clone(), taken.settled.clone()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(buckets = taken.batch.len(), error = %e, "could not record usage; will retry");
                *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(taken);
                self.wake.notify_one();
                false
            }
        }
    }

    /// Keeps `batch` within [`MAX_MODELS_PER_MONTH`] names per organization and month: a name
    /// the store holds stays; a new one is held if its completion was answered `ok` and there
    /// is room; any other is counted as [`OTHER_MODEL`]. Gives the batch back unchanged if the
    /// store cannot be read.
    async fn bound_models(&self, batch: UsageBatch) -> std::result::Result<UsageBatch, UsageBatch> {
        let month = |b: &UsageBucket| b.day.get(..7).unwrap_or_default().to_owned();
        let unknown: HashSet<(String, String)> = {
            let models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
            batch
                .keys()
                .filter(|b| {
                    let held = models.get(&(b.org_id.clone(), month(b)));
                    held.is_none_or(|m| {
                        let known = m.names.contains(&b.model);
                        // Once full and loaded, no replica can add a name: nothing new to read.
                        let settled = m.loaded && m.full();
                        // A failed call's new name, already folded here, is not read for again.
                        let folded = b.status != "ok" && m.folded.contains(&b.model);
                        !(known || settled || folded)
                    })
                })
                .map(|b| (b.org_id.clone(), month(b)))
                .collect()
        };
        for (org, m) in unknown {
            let Ok(names) = self.store.usage_models(&org, &m).await else {
                return Err(batch);
            };
            let mut models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
            let held = models.entry((org, m)).or_default();
            held.names.extend(names.into_iter().filter(|n| n != OTHER_MODEL));
            held.loaded = true;
        }
        let mut models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        // Only this month's and the batch's are kept (a month's names never shrink).
        let current = ids::current_month();
        let months: HashSet<String> = batch.keys().map(month).collect();
        models.retain(|(_, m), _| *m == current || months.contains(m));
        // Successes first (only they bring a name), in a stable order.
        let mut buckets: Vec<_> = batch.into_iter().collect();
        buckets.sort_by(|(a, _), (b, _)| (a.status != "ok", &a.model).cmp(&(b.status != "ok", &b.model)));
        let mut bounded = UsageBatch::default();
        for (mut bucket, counts) in buckets {
            let held = models.entry((bucket.org_id.clone(), month(&bucket))).or_default();
            if !held.names.contains(&bucket.model) {
                if bucket.status == "ok" && !held.full() {
                    held.names.insert(bucket.model.clone());
                } else {
                    if held.folded.len() >= MAX_MODELS_PER_MONTH {
                        held.folded.clear();
                    }
                    held.folded.insert(std::mem::replace(&mut bucket.model, OTHER_MODEL.to_owned()));
                }
            }
            bounded.entry(bucket).or_default().add(counts);
        }
        Ok(bounded)
    }

    /// Whether as much waits to be written as memory may hold.
    fn full(&self) -> bool {
        let (mut buckets, mut settlements) = {
            let pending = self.lock();
            (pending.batch.len(), pending.settled.len())
        };
        if let Some(failed) = &*self.failed.lock().unwrap_or_else(PoisonError::into_inner) {
            buckets += failed.batch.len();
            settlements += failed.settled.len();
        }
        buckets >= MAX_WAITING_BUCKETS || settlements >= MAX_WAITING_SETTLEMENTS
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
    /// The price table every completion is costed (and budgeted) by.
    pub(crate) fn prices(&self) -> &PriceTable {
        &self.pending.prices
    }

    /// Starts the background writer (needs a tokio runtime).
    pub fn start(store: Store, metrics: Metrics, prices: Arc<PriceTable>) -> Self {
        let pending = Arc::new(Pending {
            store,
            unwritten: Mutex::new(Unwritten::default()),
            failed: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
            writing: tokio::sync::Mutex::new(()),
            models: Mutex::new(HashMap::new()),
            metrics,
            prices,
        });
        crate::batch_writer::spawn_writer(pending.clone(), BATCH_WINDOW, RETRY_MAX);
        Self { pending }
    }

    /// Writes every completion counted so far, once; returns whether all of it is in the
    /// database (what is not stays waiting, and the writer retries it).
    pub async fn flush(&self) -> bool {
        self.pending.write().await
    }

    /// Whether new completions must be refused: the store has refused usage for so long that
    /// memory holds as much as it may.
    pub fn full(&self) -> bool {
        self.pending.full()
    }

    /// Roll-ups waiting to be written, and how long the oldest has waited.
    pub fn lag(&self) -> (usize, Duration) {
        self.pending.lag()
    }

    /// A meter for one completion about to be dispatched; `bucket.status` is set when it ends.
    pub(crate) fn meter(
        &self,
        bucket: UsageBucket,
        input_estimate: u64,
        reservation: Option<String>,
        hold: Option<Hold>,
    ) -> Meter {
        Meter {
            pending: self.pending.clone(),
            bucket,
            started: Instant::now(),
            started_at: time::OffsetDateTime::now_utc(),
            input_estimate,
            streamed_bytes: 0,
            reservation,
            hold,
            counted: false,
            cost: None,
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
    /// When the call started: the price in force then is its price.
    started_at: time::OffsetDateTime,
    input_estimate: u64,
    streamed_bytes: u64,
    reservation: Option<String>,
    /// What the call holds against its budgets in the running spend, settled when counted.
    hold: Option<Hold>,
    counted: bool,
    /// What the call cost once counted; `None` before, or when its model has no price.
    cost: Option<u64>,
}

impl Meter {
    /// Notes text the provider produced (for the estimate, should its own count not arrive).
    pub fn produced(&mut self, text: &str) {
        self.streamed_bytes += text.len() as u64;
    }

    /// Notes `bytes` bytes the provider produced, measured by the caller (a forwarded stream).
    pub fn produced_bytes(&mut self, bytes: u64) {
        self.streamed_bytes += bytes;
    }

    /// The estimate of what the call cost so far: the prompt and the text produced.
    pub fn estimate(&self) -> Usage {
        Usage { input_tokens: self.input_estimate, output_tokens: estimate_tokens(self.streamed_bytes) }
    }

    /// Counts the call with the provider's input and output totals, or the estimate when it
    /// reported none; see [`Meter::settle_metered`], which also counts the parts of the totals.
    pub fn settle(&mut self, reported: Option<Usage>, status: &'static str) -> Usage {
        let reported = reported.map(|u| Metered {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            ..Metered::default()
        });
        totals_of(self.settle_metered(reported, status))
    }

    /// Counts the call with the provider's usage (its totals and the parts it reported: cache
    /// reads and writes, reasoning), or the estimate when it reported none (no usage, or all
    /// zeros, which no real call costs). Returns what was counted.
    pub fn settle_metered(&mut self, reported: Option<Metered>, status: &'static str) -> Metered {
        let usage = reported.filter(|u| *u != Metered::default()).unwrap_or_else(|| {
            let estimate = self.estimate();
            Metered { input_tokens: estimate.input_tokens, output_tokens: estimate.output_tokens, ..Metered::default() }
        });
        self.count(usage, status);
        usage
    }

    /// What the settled call cost by the price table, micro-USD; `None` when its model has no
    /// price (or before it is settled).
    pub fn cost(&self) -> Option<u64> {
        self.cost
    }

    /// Counts a call the provider refused before answering: a request, no tokens.
    pub fn refused(&mut self, status: &'static str) {
        self.count(Metered::default(), status);
    }

    /// What the call cost by the price table when it started, micro-USD; `None` when the
    /// table has no price for its model then. A call the provider refused costs nothing.
    fn cost_of(&self, usage: &Metered) -> Option<u64> {
        if *usage == Metered::default() {
            return Some(0);
        }
        let provider = self.bucket.provider.parse().ok()?;
        let call = Call {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            ..Call::new(provider, &self.bucket.model, self.started_at)
        };
        self.pending.prices.cost(&call).micro_usd()
    }

    fn count(&mut self, usage: Metered, status: &'static str) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        let bucket = UsageBucket { day: ids::current_day(), status, ..self.bucket.clone() };
        let latency_ms = self.started.elapsed().as_millis() as u64;
        self.cost = self.cost_of(&usage);
        self.pending.metrics.spent(&bucket.org_id, bucket.provider, self.cost);
        let counts = UsageCounts::one(usage.input_tokens, usage.output_tokens, latency_ms)
            .with_parts(usage.cache_read_tokens, usage.cache_write_tokens, usage.reasoning_tokens)
            .with_cost(self.cost);
        if bucket.key_source == KeySource::Platform.as_str() {
            self.pending.metrics.allowance_used(bucket.provider, usage.input_tokens + usage.output_tokens);
        }
        self.pending.count(bucket, counts, self.reservation.take());
        if let Some(hold) = self.hold.take() {
            hold.settle(self.cost);
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if !self.counted {
            self.settle(None, "ok");
        }
    }
}

/// The input and output totals of a provider's usage (the wire's [`Usage`]; the parts are in
/// the usage report).
pub(crate) fn totals_of(u: Metered) -> Usage {
    Usage { input_tokens: u.input_tokens, output_tokens: u.output_tokens }
}

/// The month's cost at the rate spent so far (`now` in the month): spent ÷ the part gone.
fn forecast(totals: &UsageTotals, now: time::OffsetDateTime) -> SpendForecast {
    let days = u64::from(time::util::days_in_month(now.month(), now.year()));
    let month_secs = days * 86_400;
    let gone = (u64::from(now.day()) - 1) * 86_400
        + u64::from(now.time().as_hms().0) * 3600
        + u64::from(now.time().as_hms().1) * 60
        + u64::from(now.time().as_hms().2);
    let gone = gone.clamp(1, month_secs);
    let cost = (u128::from(totals.cost_micro_usd) * u128::from(month_secs) / u128::from(gone)) as u64;
    SpendForecast { cost_micro_usd: cost, elapsed_permille: (gone * 1000 / month_secs) as u32 }
}

/// The month a report asks for (`YYYY-MM`), the current one by default.
pub(crate) fn month_of(query: UsageQuery) -> Result<String> {
    let month = query.month.unwrap_or_else(ids::current_month);
    if !valid_month(&month) {
        return Err(Error::validation("month", "month must be a calendar month like 2026-11"));
    }
    Ok(month)
}

fn valid_month(month: &str) -> bool {
    let b = month.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && matches!(month[5..].parse::<u8>(), Ok(1..=12))
}

impl Spend {
    /// Monthly totals by provider, model, key source and project, with the plan's allowance.
    pub async fn usage(&self, caller: &Caller, query: UsageQuery) -> Result<UsageReport> {
        let month = month_of(query)?;
        self.usage.flush().await;
        let org = &caller.org_id;
        let totals = self.store.usage_groups(org, &month, None).await?.pop().map(|g| g.totals).unwrap_or_default();
        let used = self.store.platform_tokens_used(org, &month).await?;
        Ok(UsageReport {
            by_provider: self.store.usage_groups(org, &month, Some(UsageGroupBy::Provider)).await?,
            by_model: self.store.usage_groups(org, &month, Some(UsageGroupBy::Model)).await?,
            by_key_source: self.store.usage_groups(org, &month, Some(UsageGroupBy::KeySource)).await?,
            by_project: self.store.usage_groups(org, &month, Some(UsageGroupBy::Project)).await?,
            by_api_key: self.store.usage_groups(org, &month, Some(UsageGroupBy::ApiKey)).await?,
            by_member: self.store.usage_groups(org, &month, Some(UsageGroupBy::Member)).await?,
            forecast: (month == ids::current_month()).then(|| forecast(&totals, time::OffsetDateTime::now_utc())),
            budgets: self.budgets(caller, &month).await?,
            by_outcome: self.store.usage_groups(org, &month, Some(UsageGroupBy::Outcome)).await?,
            allowance: self.platform_keys.then(|| Allowance {
                limit: caller.monthly_tokens,
                used,
                remaining: caller.monthly_tokens.saturating_sub(used),
            }),
            totals,
            month,
        })
    }

    /// Drains pending usage writes (on shutdown), retrying for a while if the store refuses
    /// them; what is still refused then is lost with the process, and logged.
    pub async fn flush_usage(&self) {
        let started = Instant::now();
        while !self.usage.flush().await {
            if started.elapsed() >= SHUTDOWN_PATIENCE {
                let (buckets, oldest) = self.usage.lag();
                tracing::error!(buckets, oldest_secs = oldest.as_secs(), "usage could not be written before shutdown");
                return;
            }
            tokio::time::sleep(RETRY_MAX / 4).await;
        }
    }
}

#[cfg(test)]
mod tests;
