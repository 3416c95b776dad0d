//! Rate-limit buckets, behind the core like the store: in this process (the embedded default)
//! or in Redis, shared by every replica (`CONVERRA_REDIS_URL`). While Redis cannot be reached,
//! requests fall back to this process's buckets (logged once) and Redis is tried again at most
//! once a second, so service recovers by itself.

mod local;
mod redis;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::SecretString;

pub use local::LocalBuckets;

/// What taking one request from a bucket found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the bucket is full again.
    pub reset: u64,
    /// Seconds to wait, when refused.
    pub retry_after: Option<u64>,
}

/// Where the buckets live.
pub enum Buckets {
    Local(LocalBuckets),
    Redis(Box<Shared>),
}

/// Redis with this process's buckets as the fallback.
pub struct Shared {
    redis: redis::RedisBuckets,
    fallback: LocalBuckets,
    /// While Redis fails: since when, and when it was last tried.
    down: Mutex<Option<(Instant, Instant)>>,
}

/// How often Redis is tried again while it is down.
const RETRY: Duration = Duration::from_secs(1);

impl Buckets {
    pub fn local() -> Self {
        Buckets::Local(LocalBuckets::default())
    }

    /// Buckets in the Redis at `url` (checked here; connected on first use).
    pub fn redis(url: &SecretString) -> Result<Self, String> {
        let redis = redis::RedisBuckets::new(url).map_err(|e| format!("CONVERRA_REDIS_URL is not usable: {e}"))?;
        Ok(Buckets::Redis(Box::new(Shared { redis, fallback: LocalBuckets::default(), down: Mutex::new(None) })))
    }

    /// Takes one request from the bucket `name` of `per_minute`.
    pub async fn take(&self, name: &str, per_minute: u32) -> Taken {
        let per_minute = per_minute.max(1);
        match self {
            Buckets::Local(local) => local.take(name, per_minute),
            Buckets::Redis(shared) => shared.take(name, per_minute).await,
        }
    }

    /// Forgets a bucket (a revoked key's).
    pub async fn forget(&self, name: &str) {
        match self {
            Buckets::Local(local) => local.forget(name),
            Buckets::Redis(shared) => {
                shared.fallback.forget(name);
                let _ = shared.redis.forget(name).await;
            }
        }
    }
}

impl Shared {
    async fn take(&self, name: &str, per_minute: u32) -> Taken {
        let skip =
            self.down.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|(_, tried)| tried.elapsed() < RETRY);
        if !skip {
            match self.redis.take(name, per_minute).await {
                Ok(taken) => {
                    if let Some((since, _)) = self.down.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        tracing::info!(
                            down_for_ms = since.elapsed().as_millis() as u64,
                            "Redis is back: rate limits are shared again"
                        );
                    }
                    return taken;
                }
                Err(e) => {
                    let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
                    let now = Instant::now();
                    match *down {
                        None => {
                            tracing::warn!(error = %e, "Redis is unreachable: rate limits are per replica until it is back");
                            *down = Some((now, now));
                        }
                        // Still down: try again in a second, silently.
                        Some((since, _)) => *down = Some((since, now)),
                    }
                }
            }
        }
        self.fallback.take(name, per_minute)
    }
}
