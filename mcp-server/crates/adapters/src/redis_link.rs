//! The one connection to Redis (or Valkey) behind what the replicas count there: the rate-limit
//! buckets and the budgets' spend. Each asks it for one script call per request and has an
//! answer of its own for when Redis has none (the buckets: this process's; the spend: the
//! database's reservation).
//!
//! Redis is asked only while it is known healthy, and never waited for long: a request that
//! finds no healthy connection gets `None` at once, and one that gets no answer within
//! [`ANSWER_TIMEOUT`] does too and marks Redis unhealthy. One background task then reconnects
//! (connect, `PING`, load the scripts), once a second until it succeeds; requests never connect
//! themselves, so a Redis that accepts connections but never answers costs each request at most
//! one short wait, once.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use secrecy::{ExposeSecret, SecretString};

/// How long a request waits for Redis's answer before it takes its fallback. Redis answers
/// within a millisecond on a LAN; waiting longer only queues requests behind a sick server.
pub const ANSWER_TIMEOUT: Duration = Duration::from_millis(100);
/// How long one reconnection (connect, `PING`, script load) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the reconnect task tries while Redis is down.
const RETRY: Duration = Duration::from_secs(1);

/// Redis, asked only while known healthy. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisLink {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// Loaded on every new connection, so that the first call of each finds it.
    scripts: Vec<redis::Script>,
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

impl RedisLink {
    /// Checks the URL, and starts connecting when called inside a Tokio runtime (else on
    /// first use). `scripts` are loaded on each connection.
    pub fn new(url: &SecretString, scripts: Vec<redis::Script>) -> Result<Self, redis::RedisError> {
        let inner = Arc::new(Inner {
            client: redis::Client::open(url.expose_secret())?,
            scripts,
            health: Mutex::new(Health::default()),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            inner.health().reconnecting = true;
            tokio::spawn(reconnect(Arc::downgrade(&inner)));
        }
        Ok(Self { inner })
    }

    /// Runs `script` with its keys and arguments; `None` when Redis is not known healthy, fails
    /// or does not answer in time (then it is marked unhealthy until it reconnects).
    pub async fn invoke<T: redis::FromRedisValue>(&self, script: &redis::ScriptInvocation<'_>) -> Option<T> {
        let (generation, mut c) = self.inner.connection()?;
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, script.invoke_async::<T>(&mut c)).await;
        self.inner.answered(generation, answer)
    }

    /// Sends one command; `None` as for [`RedisLink::invoke`].
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let (generation, mut c) = self.inner.connection()?;
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, cmd.query_async::<T>(&mut c)).await;
        self.inner.answered(generation, answer)
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

    /// An answer, or `None` with Redis marked unhealthy when there was none.
    fn answered<T>(
        self: &Arc<Self>,
        generation: u64,
        answer: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        match answer {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => {
                self.lost(generation, &e.to_string());
                None
            }
            Err(_) => {
                self.lost(generation, "no answer in time");
                None
            }
        }
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
            warn_down(error);
            health.down_since = Some(Instant::now());
        }
        if !health.reconnecting {
            health.reconnecting = true;
            tokio::spawn(reconnect(Arc::downgrade(self)));
        }
    }

    /// A fresh connection that has answered, with the scripts loaded.
    async fn connect(&self) -> Result<MultiplexedConnection, redis::RedisError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT));
        let mut c = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        redis::cmd("PING").query_async::<()>(&mut c).await?;
        for script in &self.scripts {
            script.load_async(&mut c).await?;
        }
        Ok(c)
    }
}

fn warn_down(error: &str) {
    tracing::warn!(
        error,
        "Redis is unreachable: rate limits are per replica, and budgets are reserved in the database, until it is back"
    );
}

/// The one task that (re)connects: tries at once, then once a second, until Redis answers; it
/// ends then, or when the link is dropped.
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
                            "Redis is back: rate limits and budgets are shared again"
                        ),
                        None => tracing::info!("Redis answers: rate limits and budgets are shared by every replica"),
                    }
                    return;
                }
                Err(error) if health.down_since.is_none() => {
                    warn_down(&error);
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
