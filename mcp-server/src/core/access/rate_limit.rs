//! Per-API-key rate limits (GCRA via `governor`): one bucket per key, shared by every face
//! (REST, OpenAI-compatible, MCP), sized by the organization's plan.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::core::RateLimitInfo;
use crate::core::ids::unix_now;

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// The buckets, by API key id. A bucket is rebuilt when the key's plan limit changes.
#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<String, (u32, Arc<Limiter>)>>,
    clock: DefaultClock,
}

impl RateLimits {
    /// Takes one request from the key's bucket of `per_minute`.
    pub fn check(&self, api_key_id: &str, per_minute: u32) -> Result<RateLimitInfo, RateLimitInfo> {
        let per_minute = per_minute.max(1);
        let limiter = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            match buckets.get(api_key_id) {
                Some((limit, limiter)) if *limit == per_minute => limiter.clone(),
                _ => {
                    let quota = Quota::per_minute(NonZeroU32::new(per_minute).expect("max(1) above"));
                    let limiter = Arc::new(RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>());
                    buckets.insert(api_key_id.to_owned(), (per_minute, limiter.clone()));
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
                Ok(RateLimitInfo {
                    limit: per_minute,
                    remaining,
                    reset: unix_now() + refill.as_secs_f64().ceil() as u64,
                    retry_after: None,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let refill = cell * per_minute;
                Err(RateLimitInfo {
                    limit: per_minute,
                    remaining: 0,
                    reset: unix_now() + refill.as_secs_f64().ceil() as u64,
                    retry_after: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
                })
            }
        }
    }

    /// Forgets a revoked key's bucket.
    pub fn forget(&self, api_key_id: &str) {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).remove(api_key_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_limit_passes_in_a_burst() {
        let limits = RateLimits::default();
        for i in 0..5 {
            let info = limits.check("k", 5).expect("within limit");
            assert_eq!(info.remaining, 4 - i);
        }
        let refused = limits.check("k", 5).unwrap_err();
        assert_eq!(refused.remaining, 0);
        assert!(refused.retry_after.unwrap() >= 1);
        // Another key has its own bucket.
        assert!(limits.check("other", 5).is_ok());
    }
}
