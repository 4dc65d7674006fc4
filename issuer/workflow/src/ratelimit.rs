//! Token-bucket rate limiting for the public lookup portal (`POST /api/v1/lookup`).
//!
//! Three limits apply to every attempt, in this order (an attempt refused by one is not
//! charged to the next):
//!
//! 1. **per client address** ([`LookupLimits::per_client`], IPv4 address or IPv6 /64;
//!    default burst 5, then 10 a minute);
//! 2. **per (ID number, client network)** ([`LookupLimits::per_id_network`], network: IPv4
//!    /24, IPv6 /48; default burst 5, then 5 an hour);
//! 3. **per ID number, whoever asks** ([`LookupLimits::per_id`], the ceiling; default burst 20,
//!    then 20 an hour).
//!
//! # Threat model
//!
//! - *Guessing.* An attacker who knows an ID number and guesses the other details (name,
//!   birth date, sex, date of the latest dose) gets at most the ceiling's burst plus its rate
//!   per ID: 20, then 20 an hour (one network alone: 5, then 5 an hour), however many
//!   addresses they hold. The answer to a miss does not say which detail was wrong, nor
//!   whether the person exists or has a certificate (see `vaxpass_issuer::api::lookup`).
//! - *Locking a holder out.* Attempts from other networks use their own (ID, network) buckets,
//!   not the holder's: a handful of foreign attempts (fewer than the ceiling's 20) leave the
//!   holder their 5 tries at once and 5 an hour. To lock one holder out the attacker has to
//!   keep the ceiling empty: more than 20 attempts an hour on that ID, from at least 4 /24
//!   networks (5 an hour each), for as long as the lock-out should last — and gets nothing
//!   else from it. A holder who shares a /24 with the attacker (the same carrier-grade NAT)
//!   shares the network bucket; behind a reverse proxy the networks are only seen with
//!   [`LookupLimits::trust_forwarded_for`].
//! - *Locking everyone out.* Memory is bounded: at most [`LookupLimits::max_keys`] buckets
//!   per limiter. When a new key arrives at the cap, buckets that have refilled completely
//!   are dropped (they hold nothing a fresh bucket would not), and if none has, the least
//!   recently used eighth is evicted: a new ID number is never refused for want of room, so
//!   spreading attempts over many numbers locks no one out. Evicting a bucket forgets its
//!   count; to make the limiter forget one ID the attacker must first push `max_keys` (default
//!   100,000) other keys through it, which at 10 a minute per address costs 10,000
//!   address-minutes, and buys 20 more guesses on that one ID.
//!
//! # Mechanics
//!
//! - Buckets hold whole tokens in exact integer arithmetic: a [`Rate`] of `per_period` tokens
//!   every `period_secs` seconds is kept in units of `1 / period_secs` token, so 10 a minute
//!   and 5 an hour lose nothing to rounding.
//! - Time comes from the caller (Unix seconds, the service's injectable clock), never from the
//!   system here: tests advance a clock instead of sleeping.
//! - ID numbers are never kept: the per-ID key is the SHA-256 of a random per-process salt and
//!   the normalised number ([`IdKey`]), so a memory dump does not list who was looked up.
//! - IPv6 clients are keyed by their /64 prefix (one subscriber usually holds a whole /64).
//!
//! # Several processes
//!
//! A limiter made [`Limiter::shared`] (every limiter of [`LookupLimiter::with_shared`]) keeps
//! its buckets in the database ([`SharedBuckets`], PostgreSQL), so that N `serve` replicas
//! limit together as one: [`Limiter::take`] and [`LookupLimiter::take`] ask the database, and
//! the per-ID salt is the one the database holds. When the database cannot answer, the take
//! falls back to this process's buckets (logged): the request it guards needs the database
//! anyway, and the limit then holds per process until it answers again.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use vaxpass_issuer_store::ratelimit::{BucketRate, SharedBuckets};

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
    /// Per (ID number, client network: IPv4 /24, IPv6 /48), counting every attempt whether it
    /// matched or not. Default: burst 5, 5 an hour.
    pub per_id_network: Rate,
    /// Per ID number, whoever asks: the ceiling over all networks. Default: burst 20, 20 an
    /// hour.
    pub per_id: Rate,
    /// Most buckets each limiter keeps (default 100,000: a few MiB).
    pub max_keys: usize,
    /// Take the client address from the last `X-Forwarded-For` entry (set only behind a
    /// reverse proxy that appends it; otherwise clients could pick their own key). Default
    /// off.
    pub trust_forwarded_for: bool,
    /// Every lookup answer (found, miss, refused) goes out no sooner than this after the
    /// request was read, so that its time does not tell what exists (see
    /// `vaxpass_issuer::api::lookup`). Default [`DEFAULT_MIN_ANSWER_TIME`]; it must exceed the
    /// slowest answer (the audit write of a hit included).
    pub min_answer_time: std::time::Duration,
    /// A uniformly random extra wait of up to this, added to [`Self::min_answer_time`].
    /// Default [`DEFAULT_ANSWER_JITTER`].
    pub answer_jitter: std::time::Duration,
}

/// Default of [`LookupLimits::min_answer_time`]: 100 ms, far above the ~0.3 ms a hit takes
/// on a local database, and not felt by a person at a browser.
pub const DEFAULT_MIN_ANSWER_TIME: std::time::Duration = std::time::Duration::from_millis(100);
/// Default of [`LookupLimits::answer_jitter`].
pub const DEFAULT_ANSWER_JITTER: std::time::Duration = std::time::Duration::from_millis(20);

impl Default for LookupLimits {
    fn default() -> Self {
        LookupLimits {
            per_client: Rate::new(5, 10, 60),
            per_id_network: Rate::new(5, 5, 3_600),
            per_id: Rate::new(20, 20, 3_600),
            max_keys: 100_000,
            trust_forwarded_for: false,
            min_answer_time: DEFAULT_MIN_ANSWER_TIME,
            answer_jitter: DEFAULT_ANSWER_JITTER,
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
}

/// One token-bucket limiter over keys `K`, bounded to `max_keys` buckets.
pub struct Limiter<K> {
    rate: Rate,
    max_keys: usize,
    inner: Mutex<Inner<K>>,
    /// The database's buckets and this limiter's name there ([`Limiter::shared`]).
    shared: Option<(SharedBuckets, &'static str)>,
}

/// A key's bytes in the shared buckets ([`SharedBuckets::take`] hashes them with the salt).
pub trait BucketKey {
    /// The bytes that name the key (distinct keys give distinct bytes).
    fn bucket_key(&self) -> Vec<u8>;
}

impl BucketKey for String {
    fn bucket_key(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl BucketKey for u32 {
    fn bucket_key(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
}

impl BucketKey for ClientKey {
    fn bucket_key(&self) -> Vec<u8> {
        match self {
            ClientKey::Addr(IpAddr::V4(v4)) => [&[4u8][..], &v4.octets()].concat(),
            ClientKey::Addr(IpAddr::V6(v6)) => [&[6u8][..], &v6.octets()].concat(),
            ClientKey::Unknown => vec![0],
        }
    }
}

impl BucketKey for IdKey {
    fn bucket_key(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl BucketKey for (IdKey, ClientKey) {
    fn bucket_key(&self) -> Vec<u8> {
        [self.0.bucket_key(), self.1.bucket_key()].concat()
    }
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
            }),
            shared: None,
        }
    }

    /// Keeps the buckets in the database as `name` (unique among limiters), shared with every
    /// process on it; this process's buckets serve only while the database does not answer.
    #[must_use]
    pub fn shared(mut self, buckets: SharedBuckets, name: &'static str) -> Limiter<K> {
        self.shared = Some((buckets, name));
        self
    }

    /// Takes one token for `key` at `now`: from the database's bucket when
    /// [`Limiter::shared`], else as [`Limiter::check`].
    ///
    /// # Errors
    /// [`Limited`] when the key's bucket is empty.
    pub async fn take(&self, key: &K, now: i64) -> Result<(), Limited>
    where
        K: BucketKey,
    {
        let Some((buckets, name)) = &self.shared else {
            return self.check(key, now);
        };
        let rate = self.rate;
        let bucket = BucketRate {
            capacity: rate.capacity(),
            per_sec: rate.per_sec(),
        };
        match buckets
            .take(name, &key.bucket_key(), bucket, rate.unit(), now)
            .await
        {
            Ok(taken) if taken.granted => Ok(()),
            Ok(taken) => Err(Limited {
                retry_after_secs: rate.secs_until(taken.level, rate.unit()).max(1),
            }),
            Err(e) => {
                tracing::warn!(limiter = name, error = %e, "shared rate limit unavailable; using this process's bucket");
                self.check(key, now)
            }
        }
    }

    /// Takes one token for `key` at `now` (Unix seconds), or says how long to wait.
    ///
    /// # Errors
    /// [`Limited`] when the key's bucket is empty. A new key is never refused for want of
    /// room: at `max_keys` buckets, older ones are evicted (see the module documentation).
    pub fn check(&self, key: &K, now: i64) -> Result<(), Limited> {
        let rate = self.rate;
        let unit = rate.unit();
        let mut inner = self.lock();
        if !inner.buckets.contains_key(key) && inner.buckets.len() >= self.max_keys {
            self.make_room(&mut inner, now);
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

    /// At the cap: drops the buckets that are full again; if none is, evicts the least
    /// recently used eighth (at least one), so that the cost is amortised over the next
    /// `max_keys / 8` new keys.
    fn make_room(&self, inner: &mut Inner<K>, now: i64) {
        let rate = self.rate;
        let full = rate.capacity();
        inner.buckets.retain(|_, b| b.level_at(rate, now) < full);
        if inner.buckets.len() < self.max_keys {
            return;
        }
        let evict = (self.max_keys / 8).max(1);
        let mut by_age: Vec<(i64, K)> = inner
            .buckets
            .iter()
            .map(|(k, b)| (b.at, k.clone()))
            .collect();
        if evict < by_age.len() {
            by_age.select_nth_unstable_by_key(evict, |(at, _)| *at);
        }
        for (_, key) in by_age.into_iter().take(evict) {
            inner.buckets.remove(&key);
        }
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

impl ClientKey {
    /// The client's network for the per-(ID, network) limit: an IPv4 /24 or an IPv6 /48.
    pub fn network(self) -> ClientKey {
        match self {
            ClientKey::Addr(IpAddr::V4(v4)) => {
                let [a, b, c, _] = v4.octets();
                ClientKey::Addr(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, 0)))
            }
            ClientKey::Addr(IpAddr::V6(v6)) => {
                let s = v6.segments();
                ClientKey::Addr(IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0)))
            }
            ClientKey::Unknown => ClientKey::Unknown,
        }
    }
}

/// The lookup portal's three limiters. Cheap to clone (shared).
#[derive(Clone)]
pub struct LookupLimiter {
    limits: Arc<LookupLimits>,
    salt: Arc<[u8; 32]>,
    per_client: Arc<Limiter<ClientKey>>,
    per_id_network: Arc<Limiter<(IdKey, ClientKey)>>,
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
            per_id_network: Arc::new(Limiter::new(limits.per_id_network, limits.max_keys)),
            per_id: Arc::new(Limiter::new(limits.per_id, limits.max_keys)),
            salt: Arc::new(salt),
            limits: Arc::new(limits),
        }
    }

    /// These limits with their buckets in the database, shared with every process on it,
    /// and the database's salt for the per-ID keys (the same person, the same key, in every
    /// process).
    #[must_use]
    pub fn with_shared(self, buckets: &SharedBuckets) -> LookupLimiter {
        let limits = self.limits;
        LookupLimiter {
            per_client: Arc::new(
                Limiter::new(limits.per_client, limits.max_keys)
                    .shared(buckets.clone(), "lookup.client"),
            ),
            per_id_network: Arc::new(
                Limiter::new(limits.per_id_network, limits.max_keys)
                    .shared(buckets.clone(), "lookup.id_network"),
            ),
            per_id: Arc::new(
                Limiter::new(limits.per_id, limits.max_keys).shared(buckets.clone(), "lookup.id"),
            ),
            salt: Arc::new(buckets.salt()),
            limits,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &LookupLimits {
        &self.limits
    }

    /// When the answer to a lookup read at `started` may go out: [`LookupLimits::min_answer_time`]
    /// plus a random jitter of at most [`LookupLimits::answer_jitter`].
    pub fn answer_deadline(&self, started: tokio::time::Instant) -> tokio::time::Instant {
        let jitter_us = u64::try_from(self.limits.answer_jitter.as_micros()).unwrap_or(u64::MAX);
        let extra = if jitter_us == 0 {
            0
        } else {
            OsRng.next_u64() % jitter_us.saturating_add(1)
        };
        started + self.limits.min_answer_time + std::time::Duration::from_micros(extra)
    }

    /// The salted hash of a normalised ID number.
    pub fn id_key(&self, normalised_id: &str) -> IdKey {
        let mut h = Sha256::new();
        h.update(self.salt.as_slice());
        h.update(normalised_id.as_bytes());
        IdKey(h.finalize().into())
    }

    /// Counts one attempt: against the client, then (if the client may) against the ID from
    /// the client's network, then (if that may) against the ID's ceiling.
    ///
    /// # Errors
    /// [`Limited`] with the wait of the limit that refused.
    pub fn check(&self, client: ClientKey, id: &IdKey, now: i64) -> Result<(), Limited> {
        self.per_client.check(&client, now)?;
        self.per_id_network
            .check(&(id.clone(), client.network()), now)?;
        self.per_id.check(id, now)
    }

    /// [`LookupLimiter::check`] on the shared buckets when [`LookupLimiter::with_shared`]
    /// (else the same as `check`).
    ///
    /// # Errors
    /// [`Limited`] with the wait of the limit that refused.
    pub async fn take(&self, client: ClientKey, id: &IdKey, now: i64) -> Result<(), Limited> {
        self.per_client.take(&client, now).await?;
        self.per_id_network
            .take(&(id.clone(), client.network()), now)
            .await?;
        self.per_id.take(id, now).await
    }

    /// Buckets held (client, (ID, network), ID).
    pub fn len(&self) -> (usize, usize, usize) {
        (
            self.per_client.len(),
            self.per_id_network.len(),
            self.per_id.len(),
        )
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
    fn memory_cap_evicts_full_buckets_then_least_recently_used() {
        let l: Limiter<u32> = Limiter::new(Rate::new(2, 1, 10), 3);
        for k in 0..3 {
            l.check(&k, i64::from(k)).unwrap();
        }
        assert_eq!(l.len(), 3);
        // Nothing has refilled: the least recently used (key 0) makes room.
        l.check(&3, 5).unwrap();
        assert_eq!(l.len(), 3);
        // Key 1 and 2 are still limited where they were.
        l.check(&1, 5).unwrap();
        assert!(l.check(&1, 5).is_err());
        // Key 0 was forgotten: a fresh bucket.
        l.check(&0, 6).unwrap();
        l.check(&0, 6).unwrap();
        assert!(l.check(&0, 6).is_err());
        for k in 100..1000 {
            l.check(&k, 10_000 + i64::from(k)).unwrap();
            assert!(l.len() <= 3);
        }
    }

    /// Issue 12, item 9: a spread attack that fills every bucket used to refuse every new ID
    /// (fail closed) until a bucket refilled; now the oldest buckets are evicted and new IDs
    /// are served, with the number of buckets kept within the cap.
    #[test]
    fn lookup_limiter_evicts_instead_of_locking_out() {
        let limits = LookupLimits {
            per_client: Rate::new(1_000_000, 1_000_000, 1),
            max_keys: 1_000,
            ..LookupLimits::default()
        };
        let l = LookupLimiter::new(limits);
        // The attacker: one attempt each on 5,000 IDs from many addresses, all at once.
        for i in 0..5_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            let client = ClientKey::of(IpAddr::V4(ip));
            l.check(client, &l.id_key(&format!("attack{i}")), 100)
                .unwrap();
            let (c, n, d) = l.len();
            assert!(c <= 1_000 && n <= 1_000 && d <= 1_000, "{c} {n} {d}");
        }
        // A holder with a new ID, at the same second: served.
        let holder = ClientKey::of("192.0.2.1".parse().unwrap());
        l.check(holder, &l.id_key("079185012345"), 100).unwrap();
    }

    /// Issue 12, item 9: attempts on an ID from other networks do not use the holder's
    /// bucket; only more than the ceiling's worth would.
    #[test]
    fn foreign_networks_do_not_use_the_holders_bucket() {
        let l = LookupLimiter::default();
        let id = l.id_key("079185012345");
        // Five wrong tries from each of three other /24s: 15 < the ceiling of 20.
        for net in 0..3u8 {
            for host in 0..5u8 {
                let c = ClientKey::of(IpAddr::from([198, 51, net, host]));
                l.check(c, &id, 0).unwrap();
            }
            // The sixth from that network is over its (ID, network) bucket.
            let c = ClientKey::of(IpAddr::from([198, 51, net, 200]));
            assert_eq!(l.check(c, &id, 0).unwrap_err().retry_after_secs, 720);
        }
        let holder = ClientKey::of(IpAddr::from([203, 0, 113, 7]));
        for _ in 0..5 {
            l.check(holder, &id, 0).unwrap();
        }
        // The ceiling: 20 in all; 15 + 5 used.
        let other = ClientKey::of(IpAddr::from([192, 0, 2, 1]));
        assert!(l.check(other, &id, 0).is_err());
    }

    #[test]
    fn networks() {
        let a = ClientKey::of("192.0.2.1".parse().unwrap());
        let b = ClientKey::of("192.0.2.254".parse().unwrap());
        let c = ClientKey::of("192.0.3.1".parse().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.network(), b.network());
        assert_ne!(a.network(), c.network());
        let d = ClientKey::of("2001:db8:1:2::1".parse().unwrap());
        let e = ClientKey::of("2001:db8:1:ffff::1".parse().unwrap());
        assert_eq!(d.network(), e.network());
        assert_eq!(ClientKey::Unknown.network(), ClientKey::Unknown);
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
            per_id_network: Rate::new(2, 1, 60),
            per_id: Rate::new(3, 1, 60),
            ..LookupLimits::default()
        };
        let l = LookupLimiter::new(limits);
        let id = l.id_key("1");
        let c1 = ClientKey::of("192.0.2.1".parse().unwrap());
        let c2 = ClientKey::of("198.51.100.2".parse().unwrap());
        l.check(c1, &id, 0).unwrap();
        l.check(c1, &id, 0).unwrap();
        // c1 is over its limit: the ID is not charged.
        assert!(l.check(c1, &id, 0).is_err());
        l.check(c2, &id, 0).unwrap();
        // The ID's three attempts are used, whichever client.
        assert!(l.check(c2, &id, 0).is_err());
        assert_eq!(l.len(), (2, 2, 1));
    }
}
