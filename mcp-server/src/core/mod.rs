//! The domain: service functions every face calls. No SQL (that is `store/`), no HTTP client
//! (that is `providers/`), no wire framing (that is the faces). Permissions, validation,
//! resolution and the meaning of errors live here, once.

pub mod access;
pub mod audit;
pub mod completions;
pub mod error;
pub mod health;
pub mod ids;
mod models;
mod operations;
pub mod settings;
pub mod usage;
pub mod vault;

use std::sync::Arc;

pub use access::Caller;
pub use error::{AuthError, Error, InternalError, RateLimitInfo, Result};
pub use operations::BackupSummary;

use crate::buckets::Buckets;
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
    pub(crate) health: health::HealthConfig,
    pub(crate) tallies: health::HealthTallies,
    pub(crate) webhook: Option<crate::webhooks::Webhook>,
    /// `CONVERRA_PUBLIC_URL` (or the listen address): the base of every link Converra prints
    /// or sends, never a request's `Host`. Set once at start by `app.rs`.
    public_url: std::sync::OnceLock<String>,
}

impl Core {
    /// Builds the core over an opened store. Starts the store's change watch, the usage
    /// writer and the key-health tally writer, so it must be called inside a tokio runtime.
    /// The background health work starts separately ([`Core::start_background`]).
    pub fn new(
        store: Store,
        keyring: vault::Keyring,
        providers: Providers,
        buckets: Buckets,
        health: health::HealthConfig,
    ) -> Arc<Self> {
        store.watch_changes();
        Arc::new(Self {
            webhook: health.webhook.clone().map(|(url, secret)| crate::webhooks::Webhook::new(url, secret)),
            tallies: health::HealthTallies::start(store.clone()),
            health,
            keyring,
            providers,
            limits: access::RateLimits::new(buckets),
            last_used: access::LastUsed::default(),
            usage: usage::UsageRecorder::start(store.clone()),
            public_url: std::sync::OnceLock::new(),
            store,
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

    /// Whether the service can answer (`/readyz`).
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}
