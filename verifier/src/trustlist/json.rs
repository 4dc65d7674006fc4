//! The JSON rendition of a trust list, for people and other implementers. **Not signed**: a
//! verifier must use the COSE form; this one is informational.
//!
//! ```json
//! {
//!   "format": "vaxpass-trust-list/1",
//!   "issuerCountry": "VN",
//!   "sequence": 7,
//!   "issuedAt": "2026-01-01T00:00:00Z",
//!   "expiresAt": "2026-01-03T00:00:00Z",
//!   "signerCertificate": "<base64 DER>",
//!   "signerKid": "<base64>",
//!   "unanchoredEntries": 0,
//!   "entries": [{
//!     "kid": "3rq7+u5LDmU=",
//!     "country": "VN",
//!     "certificateType": "DSC",
//!     "keyUsage": ["v", "t", "r"],          // or "all" (no HCERT extended key usage)
//!     "notBefore": "2026-01-01T00:00:00Z",
//!     "notAfter": "2028-01-01T00:00:00Z",
//!     "thumbprint": "<SHA-256 of the DER, hex>",
//!     "rawData": "<base64 DER>",
//!     "anchor": "national",                 // "foreign-csca" | "DANGEROUS-unanchored"
//!     "cscaThumbprint": "<hex>",            // foreign entries only
//!     "cscaRawData": "<base64 DER>",        // foreign entries only
//!     "dangerousUnanchored": true           // only on entries imported without a CSCA
//!   }]
//! }
//! ```
//! Timestamps are RFC 3339 UTC; base64 is the standard alphabet with padding.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{EntryAnchor, TrustList, hex_lower};
use crate::Kid;

/// The JSON form of a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustListJson {
    /// `vaxpass-trust-list/1`.
    pub format: String,
    /// Issuer country.
    pub issuer_country: String,
    /// Sequence.
    pub sequence: u64,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// The signer certificate, base64 DER.
    pub signer_certificate: String,
    /// The signer's kid, base64.
    pub signer_kid: String,
    /// How many entries were imported without a CSCA check.
    pub unanchored_entries: usize,
    /// The entries.
    pub entries: Vec<EntryJson>,
}

/// The JSON form of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryJson {
    /// Base64 kid.
    pub kid: String,
    /// Country.
    pub country: String,
    /// Always `DSC`.
    pub certificate_type: String,
    /// `["v","t","r"]` subset, or the string `all`.
    pub key_usage: serde_json::Value,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    /// SHA-256 of the DER, hex.
    pub thumbprint: String,
    /// Base64 DER.
    pub raw_data: String,
    /// `national`, `foreign-csca`, `DANGEROUS-unanchored`.
    pub anchor: String,
    /// Foreign CSCA thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csca_thumbprint: Option<String>,
    /// Foreign CSCA, base64 DER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csca_raw_data: Option<String>,
    /// Present (true) only on entries imported without a CSCA check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dangerous_unanchored: bool,
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl TrustList {
    /// The JSON rendition.
    pub fn to_json(&self) -> TrustListJson {
        TrustListJson {
            format: "vaxpass-trust-list/1".into(),
            issuer_country: self.issuer_country.clone(),
            sequence: self.sequence,
            issued_at: self.issued_at.to_string(),
            expires_at: self.expires_at.to_string(),
            signer_certificate: base64(&self.signer_certificate_der),
            signer_kid: Kid::from_certificate_der(&self.signer_certificate_der).to_base64(),
            unanchored_entries: self.unanchored_count(),
            entries: self
                .entries
                .iter()
                .map(|e| {
                    let (csca_thumbprint, csca_raw_data) = match &e.anchor {
                        EntryAnchor::Foreign { csca_der } => (
                            Some(hex_lower(&Sha256::digest(csca_der))),
                            Some(base64(csca_der)),
                        ),
                        _ => (None, None),
                    };
                    EntryJson {
                        kid: e.kid.to_base64(),
                        country: e.country.clone(),
                        certificate_type: "DSC".into(),
                        key_usage: if e.key_usage.is_restricted() {
                            e.key_usage
                                .types()
                                .iter()
                                .map(|t| serde_json::Value::from(t.key()))
                                .collect()
                        } else {
                            "all".into()
                        },
                        not_before: e.not_before.to_string(),
                        not_after: e.not_after.to_string(),
                        thumbprint: e.thumbprint(),
                        raw_data: base64(&e.certificate_der),
                        anchor: e.anchor.name().into(),
                        csca_thumbprint,
                        csca_raw_data,
                        dangerous_unanchored: e.anchor == EntryAnchor::DangerousUnanchored,
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_known_values() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
