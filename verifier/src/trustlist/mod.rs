//! Signed trust lists: the model, the native format (CBOR in COSE_Sign1), verification against a
//! pinned CSCA, a JSON rendition for people, and the verifier's offline cache.
//!
//! A trust list is published by a country (the *issuer*) and signed by its **trust-list signer**,
//! a certificate issued by the country's CSCA. A verifier pins that CSCA (the *anchor*) and
//! accepts a list only when:
//! 1. the COSE_Sign1 signature verifies under the signer certificate carried in the list;
//! 2. the signer certificate was issued by the anchor (X.509 signature, issuer name), is valid
//!    now, is not a CA and carries no HCERT extended key usage (so a DSC can never sign a list);
//! 3. the list is not expired — within the policy's grace period it is accepted but reported as
//!    [`Freshness::Stale`]; beyond it, refused;
//! 4. its sequence number is not lower than the cached list's ([`TrustListError::Rollback`]), and
//!    an equal sequence comes with the same content;
//! 5. every entry's DSC chains to its anchor: the pinned CSCA for national entries, the foreign
//!    CSCA carried in the entry for imported ones; entries imported *without* a CSCA are flagged
//!    ([`EntryAnchor::DangerousUnanchored`]) and can be refused by policy.
//!
//! ```
//! use vaxpass_verifier::trustlist::{TrustList, TrustListError, TrustListPolicy, verify};
//! use vaxpass_verifier::Timestamp;
//!
//! let now = Timestamp::from_unix_seconds(1_767_225_600);
//! // Garbage is refused with a typed error, never a panic.
//! let err = verify(b"\xd2\x84", b"not a CSCA", now, None, &TrustListPolicy::default()).unwrap_err();
//! assert!(matches!(err, TrustListError::Cose(_)));
//! ```
//!
//! # Native format
//!
//! The signed list is a tagged COSE_Sign1 (RFC 9052 §4.2) whose payload is the CBOR list.
//! Every map and array has a definite length; integers use their shortest form (the output of
//! [`TrustList::to_cbor`] is deterministic, RFC 8949 §4.2.1, apart from key order which is the
//! numeric order below).
//!
//! ```cddl
//! signed-trust-list = #6.18([
//!     protected   : bstr .cbor { 1 => -7 / -37,     ; alg: ES256 or PS256 (the signer's key)
//!                                4 => bstr .size 8 }, ; kid: SHA-256(signer certificate DER)[0..8]
//!     unprotected : {},
//!     payload     : bstr .cbor trust-list,
//!     signature   : bstr                            ; ES256 raw r||s (64 bytes) / PS256 (salt 32)
//! ])
//! ; signed over Sig_structure = ["Signature1", protected, h'', payload] (RFC 9052 §4.4)
//!
//! trust-list = {
//!     1 => 1,                ; format version
//!     2 => tstr,             ; issuer country, ISO 3166 alpha-2 ("VN")
//!     3 => uint,             ; sequence: strictly increasing with every list the issuer signs
//!     4 => int,              ; issued at, Unix seconds
//!     5 => int,              ; expires at, Unix seconds (default: issued at + 48 h)
//!     6 => bstr,             ; the trust-list signer certificate, DER (issued by the CSCA)
//!     7 => [* entry],        ; several entries may share a kid
//! }
//! entry = {
//!     1 => bstr,             ; kid: SHA-256(certificate DER)[0..8]
//!     2 => tstr,             ; country the DSC signs for
//!     3 => bstr,             ; the DSC, DER
//!     4 => null / [* ("v" / "t" / "r")],  ; key usage: null = no HCERT EKU (every type)
//!     5 => int,              ; DSC notBefore, Unix seconds
//!     6 => int,              ; DSC notAfter, Unix seconds
//!     7 => 0 / 1 / 2,        ; anchor: 0 national (chains to the pinned CSCA),
//!                            ;         1 foreign (chains to the CSCA in key 8),
//!                            ;         2 DANGEROUS: imported without any CSCA check
//!     ? 8 => bstr,           ; the foreign CSCA, DER (present iff 7 is 1)
//! }
//! ```
//!
//! The signer certificate travels **inside the payload** (key 6), not in an `x5chain` header:
//! it is then covered by the signature and the whole list is one self-contained CBOR item.
//! Keys 1, 3, 5, 6 of an entry are redundant with the certificate and checked against it; a
//! mismatch refuses the list. Unknown keys are refused (a new version changes key 1).
//!
//! Decoding is bounded: [`TrustListPolicy::max_input`] (16 MiB by default) and a CBOR nesting
//! depth of 8.
//!
//! The JSON rendition ([`json`]) is for people and other implementers; it is not signed and a
//! verifier must never trust it.

pub mod cache;
pub mod delta;
pub mod json;
#[cfg(feature = "trust-list-sync")]
pub mod sync;
pub mod x509;

use std::fmt;

use sha2::{Digest, Sha256};

use crate::cbor::{self, CborError, Value, Writer};
use crate::cose::{self, CoseError, CoseSign1};
use crate::crypto::{Backend, PreparedKey, SignatureError};
use crate::model::CertificateType;
use crate::trust::{CertificateError, TrustStore, TrustedSigner};
use crate::{Algorithm, KeyUsage, Kid, Timestamp};

pub use x509::{ChainError, ParsedCertificate};

/// The format version this module reads and writes (payload key 1).
pub const FORMAT_VERSION: u64 = 1;
/// CBOR nesting depth of the format (list → entries → entry → key usage = 4; margin kept).
pub const MAX_DEPTH: usize = 8;
/// Default cap on the signed list's size.
pub const DEFAULT_MAX_INPUT: usize = 16 * 1024 * 1024;
/// Default lifetime of a list: 48 hours.
pub const DEFAULT_LIFETIME: i64 = 48 * 3600;

/// Where an entry's DSC must chain to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryAnchor {
    /// The issuer's own CSCA: the anchor the verifier pins.
    National,
    /// A foreign CSCA (DER), imported from the EU gateway after checking the DSC chains to it;
    /// the verifier checks the chain again.
    Foreign {
        /// The foreign CSCA certificate, DER.
        csca_der: Vec<u8>,
    },
    /// Imported WITHOUT any CSCA check (the public conformance DSCs ship without CSCAs).
    /// Trusted only because the issuer's signer says so; flagged everywhere.
    DangerousUnanchored,
}

impl EntryAnchor {
    fn code(&self) -> u64 {
        match self {
            EntryAnchor::National => 0,
            EntryAnchor::Foreign { .. } => 1,
            EntryAnchor::DangerousUnanchored => 2,
        }
    }

    /// `national`, `foreign-csca` or `DANGEROUS-unanchored`.
    pub fn name(&self) -> &'static str {
        match self {
            EntryAnchor::National => "national",
            EntryAnchor::Foreign { .. } => "foreign-csca",
            EntryAnchor::DangerousUnanchored => "DANGEROUS-unanchored",
        }
    }
}

/// One trusted document signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Key identifier (first 8 bytes of SHA-256 over the DER).
    pub kid: Kid,
    /// Country the DSC signs for (ISO 3166 alpha-2; the EU gateway's country for imports).
    pub country: String,
    /// The DSC, DER.
    pub certificate_der: Vec<u8>,
    /// The certificate types the DSC may sign (from its extended key usage).
    pub key_usage: KeyUsage,
    /// DSC notBefore.
    pub not_before: Timestamp,
    /// DSC notAfter.
    pub not_after: Timestamp,
    /// What the DSC chains to.
    pub anchor: EntryAnchor,
}

impl Entry {
    /// An entry for a DSC, its fields read from the certificate. `country` defaults to the
    /// certificate's subject `C`.
    ///
    /// # Errors
    /// [`CertificateError`] when the DER is not a usable DSC, or (of kind `Der`) when no
    /// country is given or found.
    pub fn from_certificate(
        der: &[u8],
        country: Option<&str>,
        anchor: EntryAnchor,
    ) -> Result<Self, CertificateError> {
        let signer = TrustedSigner::from_der_with(der, Backend::RustCrypto)?;
        let country = match country.or(signer.country()) {
            Some(c) => c.to_owned(),
            None => {
                return Err(crate::trust::CertificateErrorKind::Der(
                    "the certificate has no country (C) and none was given".into(),
                )
                .into());
            }
        };
        Ok(Entry {
            kid: signer.kid(),
            country,
            certificate_der: der.to_vec(),
            key_usage: signer.key_usage(),
            not_before: signer.not_before(),
            not_after: signer.not_after(),
            anchor,
        })
    }

    /// SHA-256 of the DER, lower-case hex (the EU gateway's `thumbprint`).
    pub fn thumbprint(&self) -> String {
        hex_lower(&Sha256::digest(&self.certificate_der))
    }
}

/// A trust list (unsigned model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustList {
    /// Issuer country (ISO 3166 alpha-2).
    pub issuer_country: String,
    /// Monotonic sequence number.
    pub sequence: u64,
    /// Issued at.
    pub issued_at: Timestamp,
    /// Expires at.
    pub expires_at: Timestamp,
    /// The trusted DSCs (several may share a kid).
    pub entries: Vec<Entry>,
    /// The trust-list signer certificate, DER.
    pub signer_certificate_der: Vec<u8>,
}

/// What is wrong with one entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The DSC is not a usable certificate.
    #[error("{0}")]
    Certificate(#[from] CertificateError),
    /// A field of the entry disagrees with the certificate.
    #[error("field {field} disagrees with the certificate")]
    Mismatch {
        /// Which field.
        field: &'static str,
    },
    /// The DSC does not chain to its anchor.
    #[error("DSC does not chain to its CSCA: {0}")]
    Chain(#[from] ChainError),
    /// A national DSC is a CA certificate.
    #[error("the DSC is a CA certificate")]
    IsCa,
}

/// Why a trust list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustListError {
    /// Larger than the policy allows.
    #[error("trust list is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Not a COSE_Sign1.
    #[error("trust list is not a COSE_Sign1: {0}")]
    Cose(#[from] CoseError),
    /// The payload is not well-formed CBOR.
    #[error("trust list payload: {0}")]
    Cbor(#[from] CborError),
    /// The payload is CBOR but not a trust list.
    #[error("trust list payload: {0}")]
    Format(String),
    /// Another format version.
    #[error("trust list format version {0} is not supported (expected 1)")]
    Version(u64),
    /// The header algorithm is missing or unknown.
    #[error("trust list signature algorithm {0:?} is not ES256 or PS256")]
    Algorithm(Option<i64>),
    /// The header kid does not name the signer certificate in the payload.
    #[error("trust list kid does not match the signer certificate")]
    KidMismatch,
    /// The signer certificate's key cannot verify.
    #[error("trust-list signer certificate: {0}")]
    SignerCertificate(String),
    /// The signature does not verify.
    #[error("trust list signature: {0}")]
    Signature(#[from] SignatureError),
    /// The pinned anchor is not usable (not a CA, malformed, expired).
    #[error("pinned CSCA: {0}")]
    Anchor(ChainError),
    /// The signer certificate is not issued by the pinned anchor.
    #[error("trust-list signer is not issued by the pinned CSCA: {0}")]
    SignerNotChained(ChainError),
    /// The signer certificate (or the anchor) is outside its validity period.
    #[error("trust-list signer certificate: {0}")]
    SignerNotValid(ChainError),
    /// Expired beyond the grace period.
    #[error(
        "trust list expired at {expires_at}, {} ago, beyond the grace period of {}",
        human_duration(now.unix_seconds() - expires_at.unix_seconds()),
        human_duration(*grace)
    )]
    Expired {
        /// Expiry.
        expires_at: Timestamp,
        /// The clock.
        now: Timestamp,
        /// The grace period, seconds.
        grace: i64,
    },
    /// Issued in the future (beyond the allowed clock skew).
    #[error("trust list issued at {issued_at}, after the clock ({now})")]
    NotYetValid {
        /// Issued at.
        issued_at: Timestamp,
        /// The clock.
        now: Timestamp,
    },
    /// Lower sequence number than the cached list: a rollback.
    #[error("rollback refused: trust list sequence {received} is lower than the cached {cached}")]
    Rollback {
        /// The cached sequence.
        cached: u64,
        /// The received one.
        received: u64,
    },
    /// Same sequence as the cached list but other content.
    #[error("trust list sequence {sequence} equals the cached one but the content differs")]
    SequenceReused {
        /// The sequence.
        sequence: u64,
    },
    /// An entry is wrong.
    #[error("entry #{} (kid {kid}): {error}", index + 1)]
    Entry {
        /// Position (0-based).
        index: usize,
        /// Its kid.
        kid: Kid,
        /// What is wrong.
        error: EntryError,
    },
    /// The policy refuses entries imported without a CSCA.
    #[error("{count} entries were imported without a CSCA check and the policy refuses them")]
    UnanchoredRefused {
        /// How many.
        count: usize,
    },
}

impl TrustListError {
    /// A stable code for reports: `TRUST_LIST_FORMAT`, `TRUST_LIST_SIGNATURE`,
    /// `TRUST_LIST_CHAIN`, `TRUST_LIST_EXPIRED`, `TRUST_LIST_ROLLBACK`, `TRUST_LIST_ENTRY`,
    /// `TRUST_LIST_UNANCHORED`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. }
            | Self::Cose(_)
            | Self::Cbor(_)
            | Self::Format(_)
            | Self::Version(_)
            | Self::Algorithm(_) => "TRUST_LIST_FORMAT",
            Self::KidMismatch | Self::SignerCertificate(_) | Self::Signature(_) => {
                "TRUST_LIST_SIGNATURE"
            }
            Self::Anchor(_) | Self::SignerNotChained(_) | Self::SignerNotValid(_) => {
                "TRUST_LIST_CHAIN"
            }
            Self::Expired { .. } | Self::NotYetValid { .. } => "TRUST_LIST_EXPIRED",
            Self::Rollback { .. } | Self::SequenceReused { .. } => "TRUST_LIST_ROLLBACK",
            Self::Entry { .. } => "TRUST_LIST_ENTRY",
            Self::UnanchoredRefused { .. } => "TRUST_LIST_UNANCHORED",
        }
    }
}

/// `3d 4h`, `2h 5m`, `42s`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let sign = if secs < 0 { "-" } else { "" };
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{sign}{d}d {h}h")
    } else if h > 0 {
        format!("{sign}{h}h {m}m")
    } else if m > 0 {
        format!("{sign}{m}m {}s", s % 60)
    } else {
        format!("{sign}{s}s")
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

fn write_ts(w: &mut Writer, t: Timestamp) {
    w.int(t.unix_seconds());
}

/// One `entry` (see the CDDL).
fn write_entry(w: &mut Writer, e: &Entry) {
    let foreign = matches!(e.anchor, EntryAnchor::Foreign { .. });
    w.map(if foreign { 8 } else { 7 });
    w.int(1).bytes(e.kid.as_bytes());
    w.int(2).text(&e.country);
    w.int(3).bytes(&e.certificate_der);
    w.int(4);
    if e.key_usage.is_restricted() {
        let types = e.key_usage.types();
        w.array(types.len());
        for t in types {
            w.text(t.key());
        }
    } else {
        w.null();
    }
    w.int(5);
    write_ts(w, e.not_before);
    w.int(6);
    write_ts(w, e.not_after);
    w.int(7).value(&Value::Unsigned(e.anchor.code()));
    if let EntryAnchor::Foreign { csca_der } = &e.anchor {
        w.int(8).bytes(csca_der);
    }
}

impl TrustList {
    /// The payload CBOR (see the module documentation).
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.map(7);
        w.int(1).value(&Value::Unsigned(FORMAT_VERSION));
        w.int(2).text(&self.issuer_country);
        w.int(3).value(&Value::Unsigned(self.sequence));
        w.int(4);
        write_ts(&mut w, self.issued_at);
        w.int(5);
        write_ts(&mut w, self.expires_at);
        w.int(6).bytes(&self.signer_certificate_der);
        w.int(7).array(self.entries.len());
        for e in &self.entries {
            write_entry(&mut w, e);
        }
        w.into_bytes()
    }

    /// Parses the payload CBOR. Structure only: no signature, chain or consistency check.
    ///
    /// # Errors
    /// [`TrustListError::Cbor`], [`TrustListError::Format`], [`TrustListError::Version`].
    pub fn from_cbor(payload: &[u8]) -> Result<Self, TrustListError> {
        let top = cbor::decode(payload, MAX_DEPTH)?;
        let map = Fields::new(&top, "trust list", &[1, 2, 3, 4, 5, 6, 7])?;
        let version = map.uint(1)?;
        if version != FORMAT_VERSION {
            return Err(TrustListError::Version(version));
        }
        let entries_v = map
            .get(7)?
            .as_array()
            .ok_or_else(|| fmt_err("key 7 (entries) is not an array"))?;
        let mut entries = Vec::with_capacity(entries_v.len());
        for (i, ev) in entries_v.iter().enumerate() {
            entries.push(parse_entry(ev).map_err(|e| match e {
                TrustListError::Format(m) => fmt_err(&format!("entry #{}: {m}", i + 1)),
                other => other,
            })?);
        }
        Ok(TrustList {
            issuer_country: map.text(2)?.to_owned(),
            sequence: map.uint(3)?,
            issued_at: map.ts(4)?,
            expires_at: map.ts(5)?,
            signer_certificate_der: map.bytes(6)?.to_vec(),
            entries,
        })
    }

    /// Signs the list: a tagged COSE_Sign1 with protected header `{1: alg, 4: kid}`. `sign`
    /// receives the `Sig_structure` (any backend fits: software key, PKCS#11 token). `alg` and
    /// `kid` must be those of [`TrustList::signer_certificate_der`].
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

    /// Entries imported without a CSCA check.
    pub fn unanchored_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.anchor == EntryAnchor::DangerousUnanchored)
            .count()
    }
}

fn fmt_err(msg: &str) -> TrustListError {
    TrustListError::Format(msg.to_owned())
}

/// A CBOR map with small integer keys, checked for unknown and duplicate keys.
pub(crate) struct Fields<'v, 'a> {
    pairs: &'v [(Value<'a>, Value<'a>)],
    what: &'static str,
}

impl<'v, 'a> Fields<'v, 'a> {
    pub(crate) fn new(
        v: &'v Value<'a>,
        what: &'static str,
        allowed: &[i64],
    ) -> Result<Self, TrustListError> {
        let pairs = v
            .as_map()
            .ok_or_else(|| fmt_err(&format!("{what} is not a map")))?;
        let mut seen = Vec::with_capacity(pairs.len());
        for (k, _) in pairs {
            let key = k
                .as_i64()
                .filter(|k| allowed.contains(k))
                .ok_or_else(|| fmt_err(&format!("{what}: unknown key {k:?}")))?;
            if seen.contains(&key) {
                return Err(fmt_err(&format!("{what}: key {key} occurs twice")));
            }
            seen.push(key);
        }
        Ok(Fields { pairs, what })
    }

    pub(crate) fn opt(&self, key: i64) -> Option<&'v Value<'a>> {
        self.pairs
            .iter()
            .find(|(k, _)| k.as_i64() == Some(key))
            .map(|(_, v)| v)
    }

    pub(crate) fn get(&self, key: i64) -> Result<&'v Value<'a>, TrustListError> {
        self.opt(key)
            .ok_or_else(|| fmt_err(&format!("{}: key {key} missing", self.what)))
    }

    fn wrong(&self, key: i64, ty: &str) -> TrustListError {
        fmt_err(&format!("{}: key {key} is not {ty}", self.what))
    }

    pub(crate) fn uint(&self, key: i64) -> Result<u64, TrustListError> {
        match self.get(key)? {
            Value::Unsigned(n) => Ok(*n),
            _ => Err(self.wrong(key, "an unsigned integer")),
        }
    }

    pub(crate) fn ts(&self, key: i64) -> Result<Timestamp, TrustListError> {
        self.get(key)?
            .as_i64()
            .map(Timestamp::from_unix_seconds)
            .ok_or_else(|| self.wrong(key, "an integer timestamp"))
    }

    pub(crate) fn text(&self, key: i64) -> Result<&'a str, TrustListError> {
        match self.get(key)? {
            Value::Text(t) => Ok(t),
            _ => Err(self.wrong(key, "a text string")),
        }
    }

    pub(crate) fn bytes(&self, key: i64) -> Result<&'a [u8], TrustListError> {
        self.get(key)?
            .as_bytes()
            .ok_or_else(|| self.wrong(key, "a byte string"))
    }
}

fn parse_entry(v: &Value<'_>) -> Result<Entry, TrustListError> {
    let m = Fields::new(v, "entry", &[1, 2, 3, 4, 5, 6, 7, 8])?;
    let kid = Kid::from_bytes(m.bytes(1)?).ok_or_else(|| m.wrong(1, "a kid of 1..32 bytes"))?;
    let key_usage = match m.get(4)? {
        Value::Null => KeyUsage::ALL,
        Value::Array(items) => {
            let mut types = Vec::new();
            for item in items {
                let t = match item.as_text() {
                    Some("v") => CertificateType::Vaccination,
                    Some("t") => CertificateType::Test,
                    Some("r") => CertificateType::Recovery,
                    _ => return Err(m.wrong(4, "null or an array of \"v\", \"t\", \"r\"")),
                };
                types.push(t);
            }
            KeyUsage::only(&types)
        }
        _ => return Err(m.wrong(4, "null or an array")),
    };
    let anchor = match (m.uint(7)?, m.opt(8)) {
        (0, None) => EntryAnchor::National,
        (1, Some(Value::Bytes(csca))) => EntryAnchor::Foreign {
            csca_der: csca.to_vec(),
        },
        (2, None) => EntryAnchor::DangerousUnanchored,
        _ => return Err(m.wrong(7, "0, 1 with a CSCA in key 8, or 2")),
    };
    Ok(Entry {
        kid,
        country: m.text(2)?.to_owned(),
        certificate_der: m.bytes(3)?.to_vec(),
        key_usage,
        not_before: m.ts(5)?,
        not_after: m.ts(6)?,
        anchor,
    })
}

/// How lists are judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustListPolicy {
    /// How long after its expiry a list is still accepted (flagged [`Freshness::Stale`]),
    /// in seconds. Default 72 hours.
    pub grace: i64,
    /// How far in the future `issued_at` may lie (clock skew), seconds. Default 5 minutes.
    pub max_clock_skew: i64,
    /// Refuse lists holding entries imported without a CSCA check. Default `false`: such
    /// entries are accepted and flagged.
    pub refuse_unanchored: bool,
    /// Largest signed list accepted, bytes. Default [`DEFAULT_MAX_INPUT`].
    pub max_input: usize,
}

impl Default for TrustListPolicy {
    fn default() -> Self {
        TrustListPolicy {
            grace: 72 * 3600,
            max_clock_skew: 300,
            refuse_unanchored: false,
            max_input: DEFAULT_MAX_INPUT,
        }
    }
}

/// What a verifier remembers of the last good list, for rollback protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheState {
    /// Its sequence.
    pub sequence: u64,
    /// SHA-256 of its payload (the list CBOR; the signature is not included, since ECDSA
    /// signatures differ every time).
    pub payload_sha256: [u8; 32],
}

/// Why a received list may not replace the cached one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotSuccessor {
    /// A lower sequence: a rollback.
    Rollback { cached: u64, received: u64 },
    /// The same sequence with other content.
    Reused { sequence: u64 },
}

impl CacheState {
    /// Checks that a list with `sequence` and payload hash `payload_sha256` may follow this
    /// one (trust lists and revocation lists alike): a higher sequence, or the same list again.
    pub(crate) fn check_successor(
        &self,
        sequence: u64,
        payload_sha256: &[u8; 32],
    ) -> Result<(), NotSuccessor> {
        if sequence < self.sequence {
            return Err(NotSuccessor::Rollback {
                cached: self.sequence,
                received: sequence,
            });
        }
        if sequence == self.sequence && *payload_sha256 != self.payload_sha256 {
            return Err(NotSuccessor::Reused { sequence });
        }
        Ok(())
    }
}

/// Whether the list is within its validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Not expired; expires in this many seconds.
    Fresh {
        /// Seconds until expiry.
        expires_in: i64,
    },
    /// Expired, but within the grace period: usable, and must be shown as stale.
    Stale {
        /// Seconds since expiry.
        expired_for: i64,
    },
}

impl Freshness {
    /// Whether the list is stale.
    pub fn is_stale(self) -> bool {
        matches!(self, Freshness::Stale { .. })
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
                "STALE (expired {} ago; sync the trust list)",
                human_duration(*expired_for)
            ),
        }
    }
}

/// A list whose signature, chain, freshness, sequence and entries checked out.
#[derive(Clone, Debug)]
pub struct VerifiedTrustList {
    list: TrustList,
    payload_sha256: [u8; 32],
    freshness: Freshness,
    age: i64,
    store: TrustStore,
}

impl VerifiedTrustList {
    /// The list.
    pub fn list(&self) -> &TrustList {
        &self.list
    }
    /// Fresh or stale at the verification clock.
    pub fn freshness(&self) -> Freshness {
        self.freshness
    }
    /// Seconds since the list was issued, at the verification clock.
    pub fn age(&self) -> i64 {
        self.age
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
    /// The trusted signers for the verifier (entries sharing a kid are all kept).
    pub fn to_trust_store(&self) -> TrustStore {
        self.store.clone()
    }
    /// The list, consumed.
    pub fn into_list(self) -> TrustList {
        self.list
    }
}

/// Verifies a signed list (see the module documentation for every check) at `now` against
/// the pinned CSCA `anchor_csca_der` and the state of the cached list, if any.
///
/// # Errors
/// [`TrustListError`]: the first failing check.
pub fn verify(
    bytes: &[u8],
    anchor_csca_der: &[u8],
    now: Timestamp,
    cached: Option<&CacheState>,
    policy: &TrustListPolicy,
) -> Result<VerifiedTrustList, TrustListError> {
    verify_with_backend(
        bytes,
        anchor_csca_der,
        now,
        cached,
        policy,
        Backend::default(),
    )
}

/// As [`verify`], with an explicit signature backend for the list and the trust store.
///
/// # Errors
/// As [`verify`].
pub fn verify_with_backend(
    bytes: &[u8],
    anchor_csca_der: &[u8],
    now: Timestamp,
    cached: Option<&CacheState>,
    policy: &TrustListPolicy,
    backend: Backend,
) -> Result<VerifiedTrustList, TrustListError> {
    if bytes.len() > policy.max_input {
        return Err(TrustListError::TooLarge {
            size: bytes.len(),
            max: policy.max_input,
        });
    }
    let cose = CoseSign1::parse(bytes, MAX_DEPTH)?;
    let list = TrustList::from_cbor(cose.payload)?;

    // 1. Signature by the signer certificate named by the protected kid.
    let alg_id = cose.protected.alg;
    let alg = alg_id
        .and_then(Algorithm::from_cose_id)
        .ok_or(TrustListError::Algorithm(alg_id))?;
    let signer_kid = Kid::from_certificate_der(&list.signer_certificate_der);
    if cose.protected.kid != Some(signer_kid.as_bytes()) {
        return Err(TrustListError::KidMismatch);
    }
    let signer = ParsedCertificate::parse(
        &list.signer_certificate_der,
        "trust-list signer certificate",
    )
    .map_err(|e| TrustListError::SignerCertificate(e.to_string()))?;
    let spki = signer
        .spki_der()
        .map_err(|e| TrustListError::SignerCertificate(e.to_string()))?;
    let key = PreparedKey::from_spki_der(&spki, backend)
        .map_err(|e| TrustListError::SignerCertificate(e.to_string()))?;
    key.verify(alg, &cose.tbs(), cose.signature)?;

    // 2. The signer chains to the pinned anchor.
    let anchor = check_list_signer(&signer, anchor_csca_der, now)?;

    // 3. Freshness.
    if list.issued_at.unix_seconds() > now.unix_seconds().saturating_add(policy.max_clock_skew) {
        return Err(TrustListError::NotYetValid {
            issued_at: list.issued_at,
            now,
        });
    }
    let past_expiry = now
        .unix_seconds()
        .saturating_sub(list.expires_at.unix_seconds());
    let freshness = if past_expiry <= 0 {
        Freshness::Fresh {
            expires_in: -past_expiry,
        }
    } else if past_expiry <= policy.grace {
        Freshness::Stale {
            expired_for: past_expiry,
        }
    } else {
        return Err(TrustListError::Expired {
            expires_at: list.expires_at,
            now,
            grace: policy.grace,
        });
    };

    // 4. Sequence.
    let payload_sha256: [u8; 32] = Sha256::digest(cose.payload).into();
    if let Some(cached) = cached {
        cached
            .check_successor(list.sequence, &payload_sha256)
            .map_err(|e| match e {
                NotSuccessor::Rollback { cached, received } => {
                    TrustListError::Rollback { cached, received }
                }
                NotSuccessor::Reused { sequence } => TrustListError::SequenceReused { sequence },
            })?;
    }

    // 5. Entries.
    let unanchored = list.unanchored_count();
    if unanchored > 0 && policy.refuse_unanchored {
        return Err(TrustListError::UnanchoredRefused { count: unanchored });
    }
    let mut store = TrustStore::with_backend(backend);
    let mut foreign_cache: Vec<(&[u8], ParsedCertificate)> = Vec::new();
    for (index, entry) in list.entries.iter().enumerate() {
        let wrap = |error: EntryError| TrustListError::Entry {
            index,
            kid: entry.kid,
            error,
        };
        let ts = TrustedSigner::from_der_with(&entry.certificate_der, backend)
            .map_err(|e| wrap(e.into()))?;
        check_entry_fields(entry, &ts).map_err(wrap)?;
        let dsc =
            ParsedCertificate::parse(&entry.certificate_der, "DSC").map_err(|e| wrap(e.into()))?;
        // Our own DSCs are never CAs; imported ones may be (see the gateway import): the list
        // trusts the key for HCERT signatures only, never as an issuer.
        if dsc.is_ca && entry.anchor == EntryAnchor::National {
            return Err(wrap(EntryError::IsCa));
        }
        match &entry.anchor {
            EntryAnchor::National => dsc.check_issued_by(&anchor).map_err(|e| wrap(e.into()))?,
            EntryAnchor::Foreign { csca_der } => {
                let pos = match foreign_cache.iter().position(|(d, _)| *d == &csca_der[..]) {
                    Some(p) => p,
                    None => {
                        let ca = ParsedCertificate::parse(csca_der, "foreign CSCA")
                            .map_err(|e| wrap(e.into()))?;
                        ca.check_is_ca().map_err(|e| wrap(e.into()))?;
                        foreign_cache.push((csca_der, ca));
                        foreign_cache.len() - 1
                    }
                };
                dsc.check_issued_by(&foreign_cache[pos].1)
                    .map_err(|e| wrap(e.into()))?;
            }
            EntryAnchor::DangerousUnanchored => {}
        }
        store.add(ts);
    }
    let age = now
        .unix_seconds()
        .saturating_sub(list.issued_at.unix_seconds());
    Ok(VerifiedTrustList {
        list,
        payload_sha256,
        freshness,
        age,
        store,
    })
}

/// Checks that `signer` may sign lists (trust lists, revocation lists) for the pinned CSCA
/// `anchor_csca_der` at `now`: the anchor is a CA valid now, the signer is issued by it, valid
/// now, not a CA, carries no HCERT extended key usage (a DSC can never sign a list) and, if it
/// has a key usage extension, digitalSignature. Returns the parsed anchor.
pub(crate) fn check_list_signer(
    signer: &ParsedCertificate,
    anchor_csca_der: &[u8],
    now: Timestamp,
) -> Result<ParsedCertificate, TrustListError> {
    let anchor =
        ParsedCertificate::parse(anchor_csca_der, "pinned CSCA").map_err(TrustListError::Anchor)?;
    anchor.check_is_ca().map_err(TrustListError::Anchor)?;
    anchor
        .check_valid_at("pinned CSCA", now)
        .map_err(TrustListError::Anchor)?;
    signer
        .check_issued_by(&anchor)
        .map_err(TrustListError::SignerNotChained)?;
    signer
        .check_valid_at("trust-list signer", now)
        .map_err(TrustListError::SignerNotValid)?;
    if signer.is_ca {
        return Err(TrustListError::SignerCertificate(
            "the signer certificate is a CA certificate".into(),
        ));
    }
    if signer.has_hcert_eku {
        return Err(TrustListError::SignerCertificate(
            "the signer certificate carries an HCERT extended key usage (it is a DSC)".into(),
        ));
    }
    if signer.digital_signature == Some(false) {
        return Err(TrustListError::SignerCertificate(
            "the signer certificate's key usage lacks digitalSignature".into(),
        ));
    }
    Ok(anchor)
}

fn check_entry_fields(entry: &Entry, ts: &TrustedSigner) -> Result<(), EntryError> {
    let mismatch = |field| Err(EntryError::Mismatch { field });
    if entry.kid != ts.kid() {
        return mismatch("kid");
    }
    if entry.not_before != ts.not_before() {
        return mismatch("not_before");
    }
    if entry.not_after != ts.not_after() {
        return mismatch("not_after");
    }
    if entry.key_usage != ts.key_usage() {
        return mismatch("key_usage");
    }
    Ok(())
}

/// Decodes a list WITHOUT verifying anything (for `show` of a list whose anchor is unknown).
/// The name says it: nothing in it may be trusted.
///
/// # Errors
/// Format errors.
pub fn dangerous_decode_unverified(bytes: &[u8]) -> Result<TrustList, TrustListError> {
    if bytes.len() > DEFAULT_MAX_INPUT {
        return Err(TrustListError::TooLarge {
            size: bytes.len(),
            max: DEFAULT_MAX_INPUT,
        });
    }
    let cose = CoseSign1::parse(bytes, MAX_DEPTH)?;
    TrustList::from_cbor(cose.payload)
}

#[cfg(test)]
pub(crate) mod tests;
