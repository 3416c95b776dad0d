//! The retry rule: which failed attempts are tried again, and after how long.
//!
//! Kept as a pure function of its inputs (the randomness comes in as `jitter`) so every case is
//! a unit test; the client only feeds it what happened and sleeps for the answer.

use std::time::Duration;

use reqwest::Method;

/// The first backoff step; each retry doubles it.
const BASE_DELAY: Duration = Duration::from_millis(500);
/// The longest computed backoff between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(8);
/// The longest `Retry-After` the client waits for. A server asking for more gets its error
/// surfaced instead of a silently hanging call.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How an attempt failed, as far as the retry rule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The server answered with this (non-success) status.
    Status(u16),
    /// No answer: connect error, reset connection or timeout.
    Transport,
}

/// The caller's retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryRule {
    /// Retries after the first attempt (so at most `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Also retry `POST` and `PATCH`, which may have taken effect before the failure.
    pub retry_non_idempotent: bool,
}

impl RetryRule {
    /// How long to wait before trying again, or `None` to give up and surface the failure.
    ///
    /// - `retries_done`: retries already made for this call (0 after the first attempt);
    /// - `retry_after`: the server's `Retry-After`, if it sent one;
    /// - `jitter`: a random number in `[0, 1)`, spreading clients that failed together.
    ///
    /// Retried: 429, 502, 503 and transport failures, for idempotent methods (`GET`, `HEAD`,
    /// `PUT`, `DELETE`, `OPTIONS`) unless non-idempotent retries were enabled. The wait is the
    /// server's `Retry-After` when given (up to [`MAX_RETRY_AFTER`]), otherwise an exponential
    /// backoff from 0.5 s, capped at 8 s, with "equal jitter" (half fixed, half random).
    pub(crate) fn delay(
        &self,
        method: &Method,
        retries_done: u32,
        failure: Failure,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if retries_done >= self.max_retries || !is_retryable(failure) {
            return None;
        }
        if !self.retry_non_idempotent && !is_idempotent(method) {
            return None;
        }
        let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        match retry_after {
            Some(wait) if wait > MAX_RETRY_AFTER => None,
            // Up to 10% on top of what the server asked, never less.
            Some(wait) => Some(wait + wait.mul_f64(0.1 * jitter)),
            None => Some(backoff(retries_done, jitter)),
        }
    }
}

/// Whether this failure may go away on its own.
fn is_retryable(failure: Failure) -> bool {
    match failure {
        Failure::Status(status) => matches!(status, 429 | 502 | 503),
        Failure::Transport => true,
    }
}

/// Methods that have the same effect however often they are sent.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS].contains(method)
}

/// Exponential backoff with equal jitter: `[step / 2, step)` where `step = 0.5 s * 2^retries`,
/// capped at [`MAX_DELAY`].
fn backoff(retries_done: u32, jitter: f64) -> Duration {
    let step = BASE_DELAY.saturating_mul(2u32.saturating_pow(retries_done.min(16))).min(MAX_DELAY);
    let half = step / 2;
    half + half.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: RetryRule = RetryRule { max_retries: 2, retry_non_idempotent: false };

    #[test]
    fn retries_rate_limits_bad_gateways_unavailable_and_transport_failures() {
        for failure in [Failure::Status(429), Failure::Status(502), Failure::Status(503), Failure::Transport] {
            assert!(RULE.delay(&Method::GET, 0, failure, None, 0.5).is_some(), "{failure:?}");
        }
    }

    #[test]
    fn never_retries_other_statuses() {
        for status in [400, 401, 402, 403, 404, 409, 413, 422, 500, 504] {
            assert_eq!(RULE.delay(&Method::GET, 0, Failure::Status(status), None, 0.5), None, "{status}");
        }
    }

    #[test]
    fn only_idempotent_methods_unless_opted_in() {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            assert!(RULE.delay(&method, 0, Failure::Status(503), None, 0.0).is_some(), "{method}");
        }
        for method in [Method::POST, Method::PATCH] {
            assert_eq!(RULE.delay(&method, 0, Failure::Status(503), None, 0.0), None, "{method}");
            assert_eq!(RULE.delay(&method, 0, Failure::Transport, None, 0.0), None, "{method}");
            let opted_in = RetryRule { retry_non_idempotent: true, ..RULE };
            assert!(opted_in.delay(&method, 0, Failure::Status(429), None, 0.0).is_some(), "{method}");
        }
    }

    #[test]
    fn stops_after_max_retries() {
        assert!(RULE.delay(&Method::GET, 1, Failure::Transport, None, 0.0).is_some());
        assert_eq!(RULE.delay(&Method::GET, 2, Failure::Transport, None, 0.0), None);
        let never = RetryRule { max_retries: 0, ..RULE };
        assert_eq!(never.delay(&Method::GET, 0, Failure::Status(429), None, 0.0), None);
    }

    #[test]
    fn backoff_doubles_within_its_jitter_band_and_is_capped() {
        let rule = RetryRule { max_retries: 20, ..RULE };
        let at = |retries, jitter| rule.delay(&Method::GET, retries, Failure::Status(503), None, jitter).unwrap();
        assert_eq!(at(0, 0.0), Duration::from_millis(250));
        assert_eq!(at(0, 1.0), Duration::from_millis(500));
        assert_eq!(at(1, 0.0), Duration::from_millis(500));
        assert_eq!(at(2, 0.5), Duration::from_millis(1500));
        assert!(at(1, 0.3) > at(0, 0.9));
        assert_eq!(at(10, 1.0), MAX_DELAY);
        assert_eq!(at(19, 0.0), MAX_DELAY / 2);
    }

    #[test]
    fn honours_retry_after_with_a_little_jitter_on_top() {
        let wait = Duration::from_secs(3);
        let at = |jitter| RULE.delay(&Method::GET, 0, Failure::Status(429), Some(wait), jitter).unwrap();
        assert_eq!(at(0.0), wait);
        assert_eq!(at(1.0), Duration::from_millis(3300));
        assert!(at(0.5) > wait && at(0.5) < Duration::from_millis(3300));
    }

    #[test]
    fn gives_up_when_retry_after_is_too_long() {
        let too_long = MAX_RETRY_AFTER + Duration::from_secs(1);
        assert_eq!(RULE.delay(&Method::GET, 0, Failure::Status(429), Some(too_long), 0.0), None);
        assert!(RULE.delay(&Method::GET, 0, Failure::Status(429), Some(MAX_RETRY_AFTER), 0.0).is_some());
    }

    #[test]
    fn bad_jitter_is_tamed() {
        let at = |jitter| RULE.delay(&Method::GET, 0, Failure::Transport, None, jitter).unwrap();
        assert_eq!(at(f64::NAN), Duration::from_millis(250));
        assert_eq!(at(7.0), Duration::from_millis(500));
        assert_eq!(at(-1.0), Duration::from_millis(250));
    }
}
