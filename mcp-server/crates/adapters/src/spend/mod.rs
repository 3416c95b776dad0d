//! The budgets' running spend, where a call's reservation is checked and held in one step
//! without a database write: in Redis, shared by every replica (one script call per call), or
//! in this process (the embedded default). The database stays the truth: each budget's settled
//! spend is seeded from it, and seeded again when another process wrote to it (this process's
//! ledger, beside SQLite) or once the seed has expired (Redis, every minute), which folds in
//! what no counter here saw (another process on the same SQLite file, a replica whose
//! settlement could not reach Redis). Between seeds the counters move with every call: a hold
//! adds the call's largest cost, its settlement takes the hold back and adds what the call
//! cost. A hold whose process died mid-call expires and is freed.
//!
//! What this costs in exactness, against a reservation in the database: within one process,
//! and among the replicas sharing Redis between seeds, it is exact; spend counted elsewhere
//! since the last seed (a second process's calls, another replica's usage still in its batch
//! when the seed was read, a settlement lost with a Redis connection) is missing from the count
//! until the next seed, so a budget can be overshot by what such calls cost in one seed's life,
//! besides what is in flight.

mod local;
mod redis;

use std::sync::Arc;

pub(crate) use redis::scripts;

use self::local::LocalLedger;
use self::redis::RedisLedger;
use crate::redis_link::RedisLink;

/// One budget a call falls in: its key (stable while the budget is unchanged: a changed
/// budget is counted afresh from the database) and its limit, micro-USD.
#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    pub key: &'a str,
    pub limit: u64,
}

/// The budgets of one organization in one month (`YYYY-MM`).
#[derive(Debug, Clone, Copy)]
pub struct Period<'a> {
    pub org_id: &'a str,
    pub month: &'a str,
}

/// A call's reservation request: its largest cost, and when a hold left unsettled (its
/// process died) is freed (unix seconds), at `now`. `generation` is the database's change
/// count as this process sees it (`None` when it does not know): a settled spend read under
/// another is read again (this process's own ledger only; Redis's expire).
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub micro_usd: u64,
    pub now: u64,
    pub expires_at: u64,
    pub generation: Option<u64>,
}

/// What a reservation found.
#[derive(Debug)]
pub enum Reserved {
    /// Held against every budget; their settled spend, in order (for the thresholds).
    Held { settled: Vec<u64>, hold: Hold },
    /// The budget at `index` (the first without room) refused; its settled and held spend.
    Refused { index: usize, settled: u64, held: u64 },
    /// These budgets' (by index) settled spend is not known here: seed them, then ask again.
    Unseeded(Vec<usize>),
    /// Redis has no answer: reserve in the database instead.
    Unavailable,
}

/// A call's held cost, settled by [`Hold::settle`] when the call is counted. Dropped unsettled
/// (the call never went out: its request was cancelled first), it is taken back at no cost.
pub struct Hold {
    micro_usd: u64,
    /// `None` once settled.
    of: Option<HoldOf>,
}

enum HoldOf {
    Local { ledger: Arc<LocalLedger>, org_id: String, id: u64 },
    Redis(redis::RedisHold),
}

impl HoldOf {
    fn settle(self, cost: u64) {
        match self {
            HoldOf::Local { ledger, org_id, id } => ledger.settle(&org_id, id, cost),
            HoldOf::Redis(hold) => hold.settle(cost),
        }
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").field("micro_usd", &self.micro_usd).finish_non_exhaustive()
    }
}

impl Hold {
    /// The largest cost held.
    pub fn micro_usd(&self) -> u64 {
        self.micro_usd
    }

    /// Takes the hold back and counts what the call cost (`None`: no price when counted, so
    /// the hold's own amount is counted). Never waits: Redis is told from a task, with the
    /// settlements of every call that ended in the same millisecond.
    pub fn settle(mut self, cost: Option<u64>) {
        let cost = cost.unwrap_or(self.micro_usd);
        if let Some(of) = self.of.take() {
            of.settle(cost);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(of) = self.of.take() {
            of.settle(0);
        }
    }
}

/// Where the running spend lives. Cloning shares it.
#[derive(Clone)]
pub enum SpendLedger {
    Local(Arc<LocalLedger>),
    Redis(RedisLedger),
}

impl SpendLedger {
    /// This process's ledger.
    pub fn local() -> Self {
        SpendLedger::Local(Arc::default())
    }

    /// A ledger in Redis, over `link` (which must load [`scripts`]).
    pub(crate) fn redis(link: RedisLink) -> Self {
        SpendLedger::Redis(RedisLedger::new(link))
    }

    /// Holds `ask.micro_usd` against every budget of `limits` if each keeps settled + held +
    /// this within its limit, atomically (the first without room refuses).
    pub async fn reserve(&self, period: Period<'_>, limits: &[Limit<'_>], ask: Ask) -> Reserved {
        match self {
            SpendLedger::Local(local) => LocalLedger::reserve(local, period, limits, ask),
            SpendLedger::Redis(redis) => redis.reserve(period, limits, ask).await,
        }
    }

    /// Sets the settled spend of budgets not known here (`(key, settled)`), read from the
    /// database under `generation` (see [`Ask`]); a budget seeded meanwhile by another call keeps
    /// its count.
    pub async fn seed(&self, period: Period<'_>, seeds: &[(&str, u64)], generation: Option<u64>) {
        match self {
            SpendLedger::Local(local) => local.seed(period, seeds, generation),
            // Redis's seeds expire instead: every replica writes to the database.
            SpendLedger::Redis(redis) => redis.seed(period, seeds).await,
        }
    }

    /// What calls in flight hold against each of `keys` (0 where nothing is known).
    pub async fn held(&self, period: Period<'_>, keys: &[&str]) -> Vec<u64> {
        match self {
            SpendLedger::Local(local) => local.held(period, keys),
            SpendLedger::Redis(redis) => redis.held(period, keys).await,
        }
    }
}
