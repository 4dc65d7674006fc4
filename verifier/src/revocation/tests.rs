//! Revocation lists signed by a genuinely chained test PKI (the trust list's), certificates
//! signed with ES256 and PS256, and the three hashes checked against Python's hashlib.

use super::gateway::{GatewayBatch, GatewayError, export};
use super::*;
use crate::encode::{IssueClaims, encode_hc1};
use crate::testutil;
use crate::trustlist::tests::{DAY, Pki, T0, pki, ts};
use crate::verify::{Limits, decode};

const CI: &str = "URN:UVCI:01:VN:TESTREVOKE0001#K";

fn header(p: &Pki, sequence: u64) -> ListHeader {
    ListHeader {
        issuer_country: "VN".into(),
        sequence,
        issued_at: ts(T0),
        expires_at: ts(T0 + DEFAULT_LIFETIME),
        signer_certificate_der: p.signer.clone(),
    }
}

fn group(hash_type: HashType, reason: Reason, kid: Option<Kid>, expires: i64) -> Group {
    Group {
        hash_type,
        country: "VN".into(),
        kid,
        expires_at: ts(expires),
        reason,
    }
}

fn sign(p: &Pki, list: &RevocationList) -> Vec<u8> {
    list.sign::<std::convert::Infallible>(
        Algorithm::Es256,
        &Kid::from_certificate_der(&p.signer),
        |tbs| Ok(testutil::es256_sign(&p.signer_key, tbs)),
    )
    .unwrap()
}

fn check(
    p: &Pki,
    bytes: &[u8],
    cached: Option<&CacheState>,
) -> Result<RevocationStore, RevocationError> {
    verify(
        bytes,
        &p.csca,
        ts(T0 + 60),
        cached,
        &RevocationPolicy::default(),
    )
    .map(|v| v.into_store())
}

/// What a verifier remembers of the list `bytes` (verified at `T0 + 60`).
fn cache_state_of(p: &Pki, bytes: &[u8]) -> CacheState {
    verify(
        bytes,
        &p.csca,
        ts(T0 + 60),
        None,
        &RevocationPolicy::default(),
    )
    .unwrap()
    .cache_state()
}

fn payload(ci: &str) -> Vec<u8> {
    crate::model::json_to_cbor(&serde_json::json!({
        "ver": "1.3.0",
        "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Văn An", "gnt": "VAN<AN"},
        "dob": "1990-01-01",
        "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
               "dn": 2, "sd": 2, "dt": "2021-08-01", "co": "VN", "is": "Ministry of Health of Viet Nam",
               "ci": ci}]
    }))
}

/// Signs a to-be-signed byte string.
type SignFn = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A certificate for `ci` signed with `alg` by a fresh DSC, and the signature it carries.
fn certificate(alg: Algorithm, ci: &str) -> (SignedHcert, Vec<u8>, Kid) {
    let (dsc, sign): (Vec<u8>, SignFn) = match alg {
        Algorithm::Es256 => {
            let (dsc, sk) = testutil::p256_cert(None);
            (dsc, Box::new(move |tbs| testutil::es256_sign(&sk, tbs)))
        }
        Algorithm::Ps256 => {
            let (dsc, sk) = testutil::rsa_cert(None);
            (dsc, Box::new(move |tbs| testutil::ps256_sign(sk, tbs)))
        }
    };
    let kid = Kid::from_certificate_der(&dsc);
    let mut sig = Vec::new();
    let claims = IssueClaims {
        iss: Some("VN"),
        iat: ts(T0 - DAY),
        exp: ts(T0 + 365 * DAY),
    };
    let hc1 = encode_hc1(&payload(ci), &claims, alg, &kid, |tbs| {
        sig = sign(tbs);
        Ok::<_, std::convert::Infallible>(sig.clone())
    })
    .unwrap();
    (decode(&hc1, &Limits::default()).unwrap(), sig, kid)
}

fn es256_certificate(ci: &str) -> (SignedHcert, Vec<u8>, Kid) {
    certificate(Algorithm::Es256, ci)
}

use crate::SignedHcert;

/// Python's hashlib over the same bytes: `sha256(data)[:16]`, Base64. `None` without python3.
fn python_hash(data_hex: &str) -> Option<String> {
    let script = "import base64,hashlib,sys; d=bytes.fromhex(sys.argv[1]); \
                  print(base64.b64encode(hashlib.sha256(d).digest()[:16]).decode())";
    let out = std::process::Command::new("python3")
        .args(["-c", script, data_hex])
        .output()
        .ok()?;
    assert!(out.status.success(), "python3 failed: {:?}", out);
    Some(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

#[test]
fn the_three_hashes_equal_pythons_for_es256_and_ps256() {
    for (name, (signed, sig, _)) in [
        ("ES256", es256_certificate(CI)),
        ("PS256", certificate(Algorithm::Ps256, CI)),
    ] {
        let hashes = CertificateHashes::of(&signed);
        assert_eq!(
            signed.signature(),
            &sig[..],
            "{name}: the signature read back"
        );
        let signed_part = if name == "ES256" {
            &sig[..32]
        } else {
            &sig[..]
        };
        let cases = [
            (HashType::Signature, hex::encode(signed_part)),
            (HashType::Uci, hex::encode(CI.as_bytes())),
            (
                HashType::CountryCodeUci,
                hex::encode(format!("VN{CI}").as_bytes()),
            ),
        ];
        for (t, input_hex) in cases {
            let ours = hashes.get(t).unwrap().to_base64();
            let Some(theirs) = python_hash(&input_hex) else {
                println!("SKIPPED (hash cross-check): python3 not found");
                return;
            };
            assert_eq!(ours, theirs, "{name} {t}");
            assert!(ours.len() == 24 && ours.ends_with("=="));
        }
    }
}

fn one_revocation(p: &Pki, hash: RevocationHash, g: &Group) -> Vec<u8> {
    let mut b = RevocationListBuilder::new();
    b.add(hash, g).unwrap();
    sign(p, &b.build(header(p, 1), None, false))
}

#[test]
fn revoked_certificate_is_revoked_with_its_reason() {
    let p = pki();
    let (signed, _, kid) = es256_certificate(CI);
    let hashes = CertificateHashes::of(&signed);
    let g = group(HashType::Uci, Reason::Superseded, Some(kid), T0 + 365 * DAY);
    let store = check(&p, &one_revocation(&p, hashes.uci.unwrap(), &g), None).unwrap();
    assert_eq!(
        store.status(&hashes, Some(kid), ts(T0 + 60)),
        RevocationStatus::Revoked {
            reason: Reason::Superseded,
            hash_type: HashType::Uci,
            country: "VN".into()
        }
    );
    // Another certificate is not.
    let (other, _, other_kid) = es256_certificate("URN:UVCI:01:VN:SOMEONEELSE#Q");
    assert_eq!(
        store.status(&CertificateHashes::of(&other), Some(other_kid), ts(T0 + 60)),
        RevocationStatus::NotRevoked
    );
}

#[test]
fn signature_entry_revokes_one_signed_instance_only() {
    let p = pki();
    let (old, _, old_kid) = es256_certificate(CI);
    // The same UCI re-signed by another DSC (a compromised key's certificates, re-issued).
    let (new, _, new_kid) = es256_certificate(CI);
    let g = group(
        HashType::Signature,
        Reason::Error,
        Some(old_kid),
        T0 + 365 * DAY,
    );
    let old_h = CertificateHashes::of(&old);
    let store = check(&p, &one_revocation(&p, old_h.signature.unwrap(), &g), None).unwrap();
    assert!(matches!(
        store.status(&old_h, Some(old_kid), ts(T0 + 60)),
        RevocationStatus::Revoked {
            hash_type: HashType::Signature,
            ..
        }
    ));
    assert_eq!(
        store.status(&CertificateHashes::of(&new), Some(new_kid), ts(T0 + 60)),
        RevocationStatus::NotRevoked
    );
}

#[test]
fn entry_of_another_dsc_does_not_apply() {
    let p = pki();
    let (signed, _, _) = es256_certificate(CI);
    let h = CertificateHashes::of(&signed);
    let other_kid = Kid::from_bytes(&[9; 8]).unwrap();
    let g = group(
        HashType::Uci,
        Reason::Fraud,
        Some(other_kid),
        T0 + 365 * DAY,
    );
    let store = check(&p, &one_revocation(&p, h.uci.unwrap(), &g), None).unwrap();
    assert_eq!(
        store.status(&h, signed.kid(), ts(T0 + 60)),
        RevocationStatus::NotRevoked
    );
}

#[test]
fn entry_whose_certificate_expired_no_longer_counts() {
    let p = pki();
    let (signed, _, kid) = es256_certificate(CI);
    let h = CertificateHashes::of(&signed);
    let g = group(HashType::Uci, Reason::Error, Some(kid), T0 + 3600);
    let store = check(&p, &one_revocation(&p, h.uci.unwrap(), &g), None).unwrap();
    assert!(matches!(
        store.status(&h, Some(kid), ts(T0 + 60)),
        RevocationStatus::Revoked { .. }
    ));
    assert_eq!(
        store.status(&h, Some(kid), ts(T0 + 3601)),
        RevocationStatus::NotRevoked
    );
    // The publisher prunes it: built at a later time the list no longer holds it (fraud
    // entries only when asked to keep them).
    let mut b = RevocationListBuilder::new();
    b.add(h.uci.unwrap(), &g).unwrap();
    let fraud = group(HashType::Signature, Reason::Fraud, Some(kid), T0 + 3600);
    b.add(h.signature.unwrap(), &fraud).unwrap();
    let pruned = b.clone().build(header(&p, 2), Some(ts(T0 + 7200)), false);
    assert!(pruned.is_empty() && pruned.groups().is_empty());
    let kept = b.build(header(&p, 2), Some(ts(T0 + 7200)), true);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept.groups()[0].reason, Reason::Fraud);
}

#[test]
fn stale_list_still_answers_and_expired_one_says_unknown() {
    let p = pki();
    let (signed, _, kid) = es256_certificate(CI);
    let h = CertificateHashes::of(&signed);
    let (other, _, other_kid) = es256_certificate("URN:UVCI:01:VN:NOTREVOKED#Z");
    let oh = CertificateHashes::of(&other);
    let g = group(HashType::Uci, Reason::Error, Some(kid), T0 + 365 * DAY);
    let store = check(&p, &one_revocation(&p, h.uci.unwrap(), &g), None).unwrap();
    let expiry = T0 + DEFAULT_LIFETIME;
    let grace = RevocationPolicy::default().grace;
    // Stale within the grace: still vouches, reported stale.
    let stale = ts(expiry + grace - 1);
    assert!(matches!(store.freshness(stale), Freshness::Stale { .. }));
    assert_eq!(
        store.status(&oh, Some(other_kid), stale),
        RevocationStatus::NotRevoked
    );
    // Beyond: unknown for what it does not name, still revoked for what it does.
    let late = ts(expiry + grace + 1);
    assert_eq!(
        store.status(&oh, Some(other_kid), late),
        RevocationStatus::Unknown {
            expired_for: grace + 1
        }
    );
    assert_eq!(
        store.status(&oh, Some(other_kid), late).code(),
        "REVOCATION_UNKNOWN"
    );
    assert!(matches!(
        store.status(&h, Some(kid), late),
        RevocationStatus::Revoked { .. }
    ));
}

#[test]
fn tampered_list_is_refused() {
    let p = pki();
    let g = group(HashType::Uci, Reason::Error, None, T0 + 365 * DAY);
    let hash = RevocationHash::uci(CI);
    let mut bytes = one_revocation(&p, hash, &g);
    // Flip one bit of the revoked hash.
    let at = bytes.windows(16).position(|w| w == hash.0).unwrap();
    bytes[at] ^= 1;
    let err = check(&p, &bytes, None).unwrap_err();
    assert_eq!(err.code(), "REVOCATION_LIST_SIGNATURE", "{err}");
    // Signed by a key the anchor never certified.
    let other = pki();
    let err = check(
        &p,
        &one_revocation(&other, RevocationHash::uci(CI), &g),
        None,
    )
    .unwrap_err();
    assert_eq!(err.code(), "REVOCATION_LIST_CHAIN", "{err}");
    // Garbage never panics.
    for junk in [
        &b""[..],
        b"\xd2\x84",
        b"\xd2\x84\x43\xa1\x01\x26\xa0\x41\x00\x40",
    ] {
        assert!(check(&p, junk, None).is_err());
    }
}

#[test]
fn rollback_is_refused() {
    let p = pki();
    let g = group(HashType::Uci, Reason::Error, None, T0 + 365 * DAY);
    let mut b = RevocationListBuilder::new();
    b.add(RevocationHash::uci(CI), &g).unwrap();
    let v2 = sign(&p, &b.clone().build(header(&p, 2), None, false));
    let v1 = sign(
        &p,
        &RevocationListBuilder::new().build(header(&p, 1), None, false),
    );
    let cached = cache_state_of(&p, &v2);
    let err = check(&p, &v1, Some(&cached)).unwrap_err();
    assert_eq!(
        err,
        RevocationError::Rollback {
            cached: 2,
            received: 1
        }
    );
    // Same sequence, other content.
    b.add(RevocationHash::uci("URN:UVCI:01:VN:ANOTHER#A"), &g)
        .unwrap();
    let v2b = sign(&p, &b.build(header(&p, 2), None, false));
    assert_eq!(
        check(&p, &v2b, Some(&cached)).unwrap_err(),
        RevocationError::SequenceReused { sequence: 2 }
    );
    // The same list again is fine (a re-download), and so is a newer one.
    assert!(check(&p, &v2, Some(&cached)).is_ok());
}

#[test]
fn entries_out_of_order_are_refused() {
    let p = pki();
    let g = group(HashType::Uci, Reason::Error, None, T0 + 365 * DAY);
    let mut b = RevocationListBuilder::new();
    b.add(RevocationHash([1; 16]), &g).unwrap();
    b.add(RevocationHash([2; 16]), &g).unwrap();
    let list = b.build(header(&p, 1), None, false);
    let mut cbor = list.to_cbor();
    let pos = cbor.windows(16).position(|w| w == [1; 16]).unwrap();
    cbor[pos..pos + 16].copy_from_slice(&[3; 16]);
    let err = RevocationList::from_cbor(&cbor).unwrap_err();
    assert!(err.to_string().contains("ascending"), "{err}");
}

#[test]
fn list_round_trips_through_cbor_and_is_deterministic() {
    let p = pki();
    let mut a = RevocationListBuilder::new();
    let mut b = RevocationListBuilder::new();
    let groups = [
        group(HashType::Uci, Reason::Superseded, None, T0 + 10 * DAY),
        group(
            HashType::Signature,
            Reason::Fraud,
            Some(Kid::from_bytes(&[4; 8]).unwrap()),
            T0 + DAY,
        ),
    ];
    let hashes: Vec<RevocationHash> = (0..50u32)
        .map(|i| RevocationHash::uci(&i.to_string()))
        .collect();
    for (i, h) in hashes.iter().enumerate() {
        a.add(*h, &groups[i % 2]).unwrap();
    }
    for (i, h) in hashes.iter().enumerate().rev() {
        b.add(*h, &groups[i % 2]).unwrap();
        b.add(*h, &groups[i % 2]).unwrap(); // duplicates collapse
    }
    let la = a.build(header(&p, 1), None, false);
    let lb = b.build(header(&p, 1), None, false);
    assert_eq!(la.to_cbor(), lb.to_cbor());
    assert_eq!(RevocationList::from_cbor(&la.to_cbor()).unwrap(), la);
    assert_eq!(la.len(), 50);
}

#[test]
fn many_entries_are_all_found_and_nothing_else() {
    let p = pki();
    let g = group(HashType::Uci, Reason::Error, None, T0 + 365 * DAY);
    let mut b = RevocationListBuilder::new();
    for i in 0..20_000u32 {
        b.add(RevocationHash::uci(&format!("in-{i}")), &g).unwrap();
    }
    let store = check(&p, &sign(&p, &b.build(header(&p, 1), None, false)), None).unwrap();
    let now = ts(T0 + 60);
    for i in 0..20_000u32 {
        let h = RevocationHash::uci(&format!("in-{i}"));
        assert!(
            store.lookup(&h, HashType::Uci, None, now).is_some(),
            "in-{i}"
        );
        let miss = RevocationHash::uci(&format!("out-{i}"));
        assert!(
            store.lookup(&miss, HashType::Uci, None, now).is_none(),
            "out-{i}"
        );
        // The right hash under another type does not count.
        assert!(store.lookup(&h, HashType::Signature, None, now).is_none());
    }
    assert!(store.memory_bytes() < 20_000 * 18 + 20_000 + 4096);
}

#[test]
fn another_countrys_gateway_batch_is_imported_and_checked() {
    let p = pki();
    let (signed, _, kid) = es256_certificate(CI);
    let h = CertificateHashes::of(&signed);
    let batch = serde_json::json!({
        "country": "DE",
        "expires": "2027-06-01T00:00:00Z",
        "kid": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, kid.as_bytes()),
        "hashType": "COUNTRYCODEUCI",
        "entries": [{"hash": h.country_code_uci.unwrap().to_base64()},
                    {"hash": RevocationHash::uci("x").to_base64()}]
    });
    let parsed = GatewayBatch::parse(batch.to_string().as_bytes()).unwrap();
    let mut b = RevocationListBuilder::new();
    assert_eq!(parsed.import_into(&mut b).unwrap(), 2);
    let store = check(&p, &sign(&p, &b.build(header(&p, 1), None, false)), None).unwrap();
    assert_eq!(
        store.status(&h, Some(kid), ts(T0 + 60)),
        RevocationStatus::Revoked {
            reason: Reason::Unspecified,
            hash_type: HashType::CountryCodeUci,
            country: "DE".into()
        }
    );
    // Export gives the gateway's shape back.
    let out = export(store.list(), ts(T0));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].entries.len(), 2);
    assert_eq!(out[0].hash_type, "COUNTRYCODEUCI");
    assert!(out[0].check().is_ok());

    // Every schema constraint is enforced.
    let bad = |patch: serde_json::Value| {
        let mut v = batch.clone();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        GatewayBatch::parse(v.to_string().as_bytes()).unwrap_err()
    };
    assert_eq!(
        bad(serde_json::json!({"country": "de"})),
        GatewayError::Country
    );
    assert_eq!(
        bad(serde_json::json!({"expires": "2027-06-01"})),
        GatewayError::Expires
    );
    assert_eq!(bad(serde_json::json!({"kid": "AAAA"})), GatewayError::Kid);
    assert_eq!(
        bad(serde_json::json!({"hashType": "SHA256"})),
        GatewayError::HashType
    );
    assert_eq!(
        bad(serde_json::json!({"entries": []})),
        GatewayError::EntryCount(0)
    );
    let many: Vec<_> = (0..1001)
        .map(|i| serde_json::json!({"hash": RevocationHash::uci(&i.to_string()).to_base64()}))
        .collect();
    assert_eq!(
        bad(serde_json::json!({"entries": many})),
        GatewayError::EntryCount(1001)
    );
    assert_eq!(
        bad(serde_json::json!({"entries": [{"hash": "AAAAAAAAAAAAAAAAAAAAAAA="}]})),
        GatewayError::Entry(1)
    );
    assert!(matches!(
        bad(serde_json::json!({"extra": 1})),
        GatewayError::Json(_)
    ));
}

#[test]
fn exported_batches_obey_the_gateway_constraints() {
    let p = pki();
    let kid = Kid::from_bytes(&[7; 8]).unwrap();
    let g = group(
        HashType::Signature,
        Reason::Superseded,
        Some(kid),
        T0 + 30 * DAY,
    );
    let mut b = RevocationListBuilder::new();
    for i in 0..2_500u32 {
        b.add(RevocationHash::uci(&i.to_string()), &g).unwrap();
    }
    let batches = export(&b.build(header(&p, 1), None, false), ts(T0));
    assert_eq!(
        batches.iter().map(|x| x.entries.len()).collect::<Vec<_>>(),
        [1000, 1000, 500]
    );
    let re = regex::Regex::new("^[A-Za-z0-9+/]{22}==$").unwrap();
    for batch in &batches {
        assert!(batch.check().is_ok());
        assert_eq!(batch.kid.len(), 12);
        assert!(["SIGNATURE", "UCI", "COUNTRYCODEUCI"].contains(&batch.hash_type.as_str()));
        assert!(batch.entries.iter().all(|e| re.is_match(&e.hash)));
    }
}

/// `n` entries of pseudo-random hashes (seeded by `seed`) in `g`.
fn random_entries(b: &mut RevocationListBuilder, n: usize, seed: u64, g: &Group) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..n {
        let mut h = [0u8; HASH_LEN];
        for chunk in h.chunks_mut(8) {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            chunk.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_be_bytes());
        }
        b.add(RevocationHash(h), g).unwrap();
    }
}

#[test]
fn a_delta_rebuilds_the_signed_list_and_is_verified_as_one() {
    let p = pki();
    let dsc = Some(Kid::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap());
    let soon = group(HashType::Signature, Reason::Superseded, dsc, T0 + 10 * DAY);
    let later = group(HashType::Uci, Reason::Error, None, T0 + 100 * DAY);
    let fraud = group(
        HashType::CountryCodeUci,
        Reason::Fraud,
        None,
        T0 + 200 * DAY,
    );
    // List 1: 3,000 entries in two groups.
    let mut b1 = RevocationListBuilder::new();
    random_entries(&mut b1, 2_000, 1, &soon);
    random_entries(&mut b1, 1_000, 2, &later);
    let l1 = b1.clone().build(header(&p, 1), None, false);
    let s1 = sign(&p, &l1);
    // List 2: the group `soon` gone (its certificates expired), 500 new in `later`, a new
    // group `fraud` of 300.
    let mut b2 = RevocationListBuilder::new();
    random_entries(&mut b2, 1_000, 2, &later);
    random_entries(&mut b2, 500, 3, &later);
    random_entries(&mut b2, 300, 4, &fraud);
    let l2 = b2.clone().build(header(&p, 2), None, false);
    let s2 = sign(&p, &l2);
    // List 3: 100 more fraud entries.
    let mut b3 = b2.clone();
    random_entries(&mut b3, 100, 5, &fraud);
    let l3 = b3.build(header(&p, 3), None, false);
    let s3 = sign(&p, &l3);

    let d12 = delta::ListDiff::between(&l1, &l2);
    assert_eq!((d12.added().count(), d12.removed().count()), (800, 2_000));
    let sha1 = delta::payload_sha256(&s1).unwrap();
    let delta = delta::make_delta(1, &sha1, &s2, &l2, &d12).unwrap();
    assert_eq!(
        delta::apply_delta(&s1, &delta).unwrap(),
        s2,
        "byte for byte"
    );
    // The rebuilt list verifies (as a successor of list 1).
    let cached = cache_state_of(&p, &s1);
    assert!(check(&p, &delta::apply_delta(&s1, &delta).unwrap(), Some(&cached)).is_ok());

    // Composed: 1 → 2 → 3 equals the diff 1 → 3, and its delta rebuilds list 3.
    let d23 = delta::ListDiff::between(&l2, &l3);
    assert_eq!((d23.added().count(), d23.removed().count()), (100, 0));
    let d13 = d12.then(&d23);
    assert_eq!(d13, delta::ListDiff::between(&l1, &l3));
    let delta13 = delta::make_delta(1, &sha1, &s3, &l3, &d13).unwrap();
    assert_eq!(delta::apply_delta(&s1, &delta13).unwrap(), s3);
    // Added then removed, removed then added back: no change.
    assert!(d12.then(&delta::ListDiff::between(&l2, &l1)).is_empty());

    // A delta for another base, or applied to another base, does not fit.
    assert!(delta::apply_delta(&s2, &delta).is_err());
    let wrong_base = delta::make_delta(1, &[0u8; 32], &s2, &l2, &d12).unwrap();
    assert!(delta::apply_delta(&s1, &wrong_base).is_err());
    // A forged delta (one added hash altered) rebuilds a list whose signature fails.
    let first_added = d12.added().next().unwrap().0.0;
    let pos = delta
        .windows(HASH_LEN)
        .position(|w| w == first_added)
        .unwrap();
    let mut forged = delta.clone();
    forged[pos] ^= 0x01;
    let rebuilt = delta::apply_delta(&s1, &forged).unwrap();
    assert!(matches!(
        check(&p, &rebuilt, Some(&cached)),
        Err(RevocationError::Signature(_))
    ));
    // A delta removing an entry list 1 does not hold, or adding one it holds: refused.
    let backwards = delta::ListDiff::between(&l2, &l1);
    let mismatched = delta::make_delta(1, &sha1, &s1, &l1, &backwards).unwrap();
    assert!(delta::apply_delta(&s1, &mismatched).is_err());
    assert!(delta::apply_delta(&s1, b"\xa0").is_err());
    assert!(delta::apply_delta(b"junk", &delta).is_err());
}

/// Issue 14's figure: a delta of 10,000 new entries, on a list of 100,000, is well under 1 MB
/// (18 bytes an entry). The benchmark (`benches/revocation.rs`) prints it at 10 M entries.
#[test]
fn a_delta_of_ten_thousand_entries_is_under_a_megabyte() {
    let p = pki();
    let g = group(HashType::Uci, Reason::Superseded, None, T0 + 100 * DAY);
    let mut b = RevocationListBuilder::new();
    random_entries(&mut b, 100_000, 7, &g);
    let l1 = b.clone().build(header(&p, 1), None, false);
    let s1 = sign(&p, &l1);
    random_entries(&mut b, 10_000, 8, &g);
    let l2 = b.build(header(&p, 2), None, false);
    let s2 = sign(&p, &l2);
    let diff = delta::ListDiff::between(&l1, &l2);
    assert_eq!(diff.added().count(), 10_000);
    let d = delta::make_delta(1, &delta::payload_sha256(&s1).unwrap(), &s2, &l2, &diff).unwrap();
    println!(
        "delta of 10,000 entries: {} bytes (the full list: {} bytes)",
        d.len(),
        s2.len()
    );
    assert!(d.len() < 1_000_000, "{} bytes", d.len());
    assert!(d.len() < 10_000 * 18 + 4_096, "{} bytes", d.len());
    assert_eq!(delta::apply_delta(&s1, &d).unwrap(), s2);
}
