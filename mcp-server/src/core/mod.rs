//! The domain: service functions every face calls. No SQL (that is `store/`), no HTTP client
//! (that is `providers/`), no wire framing (that is the faces). Permissions, validation,
//! resolution and the meaning of errors live here, once.

pub mod access;
pub mod audit;
pub mod completions;
pub mod error;
pub mod ids;
mod models;
mod observed;
mod operations;
pub mod settings;
pub mod usage;
pub mod vault;

use std::sync::Arc;

pub use access::Caller;
pub use error::{AuthError, Error, InternalError, RateLimitInfo, Result};
pub use operations::BackupSummary;

use crate::buckets::Buckets;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::store::Store;

/// Everything the service functions need, built once at start and shared by every face.
pub struct Core {
    pub(crate) store: Store,
    pub(crate) keyring: vault::Keyring,
    pub(crate) providers: Providers,
    pub(crate) limits: access::RateLimits,
    pub(crate) last_used: access::LastUsed,
    pub(crate) usage: usage::UsageRecorder,
    pub(crate) metrics: Metrics,
}

impl Core {
    /// Builds the core over an opened store. Starts the store's change watch and the usage
    /// writer, so it must be called inside a tokio runtime.
    /// `metrics` records (and can be scraped) when `/metrics` is configured, else it is off.
    pub fn new(
        store: Store,
        keyring: vault::Keyring,
        providers: Providers,
        buckets: Buckets,
        metrics: Metrics,
    ) -> Arc<Self> {
        store.watch_changes();
        Arc::new(Self {
            keyring,
            providers,
            limits: access::RateLimits::new(buckets),
            last_used: access::LastUsed::default(),
            usage: usage::UsageRecorder::start(store.clone(), metrics.clone()),
            store,
            metrics,
        })
    }

    /// This app's metrics (off unless `/metrics` is configured).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Brings the gauges that are read rather than counted up to date, just before a scrape.
    pub async fn refresh_metric_gauges(&self) {
        if !self.metrics.is_enabled() {
            return;
        }
        let (pending, oldest) = self.usage.lag();
        self.metrics.set_usage_lag(pending, oldest);
        // MERGE(health): the key-health gauge is wired here once `Core::key_health_counts()`
        // (branch `health`) lands: for each (status, count) it returns,
        // `self.metrics.set_key_health(status.as_str(), count)`; statuses with no key, 0.
    }

    /// Whether the service can answer (`/readyz`).
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}
