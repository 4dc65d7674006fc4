//! Token buckets shared by every `serve` process on one PostgreSQL database (issue 18): a
//! limit kept in each process's memory would let a client that spreads its requests over N
//! replicas have N times the rate. SQLite is the single-node store: its limits stay in the
//! process ([`SharedBuckets::open`] gives `None`).
//!
//! One row of `rate_buckets` a bucket (migration 0008), updated by one statement that refills
//! it by the time elapsed, takes the cost if it is there and says whether it did: no
//! transaction, one round trip, and the row lock of the `INSERT … ON CONFLICT DO UPDATE`
//! serialises concurrent takes on one bucket whichever process sends them. The key of a row is
//! the SHA-256 of a salt (made once, kept in `rate_limit_salt`), the limiter's name and the
//! bucket's key, so that the table lists no ID number, user name or address. Full buckets are
//! the same as no row; rows full again are swept now and then by the takes themselves.
//!
//! Why PostgreSQL rather than Redis: replicas already depend on this database for everything
//! they do (a lookup, a sign-in or a submission cannot be answered without it), so the limits
//! add no new service to run, secure, back up and monitor, and no new way to fail; a take
//! costs one indexed upsert (~0.1 ms on a local server), small beside the request it guards.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::read::{Arg, Reader};
use super::{Backend, DatabaseError, Storage, StorageError};

/// A bucket's shape in the limiter's own units: at most `capacity`, refilled by `per_sec`
/// units a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRate {
    /// Units in a full bucket (at least 1).
    pub capacity: u64,
    /// Units refilled per second (at least 1).
    pub per_sec: u64,
}

/// The outcome of [`SharedBuckets::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The cost was taken.
    pub granted: bool,
    /// Units left in the bucket after the take (or found there, when refused).
    pub level: u64,
}

/// The shared buckets of one database. Cheap to clone.
#[derive(Clone)]
pub struct SharedBuckets {
    reader: Reader,
    salt: Arc<[u8; 32]>,
    takes: Arc<AtomicU64>,
    /// After a take found the database unreachable: the Unix second until which takes fail
    /// at once (the callers fall back to their own buckets), so that an outage costs one
    /// connection timeout every [`OUTAGE_PAUSE_SECS`], not one per limit per request.
    down_until: Arc<AtomicI64>,
}

/// How long takes fail at once after one found the database unreachable.
pub const OUTAGE_PAUSE_SECS: i64 = 5;

impl std::fmt::Debug for SharedBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBuckets").finish_non_exhaustive()
    }
}

/// Every this many takes, the rows full again are deleted.
const SWEEP_EVERY: u64 = 4096;

const SALT_INSERT_SQL: &str =
    "INSERT INTO rate_limit_salt (id, salt) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";
const SALT_SQL: &str = "SELECT salt FROM rate_limit_salt WHERE id = 1";

/// `$1` key, `$2`/`$3`/`$4`/`$5` the row of a new bucket (level, at, full_at, granted), `$6`
/// capacity, `$7` per second, `$8` cost, `$9` seconds from empty to full. The refill is cut at
/// `$9` seconds (a bucket is full by then), so that no product overflows; a clock that steps
/// back refills nothing and leaves `at` where it was.
const TAKE_SQL: &str = "INSERT INTO rate_buckets AS b (key, level, at, full_at, granted) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (key) DO UPDATE SET \
     level = CASE WHEN LEAST($6, b.level + LEAST(GREATEST($3 - b.at, 0), $9) * $7) >= $8 \
         THEN LEAST($6, b.level + LEAST(GREATEST($3 - b.at, 0), $9) * $7) - $8 \
         ELSE LEAST($6, b.level + LEAST(GREATEST($3 - b.at, 0), $9) * $7) END, \
     granted = CASE WHEN LEAST($6, b.level + LEAST(GREATEST($3 - b.at, 0), $9) * $7) >= $8 \
         THEN 1 ELSE 0 END, \
     at = GREATEST(b.at, $3), \
     full_at = GREATEST(b.at, $3) + $9 \
     RETURNING level, granted";

const SWEEP_SQL: &str = "DELETE FROM rate_buckets WHERE full_at < $1";

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SharedBuckets {
    /// The buckets of `storage`'s database on PostgreSQL (making the salt if no process has
    /// yet); `None` on SQLite.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Unavailable`].
    pub async fn open(storage: &Storage) -> Result<Option<SharedBuckets>, StorageError> {
        if storage.backend() != Backend::Postgres {
            return Ok(None);
        }
        let reader = storage.reader.clone();
        let mut fresh = [0u8; 32];
        OsRng.fill_bytes(&mut fresh);
        let fresh = hex::encode(fresh);
        reader
            .first(SALT_INSERT_SQL, &[Arg::Text(&fresh)], |_| Ok(()))
            .await?;
        let text = reader.one(SALT_SQL, &[], |row| row.text("salt")).await?;
        let bytes = hex::decode(text.trim()).map_err(|_| StorageError::Corrupt {
            what: "rate-limit salt",
        })?;
        let salt: [u8; 32] = bytes.try_into().map_err(|_| StorageError::Corrupt {
            what: "rate-limit salt",
        })?;
        Ok(Some(SharedBuckets {
            reader,
            salt: Arc::new(salt),
            takes: Arc::default(),
            down_until: Arc::default(),
        }))
    }

    /// The salt every process shares: limiters that hash keys themselves (an ID number) use
    /// it, so that one person's key is the same in every process.
    pub fn salt(&self) -> [u8; 32] {
        *self.salt
    }

    /// Takes `cost` units from the bucket `key` of `limiter` at `now` (Unix seconds), all or
    /// nothing; a new bucket starts full.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Unavailable`] (also at once, without
    /// asking, for [`OUTAGE_PAUSE_SECS`] after a take found the database unreachable).
    pub async fn take(
        &self,
        limiter: &str,
        key: &[u8],
        rate: BucketRate,
        cost: u64,
        now: i64,
    ) -> Result<Taken, StorageError> {
        let capacity = rate.capacity.max(1);
        let per_sec = rate.per_sec.max(1);
        let refill_secs = capacity.div_ceil(per_sec);
        let mut h = Sha256::new();
        h.update(self.salt.as_slice());
        h.update((limiter.len() as u64).to_be_bytes());
        h.update(limiter.as_bytes());
        h.update(key);
        let row_key = hex::encode(h.finalize());
        let (level, granted) = if cost <= capacity {
            (capacity - cost, 1)
        } else {
            (capacity, 0)
        };
        let args = [
            Arg::Text(&row_key),
            Arg::Int(int(level)),
            Arg::Int(now),
            Arg::Int(now.saturating_add(int(refill_secs))),
            Arg::Int(granted),
            Arg::Int(int(capacity)),
            Arg::Int(int(per_sec)),
            Arg::Int(int(cost)),
            Arg::Int(int(refill_secs)),
        ];
        let system_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if system_now < self.down_until.load(Ordering::Relaxed) {
            return Err(StorageError::Unavailable(DatabaseError::other(
                "the database was unreachable a moment ago",
            )));
        }
        let taken = self
            .reader
            .one(TAKE_SQL, &args, |row| {
                Ok((row.int("level")?, row.int("granted")?))
            })
            .await;
        let (level, granted) = match taken {
            Ok(t) => t,
            Err(e) => {
                if matches!(e, StorageError::Unavailable(_)) {
                    self.down_until
                        .store(system_now + OUTAGE_PAUSE_SECS, Ordering::Relaxed);
                }
                return Err(e);
            }
        };
        if self.takes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.reader
                .first(SWEEP_SQL, &[Arg::Int(now)], |_| Ok(()))
                .await?;
        }
        Ok(Taken {
            granted: granted == 1,
            level: u64::try_from(level).unwrap_or(0),
        })
    }
}
