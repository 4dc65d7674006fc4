//! Shared test PKI.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use vaxpass_keys::cert::{self, VerifiedCsr};
use vaxpass_keys::profile::{CertificateType, CscaProfile, DistinguishedName, DscProfile};
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

pub fn pki(csca_alg: KeyAlgorithm, dsc_alg: KeyAlgorithm, types: &[CertificateType]) -> Pki {
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

/// Issues a Vietnamese vaccination HCERT with `signer` through the verifier crate's encoder,
/// then runs the verifier's full check (signature, validity, key usage, schema, value sets)
/// with the signer's DSC as the only trusted certificate. Returns the `HC1:` text.
pub fn issue_and_verify(signer: &dyn vaxpass_keys::Signer) -> String {
    use vaxpass_verifier::encode::{IssueClaims, encode_dcc};
    use vaxpass_verifier::{Dcc, TrustStore, Verifier};
    let dcc: Dcc = serde_json::from_value(serde_json::json!({
        "ver": "1.3.0",
        "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Thị Lan", "gnt": "THI<LAN"},
        "dob": "1985-04-12",
        "v": [{
            "tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
            "dn": 2, "sd": 2, "dt": "2026-01-20", "co": "VN",
            "is": "Ministry of Health of Viet Nam",
            "ci": "URN:UVCI:01:VN:KEYSTEST0001#X"
        }]
    }))
    .unwrap();
    let at = |days: i64| Timestamp::from_unix_seconds(t0().unix_seconds() + days * 86_400);
    let (iat, exp) = (at(30), at(30 + 365));
    let claims = IssueClaims {
        iss: Some("VN"),
        iat,
        exp,
    };
    let hc1 = encode_dcc(&dcc, &claims, signer.algorithm(), &signer.kid(), |tbs| {
        signer.sign(tbs)
    })
    .unwrap();
    let store = TrustStore::from_der_certificates([signer.certificate_der()]).unwrap();
    let verified = Verifier::new(store).verify(&hc1, at(31)).unwrap();
    assert_eq!(verified.dcc().unwrap(), dcc);
    assert_eq!(verified.signer().kid(), signer.kid());
    hc1
}
