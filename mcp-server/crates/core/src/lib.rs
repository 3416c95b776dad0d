//! The domain: service functions every face calls. No SQL (that is `store/`), no HTTP client
//! (that is `providers/`), no wire framing (that is the faces). Permissions, validation,
//! resolution and the meaning of errors live here, once.

pub mod access;
mod admission;
mod agent;
pub mod audit;
mod batch_writer;
mod budgets;
mod chat_translated;
pub mod completions;
mod forwarding;
pub mod health;
mod messages;
mod models;
mod observed;
mod operations;
mod prices;
mod responses;
pub mod settings;
mod spend;
pub mod usage;
pub mod vault;

use std::sync::Arc;

pub use access::Caller;
pub use agent::ChatAnswer;
pub use converra_base::{AuthError, Error, InternalError, RateLimitInfo, Result};
// The leaf's ids and error, named from inside the core as its own (`crate::ids`).
use converra_base::{error, ids};
pub use forwarding::Relayed;
pub use messages::{AnthropicHeaders, TokenCount};
pub use operations::BackupSummary;
pub use prices::{PriceCheck, UnpricedModel};
pub use responses::ResponsesEndpoint;
pub use spend::Spend;

use converra::HealthStatus;

use converra_adapters::Counters;
use converra_metrics::Metrics;
use converra_providers::Providers;
use converra_store::Store;

/// Everything the service functions need, built once at start and shared by every face.
pub struct Core {
    pub(crate) store: Store,
    pub(crate) keyring: vault::Keyring,
    pub(crate) providers: Providers,
    pub(crate) limits: access::RateLimits,
    pub(crate) last_used: access::LastUsed,
    /// Key health (`health/`).
    pub(crate) health: health::Health,
    pub(crate) webhook: Option<converra_adapters::webhooks::Webhook>,
    /// This process among the replicas: the background lease's holder, which reports the
    /// master-key version it runs with.
    pub(crate) replica: health::Replica,
    /// `CONVERRA_PUBLIC_URL` (or the listen address): the base of every link Converra prints
    /// or sends, never a request's `Host`. Set once at start by `app.rs`.
    public_url: std::sync::OnceLock<String>,
    pub(crate) metrics: Metrics,
    /// Usage, costs and budgets (`spend.rs`).
    pub(crate) spend: Spend,
}

impl Core {
    /// Builds the core over an opened store. Starts the store's change watch, the usage
    /// writer and the key-health tally writer, so it must be called inside a tokio runtime.
    /// The background health work starts separately ([`Core::start_background`]).
    /// `metrics` records (and can be scraped) when `/metrics` is configured, else it is off;
    /// every completion is costed by `prices`.
    pub fn new(
        store: Store,
        keyring: vault::Keyring,
        providers: Providers,
        counters: Counters,
        health: health::HealthConfig,
        metrics: Metrics,
        prices: Arc<converra_prices::PriceTable>,
    ) -> Arc<Self> {
        store.watch_changes();
        let webhook =
            health.webhook.clone().map(|(url, secret)| converra_adapters::webhooks::Webhook::new(url, secret));
        let usage = usage::UsageRecorder::start(store.clone(), metrics.clone(), prices);
        let spend = Spend::new(store.clone(), usage, counters.spend, &providers, webhook.is_some());
        Arc::new(Self {
            webhook,
            spend,
            replica: health::Replica::new(),
            health: health::Health::new(store.clone(), health),
            keyring,
            providers,
            limits: access::RateLimits::new(counters.rate_limits),
            last_used: access::LastUsed::default(),
            public_url: std::sync::OnceLock::new(),
            store,
            metrics,
        })
    }

    /// Sets the public URL (once; later calls are ignored).
    pub fn set_public_url(&self, base: String) {
        let _ = self.public_url.set(base);
    }

    /// The base of every link: `CONVERRA_PUBLIC_URL`, or the listen address.
    pub fn public_url(&self) -> &str {
        self.public_url.get().map_or("http://127.0.0.1:8080", String::as_str)
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
        let (pending, oldest) = self.spend.usage.lag();
        self.metrics.set_usage_lag(pending, oldest);
        match self.health.key_health_counts().await {
            Ok(counts) => {
                for (status, n) in [
                    (HealthStatus::Unknown, counts.unknown),
                    (HealthStatus::Ok, counts.ok),
                    (HealthStatus::InvalidKey, counts.invalid_key),
                    (HealthStatus::QuotaExceeded, counts.quota_exceeded),
                ] {
                    self.metrics.set_key_health(status.as_str(), n);
                }
            }
            // The scrape still answers; the gauge keeps its last values.
            Err(e) => tracing::warn!(error = %e, "could not count provider keys by health for /metrics"),
        }
    }

    /// Whether the service can answer (`/readyz`).
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}
