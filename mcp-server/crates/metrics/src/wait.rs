//! The time a request spent waiting on a provider, so that the request's *added* latency
//! (its duration minus that wait) can be measured without the core knowing about requests.
//!
//! The edge runs each request inside [`measure`], a task-local accumulator (no allocation);
//! the core adds every provider call's time with [`provider_waited`], a no-op outside a
//! request. The MCP transport answers each request on a task of its own, where the task-local
//! is not set: the edge hands such requests a [`SharedWait`] in their extensions instead, and
//! the MCP face runs the tool inside [`carry`], which adds the tool's wait to it.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

tokio::task_local! {
    static WAITED: Cell<Duration>;
}

/// Adds `d` to the current request's provider wait (nothing when not inside a request).
pub fn provider_waited(d: Duration) {
    let _ = WAITED.try_with(|w| w.set(w.get() + d));
}

/// Runs `fut` and returns its output with the provider wait it accumulated.
pub async fn measure<F: Future>(fut: F) -> (F::Output, Duration) {
    WAITED
        .scope(Cell::new(Duration::ZERO), async move {
            let out = fut.await;
            (out, WAITED.with(Cell::get))
        })
        .await
}

/// A provider wait handed across tasks (MCP): nanoseconds, shared.
#[derive(Clone, Default)]
pub struct SharedWait(Arc<AtomicU64>);

impl SharedWait {
    pub fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    fn add(&self, d: Duration) {
        self.0.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Runs `fut` (on whatever task) measuring its provider wait, and adds that to `shared`.
pub async fn carry<F: Future>(shared: Option<SharedWait>, fut: F) -> F::Output {
    match shared {
        Some(shared) => {
            let (out, waited) = measure(fut).await;
            shared.add(waited);
            out
        }
        None => fut.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_add_up_inside_a_request_and_vanish_outside() {
        provider_waited(Duration::from_millis(5));
        let ((), waited) = measure(async {
            provider_waited(Duration::from_millis(2));
            provider_waited(Duration::from_millis(3));
        })
        .await;
        assert_eq!(waited, Duration::from_millis(5));
        let shared = SharedWait::default();
        let handle = tokio::spawn(carry(Some(shared.clone()), async { provider_waited(Duration::from_millis(7)) }));
        handle.await.unwrap();
        assert_eq!(shared.get(), Duration::from_millis(7));
    }
}
