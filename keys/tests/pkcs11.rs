//! PKCS#11 against SoftHSM2: keys generated on the token, CSR signed by the token, DSC issued by
//! the CSCA, HCERT signatures by the token verified with the DSC public key.
//!
//! Skipped (with a message) when SoftHSM2 is not installed. SoftHSM2 reads `SOFTHSM2_CONF` when
//! the module is initialized, and setting environment variables in-process needs `unsafe` (this
//! workspace forbids it), so the test re-runs itself as a child process with the variable set.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use vaxpass_keys::cert::{self, CertificateInfo, VerifiedCsr};
use vaxpass_keys::manifest::{self, DscEntry, KeyLocation, Pkcs11Location, Secrets};
use vaxpass_keys::pkcs11::{Pkcs11Error, Token};
use vaxpass_keys::profile::{CertType, CscaProfile, DistinguishedName, DscProfile};
use vaxpass_keys::signer::verify_cose_signature;
use vaxpass_keys::{CertificateSigningKey, Error, KeyAlgorithm, Passphrase, PrivateKey, Signer};
use vaxpass_verifier::{Algorithm, Kid};

const CHILD: &str = "VAXPASS_PKCS11_TEST_CHILD";
const TOKEN: &str = "vaxpass-test";
const PIN: &str = "123456";

fn module() -> Option<PathBuf> {
    let path = std::env::var_os("VAXPASS_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
    path.exists().then_some(path)
}

#[test]
fn softhsm2_end_to_end() {
    let Some(module) = module() else {
        eprintln!(
            "SKIPPED softhsm2_end_to_end: no PKCS#11 module at /usr/lib/softhsm/libsofthsm2.so \
             (install the Debian package `softhsm2`, or set VAXPASS_PKCS11_MODULE)"
        );
        return;
    };
    if std::env::var_os(CHILD).is_some() {
        child(&module);
        return;
    }
    if Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED softhsm2_end_to_end: `softhsm2-util` not on PATH (Debian package `softhsm2`)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            "12345678",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "softhsm2_end_to_end",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, "1")
        .env("VAXPASS_TEST_WORKDIR", dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
}

fn pin() -> Passphrase {
    Passphrase::new(PIN.into()).unwrap()
}

fn child(module: &Path) {
    let work = PathBuf::from(std::env::var_os("VAXPASS_TEST_WORKDIR").unwrap());
    // Wrong PIN first (once logged in, a token may not re-check the PIN).
    let err = Token::open(module, TOKEN, &Passphrase::new("000000".into()).unwrap()).unwrap_err();
    assert!(matches!(err, Pkcs11Error::Login { .. }), "{err}");
    assert!(
        !format!("{err} {err:?}").contains("000000"),
        "PIN leaked: {err}"
    );
    let err = Token::open(module, "no-such-token", &pin()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no PKCS#11 token labelled \"no-such-token\""),
        "{err}"
    );

    let token = Token::open(module, TOKEN, &pin()).unwrap();
    let err = token.find_key(Some("absent"), None).unwrap_err();
    assert!(
        matches!(err, Error::Pkcs11(Pkcs11Error::KeyNotFound { .. })),
        "{err}"
    );

    // A software CSCA (the usual offline setup)...
    let now = common::t0();
    let csca_key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csca = cert::issue_csca(
        &csca_key,
        &CscaProfile::new(DistinguishedName::new("VN", "MoH", "VN CSCA"), now),
    )
    .unwrap();
    let csca_info = CertificateInfo::parse(&csca).unwrap();

    let msg: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    for (alg, label, id, hcert) in [
        (KeyAlgorithm::EcP256, "dsc-ec", vec![1u8], Algorithm::Es256),
        (
            KeyAlgorithm::Rsa2048,
            "dsc-rsa",
            vec![2u8],
            Algorithm::Ps256,
        ),
    ] {
        // Generate on the token; the CSR is signed by the token.
        let key = token.generate_key_pair(alg, label, &id).unwrap();
        let csr = cert::create_csr(&key, &DistinguishedName::new("VN", "MoH", label)).unwrap();
        let verified = VerifiedCsr::verify(&csr).unwrap();
        assert_eq!(verified.public_key(), key.public());
        let dsc = cert::issue_dsc(
            &csca,
            &csca_key,
            &verified,
            &DscProfile::new(&CertType::ALL, now),
        )
        .unwrap();
        let info = CertificateInfo::parse(&dsc).unwrap();
        info.verify_signed_by(&csca_info.public_key).unwrap();

        // Found again by label, by id, by both.
        let again = token.find_key(Some(label), None).unwrap();
        assert_eq!(again.public(), key.public());
        let by_id = token.find_key(None, Some(&id)).unwrap();
        assert_eq!(by_id.public(), key.public());

        let signer = token
            .find_key(Some(label), Some(&id))
            .unwrap()
            .into_signer(dsc.clone())
            .unwrap();
        assert_eq!(signer.algorithm(), hcert);
        assert_eq!(signer.kid(), Kid::from_certificate_der(&dsc));
        let sig = signer.sign(&msg).unwrap();
        if hcert == Algorithm::Es256 {
            assert_eq!(sig.len(), 64);
        }
        verify_cose_signature(&dsc, &msg, &sig).unwrap();
        match key.public() {
            vaxpass_keys::PublicKey::EcP256(pk) => {
                use p256::ecdsa::signature::Verifier;
                p256::ecdsa::VerifyingKey::from(pk)
                    .verify(&msg, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
                    .unwrap();
            }
            vaxpass_keys::PublicKey::Rsa(pk) => {
                use rsa::traits::SignatureScheme;
                use sha2::Digest;
                rsa::Pss::new_with_salt::<sha2::Sha256>(32)
                    .verify(pk, &sha2::Sha256::digest(&msg), &sig)
                    .unwrap();
            }
        }
        assert!(!format!("{signer:?}").contains(PIN));

        // Wrong certificate for the token key.
        let other = common::pki(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256, &CertType::ALL);
        assert!(
            token
                .find_key(Some(label), None)
                .unwrap()
                .into_signer(other.dsc)
                .is_err()
        );

        // Through the manifest.
        let cert_path = work.join(format!("{label}.pem"));
        vaxpass_keys::storage::write_certificate(&cert_path, &dsc).unwrap();
        let entry = DscEntry::from_certificate(
            &dsc,
            cert_path.clone(),
            KeyLocation::Pkcs11(Pkcs11Location {
                module: module.to_path_buf(),
                token: TOKEN.into(),
                label: label.into(),
                id: Some(id.iter().map(|b| format!("{b:02x}")).collect()),
            }),
        )
        .unwrap();
        let no_pin = manifest::open_signer(&work, &entry, &Secrets::default()).unwrap_err();
        assert!(no_pin.to_string().contains("give its PIN"), "{no_pin}");
        let s = manifest::open_signer(
            &work,
            &entry,
            &Secrets {
                passphrase: None,
                pin: Some(pin()),
            },
        )
        .unwrap();
        verify_cose_signature(&dsc, b"abc", &s.sign(b"abc").unwrap()).unwrap();

        // OpenSSL accepts the chain and the token-signed CSR.
        if common::openssl("softhsm2 chain").is_some() {
            vaxpass_keys::storage::write_certificate(&work.join("csca.pem"), &csca).unwrap();
            vaxpass_keys::storage::write_csr(&work.join("req.pem"), &csr).unwrap();
            let at = (now.unix_seconds() + 60).to_string();
            let out = Command::new("openssl")
                .args(["verify", "-attime", &at, "-CAfile", "csca.pem"])
                .arg(&cert_path)
                .current_dir(&work)
                .output()
                .unwrap();
            assert!(
                String::from_utf8_lossy(&out.stdout).contains(": OK"),
                "{out:?}"
            );
            let out = Command::new("openssl")
                .args(["req", "-verify", "-noout", "-in", "req.pem"])
                .current_dir(&work)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
    }

    // The CSCA itself on the token (an HSM-held CSCA): it signs its own certificate and a DSC.
    let csca_on_token = token
        .generate_key_pair(KeyAlgorithm::EcP256, "csca", &[9])
        .unwrap();
    let csca2 = cert::issue_csca(
        &csca_on_token,
        &CscaProfile::new(DistinguishedName::new("VN", "MoH", "VN CSCA (HSM)"), now),
    )
    .unwrap();
    let csca2_info = CertificateInfo::parse(&csca2).unwrap();
    csca2_info
        .verify_signed_by(&csca_on_token.public_key().unwrap())
        .unwrap();
    let sw = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csr = cert::create_csr(&sw, &DistinguishedName::new("VN", "MoH", "sw dsc")).unwrap();
    let dsc = cert::issue_dsc(
        &csca2,
        &csca_on_token,
        &VerifiedCsr::verify(&csr).unwrap(),
        &DscProfile::new(&[CertType::Test], now),
    )
    .unwrap();
    CertificateInfo::parse(&dsc)
        .unwrap()
        .verify_signed_by(&csca2_info.public_key)
        .unwrap();
    println!("softhsm2: ES256 + PS256 token keys, token-signed CSRs and an HSM CSCA all verified");
}
