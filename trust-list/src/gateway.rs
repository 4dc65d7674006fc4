//! The EU DCC gateway trust-list JSON form: export our DSCs, import other countries'.
//!
//! The gateway answers `GET /trustList/DSC` with an array of
//!
//! ```json
//! [{
//!   "kid": "DEsVUSvpFAE=",                 // base64 of SHA-256(DER)[0..8]
//!   "timestamp": "2021-05-05T12:41:06Z",   // when the entry was uploaded / published
//!   "country": "AT",                       // ISO 3166 alpha-2 (EL for Greece)
//!   "certificateType": "DSC",
//!   "thumbprint": "<SHA-256 of the DER, lower-case hex>",
//!   "signature": "<base64>",
//!   "rawData": "<base64 DER>"
//! }]
//! ```
//!
//! Mapping to the native list:
//!
//! | gateway | native entry |
//! |---|---|
//! | `kid` | `kid` (checked: must be SHA-256(rawData)[0..8]) |
//! | `country` | `country` (kept as given: the subject's `C` may differ, e.g. EL / GR) |
//! | `certificateType` | must be `DSC`; other types are rejected |
//! | `thumbprint` | checked: must be SHA-256(rawData) |
//! | `timestamp` | export: the list's issued-at; import: not used |
//! | `rawData` | `certificate` (base64 DER; PEM is accepted on import) |
//! | `signature` | export: our trust-list signer's signature (ES256 raw `r‖s` / PS256, base64) over the DER bytes of `rawData`; import: **not checked** — in the gateway it is a CMS signature by the uploading country's upload certificate, which we do not hold. The chain to the country's CSCA is what we check. |
//! | — | `anchor`: foreign CSCA (chain checked) or DANGEROUS-unanchored |
//!
//! Import ([`import`]) checks each entry and reports every rejected one with its reason (never
//! dropped silently): the type, the base64, the thumbprint and kid, that the certificate is a
//! usable certificate, and that it chains to one of the configured CSCAs of its country.
//! With no CSCA configured for a country, entries are rejected unless the policy is
//! [`ImportPolicy::dangerous_unanchored`], which imports them flagged as
//! [`EntryAnchor::DangerousUnanchored`]. DSC expiry is not a reason to reject (verifiers check
//! the DSC's validity against each certificate's time).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vaxpass_keys::Signer;
use vaxpass_verifier::Kid;
use vaxpass_verifier::trustlist::x509::{ParsedCertificate, check_chain};
use vaxpass_verifier::trustlist::{Entry, EntryAnchor, TrustList};

use crate::Error;

/// One entry of the gateway's trust list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayEntry {
    /// Base64 kid.
    pub kid: String,
    /// Publication time, RFC 3339.
    #[serde(default)]
    pub timestamp: String,
    /// Country.
    pub country: String,
    /// `DSC` (the gateway also has `CSCA`, `UPLOAD`, `AUTHENTICATION`).
    pub certificate_type: String,
    /// SHA-256 of the DER, hex.
    pub thumbprint: String,
    /// Base64 signature (see the module documentation).
    #[serde(default)]
    pub signature: String,
    /// Base64 DER.
    pub raw_data: String,
}

/// Parses a gateway trust-list JSON document (an array of entries).
///
/// # Errors
/// [`Error::Gateway`].
pub fn parse(json: &[u8]) -> Result<Vec<GatewayEntry>, Error> {
    serde_json::from_slice(json).map_err(|e| Error::Gateway(e.to_string()))
}

/// Exports the entries of `list` in the gateway form, each `signature` made by `signer` over
/// the DER certificate. Foreign and unanchored entries are not ours to re-publish and are left
/// out.
///
/// # Errors
/// [`Error::Sign`].
pub fn export(list: &TrustList, signer: &dyn Signer) -> Result<Vec<GatewayEntry>, Error> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for e in list
        .entries
        .iter()
        .filter(|e| e.anchor == EntryAnchor::National)
    {
        let sig = signer.sign(&e.certificate_der)?;
        out.push(GatewayEntry {
            kid: e.kid.to_base64(),
            timestamp: list.issued_at.to_string(),
            country: e.country.clone(),
            certificate_type: "DSC".into(),
            thumbprint: e.thumbprint(),
            signature: b64.encode(sig),
            raw_data: b64.encode(&e.certificate_der),
        });
    }
    Ok(out)
}

/// Which foreign CSCAs the import trusts.
#[derive(Clone, Debug, Default)]
pub struct ImportPolicy {
    cscas: BTreeMap<String, Vec<Vec<u8>>>,
    allow_unanchored: bool,
}

impl ImportPolicy {
    /// No CSCA yet: add them with [`ImportPolicy::with_csca`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `csca_der` for DSCs of `country`. A country may have several CSCAs.
    pub fn with_csca(mut self, country: &str, csca_der: Vec<u8>) -> Self {
        self.add_csca(country, csca_der);
        self
    }

    /// As [`ImportPolicy::with_csca`], in place.
    pub fn add_csca(&mut self, country: &str, csca_der: Vec<u8>) {
        self.cscas
            .entry(country.to_ascii_uppercase())
            .or_default()
            .push(csca_der);
    }

    /// DANGEROUS: import DSCs of countries without a configured CSCA, unchecked, flagged as
    /// [`EntryAnchor::DangerousUnanchored`] in the list and its JSON. Meant for the public
    /// conformance DSCs, which ship without CSCAs. Countries with a configured CSCA are still
    /// checked.
    pub fn dangerous_unanchored(mut self) -> Self {
        self.allow_unanchored = true;
        self
    }

    /// Whether unanchored imports are allowed.
    pub fn allows_unanchored(&self) -> bool {
        self.allow_unanchored
    }
}

/// Why an entry was not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// `certificateType` is not `DSC`.
    NotDsc(String),
    /// `rawData` is not base64 (or PEM) of a certificate.
    RawData(String),
    /// `thumbprint` is not SHA-256 of the DER.
    Thumbprint {
        /// What the entry says.
        given: String,
        /// What the DER hashes to.
        actual: String,
    },
    /// `kid` is not SHA-256(DER)[0..8].
    Kid {
        /// What the entry says.
        given: String,
        /// The kid of the DER.
        actual: String,
    },
    /// The certificate cannot be used as a DSC.
    Certificate(String),
    /// The DSC chains to none of its country's CSCAs.
    NotChained {
        /// How many CSCAs were tried.
        tried: usize,
        /// The last reason.
        reason: String,
    },
    /// No CSCA is configured for the country (and unanchored imports are not allowed).
    NoCsca,
    /// The same certificate for the same country came earlier.
    Duplicate {
        /// Position of the first (0-based).
        first: usize,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotDsc(t) => write!(f, "certificateType {t:?} is not DSC"),
            Rejection::RawData(e) => write!(f, "rawData is not a base64 certificate: {e}"),
            Rejection::Thumbprint { given, actual } => {
                write!(f, "thumbprint {given} does not match the certificate ({actual})")
            }
            Rejection::Kid { given, actual } => {
                write!(f, "kid {given} does not match the certificate ({actual})")
            }
            Rejection::Certificate(e) => write!(f, "not a usable DSC: {e}"),
            Rejection::NotChained { tried, reason } => write!(
                f,
                "does not chain to the country's CSCA ({tried} tried; last: {reason})"
            ),
            Rejection::NoCsca => f.write_str(
                "no CSCA configured for this country (configure one, or import with the dangerous unanchored option)",
            ),
            Rejection::Duplicate { first } => {
                write!(f, "duplicate of entry #{}", first + 1)
            }
        }
    }
}

/// A rejected entry, with enough to find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Position in the input (0-based).
    pub index: usize,
    /// Its kid as given.
    pub kid: String,
    /// Its country.
    pub country: String,
    /// Its thumbprint as given.
    pub thumbprint: String,
    /// Why.
    pub reason: Rejection,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry #{} ({} kid {}): {}",
            self.index + 1,
            self.country,
            self.kid,
            self.reason
        )
    }
}

/// The result of an import.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    /// Imported entries (foreign or, with the dangerous option, unanchored).
    pub accepted: Vec<Entry>,
    /// Rejected entries with their reasons.
    pub rejected: Vec<Rejected>,
}

impl ImportReport {
    /// How many accepted entries are unanchored.
    pub fn unanchored(&self) -> usize {
        self.accepted
            .iter()
            .filter(|e| e.anchor == EntryAnchor::DangerousUnanchored)
            .count()
    }
}

fn decode_raw(raw: &str) -> Result<Vec<u8>, String> {
    let t = raw.trim();
    if t.starts_with("-----BEGIN") {
        let (label, der) = der::pem::decode_vec(t.as_bytes()).map_err(|e| e.to_string())?;
        if label != "CERTIFICATE" {
            return Err(format!("PEM label {label}"));
        }
        return Ok(der);
    }
    let compact: String = t.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| e.to_string())
}

/// Imports gateway entries under `policy` (see the module documentation).
pub fn import(entries: &[GatewayEntry], policy: &ImportPolicy) -> ImportReport {
    let mut report = ImportReport::default();
    let mut seen: Vec<(String, [u8; 32], usize)> = Vec::new();
    for (index, g) in entries.iter().enumerate() {
        let reject = |reason| Rejected {
            index,
            kid: g.kid.clone(),
            country: g.country.clone(),
            thumbprint: g.thumbprint.clone(),
            reason,
        };
        match import_one(g, policy) {
            Ok((entry, digest)) => {
                if let Some((_, _, first)) = seen
                    .iter()
                    .find(|(c, d, _)| *c == entry.country && *d == digest)
                {
                    report
                        .rejected
                        .push(reject(Rejection::Duplicate { first: *first }));
                    continue;
                }
                seen.push((entry.country.clone(), digest, index));
                report.accepted.push(entry);
            }
            Err(reason) => report.rejected.push(reject(reason)),
        }
    }
    report
}

fn import_one(g: &GatewayEntry, policy: &ImportPolicy) -> Result<(Entry, [u8; 32]), Rejection> {
    if !g.certificate_type.eq_ignore_ascii_case("DSC") {
        return Err(Rejection::NotDsc(g.certificate_type.clone()));
    }
    let der = decode_raw(&g.raw_data).map_err(Rejection::RawData)?;
    let digest: [u8; 32] = Sha256::digest(&der).into();
    let actual = hex::encode(digest);
    if !g.thumbprint.trim().eq_ignore_ascii_case(&actual) {
        return Err(Rejection::Thumbprint {
            given: g.thumbprint.clone(),
            actual,
        });
    }
    let kid = Kid::from_certificate_der(&der).to_base64();
    if g.kid.trim() != kid {
        return Err(Rejection::Kid {
            given: g.kid.clone(),
            actual: kid,
        });
    }
    // A DSC with basicConstraints cA=TRUE is odd but occurs in the public data (ES 5xx, LV):
    // the trust list trusts the listed key for HCERT signatures only, never as an issuer, so
    // the flag gives it no power here and the entry is kept (rejecting it would leave those
    // countries' certificates unverifiable).
    ParsedCertificate::parse(&der, "DSC").map_err(|e| Rejection::Certificate(e.to_string()))?;
    let country = g.country.trim().to_ascii_uppercase();
    let anchor = match policy.cscas.get(&country) {
        Some(cscas) if !cscas.is_empty() => {
            let mut last = String::new();
            let mut found = None;
            for csca in cscas {
                match check_chain(&der, csca) {
                    Ok(()) => {
                        found = Some(csca.clone());
                        break;
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            match found {
                Some(csca_der) => EntryAnchor::Foreign { csca_der },
                None => {
                    return Err(Rejection::NotChained {
                        tried: cscas.len(),
                        reason: last,
                    });
                }
            }
        }
        _ if policy.allow_unanchored => EntryAnchor::DangerousUnanchored,
        _ => return Err(Rejection::NoCsca),
    };
    let entry = Entry::from_certificate(&der, Some(&country), anchor)
        .map_err(|e| Rejection::Certificate(e.to_string()))?;
    Ok((entry, digest))
}
