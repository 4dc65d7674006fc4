//! Key directory manifest: dev_init, current signer, rotation, publication window.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::PathBuf;

use common::t0;
use vaxpass_keys::cert::{self, CertificateInfo, VerifiedCsr};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{DscEntry, DscState, KeyLocation, Manifest, ManifestError, Secrets};
use vaxpass_keys::profile::{CertType, DAY, DistinguishedName, DscProfile};
use vaxpass_keys::signer::verify_cose_signature;
use vaxpass_keys::storage::{self, KeyEncryption};
use vaxpass_keys::{KeyAlgorithm, Passphrase, PrivateKey};
use vaxpass_verifier::{Algorithm, Timestamp};

fn at(days: i64) -> Timestamp {
    Timestamp::from_unix_seconds(t0().unix_seconds() + days * DAY)
}

#[test]
fn dev_init_makes_a_usable_marked_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dev");
    let mut opts = DevOptions::new(t0());
    opts.passphrase = Some(Passphrase::new("dev-pass".into()).unwrap());
    opts.encryption = KeyEncryption::with_log_n(10);
    let made = dev_init(&root, &opts).unwrap();
    let m = Manifest::load(&made.manifest_path).unwrap();
    assert!(m.development);
    let text = std::fs::read_to_string(&made.manifest_path).unwrap();
    assert!(text.contains("DEVELOPMENT KEYS - NOT FOR PRODUCTION"));
    let (csca_der, _) = storage::read_certificate(&root.join("csca.pem")).unwrap();
    let csca = CertificateInfo::parse(&csca_der).unwrap();
    assert!(csca.subject_text().contains("O=vaxpass DEVELOPMENT"));
    // Second run refuses to clobber.
    assert!(dev_init(&root, &opts).is_err());

    let secrets = Secrets {
        passphrase: opts.passphrase.clone(),
        pin: None,
    };
    for t in CertType::ALL {
        let signer = m.current_signer(&root, t, at(1), &secrets).unwrap();
        assert_eq!(signer.kid(), made.dsc_kid);
        assert_eq!(signer.algorithm(), Algorithm::Es256);
        let sig = signer.sign(b"payload").unwrap();
        verify_cose_signature(signer.certificate_der(), b"payload", &sig).unwrap();
        let dsc = CertificateInfo::parse(signer.certificate_der()).unwrap();
        dsc.verify_signed_by(&csca.public_key).unwrap();
        assert!(dsc.subject_text().contains("O=vaxpass DEVELOPMENT"));
    }
    // Wrong passphrase through the manifest.
    let bad = Secrets {
        passphrase: Some(Passphrase::new("nope".into()).unwrap()),
        pin: None,
    };
    let err = m
        .current_signer(&root, CertType::Test, at(1), &bad)
        .unwrap_err();
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    // No current DSC outside its validity.
    let err = m
        .current_signer(&root, CertType::Test, at(800), &secrets)
        .unwrap_err();
    assert!(
        matches!(
            err,
            vaxpass_keys::Error::Manifest(ManifestError::NoCurrent(..))
        ),
        "{err}"
    );
    // The trust-list signer.
    let tls = m.trust_list_signer.as_ref().unwrap();
    let (tls_der, _) = storage::read_certificate(&root.join(&tls.certificate)).unwrap();
    let tls_info = CertificateInfo::parse(&tls_der).unwrap();
    tls_info.verify_signed_by(&csca.public_key).unwrap();
    assert_eq!(tls_info.types, None);
}

#[test]
fn dev_init_rsa() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new(t0());
    opts.dsc_algorithm = KeyAlgorithm::Rsa2048;
    let made = dev_init(dir.path(), &opts).unwrap();
    let m = Manifest::load(&made.manifest_path).unwrap();
    let s = m
        .current_signer(
            dir.path(),
            CertType::Vaccination,
            at(0),
            &Secrets::default(),
        )
        .unwrap();
    assert_eq!(s.algorithm(), Algorithm::Ps256);
    verify_cose_signature(s.certificate_der(), b"x", &s.sign(b"x").unwrap()).unwrap();
}

/// Issues a DSC for `types` valid from `start` for `days`, writes cert + key into `dir`.
fn install(
    dir: &std::path::Path,
    m: &mut Manifest,
    csca: &(Vec<u8>, PrivateKey),
    n: u32,
    types: &[CertType],
    start: Timestamp,
    days: i64,
) -> String {
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let key_name = format!("dsc-{n}.key.pem");
    storage::write_private_key(&dir.join(&key_name), &key, None, KeyEncryption::default()).unwrap();
    let csr = cert::create_csr(
        &key,
        &DistinguishedName::new("VN", "MoH", &format!("DSC {n}")),
    )
    .unwrap();
    let mut profile = DscProfile::new(types, start);
    profile.validity = vaxpass_keys::profile::Validity::days(start, days);
    let der = cert::issue_dsc(
        &csca.0,
        &csca.1,
        &VerifiedCsr::verify(&csr).unwrap(),
        &profile,
    )
    .unwrap();
    let cert_name = format!("dsc-{n}.pem");
    storage::write_certificate(&dir.join(&cert_name), &der).unwrap();
    let entry = DscEntry::from_certificate(
        &der,
        PathBuf::from(cert_name),
        KeyLocation::File {
            path: key_name.into(),
        },
    )
    .unwrap();
    let kid = entry.kid.clone();
    m.add_dsc(entry).unwrap();
    kid
}

#[test]
fn rotation_and_publication_window() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::pki(KeyAlgorithm::EcP256, KeyAlgorithm::EcP256, &CertType::ALL);
    let csca = (p.csca.clone(), p.csca_key);
    storage::write_certificate(&dir.path().join("csca.pem"), &p.csca).unwrap();
    let mut m = Manifest::new("VN", PathBuf::from("csca.pem"), false);
    m.max_certificate_lifetime_days = 365;

    let a = install(dir.path(), &mut m, &csca, 1, &CertType::ALL, t0(), 730);
    assert_eq!(m.find(&a).unwrap().state, DscState::Pending);
    assert!(m.current(CertType::Vaccination, at(1)).is_none());
    // Pending DSCs are published already (verifiers learn them before they sign).
    assert_eq!(m.publishable(at(1)).len(), 1);
    assert!(m.rotate(&a, at(1)).unwrap().is_empty());
    assert_eq!(m.current(CertType::Test, at(1)).unwrap().kid, a);

    // A duplicate kid is refused.
    let dup = m.find(&a).unwrap().clone();
    assert!(matches!(
        m.add_dsc(dup),
        Err(ManifestError::DuplicateKid(_))
    ));

    // B covers only vaccination: A stays current for t and r, B wins for v (newer).
    let b = install(
        dir.path(),
        &mut m,
        &csca,
        2,
        &[CertType::Vaccination],
        at(100),
        730,
    );
    // Not valid yet at day 50.
    assert!(matches!(
        m.rotate(&b, at(50)),
        Err(ManifestError::CannotActivate { .. })
    ));
    assert!(m.rotate(&b, at(100)).unwrap().is_empty());
    assert_eq!(m.current(CertType::Vaccination, at(101)).unwrap().kid, b);
    assert_eq!(m.current(CertType::Test, at(101)).unwrap().kid, a);

    // C covers everything: A and B are retired at day 200.
    let c = install(dir.path(), &mut m, &csca, 3, &CertType::ALL, at(150), 730);
    let mut retired = m.rotate(&c, at(200)).unwrap();
    retired.sort();
    let mut expect = vec![a.clone(), b.clone()];
    expect.sort();
    assert_eq!(retired, expect);
    for t in CertType::ALL {
        assert_eq!(m.current(t, at(201)).unwrap().kid, c);
    }
    let ea = m.find(&a).unwrap();
    assert_eq!(ea.state, DscState::Retired);
    assert_eq!(ea.retired_at, Some(at(200)));
    // min(retired + 365 days, not_after = day 730)
    assert_eq!(ea.publish_until, Some(at(565)));
    // B: retired + 365 = day 565, below its not_after (day 830).
    assert_eq!(m.find(&b).unwrap().publish_until, Some(at(565)));
    // A recorded later expiry extends the window (capped at not_after).
    m.record_expiry(&b, at(600)).unwrap();
    assert_eq!(m.find(&b).unwrap().publish_until, Some(at(600)));
    m.record_expiry(&a, at(9000)).unwrap();
    assert_eq!(m.find(&a).unwrap().publish_until, Some(at(730)));

    let kids = |now| {
        let mut v: Vec<String> = m.publishable(now).iter().map(|d| d.kid.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(kids(at(500)).len(), 3);
    assert_eq!(kids(at(650)), {
        let mut v = vec![a.clone(), c.clone()];
        v.sort();
        v
    });
    assert_eq!(kids(at(731)), vec![c.clone()]);
    assert!(kids(at(900)).is_empty(), "C expired at day 880");

    // A retired DSC cannot come back.
    assert!(matches!(
        m.rotate(&a, at(201)),
        Err(ManifestError::CannotActivate { .. })
    ));
    assert!(matches!(
        m.rotate("AAAAAAAAAAA=", at(201)),
        Err(ManifestError::UnknownKid(_))
    ));

    // Save / load round trip, and signing from the loaded manifest.
    let path = dir.path().join("keys.toml");
    m.save(&path).unwrap();
    let back = Manifest::load(&path).unwrap();
    assert_eq!(back, m);
    let s = back
        .current_signer(dir.path(), CertType::Recovery, at(201), &Secrets::default())
        .unwrap();
    assert_eq!(s.kid().to_base64(), c);
    // A certificate file swapped under the manifest is detected.
    std::fs::copy(dir.path().join("dsc-1.pem"), dir.path().join("dsc-3.pem")).unwrap();
    let err = back
        .current_signer(dir.path(), CertType::Recovery, at(201), &Secrets::default())
        .unwrap_err();
    assert!(err.to_string().contains("has kid"), "{err}");
}

#[test]
fn manifest_errors_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    std::fs::write(
        &path,
        "country = \"VN\"\n[csca]\ncertificate = \"c.pem\"\n[[dsc]]\nkid = 1\n",
    )
    .unwrap();
    let err = Manifest::load(&path).unwrap_err();
    assert!(err.to_string().contains("line 5"), "{err}");
    std::fs::write(&path, "country = \"VN\"\n[csca]\ncertificate = \"c.pem\"\n").unwrap();
    let m = Manifest::load(&path).unwrap();
    assert!(!m.development && m.dscs.is_empty() && m.max_certificate_lifetime_days == 365);
}
