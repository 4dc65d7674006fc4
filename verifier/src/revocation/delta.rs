//! Delta form of a signed revocation list: the entries added and removed since a list the
//! client holds, plus the new list's header, groups, protected header and signature.
//!
//! As for the trust list ([`crate::trustlist::delta`]), a delta is **not trusted by itself**:
//! applying it to the base ([`apply_delta`]) rebuilds the new signed list byte for byte
//! (entries merged and sorted, payload re-encoded by [`RevocationList::to_cbor`], which is
//! deterministic), and the client verifies that list exactly as a downloaded one — signature
//! under the pinned anchor, sequence not rolled back. A wrong or forged delta can only produce
//! bytes whose signature fails; the client then downloads the full list.
//!
//! Removed entries are named by their hash and group (not by a position in the base), so the
//! server can keep, for each earlier list, only what changed since ([`ListDiff`], composed
//! with [`ListDiff::then`]) instead of every earlier list.
//!
//! ```cddl
//! revocation-list-delta = {
//!     1 => 1,              ; delta format version
//!     2 => uint,           ; base sequence (the client's cached list)
//!     3 => bstr .size 32,  ; SHA-256 of the base payload
//!     4 => bstr,           ; protected header of the new signed list
//!     5 => bstr,           ; signature of the new signed list
//!     6 => tstr,           ; new list: issuer country
//!     7 => uint,           ; new list: sequence
//!     8 => int,            ; new list: issued at
//!     9 => int,            ; new list: expires at
//!     10 => bstr,          ; new list: signer certificate, DER
//!     11 => [* group],     ; new list: its groups, in its order
//!     12 => bstr,          ; added entries: hashes, 16 bytes each, ascending
//!     13 => bstr,          ; added entries: their group, big-endian u16 into key 11
//!     14 => [* group],     ; the groups of the removed entries
//!     15 => bstr,          ; removed entries: hashes, 16 bytes each
//!     16 => bstr,          ; removed entries: their group, big-endian u16 into key 14
//! }
//! ```
//!
//! Served as `application/vnd.vaxpass.revocation-delta+cbor`. An added entry costs 18 bytes:
//! 10,000 new revocations are about 180 kB, whatever the size of the list.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use super::{
    Group, HASH_LEN, MAX_DEPTH, MAX_GROUPS, RevocationError, RevocationHash, RevocationList,
    fmt_err, from_fields, parse_group, write_group,
};
use crate::cbor::{self, Value, Writer};
use crate::cose::{CoseSign1, TAG_COSE_SIGN1};
use crate::trustlist::Fields;

/// The media type of a delta.
pub const DELTA_CONTENT_TYPE: &str = "application/vnd.vaxpass.revocation-delta+cbor";
/// The delta format version.
pub const DELTA_VERSION: u64 = 1;

/// One entry: its hash and its group.
pub type Entry = (RevocationHash, Group);

/// What changed between two lists: the entries added and those removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListDiff {
    added: BTreeSet<Entry>,
    removed: BTreeSet<Entry>,
}

fn sorted(l: &RevocationList) -> Vec<(&RevocationHash, &Group)> {
    let mut v: Vec<_> = l.entries().collect();
    v.sort_unstable();
    v
}

/// Whether the list's groups are in canonical order (as [`super::RevocationListBuilder`]
/// builds them): its entries are then ascending by hash and group.
fn canonical(list: &RevocationList) -> bool {
    list.groups.windows(2).all(|w| w[0] < w[1])
}

fn merge<'a>(
    mut a: impl Iterator<Item = (&'a RevocationHash, &'a Group)>,
    mut b: impl Iterator<Item = (&'a RevocationHash, &'a Group)>,
) -> ListDiff {
    let mut diff = ListDiff::default();
    let (mut x, mut y) = (a.next(), b.next());
    loop {
        match (x, y) {
            (None, None) => break,
            (Some(p), Some(q)) if p == q => {
                x = a.next();
                y = b.next();
            }
            (Some(p), Some(q)) if p < q => {
                diff.removed.insert((*p.0, p.1.clone()));
                x = a.next();
            }
            (Some(p), None) => {
                diff.removed.insert((*p.0, p.1.clone()));
                x = a.next();
            }
            (_, Some(q)) => {
                diff.added.insert((*q.0, q.1.clone()));
                y = b.next();
            }
        }
    }
    diff
}

impl ListDiff {
    /// The entries of `new` not in `old` (added) and of `old` not in `new` (removed). Lists
    /// as built are compared in one pass, without copying them.
    pub fn between(old: &RevocationList, new: &RevocationList) -> ListDiff {
        if canonical(old) && canonical(new) {
            merge(old.entries(), new.entries())
        } else {
            let (a, b) = (sorted(old), sorted(new));
            merge(a.into_iter(), b.into_iter())
        }
    }

    /// The change from the list before `self` to the list after `next` (`next` follows
    /// `self`): an entry added then removed, or removed then added back, is no change.
    #[must_use]
    pub fn then(&self, next: &ListDiff) -> ListDiff {
        let added = self
            .added
            .difference(&next.removed)
            .chain(next.added.difference(&self.removed))
            .cloned()
            .collect();
        let removed = self
            .removed
            .difference(&next.added)
            .chain(next.removed.difference(&self.added))
            .cloned()
            .collect();
        ListDiff { added, removed }
    }

    /// Entries added.
    pub fn added(&self) -> impl Iterator<Item = &Entry> {
        self.added.iter()
    }

    /// Entries removed.
    pub fn removed(&self) -> impl Iterator<Item = &Entry> {
        self.removed.iter()
    }

    /// Entries added and removed.
    pub fn len(&self) -> usize {
        self.added.len() + self.removed.len()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// SHA-256 of a signed list's payload (what a delta names its base by).
///
/// # Errors
/// [`RevocationError::Cose`] when `signed` is not a COSE_Sign1.
pub fn payload_sha256(signed: &[u8]) -> Result<[u8; 32], RevocationError> {
    let cose = CoseSign1::parse(signed, MAX_DEPTH)?;
    Ok(Sha256::digest(cose.payload).into())
}

/// Writes `entries` as a groups array, a hash column and a group column under keys `k`,
/// `k + 1`, `k + 2`; `groups` given: the entries' groups are indexes into it.
fn write_entries(
    w: &mut Writer,
    k: i64,
    entries: &BTreeSet<Entry>,
    groups: Option<&[Group]>,
) -> Result<(), RevocationError> {
    let own: Vec<Group>;
    let groups = match groups {
        Some(g) => g,
        None => {
            let set: BTreeSet<&Group> = entries.iter().map(|(_, g)| g).collect();
            own = set.into_iter().cloned().collect();
            if own.len() > MAX_GROUPS {
                return Err(RevocationError::TooManyGroups { count: own.len() });
            }
            w.int(k).array(own.len());
            for g in &own {
                write_group(w, g);
            }
            &own
        }
    };
    let index: HashMap<&Group, u16> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g, u16::try_from(i).unwrap_or(u16::MAX)))
        .collect();
    let mut hashes = Vec::with_capacity(entries.len() * HASH_LEN);
    let mut of = Vec::with_capacity(entries.len() * 2);
    for (h, g) in entries {
        let i = index
            .get(g)
            .ok_or_else(|| fmt_err("delta: an added entry's group is not in the new list"))?;
        hashes.extend_from_slice(&h.0);
        of.extend_from_slice(&i.to_be_bytes());
    }
    w.int(k + 1).bytes(&hashes);
    w.int(k + 2).bytes(&of);
    Ok(())
}

/// The delta that turns the list `base_sequence` (payload SHA-256 `base_payload_sha256`) into
/// `new_signed` — the signed form of `new` — given what changed between them (`diff`). `new`
/// is not parsed again from `new_signed` (a publisher holds it): a `new` that is not what was
/// signed gives a delta whose rebuilt list fails its signature check at the client.
///
/// # Errors
/// [`RevocationError::Cose`] when `new_signed` is not a COSE_Sign1; [`RevocationError::Format`]
/// when an added entry's group is not one of `new`'s (`diff` is not a diff to this list).
pub fn make_delta(
    base_sequence: u64,
    base_payload_sha256: &[u8; 32],
    new_signed: &[u8],
    new: &RevocationList,
    diff: &ListDiff,
) -> Result<Vec<u8>, RevocationError> {
    let cose = CoseSign1::parse(new_signed, MAX_DEPTH)?;
    let mut w = Writer::new();
    w.map(16);
    w.int(1).value(&Value::Unsigned(DELTA_VERSION));
    w.int(2).value(&Value::Unsigned(base_sequence));
    w.int(3).bytes(base_payload_sha256);
    w.int(4).bytes(cose.protected_bytes);
    w.int(5).bytes(cose.signature);
    w.int(6).text(&new.issuer_country);
    w.int(7).value(&Value::Unsigned(new.sequence));
    w.int(8).int(new.issued_at.unix_seconds());
    w.int(9).int(new.expires_at.unix_seconds());
    w.int(10).bytes(&new.signer_certificate_der);
    w.int(11).array(new.groups.len());
    for g in &new.groups {
        write_group(&mut w, g);
    }
    write_entries(&mut w, 11, &diff.added, Some(&new.groups))?;
    write_entries(&mut w, 14, &diff.removed, None)?;
    Ok(w.into_bytes())
}

fn parse_groups(v: &Value<'_>, what: &str) -> Result<Vec<Group>, RevocationError> {
    let items = v
        .as_array()
        .ok_or_else(|| fmt_err(format!("delta: {what} is not an array")))?;
    if items.len() > MAX_GROUPS {
        return Err(RevocationError::TooManyGroups { count: items.len() });
    }
    items.iter().map(parse_group).collect()
}

fn parse_entries<'g>(
    hashes: &[u8],
    of: &[u8],
    groups: &'g [Group],
) -> Result<Vec<(RevocationHash, &'g Group, u16)>, RevocationError> {
    if hashes.len() % HASH_LEN != 0 || of.len() * HASH_LEN != hashes.len() * 2 {
        return Err(fmt_err("delta: entry columns of unequal lengths"));
    }
    hashes
        .chunks_exact(HASH_LEN)
        .zip(of.chunks_exact(2))
        .map(|(h, g)| {
            let i = u16::from_be_bytes([g[0], g[1]]);
            let group = groups
                .get(usize::from(i))
                .ok_or_else(|| fmt_err("delta: an entry names a group that does not exist"))?;
            let mut hash = [0u8; HASH_LEN];
            hash.copy_from_slice(h);
            Ok((RevocationHash(hash), group, i))
        })
        .collect()
}

/// Applies a delta to the client's `base_signed` list and returns the rebuilt signed list.
/// **Verify the result** ([`super::verify`]) before using or caching it.
///
/// # Errors
/// [`RevocationError::Format`] when the delta does not fit the base (another sequence or
/// content, a removed entry the base does not hold, a kept entry whose group the new list
/// lacks, an entry twice) or is malformed.
pub fn apply_delta(base_signed: &[u8], delta: &[u8]) -> Result<Vec<u8>, RevocationError> {
    let base_cose = CoseSign1::parse(base_signed, MAX_DEPTH)?;
    let base = RevocationList::from_cbor(base_cose.payload)?;
    let top = cbor::decode(delta, MAX_DEPTH)?;
    let keys: Vec<i64> = (1..=16).collect();
    let m = Fields::new(&top, "revocation list delta", &keys).map_err(from_fields)?;
    if m.uint(1).map_err(from_fields)? != DELTA_VERSION {
        return Err(fmt_err("delta: unsupported version"));
    }
    if m.uint(2).map_err(from_fields)? != base.sequence
        || m.bytes(3).map_err(from_fields)? != &Sha256::digest(base_cose.payload)[..]
    {
        return Err(fmt_err("delta: made for another base list"));
    }
    let groups = parse_groups(m.get(11).map_err(from_fields)?, "key 11")?;
    let removed_groups = parse_groups(m.get(14).map_err(from_fields)?, "key 14")?;
    let added = parse_entries(
        m.bytes(12).map_err(from_fields)?,
        m.bytes(13).map_err(from_fields)?,
        &groups,
    )?;
    let removed = parse_entries(
        m.bytes(15).map_err(from_fields)?,
        m.bytes(16).map_err(from_fields)?,
        &removed_groups,
    )?;
    let mut removed: Vec<(RevocationHash, &Group)> =
        removed.into_iter().map(|(h, g, _)| (h, g)).collect();
    removed.sort_unstable();
    let index: HashMap<&Group, u16> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g, u16::try_from(i).unwrap_or(u16::MAX)))
        .collect();
    let mut entries: Vec<(RevocationHash, u16)> =
        Vec::with_capacity((base.len() + added.len()).saturating_sub(removed.len()));
    let mut dropped = 0usize;
    for (h, g) in base.entries() {
        if removed.binary_search(&(*h, g)).is_ok() {
            dropped += 1;
            continue;
        }
        let i = index
            .get(g)
            .ok_or_else(|| fmt_err("delta: a kept entry's group is not in the new list"))?;
        entries.push((*h, *i));
    }
    if dropped != removed.len() {
        return Err(fmt_err(
            "delta: removes entries the base list does not hold",
        ));
    }
    entries.extend(added.into_iter().map(|(h, _, i)| (h, i)));
    entries.sort_unstable();
    if entries.windows(2).any(|w| w[0] == w[1]) {
        return Err(fmt_err("delta: adds an entry the list already holds"));
    }
    let (hashes, group_of) = entries.into_iter().unzip();
    let list = RevocationList {
        issuer_country: m.text(6).map_err(from_fields)?.to_owned(),
        sequence: m.uint(7).map_err(from_fields)?,
        issued_at: m.ts(8).map_err(from_fields)?,
        expires_at: m.ts(9).map_err(from_fields)?,
        signer_certificate_der: m.bytes(10).map_err(from_fields)?.to_vec(),
        groups,
        hashes,
        group_of,
    };
    let mut w = Writer::new();
    w.tag(TAG_COSE_SIGN1)
        .array(4)
        .bytes(m.bytes(4).map_err(from_fields)?)
        .map(0)
        .bytes(&list.to_cbor())
        .bytes(m.bytes(5).map_err(from_fields)?);
    Ok(w.into_bytes())
}
