//! Buckets in Redis (or Valkey), shared by every replica: GCRA in one script call per request,
//! with the time taken from Redis `TIME`, so the replicas' clocks do not matter.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

use super::Taken;

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

/// How long one Redis call may take before the request falls back to local buckets.
const TIMEOUT: Duration = Duration::from_millis(250);

pub struct RedisBuckets {
    client: redis::Client,
    script: redis::Script,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
}

impl RedisBuckets {
    /// Checks the URL; the connection is made on first use (and remade after a failure).
    pub fn new(url: &SecretString) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url.expose_secret())?,
            script: redis::Script::new(GCRA),
            connection: tokio::sync::Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(0);
        let c = self.client.get_connection_manager_with_config(config).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Takes one request from the bucket `name` of `per_minute`.
    pub async fn take(&self, name: &str, per_minute: u32) -> Result<Taken, redis::RedisError> {
        let mut c = self.connection().await?;
        let answer: Result<(i64, i64, i64, i64, i64), _> =
            self.script.key(format!("converra:bucket:{name}")).arg(per_minute).invoke_async(&mut c).await;
        let (allowed, remaining, tat_ms, now_ms, wait_ms) = match answer {
            Ok(a) => a,
            Err(e) => {
                // Let the next call connect afresh.
                *self.connection.lock().await = None;
                return Err(e);
            }
        };
        let _ = now_ms;
        Ok(Taken {
            allowed: allowed == 1,
            limit: per_minute,
            remaining: remaining.max(0) as u32,
            // The bucket is full again at its theoretical arrival time.
            reset: (tat_ms.max(0) as u64).div_ceil(1000),
            retry_after: (allowed != 1).then(|| (wait_ms.max(0) as u64).div_ceil(1000).max(1)),
        })
    }

    /// Forgets a bucket (a revoked key's).
    pub async fn forget(&self, name: &str) -> Result<(), redis::RedisError> {
        let mut c = self.connection().await?;
        redis::cmd("DEL").arg(format!("converra:bucket:{name}")).query_async::<()>(&mut c).await
    }
}
