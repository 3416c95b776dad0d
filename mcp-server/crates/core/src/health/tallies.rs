//! Live outcomes tallied in memory and written in batches: consecutive failures of a flagged
//! key, the last error, the last success. A completion adds to a map under a short lock and
//! never waits for the store; a writer adds the batch to the store every [`WINDOW`].
//!
//! A batch the store refuses (an outage) goes back into the map under what was tallied since,
//! and the writer retries on its own until the store answers. The map holds one entry per
//! provider key, so memory is bounded by the keys that exist however long the outage. Should a
//! write's commit be reported lost although it happened, its failures are counted again: a
//! flagged key's run of consecutive failures reads longer (it only paces re-tests).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use converra::KeyStatus;

use crate::ids;
use converra_store::{HealthTally, Store};

/// How long tallied outcomes wait to be written.
const WINDOW: Duration = Duration::from_secs(1);

/// The longest wait between two attempts to write tallies the store refused.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How long a shutdown keeps retrying tallies the store refuses.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);

/// One key's outcomes since the last write (unix seconds).
#[derive(Default, Clone, Copy)]
struct Local {
    failures: u64,
    last_error: Option<(KeyStatus, u64)>,
    last_success: Option<u64>,
}

impl Local {
    /// `earlier` (a batch the store refused) followed by `self` (tallied since), as one.
    fn after(self, earlier: Local) -> Local {
        Local {
            // A success since then started a new run of failures.
            failures: if self.last_success.is_some() { self.failures } else { earlier.failures + self.failures },
            last_error: self.last_error.or(earlier.last_error),
            last_success: self.last_success.or(earlier.last_success),
        }
    }
}

struct Shared {
    store: Store,
    pending: Mutex<HashMap<String, Local>>,
    /// Outcomes being written: still counted by [`HealthTallies::pending_failures`].
    writing: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    closed: AtomicBool,
}

/// The in-memory tallies and their writer.
pub(crate) struct HealthTallies {
    shared: Arc<Shared>,
}

impl Drop for HealthTallies {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

fn at(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64).map(ids::format_time).unwrap_or_default()
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Local>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Updates one key's tally; wakes the writer for the first of a window.
    fn update(&self, key_id: &str, f: impl FnOnce(&mut Local)) {
        let first = {
            let mut pending = self.lock();
            let first = pending.is_empty();
            match pending.get_mut(key_id) {
                Some(local) => f(local),
                None => {
                    let mut local = Local::default();
                    f(&mut local);
                    pending.insert(key_id.to_owned(), local);
                }
            }
            first
        };
        if first {
            self.wake.notify_one();
        }
    }

    /// Writes everything tallied; returns whether the store took it (if not, it is back in the
    /// map, before what was tallied since).
    async fn write(&self) -> bool {
        let _writing = self.writing.lock().await;
        let taken = std::mem::take(&mut *self.lock());
        if taken.is_empty() {
            return true;
        }
        let batch: Vec<HealthTally> = taken
            .iter()
            .map(|(key_id, l)| HealthTally {
                key_id: key_id.clone(),
                failures: l.failures,
                last_error: l.last_error.map(|(s, t)| (s, at(t))),
                last_success_at: l.last_success.map(at),
            })
            .collect();
        let Err(e) = self.store.add_health_tallies(Arc::new(batch)).await else {
            return true;
        };
        tracing::warn!(keys = taken.len(), error = %e, "could not record key health tallies; will retry");
        {
            let mut pending = self.lock();
            for (key_id, earlier) in taken {
                let merged = pending.get(&key_id).map_or(earlier, |since| since.after(earlier));
                pending.insert(key_id, merged);
            }
        }
        // The writer retries (it may be idle if this was a flush).
        self.wake.notify_one();
        false
    }
}

impl crate::batch_writer::Batched for Shared {
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

impl HealthTallies {
    /// Starts the writer (needs a tokio runtime).
    pub(crate) fn start(store: Store) -> Self {
        let shared = Arc::new(Shared {
            store,
            pending: Mutex::new(HashMap::new()),
            writing: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
        });
        crate::batch_writer::spawn_writer(shared.clone(), WINDOW, RETRY_MAX);
        Self { shared }
    }

    /// A success: a later failure starts a new run of consecutive failures.
    pub(crate) fn succeeded(&self, key_id: &str, now: u64) {
        self.shared.update(key_id, |l| {
            l.last_success = Some(now);
            l.failures = 0;
        });
    }

    /// A failure; `counts` when it adds to a flagged key's consecutive failures.
    pub(crate) fn failed(&self, key_id: &str, status: KeyStatus, now: u64, counts: bool) {
        self.shared.update(key_id, |l| {
            l.last_error = Some((status, now));
            if counts {
                l.failures += 1;
            }
        });
    }

    /// Failures tallied but not written yet.
    pub(crate) fn pending_failures(&self, key_id: &str) -> u64 {
        self.shared.lock().get(key_id).map_or(0, |l| l.failures)
    }

    /// The last success seen here and not written yet.
    pub(crate) fn last_success(&self, key_id: &str) -> Option<String> {
        self.shared.lock().get(key_id).and_then(|l| l.last_success).map(at)
    }

    /// Writes everything tallied so far, retrying for a while if the store refuses it.
    pub(crate) async fn flush(&self) {
        let started = std::time::Instant::now();
        while !self.shared.write().await {
            if started.elapsed() >= SHUTDOWN_PATIENCE {
                tracing::error!(keys = self.shared.lock().len(), "key health tallies could not be written");
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_tallies_go_back_before_what_was_tallied_since() {
        let refused = Local { failures: 3, last_error: Some((KeyStatus::InvalidKey, 10)), last_success: Some(5) };
        let failed_since = Local { failures: 2, last_error: Some((KeyStatus::InvalidKey, 20)), last_success: None };
        let merged = failed_since.after(refused);
        assert_eq!((merged.failures, merged.last_error.map(|e| e.1), merged.last_success), (5, Some(20), Some(5)));
        let recovered_since = Local { failures: 1, last_error: None, last_success: Some(30) };
        let merged = recovered_since.after(refused);
        assert_eq!((merged.failures, merged.last_error.map(|e| e.1), merged.last_success), (1, Some(10), Some(30)));
    }

    #[tokio::test]
    async fn tallies_the_store_refused_are_kept_and_written_once_it_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tallies.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.busy_timeout(Duration::from_secs(5)).unwrap();
        raw.execute_batch("ALTER TABLE provider_keys RENAME TO keys_away").unwrap();
        let tallies = HealthTallies::start(store);
        tallies.failed("pk_outage", KeyStatus::InvalidKey, 100, true);
        tallies.failed("pk_outage", KeyStatus::InvalidKey, 101, true);
        assert!(!tallies.shared.write().await, "the store refused them");
        assert_eq!(tallies.pending_failures("pk_outage"), 2, "kept, not dropped");
        tallies.failed("pk_outage", KeyStatus::InvalidKey, 102, true);
        assert_eq!(tallies.pending_failures("pk_outage"), 3);

        raw.execute_batch("ALTER TABLE keys_away RENAME TO provider_keys").unwrap();
        // No new outcome, no flush: the writer retries on its own.
        let started = std::time::Instant::now();
        while tallies.pending_failures("pk_outage") != 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "never written");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
