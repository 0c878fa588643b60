//! Bounded retries with exponential backoff and full jitter.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How often and how patiently a remote read is retried.
///
/// Retried: 5xx and 429 replies (including S3's 503 SlowDown), connection failures,
/// timeouts, and bodies that break mid-stream (which resume from the last byte received
/// with a new Range). Not retried: 4xx replies other than 429, and any reply that breaks
/// the read contract (a 200 to a range request, a wrong length, a changed object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request without progress, the first included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each time.
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The default policy, adjusted by `LAKEZIP_RETRY_ATTEMPTS` (attempts per request,
    /// 1–100) and `LAKEZIP_RETRY_DELAY_MS` (first backoff in milliseconds, ≤ 60,000; the
    /// longest backoff stays 150× that, at most 15 s). Unparsable values are ignored.
    pub fn from_env() -> Self {
        let mut policy = RetryPolicy::default();
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(n) = number("LAKEZIP_RETRY_ATTEMPTS").filter(|n| (1..=100).contains(n)) {
            policy.max_attempts = n as u32;
        }
        if let Some(ms) = number("LAKEZIP_RETRY_DELAY_MS").filter(|ms| *ms <= 60_000) {
            policy.base_delay = Duration::from_millis(ms);
            policy.max_delay = Duration::from_millis(ms.saturating_mul(150)).min(policy.max_delay);
        }
        policy
    }

    /// The pause before retry number `retry` (1-based): uniformly random in
    /// `[0, min(max_delay, base_delay × 2^(retry−1))]` ("full jitter"), so many clients
    /// backing off at once do not retry in lockstep.
    pub fn delay(&self, retry: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_delay);
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        exponential.mul_f64((random % 10_000) as f64 / 10_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_bounded_and_grow() {
        let policy = RetryPolicy::default();
        for retry in 1..40 {
            assert!(policy.delay(retry) <= policy.max_delay);
        }
        assert!(policy.delay(1) <= Duration::from_millis(100));
        // Full jitter is random, but over many draws the later retries wait longer.
        let total = |retry| (0..200).map(|_| policy.delay(retry)).sum::<Duration>();
        assert!(total(5) > total(1));
    }
}
