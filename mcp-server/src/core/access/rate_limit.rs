//! Per-API-key rate limits: one plan bucket per key, shared by every face (REST,
//! OpenAI-compatible, MCP), sized by the organization's plan. Where the buckets live (this
//! process or Redis) is `buckets/`'s business.

use crate::buckets::Buckets;
use crate::core::RateLimitInfo;

pub struct RateLimits {
    buckets: Buckets,
}

impl RateLimits {
    pub fn new(buckets: Buckets) -> Self {
        Self { buckets }
    }

    /// Takes one request from the key's plan bucket of `per_minute`.
    pub async fn check(&self, api_key_id: &str, per_minute: u32) -> Result<RateLimitInfo, RateLimitInfo> {
        let taken = self.buckets.take(api_key_id, per_minute).await;
        let info = RateLimitInfo {
            limit: taken.limit,
            remaining: taken.remaining,
            reset: taken.reset,
            retry_after: taken.retry_after,
        };
        if taken.allowed { Ok(info) } else { Err(info) }
    }

    /// Forgets a revoked key's bucket.
    pub async fn forget(&self, api_key_id: &str) {
        self.buckets.forget(api_key_id).await;
    }
}
