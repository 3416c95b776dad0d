//! Whether the read cache may be trusted: the backend's change watch confirms every
//! `CONFIRM_EVERY` that it has seen every change; past `TRUST_FOR` without a confirmation (the
//! database or its notifications unreachable), cached reads stop being served.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the change watch confirms that it has seen every change (a poll, or a round trip
/// on the listening connection).
pub(super) const CONFIRM_EVERY: Duration = Duration::from_millis(250);

/// How long cached reads are trusted after the last confirmation. Past it (the database or the
/// notifications are unreachable), every read goes to the database, and fails as `UNAVAILABLE`
/// if it cannot be answered: a revocation on another replica is never missed for longer.
const TRUST_FOR: Duration = Duration::from_secs(1);

/// What the change watch last confirmed.
#[derive(Default)]
pub(super) struct Watch {
    pub(super) started: AtomicBool,
    /// When (ms since `epoch`) the watch last confirmed the caches.
    confirmed_ms: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

impl Watch {
    fn now_ms(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    pub(super) fn confirm(&self) {
        self.confirmed_ms.store(self.now_ms().max(1), Ordering::SeqCst);
    }

    /// Whether cached reads may be served: no watch (one process, nothing else writes), or one
    /// that confirmed within `TRUST_FOR`.
    pub(super) fn trusted(&self) -> bool {
        if !self.started.load(Ordering::SeqCst) {
            return true;
        }
        let confirmed = self.confirmed_ms.load(Ordering::SeqCst);
        confirmed != 0 && self.now_ms().saturating_sub(confirmed) <= TRUST_FOR.as_millis() as u64
    }
}
