//! Rate-limit buckets, behind the core like the store: in this process (the embedded default)
//! or in Redis, shared by every replica (`CONVERRA_REDIS_URL`). A Redis outage costs
//! per-replica limits, never a failed or slow request: while Redis is not known healthy every
//! request takes this process's bucket at once, seeded with what Redis last said of it, and one
//! background task reconnects (see `redis.rs`).

mod local;
mod redis;

use std::time::Duration;

pub use local::{ADDRESS_BUCKETS, LocalBuckets};
pub(crate) use redis::script;

/// A bucket of `limit` per minute admits `limit` at once, then one every `PERIOD / limit`.
const PERIOD: Duration = Duration::from_secs(60);

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

/// Whose bucket it is, which bounds how many such buckets there can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// An API key's (or a web session's member's): made only after the key authenticated, so
    /// there are at most as many as there are valid keys.
    Key,
    /// A client address's (web sign-in), before any credential: as many as a client has
    /// addresses, so this process keeps a bounded number of them.
    Address,
}

/// Where the buckets live.
pub enum Buckets {
    Local(LocalBuckets),
    Redis(redis::RedisBuckets),
}

impl Buckets {
    pub fn local() -> Self {
        Buckets::Local(LocalBuckets::default())
    }

    /// Buckets in Redis, over `link` (which must load [`script`]).
    pub(crate) fn redis(link: crate::redis_link::RedisLink) -> Self {
        Buckets::Redis(redis::RedisBuckets::new(link))
    }

    /// Takes one request from `owner`'s bucket `name` of `per_minute`.
    pub async fn take(&self, owner: Owner, name: &str, per_minute: u32) -> Taken {
        let per_minute = per_minute.max(1);
        match self {
            Buckets::Local(local) => local.take(owner, name, per_minute),
            Buckets::Redis(redis) => redis.take(owner, name, per_minute).await,
        }
    }

    /// Forgets a bucket (a revoked key's).
    pub async fn forget(&self, owner: Owner, name: &str) {
        match self {
            Buckets::Local(local) => local.forget(owner, name),
            Buckets::Redis(redis) => redis.forget(owner, name).await,
        }
    }
}
