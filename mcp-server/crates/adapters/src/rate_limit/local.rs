//! Buckets in this process's memory: the embedded default, and the fallback while Redis is not
//! known healthy (then seeded with what Redis last said of each bucket, see [`LocalBuckets::seed`]).
//!
//! The same GCRA as the Redis script: a bucket is one instant, its "theoretical arrival time"
//! (TAT), and its limit (a bucket starts full again when its limit changes, as with a new
//! plan); a bucket whose TAT has passed is full, which is the same as no bucket, so such
//! entries are swept away. A key's buckets are as many as there are valid keys (a key is authenticated
//! before its bucket is made); a client address's are as many as the internet has addresses, so
//! those are also capped: at the cap, the buckets that have spent least are forgotten first,
//! which grants each of them at most what it had spent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Owner, PERIOD, Taken};
use converra_base::ids::unix_now;

/// At most this many client-address buckets (sign-in) are kept: under 0.5 MB. Honest sign-ins
/// are a few a minute; beyond this many addresses at once, the map forgets as above.
pub const ADDRESS_BUCKETS: usize = 4_096;
/// A map is swept of full buckets at least this often (when it is used)…
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// …and whenever it has doubled since the last sweep, but not below this many buckets.
const SWEEP_FLOOR: usize = 1_024;

/// The buckets, by name: the keys' and the client addresses', each map behind its own lock.
pub struct LocalBuckets {
    keys: Mutex<Map>,
    addresses: Mutex<Map>,
}

impl Default for LocalBuckets {
    fn default() -> Self {
        Self::with_address_cap(ADDRESS_BUCKETS)
    }
}

impl LocalBuckets {
    /// Buckets keeping at most `cap` client-address buckets.
    pub fn with_address_cap(cap: usize) -> Self {
        Self { keys: Mutex::new(Map::new(None)), addresses: Mutex::new(Map::new(Some(cap))) }
    }

    fn map(&self, owner: Owner) -> std::sync::MutexGuard<'_, Map> {
        let map = match owner {
            Owner::Key => &self.keys,
            Owner::Address => &self.addresses,
        };
        map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one request from the bucket `name` of `per_minute`.
    pub fn take(&self, owner: Owner, name: &str, per_minute: u32) -> Taken {
        self.take_at(owner, name, per_minute, Instant::now())
    }

    fn take_at(&self, owner: Owner, name: &str, per_minute: u32, now: Instant) -> Taken {
        let per_minute = per_minute.max(1);
        let interval = PERIOD / per_minute;
        let mut map = self.map(owner);
        map.sweep(now);
        let tat = match map.tats.get(name) {
            Some(&(limit, tat)) if limit == per_minute && tat > now => tat,
            _ => now,
        };
        let new_tat = tat + interval;
        if new_tat - now > PERIOD {
            return Taken {
                allowed: false,
                limit: per_minute,
                remaining: 0,
                reset: unix_now() + ceil_secs(tat - now),
                retry_after: Some(ceil_secs(new_tat - now - PERIOD).max(1)),
            };
        }
        map.set(name, (per_minute, new_tat));
        let left = PERIOD - (new_tat - now);
        Taken {
            allowed: true,
            limit: per_minute,
            remaining: (left.as_nanos() / interval.as_nanos()) as u32,
            reset: unix_now() + ceil_secs(new_tat - now),
            retry_after: None,
        }
    }

    /// Sets the bucket `name` of `per_minute` to be full again after `until_full`: what Redis
    /// last said of it, so that a fallback continues from what the bucket has spent rather
    /// than from full.
    pub fn seed(&self, owner: Owner, name: &str, per_minute: u32, until_full: Duration) {
        let now = Instant::now();
        let mut map = self.map(owner);
        if until_full.is_zero() {
            map.tats.remove(name);
            return;
        }
        map.sweep(now);
        map.set(name, (per_minute.max(1), now + until_full.min(PERIOD)));
    }

    /// Forgets a bucket (a revoked key's).
    pub fn forget(&self, owner: Owner, name: &str) {
        self.map(owner).tats.remove(name);
    }

    /// How many buckets are kept (tests).
    #[cfg(test)]
    fn len(&self, owner: Owner) -> usize {
        self.map(owner).tats.len()
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// One map of buckets: each name's limit and TAT.
struct Map {
    tats: HashMap<String, (u32, Instant)>,
    cap: Option<usize>,
    swept: Option<Instant>,
    /// The size at which the next sweep is due.
    sweep_at: usize,
}

impl Map {
    fn new(cap: Option<usize>) -> Self {
        Self { tats: HashMap::new(), cap, swept: None, sweep_at: SWEEP_FLOOR }
    }

    fn set(&mut self, name: &str, bucket: (u32, Instant)) {
        match self.tats.get_mut(name) {
            Some(slot) => *slot = bucket,
            None => {
                self.tats.insert(name.to_owned(), bucket);
            }
        }
    }

    /// Forgets full buckets when due, and at the cap the half that spent least. Amortized
    /// O(1) per call: a sweep is O(n) and follows n insertions or a minute.
    fn sweep(&mut self, now: Instant) {
        let full = self.cap.is_some_and(|cap| self.tats.len() >= cap);
        let due = self.tats.len() >= self.sweep_at || self.swept.is_none_or(|at| now - at >= SWEEP_EVERY);
        if !full && !due {
            return;
        }
        self.tats.retain(|_, (_, tat)| *tat > now);
        if let Some(cap) = self.cap
            && self.tats.len() >= cap
        {
            // The buckets that spent least are full soonest: forgetting one grants its owner
            // at most what it had spent.
            let mut tats: Vec<Instant> = self.tats.values().map(|(_, tat)| *tat).collect();
            let (_, median, _) = tats.select_nth_unstable(self.tats.len() / 2);
            let median = *median;
            self.tats.retain(|_, (_, tat)| *tat > median);
        }
        self.swept = Some(now);
        self.sweep_at = (self.tats.len() * 2).max(SWEEP_FLOOR);
        if self.tats.capacity() > self.sweep_at * 2 {
            self.tats.shrink_to(self.sweep_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_limit_passes_in_a_burst() {
        let buckets = LocalBuckets::default();
        for i in 0..5 {
            let taken = buckets.take(Owner::Key, "k", 5);
            assert!(taken.allowed);
            assert_eq!(taken.remaining, 4 - i);
        }
        let refused = buckets.take(Owner::Key, "k", 5);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!(refused.retry_after.unwrap() >= 1);
        // Another key has its own bucket.
        assert!(buckets.take(Owner::Key, "other", 5).allowed);
    }

    #[test]
    fn a_bucket_refills_one_request_per_interval() {
        let buckets = LocalBuckets::default();
        let start = Instant::now();
        for _ in 0..60 {
            assert!(buckets.take_at(Owner::Key, "k", 60, start).allowed);
        }
        let refused = buckets.take_at(Owner::Key, "k", 60, start);
        assert_eq!((refused.allowed, refused.retry_after), (false, Some(1)));
        let later = start + Duration::from_millis(1_000);
        assert!(buckets.take_at(Owner::Key, "k", 60, later).allowed, "one back after a second");
        assert!(!buckets.take_at(Owner::Key, "k", 60, later).allowed, "and only one");
    }

    #[test]
    fn a_seeded_bucket_continues_from_what_it_spent() {
        let buckets = LocalBuckets::default();
        // Redis said: 20 of 60 spent, so full again in 20 s.
        buckets.seed(Owner::Key, "k", 60, Duration::from_secs(20));
        let passed = (0..100).filter(|_| buckets.take(Owner::Key, "k", 60).allowed).count();
        assert_eq!(passed, 40);
        // A new limit (another plan) starts full.
        assert_eq!((0..100).filter(|_| buckets.take(Owner::Key, "k", 5).allowed).count(), 5);
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let buckets = LocalBuckets::default();
        let start = Instant::now();
        for i in 0..5_000 {
            buckets.take_at(Owner::Key, &format!("key-{i}"), 60, start);
        }
        // A second later each of those buckets is full again (one request of 60 a minute).
        let later = start + Duration::from_secs(2);
        for i in 0..5_000 {
            buckets.take_at(Owner::Key, &format!("later-{i}"), 60, later);
        }
        assert!(buckets.len(Owner::Key) <= 2 * SWEEP_FLOOR + 5_000, "{}", buckets.len(Owner::Key));
        let much_later = later + SWEEP_EVERY;
        buckets.take_at(Owner::Key, "last", 60, much_later);
        assert_eq!(buckets.len(Owner::Key), 1, "all but the last one were full");
    }

    #[test]
    fn client_address_buckets_are_capped_and_the_most_spent_are_kept() {
        let buckets = LocalBuckets::with_address_cap(1_000);
        let now = Instant::now();
        // A guesser spends 9 of 10; then 100,000 addresses try once each, all within a second.
        for _ in 0..9 {
            assert!(buckets.take_at(Owner::Address, "sign-in:203.0.113.7", 10, now).allowed);
        }
        for i in 0..100_000u32 {
            let [_, a, b, c] = i.to_be_bytes();
            buckets.take_at(Owner::Address, &format!("sign-in:10.{a}.{b}.{c}"), 10, now);
            assert!(buckets.len(Owner::Address) <= 1_000);
        }
        assert!(buckets.take_at(Owner::Address, "sign-in:203.0.113.7", 10, now).allowed, "the 10th");
        assert!(!buckets.take_at(Owner::Address, "sign-in:203.0.113.7", 10, now).allowed, "not an 11th");
        // The keys' buckets are another map, untouched by the addresses' cap.
        assert_eq!(buckets.len(Owner::Key), 0);
    }
}
