//! Issue 2's round trip across crates and binaries: a development PKI made by `vaxpass-keys`
//! (the library's `dev_init`, as `vaxpass-keys dev-init` runs it), its current DSC signs an
//! HCERT through the verifier's encoder, and `vaxpass-verify check --dsc` accepts it — for
//! ES256 and PS256. A certificate of the wrong type for the DSC's key usage is refused.
//!
//! The `vaxpass-verify` binary is looked up next to this test's executable (cargo builds it for
//! `cargo test --workspace --all-features`); when it is not there the same check runs through
//! the library and the test says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{Manifest, Secrets};
use vaxpass_keys::{CertificateType, KeyAlgorithm};
use vaxpass_verifier::encode::{IssueClaims, encode_dcc};
use vaxpass_verifier::{Dcc, Timestamp, TrustStore, Verifier};

fn at(day: i64) -> Timestamp {
    // Day 0 is 2026-01-01.
    Timestamp::from_unix_seconds(1_767_225_600 + day * 86_400)
}

fn payload(group: &str) -> Dcc {
    let entry = match group {
        "v" => serde_json::json!({"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528",
            "ma": "ORG-100030215", "dn": 2, "sd": 2, "dt": "2026-01-05", "co": "VN",
            "is": "Ministry of Health of Viet Nam", "ci": "URN:UVCI:01:VN:E2E0001#K"}),
        _ => serde_json::json!({"tg": "840539006", "fr": "2025-12-20", "co": "VN",
            "is": "Ministry of Health of Viet Nam", "df": "2026-01-01", "du": "2026-06-01",
            "ci": "URN:UVCI:01:VN:E2E0002#L"}),
    };
    serde_json::from_value(serde_json::json!({
        "ver": "1.3.0",
        "nam": {"fn": "Trần", "fnt": "TRAN", "gn": "Văn Bình", "gnt": "VAN<BINH"},
        "dob": "1979-11-02",
        group: [entry]
    }))
    .unwrap()
}

/// Runs `vaxpass-verify check --dsc <dsc> --at <t> --format json @<file>`; returns the JSON
/// report, or `None` when the binary is not built.
fn cli_check(dir: &Path, dsc: &Path, hc1: &str, t: Timestamp) -> Option<serde_json::Value> {
    let input = dir.join("hc1.txt");
    std::fs::write(&input, hc1).unwrap();
    let at = t.to_string();
    let input = format!("@{}", input.display());
    common::verify_json(&[
        "check".as_ref(),
        "--dsc".as_ref(),
        dsc.as_os_str(),
        "--at".as_ref(),
        at.as_ref(),
        input.as_ref(),
    ])
}

fn round_trip(dsc_algorithm: KeyAlgorithm, expected_alg: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = DevOptions::new(at(0));
    options.dsc_algorithm = dsc_algorithm;
    let pki = dev_init(&dir.path().join("keys"), &options).unwrap();
    let manifest = Manifest::load(&pki.manifest_path).unwrap();
    let signer = manifest
        .current_signer(
            &dir.path().join("keys"),
            CertificateType::Vaccination,
            at(1),
            &Secrets::default(),
        )
        .unwrap();
    assert_eq!(signer.kid(), pki.dsc_kid);

    let claims = IssueClaims {
        iss: Some("VN"),
        iat: at(10),
        exp: at(375),
    };
    let hc1 = encode_dcc(
        &payload("v"),
        &claims,
        signer.algorithm(),
        &signer.kid(),
        |tbs| signer.sign(tbs),
    )
    .unwrap();

    match cli_check(dir.path(), &pki.dsc_certificate, &hc1, at(11)) {
        Some(report) => {
            assert_eq!(report["valid"], true, "{report}");
            assert_eq!(report["algorithm"], expected_alg);
            assert_eq!(report["kid"], pki.dsc_kid.to_string());
            assert_eq!(report["certificate_type"], "vaccination");
            assert_eq!(report["holder"]["family_name"], "Trần");
            // After exp the same certificate is refused, with its code.
            let expired = cli_check(dir.path(), &pki.dsc_certificate, &hc1, at(400)).unwrap();
            assert_eq!(expired["failure"]["code"], "EXPIRED", "{expired}");
        }
        None => {
            eprintln!(
                "NOTE: vaxpass-verify is not built next to this test; checking through the library"
            );
            let pem = std::fs::read(&pki.dsc_certificate).unwrap();
            let mut store = TrustStore::new();
            store.add_pem_or_der(&pem, "dsc").unwrap();
            let verified = Verifier::new(store).verify(&hc1, at(11)).unwrap();
            assert_eq!(verified.dcc().unwrap(), payload("v"));
        }
    }
}

#[test]
fn dev_pki_es256_certificate_verifies_with_the_cli() {
    round_trip(KeyAlgorithm::EcP256, "ES256");
}

#[test]
fn dev_pki_ps256_certificate_verifies_with_the_cli() {
    round_trip(KeyAlgorithm::Rsa2048, "PS256");
}

#[test]
fn dsc_limited_to_vaccination_cannot_sign_recovery() {
    use vaxpass_keys::cert::{self, VerifiedCsr};
    use vaxpass_keys::profile::{CscaProfile, DistinguishedName, DscProfile};
    use vaxpass_keys::{PrivateKey, Signer as _, SoftwareSigner};
    let csca_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csca = cert::issue_csca(
        &csca_key,
        &CscaProfile::new(DistinguishedName::new("VN", "MoH test", "VN CSCA"), at(0)),
    )
    .unwrap();
    let dsc_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csr =
        cert::create_csr(&dsc_key, &DistinguishedName::new("VN", "MoH test", "DSC v")).unwrap();
    let dsc = cert::issue_dsc(
        &csca,
        &csca_key,
        &VerifiedCsr::verify(&csr).unwrap(),
        &DscProfile::new(&[CertificateType::Vaccination], at(0)),
    )
    .unwrap();
    let signer = SoftwareSigner::new(&dsc_key, dsc.clone()).unwrap();
    let claims = IssueClaims {
        iss: Some("VN"),
        iat: at(10),
        exp: at(100),
    };
    let hc1 = encode_dcc(
        &payload("r"),
        &claims,
        signer.algorithm(),
        &signer.kid(),
        |tbs| signer.sign(tbs),
    )
    .unwrap();
    let store = TrustStore::from_der_certificates([dsc.as_slice()]).unwrap();
    let err = Verifier::new(store).verify(&hc1, at(11)).unwrap_err();
    assert_eq!(err.code(), "KEY_USAGE", "{err}");
}
