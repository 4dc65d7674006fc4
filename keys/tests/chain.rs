//! Generated CSCA + DSC chains parse back, verify, and carry the profile's extensions.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{pki, t0};
use der::{Decode, Encode};
use vaxpass_keys::cert::{self, CertificateInfo, VerifiedCsr};
use vaxpass_keys::profile::{
    CertType, DAY, DistinguishedName, DscProfile, TrustListSignerProfile, Validity, YEAR,
};
use vaxpass_keys::{Error, KeyAlgorithm, PrivateKey};
use vaxpass_verifier::{Algorithm, Kid, Timestamp};
use x509_cert::Certificate;

fn ext<'a>(cert: &'a Certificate, oid: &str) -> &'a x509_cert::ext::Extension {
    let oid = der::asn1::ObjectIdentifier::new_unwrap(oid);
    cert.tbs_certificate
        .extensions
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == oid)
        .unwrap_or_else(|| panic!("extension {oid} missing"))
}

fn check_chain(csca_alg: KeyAlgorithm, dsc_alg: KeyAlgorithm, hcert_alg: Algorithm) {
    let types = [CertType::Vaccination, CertType::Recovery];
    let p = pki(csca_alg, dsc_alg, &types);

    // CSCA: parses, re-encodes byte for byte, self-signed, CA pathLen 0 critical, KU critical.
    let csca_cert = Certificate::from_der(&p.csca).unwrap();
    assert_eq!(csca_cert.to_der().unwrap(), p.csca);
    let csca = CertificateInfo::parse(&p.csca).unwrap();
    csca.verify_signed_by(&csca.public_key).unwrap();
    assert!(csca.is_ca && csca.key_cert_sign && !csca.digital_signature);
    let bc = ext(&csca_cert, "2.5.29.19");
    assert!(bc.critical);
    let bc = x509_cert::ext::pkix::BasicConstraints::from_der(bc.extn_value.as_bytes()).unwrap();
    assert_eq!((bc.ca, bc.path_len_constraint), (true, Some(0)));
    let ku = ext(&csca_cert, "2.5.29.15");
    assert!(ku.critical);
    let ku = x509_cert::ext::pkix::KeyUsage::from_der(ku.extn_value.as_bytes()).unwrap();
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert_eq!(csca.validity.not_before, t0());
    assert_eq!(
        csca.validity.not_after.unix_seconds(),
        t0().unix_seconds() + 10 * YEAR
    );
    assert_eq!(
        csca.subject_text(),
        "CN=VN Test CSCA,O=Ministry of Health test,C=VN"
    );
    assert!(csca.subject_key_id.is_some());

    // DSC.
    let dsc_cert = Certificate::from_der(&p.dsc).unwrap();
    let dsc = CertificateInfo::parse(&p.dsc).unwrap();
    dsc.verify_signed_by(&csca.public_key).unwrap();
    assert!(
        dsc.verify_signed_by(&dsc.public_key).is_err(),
        "DSC must not be self-signed"
    );
    assert_eq!(dsc.kid, Kid::from_certificate_der(&p.dsc));
    assert_eq!(dsc.algorithm(), hcert_alg);
    assert_eq!(
        dsc.types.as_deref(),
        Some(&[CertType::Vaccination, CertType::Recovery][..])
    );
    assert!(dsc.allows(CertType::Vaccination) && !dsc.allows(CertType::Test));
    assert!(!dsc.is_ca && dsc.digital_signature && !dsc.key_cert_sign);
    assert!(ext(&dsc_cert, "2.5.29.15").critical);
    assert_eq!(dsc.authority_key_id, csca.subject_key_id);
    assert!(dsc.subject_key_id.is_some());
    assert_eq!(
        dsc_cert.tbs_certificate.issuer,
        csca_cert.tbs_certificate.subject
    );
    assert_eq!(
        dsc.validity.not_after.unix_seconds(),
        t0().unix_seconds() + 2 * YEAR
    );
    let eku = ext(&dsc_cert, "2.5.29.37");
    let eku = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(eku.extn_value.as_bytes()).unwrap();
    let oids: Vec<String> = eku.0.iter().map(|o| o.to_string()).collect();
    assert_eq!(
        oids,
        ["1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.1847.2021.1.3"]
    );

    // Serial: 16 bytes, positive.
    let serial = dsc_cert.tbs_certificate.serial_number.as_bytes();
    assert_eq!(serial.len(), 16);
    assert!(serial[0] & 0x80 == 0 && serial[0] != 0);
    assert_ne!(serial, csca_cert.tbs_certificate.serial_number.as_bytes());
}

#[test]
fn p256_chain() {
    check_chain(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256, Algorithm::Es256);
}

#[test]
fn rsa_chain() {
    check_chain(
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa2048,
        Algorithm::Ps256,
    );
}

#[test]
fn mixed_chains() {
    check_chain(
        KeyAlgorithm::EcP256,
        KeyAlgorithm::Rsa3072,
        Algorithm::Ps256,
    );
    check_chain(
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcP256,
        Algorithm::Es256,
    );
}

#[test]
fn csr_signature_is_checked() {
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let mut csr = cert::create_csr(&key, &DistinguishedName::new("VN", "MoH", "DSC")).unwrap();
    VerifiedCsr::verify(&csr).unwrap();
    // Flip a byte of the subject: the proof of possession no longer verifies.
    let pos = csr.windows(3).position(|w| w == b"DSC").unwrap();
    csr[pos] = b'X';
    let err = VerifiedCsr::verify(&csr).unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate request: signature does not verify"
    );
    // Garbage.
    let err = VerifiedCsr::verify(&[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap_err();
    assert!(
        err.to_string().starts_with("malformed certificate request"),
        "{err}"
    );
}

#[test]
fn csca_decides_the_profile() {
    let p = pki(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256, &CertType::ALL);
    let verified = VerifiedCsr::verify(&p.csr).unwrap();
    // Validity outside the CSCA's.
    let mut profile = DscProfile::new(&[CertType::Test], t0());
    profile.validity = Validity::days(t0(), 11 * 365);
    let err = cert::issue_dsc(&p.csca, &p.csca_key, &verified, &profile).unwrap_err();
    assert!(
        err.to_string()
            .contains("is not within the CSCA's validity"),
        "{err}"
    );
    // Validity before the CSCA's start.
    profile.validity = Validity::days(Timestamp::from_unix_seconds(t0().unix_seconds() - DAY), 30);
    assert!(cert::issue_dsc(&p.csca, &p.csca_key, &verified, &profile).is_err());
    // No types.
    let profile = DscProfile::new(&[], t0());
    assert!(cert::issue_dsc(&p.csca, &p.csca_key, &verified, &profile).is_err());
    // Another country in the request.
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csr = cert::create_csr(&key, &DistinguishedName::new("FR", "x", "y")).unwrap();
    let err = cert::issue_dsc(
        &p.csca,
        &p.csca_key,
        &VerifiedCsr::verify(&csr).unwrap(),
        &DscProfile::new(&[CertType::Test], t0()),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate profile: the DSC subject's country (FR) must be the CSCA's (VN)"
    );
    // A DSC cannot issue: it is not a CA.
    let err = cert::issue_dsc(
        &p.dsc,
        &p.dsc_key,
        &verified,
        &DscProfile::new(&[CertType::Test], t0()),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Cert(cert::CertError::NotACa(_))),
        "{err}"
    );
    // The wrong key for the CSCA certificate.
    let err = cert::issue_dsc(
        &p.csca,
        &p.dsc_key,
        &verified,
        &DscProfile::new(&[CertType::Test], t0()),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the private key does not belong to CSCA certificate"),
        "{err}"
    );
    // RSA 2048 is too small for a CSCA.
    let small = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    assert!(
        cert::issue_csca(
            &small,
            &vaxpass_keys::profile::CscaProfile::new(DistinguishedName::new("VN", "a", "b"), t0())
        )
        .is_err()
    );
}

#[test]
fn validity_after_2049_uses_generalized_time() {
    let p = pki(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256, &CertType::ALL);
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let start = Timestamp::parse("2045-06-01").unwrap();
    let csca = cert::issue_csca(
        &key,
        &vaxpass_keys::profile::CscaProfile::new(DistinguishedName::new("VN", "a", "b"), start),
    )
    .unwrap();
    let info = CertificateInfo::parse(&csca).unwrap();
    assert_eq!(info.validity.not_after.to_string(), "2055-05-30T00:00:00Z");
    drop(p);
}

#[test]
fn trust_list_signer_profile() {
    let p = pki(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256, &CertType::ALL);
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let csr = cert::create_csr(&key, &DistinguishedName::new("VN", "MoH", "ignored")).unwrap();
    let profile = TrustListSignerProfile::new(
        DistinguishedName::new("VN", "MoH", "VN Trust List Signer"),
        t0(),
    );
    let der = cert::issue_trust_list_signer(
        &p.csca,
        &p.csca_key,
        &VerifiedCsr::verify(&csr).unwrap(),
        &profile,
    )
    .unwrap();
    let info = CertificateInfo::parse(&der).unwrap();
    info.verify_signed_by(&CertificateInfo::parse(&p.csca).unwrap().public_key)
        .unwrap();
    assert!(info.digital_signature && !info.is_ca);
    assert_eq!(info.types, None, "no EKU by default");
    assert_eq!(info.subject_text(), "CN=VN Trust List Signer,O=MoH,C=VN");
    // An HCERT EKU on the trust-list signer is refused.
    let mut bad = profile.clone();
    bad.extended_key_usage.push(CertType::Test.oid());
    assert!(
        cert::issue_trust_list_signer(
            &p.csca,
            &p.csca_key,
            &VerifiedCsr::verify(&csr).unwrap(),
            &bad
        )
        .is_err()
    );
}

#[test]
fn subject_rules() {
    assert!(DistinguishedName::new("vn", "a", "b").to_name().is_err());
    assert!(DistinguishedName::new("VNM", "a", "b").to_name().is_err());
    assert!(DistinguishedName::new("VN", "", "b").to_name().is_err());
    let name = DistinguishedName::new("VN", "Bộ Y tế, Hà Nội", "CSCA")
        .to_name()
        .unwrap();
    assert_eq!(
        vaxpass_keys::profile::name_country(&name).as_deref(),
        Some("VN")
    );
}
