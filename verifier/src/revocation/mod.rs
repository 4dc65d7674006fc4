//! Signed revocation lists, checked offline: the model, the native format (CBOR in
//! COSE_Sign1, signed by the trust-list signer), verification against the pinned CSCA, and the
//! in-memory store a verifier consults for every certificate ([`RevocationStore`]).
//!
//! A revoked certificate is named by one of the three EU revocation hashes ([`hash`]): its
//! signature, its UCI, or its country and UCI. Entries are grouped: every entry of a
//! [`Group`] shares the hash type, the country, the DSC (kid) whose certificates it revokes,
//! the reason and the time after which the entries no longer count (the expiry of the
//! certificates they revoke: an expired certificate is refused anyway).
//!
//! A verifier accepts a list only when:
//! 1. the COSE_Sign1 signature verifies under the signer certificate carried in the list, and
//!    that certificate may sign lists for the pinned CSCA (the same rules as the trust list);
//! 2. it was not issued in the future (beyond the clock skew);
//! 3. its sequence is not lower than the cached list's ([`RevocationError::Rollback`]), and an
//!    equal sequence comes with the same content;
//! 4. its entries are strictly ascending and name existing groups.
//!
//! Freshness is **not** a reason to refuse: a list past its expiry plus the grace period still
//! revokes what it names, but can no longer vouch that a certificate is *not* revoked — the
//! store then answers [`RevocationStatus::Unknown`], never a silent "not revoked".
//!
//! ```cddl
//! signed-revocation-list = #6.18([
//!     protected   : bstr .cbor { 1 => -7 / -37, 4 => bstr .size 8 },  ; alg, kid of the signer
//!     unprotected : {},
//!     payload     : bstr .cbor revocation-list,
//!     signature   : bstr
//! ])
//!
//! revocation-list = {
//!     1 => 1,              ; format version
//!     2 => tstr,           ; issuer country, ISO 3166 alpha-2
//!     3 => uint,           ; sequence: strictly increasing with every list signed
//!     4 => int,            ; issued at, Unix seconds
//!     5 => int,            ; expires at, Unix seconds (default issued at + 24 h)
//!     6 => bstr,           ; the signer certificate, DER (the trust-list signer)
//!     7 => [* group],      ; at most 65,536
//!     8 => bstr,           ; the hashes, 16 bytes each, ascending by (hash, group)
//!     9 => bstr,           ; the group of each hash: big-endian u16, 2 bytes each
//! }
//! group = {
//!     1 => 0 / 1 / 2,      ; hash type: SIGNATURE, UCI, COUNTRYCODEUCI
//!     2 => tstr,           ; country of the revoked certificates
//!     3 => bstr / null,    ; kid of the DSC that signed them (null: any DSC)
//!     4 => int,            ; the entries count until then (Unix seconds)
//!     5 => 0 / 1 / 2 / 3,  ; reason: superseded, error, fraud, unspecified
//! }
//! ```
//!
//! Keys 8 and 9 are columns rather than an array of maps: ten million entries are 180 MB on
//! the wire (16 + 2 bytes each), are read without a per-entry CBOR item, and are already in
//! the order the store searches.

pub mod cache;
pub mod delta;
pub mod gateway;
pub mod hash;
mod store;
#[cfg(feature = "trust-list-sync")]
pub mod sync;

use std::fmt;

use sha2::{Digest, Sha256};

pub use hash::{CertificateHashes, HASH_LEN, HashType, RevocationHash};
pub use store::{RevocationStatus, RevocationStore};

use crate::cbor::{self, CborError, Value, Writer};
use crate::cose::{self, CoseError, CoseSign1};
use crate::crypto::{Backend, PreparedKey, SignatureError};
/// What a verifier remembers of the last good list, for rollback protection (the trust
/// list's type: both lists follow the same sequence rules).
pub use crate::trustlist::CacheState;
use crate::trustlist::{
    Fields, NotSuccessor, ParsedCertificate, TrustListError, check_list_signer, human_duration,
};
use crate::{Algorithm, Kid, Timestamp};

/// The format version (payload key 1).
pub const FORMAT_VERSION: u64 = 1;
/// CBOR nesting depth of the format (list → groups → group; margin kept).
pub const MAX_DEPTH: usize = 6;
/// Most groups in one list (the group column is 16 bits).
pub const MAX_GROUPS: usize = 1 << 16;
/// Default cap on a signed list: 256 MiB, about 14.9 million entries.
pub const DEFAULT_MAX_INPUT: usize = 256 * 1024 * 1024;
/// Default lifetime of a list: 24 hours.
pub const DEFAULT_LIFETIME: i64 = 24 * 3600;

/// Why a certificate was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Replaced by a corrected certificate (new UVCI).
    Superseded,
    /// Issued in error; no replacement.
    Error,
    /// Fraudulent.
    Fraud,
    /// Not stated (entries imported from another country's batches).
    Unspecified,
}

impl Reason {
    /// All four, in code order.
    pub const ALL: [Reason; 4] = [
        Self::Superseded,
        Self::Error,
        Self::Fraud,
        Self::Unspecified,
    ];
    /// The list code.
    pub const fn code(self) -> u64 {
        match self {
            Self::Superseded => 0,
            Self::Error => 1,
            Self::Fraud => 2,
            Self::Unspecified => 3,
        }
    }
    /// The reason of a code.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
    /// Lower-case name for reports: `superseded`, `error`, `fraud`, `unspecified`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Superseded => "superseded",
            Self::Error => "error",
            Self::Fraud => "fraud",
            Self::Unspecified => "unspecified",
        }
    }
    /// The reason of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What every entry of a group shares.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group {
    /// What the entries' hashes are computed over.
    pub hash_type: HashType,
    /// Country of the revoked certificates (ISO 3166 alpha-2).
    pub country: String,
    /// The DSC whose certificates the entries revoke (`None`: any).
    pub kid: Option<Kid>,
    /// The entries count until this time (the revoked certificates' expiry).
    pub expires_at: Timestamp,
    /// Why.
    pub reason: Reason,
}

/// A revocation list (the signed payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationList {
    /// Issuer country.
    pub issuer_country: String,
    /// Sequence number.
    pub sequence: u64,
    /// Issued at.
    pub issued_at: Timestamp,
    /// Expires at.
    pub expires_at: Timestamp,
    /// The signer certificate, DER.
    pub signer_certificate_der: Vec<u8>,
    groups: Vec<Group>,
    hashes: Vec<RevocationHash>,
    group_of: Vec<u16>,
}

/// Why a revocation list is refused or cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// Larger than the policy allows.
    #[error("revocation list is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Not a COSE_Sign1.
    #[error("revocation list is not a COSE_Sign1: {0}")]
    Cose(#[from] CoseError),
    /// The payload is not well-formed CBOR.
    #[error("revocation list payload: {0}")]
    Cbor(#[from] CborError),
    /// The payload is CBOR but not a revocation list.
    #[error("revocation list payload: {0}")]
    Format(String),
    /// Another format version.
    #[error("revocation list format version {0} is not supported (expected 1)")]
    Version(u64),
    /// The header algorithm is missing or unknown.
    #[error("revocation list signature algorithm {0:?} is not ES256 or PS256")]
    Algorithm(Option<i64>),
    /// The header kid does not name the signer certificate in the payload.
    #[error("revocation list kid does not match the signer certificate")]
    KidMismatch,
    /// The signature does not verify.
    #[error("revocation list signature: {0}")]
    Signature(#[from] SignatureError),
    /// The signer certificate may not sign lists for the pinned CSCA.
    #[error("revocation list signer: {0}")]
    Signer(TrustListError),
    /// Issued in the future (beyond the allowed clock skew).
    #[error("revocation list issued at {issued_at}, after the clock ({now})")]
    NotYetValid {
        /// Issued at.
        issued_at: Timestamp,
        /// The clock.
        now: Timestamp,
    },
    /// Lower sequence number than the cached list: a rollback.
    #[error(
        "rollback refused: revocation list sequence {received} is lower than the cached {cached}"
    )]
    Rollback {
        /// The cached sequence.
        cached: u64,
        /// The received one.
        received: u64,
    },
    /// Same sequence as the cached list but other content.
    #[error("revocation list sequence {sequence} equals the cached one but the content differs")]
    SequenceReused {
        /// The sequence.
        sequence: u64,
    },
    /// A list offered as new that already expired beyond its grace period (refused by sync:
    /// it could not vouch for anything).
    #[error("revocation list expired at {expires_at}, beyond its grace period (clock {now})")]
    Expired {
        /// Its expiry.
        expires_at: Timestamp,
        /// The clock.
        now: Timestamp,
    },
    /// More groups than the format holds.
    #[error("{count} groups, more than the {MAX_GROUPS} a list holds")]
    TooManyGroups {
        /// How many.
        count: usize,
    },
}

impl RevocationError {
    /// A stable code for reports: `REVOCATION_LIST_FORMAT`, `REVOCATION_LIST_SIGNATURE`,
    /// `REVOCATION_LIST_CHAIN`, `REVOCATION_LIST_NOT_YET_VALID`, `REVOCATION_LIST_EXPIRED`,
    /// `REVOCATION_LIST_ROLLBACK`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. }
            | Self::Cose(_)
            | Self::Cbor(_)
            | Self::Format(_)
            | Self::Version(_)
            | Self::TooManyGroups { .. } => "REVOCATION_LIST_FORMAT",
            Self::Algorithm(_) | Self::KidMismatch | Self::Signature(_) => {
                "REVOCATION_LIST_SIGNATURE"
            }
            Self::Signer(_) => "REVOCATION_LIST_CHAIN",
            Self::NotYetValid { .. } => "REVOCATION_LIST_NOT_YET_VALID",
            Self::Expired { .. } => "REVOCATION_LIST_EXPIRED",
            Self::Rollback { .. } | Self::SequenceReused { .. } => "REVOCATION_LIST_ROLLBACK",
        }
    }
}

fn fmt_err(msg: impl Into<String>) -> RevocationError {
    RevocationError::Format(msg.into())
}

/// The trust list's map reader reports `TrustListError::Format`; here it is ours.
fn from_fields(e: TrustListError) -> RevocationError {
    match e {
        TrustListError::Format(m) => RevocationError::Format(m),
        other => RevocationError::Format(other.to_string()),
    }
}

/// Collects entries and their groups, then sorts them into a [`RevocationList`].
#[derive(Clone, Debug, Default)]
pub struct RevocationListBuilder {
    groups: Vec<Group>,
    group_index: std::collections::HashMap<Group, u16>,
    entries: Vec<(RevocationHash, u16)>,
}

impl RevocationListBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    ///
    /// # Errors
    /// [`RevocationError::TooManyGroups`] when `group` would be group number 65,537.
    pub fn add(&mut self, hash: RevocationHash, group: &Group) -> Result<(), RevocationError> {
        let index = match self.group_index.get(group) {
            Some(i) => *i,
            None => {
                let i = u16::try_from(self.groups.len()).map_err(|_| {
                    RevocationError::TooManyGroups {
                        count: self.groups.len() + 1,
                    }
                })?;
                self.groups.push(group.clone());
                self.group_index.insert(group.clone(), i);
                i
            }
        };
        self.entries.push((hash, index));
        Ok(())
    }

    /// Entries added so far (duplicates included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The list, entries sorted and deduplicated. With `prune_at`, entries whose group expired
    /// by then are left out, fraud entries too unless `keep_fraud`; unused groups are dropped.
    pub fn build(
        self,
        header: ListHeader,
        prune_at: Option<Timestamp>,
        keep_fraud: bool,
    ) -> RevocationList {
        let RevocationListBuilder {
            groups, entries, ..
        } = self;
        let live = |g: &Group| match prune_at {
            None => true,
            Some(at) => {
                g.expires_at.unix_seconds() > at.unix_seconds()
                    || (keep_fraud && g.reason == Reason::Fraud)
            }
        };
        // Groups in a canonical order, so that equal content gives equal bytes.
        let mut order: Vec<usize> = (0..groups.len()).filter(|&i| live(&groups[i])).collect();
        order.sort_by(|&a, &b| groups[a].cmp(&groups[b]));
        let mut renumber = vec![u16::MAX; groups.len()];
        let mut kept_groups = Vec::with_capacity(order.len());
        for (new, &old) in order.iter().enumerate() {
            // `new` < 65,536: there are no more groups than the builder numbered.
            renumber[old] = u16::try_from(new).unwrap_or(u16::MAX);
            kept_groups.push(groups[old].clone());
        }
        let mut kept: Vec<(RevocationHash, u16)> = entries
            .into_iter()
            .filter(|(_, g)| live(&groups[usize::from(*g)]))
            .map(|(h, g)| (h, renumber[usize::from(g)]))
            .collect();
        kept.sort_unstable();
        kept.dedup();
        let mut used = vec![false; kept_groups.len()];
        for (_, g) in &kept {
            used[usize::from(*g)] = true;
        }
        let (hashes, group_of) = kept.into_iter().unzip();
        let mut list = RevocationList {
            issuer_country: header.issuer_country,
            sequence: header.sequence,
            issued_at: header.issued_at,
            expires_at: header.expires_at,
            signer_certificate_der: header.signer_certificate_der,
            groups: kept_groups,
            hashes,
            group_of,
        };
        if used.iter().any(|u| !u) {
            list.drop_unused_groups(&used);
        }
        list
    }
}

/// The list-level fields of a list being built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListHeader {
    /// Issuer country.
    pub issuer_country: String,
    /// Sequence number.
    pub sequence: u64,
    /// Issued at.
    pub issued_at: Timestamp,
    /// Expires at.
    pub expires_at: Timestamp,
    /// The signer certificate, DER.
    pub signer_certificate_der: Vec<u8>,
}

impl RevocationList {
    /// The groups.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the list revokes nothing.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The entries, ascending: each hash with its group.
    pub fn entries(&self) -> impl Iterator<Item = (&RevocationHash, &Group)> + '_ {
        self.hashes
            .iter()
            .zip(&self.group_of)
            .map(|(h, g)| (h, &self.groups[usize::from(*g)]))
    }

    fn drop_unused_groups(&mut self, used: &[bool]) {
        let mut renumber = vec![0u16; used.len()];
        let mut next = 0u16;
        let mut groups = Vec::new();
        for (i, g) in self.groups.drain(..).enumerate() {
            if used[i] {
                renumber[i] = next;
                next = next.saturating_add(1);
                groups.push(g);
            }
        }
        self.groups = groups;
        for g in &mut self.group_of {
            *g = renumber[usize::from(*g)];
        }
    }

    /// The payload CBOR (deterministic: equal lists give equal bytes).
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.map(9);
        w.int(1).value(&Value::Unsigned(FORMAT_VERSION));
        w.int(2).text(&self.issuer_country);
        w.int(3).value(&Value::Unsigned(self.sequence));
        w.int(4).int(self.issued_at.unix_seconds());
        w.int(5).int(self.expires_at.unix_seconds());
        w.int(6).bytes(&self.signer_certificate_der);
        w.int(7).array(self.groups.len());
        for g in &self.groups {
            write_group(&mut w, g);
        }
        let mut column = Vec::with_capacity(self.hashes.len() * HASH_LEN);
        for h in &self.hashes {
            column.extend_from_slice(&h.0);
        }
        w.int(8).bytes(&column);
        drop(column);
        let mut column = Vec::with_capacity(self.group_of.len() * 2);
        for g in &self.group_of {
            column.extend_from_slice(&g.to_be_bytes());
        }
        w.int(9).bytes(&column);
        w.into_bytes()
    }

    /// Parses the payload CBOR and checks its structure: entries strictly ascending, groups
    /// that exist. No signature or freshness check.
    ///
    /// # Errors
    /// [`RevocationError::Cbor`], [`RevocationError::Format`], [`RevocationError::Version`],
    /// [`RevocationError::TooManyGroups`].
    pub fn from_cbor(payload: &[u8]) -> Result<Self, RevocationError> {
        let top = cbor::decode(payload, MAX_DEPTH)?;
        let map = Fields::new(&top, "revocation list", &[1, 2, 3, 4, 5, 6, 7, 8, 9])
            .map_err(from_fields)?;
        let version = map.uint(1).map_err(from_fields)?;
        if version != FORMAT_VERSION {
            return Err(RevocationError::Version(version));
        }
        let groups_v = map
            .get(7)
            .map_err(from_fields)?
            .as_array()
            .ok_or_else(|| fmt_err("key 7 (groups) is not an array"))?;
        if groups_v.len() > MAX_GROUPS {
            return Err(RevocationError::TooManyGroups {
                count: groups_v.len(),
            });
        }
        let mut groups = Vec::with_capacity(groups_v.len());
        for (i, gv) in groups_v.iter().enumerate() {
            groups.push(
                parse_group(gv)
                    .map_err(|e| fmt_err(format!("group #{}: {}", i + 1, format_text(&e))))?,
            );
        }
        let hash_col = map.bytes(8).map_err(from_fields)?;
        let group_col = map.bytes(9).map_err(from_fields)?;
        if hash_col.len() % HASH_LEN != 0 {
            return Err(fmt_err(format!(
                "key 8 (hashes) is {} bytes, not a multiple of {HASH_LEN}",
                hash_col.len()
            )));
        }
        let n = hash_col.len() / HASH_LEN;
        if group_col.len() != n * 2 {
            return Err(fmt_err(format!(
                "key 9 (groups of the entries) is {} bytes for {n} entries (expected {})",
                group_col.len(),
                n * 2
            )));
        }
        let mut hashes = Vec::with_capacity(n);
        for chunk in hash_col.chunks_exact(HASH_LEN) {
            let mut h = [0u8; HASH_LEN];
            h.copy_from_slice(chunk);
            hashes.push(RevocationHash(h));
        }
        let mut group_of = Vec::with_capacity(n);
        for chunk in group_col.chunks_exact(2) {
            let g = u16::from_be_bytes([chunk[0], chunk[1]]);
            if usize::from(g) >= groups.len() {
                return Err(fmt_err(format!(
                    "entry #{} names group {g}, but the list has {}",
                    group_of.len() + 1,
                    groups.len()
                )));
            }
            group_of.push(g);
        }
        for i in 1..n {
            if (hashes[i - 1], group_of[i - 1]) >= (hashes[i], group_of[i]) {
                return Err(fmt_err(format!(
                    "entries #{i} and #{} are not in ascending order (or repeat)",
                    i + 1
                )));
            }
        }
        Ok(RevocationList {
            issuer_country: map.text(2).map_err(from_fields)?.to_owned(),
            sequence: map.uint(3).map_err(from_fields)?,
            issued_at: map.ts(4).map_err(from_fields)?,
            expires_at: map.ts(5).map_err(from_fields)?,
            signer_certificate_der: map.bytes(6).map_err(from_fields)?.to_vec(),
            groups,
            hashes,
            group_of,
        })
    }

    /// Signs the list: a tagged COSE_Sign1 with protected header `{1: alg, 4: kid}`; `sign`
    /// receives the `Sig_structure`. `alg` and `kid` are those of the signer certificate.
    ///
    /// # Errors
    /// Whatever `sign` returns.
    pub fn sign<E>(
        &self,
        alg: Algorithm,
        kid: &Kid,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, E> {
        cose::sign1(alg.cose_id(), kid.as_bytes(), &self.to_cbor(), sign)
    }
}

/// A group as the list (and a delta) writes it.
fn write_group(w: &mut Writer, g: &Group) {
    w.map(5);
    w.int(1).value(&Value::Unsigned(g.hash_type.code()));
    w.int(2).text(&g.country);
    w.int(3);
    match &g.kid {
        Some(kid) => w.bytes(kid.as_bytes()),
        None => w.null(),
    };
    w.int(4).int(g.expires_at.unix_seconds());
    w.int(5).value(&Value::Unsigned(g.reason.code()));
}

fn format_text(e: &RevocationError) -> String {
    match e {
        RevocationError::Format(m) => m.clone(),
        other => other.to_string(),
    }
}

fn parse_group(v: &Value<'_>) -> Result<Group, RevocationError> {
    let m = Fields::new(v, "group", &[1, 2, 3, 4, 5]).map_err(from_fields)?;
    let code = m.uint(1).map_err(from_fields)?;
    let hash_type =
        HashType::from_code(code).ok_or_else(|| fmt_err(format!("unknown hash type {code}")))?;
    let kid =
        match m.get(3).map_err(from_fields)? {
            Value::Null => None,
            other => Some(other.as_bytes().and_then(Kid::from_bytes).ok_or_else(|| {
                fmt_err("key 3 (kid) is neither null nor a kid of 1 to 32 bytes")
            })?),
        };
    let code = m.uint(5).map_err(from_fields)?;
    let reason =
        Reason::from_code(code).ok_or_else(|| fmt_err(format!("unknown reason {code}")))?;
    Ok(Group {
        hash_type,
        country: m.text(2).map_err(from_fields)?.to_owned(),
        kid,
        expires_at: m.ts(4).map_err(from_fields)?,
        reason,
    })
}

/// How lists are judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationPolicy {
    /// How long after its expiry a list still vouches that a certificate is not revoked
    /// (reported as stale), seconds. Default 24 hours. Beyond it the answer for a certificate
    /// the list does not name is [`RevocationStatus::Unknown`].
    pub grace: i64,
    /// How far in the future `issued_at` may lie (clock skew), seconds. Default 5 minutes.
    pub max_clock_skew: i64,
    /// Largest signed list accepted, bytes. Default [`DEFAULT_MAX_INPUT`].
    pub max_input: usize,
}

impl Default for RevocationPolicy {
    fn default() -> Self {
        RevocationPolicy {
            grace: 24 * 3600,
            max_clock_skew: 300,
            max_input: DEFAULT_MAX_INPUT,
        }
    }
}

/// A list's freshness at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Not expired; expires in this many seconds.
    Fresh {
        /// Seconds until expiry.
        expires_in: i64,
    },
    /// Expired, within the grace period: still vouches, shown as stale.
    Stale {
        /// Seconds since expiry.
        expired_for: i64,
    },
    /// Expired beyond the grace period: revokes what it names, vouches for nothing else.
    Expired {
        /// Seconds since expiry.
        expired_for: i64,
    },
}

impl Freshness {
    /// The freshness of a list expiring at `expires_at`, at `now`, with `grace`.
    pub fn at(expires_at: Timestamp, now: Timestamp, grace: i64) -> Freshness {
        let past = now.unix_seconds().saturating_sub(expires_at.unix_seconds());
        if past <= 0 {
            Freshness::Fresh { expires_in: -past }
        } else if past <= grace {
            Freshness::Stale { expired_for: past }
        } else {
            Freshness::Expired { expired_for: past }
        }
    }

    /// Stable name for reports: `fresh`, `stale`, `expired`.
    pub fn name(self) -> &'static str {
        match self {
            Freshness::Fresh { .. } => "fresh",
            Freshness::Stale { .. } => "stale",
            Freshness::Expired { .. } => "expired",
        }
    }
}

impl fmt::Display for Freshness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Freshness::Fresh { expires_in } => {
                write!(f, "fresh (expires in {})", human_duration(*expires_in))
            }
            Freshness::Stale { expired_for } => write!(
                f,
                "STALE (expired {} ago; sync the revocation list)",
                human_duration(*expired_for)
            ),
            Freshness::Expired { expired_for } => write!(
                f,
                "EXPIRED {} ago, beyond its grace period: revocation status unknown (sync the revocation list)",
                human_duration(*expired_for)
            ),
        }
    }
}

/// A list whose signature, signer, sequence and structure checked out.
#[derive(Clone, Debug)]
pub struct VerifiedRevocationList {
    list: RevocationList,
    payload_sha256: [u8; 32],
    grace: i64,
}

impl VerifiedRevocationList {
    /// The list.
    pub fn list(&self) -> &RevocationList {
        &self.list
    }
    /// Fresh, stale or expired at `now`.
    pub fn freshness(&self, now: Timestamp) -> Freshness {
        Freshness::at(self.list.expires_at, now, self.grace)
    }
    /// SHA-256 of the payload.
    pub fn payload_sha256(&self) -> [u8; 32] {
        self.payload_sha256
    }
    /// What to remember for the next sync.
    pub fn cache_state(&self) -> CacheState {
        CacheState {
            sequence: self.list.sequence,
            payload_sha256: self.payload_sha256,
        }
    }
    /// The store a verifier consults.
    pub fn into_store(self) -> RevocationStore {
        RevocationStore::new(self.list, self.grace)
    }
}

/// Verifies a signed list at `now` against the pinned CSCA `anchor_csca_der` and the cached
/// list's state, with the default signature backend.
///
/// # Errors
/// [`RevocationError`]: the first failing check.
pub fn verify(
    bytes: &[u8],
    anchor_csca_der: &[u8],
    now: Timestamp,
    cached: Option<&CacheState>,
    policy: &RevocationPolicy,
) -> Result<VerifiedRevocationList, RevocationError> {
    verify_with_backend(
        bytes,
        anchor_csca_der,
        now,
        cached,
        policy,
        Backend::default(),
    )
}

/// As [`verify`], with an explicit signature backend.
///
/// # Errors
/// As [`verify`].
pub fn verify_with_backend(
    bytes: &[u8],
    anchor_csca_der: &[u8],
    now: Timestamp,
    cached: Option<&CacheState>,
    policy: &RevocationPolicy,
    backend: Backend,
) -> Result<VerifiedRevocationList, RevocationError> {
    if bytes.len() > policy.max_input {
        return Err(RevocationError::TooLarge {
            size: bytes.len(),
            max: policy.max_input,
        });
    }
    let cose = CoseSign1::parse(bytes, MAX_DEPTH)?;
    let list = RevocationList::from_cbor(cose.payload)?;

    // 1. Signature by the signer certificate in the payload, which may sign for the anchor.
    let alg_id = cose.protected.alg;
    let alg = alg_id
        .and_then(Algorithm::from_cose_id)
        .ok_or(RevocationError::Algorithm(alg_id))?;
    let signer_kid = Kid::from_certificate_der(&list.signer_certificate_der);
    if cose.protected.kid != Some(signer_kid.as_bytes()) {
        return Err(RevocationError::KidMismatch);
    }
    let signer_err = |e: String| RevocationError::Signer(TrustListError::SignerCertificate(e));
    let signer = ParsedCertificate::parse(&list.signer_certificate_der, "signer certificate")
        .map_err(|e| signer_err(e.to_string()))?;
    let spki = signer.spki_der().map_err(|e| signer_err(e.to_string()))?;
    let key = PreparedKey::from_spki_der(&spki, backend).map_err(|e| signer_err(e.to_string()))?;
    key.verify(alg, &cose.tbs(), cose.signature)?;
    check_list_signer(&signer, anchor_csca_der, now).map_err(RevocationError::Signer)?;

    // 2. Not from the future.
    if list.issued_at.unix_seconds() > now.unix_seconds().saturating_add(policy.max_clock_skew) {
        return Err(RevocationError::NotYetValid {
            issued_at: list.issued_at,
            now,
        });
    }

    // 3. Sequence.
    let payload_sha256: [u8; 32] = Sha256::digest(cose.payload).into();
    if let Some(cached) = cached {
        cached
            .check_successor(list.sequence, &payload_sha256)
            .map_err(|e| match e {
                NotSuccessor::Rollback { cached, received } => {
                    RevocationError::Rollback { cached, received }
                }
                NotSuccessor::Reused { sequence } => RevocationError::SequenceReused { sequence },
            })?;
    }
    Ok(VerifiedRevocationList {
        list,
        payload_sha256,
        grace: policy.grace,
    })
}

#[cfg(test)]
mod tests;
