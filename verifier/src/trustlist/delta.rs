//! Delta form of a signed list: the new list expressed against a base list the client already
//! holds, so that an unchanged entry costs one small integer instead of its certificate.
//!
//! A delta is **not signed by itself** and needs no trust: applying it to the base
//! reconstructs, byte for byte, the new signed list (same protected header, same signature,
//! payload re-encoded deterministically by [`TrustList::to_cbor`]), which the client then
//! verifies exactly like a downloaded full list. A wrong or malicious delta can only produce
//! bytes whose signature fails; the client then falls back to the full list.
//!
//! ```cddl
//! trust-list-delta = {
//!     1 => 1,                    ; delta format version
//!     2 => uint,                 ; base sequence (the client's cached list)
//!     3 => bstr .size 32,        ; SHA-256 of the base payload
//!     4 => bstr,                 ; protected header of the new signed list
//!     5 => bstr,                 ; signature of the new signed list
//!     6 => tstr,                 ; new list: issuer country
//!     7 => uint,                 ; new list: sequence
//!     8 => int,                  ; new list: issued at
//!     9 => int,                  ; new list: expires at
//!     10 => bstr,                ; new list: signer certificate, DER
//!     11 => [* (uint / entry)],  ; new entries in order: an index into the base list's
//!                                ; entries (kept) or a full entry (added); removed entries
//!                                ; are simply not referenced
//! }
//! ```
//!
//! Served as `application/vnd.vaxpass.trust-list-delta+cbor` (see the publisher's HTTP module);
//! the reconstructed list is `#6.18([protected, {}, payload, signature])`.

use sha2::{Digest, Sha256};

use super::{
    Entry, Fields, MAX_DEPTH, TrustList, TrustListError, fmt_err, parse_entry, write_entry,
};
use crate::cbor::{self, Value, Writer};
use crate::cose::{CoseSign1, TAG_COSE_SIGN1};

/// The media type of a delta.
pub const DELTA_CONTENT_TYPE: &str = "application/vnd.vaxpass.trust-list-delta+cbor";
/// The delta format version.
pub const DELTA_VERSION: u64 = 1;

fn assemble(protected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.tag(TAG_COSE_SIGN1)
        .array(4)
        .bytes(protected)
        .map(0)
        .bytes(payload)
        .bytes(signature);
    w.into_bytes()
}

/// The delta that turns `base_signed` into `new_signed`, or `None` when `new_signed` cannot be
/// reconstructed from a delta (a list encoded by another implementation, a non-empty unprotected
/// header): the full list must then be sent.
///
/// # Errors
/// Format errors of either list.
pub fn make_delta(
    base_signed: &[u8],
    new_signed: &[u8],
) -> Result<Option<Vec<u8>>, TrustListError> {
    let base_cose = CoseSign1::parse(base_signed, MAX_DEPTH)?;
    let base = TrustList::from_cbor(base_cose.payload)?;
    let new_cose = CoseSign1::parse(new_signed, MAX_DEPTH)?;
    let new = TrustList::from_cbor(new_cose.payload)?;
    let mut used = vec![false; base.entries.len()];
    let mut w = Writer::new();
    w.map(11);
    w.int(1).value(&Value::Unsigned(DELTA_VERSION));
    w.int(2).value(&Value::Unsigned(base.sequence));
    w.int(3).bytes(&Sha256::digest(base_cose.payload));
    w.int(4).bytes(new_cose.protected_bytes);
    w.int(5).bytes(new_cose.signature);
    w.int(6).text(&new.issuer_country);
    w.int(7).value(&Value::Unsigned(new.sequence));
    w.int(8).int(new.issued_at.unix_seconds());
    w.int(9).int(new.expires_at.unix_seconds());
    w.int(10).bytes(&new.signer_certificate_der);
    w.int(11).array(new.entries.len());
    for e in &new.entries {
        let kept = base
            .entries
            .iter()
            .enumerate()
            .position(|(i, b)| !used[i] && b == e);
        match kept {
            Some(i) => {
                used[i] = true;
                w.value(&Value::Unsigned(i as u64));
            }
            None => write_entry(&mut w, e),
        }
    }
    let delta = w.into_bytes();
    // Offer the delta only if it reproduces the signed bytes exactly.
    Ok(match apply_delta(base_signed, &delta) {
        Ok(rebuilt) if rebuilt == new_signed => Some(delta),
        _ => None,
    })
}

/// Applies a delta to the client's `base_signed` list and returns the reconstructed signed list.
/// **Verify the result** ([`super::verify`]) before using or caching it.
///
/// # Errors
/// [`TrustListError::Format`] when the delta does not fit the base (other sequence or content,
/// index out of range) or is malformed.
pub fn apply_delta(base_signed: &[u8], delta: &[u8]) -> Result<Vec<u8>, TrustListError> {
    let base_cose = CoseSign1::parse(base_signed, MAX_DEPTH)?;
    let base = TrustList::from_cbor(base_cose.payload)?;
    let top = cbor::decode(delta, MAX_DEPTH)?;
    let m = Fields::new(&top, "delta", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])?;
    if m.uint(1)? != DELTA_VERSION {
        return Err(fmt_err("delta: unsupported version"));
    }
    if m.uint(2)? != base.sequence || m.bytes(3)? != &Sha256::digest(base_cose.payload)[..] {
        return Err(fmt_err("delta: made for another base list"));
    }
    let ops = m
        .get(11)?
        .as_array()
        .ok_or_else(|| fmt_err("delta: key 11 is not an array"))?;
    let mut entries: Vec<Entry> = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Value::Unsigned(i) => {
                let e = usize::try_from(*i)
                    .ok()
                    .and_then(|i| base.entries.get(i))
                    .ok_or_else(|| fmt_err("delta: entry index out of range"))?;
                entries.push(e.clone());
            }
            other => entries.push(parse_entry(other)?),
        }
    }
    let list = TrustList {
        issuer_country: m.text(6)?.to_owned(),
        sequence: m.uint(7)?,
        issued_at: m.ts(8)?,
        expires_at: m.ts(9)?,
        signer_certificate_der: m.bytes(10)?.to_vec(),
        entries,
    };
    Ok(assemble(m.bytes(4)?, &list.to_cbor(), m.bytes(5)?))
}
