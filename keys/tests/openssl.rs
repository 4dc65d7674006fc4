//! OpenSSL accepts the generated chains and requests (skipped when `openssl` is absent).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::process::Command;

use common::{openssl, pki};
use vaxpass_keys::KeyAlgorithm;
use vaxpass_keys::profile::CertType;
use vaxpass_keys::storage;

fn run(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

fn check(csca_alg: KeyAlgorithm, dsc_alg: KeyAlgorithm) {
    let p = pki(csca_alg, dsc_alg, &CertType::ALL);
    let dir = tempfile::tempdir().unwrap();
    storage::write_certificate(&dir.path().join("csca.pem"), &p.csca).unwrap();
    storage::write_certificate(&dir.path().join("dsc.pem"), &p.dsc).unwrap();
    storage::write_csr(&dir.path().join("dsc.csr.pem"), &p.csr).unwrap();

    // Verify at a time inside the validity (the certificates start on 2026-01-01).
    let at = (common::t0().unix_seconds() + 86_400).to_string();
    let out = run(
        &["verify", "-attime", &at, "-CAfile", "csca.pem", "dsc.pem"],
        dir.path(),
    );
    assert!(out.contains("dsc.pem: OK"), "{out}");
    // -x509_strict adds RFC 5280 checks (key identifiers, CA key usage...).
    let out = run(
        &[
            "verify",
            "-x509_strict",
            "-attime",
            &at,
            "-CAfile",
            "csca.pem",
            "dsc.pem",
        ],
        dir.path(),
    );
    assert!(out.contains("dsc.pem: OK"), "{out}");

    let text = run(&["x509", "-in", "dsc.pem", "-noout", "-text"], dir.path());
    for oid in [
        "1.3.6.1.4.1.1847.2021.1.1",
        "1.3.6.1.4.1.1847.2021.1.2",
        "1.3.6.1.4.1.1847.2021.1.3",
    ] {
        assert!(text.contains(oid), "EKU {oid} missing:\n{text}");
    }
    assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");

    let text = run(&["x509", "-in", "csca.pem", "-noout", "-text"], dir.path());
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );

    let out = run(
        &["req", "-in", "dsc.csr.pem", "-verify", "-noout"],
        dir.path(),
    );
    assert!(
        out.contains("verify OK") || out.contains("Certificate request self-signature verify OK"),
        "{out}"
    );
}

#[test]
fn openssl_accepts_p256_chain() {
    if openssl("openssl_accepts_p256_chain").is_none() {
        return;
    }
    check(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256);
}

#[test]
fn openssl_accepts_rsa_chain() {
    if openssl("openssl_accepts_rsa_chain").is_none() {
        return;
    }
    check(KeyAlgorithm::Rsa3072, KeyAlgorithm::Rsa2048);
}

#[test]
fn openssl_reads_key_files() {
    if openssl("openssl_reads_key_files").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (i, alg) in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048]
        .into_iter()
        .enumerate()
    {
        let key = vaxpass_keys::PrivateKey::generate(alg).unwrap();
        let name = format!("k{i}.pem");
        storage::write_private_key(&dir.path().join(&name), &key, None, Default::default())
            .unwrap();
        run(&["pkey", "-in", &name, "-noout"], dir.path());
        // Encrypted (PBES2 / scrypt / AES-256-CBC).
        let enc = format!("k{i}.enc.pem");
        let pass = vaxpass_keys::Passphrase::new("correct horse".into()).unwrap();
        storage::write_private_key(
            &dir.path().join(&enc),
            &key,
            Some(&pass),
            storage::KeyEncryption::with_log_n(10),
        )
        .unwrap();
        run(
            &[
                "pkey",
                "-in",
                &enc,
                "-passin",
                "pass:correct horse",
                "-noout",
            ],
            dir.path(),
        );
    }
}
