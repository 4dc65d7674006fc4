//! The verifier's in-memory revocation store: the verified list's sorted hash column with a
//! bucket index over the hashes' leading bits.
//!
//! Revocation hashes are SHA-256 output, so their leading bits are uniform: bucket `b` (the
//! top `bits` bits) holds about four entries, found through `index[b]..index[b + 1]`. A
//! lookup reads one index slot and one short run of adjacent hashes — a cache miss or two —
//! instead of the ~23 scattered probes of a binary search over ten million entries.
//!
//! Memory: 16 bytes (hash) + 2 bytes (group) per entry, and 4 bytes per bucket (one bucket
//! per four entries, rounded down to a power of two): ten million entries hold ~188 MB. The
//! match is exact (whole 16-byte hashes), so the store never answers a false "revoked" of its
//! own; the hashes themselves are 128-bit truncations, as the EU defines them (the chance that
//! an unrevoked certificate's hash equals one of 10^7 listed ones is about 10^7 / 2^128).

use super::{
    CertificateHashes, Freshness, Group, HashType, Reason, RevocationHash, RevocationList,
};
use crate::{Kid, Timestamp};

/// Most index bits (a 16 MiB index).
const MAX_BITS: u32 = 22;

/// The answer for one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevocationStatus {
    /// The list does not name it and vouches for that (fresh, or stale within its grace).
    NotRevoked,
    /// The list names it.
    Revoked {
        /// Why.
        reason: Reason,
        /// The hash that matched.
        hash_type: HashType,
        /// The country of the group that revokes it.
        country: String,
    },
    /// The list does not name it, but it expired beyond its grace period: whether the
    /// certificate was revoked since is unknown.
    Unknown {
        /// Seconds since the list expired.
        expired_for: i64,
    },
}

impl RevocationStatus {
    /// Stable code for reports: `NOT_REVOKED`, `REVOKED`, `REVOCATION_UNKNOWN`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotRevoked => "NOT_REVOKED",
            Self::Revoked { .. } => "REVOKED",
            Self::Unknown { .. } => "REVOCATION_UNKNOWN",
        }
    }
}

/// A verified revocation list, ready for lookups (see the module documentation).
#[derive(Clone, Debug)]
pub struct RevocationStore {
    list: RevocationList,
    grace: i64,
    bits: u32,
    index: Vec<u32>,
}

fn bucket(hash: &RevocationHash, bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    let top = u32::from_be_bytes([hash.0[0], hash.0[1], hash.0[2], hash.0[3]]);
    // bits ≤ MAX_BITS < 32: the shift is in range and the result fits usize.
    (top >> (32 - bits)) as usize
}

impl RevocationStore {
    pub(crate) fn new(list: RevocationList, grace: i64) -> Self {
        let n = list.hashes.len();
        let bits = if n < 8 {
            0
        } else {
            (usize::BITS - 1 - (n / 4).leading_zeros()).min(MAX_BITS)
        };
        let buckets = 1usize << bits;
        let mut index = Vec::with_capacity(buckets + 1);
        index.push(0u32);
        let mut at = 0usize;
        for b in 0..buckets {
            while at < n && bucket(&list.hashes[at], bits) == b {
                at += 1;
            }
            // n ≤ 256 MiB / 16 entries: fits u32.
            index.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        RevocationStore {
            list,
            grace,
            bits,
            index,
        }
    }

    /// The list behind the store.
    pub fn list(&self) -> &RevocationList {
        &self.list
    }

    /// Its sequence.
    pub fn sequence(&self) -> u64 {
        self.list.sequence
    }

    /// Seconds since the list was issued, at `now`.
    pub fn age(&self, now: Timestamp) -> i64 {
        now.unix_seconds()
            .saturating_sub(self.list.issued_at.unix_seconds())
    }

    /// Fresh, stale or expired at `now`.
    pub fn freshness(&self, now: Timestamp) -> Freshness {
        Freshness::at(self.list.expires_at, now, self.grace)
    }

    /// Bytes held by the store's tables (hashes, groups of the entries, index).
    pub fn memory_bytes(&self) -> usize {
        self.list.hashes.capacity() * std::mem::size_of::<RevocationHash>()
            + self.list.group_of.capacity() * 2
            + self.index.capacity() * 4
            + self.list.groups.capacity() * std::mem::size_of::<Group>()
    }

    /// The group of an entry with this hash that applies to a certificate signed by `kid` at
    /// `now` (same hash type, the group's kid absent or equal, not past the group's expiry),
    /// the most severe if several do.
    pub fn lookup(
        &self,
        hash: &RevocationHash,
        hash_type: HashType,
        kid: Option<Kid>,
        now: Timestamp,
    ) -> Option<&Group> {
        let b = bucket(hash, self.bits);
        let (Some(&lo), Some(&hi)) = (self.index.get(b), self.index.get(b + 1)) else {
            return None;
        };
        let run = self.list.hashes.get(lo as usize..hi as usize)?;
        let start = run.partition_point(|h| h < hash);
        let mut best: Option<&Group> = None;
        for (offset, h) in run[start..].iter().enumerate() {
            if h != hash {
                break;
            }
            let g =
                &self.list.groups[usize::from(self.list.group_of[lo as usize + start + offset])];
            let applies = g.hash_type == hash_type
                && g.kid.is_none_or(|k| Some(k) == kid)
                && g.expires_at.unix_seconds() > now.unix_seconds();
            if applies && best.is_none_or(|b| severity(g.reason) > severity(b.reason)) {
                best = Some(g);
            }
        }
        best
    }

    /// The status of a certificate signed by `kid`, with its hashes, at `now`.
    pub fn status(
        &self,
        hashes: &CertificateHashes,
        kid: Option<Kid>,
        now: Timestamp,
    ) -> RevocationStatus {
        let mut best: Option<(&Group, HashType)> = None;
        for t in HashType::ALL {
            let Some(h) = hashes.get(t) else { continue };
            if let Some(g) = self.lookup(&h, t, kid, now) {
                if best.is_none_or(|(b, _)| severity(g.reason) > severity(b.reason)) {
                    best = Some((g, t));
                }
            }
        }
        match (best, self.freshness(now)) {
            (Some((g, t)), _) => RevocationStatus::Revoked {
                reason: g.reason,
                hash_type: t,
                country: g.country.clone(),
            },
            (None, Freshness::Expired { expired_for }) => RevocationStatus::Unknown { expired_for },
            (None, _) => RevocationStatus::NotRevoked,
        }
    }
}

fn severity(r: Reason) -> u8 {
    match r {
        Reason::Fraud => 3,
        Reason::Error => 2,
        Reason::Unspecified => 1,
        Reason::Superseded => 0,
    }
}
