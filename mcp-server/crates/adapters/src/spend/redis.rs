//! The running spend in Redis, shared by every replica: a reservation is one script call, the
//! check and the hold of every budget at once (Redis runs a script alone, so no two calls
//! interleave), and so is a settlement.
//!
//! Per organization and month, each budget has two counters: `spent:` (settled spend, seeded
//! from the database and expiring after [`SEED_TTL`], when the next call seeds it again) and
//! `held:` (what calls in flight hold). Each hold is remembered under its call's id (`holds:`,
//! a hash, with `expiry:` ordering them by when they are freed should their call never settle).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Ask, Hold, HoldOf, Limit, Period, Reserved};
use crate::redis_link::RedisLink;

/// How long a budget's settled spend in Redis is trusted before it is read from the database
/// again: it corrects what the counters missed (a settlement Redis never received).
pub const SEED_TTL: Duration = Duration::from_secs(60);
/// How long the held counters and the holds outlive their last use (past any month's end).
const KEEP_SECS: u64 = 40 * 86_400;
/// Settlements wait this long to go to Redis together: one script call for all the calls that
/// ended meanwhile, not one each (their holds count a moment longer, never less).
const SETTLE_WINDOW: Duration = Duration::from_millis(1);

/// KEYS: `expiry`, `holds`, then each budget's `spent` and `held`. ARGV: now, id, cost,
/// expires_at, KEEP_SECS, then each budget's limit. Returns `{1, settled…}` when held,
/// `{0, index, settled, held}` when refused, `{2, index…}` for budgets to seed first.
const RESERVE: &str = r#"
local n = (#KEYS - 2) / 2
local cost = tonumber(ARGV[3])
local spent, held, missing = {}, {}, {}
local function read()
  missing = {}
  for i = 1, n do
    local s = redis.call('GET', KEYS[1 + 2 * i])
    if not s then missing[#missing + 1] = i - 1 end
    spent[i] = math.max(0, tonumber(s) or 0)
    held[i] = math.max(0, tonumber(redis.call('GET', KEYS[2 + 2 * i])) or 0)
  end
end
local function over()
  for i = 1, n do
    if spent[i] + held[i] + cost > tonumber(ARGV[5 + i]) then return i end
  end
  return 0
end
read()
if #missing > 0 then return {2, unpack(missing)} end
local i = over()
if i > 0 then
  -- Holds of calls that never settled count for nothing: freed here, where a budget is nearly
  -- spent, not on every call.
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
  for _, id in ipairs(expired) do
    local h = redis.call('HGET', KEYS[2], id)
    if h then
      local d = cjson.decode(h)
      for _, k in ipairs(d.held) do redis.call('DECRBY', k, d.cost) end
    end
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[1], id)
  end
  if #expired > 0 then read(); i = over() end
  if i > 0 then return {0, i - 1, spent[i], held[i]} end
end
local keys = {}
for j = 1, n do
  redis.call('INCRBY', KEYS[2 + 2 * j], cost)
  redis.call('EXPIRE', KEYS[2 + 2 * j], ARGV[5])
  keys[j] = KEYS[2 + 2 * j]
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode({cost = ARGV[3], held = keys}))
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {1, unpack(spent)}
"#;

/// ARGV: settlements one after another, each `expiry`, `holds`, the hold's id, the cost, how
/// many budgets, their `spent` keys. Takes each hold back (unless it was freed as expired) and
/// adds its cost to each seeded `spent`. (Its keys are in ARGV, since one call carries the
/// settlements of many organizations: a single Redis, not a cluster.)
const SETTLE: &str = r#"
local i = 1
while i <= #ARGV do
  local expiry, holds, id, cost, m = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local h = redis.call('HGET', holds, id)
  if h then
    local d = cjson.decode(h)
    for _, k in ipairs(d.held) do redis.call('DECRBY', k, d.cost) end
    redis.call('HDEL', holds, id)
    redis.call('ZREM', expiry, id)
  end
  for j = 1, m do
    local k = ARGV[i + 4 + j]
    if redis.call('EXISTS', k) == 1 then redis.call('INCRBY', k, cost) end
  end
  i = i + 5 + m
end
return 1
"#;

/// KEYS: each budget's `spent`. ARGV: the TTL, then each settled spend. Sets those not set.
const SEED: &str = r#"
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'NX', 'EX', ARGV[1]) end
return 1
"#;

/// The ledger's scripts: reserve, settle, seed.
const SCRIPTS: [&str; 3] = [RESERVE, SETTLE, SEED];

/// The scripts, loaded on every connection of the link.
pub(crate) fn scripts() -> Vec<redis::Script> {
    SCRIPTS.into_iter().map(redis::Script::new).collect()
}

/// The ledger's scripts, by what they do.
struct Scripts {
    reserve: redis::Script,
    settle: redis::Script,
    seed: redis::Script,
}

#[derive(Clone)]
pub struct RedisLedger {
    link: RedisLink,
    scripts: Arc<Scripts>,
    /// Settlements waiting for the next call of the settle script.
    settles: Arc<Mutex<Vec<Settlement>>>,
}

/// One call's settlement, as the settle script reads it.
struct Settlement {
    expiry: String,
    holds: String,
    id: String,
    cost: u64,
    spent: Vec<String>,
}

impl Settlement {
    /// Hold `id`'s settlement at no cost yet, adding to the `spent` of `budgets`.
    fn new<'k>(period: Period<'_>, id: String, budgets: impl Iterator<Item = &'k str>) -> Self {
        Settlement {
            expiry: key("expiry", period, ""),
            holds: key("holds", period, ""),
            spent: budgets.map(|b| key("spent", period, b)).collect(),
            id,
            cost: 0,
        }
    }
}

fn key(kind: &str, period: Period<'_>, budget: &str) -> String {
    format!("converra:{kind}:{}:{}:{budget}", period.org_id, period.month)
}

impl RedisLedger {
    pub(super) fn new(link: RedisLink) -> Self {
        let [reserve, settle, seed] = SCRIPTS.map(redis::Script::new);
        Self { link, scripts: Arc::new(Scripts { reserve, settle, seed }), settles: Arc::default() }
    }

    pub(super) async fn reserve(&self, period: Period<'_>, limits: &[Limit<'_>], ask: Ask) -> Reserved {
        let id = converra_base::ids::new_id("rsv");
        let mut call = self.scripts.reserve.prepare_invoke();
        call.key(key("expiry", period, "")).key(key("holds", period, ""));
        for l in limits {
            call.key(key("spent", period, l.key)).key(key("held", period, l.key));
        }
        call.arg(ask.now).arg(&id).arg(ask.micro_usd).arg(ask.expires_at).arg(KEEP_SECS);
        for l in limits {
            call.arg(l.limit);
        }
        let Some(answer) = self.link.invoke::<Vec<u64>>(&call).await else {
            // A late answer may have held it all the same: taken back with the next settlements.
            self.queue(Settlement::new(period, id, std::iter::empty()));
            return Reserved::Unavailable;
        };
        match answer.split_first() {
            Some((1, settled)) => Reserved::Held {
                settled: settled.to_vec(),
                hold: Hold {
                    micro_usd: ask.micro_usd,
                    of: Some(HoldOf::Redis(RedisHold {
                        ledger: self.clone(),
                        settlement: Settlement::new(period, id, limits.iter().map(|l| l.key)),
                    })),
                },
            },
            Some((0, [index, settled, held])) => {
                Reserved::Refused { index: *index as usize, settled: *settled, held: *held }
            }
            Some((2, missing)) => Reserved::Unseeded(missing.iter().map(|i| *i as usize).collect()),
            _ => {
                tracing::error!(?answer, "the spend script answered out of shape: reserving in the database");
                Reserved::Unavailable
            }
        }
    }

    pub(super) async fn seed(&self, period: Period<'_>, seeds: &[(&str, u64)]) {
        let mut call = self.scripts.seed.prepare_invoke();
        call.arg(SEED_TTL.as_secs());
        for (k, settled) in seeds {
            call.key(key("spent", period, k)).arg(*settled);
        }
        let _: Option<u64> = self.link.invoke(&call).await;
    }

    pub(super) async fn held(&self, period: Period<'_>, keys: &[&str]) -> Vec<u64> {
        if keys.is_empty() {
            return Vec::new();
        }
        let mut get = redis::cmd("MGET");
        for k in keys {
            get.arg(key("held", period, k));
        }
        let held: Option<Vec<Option<i64>>> = self.link.query(&get).await;
        let clamp = |h: Option<i64>| h.unwrap_or_default().max(0) as u64;
        held.map_or_else(|| vec![0; keys.len()], |h| h.into_iter().map(clamp).collect())
    }
}

/// A call's hold in Redis.
pub(super) struct RedisHold {
    ledger: RedisLedger,
    settlement: Settlement,
}

impl RedisHold {
    /// Queues the settlement; the first of a window starts the task that sends them.
    pub(super) fn settle(self, cost: u64) {
        self.ledger.queue(Settlement { cost, ..self.settlement });
    }
}

impl RedisLedger {
    /// Queues a settlement; the first of a window starts the task that sends them (without a
    /// runtime to run it, nothing is queued: the hold expires instead).
    fn queue(&self, settlement: Settlement) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let first = {
            let mut pending = self.settles.lock().unwrap_or_else(|p| p.into_inner());
            pending.push(settlement);
            pending.len() == 1
        };
        if first {
            let ledger = self.clone();
            runtime.spawn(async move {
                tokio::time::sleep(SETTLE_WINDOW).await;
                ledger.send_settlements().await;
            });
        }
    }

    /// Sends every settlement queued so far in one script call. Unanswered, their holds expire
    /// and the next seed counts their cost from the database.
    async fn send_settlements(&self) {
        let pending = std::mem::take(&mut *self.settles.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return;
        }
        let mut call = self.scripts.settle.prepare_invoke();
        for s in &pending {
            call.arg(&s.expiry).arg(&s.holds).arg(&s.id).arg(s.cost).arg(s.spent.len());
            for k in &s.spent {
                call.arg(k);
            }
        }
        let _: Option<u64> = self.link.invoke(&call).await;
    }
}
