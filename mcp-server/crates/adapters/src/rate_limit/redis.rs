//! Buckets in Redis (or Valkey), shared by every replica: GCRA in one script call per request,
//! with the time taken from Redis `TIME`, so the replicas' clocks do not matter.
//!
//! Redis is asked only while it is known healthy, and never waited for long: a request that
//! finds no healthy connection takes this process's bucket at once, and one that gets no answer
//! within [`ANSWER_TIMEOUT`] does too and marks Redis unhealthy. One background task then
//! reconnects (connect, `PING`, load the script), once a second until it succeeds; requests
//! never connect themselves, so a Redis that accepts connections but never answers costs each
//! request at most one short wait, once. Every answer Redis gives seeds the local bucket of the
//! same name, so a fallback starts from what the bucket has spent, not from full.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use secrecy::{ExposeSecret, SecretString};

use super::{LocalBuckets, Owner, Taken};

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

/// How long a request waits for Redis's answer before it takes the local bucket. Redis answers
/// within a millisecond on a LAN; waiting longer only queues requests behind a sick server.
pub const ANSWER_TIMEOUT: Duration = Duration::from_millis(100);
/// How long one reconnection (connect, `PING`, script load) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the reconnect task tries while Redis is down.
const RETRY: Duration = Duration::from_secs(1);

/// Redis, with this process's buckets as the fallback.
pub struct RedisBuckets {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    script: redis::Script,
    fallback: LocalBuckets,
    health: Mutex<Health>,
}

/// What this process knows of Redis.
#[derive(Default)]
struct Health {
    /// The connection while Redis is known healthy, numbered so that a late failure on an old
    /// connection does not take down its replacement.
    connected: Option<(u64, MultiplexedConnection)>,
    generation: u64,
    /// The reconnect task runs (at most one does).
    reconnecting: bool,
    /// Since when Redis has been unreachable, once that was logged.
    down_since: Option<Instant>,
}

fn key(name: &str) -> String {
    format!("converra:bucket:{name}")
}

impl RedisBuckets {
    /// Checks the URL, and starts connecting when called inside a Tokio runtime (else on
    /// first use).
    pub fn new(url: &SecretString) -> Result<Self, redis::RedisError> {
        let inner = Arc::new(Inner {
            client: redis::Client::open(url.expose_secret())?,
            script: redis::Script::new(GCRA),
            fallback: LocalBuckets::default(),
            health: Mutex::new(Health::default()),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            inner.health().reconnecting = true;
            tokio::spawn(reconnect(Arc::downgrade(&inner)));
        }
        Ok(Self { inner })
    }

    /// Takes one request from the bucket `name` of `per_minute`: from Redis when it is known
    /// healthy and answers in time, else from this process's bucket.
    pub async fn take(&self, owner: Owner, name: &str, per_minute: u32) -> Taken {
        let inner = &self.inner;
        let Some((generation, mut c)) = inner.connection() else {
            return inner.fallback.take(owner, name, per_minute);
        };
        let mut invocation = inner.script.prepare_invoke();
        invocation.key(key(name)).arg(per_minute);
        let call = invocation.invoke_async::<(i64, i64, i64, i64, i64)>(&mut c);
        let (allowed, remaining, tat_ms, now_ms, wait_ms) = match tokio::time::timeout(ANSWER_TIMEOUT, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                inner.lost(generation, &e.to_string());
                return inner.fallback.take(owner, name, per_minute);
            }
            Err(_) => {
                inner.lost(generation, "no answer in time");
                return inner.fallback.take(owner, name, per_minute);
            }
        };
        // The bucket is full again at its theoretical arrival time.
        let until_full = Duration::from_millis((tat_ms - now_ms).max(0) as u64);
        inner.fallback.seed(owner, name, per_minute, until_full);
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
        let inner = &self.inner;
        inner.fallback.forget(owner, name);
        let Some((generation, mut c)) = inner.connection() else { return };
        let mut del = redis::cmd("DEL");
        del.arg(key(name));
        match tokio::time::timeout(ANSWER_TIMEOUT, del.query_async::<()>(&mut c)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => inner.lost(generation, &e.to_string()),
            Err(_) => inner.lost(generation, "no answer in time"),
        }
    }
}

impl Inner {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The healthy connection; without one, makes sure the reconnect task runs.
    fn connection(self: &Arc<Self>) -> Option<(u64, MultiplexedConnection)> {
        let mut health = self.health();
        if health.connected.is_none() && !health.reconnecting {
            health.reconnecting = true;
            tokio::spawn(reconnect(Arc::downgrade(self)));
        }
        health.connected.clone()
    }

    /// The connection numbered `generation` failed: Redis is unhealthy until the reconnect
    /// task has a new one (logged once per outage).
    fn lost(self: &Arc<Self>, generation: u64, error: &str) {
        let mut health = self.health();
        if health.connected.as_ref().is_none_or(|(current, _)| *current != generation) {
            return;
        }
        health.connected = None;
        if health.down_since.is_none() {
            tracing::warn!(error, "Redis is unreachable: rate limits are per replica until it is back");
            health.down_since = Some(Instant::now());
        }
        if !health.reconnecting {
            health.reconnecting = true;
            tokio::spawn(reconnect(Arc::downgrade(self)));
        }
    }

    /// A fresh connection that has answered, with the script loaded.
    async fn connect(&self) -> Result<MultiplexedConnection, redis::RedisError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT));
        let mut c = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        redis::cmd("PING").query_async::<()>(&mut c).await?;
        self.script.load_async(&mut c).await?;
        Ok(c)
    }
}

/// The one task that (re)connects: tries at once, then once a second, until Redis answers; it
/// ends then, or when the buckets are dropped.
async fn reconnect(inner: Weak<Inner>) {
    loop {
        let Some(this) = inner.upgrade() else { return };
        let attempt = match tokio::time::timeout(CONNECT_TIMEOUT, this.connect()).await {
            Ok(attempt) => attempt.map_err(|e| e.to_string()),
            Err(_) => Err("no answer in time".to_owned()),
        };
        {
            let mut health = this.health();
            match attempt {
                Ok(c) => {
                    health.generation += 1;
                    health.connected = Some((health.generation, c));
                    health.reconnecting = false;
                    match health.down_since.take() {
                        Some(since) => tracing::info!(
                            down_for_ms = since.elapsed().as_millis() as u64,
                            "Redis is back: rate limits are shared again"
                        ),
                        None => tracing::info!("Redis answers: rate limits are shared by every replica"),
                    }
                    return;
                }
                Err(error) if health.down_since.is_none() => {
                    tracing::warn!(error, "Redis is unreachable: rate limits are per replica until it is back");
                    health.down_since = Some(Instant::now());
                }
                // Still down: try again in a second, silently.
                Err(_) => {}
            }
        }
        drop(this);
        tokio::time::sleep(RETRY).await;
    }
}
