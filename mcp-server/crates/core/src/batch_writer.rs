//! The writer task of the two batched writes (usage roll-ups, key-health tallies): woken when
//! the first item of a batch is counted, it waits a window to gather more and writes; a write
//! the store refused is retried with doubling waits up to a cap, without waiting to be woken.
//! Once closed, it writes one last time and ends.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// What the writer needs of a batched write.
pub(crate) trait Batched: Send + Sync + 'static {
    /// Notified when there is something to write, or to stop.
    fn wake(&self) -> &Notify;
    fn is_closed(&self) -> bool;
    /// Writes what is pending; whether the store took all of it.
    fn write_pending(&self) -> impl Future<Output = bool> + Send;
}

/// Starts the writer of `batch`: `window` to gather a batch, `retry_max` the longest wait
/// between retries of a refused one.
pub(crate) fn spawn_writer<B: Batched>(batch: Arc<B>, window: Duration, retry_max: Duration) {
    tokio::spawn(async move {
        // `Some` while a refused write waits: retried without waiting to be woken.
        let mut retry: Option<Duration> = None;
        loop {
            if retry.is_none() {
                batch.wake().notified().await;
            }
            let closed = batch.is_closed();
            if !closed {
                tokio::time::sleep(retry.unwrap_or(window)).await;
            }
            let written = batch.write_pending().await;
            if closed {
                return;
            }
            retry = (!written).then(|| retry.map_or(window, |after| (after * 2).min(retry_max)));
        }
    });
}
