//! Usage: every completion is recorded (org, project, API key, provider, model, key source,
//! tokens, latency, status) by a background writer that batches inserts, so the hot path never
//! waits for an fsync; `flush` drains it (on shutdown, and before a usage report).
//!
//! Platform-key tokens are also counted in memory per organization and month, seeded from the
//! database on first use, so the allowance check never runs on stale numbers.

use std::collections::HashMap;
use std::time::Instant;

use converra::{Allowance, KeySource, Provider, Usage, UsageQuery, UsageReport};
use tokio::sync::{mpsc, oneshot};

use super::{Caller, Core, Error, Result, ids};
use crate::store::{Store, UsageEventRow};

enum Msg {
    Event(Box<UsageEventRow>),
    Flush(oneshot::Sender<()>),
}

/// The usage writer and the in-memory allowance counters.
pub struct UsageRecorder {
    tx: mpsc::UnboundedSender<Msg>,
    /// Platform tokens per (organization, month).
    platform: tokio::sync::Mutex<HashMap<(String, String), u64>>,
}

const BATCH: usize = 1024;
/// How long usage events wait to be written together. The allowance never waits for the
/// database (it is counted in memory), and reports flush first.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

impl UsageRecorder {
    /// Starts the background writer (needs a tokio runtime).
    pub fn start(store: Store) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Collect for up to BATCH_WINDOW (or BATCH events, or until a flush is asked
                // for): one transaction and one fsync per batch instead of per completion.
                let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
                let mut events = Vec::new();
                let mut acks = Vec::new();
                let mut next = Some(first);
                while let Some(msg) = next.take() {
                    match msg {
                        Msg::Event(e) => events.push(*e),
                        Msg::Flush(ack) => acks.push(ack),
                    }
                    if events.len() < BATCH && acks.is_empty() {
                        next = tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten();
                    }
                }
                if !events.is_empty() {
                    let n = events.len();
                    if let Err(e) = store.insert_usage(events).await {
                        tracing::error!(events = n, error = %e, "could not record usage");
                    }
                }
                for ack in acks {
                    let _ = ack.send(());
                }
            }
        });
        Self { tx, platform: tokio::sync::Mutex::new(HashMap::new()) }
    }

    /// Waits until every usage event recorded so far is in the database.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.await;
        }
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

    /// Records one completion (successful or not).
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
        status: &str,
    ) {
        if source == KeySource::Platform && status == "ok" {
            // Seed before counting, so the database read cannot miss this event.
            if self.platform_used(store, &caller.org_id).await.is_ok() {
                let mut counters = self.platform.lock().await;
                if let Some(used) = counters.get_mut(&(caller.org_id.clone(), ids::current_month())) {
                    *used += usage.input_tokens + usage.output_tokens;
                }
            }
        }
        let event = UsageEventRow {
            org_id: caller.org_id.clone(),
            project_id: project_id.map(str::to_owned),
            api_key_id: caller.api_key_id.clone(),
            provider: provider.as_str().to_owned(),
            model: model.to_owned(),
            key_source: source.as_str().to_owned(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            latency_ms: started.elapsed().as_millis() as u64,
            status: status.to_owned(),
            month: ids::current_month(),
            created_at: ids::now(),
        };
        if self.tx.send(Msg::Event(Box::new(event))).is_err() {
            tracing::error!("usage writer has stopped; a usage event was lost");
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
            by_provider: self.store.usage_groups(org, &month, Some("provider")).await?,
            by_model: self.store.usage_groups(org, &month, Some("model")).await?,
            by_key_source: self.store.usage_groups(org, &month, Some("key_source")).await?,
            by_project: self.store.usage_groups(org, &month, Some("project_id")).await?,
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
