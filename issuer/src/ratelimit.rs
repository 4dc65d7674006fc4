//! Token-bucket rate limiting for the public lookup portal (`POST /api/v1/lookup`).
//!
//! Two limits apply to every attempt: one per client address and one per ID number.
//!
//! - Buckets hold whole tokens in exact integer arithmetic: a [`Rate`] of `per_period` tokens
//!   every `period_secs` seconds is kept in units of `1 / period_secs` token, so 10 a minute
//!   and 5 an hour lose nothing to rounding.
//! - Time comes from the caller (Unix seconds, the service's injectable clock), never from the
//!   system here: tests advance a clock instead of sleeping.
//! - Memory is bounded: at most [`LookupLimits::max_keys`] buckets per limiter. When a new key
//!   arrives at the cap, buckets that have refilled completely are dropped (they hold nothing
//!   a fresh bucket would not); if none has, the attempt is refused (fail closed) and the next
//!   sweep waits until the soonest bucket is full again.
//! - ID numbers are never kept: the per-ID key is the SHA-256 of a random per-process salt and
//!   the normalised number ([`IdKey`]), so a memory dump does not list who was looked up.
//! - IPv6 clients are keyed by their /64 prefix (one subscriber usually holds a whole /64).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// `per_period` tokens refilled every `period_secs` seconds, at most `burst` in the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Bucket size: attempts allowed at once after a quiet period (at least 1).
    pub burst: u32,
    /// Tokens refilled per period (at least 1).
    pub per_period: u32,
    /// The period in seconds (at least 1).
    pub period_secs: u32,
}

impl Rate {
    /// `burst` at once, then `per_period` every `period_secs` seconds; zeros are raised to 1.
    pub fn new(burst: u32, per_period: u32, period_secs: u32) -> Rate {
        Rate {
            burst: burst.max(1),
            per_period: per_period.max(1),
            period_secs: period_secs.max(1),
        }
    }

    /// One token in bucket units.
    fn unit(self) -> u64 {
        u64::from(self.period_secs.max(1))
    }

    /// A full bucket in bucket units.
    fn capacity(self) -> u64 {
        u64::from(self.burst.max(1)) * self.unit()
    }

    /// Bucket units refilled per second.
    fn per_sec(self) -> u64 {
        u64::from(self.per_period.max(1))
    }

    /// Seconds until a bucket holding `level` units holds `target` units.
    fn secs_until(self, level: u64, target: u64) -> u64 {
        target.saturating_sub(level).div_ceil(self.per_sec())
    }
}

/// The lookup portal's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupLimits {
    /// Per client address (IPv4 address or IPv6 /64). Default: burst 5, 10 a minute.
    pub per_client: Rate,
    /// Per ID number, counting every attempt whether it matched or not. Default: burst 5,
    /// 5 an hour.
    pub per_id: Rate,
    /// Most buckets each limiter keeps (default 100,000: a few MiB).
    pub max_keys: usize,
    /// Take the client address from the last `X-Forwarded-For` entry (set only behind a
    /// reverse proxy that appends it; otherwise clients could pick their own key). Default
    /// off.
    pub trust_forwarded_for: bool,
}

impl Default for LookupLimits {
    fn default() -> Self {
        LookupLimits {
            per_client: Rate::new(5, 10, 60),
            per_id: Rate::new(5, 5, 3_600),
            max_keys: 100_000,
            trust_forwarded_for: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Bucket units at `at`.
    level: u64,
    /// Unix seconds of the last update.
    at: i64,
}

impl Bucket {
    fn level_at(self, rate: Rate, now: i64) -> u64 {
        let elapsed = u64::try_from(now.saturating_sub(self.at)).unwrap_or(0);
        self.level
            .saturating_add(elapsed.saturating_mul(rate.per_sec()))
            .min(rate.capacity())
    }
}

/// Why an attempt is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Seconds until a retry can succeed (at least 1): the `Retry-After` value.
    pub retry_after_secs: u64,
}

struct Inner<K> {
    buckets: HashMap<K, Bucket>,
    /// At the cap with nothing to evict: no new sweep before this time.
    next_sweep: i64,
}

/// One token-bucket limiter over keys `K`, bounded to `max_keys` buckets.
pub struct Limiter<K> {
    rate: Rate,
    max_keys: usize,
    inner: Mutex<Inner<K>>,
}

impl<K> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("rate", &self.rate)
            .field("max_keys", &self.max_keys)
            .field("keys", &self.lock().buckets.len())
            .finish()
    }
}

impl<K> Limiter<K> {
    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        // A poisoned lock only means another thread panicked mid-update; the map is still a
        // valid map of buckets.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter with at most `max_keys` buckets (at least 1).
    pub fn new(rate: Rate, max_keys: usize) -> Limiter<K> {
        Limiter {
            rate,
            max_keys: max_keys.max(1),
            inner: Mutex::new(Inner {
                buckets: HashMap::new(),
                next_sweep: i64::MIN,
            }),
        }
    }

    /// Takes one token for `key` at `now` (Unix seconds), or says how long to wait.
    ///
    /// # Errors
    /// [`Limited`] when the key's bucket is empty, or when a new key arrives while all
    /// `max_keys` buckets are in use.
    pub fn check(&self, key: &K, now: i64) -> Result<(), Limited> {
        let rate = self.rate;
        let unit = rate.unit();
        let mut inner = self.lock();
        if !inner.buckets.contains_key(key) && inner.buckets.len() >= self.max_keys {
            self.make_room(&mut inner, now)?;
        }
        let bucket = inner.buckets.entry(key.clone()).or_insert(Bucket {
            level: rate.capacity(),
            at: now,
        });
        let level = bucket.level_at(rate, now);
        // A clock that steps back leaves the bucket's time where it was.
        let at = now.max(bucket.at);
        if level < unit {
            *bucket = Bucket { level, at };
            return Err(Limited {
                retry_after_secs: rate.secs_until(level, unit).max(1),
            });
        }
        *bucket = Bucket {
            level: level - unit,
            at,
        };
        Ok(())
    }

    /// At the cap: drops the buckets that are full again; refuses if none is.
    fn make_room(&self, inner: &mut Inner<K>, now: i64) -> Result<(), Limited> {
        let rate = self.rate;
        let full = rate.capacity();
        if now >= inner.next_sweep {
            inner.buckets.retain(|_, b| b.level_at(rate, now) < full);
            if inner.buckets.len() < self.max_keys {
                return Ok(());
            }
            let soonest = inner
                .buckets
                .values()
                .map(|b| rate.secs_until(b.level_at(rate, now), full))
                .min()
                .unwrap_or(1)
                .max(1);
            inner.next_sweep = now.saturating_add(i64::try_from(soonest).unwrap_or(i64::MAX));
        }
        Err(Limited {
            retry_after_secs: u64::try_from(inner.next_sweep.saturating_sub(now))
                .unwrap_or(1)
                .max(1),
        })
    }

    /// Buckets held now.
    pub fn len(&self) -> usize {
        self.lock().buckets.len()
    }

    /// No bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The per-ID key: SHA-256 of a per-process salt and the normalised ID number. The number
/// itself is never stored.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdKey([u8; 32]);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(..)")
    }
}

/// The client key: an IPv4 address or an IPv6 /64 prefix; [`ClientKey::Unknown`] when the
/// connection's address is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An address (IPv6 cut to its /64).
    Addr(IpAddr),
    /// No address known (the router was not served with connect info, as in in-process
    /// tests): every such request shares this one bucket.
    Unknown,
}

impl ClientKey {
    /// The key of a client address.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(_) => ClientKey::Addr(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::Addr(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    ClientKey::Addr(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

/// The lookup portal's two limiters. Cheap to clone (shared).
#[derive(Clone)]
pub struct LookupLimiter {
    limits: Arc<LookupLimits>,
    salt: Arc<[u8; 32]>,
    per_client: Arc<Limiter<ClientKey>>,
    per_id: Arc<Limiter<IdKey>>,
}

impl std::fmt::Debug for LookupLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupLimiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for LookupLimiter {
    fn default() -> Self {
        LookupLimiter::new(LookupLimits::default())
    }
}

impl LookupLimiter {
    /// Limiters with these limits and a fresh random salt.
    pub fn new(limits: LookupLimits) -> LookupLimiter {
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        LookupLimiter {
            per_client: Arc::new(Limiter::new(limits.per_client, limits.max_keys)),
            per_id: Arc::new(Limiter::new(limits.per_id, limits.max_keys)),
            salt: Arc::new(salt),
            limits: Arc::new(limits),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &LookupLimits {
        &self.limits
    }

    /// The salted hash of a normalised ID number.
    pub fn id_key(&self, normalised_id: &str) -> IdKey {
        let mut h = Sha256::new();
        h.update(self.salt.as_slice());
        h.update(normalised_id.as_bytes());
        IdKey(h.finalize().into())
    }

    /// Counts one attempt: first against the client, then (if the client may) against the ID.
    ///
    /// # Errors
    /// [`Limited`] with the wait of the limit that refused.
    pub fn check(&self, client: ClientKey, id: &IdKey, now: i64) -> Result<(), Limited> {
        self.per_client.check(&client, now)?;
        self.per_id.check(id, now)
    }

    /// Buckets held (client, ID).
    pub fn len(&self) -> (usize, usize) {
        (self.per_client.len(), self.per_id.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn burst_then_refill() {
        // Burst 5, 10 a minute: one token every 6 s.
        let l: Limiter<u32> = Limiter::new(Rate::new(5, 10, 60), 10);
        for _ in 0..5 {
            l.check(&1, 1000).unwrap();
        }
        assert_eq!(
            l.check(&1, 1000),
            Err(Limited {
                retry_after_secs: 6
            })
        );
        assert_eq!(
            l.check(&1, 1004),
            Err(Limited {
                retry_after_secs: 2
            })
        );
        l.check(&1, 1006).unwrap();
        assert!(l.check(&1, 1006).is_err());
        // Other keys are independent.
        l.check(&2, 1006).unwrap();
        // Refill never exceeds the burst.
        for _ in 0..5 {
            l.check(&1, 100_000).unwrap();
        }
        assert!(l.check(&1, 100_000).is_err());
    }

    #[test]
    fn hourly_rate() {
        let l: Limiter<u32> = Limiter::new(Rate::new(5, 5, 3600), 10);
        for _ in 0..5 {
            l.check(&7, 0).unwrap();
        }
        assert_eq!(l.check(&7, 0).unwrap_err().retry_after_secs, 720);
        assert!(l.check(&7, 719).is_err());
        l.check(&7, 720 + 719).unwrap();
    }

    #[test]
    fn clock_going_back_does_not_refill() {
        let l: Limiter<u32> = Limiter::new(Rate::new(1, 1, 60), 10);
        l.check(&1, 1000).unwrap();
        assert!(l.check(&1, 10).is_err());
        assert!(l.check(&1, 1059).is_err());
        l.check(&1, 1060).unwrap();
    }

    #[test]
    fn memory_cap_evicts_full_buckets_and_fails_closed() {
        let l: Limiter<u32> = Limiter::new(Rate::new(2, 1, 10), 3);
        for k in 0..3 {
            l.check(&k, 0).unwrap();
        }
        assert_eq!(l.len(), 3);
        // Nothing has refilled: a fourth key is refused until the soonest bucket is full.
        assert_eq!(
            l.check(&3, 5),
            Err(Limited {
                retry_after_secs: 5
            })
        );
        assert_eq!(l.len(), 3);
        // Known keys still work at the cap.
        l.check(&0, 5).unwrap();
        // Key 1 and 2 are full again at t=10 (one token used, 10 s per token): evicted.
        l.check(&3, 10).unwrap();
        assert!(l.len() <= 3);
        for k in 100..1000 {
            let _ = l.check(&k, 10_000 + i64::from(k) * 100);
            assert!(l.len() <= 3);
        }
    }

    #[test]
    fn id_keys_are_salted_and_stable() {
        let a = LookupLimiter::default();
        let b = LookupLimiter::default();
        assert_eq!(a.id_key("079185012345"), a.id_key("079185012345"));
        assert_ne!(a.id_key("079185012345"), a.id_key("079185012346"));
        assert_ne!(a.id_key("079185012345"), b.id_key("079185012345"));
        assert_eq!(format!("{:?}", a.id_key("079185012345")), "IdKey(..)");
    }

    #[test]
    fn ipv6_by_prefix() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(
            ClientKey::of(mapped),
            ClientKey::Addr("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn client_limit_first_then_id() {
        let limits = LookupLimits {
            per_client: Rate::new(2, 1, 60),
            per_id: Rate::new(3, 1, 60),
            ..LookupLimits::default()
        };
        let l = LookupLimiter::new(limits);
        let id = l.id_key("1");
        let c1 = ClientKey::of("192.0.2.1".parse().unwrap());
        let c2 = ClientKey::of("192.0.2.2".parse().unwrap());
        l.check(c1, &id, 0).unwrap();
        l.check(c1, &id, 0).unwrap();
        // c1 is over its limit: the ID is not charged.
        assert!(l.check(c1, &id, 0).is_err());
        l.check(c2, &id, 0).unwrap();
        // The ID's three attempts are used, whichever client.
        assert!(l.check(c2, &id, 0).is_err());
        assert_eq!(l.len(), (2, 1));
    }
}
