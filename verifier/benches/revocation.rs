//! The revocation store at campaign scale: ten million revoked entries.
//!
//! - `revocation/load-10M`: verify the signed list (signature over ~180 MB, signer chain,
//!   structure) and build the store — what a verifier does at start-up from its cache;
//! - `revocation/status-miss` and `status-hit`: the three hash lookups for one certificate,
//!   cycling over a million different certificates so that the store is not in cache;
//! - `revocation/full-verify-es256`: a full ES256 verify of one certificate, side by side, for
//!   the ratio.
//!
//! The store's memory and the list's size are printed before the runs, and the size of the
//! delta that brings 10,000 new revocations (`revocation::delta`), with the time to make and
//! to apply it.
//!
//! `cargo bench -p vaxpass-verifier --bench revocation` (set `REVOCATION_BENCH_ENTRIES` for
//! another size; default 10,000,000).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use p256::pkcs8::DecodePrivateKey;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use vaxpass_verifier::encode::{IssueClaims, encode_hc1};
use vaxpass_verifier::revocation::{
    CertificateHashes, Group, HashType, ListHeader, Reason, RevocationHash, RevocationListBuilder,
    RevocationPolicy, RevocationStatus, delta, verify,
};
use vaxpass_verifier::{Algorithm, Kid, Timestamp, TrustStore, TrustedSigner, Verifier};

fn es256(key: &p256::ecdsa::SigningKey, tbs: &[u8]) -> Vec<u8> {
    let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, tbs);
    sig.to_bytes().to_vec()
}

fn revocation(c: &mut Criterion) {
    let n: u32 = std::env::var("REVOCATION_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let now = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();

    // A CSCA, the list signer it certifies, and a DSC.
    let csca_key = KeyPair::generate().unwrap();
    let mut csca = CertificateParams::new(Vec::<String>::new()).unwrap();
    csca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    csca.distinguished_name
        .push(DnType::CommonName, "bench CSCA");
    csca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let csca_der = csca.self_signed(&csca_key).unwrap().der().to_vec();
    let issuer = Issuer::from_params(&csca, &csca_key);
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        let der = p.signed_by(&key, &issuer).unwrap().der().to_vec();
        let sk = p256::ecdsa::SigningKey::from_pkcs8_der(&key.serialize_der()).unwrap();
        (der, sk)
    };
    let (signer_der, signer_key) = leaf("bench list signer");
    let (dsc_der, dsc_key) = leaf("bench DSC");
    let dsc_kid = Kid::from_certificate_der(&dsc_der);

    // n revoked UCIs in a year's worth of daily groups.
    let mut builder = RevocationListBuilder::new();
    let groups: Vec<Group> = (0..365)
        .map(|day| Group {
            hash_type: HashType::Uci,
            country: "VN".into(),
            kid: Some(dsc_kid),
            expires_at: Timestamp::from_unix_seconds(now.unix_seconds() + 86_400 * (day + 1)),
            reason: Reason::Superseded,
        })
        .collect();
    for i in 0..n {
        let ci = format!("URN:UVCI:01:VN:{i:016}#R");
        builder
            .add(RevocationHash::uci(&ci), &groups[i as usize % groups.len()])
            .unwrap();
    }
    let header = ListHeader {
        issuer_country: "VN".into(),
        sequence: 1,
        issued_at: now,
        expires_at: Timestamp::from_unix_seconds(now.unix_seconds() + 86_400),
        signer_certificate_der: signer_der.clone(),
    };
    let sign_list = |list: &vaxpass_verifier::revocation::RevocationList| {
        list.sign::<std::convert::Infallible>(
            Algorithm::Es256,
            &Kid::from_certificate_der(&signer_der),
            |tbs| Ok(es256(&signer_key, tbs)),
        )
        .unwrap()
    };
    let list = builder.clone().build(header.clone(), None, false);
    let signed = sign_list(&list);

    // The delta of the next list: 10,000 more revocations.
    let mut next = builder;
    for i in 0..10_000u32 {
        let ci = format!("URN:UVCI:01:VN:NEW{i:012}#R");
        next.add(RevocationHash::uci(&ci), &groups[i as usize % groups.len()])
            .unwrap();
    }
    let list2 = next.build(
        ListHeader {
            sequence: 2,
            ..header
        },
        None,
        false,
    );
    let signed2 = sign_list(&list2);
    let t = std::time::Instant::now();
    let diff = delta::ListDiff::between(&list, &list2);
    let made = delta::make_delta(
        1,
        &delta::payload_sha256(&signed).unwrap(),
        &signed2,
        &list2,
        &diff,
    )
    .unwrap();
    let make_time = t.elapsed();
    let t = std::time::Instant::now();
    let rebuilt = delta::apply_delta(&signed, &made).unwrap();
    let apply_time = t.elapsed();
    assert_eq!(rebuilt, signed2);
    println!(
        "revocation delta: 10,000 new entries on {n}: {} bytes ({:.3} MB; the full list {:.1} MB), \
         made in {make_time:.2?}, applied (rebuilding the signed list) in {apply_time:.2?}",
        made.len(),
        made.len() as f64 / 1e6,
        signed2.len() as f64 / 1e6,
    );
    drop((list, list2, signed2, rebuilt, made, diff));
    let policy = RevocationPolicy::default();
    let store = verify(&signed, &csca_der, now, None, &policy)
        .unwrap()
        .into_store();
    println!(
        "revocation: {n} entries, signed list {:.1} MB, store {:.1} MB ({:.1} bytes/entry)",
        signed.len() as f64 / 1e6,
        store.memory_bytes() as f64 / 1e6,
        store.memory_bytes() as f64 / f64::from(n.max(1))
    );

    let mut g = c.benchmark_group("revocation");
    g.sample_size(10);
    g.bench_function(format!("load-{}M", n / 1_000_000), |b| {
        b.iter(|| {
            verify(black_box(&signed), &csca_der, now, None, &policy)
                .unwrap()
                .into_store()
        })
    });
    drop(g);

    // Certificates to look up: a million misses and a million hits, each with its three hashes.
    let queries = |prefix: &str, count: u32| -> Vec<CertificateHashes> {
        (0..count)
            .map(|i| {
                let ci = if prefix.is_empty() {
                    format!("URN:UVCI:01:VN:{:016}#R", (i * 7919) % n)
                } else {
                    format!("{prefix}{i}")
                };
                CertificateHashes {
                    signature: Some(RevocationHash::of(&[ci.as_bytes(), b"sig"])),
                    uci: Some(RevocationHash::uci(&ci)),
                    country_code_uci: Some(RevocationHash::country_code_uci("VN", &ci)),
                }
            })
            .collect()
    };
    let misses = queries("URN:UVCI:01:VN:NOTREVOKED", 1_000_000);
    let hits = queries("", 1_000_000.min(n));
    assert_eq!(
        store.status(&misses[0], Some(dsc_kid), now),
        RevocationStatus::NotRevoked
    );
    assert!(matches!(
        store.status(&hits[1], Some(dsc_kid), now),
        RevocationStatus::Revoked { .. }
    ));
    let mut g = c.benchmark_group("revocation");
    let mut i = 0usize;
    g.bench_function("status-miss", |b| {
        b.iter(|| {
            i = (i + 1) % misses.len();
            store.status(black_box(&misses[i]), Some(dsc_kid), now)
        })
    });
    let mut i = 0usize;
    g.bench_function("status-hit", |b| {
        b.iter(|| {
            i = (i + 1) % hits.len();
            store.status(black_box(&hits[i]), Some(dsc_kid), now)
        })
    });

    // A full verify of one certificate, for the ratio.
    let claims = IssueClaims {
        iss: Some("VN"),
        iat: Timestamp::from_unix_seconds(now.unix_seconds() - 86_400),
        exp: Timestamp::from_unix_seconds(now.unix_seconds() + 86_400 * 300),
    };
    let payload = vaxpass_verifier::model::json_to_cbor(&serde_json::json!({
        "ver": "1.3.0",
        "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Văn An", "gnt": "VAN<AN"},
        "dob": "1990-01-01",
        "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
               "dn": 2, "sd": 2, "dt": "2021-08-01", "co": "VN", "is": "Ministry of Health of Viet Nam",
               "ci": "URN:UVCI:01:VN:BENCH#X"}]
    }));
    let hc1 = encode_hc1(&payload, &claims, Algorithm::Es256, &dsc_kid, |tbs| {
        Ok::<_, std::convert::Infallible>(es256(&dsc_key, tbs))
    })
    .unwrap();
    let mut trust = TrustStore::new();
    trust.add(TrustedSigner::from_der(&dsc_der).unwrap());
    let mut verifier = Verifier::new(trust);
    verifier.verify(&hc1, now).unwrap();
    g.bench_function("full-verify-es256", |b| {
        b.iter(|| verifier.verify(black_box(&hc1), now).unwrap())
    });
    g.finish();
}

criterion_group!(benches, revocation);
criterion_main!(benches);
