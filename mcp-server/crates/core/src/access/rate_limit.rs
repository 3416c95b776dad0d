//! Per-API-key rate limits: one plan bucket per key, shared by every face (REST,
//! OpenAI-compatible, MCP), sized by the organization's plan; and per-client-address buckets
//! for what comes before any credential (web sign-in). Where the buckets live (this process or
//! Redis) is `converra_adapters::rate_limit`'s business.

use std::net::{IpAddr, Ipv6Addr};

use crate::RateLimitInfo;
use converra_adapters::rate_limit::{Buckets, Owner, Taken};

pub struct RateLimits {
    buckets: Buckets,
}

impl RateLimits {
    pub fn new(buckets: Buckets) -> Self {
        Self { buckets }
    }

    /// Takes one request from the key's plan bucket of `per_minute`.
    pub async fn check(&self, api_key_id: &str, per_minute: u32) -> Result<RateLimitInfo, RateLimitInfo> {
        outcome(self.buckets.take(Owner::Key, api_key_id, per_minute).await)
    }

    /// Takes one request from the client's `bucket` (e.g. `sign-in`) of `per_minute`; see
    /// [`client_key`] for which addresses share one.
    pub async fn check_client(
        &self,
        bucket: &str,
        client: Option<IpAddr>,
        per_minute: u32,
    ) -> Result<RateLimitInfo, RateLimitInfo> {
        let client = client.map_or_else(|| "unknown".to_owned(), client_key);
        outcome(self.buckets.take(Owner::Address, &format!("{bucket}:{client}"), per_minute).await)
    }

    /// Forgets a revoked key's bucket.
    pub async fn forget(&self, api_key_id: &str) {
        self.buckets.forget(Owner::Key, api_key_id).await;
    }
}

fn outcome(taken: Taken) -> Result<RateLimitInfo, RateLimitInfo> {
    let info = RateLimitInfo {
        limit: taken.limit,
        remaining: taken.remaining,
        reset: taken.reset,
        retry_after: taken.retry_after,
    };
    if taken.allowed { Ok(info) } else { Err(info) }
}

/// Which client a bucket is for: an IPv4 address whole (an IPv4-mapped IPv6 address is its IPv4
/// address), an IPv6 address by its /64, since one host is commonly given a whole /64 and may
/// pick any address in it.
pub fn client_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_ipv4_by_the_address() {
        assert_eq!(client_key(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(client_key(ip("2001:db8:1:2:ffff:abcd:1234:5678")), "2001:db8:1:2::/64");
        assert_ne!(client_key(ip("2001:db8:1:3::1")), client_key(ip("2001:db8:1:2::1")));
        assert_eq!(client_key(ip("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(client_key(ip("203.0.113.7")), "203.0.113.7");
        assert_ne!(client_key(ip("203.0.113.8")), "203.0.113.7");
    }

    #[tokio::test]
    async fn two_ipv6_addresses_in_one_64_share_a_sign_in_bucket() {
        let limits = RateLimits::new(Buckets::local());
        for _ in 0..5 {
            assert!(limits.check_client("sign-in", Some(ip("2001:db8:1:2::1")), 10).await.is_ok());
            assert!(limits.check_client("sign-in", Some(ip("2001:db8:1:2::2")), 10).await.is_ok());
        }
        assert!(limits.check_client("sign-in", Some(ip("2001:db8:1:2:dead:beef::9")), 10).await.is_err());
        assert!(limits.check_client("sign-in", Some(ip("2001:db8:1:3::1")), 10).await.is_ok(), "another /64");
        // The sign-in buckets are not the keys' (same name, another owner).
        assert!(limits.check("sign-in:2001:db8:1:2::/64", 10).await.is_ok());
    }
}
