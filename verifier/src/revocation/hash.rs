//! The revocation hashes of a certificate, exactly as the EU DCC revocation design defines them:
//! SHA-256 over the named bytes, truncated to its first 16 bytes.
//!
//! | hash type | bytes hashed |
//! |---|---|
//! | `SIGNATURE` | the COSE_Sign1 signature; for ES256 only its first half (the `r` value), for PS256 the whole signature |
//! | `UCI` | the UTF-8 of the `ci` field, as it stands in the payload |
//! | `COUNTRYCODEUCI` | the UTF-8 of `co` immediately followed by `ci` (nothing between) |
//!
//! The `SIGNATURE` hash revokes one signed instance of a certificate: a certificate re-signed
//! with another key (same UCI, new signature) is not revoked by it. `UCI` and `COUNTRYCODEUCI`
//! revoke every certificate carrying that identifier.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::verify::SignedHcert;
use crate::{Algorithm, CertificateType};

/// Bytes of a revocation hash: the first 128 bits of SHA-256.
pub const HASH_LEN: usize = 16;

/// What a revocation hash is computed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashType {
    /// The COSE signature (ES256: its `r` half).
    Signature,
    /// The certificate identifier `ci`.
    Uci,
    /// The country `co` followed by `ci`.
    CountryCodeUci,
}

impl HashType {
    /// All three, in the order of their codes.
    pub const ALL: [HashType; 3] = [Self::Signature, Self::Uci, Self::CountryCodeUci];

    /// The EU gateway's name: `SIGNATURE`, `UCI`, `COUNTRYCODEUCI`.
    pub const fn gateway_name(self) -> &'static str {
        match self {
            Self::Signature => "SIGNATURE",
            Self::Uci => "UCI",
            Self::CountryCodeUci => "COUNTRYCODEUCI",
        }
    }

    /// The type of a gateway name.
    pub fn from_gateway_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.gateway_name() == name)
    }

    /// The code in the signed list (0, 1, 2).
    pub const fn code(self) -> u64 {
        match self {
            Self::Signature => 0,
            Self::Uci => 1,
            Self::CountryCodeUci => 2,
        }
    }

    /// The type of a list code.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

impl fmt::Display for HashType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.gateway_name())
    }
}

/// A revocation hash: the first [`HASH_LEN`] bytes of a SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RevocationHash(pub [u8; HASH_LEN]);

impl RevocationHash {
    /// The truncated SHA-256 of `parts`, hashed one after the other.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        let digest = h.finalize();
        let mut out = [0u8; HASH_LEN];
        out.copy_from_slice(&digest[..HASH_LEN]);
        RevocationHash(out)
    }

    /// The `UCI` hash of a certificate identifier.
    pub fn uci(ci: &str) -> Self {
        Self::of(&[ci.as_bytes()])
    }

    /// The `COUNTRYCODEUCI` hash of a country and a certificate identifier.
    pub fn country_code_uci(co: &str, ci: &str) -> Self {
        Self::of(&[co.as_bytes(), ci.as_bytes()])
    }

    /// The `SIGNATURE` hash of a COSE signature made with `alg`: for ES256 over the first half
    /// of the signature (`r`), for PS256 over all of it.
    pub fn signature(alg: Algorithm, signature: &[u8]) -> Self {
        match alg {
            Algorithm::Es256 => Self::of(&[&signature[..signature.len() / 2]]),
            Algorithm::Ps256 => Self::of(&[signature]),
        }
    }

    /// Standard Base64 with padding (24 characters, ending `==`), as the EU gateway writes it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads the gateway's form: exactly 22 Base64 characters and `==`.
    pub fn from_base64(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
        if b.len() != 24 || !b[..22].iter().all(alphabet) || &b[22..] != b"==" {
            return None;
        }
        let raw = STANDARD.decode(text).ok()?;
        <[u8; HASH_LEN]>::try_from(raw.as_slice())
            .ok()
            .map(RevocationHash)
    }
}

impl fmt::Debug for RevocationHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RevocationHash({})", self.to_base64())
    }
}

impl fmt::Display for RevocationHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// The three hashes of one certificate; a hash is absent when its input is (no `ci`, no `co`,
/// an algorithm HCERT does not allow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateHashes {
    /// The `SIGNATURE` hash.
    pub signature: Option<RevocationHash>,
    /// The `UCI` hash.
    pub uci: Option<RevocationHash>,
    /// The `COUNTRYCODEUCI` hash.
    pub country_code_uci: Option<RevocationHash>,
}

impl CertificateHashes {
    /// The hashes of a decoded certificate. Call it on the certificate *after* its signature
    /// verified (`VerifiedHcert::signed`): the `ci` and `co` read here are then genuine.
    pub fn of(signed: &SignedHcert) -> Self {
        let signature = signed
            .algorithm()
            .map(|alg| RevocationHash::signature(alg, signed.signature()));
        let payload = signed.dangerous_unverified_payload();
        let entry = signed.certificate_type().and_then(|t: CertificateType| {
            payload
                .get_text(t.key())
                .and_then(|v| v.as_array())
                .and_then(|a| a.first())
        });
        let field = |name: &str| {
            entry
                .and_then(|e| e.get_text(name))
                .and_then(|v| v.as_text())
        };
        let ci = field("ci");
        let co = field("co");
        CertificateHashes {
            signature,
            uci: ci.map(RevocationHash::uci),
            country_code_uci: ci
                .zip(co)
                .map(|(ci, co)| RevocationHash::country_code_uci(co, ci)),
        }
    }

    /// The hash of one type.
    pub fn get(&self, hash_type: HashType) -> Option<RevocationHash> {
        match hash_type {
            HashType::Signature => self.signature,
            HashType::Uci => self.uci,
            HashType::CountryCodeUci => self.country_code_uci,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_form_is_the_gateways() {
        let h = RevocationHash::uci("URN:UVCI:01:VN:ABC#X");
        let text = h.to_base64();
        assert_eq!(text.len(), 24);
        assert!(text.ends_with("=="));
        assert_eq!(RevocationHash::from_base64(&text), Some(h));
        // Not 16 bytes, not padded, other alphabets: refused.
        assert_eq!(RevocationHash::from_base64("AAAA"), None);
        assert_eq!(RevocationHash::from_base64(&text[..22]), None);
        assert_eq!(
            RevocationHash::from_base64("-_AAAAAAAAAAAAAAAAAAAA=="),
            None
        );
        assert_eq!(
            RevocationHash::from_base64("AAAAAAAAAAAAAAAAAAAAAAA="),
            None
        );
    }

    #[test]
    fn es256_signature_hash_covers_only_r() {
        let mut sig = [7u8; 64];
        let a = RevocationHash::signature(Algorithm::Es256, &sig);
        sig[40] = 9; // in s
        assert_eq!(RevocationHash::signature(Algorithm::Es256, &sig), a);
        sig[3] = 9; // in r
        assert_ne!(RevocationHash::signature(Algorithm::Es256, &sig), a);
        // PS256 covers all of it.
        let mut rsa = [7u8; 256];
        let b = RevocationHash::signature(Algorithm::Ps256, &rsa);
        rsa[255] = 1;
        assert_ne!(RevocationHash::signature(Algorithm::Ps256, &rsa), b);
    }

    #[test]
    fn hash_types_round_trip_names_and_codes() {
        for t in HashType::ALL {
            assert_eq!(HashType::from_gateway_name(t.gateway_name()), Some(t));
            assert_eq!(HashType::from_code(t.code()), Some(t));
        }
        assert_eq!(HashType::from_gateway_name("uci"), None);
    }
}
