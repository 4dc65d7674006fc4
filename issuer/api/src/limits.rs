//! Per-token rate limits on dose-record submissions (`POST /dose-records` and each line of
//! `POST /dose-records:bulk`).
//!
//! One token bucket per staff token ([`crate::storage::Staff::token_id`]): [`SubmitLimits::burst`]
//! submissions at once, refilled at [`SubmitLimits::per_sec`] a second. A request of `n`
//! records takes `n` at once or nothing ([`SubmitLimiter::check`]), and a refusal says how
//! long to wait (`Retry-After`). Refusals are counted in `/metrics` as
//! `vaxpass_submissions_rate_limited_total`.
//!
//! Defaults ([`SubmitLimits::default`]): burst 20,000 and 200 a second per token, far above a
//! busy clinic (a few thousand records a day, a backlog of a day uploaded at once) and far
//! below what one stolen token could otherwise push (the in-process load generator reaches
//! ~2,500 a second). The load generator and benchmarks configure
//! [`SubmitLimits::unlimited`]; `serve` takes `api::Config::submit_limits`.
//!
//! Integer arithmetic only (bucket units of 1/1000 submission), time passed in (Unix
//! milliseconds would be finer, but the service clock is Unix seconds: a refill happens per
//! whole second), memory bounded by [`SubmitLimits::max_tokens`] buckets (full buckets are
//! dropped first; if none is full, the oldest entry goes, which can only make a limit more
//! lenient for one token, never refuse an innocent one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use vaxpass_issuer_store::ratelimit::{BucketRate, SharedBuckets};

use super::{ApiError, AppState};
use crate::storage::Staff;

/// Takes `n` submissions from `staff`'s token at the service clock, or refuses: 429
/// `RATE_LIMITED` with `Retry-After`, counted in `vaxpass_submissions_rate_limited_total`
/// (by `n`). `POST /dose-records` calls it with 1 before parsing its body; the bulk upload
/// should call it with the number of lines of each chunk before storing them.
///
/// # Errors
/// [`ApiError::RateLimited`].
pub async fn check_submissions(state: &AppState, staff: &Staff, n: u64) -> Result<(), ApiError> {
    state
        .submit_limiter
        .take(staff.token_id, n, state.now())
        .await
        .map_err(|e| {
            state.metrics.submissions_rate_limited(n);
            ApiError::RateLimited {
                retry_after_secs: e.retry_after_secs,
                burst: e.burst,
            }
        })
}

/// The submission limits per staff token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitLimits {
    /// Submissions allowed at once after a quiet period; 0: no limit.
    pub burst: u64,
    /// Submissions refilled per second.
    pub per_sec: u64,
    /// Most buckets kept (one per token that submitted recently).
    pub max_tokens: usize,
}

impl Default for SubmitLimits {
    fn default() -> Self {
        SubmitLimits {
            burst: 20_000,
            per_sec: 200,
            max_tokens: 10_000,
        }
    }
}

impl SubmitLimits {
    /// No limit (load generator, benchmarks).
    pub fn unlimited() -> SubmitLimits {
        SubmitLimits {
            burst: 0,
            ..SubmitLimits::default()
        }
    }
}

/// A refused submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitLimited {
    /// Seconds until the request can succeed (at least 1): the `Retry-After` value.
    pub retry_after_secs: u64,
    /// The most records a request may hold at all (the burst): a larger bulk request can
    /// never pass and must be split.
    pub burst: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Submissions available at `at`.
    level: u64,
    /// Unix seconds.
    at: i64,
}

/// The per-token buckets. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct SubmitLimiter {
    limits: SubmitLimits,
    buckets: Arc<Mutex<HashMap<i64, Bucket>>>,
    /// The database's buckets, shared by every process on it ([`SubmitLimiter::shared`]).
    shared: Option<SharedBuckets>,
}

impl Default for SubmitLimiter {
    fn default() -> Self {
        SubmitLimiter::new(SubmitLimits::default())
    }
}

impl SubmitLimiter {
    /// A limiter with these limits.
    pub fn new(limits: SubmitLimits) -> SubmitLimiter {
        SubmitLimiter {
            limits,
            buckets: Arc::default(),
            shared: None,
        }
    }

    /// Keeps the buckets in the database, shared with every process on it (several `serve`
    /// replicas on one PostgreSQL database); this process's buckets serve only while the
    /// database does not answer.
    #[must_use]
    pub fn shared(mut self, buckets: SharedBuckets) -> SubmitLimiter {
        self.shared = Some(buckets);
        self
    }

    /// [`SubmitLimiter::check`] on the database's bucket when [`SubmitLimiter::shared`].
    ///
    /// # Errors
    /// [`SubmitLimited`] when the bucket holds fewer than `n`.
    pub async fn take(&self, token_id: i64, n: u64, now: i64) -> Result<(), SubmitLimited> {
        let limits = self.limits;
        let Some(buckets) = &self.shared else {
            return self.check(token_id, n, now);
        };
        if limits.burst == 0 || n == 0 {
            return Ok(());
        }
        let rate = BucketRate {
            capacity: limits.burst,
            per_sec: limits.per_sec.max(1),
        };
        match buckets
            .take("submit.token", &token_id.to_be_bytes(), rate, n, now)
            .await
        {
            Ok(taken) if taken.granted => Ok(()),
            Ok(taken) => Err(refusal(limits, taken.level, n)),
            Err(e) => {
                tracing::warn!(error = %e, "shared submission limit unavailable; using this process's bucket");
                self.check(token_id, n, now)
            }
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> SubmitLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Bucket>> {
        // A poisoned lock only means another thread panicked mid-update; the map is intact.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn level_at(&self, b: Bucket, now: i64) -> u64 {
        let elapsed = u64::try_from(now.saturating_sub(b.at)).unwrap_or(0);
        b.level
            .saturating_add(elapsed.saturating_mul(self.limits.per_sec))
            .min(self.limits.burst)
    }

    /// Takes `n` submissions from `token_id`'s bucket at `now` (Unix seconds), all or none.
    /// The bulk upload calls it once per request with its line count, or per chunk of lines.
    ///
    /// # Errors
    /// [`SubmitLimited`] when the bucket holds fewer than `n`.
    pub fn check(&self, token_id: i64, n: u64, now: i64) -> Result<(), SubmitLimited> {
        let limits = self.limits;
        if limits.burst == 0 || n == 0 {
            return Ok(());
        }
        let mut map = self.lock();
        if !map.contains_key(&token_id) && map.len() >= limits.max_tokens.max(1) {
            let burst = limits.burst;
            map.retain(|_, b| {
                let elapsed = u64::try_from(now.saturating_sub(b.at)).unwrap_or(0);
                b.level
                    .saturating_add(elapsed.saturating_mul(limits.per_sec))
                    .min(burst)
                    < burst
            });
            if map.len() >= limits.max_tokens.max(1) {
                if let Some(oldest) = map.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let bucket = map.get(&token_id).copied().unwrap_or(Bucket {
            level: limits.burst,
            at: now,
        });
        let level = self.level_at(bucket, now);
        // A clock that steps back leaves the bucket's time where it was.
        let at = now.max(bucket.at);
        if level < n {
            map.insert(token_id, Bucket { level, at });
            return Err(refusal(limits, level, n));
        }
        map.insert(
            token_id,
            Bucket {
                level: level - n,
                at,
            },
        );
        Ok(())
    }

    /// Buckets held now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// No bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The refusal of `n` submissions from a bucket holding `level`.
fn refusal(limits: SubmitLimits, level: u64, n: u64) -> SubmitLimited {
    let wait = if n > limits.burst {
        // Never enough: wait for a full bucket, and the caller must split.
        limits.burst.saturating_sub(level)
    } else {
        n.saturating_sub(level)
    }
    .div_ceil(limits.per_sec.max(1));
    SubmitLimited {
        retry_after_secs: wait.max(1),
        burst: limits.burst,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limiter(burst: u64, per_sec: u64, max_tokens: usize) -> SubmitLimiter {
        SubmitLimiter::new(SubmitLimits {
            burst,
            per_sec,
            max_tokens,
        })
    }

    #[test]
    fn takes_all_or_nothing_and_refills() {
        let l = limiter(10, 2, 100);
        assert!(l.check(1, 8, 0).is_ok());
        let e = l.check(1, 3, 0).unwrap_err();
        assert_eq!(e.retry_after_secs, 1);
        // Nothing was taken by the refusal: 2 are left.
        assert!(l.check(1, 2, 0).is_ok());
        assert!(l.check(1, 1, 0).is_err());
        assert!(l.check(1, 4, 2).is_ok());
        // Another token has its own bucket.
        assert!(l.check(2, 10, 2).is_ok());
    }

    #[test]
    fn larger_than_burst_waits_for_a_full_bucket() {
        let l = limiter(10, 5, 100);
        let e = l.check(1, 11, 0).unwrap_err();
        assert_eq!(e.burst, 10);
        assert_eq!(e.retry_after_secs, 1);
    }

    #[test]
    fn unlimited_keeps_nothing() {
        let l = SubmitLimiter::new(SubmitLimits::unlimited());
        for i in 0..1_000 {
            assert!(l.check(i, 1_000_000, 0).is_ok());
        }
        assert!(l.is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let l = limiter(10, 1, 50);
        for i in 0..10_000 {
            let _ = l.check(i, 5, 0);
        }
        assert!(l.len() <= 50, "{}", l.len());
    }
}
