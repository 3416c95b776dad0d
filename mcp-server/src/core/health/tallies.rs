//! Live outcomes tallied in memory and written in batches: consecutive failures of a flagged
//! key, the last error, the last success. A completion adds to a map under a short lock and
//! never waits for the store; a writer adds the batch to the store every [`WINDOW`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use converra::KeyStatus;

use crate::core::ids;
use crate::store::{HealthTally, Store};

/// How long tallied outcomes wait to be written.
const WINDOW: Duration = Duration::from_secs(1);

/// One key's outcomes since the last write (unix seconds).
#[derive(Default, Clone, Copy)]
struct Local {
    failures: u64,
    last_error: Option<(KeyStatus, u64)>,
    last_success: Option<u64>,
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

    async fn write(&self) {
        let _writing = self.writing.lock().await;
        let taken = std::mem::take(&mut *self.lock());
        if taken.is_empty() {
            return;
        }
        let batch: Vec<HealthTally> = taken
            .into_iter()
            .map(|(key_id, l)| HealthTally {
                key_id,
                failures: l.failures,
                last_error: l.last_error.map(|(s, t)| (s, at(t))),
                last_success_at: l.last_success.map(at),
            })
            .collect();
        if let Err(e) = self.store.add_health_tallies(Arc::new(batch)).await {
            // Counts and times only: losing one window is harmless, retrying could double it.
            tracing::warn!(error = %e, "could not record key health tallies");
        }
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
        let writer = shared.clone();
        tokio::spawn(async move {
            loop {
                writer.wake.notified().await;
                let closed = writer.closed.load(Ordering::Acquire);
                if !closed {
                    tokio::time::sleep(WINDOW).await;
                }
                writer.write().await;
                if closed {
                    return;
                }
            }
        });
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

    /// Writes everything tallied so far.
    pub(crate) async fn flush(&self) {
        self.shared.write().await;
    }
}
