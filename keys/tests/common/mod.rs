//! Shared test PKI.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use vaxpass_keys::cert::{self, VerifiedCsr};
use vaxpass_keys::profile::{CertType, CscaProfile, DistinguishedName, DscProfile};
use vaxpass_keys::{KeyAlgorithm, PrivateKey};
use vaxpass_verifier::Timestamp;

/// 2026-01-01T00:00:00Z.
pub fn t0() -> Timestamp {
    Timestamp::parse("2026-01-01T00:00:00Z").unwrap()
}

pub struct Pki {
    pub csca_key: PrivateKey,
    pub csca: Vec<u8>,
    pub dsc_key: PrivateKey,
    pub csr: Vec<u8>,
    pub dsc: Vec<u8>,
}

pub fn pki(csca_alg: KeyAlgorithm, dsc_alg: KeyAlgorithm, types: &[CertType]) -> Pki {
    let csca_key = PrivateKey::generate(csca_alg).unwrap();
    let csca = cert::issue_csca(
        &csca_key,
        &CscaProfile::new(
            DistinguishedName::new("VN", "Ministry of Health test", "VN Test CSCA"),
            t0(),
        ),
    )
    .unwrap();
    let dsc_key = PrivateKey::generate(dsc_alg).unwrap();
    let csr = cert::create_csr(
        &dsc_key,
        &DistinguishedName::new("VN", "Ministry of Health test", "VN Test DSC"),
    )
    .unwrap();
    let verified = VerifiedCsr::verify(&csr).unwrap();
    let dsc = cert::issue_dsc(&csca, &csca_key, &verified, &DscProfile::new(types, t0())).unwrap();
    Pki {
        csca_key,
        csca,
        dsc_key,
        csr,
        dsc,
    }
}

/// `Some(path)` of the openssl binary, or `None` with a printed skip message.
pub fn openssl(test: &str) -> Option<&'static str> {
    match std::process::Command::new("openssl")
        .arg("version")
        .output()
    {
        Ok(o) if o.status.success() => Some("openssl"),
        _ => {
            eprintln!("SKIPPED {test}: `openssl` not on PATH (Debian package `openssl`)");
            None
        }
    }
}
