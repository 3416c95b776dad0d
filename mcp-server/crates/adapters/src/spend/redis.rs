//! The running spend in Redis, shared by every replica: a reservation is one script call, the
//! check and the hold of every budget at once (Redis runs a script alone, so no two calls
//! interleave), and so is a settlement.
//!
//! Per organization and month, each budget has two counters: `spent:` (settled spend, seeded
//! from the database and expiring after [`SEED_TTL`], when the next call seeds it again) and
//! `held:` (what calls in flight hold). Each hold is remembered under its call's id (`holds:`,
//! a hash, with `expiry:` ordering them by when they are freed should their call never settle).

use std::time::Duration;

use super::{Ask, Hold, HoldOf, Limit, Period, Reserved};
use crate::redis_link::RedisLink;

/// How long a budget's settled spend in Redis is trusted before it is read from the database
/// again: it corrects what the counters missed (a settlement Redis never received).
pub const SEED_TTL: Duration = Duration::from_secs(60);
/// How long the held counters and the holds outlive their last use (past any month's end).
const KEEP_SECS: u64 = 40 * 86_400;

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

/// KEYS: `expiry`, `holds`, then each budget's `spent`. ARGV: id, cost. Takes the hold back
/// (unless it was freed as expired) and adds the cost to each seeded `spent`.
const SETTLE: &str = r#"
local h = redis.call('HGET', KEYS[2], ARGV[1])
if h then
  local d = cjson.decode(h)
  for _, k in ipairs(d.held) do redis.call('DECRBY', k, d.cost) end
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[2]) end
end
return 1
"#;

/// KEYS: each budget's `spent`. ARGV: the TTL, then each settled spend. Sets those not set.
const SEED: &str = r#"
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'NX', 'EX', ARGV[1]) end
return 1
"#;

/// The scripts, loaded on every connection of the link.
pub(crate) fn scripts() -> Vec<redis::Script> {
    [RESERVE, SETTLE, SEED].into_iter().map(redis::Script::new).collect()
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
    scripts: std::sync::Arc<Scripts>,
}

fn key(kind: &str, period: Period<'_>, budget: &str) -> String {
    format!("converra:{kind}:{}:{}:{budget}", period.org_id, period.month)
}

impl RedisLedger {
    pub(super) fn new(link: RedisLink) -> Self {
        let [reserve, settle, seed] = [RESERVE, SETTLE, SEED].map(redis::Script::new);
        Self { link, scripts: std::sync::Arc::new(Scripts { reserve, settle, seed }) }
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
            return Reserved::Unavailable;
        };
        match answer.split_first() {
            Some((1, settled)) => Reserved::Held {
                settled: settled.to_vec(),
                hold: Hold {
                    micro_usd: ask.micro_usd,
                    of: HoldOf::Redis(RedisHold {
                        ledger: self.clone(),
                        org_id: period.org_id.to_owned(),
                        month: period.month.to_owned(),
                        id,
                        keys: limits.iter().map(|l| l.key.to_owned()).collect(),
                    }),
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
        let held: Option<Vec<Option<u64>>> = self.link.query(&get).await;
        held.map_or_else(|| vec![0; keys.len()], |h| h.into_iter().map(Option::unwrap_or_default).collect())
    }
}

/// A call's hold in Redis.
pub(super) struct RedisHold {
    ledger: RedisLedger,
    org_id: String,
    month: String,
    id: String,
    keys: Vec<String>,
}

impl RedisHold {
    pub(super) async fn settle(self, cost: u64) {
        let period = Period { org_id: &self.org_id, month: &self.month };
        let mut call = self.ledger.scripts.settle.prepare_invoke();
        call.key(key("expiry", period, "")).key(key("holds", period, ""));
        for k in &self.keys {
            call.key(key("spent", period, k));
        }
        call.arg(&self.id).arg(cost);
        // Unanswered, the hold expires and the next seed counts the cost from the database.
        let _: Option<u64> = self.ledger.link.invoke(&call).await;
    }
}
