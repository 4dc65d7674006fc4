//! Software signers: signatures verify with the DSC public key; ES256 is raw r||s.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::pki;
use vaxpass_keys::signer::verify_cose_signature;
use vaxpass_keys::{CertType, KeyAlgorithm, Signer, SoftwareBackend, SoftwareSigner};
use vaxpass_verifier::{Algorithm, Kid};

fn tbs() -> Vec<u8> {
    (0..300u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn check(dsc_alg: KeyAlgorithm, backend: SoftwareBackend, alg: Algorithm) {
    let p = pki(KeyAlgorithm::EcP256, dsc_alg, &CertType::ALL);
    let signer = SoftwareSigner::with_backend(&p.dsc_key, p.dsc.clone(), backend).unwrap();
    if cfg!(feature = "aws-lc") {
        assert_eq!(signer.backend(), backend);
    }
    assert_eq!(signer.algorithm(), alg);
    assert_eq!(signer.kid(), Kid::from_certificate_der(&p.dsc));
    assert_eq!(signer.certificate_der(), p.dsc.as_slice());
    let msg = tbs();
    let sig = signer.sign(&msg).unwrap();
    match alg {
        Algorithm::Es256 => assert_eq!(sig.len(), 64),
        _ => assert_eq!(sig.len(), dsc_alg.rsa_bits().unwrap() / 8),
    }
    verify_cose_signature(&p.dsc, &msg, &sig).unwrap();
    let mut other = msg.clone();
    other[0] ^= 1;
    assert!(verify_cose_signature(&p.dsc, &other, &sig).is_err());
    // Also with the RustCrypto verifiers directly.
    match &p.dsc_key.public_key() {
        vaxpass_keys::PublicKey::EcP256(pk) => {
            use p256::ecdsa::signature::Verifier;
            let vk = p256::ecdsa::VerifyingKey::from(pk);
            vk.verify(&msg, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
                .unwrap();
        }
        vaxpass_keys::PublicKey::Rsa(pk) => {
            use rsa::traits::SignatureScheme;
            use sha2::Digest;
            let digest = sha2::Sha256::digest(&msg);
            // Explicit salt length 32 (PS256).
            rsa::Pss::new_with_salt::<sha2::Sha256>(32)
                .verify(pk, &digest, &sig)
                .unwrap();
        }
    }
    assert!(format!("{signer:?}").contains("<redacted>"));
}

#[test]
fn es256_rustcrypto() {
    check(
        KeyAlgorithm::EcP256,
        SoftwareBackend::RustCrypto,
        Algorithm::Es256,
    );
}

#[test]
fn es256_aws_lc() {
    check(
        KeyAlgorithm::EcP256,
        SoftwareBackend::AwsLc,
        Algorithm::Es256,
    );
}

#[test]
fn ps256_rustcrypto() {
    check(
        KeyAlgorithm::Rsa2048,
        SoftwareBackend::RustCrypto,
        Algorithm::Ps256,
    );
    check(
        KeyAlgorithm::Rsa3072,
        SoftwareBackend::RustCrypto,
        Algorithm::Ps256,
    );
}

#[test]
fn ps256_aws_lc() {
    check(
        KeyAlgorithm::Rsa2048,
        SoftwareBackend::AwsLc,
        Algorithm::Ps256,
    );
    check(
        KeyAlgorithm::Rsa3072,
        SoftwareBackend::AwsLc,
        Algorithm::Ps256,
    );
}

#[test]
fn key_must_match_certificate() {
    let p = pki(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256, &CertType::ALL);
    let err = SoftwareSigner::new(&p.csca_key, p.dsc.clone()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the private key does not belong to certificate"),
        "{err}"
    );
}

#[test]
fn signer_is_object_safe_and_shareable() {
    let p = pki(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256, &CertType::ALL);
    let signer: std::sync::Arc<dyn Signer> =
        std::sync::Arc::new(SoftwareSigner::new(&p.dsc_key, p.dsc.clone()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = signer.clone();
            std::thread::spawn(move || s.sign(&[i; 32]).unwrap())
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        verify_cose_signature(&p.dsc, &[i as u8; 32], &h.join().unwrap()).unwrap();
    }
}
