//! Unit tests with a small, genuinely signed test PKI (P-256 everywhere).

use super::*;
use der::Encode;
use der::asn1::{BitString, ObjectIdentifier, OctetString, UtcTime};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePublicKey;
use std::str::FromStr;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

pub(crate) const T0: i64 = 1_767_225_600; // 2026-01-01
pub(crate) const DAY: i64 = 86_400;

pub(crate) fn ts(s: i64) -> Timestamp {
    Timestamp::from_unix_seconds(s)
}

pub(crate) fn key() -> SigningKey {
    SigningKey::random(&mut rand_core::OsRng)
}

struct CertSpec<'a> {
    subject: &'a str,
    issuer: &'a str,
    ca: bool,
    eku: Option<&'a [&'a str]>,
    from: i64,
    to: i64,
}

fn ext(oid: &str, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: ObjectIdentifier::new_unwrap(oid),
        critical,
        extn_value: OctetString::new(value).unwrap(),
    }
}

/// A certificate for `subject_key` signed (ecdsa-with-SHA256) by `issuer_key`.
fn cert(spec: &CertSpec<'_>, subject_key: &SigningKey, issuer_key: &SigningKey) -> Vec<u8> {
    let spki = subject_key.verifying_key().to_public_key_der().unwrap();
    let alg = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
        parameters: None,
    };
    cert_with(spec, spki.as_bytes(), alg, |tbs| {
        let sig: p256::ecdsa::DerSignature = p256::ecdsa::signature::Signer::sign(issuer_key, tbs);
        sig.as_bytes().to_vec()
    })
}

/// A certificate over `spki_der` whose signature (`alg`) is made by `sign` over the TBS DER.
fn cert_with(
    spec: &CertSpec<'_>,
    spki_der: &[u8],
    alg: AlgorithmIdentifierOwned,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    use der::Decode;
    let utc = |t: i64| {
        Time::UtcTime(
            UtcTime::from_unix_duration(std::time::Duration::from_secs(t as u64)).unwrap(),
        )
    };
    let mut extensions = Vec::new();
    if spec.ca {
        let bc = x509_cert::ext::pkix::BasicConstraints {
            ca: true,
            path_len_constraint: Some(0),
        };
        extensions.push(ext("2.5.29.19", true, bc.to_der().unwrap()));
    }
    if let Some(oids) = spec.eku {
        let eku = x509_cert::ext::pkix::ExtendedKeyUsage(
            oids.iter()
                .map(|o| ObjectIdentifier::new_unwrap(o))
                .collect(),
        );
        extensions.push(ext("2.5.29.37", false, eku.to_der().unwrap()));
    }
    let serial: [u8; 8] = rand_core::RngCore::next_u64(&mut rand_core::OsRng).to_be_bytes();
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[&[0x01][..], &serial[..]].concat()).unwrap(),
        signature: alg.clone(),
        issuer: Name::from_str(spec.issuer).unwrap(),
        validity: Validity {
            not_before: utc(spec.from),
            not_after: utc(spec.to),
        },
        subject: Name::from_str(spec.subject).unwrap(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki_der).unwrap(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = sign(&tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&signature).unwrap(),
    }
    .to_der()
    .unwrap()
}

pub(crate) struct Pki {
    pub(crate) csca: Vec<u8>,
    pub(crate) csca_key: SigningKey,
    pub(crate) signer: Vec<u8>,
    pub(crate) signer_key: SigningKey,
    pub(crate) dsc: Vec<u8>,
}

const CSCA_DN: &str = "C=VN,O=test,CN=VN CSCA";

pub(crate) fn pki() -> Pki {
    let csca_key = key();
    let csca = cert(
        &CertSpec {
            subject: CSCA_DN,
            issuer: CSCA_DN,
            ca: true,
            eku: None,
            from: T0 - DAY,
            to: T0 + 3650 * DAY,
        },
        &csca_key,
        &csca_key,
    );
    let signer_key = key();
    let signer = cert(
        &CertSpec {
            subject: "C=VN,O=test,CN=VN Trust List Signer",
            issuer: CSCA_DN,
            ca: false,
            eku: None,
            from: T0 - DAY,
            to: T0 + 730 * DAY,
        },
        &signer_key,
        &csca_key,
    );
    let dsc = cert(
        &CertSpec {
            subject: "C=VN,O=test,CN=VN DSC 1",
            issuer: CSCA_DN,
            ca: false,
            eku: Some(&["1.3.6.1.4.1.1847.2021.1.2"]),
            from: T0 - DAY,
            to: T0 + 730 * DAY,
        },
        &key(),
        &csca_key,
    );
    Pki {
        csca,
        csca_key,
        signer,
        signer_key,
        dsc,
    }
}

fn list(p: &Pki, sequence: u64) -> TrustList {
    TrustList {
        issuer_country: "VN".into(),
        sequence,
        issued_at: ts(T0),
        expires_at: ts(T0 + DEFAULT_LIFETIME),
        entries: vec![Entry::from_certificate(&p.dsc, None, EntryAnchor::National).unwrap()],
        signer_certificate_der: p.signer.clone(),
    }
}

fn sign_with(l: &TrustList, signer_der: &[u8], k: &SigningKey) -> Vec<u8> {
    l.sign::<std::convert::Infallible>(
        Algorithm::Es256,
        &Kid::from_certificate_der(signer_der),
        |tbs| {
            let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(k, tbs);
            Ok(sig.to_bytes().to_vec())
        },
    )
    .unwrap()
}

fn sign(p: &Pki, l: &TrustList) -> Vec<u8> {
    sign_with(l, &p.signer, &p.signer_key)
}

fn check(p: &Pki, bytes: &[u8], now: i64) -> Result<VerifiedTrustList, TrustListError> {
    verify(bytes, &p.csca, ts(now), None, &TrustListPolicy::default())
}

#[test]
fn round_trip_and_trust_store() {
    let p = pki();
    let l = list(&p, 1);
    let cbor = l.to_cbor();
    assert_eq!(TrustList::from_cbor(&cbor).unwrap(), l);
    assert_eq!(l.to_cbor(), cbor, "deterministic");
    let signed = sign(&p, &l);
    let v = check(&p, &signed, T0 + 3600).unwrap();
    assert_eq!(v.list(), &l);
    assert_eq!(v.age(), 3600);
    assert_eq!(
        v.freshness(),
        Freshness::Fresh {
            expires_in: DEFAULT_LIFETIME - 3600
        }
    );
    let store = v.to_trust_store();
    assert_eq!(store.len(), 1);
    let kid = Kid::from_certificate_der(&p.dsc);
    assert_eq!(store.signers(&kid).len(), 1);
    assert_eq!(
        store.signers(&kid)[0].key_usage().types(),
        [CertificateType::Vaccination]
    );
    assert_eq!(dangerous_decode_unverified(&signed).unwrap(), l);
}

#[test]
fn duplicate_kids_are_all_kept() {
    let p = pki();
    let mut l = list(&p, 1);
    l.entries.push(l.entries[0].clone());
    let mut other = l.entries[0].clone();
    other.country = "XX".into();
    l.entries.push(other);
    let v = check(&p, &sign(&p, &l), T0).unwrap();
    let store = v.to_trust_store();
    assert_eq!(store.signers(&Kid::from_certificate_der(&p.dsc)).len(), 3);
}

#[test]
fn every_tampered_byte_is_refused() {
    let p = pki();
    let signed = sign(&p, &list(&p, 1));
    assert!(check(&p, &signed, T0).is_ok());
    for i in 0..signed.len() {
        let mut bad = signed.clone();
        bad[i] ^= 0x01;
        assert!(check(&p, &bad, T0).is_err(), "flip at byte {i} accepted");
    }
    // The error for a flip inside the payload is the signature's.
    let mut bad = signed.clone();
    let pos = bad.windows(2).position(|w| w == b"VN").unwrap();
    bad[pos] = b'W';
    let err = check(&p, &bad, T0).unwrap_err();
    assert_eq!(err.code(), "TRUST_LIST_SIGNATURE", "{err}");
    assert!(
        err.to_string().contains("signature does not verify"),
        "{err}"
    );
}

#[test]
fn signer_not_chained_to_the_anchor_is_refused() {
    let p = pki();
    let rogue_ca_key = key();
    // Same issuer name, other key: the signature check catches it.
    let rogue_signer_key = key();
    let rogue_signer = cert(
        &CertSpec {
            subject: "C=VN,O=test,CN=VN Trust List Signer",
            issuer: CSCA_DN,
            ca: false,
            eku: None,
            from: T0 - DAY,
            to: T0 + DAY,
        },
        &rogue_signer_key,
        &rogue_ca_key,
    );
    let mut l = list(&p, 1);
    l.signer_certificate_der = rogue_signer.clone();
    let err = check(&p, &sign_with(&l, &rogue_signer, &rogue_signer_key), T0).unwrap_err();
    assert!(
        matches!(
            err,
            TrustListError::SignerNotChained(ChainError::BadSignature { .. })
        ),
        "{err}"
    );
    assert_eq!(err.code(), "TRUST_LIST_CHAIN");
    // Another issuer name.
    let other = cert(
        &CertSpec {
            subject: "C=VN,O=test,CN=Signer",
            issuer: "C=XX,CN=Other CSCA",
            ca: false,
            eku: None,
            from: T0 - DAY,
            to: T0 + DAY,
        },
        &rogue_signer_key,
        &rogue_ca_key,
    );
    l.signer_certificate_der = other.clone();
    let err = check(&p, &sign_with(&l, &other, &rogue_signer_key), T0).unwrap_err();
    assert!(
        matches!(
            err,
            TrustListError::SignerNotChained(ChainError::IssuerMismatch { .. })
        ),
        "{err}"
    );
    // Signed with a key other than the signer certificate's.
    let l = list(&p, 1);
    let err = check(&p, &sign_with(&l, &p.signer, &rogue_signer_key), T0).unwrap_err();
    assert!(matches!(err, TrustListError::Signature(_)), "{err}");
    // The anchor must be a CA.
    let err = verify(
        &sign(&p, &l),
        &p.signer,
        ts(T0),
        None,
        &TrustListPolicy::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, TrustListError::Anchor(ChainError::NotACa { .. })),
        "{err}"
    );
}

#[test]
fn a_dsc_cannot_sign_a_list() {
    let p = pki();
    let dsc_key = key();
    let dsc_signer = cert(
        &CertSpec {
            subject: "C=VN,O=test,CN=VN DSC 2",
            issuer: CSCA_DN,
            ca: false,
            eku: Some(&["1.3.6.1.4.1.1847.2021.1.1"]),
            from: T0 - DAY,
            to: T0 + DAY,
        },
        &dsc_key,
        &p.csca_key,
    );
    let mut l = list(&p, 1);
    l.signer_certificate_der = dsc_signer.clone();
    let err = check(&p, &sign_with(&l, &dsc_signer, &dsc_key), T0).unwrap_err();
    assert!(
        err.to_string().contains("HCERT extended key usage"),
        "{err}"
    );
}

#[test]
fn rollback_and_reused_sequence_are_refused() {
    let p = pki();
    let v5 = check(&p, &sign(&p, &list(&p, 5)), T0).unwrap();
    let state = v5.cache_state();
    let policy = TrustListPolicy::default();
    let older = sign(&p, &list(&p, 4));
    let err = verify(&older, &p.csca, ts(T0), Some(&state), &policy).unwrap_err();
    assert_eq!(
        err,
        TrustListError::Rollback {
            cached: 5,
            received: 4
        }
    );
    assert_eq!(
        err.to_string(),
        "rollback refused: trust list sequence 4 is lower than the cached 5"
    );
    // Same sequence, same content (re-signed: another ECDSA signature): accepted.
    let same = sign(&p, &list(&p, 5));
    assert!(verify(&same, &p.csca, ts(T0), Some(&state), &policy).is_ok());
    // Same sequence, other content: refused.
    let mut l = list(&p, 5);
    l.entries.clear();
    let err = verify(&sign(&p, &l), &p.csca, ts(T0), Some(&state), &policy).unwrap_err();
    assert_eq!(err, TrustListError::SequenceReused { sequence: 5 });
    // Newer: accepted.
    assert!(
        verify(
            &sign(&p, &list(&p, 6)),
            &p.csca,
            ts(T0),
            Some(&state),
            &policy
        )
        .is_ok()
    );
}

#[test]
fn expired_is_stale_within_grace_and_refused_beyond() {
    let p = pki();
    let signed = sign(&p, &list(&p, 1));
    let expiry = T0 + DEFAULT_LIFETIME;
    let v = check(&p, &signed, expiry + 3600).unwrap();
    assert_eq!(v.freshness(), Freshness::Stale { expired_for: 3600 });
    assert!(v.freshness().is_stale());
    assert!(
        v.freshness()
            .to_string()
            .starts_with("STALE (expired 1h 0m ago")
    );
    let err = check(&p, &signed, expiry + 72 * 3600 + 1).unwrap_err();
    assert!(matches!(err, TrustListError::Expired { .. }), "{err}");
    assert_eq!(err.code(), "TRUST_LIST_EXPIRED");
    assert!(
        err.to_string().contains("beyond the grace period of 3d 0h"),
        "{err}"
    );
    let strict = TrustListPolicy {
        grace: 0,
        ..TrustListPolicy::default()
    };
    assert!(verify(&signed, &p.csca, ts(expiry + 1), None, &strict).is_err());
    // Issued in the future.
    let err = check(&p, &signed, T0 - 3600).unwrap_err();
    assert!(matches!(err, TrustListError::NotYetValid { .. }), "{err}");
}

#[test]
fn entries_must_chain_and_match_their_certificate() {
    let p = pki();
    // A DSC from another CSCA listed as national.
    let foreign_key = key();
    let foreign_csca = cert(
        &CertSpec {
            subject: "C=DE,CN=DE CSCA",
            issuer: "C=DE,CN=DE CSCA",
            ca: true,
            eku: None,
            from: T0 - DAY,
            to: T0 + 3650 * DAY,
        },
        &foreign_key,
        &foreign_key,
    );
    let foreign_dsc = cert(
        &CertSpec {
            subject: "C=DE,CN=DE DSC",
            issuer: "C=DE,CN=DE CSCA",
            ca: false,
            eku: None,
            from: T0 - DAY,
            to: T0 + 365 * DAY,
        },
        &key(),
        &foreign_key,
    );
    let mut l = list(&p, 1);
    l.entries
        .push(Entry::from_certificate(&foreign_dsc, None, EntryAnchor::National).unwrap());
    let err = check(&p, &sign(&p, &l), T0).unwrap_err();
    assert!(
        matches!(
            err,
            TrustListError::Entry {
                index: 1,
                error: EntryError::Chain(ChainError::IssuerMismatch { .. }),
                ..
            }
        ),
        "{err}"
    );
    // Listed with its CSCA: accepted.
    l.entries[1].anchor = EntryAnchor::Foreign {
        csca_der: foreign_csca.clone(),
    };
    let v = check(&p, &sign(&p, &l), T0).unwrap();
    assert_eq!(v.to_trust_store().len(), 2);
    // With the wrong CSCA: refused.
    l.entries[1].anchor = EntryAnchor::Foreign {
        csca_der: p.csca.clone(),
    };
    assert!(check(&p, &sign(&p, &l), T0).is_err());
    // Unanchored: accepted and flagged, or refused by policy.
    l.entries[1].anchor = EntryAnchor::DangerousUnanchored;
    let signed = sign(&p, &l);
    let v = check(&p, &signed, T0).unwrap();
    assert_eq!(v.list().unanchored_count(), 1);
    let json = serde_json::to_value(v.list().to_json()).unwrap();
    assert_eq!(json["unanchoredEntries"], 1);
    assert_eq!(json["entries"][1]["dangerousUnanchored"], true);
    assert_eq!(json["entries"][1]["anchor"], "DANGEROUS-unanchored");
    assert!(json["entries"][0].get("dangerousUnanchored").is_none());
    let strict = TrustListPolicy {
        refuse_unanchored: true,
        ..TrustListPolicy::default()
    };
    let err = verify(&signed, &p.csca, ts(T0), None, &strict).unwrap_err();
    assert_eq!(err, TrustListError::UnanchoredRefused { count: 1 });
    // A field that disagrees with the certificate.
    let mut l = list(&p, 1);
    l.entries[0].not_after = ts(T0 + 9999 * DAY);
    let err = check(&p, &sign(&p, &l), T0).unwrap_err();
    assert!(
        err.to_string().contains("field not_after disagrees"),
        "{err}"
    );
    let mut l = list(&p, 1);
    l.entries[0].key_usage = KeyUsage::ALL;
    assert!(check(&p, &sign(&p, &l), T0).is_err());
}

#[test]
fn json_rendition() {
    let p = pki();
    let j = list(&p, 3).to_json();
    assert_eq!(j.sequence, 3);
    assert_eq!(j.issued_at, "2026-01-01T00:00:00Z");
    assert_eq!(j.expires_at, "2026-01-03T00:00:00Z");
    assert_eq!(j.entries[0].key_usage, serde_json::json!(["v"]));
    assert_eq!(
        j.entries[0].kid,
        Kid::from_certificate_der(&p.dsc).to_base64()
    );
    assert_eq!(j.entries[0].thumbprint.len(), 64);
    assert_eq!(j.entries[0].anchor, "national");
}

#[test]
fn bounded_and_strict_decoding() {
    let p = pki();
    let signed = sign(&p, &list(&p, 1));
    let small = TrustListPolicy {
        max_input: 100,
        ..TrustListPolicy::default()
    };
    assert!(matches!(
        verify(&signed, &p.csca, ts(T0), None, &small),
        Err(TrustListError::TooLarge { max: 100, .. })
    ));
    // Deep nesting is a CBOR error, not a stack overflow.
    let mut deep = vec![0x81u8; 10_000];
    deep.push(0x00);
    assert!(TrustList::from_cbor(&deep).is_err());
    // Unknown key, wrong version, wrong types.
    let mut w = Writer::new();
    w.map(1).int(99).int(1);
    assert!(
        TrustList::from_cbor(&w.into_bytes())
            .unwrap_err()
            .to_string()
            .contains("unknown key")
    );
    let mut cbor = list(&p, 1).to_cbor();
    assert_eq!(&cbor[..3], &[0xa7, 0x01, 0x01]);
    cbor[2] = 0x02;
    assert_eq!(TrustList::from_cbor(&cbor), Err(TrustListError::Version(2)));
    for junk in [&b""[..], b"\xa0", b"\x80", b"\xd2\x80", b"\xff"] {
        assert!(TrustList::from_cbor(junk).is_err());
        assert!(check(&p, junk, T0).is_err());
    }
}

#[test]
fn cache_round_trip_is_atomic_and_verified() {
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let cache = cache::Cache::new(dir.path().join("c"));
    assert!(cache.state(&p.csca, ts(T0)).is_none());
    assert!(matches!(
        cache.load(&p.csca, ts(T0), &TrustListPolicy::default()),
        Err(cache::CacheError::Empty(_))
    ));
    let signed = sign(&p, &list(&p, 7));
    cache.store(&signed, Some("\"abc\"")).unwrap();
    assert_eq!(cache.read_etag().as_deref(), Some("\"abc\""));
    let v = cache
        .load(&p.csca, ts(T0), &TrustListPolicy::default())
        .unwrap();
    assert_eq!(v.list().sequence, 7);
    // The state survives expiry (rollback protection), loading does not.
    let late = ts(T0 + 30 * DAY);
    assert_eq!(cache.state(&p.csca, late).unwrap().sequence, 7);
    assert!(
        cache
            .load(&p.csca, late, &TrustListPolicy::default())
            .is_err()
    );
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // A cache edited on disk is refused.
    let mut bad = signed.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    std::fs::write(cache.list_path(), &bad).unwrap();
    assert!(
        cache
            .load(&p.csca, ts(T0), &TrustListPolicy::default())
            .is_err()
    );
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn fixture() -> &'static (Pki, Vec<u8>) {
        static F: OnceLock<(Pki, Vec<u8>)> = OnceLock::new();
        F.get_or_init(|| {
            let p = pki();
            let signed = sign(&p, &list(&p, 1));
            (p, signed)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Arbitrary edits of a genuine list (overwrite, cut, insert) never panic and are never
        /// accepted with other content.
        #[test]
        fn mutated_lists_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6)
        ) {
            let (p, signed) = fixture();
            let mut bytes = signed.clone();
            for (pos, byte, kind) in edits {
                if bytes.is_empty() { break; }
                let i = pos % bytes.len();
                match kind {
                    0 => bytes[i] = byte,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, byte),
                }
            }
            if let Ok(v) = check(p, &bytes, T0) {
                prop_assert_eq!(v.list(), &list(p, 1));
            }
            let _ = dangerous_decode_unverified(&bytes);
        }

        /// Random bytes never panic.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let (p, _) = fixture();
            prop_assert!(check(p, &bytes, T0).is_err());
        }
    }
}

#[test]
fn rsa_csca_pkcs1_and_pss_chains() {
    use rsa::pkcs8::EncodePublicKey as _;
    use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
    let rsa_key = crate::testutil::rsa_key();
    let rsa_spki = rsa_key.to_public_key().to_public_key_der().unwrap();
    const RSA_DN: &str = "C=VN,O=test,CN=VN RSA CSCA";
    let pkcs1 = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"),
        parameters: Some(der::asn1::Null.into()),
    };
    let sign_pkcs1 = |tbs: &[u8]| {
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key.clone())
            .sign(tbs)
            .to_vec()
    };
    let csca = cert_with(
        &CertSpec {
            subject: RSA_DN,
            issuer: RSA_DN,
            ca: true,
            eku: None,
            from: T0 - DAY,
            to: T0 + 3650 * DAY,
        },
        rsa_spki.as_bytes(),
        pkcs1.clone(),
        sign_pkcs1,
    );
    let signer_key = key();
    let signer_spki = signer_key.verifying_key().to_public_key_der().unwrap();
    let spec = |cn| CertSpec {
        subject: cn,
        issuer: RSA_DN,
        ca: false,
        eku: None,
        from: T0 - DAY,
        to: T0 + 365 * DAY,
    };
    let signer = cert_with(
        &spec("C=VN,O=test,CN=Signer"),
        signer_spki.as_bytes(),
        pkcs1,
        sign_pkcs1,
    );
    // A DSC signed with RSASSA-PSS (SHA-256, salt 32), parameters per RFC 4055.
    let params = rsa::pkcs1::RsaPssParams::new::<sha2::Sha256>(32);
    let pss = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10"),
        parameters: Some(der::Any::encode_from(&params).unwrap()),
    };
    let dsc_key = key();
    let dsc_spki = dsc_key.verifying_key().to_public_key_der().unwrap();
    let dsc = cert_with(
        &spec("C=VN,O=test,CN=PSS DSC"),
        dsc_spki.as_bytes(),
        pss,
        |tbs| {
            rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(rsa_key.clone(), 32)
                .sign_with_rng(&mut rand_core::OsRng, tbs)
                .to_vec()
        },
    );
    x509::check_chain(&dsc, &csca).unwrap();
    x509::check_chain(&signer, &csca).unwrap();
    let l = TrustList {
        issuer_country: "VN".into(),
        sequence: 1,
        issued_at: ts(T0),
        expires_at: ts(T0 + DAY),
        entries: vec![Entry::from_certificate(&dsc, None, EntryAnchor::National).unwrap()],
        signer_certificate_der: signer.clone(),
    };
    let signed = sign_with(&l, &signer, &signer_key);
    verify(&signed, &csca, ts(T0), None, &TrustListPolicy::default()).unwrap();
    // A PSS certificate checked against another RSA key fails.
    let other = pki();
    assert!(x509::check_chain(&dsc, &other.csca).is_err());
    let mut bad = dsc.clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    assert!(matches!(
        x509::check_chain(&bad, &csca),
        Err(ChainError::BadSignature { .. })
    ));
}

#[test]
fn delta_rebuilds_the_signed_list_exactly() {
    let p = pki();
    let mut l1 = list(&p, 1);
    let extra = cert(
        &CertSpec {
            subject: "C=VN,O=test,CN=VN DSC 2",
            issuer: CSCA_DN,
            ca: false,
            eku: None,
            from: T0 - DAY,
            to: T0 + 365 * DAY,
        },
        &key(),
        &p.csca_key,
    );
    l1.entries
        .push(Entry::from_certificate(&extra, None, EntryAnchor::National).unwrap());
    let s1 = sign(&p, &l1);
    // List 2: first entry removed, a new one added, the second kept.
    let new_dsc = cert(
        &CertSpec {
            subject: "C=VN,O=test,CN=VN DSC 3",
            issuer: CSCA_DN,
            ca: false,
            eku: Some(&["1.3.6.1.4.1.1847.2021.1.1"]),
            from: T0 - DAY,
            to: T0 + 365 * DAY,
        },
        &key(),
        &p.csca_key,
    );
    let mut l2 = l1.clone();
    l2.sequence = 2;
    l2.entries.remove(0);
    l2.entries
        .push(Entry::from_certificate(&new_dsc, None, EntryAnchor::National).unwrap());
    let s2 = sign(&p, &l2);
    let d = delta::make_delta(&s1, &s2).unwrap().unwrap();
    assert!(
        d.len() < s2.len() - extra.len() + 64,
        "kept entry sent by index"
    );
    let rebuilt = delta::apply_delta(&s1, &d).unwrap();
    assert_eq!(rebuilt, s2);
    let state = check(&p, &s1, T0).unwrap().cache_state();
    let v = verify(
        &rebuilt,
        &p.csca,
        ts(T0),
        Some(&state),
        &TrustListPolicy::default(),
    )
    .unwrap();
    assert_eq!(v.list(), &l2);
    // Against another base: refused.
    assert!(delta::apply_delta(&s2, &d).is_err());
    // A delta with a forged entry rebuilds a list whose signature fails.
    let forged = delta::make_delta(&s1, &sign(&p, &l1)).unwrap().unwrap();
    let mut bad = forged.clone();
    let pos = bad.len() - 1;
    assert_eq!(bad[pos], 0x01, "last op: keep base entry 1");
    bad[pos] = 0x00; // now: keep base entry 0 twice
    let rebuilt = delta::apply_delta(&s1, &bad).unwrap();
    assert!(check(&p, &rebuilt, T0).is_err());
    // Index out of range and junk: errors, not panics.
    bad[pos] = 0x17;
    assert!(delta::apply_delta(&s1, &bad).is_err());
    assert!(delta::apply_delta(&s1, b"\xa0").is_err());
    assert!(delta::apply_delta(b"junk", &forged).is_err());
}
