//! Buckets in Redis (or Valkey), shared by every replica: GCRA in one script call per request,
//! with the time taken from Redis `TIME`, so the replicas' clocks do not matter. Whenever Redis
//! has no answer (see `redis_link.rs`) a request takes this process's bucket at once. Every
//! answer Redis gives seeds the local bucket of the same name, so a fallback starts from what
//! the bucket has spent, not from full.

use std::time::Duration;

use super::{LocalBuckets, Owner, Taken};
use crate::redis_link::RedisLink;

/// GCRA over one key holding the bucket's "theoretical arrival time" in milliseconds. A bucket
/// of `limit` per minute admits `limit` at once, then one every `60000 / limit` ms.
/// Returns `{allowed, remaining, tat_ms, now_ms, wait_ms}`.
const GCRA: &str = r#"
local limit = tonumber(ARGV[1])
local period = 60000
local interval = period / limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period then
  return {0, 0, math.floor(tat), now, math.floor(new_tat - period - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return {1, math.floor((period - (new_tat - now)) / interval), math.floor(new_tat), now, 0}
"#;

/// Redis, with this process's buckets as the fallback.
pub struct RedisBuckets {
    link: RedisLink,
    script: redis::Script,
    fallback: LocalBuckets,
}

fn key(name: &str) -> String {
    format!("converra:bucket:{name}")
}

/// The GCRA script, loaded on every connection of the link.
pub(crate) fn script() -> redis::Script {
    redis::Script::new(GCRA)
}

impl RedisBuckets {
    pub(crate) fn new(link: RedisLink) -> Self {
        Self { link, script: script(), fallback: LocalBuckets::default() }
    }

    /// Takes one request from the bucket `name` of `per_minute`: from Redis when it is known
    /// healthy and answers in time, else from this process's bucket.
    pub async fn take(&self, owner: Owner, name: &str, per_minute: u32) -> Taken {
        let mut invocation = self.script.prepare_invoke();
        invocation.key(key(name)).arg(per_minute);
        let Some((allowed, remaining, tat_ms, now_ms, wait_ms)) =
            self.link.invoke::<(i64, i64, i64, i64, i64)>(&invocation).await
        else {
            return self.fallback.take(owner, name, per_minute);
        };
        // The bucket is full again at its theoretical arrival time.
        let until_full = Duration::from_millis((tat_ms - now_ms).max(0) as u64);
        self.fallback.seed(owner, name, per_minute, until_full);
        Taken {
            allowed: allowed == 1,
            limit: per_minute,
            remaining: remaining.max(0) as u32,
            reset: (tat_ms.max(0) as u64).div_ceil(1000),
            retry_after: (allowed != 1).then(|| (wait_ms.max(0) as u64).div_ceil(1000).max(1)),
        }
    }

    /// Forgets a bucket (a revoked key's), here and in Redis when it is healthy.
    pub async fn forget(&self, owner: Owner, name: &str) {
        self.fallback.forget(owner, name);
        let mut del = redis::cmd("DEL");
        del.arg(key(name));
        let _: Option<()> = self.link.query(&del).await;
    }
}
