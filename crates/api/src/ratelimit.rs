//! Per-partner rate limits: one token bucket per partner and environment (sandbox traffic does
//! not eat the production quota), refilled continuously at the contract's rate up to its
//! burst. In memory, per process: with several nodes each enforces the limit on its share.
//! Also two small fixed limits on unauthenticated work that costs an argon2 hash (sign-in
//! attempts per e-mail, new applications overall), so they cannot be used to burn CPU.
//!
//! Every partner request refused for its rate limit is also counted in core's
//! [`RateLimitHits`] when the server hands one in (`with_hits`): the operator console shows
//! the counts, and sharing a core type keeps the two faces independent of each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openpile_core::ids::PartnerId;
use openpile_core::ops::RateLimitHits;
use openpile_core::partner::contract::RateLimit;
use openpile_core::partner::credential::Environment;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes one token, or says how long until one is there.
    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// Limits for unauthenticated, hashing work.
#[derive(Debug, Clone, Copy)]
pub struct PublicLimits {
    /// Sign-in attempts per e-mail address.
    pub sign_in: RateLimit,
    /// New applications, all callers together.
    pub applications: RateLimit,
}

impl Default for PublicLimits {
    fn default() -> Self {
        Self {
            sign_in: RateLimit {
                requests_per_second: 1,
                burst: 10,
            },
            applications: RateLimit {
                requests_per_second: 5,
                burst: 20,
            },
        }
    }
}

/// The token buckets of one process.
pub struct RateLimiter {
    partners: Mutex<HashMap<(PartnerId, Environment), Bucket>>,
    public: Mutex<HashMap<String, Bucket>>,
    limits: PublicLimits,
    /// Where refusals of partner requests are counted, when anyone reads them.
    hits: Option<Arc<RateLimitHits>>,
}

fn seconds_to_retry(d: Duration) -> u64 {
    // Retry-After is whole seconds (RFC 9110 §10.2.3); round up so a retry then succeeds.
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl RateLimiter {
    /// Entries kept before buckets that have refilled completely are dropped.
    const MAX_PUBLIC_KEYS: usize = 10_000;

    pub fn new(limits: PublicLimits) -> Self {
        Self {
            partners: Mutex::new(HashMap::new()),
            public: Mutex::new(HashMap::new()),
            limits,
            hits: None,
        }
    }

    /// Counts every refused partner request in `hits` (the console reads them).
    #[must_use]
    pub fn with_hits(mut self, hits: Arc<RateLimitHits>) -> Self {
        self.hits = Some(hits);
        self
    }

    /// One request of `partner`: `Err(seconds)` when its bucket is empty.
    pub fn check(
        &self,
        partner: &PartnerId,
        environment: Environment,
        limit: RateLimit,
    ) -> Result<(), u64> {
        let now = Instant::now();
        let burst = f64::from(limit.burst);
        let mut map = self.partners.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = map.entry((partner.clone(), environment)).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let taken = bucket.take(f64::from(limit.requests_per_second), burst, now);
        drop(map);
        if taken.is_err()
            && let Some(hits) = &self.hits
        {
            hits.record(partner, environment, chrono::Utc::now());
        }
        taken.map_err(seconds_to_retry)
    }

    fn check_public(&self, key: String, limit: RateLimit) -> Result<(), u64> {
        let now = Instant::now();
        let (rate, burst) = (f64::from(limit.requests_per_second), f64::from(limit.burst));
        let mut map = self.public.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= Self::MAX_PUBLIC_KEYS {
            let full = Duration::from_secs_f64(burst / rate);
            map.retain(|_, b| now.saturating_duration_since(b.last) < full);
        }
        let bucket = map.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        bucket.take(rate, burst, now).map_err(seconds_to_retry)
    }

    /// One sign-in attempt for `email` (any spelling of the address counts as one).
    pub fn check_sign_in(&self, email: &str) -> Result<(), u64> {
        self.check_public(
            format!("sign-in:{}", email.trim().to_lowercase()),
            self.limits.sign_in,
        )
    }

    /// One new application.
    pub fn check_application(&self) -> Result<(), u64> {
        self.check_public("applications".into(), self.limits.applications)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket {
            tokens: 3.0,
            last: t0,
        };
        for _ in 0..3 {
            b.take(2.0, 3.0, t0).unwrap();
        }
        let wait = b.take(2.0, 3.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9);
        b.take(2.0, 3.0, t0 + Duration::from_millis(500)).unwrap();
        // Refill never exceeds the burst.
        b.take(2.0, 3.0, t0 + Duration::from_secs(100)).unwrap();
        assert!(b.tokens <= 2.0 + 1e-9);
    }

    #[test]
    fn partners_and_environments_have_their_own_buckets() {
        let l = RateLimiter::new(PublicLimits::default());
        let limit = RateLimit {
            requests_per_second: 1,
            burst: 1,
        };
        let a = PartnerId::parse("a").unwrap();
        let b = PartnerId::parse("b").unwrap();
        l.check(&a, Environment::Production, limit).unwrap();
        assert_eq!(l.check(&a, Environment::Production, limit), Err(1));
        l.check(&a, Environment::Sandbox, limit).unwrap();
        l.check(&b, Environment::Production, limit).unwrap();
    }

    #[test]
    fn refusals_are_counted_when_someone_reads_them() {
        let hits = Arc::new(RateLimitHits::default());
        let l = RateLimiter::new(PublicLimits::default()).with_hits(hits.clone());
        let limit = RateLimit {
            requests_per_second: 1,
            burst: 2,
        };
        let a = PartnerId::parse("a").unwrap();
        l.check(&a, Environment::Production, limit).unwrap();
        l.check(&a, Environment::Production, limit).unwrap();
        assert_eq!(hits.total_of(&a), 0);
        assert!(l.check(&a, Environment::Production, limit).is_err());
        assert!(l.check(&a, Environment::Production, limit).is_err());
        assert_eq!(hits.of(&a).len(), 1);
        assert_eq!(hits.total_of(&a), 2);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(seconds_to_retry(Duration::from_millis(1)), 1);
        assert_eq!(seconds_to_retry(Duration::from_secs(2)), 2);
    }
}
