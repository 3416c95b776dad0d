//! The running spend in this process's memory (the embedded default): one lock, no I/O, no
//! allocation but the hold's, so a budget costs a call a few map lookups. Settled spend is
//! seeded from the database and read again when the database's change count moves (another
//! process on the same SQLite file wrote: a `converra mcp` beside `converra serve`), or once it
//! is [`SEED_TTL_SECS`] old.

use std::sync::{Arc, Mutex};

use super::{Ask, Hold, HoldOf, Limit, Period, Reserved};

/// The longest a budget's settled spend read from the database is trusted, in seconds.
pub const SEED_TTL_SECS: u64 = 30;

/// Maps keyed by organization ids, budget keys and hold numbers: ours, not a client's text.
type HashMap<K, V> = foldhash::HashMap<K, V>;

/// The budgets' counters and the calls holding against them, by organization.
#[derive(Default)]
pub struct LocalLedger {
    orgs: Mutex<HashMap<String, Org>>,
    /// The last hold's number: unique across organizations and months, so that a call that
    /// straddles a month's end settles nothing of another's.
    last_hold: std::sync::atomic::AtomicU64,
}

/// One organization's month.
#[derive(Default)]
struct Org {
    month: String,
    /// By budget key.
    budgets: HashMap<Arc<str>, Entry>,
    /// By hold number.
    holds: HashMap<u64, Held>,
}

struct Entry {
    /// The budget's key, shared with the holds against it.
    key: Arc<str>,
    /// Settled spend, when it was read from the database (unix seconds) and under which
    /// change count; `None` before the first seed.
    settled: Option<(u64, u64, Option<u64>)>,
    held: u64,
}

impl Entry {
    fn settled(&self) -> u64 {
        self.settled.map_or(0, |(s, _, _)| s)
    }

    /// Its settled and held spend when `cost` more does not fit in `limit`.
    fn over(&self, cost: u64, limit: u64) -> Option<(u64, u64)> {
        let settled = self.settled();
        (settled.saturating_add(self.held).saturating_add(cost) > limit).then_some((settled, self.held))
    }

    fn fresh(&self, now: u64, generation: Option<u64>) -> bool {
        self.settled.is_some_and(|(_, at, seen)| seen == generation && now.saturating_sub(at) <= SEED_TTL_SECS)
    }
}

struct Held {
    keys: Vec<Arc<str>>,
    micro_usd: u64,
    expires_at: u64,
}

impl Org {
    /// The first budget of `limits` without room for `cost` more: its index, settled, held.
    fn over(&self, limits: &[Limit<'_>], cost: u64) -> Option<(usize, u64, u64)> {
        limits.iter().enumerate().find_map(|(i, l)| {
            let (settled, held) = self.budgets.get(l.key)?.over(cost, l.limit)?;
            Some((i, settled, held))
        })
    }

    /// Frees the holds of calls that never settled (their task died mid-call).
    fn prune(&mut self, now: u64) {
        let expired: Vec<u64> = self.holds.iter().filter(|(_, h)| h.expires_at <= now).map(|(id, _)| *id).collect();
        for id in expired {
            self.release(id);
        }
    }

    fn release(&mut self, id: u64) -> Option<Held> {
        let held = self.holds.remove(&id)?;
        for key in &held.keys {
            if let Some(entry) = self.budgets.get_mut(key) {
                entry.held = entry.held.saturating_sub(held.micro_usd);
            }
        }
        Some(held)
    }
}

impl LocalLedger {
    fn orgs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Org>> {
        self.orgs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `org_id`'s counters, started afresh when the month turns (a call still in the month
    /// before, a moment late, counts in the new one: never back).
    fn org<'m>(orgs: &'m mut HashMap<String, Org>, period: Period<'_>) -> &'m mut Org {
        if !orgs.contains_key(period.org_id) {
            orgs.insert(period.org_id.to_owned(), Org::default());
        }
        let org = orgs.get_mut(period.org_id).unwrap_or_else(|| unreachable!("inserted above"));
        if period.month > org.month.as_str() {
            *org = Org { month: period.month.to_owned(), ..Org::default() };
        }
        org
    }

    pub(super) fn reserve(this: &Arc<Self>, period: Period<'_>, limits: &[Limit<'_>], ask: Ask) -> Reserved {
        let mut orgs = this.orgs();
        let org = Self::org(&mut orgs, period);
        let mut unseeded = Vec::new();
        let mut over = None;
        for (i, l) in limits.iter().enumerate() {
            match org.budgets.get(l.key).filter(|e| e.fresh(ask.now, ask.generation)) {
                None => unseeded.push(i),
                Some(e) if over.is_none() => over = e.over(ask.micro_usd, l.limit).map(|(s, h)| (i, s, h)),
                Some(_) => {}
            }
        }
        if !unseeded.is_empty() {
            return Reserved::Unseeded(unseeded);
        }
        if over.is_some() {
            // Holds of calls that never settled count for nothing; looked for only here, where
            // a budget is nearly spent, not on every call.
            org.prune(ask.now);
            over = org.over(limits, ask.micro_usd);
        }
        if let Some((index, settled, held)) = over {
            return Reserved::Refused { index, settled, held };
        }
        let mut settled = Vec::with_capacity(limits.len());
        let mut keys = Vec::with_capacity(limits.len());
        for l in limits {
            let entry = org.budgets.get_mut(l.key).unwrap_or_else(|| unreachable!("seeded above"));
            entry.held = entry.held.saturating_add(ask.micro_usd);
            settled.push(entry.settled());
            keys.push(entry.key.clone());
        }
        let id = this.last_hold.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        org.holds.insert(id, Held { keys, micro_usd: ask.micro_usd, expires_at: ask.expires_at });
        let of = HoldOf::Local { ledger: this.clone(), org_id: period.org_id.to_owned(), id };
        Reserved::Held { settled, hold: Hold { micro_usd: ask.micro_usd, of: Some(of) } }
    }

    pub(super) fn seed(&self, period: Period<'_>, seeds: &[(&str, u64)], generation: Option<u64>) {
        let now = converra_base::ids::unix_now();
        let mut orgs = self.orgs();
        let org = Self::org(&mut orgs, period);
        if org.month != period.month {
            // A month already over: its spend is not this month's.
            return;
        }
        for (key, settled) in seeds {
            if !org.budgets.contains_key(*key) {
                let key: Arc<str> = Arc::from(*key);
                org.budgets.insert(key.clone(), Entry { key, settled: None, held: 0 });
            }
            if let Some(entry) = org.budgets.get_mut(*key)
                && !entry.fresh(now, generation)
            {
                entry.settled = Some((*settled, now, generation));
            }
        }
    }

    pub(super) fn settle(&self, org_id: &str, id: u64, cost: u64) {
        let mut orgs = self.orgs();
        let Some(org) = orgs.get_mut(org_id) else { return };
        // Gone when it expired (a stream that outlived it) or when the month turned mid-call:
        // the next seed counts its cost from the database.
        let Some(held) = org.release(id) else { return };
        for key in &held.keys {
            if let Some(entry) = org.budgets.get_mut(key)
                && let Some((settled, _, _)) = &mut entry.settled
            {
                *settled = settled.saturating_add(cost);
            }
        }
    }

    pub(super) fn held(&self, period: Period<'_>, keys: &[&str]) -> Vec<u64> {
        let orgs = self.orgs();
        let org = orgs.get(period.org_id).filter(|o| o.month == period.month);
        keys.iter().map(|k| org.and_then(|o| o.budgets.get(*k)).map_or(0, |e| e.held)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::SpendLedger;
    use super::*;

    const PERIOD: Period<'static> = Period { org_id: "org_1", month: "2026-12" };
    const KEYS: [&str; 2] = ["project/prj_1//@t", "organization///@t"];

    fn ask(micro_usd: u64) -> Ask {
        Ask { micro_usd, now: 100, expires_at: 200, generation: Some(1) }
    }

    fn limits(limit: u64) -> [Limit<'static>; 2] {
        [Limit { key: KEYS[0], limit: 1_000 }, Limit { key: KEYS[1], limit }]
    }

    /// The local ledger never waits: its futures finish on their first poll.
    fn ready<F: std::future::Future>(f: F) -> F::Output {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(f).poll(&mut cx) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => panic!("the local ledger waited"),
        }
    }

    fn held(r: Reserved) -> (Vec<u64>, Hold) {
        match r {
            Reserved::Held { settled, hold } => (settled, hold),
            other => panic!("not held: {other:?}"),
        }
    }

    #[test]
    fn a_budget_unknown_here_is_seeded_first_then_holds_and_settles() {
        let ledger = SpendLedger::local();
        assert!(matches!(ready(ledger.reserve(PERIOD, &limits(50), ask(7))), Reserved::Unseeded(i) if i == [0, 1]));
        ready(ledger.seed(PERIOD, &[(KEYS[0], 0), (KEYS[1], 40)], Some(1)));
        let (settled, hold) = held(ready(ledger.reserve(PERIOD, &limits(50), ask(7))));
        assert_eq!(settled, [0, 40]);
        // 40 settled + 7 held: another 7 does not fit in 50, and the refusal names the organization's.
        assert!(matches!(
            ready(ledger.reserve(PERIOD, &limits(50), ask(7))),
            Reserved::Refused { index: 1, settled: 40, held: 7 }
        ));
        hold.settle(Some(5));
        assert_eq!(ready(ledger.held(PERIOD, &[KEYS[1]])), [0]);
        // 45 settled: 5 fits, then 1 more does not.
        let _five = held(ready(ledger.reserve(PERIOD, &limits(50), ask(5))));
        assert!(matches!(
            ready(ledger.reserve(PERIOD, &limits(50), ask(1))),
            Reserved::Refused { index: 1, settled: 45, held: 5 }
        ));
    }

    #[test]
    fn another_processes_write_has_the_settled_spend_read_again() {
        let ledger = SpendLedger::local();
        ready(ledger.seed(PERIOD, &[(KEYS[0], 0), (KEYS[1], 0)], Some(1)));
        let _held = held(ready(ledger.reserve(PERIOD, &limits(50), ask(7))));
        let moved = Ask { generation: Some(2), ..ask(7) };
        assert!(matches!(ready(ledger.reserve(PERIOD, &limits(50), moved)), Reserved::Unseeded(i) if i == [0, 1]));
        // What the other process spent is in the new seed; what this one holds stays held.
        ready(ledger.seed(PERIOD, &[(KEYS[0], 0), (KEYS[1], 40)], Some(2)));
        assert!(matches!(
            ready(ledger.reserve(PERIOD, &limits(50), moved)),
            Reserved::Refused { index: 1, settled: 40, held: 7 }
        ));
    }

    #[test]
    fn a_hold_dropped_unsettled_is_taken_back_at_no_cost() {
        let ledger = SpendLedger::local();
        ready(ledger.seed(PERIOD, &[(KEYS[0], 0), (KEYS[1], 0)], Some(1)));
        drop(held(ready(ledger.reserve(PERIOD, &limits(10), ask(10)))));
        let (settled, _) = held(ready(ledger.reserve(PERIOD, &limits(10), ask(10))));
        assert_eq!(settled, [0, 0]);
    }

    #[test]
    fn a_call_that_straddles_the_months_end_settles_nothing_of_the_new_months() {
        let ledger = SpendLedger::local();
        ready(ledger.seed(PERIOD, &[(KEYS[0], 0), (KEYS[1], 0)], Some(1)));
        let (_, december) = held(ready(ledger.reserve(PERIOD, &limits(50), ask(7))));
        let january = Period { month: "2027-01", ..PERIOD };
        ready(ledger.seed(january, &[(KEYS[0], 0), (KEYS[1], 0)], Some(1)));
        let (_, _first) = held(ready(ledger.reserve(january, &limits(50), ask(7))));
        december.settle(Some(5));
        assert_eq!(ready(ledger.held(january, &[KEYS[1]])), [7], "January's hold stays held");
        // A late seed of the month gone by changes nothing of the new one's.
        ready(ledger.seed(PERIOD, &[(KEYS[0], 0), (KEYS[1], 49)], Some(1)));
        let (settled, _) = held(ready(ledger.reserve(january, &limits(50), ask(7))));
        assert_eq!(settled, [0, 0]);
    }

    #[test]
    fn a_hold_never_settled_is_freed_once_it_expires() {
        let ledger = SpendLedger::local();
        ready(ledger.seed(PERIOD, &[(KEYS[0], 0), (KEYS[1], 0)], Some(1)));
        let (_, lost) = held(ready(ledger.reserve(PERIOD, &limits(10), ask(10))));
        std::mem::forget(lost);
        assert!(matches!(ready(ledger.reserve(PERIOD, &limits(10), ask(10))), Reserved::Refused { .. }));
        let late = Ask { now: 200, expires_at: 300, ..ask(10) };
        let _ = held(ready(ledger.reserve(PERIOD, &limits(10), late)));
    }
}
