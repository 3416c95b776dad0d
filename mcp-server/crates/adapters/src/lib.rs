//! The engines behind the core other than the store and the providers: the rate-limit buckets
//! (`rate_limit`: in this process, or in Redis with this process as the fallback) and the
//! operator's webhook (`webhooks`: the outbox's events posted, signed). Each knows only the
//! leaf; the core holds them and decides what to count and what to send.

pub mod rate_limit;
pub mod webhooks;
