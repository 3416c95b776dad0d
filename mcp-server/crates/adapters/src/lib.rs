//! The engines behind the core other than the store and the providers: what the replicas
//! count together ([`Counters`]: the rate-limit buckets and the budgets' running spend, in this
//! process or in Redis) and the operator's webhook (`webhooks`: the outbox's events posted,
//! signed). Each knows only the leaf; the core holds them and decides what to count and what
//! to send.

pub mod rate_limit;
pub mod redis_link;
pub mod spend;
pub mod webhooks;

use secrecy::SecretString;

use rate_limit::Buckets;
use spend::SpendLedger;

/// The counters every request takes from, over one Redis connection when there is one.
pub struct Counters {
    pub rate_limits: Buckets,
    /// `None`: reserve budgets in the database (replicas on PostgreSQL without Redis, where
    /// no process may count alone).
    pub spend: Option<SpendLedger>,
}

impl Counters {
    /// In this process: the buckets, and the spend when this process may count it (beside a
    /// SQLite file, which its other processes reach only through the database's seeds).
    pub fn local(spend_here: bool) -> Self {
        Self { rate_limits: Buckets::local(), spend: spend_here.then(SpendLedger::local) }
    }

    /// In the Redis at `url`, shared by every replica (checked here; connected in the
    /// background, at once when called inside a Tokio runtime, else on first use).
    pub fn redis(url: &SecretString) -> Result<Self, String> {
        let mut scripts = vec![rate_limit::script()];
        scripts.extend(spend::scripts());
        let link =
            redis_link::RedisLink::new(url, scripts).map_err(|e| format!("CONVERRA_REDIS_URL is not usable: {e}"))?;
        Ok(Self { rate_limits: Buckets::redis(link.clone()), spend: Some(SpendLedger::redis(link)) })
    }
}
