//! Buckets in this process's memory (GCRA via `governor`): the embedded default, and the
//! fallback while Redis is unreachable.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::Taken;
use crate::core::ids::unix_now;

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// The buckets, by name. A bucket is rebuilt when its limit changes.
#[derive(Default)]
pub struct LocalBuckets {
    buckets: Mutex<HashMap<String, (u32, Arc<Limiter>)>>,
    clock: DefaultClock,
}

impl LocalBuckets {
    /// Takes one request from the bucket `name` of `per_minute`.
    pub fn take(&self, name: &str, per_minute: u32) -> Taken {
        let per_minute = per_minute.max(1);
        let limiter = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            match buckets.get(name) {
                Some((limit, limiter)) if *limit == per_minute => limiter.clone(),
                _ => {
                    let quota = Quota::per_minute(NonZeroU32::new(per_minute).expect("max(1) above"));
                    let limiter = Arc::new(RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>());
                    buckets.insert(name.to_owned(), (per_minute, limiter.clone()));
                    limiter
                }
            }
        };
        // One cell refills every 60/limit seconds; the bucket is full after (limit - remaining) of them.
        let cell = Duration::from_secs(60) / per_minute;
        match limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill = cell * (per_minute - remaining.min(per_minute));
                Taken {
                    allowed: true,
                    limit: per_minute,
                    remaining,
                    reset: unix_now() + refill.as_secs_f64().ceil() as u64,
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let refill = cell * per_minute;
                Taken {
                    allowed: false,
                    limit: per_minute,
                    remaining: 0,
                    reset: unix_now() + refill.as_secs_f64().ceil() as u64,
                    retry_after: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
                }
            }
        }
    }

    /// Forgets a bucket (a revoked key's).
    pub fn forget(&self, name: &str) {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_limit_passes_in_a_burst() {
        let buckets = LocalBuckets::default();
        for i in 0..5 {
            let taken = buckets.take("k", 5);
            assert!(taken.allowed);
            assert_eq!(taken.remaining, 4 - i);
        }
        let refused = buckets.take("k", 5);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!(refused.retry_after.unwrap() >= 1);
        // Another key has its own bucket.
        assert!(buckets.take("other", 5).allowed);
    }
}
