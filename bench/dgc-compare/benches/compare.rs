//! Side by side, interleaved: vaxpass's full check against `dgc` 0.0.7 (decode + signature with
//! ring) and against a bare AWS-LC ECDSA P-256 verify of the same Sig_structure; and the cost
//! of all VN rules on one certificate against that same bare verify.
//!
//! Each round runs N iterations of every contender, in an order that rotates from round to
//! round, and records ns/op per contender; the report gives the median over rounds and the
//! ratios. Run on one core (see README.md):
//!
//! ```text
//! taskset -c 1 cargo bench --manifest-path bench/dgc-compare/Cargo.toml
//! ```
//!
//! Environment: `VAXPASS_DGC_TESTDATA` (the dgc-testdata folder; default
//! `../../../shared/conformance/dgc-testdata` from this crate), `COMPARE_CASE` (a test case path
//! inside it, default `common/2DCode/raw/CO13.json`), `COMPARE_ROUNDS` (default 1000),
//! `COMPARE_ITERS` (iterations per contender per round, default 20: a round of one contender
//! then lasts about a millisecond, shorter than a scheduler time slice, so that on a shared
//! machine most rounds run undisturbed; the 10th percentile shows the undisturbed figure).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use vaxpass_verifier::cose::CoseSign1;
use vaxpass_verifier::rules::{External, RuleOutcome, RuleSet, value_sets_from_dir};
use vaxpass_verifier::{Timestamp, TrustStore, Verifier};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn testdata_root() -> PathBuf {
    std::env::var_os("VAXPASS_DGC_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/conformance/dgc-testdata"
            ))
        })
}

/// The SubjectPublicKeyInfo bit string of a DER certificate: the SEC1 point of an EC key.
fn public_key_bits(cert_der: &[u8]) -> Vec<u8> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    cert.tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

/// The `q`-quantile (0.5 = median) of the samples, by the nearest rank.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() - 1) as f64 * q).round() as usize;
    v[rank]
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let rel =
        std::env::var("COMPARE_CASE").unwrap_or_else(|_| "common/2DCode/raw/CO13.json".into());
    let path = testdata_root().join(&rel);
    let Ok(text) = std::fs::read(&path) else {
        eprintln!(
            "SKIPPED: {} not found (set VAXPASS_DGC_TESTDATA to the dgc-testdata folder)",
            path.display()
        );
        return;
    };
    let case: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let hc1 = case["PREFIX"].as_str().unwrap().to_owned();
    let cert_b64 = case["TESTCTX"]["CERTIFICATE"].as_str().unwrap();
    let clock = Timestamp::parse(case["TESTCTX"]["VALIDATIONCLOCK"].as_str().unwrap()).unwrap();
    let cert_der = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(cert_b64)
            .unwrap()
    };

    // Ours: AWS-LC backend, every check (signature, times, key usage, schema, value sets).
    let mut store = TrustStore::with_backend(vaxpass_verifier::crypto::Backend::AwsLc);
    store.add_der(&cert_der).unwrap();
    let mut verifier = Verifier::new(store);
    let verified = verifier
        .verify(&hc1, clock)
        .expect("vaxpass must accept the certificate");
    assert_eq!(
        verified.signer().key().family(),
        vaxpass_verifier::crypto::KeyFamily::EcP256,
        "the comparison is about ES256"
    );

    // dgc: decode + signature (ring), nothing else.
    let mut trustlist = dgc::TrustList::default();
    trustlist.add_key_from_certificate(cert_b64).unwrap();
    let (_, validity) = dgc::validate(&hc1, &trustlist).expect("dgc must decode the certificate");
    assert!(validity.is_valid(), "dgc says {validity:?}");

    // Bare AWS-LC verify of the exact Sig_structure, key parsed once.
    let signed = verifier.decode(&hc1).unwrap();
    let tbs = signed.to_be_signed();
    let sig = CoseSign1::parse(signed.cose_bytes(), 16)
        .unwrap()
        .signature
        .to_vec();
    let bare = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key_bits(&cert_der)).unwrap();
    assert!(bare.verify_sig(&tbs, &sig).is_ok());

    // All VN rules on a VN vaccination payload (complete series, last dose 20 days before the
    // clock): five rules apply and pass (issue 5's goal: under 10 % of the signature check).
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let rule_set = RuleSet::load_dir(&schemas.join("rules")).unwrap();
    let value_sets = value_sets_from_dir(&schemas.join("valuesets")).unwrap();
    let vn_payload = serde_json::json!({
        "ver": "1.3.0",
        "nam": {"fn": "Trần", "fnt": "TRAN", "gn": "Minh", "gnt": "MINH"},
        "dob": "1990-01-01",
        "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528",
               "ma": "ORG-100030215", "dn": 2, "sd": 2, "dt": "2021-09-11", "co": "VN",
               "is": "Bộ Y tế", "ci": "URN:UVCI:01:VN:ABC123#X"}]
    });
    let vn_external = External {
        validation_clock: Timestamp::parse("2021-10-01T09:30:00Z").unwrap(),
        country_code: "VN".into(),
        exp: Timestamp::parse("2022-09-01T00:00:00Z").ok(),
        iat: Timestamp::parse("2021-09-01T00:00:00Z").ok(),
    };
    let reports = rule_set.check(&vn_payload, "VN", &vn_external, &value_sets);
    assert_eq!(reports.len(), 5);
    assert!(reports.iter().all(|r| r.outcome == RuleOutcome::Passed));

    let rounds = env_or("COMPARE_ROUNDS", 1000);
    let iters = env_or("COMPARE_ITERS", 20);
    let names = [
        "vaxpass full check",
        "dgc::validate",
        "bare aws-lc verify",
        "VN rules (5)",
    ];
    let mut samples: [Vec<f64>; 4] = Default::default();
    let mut run = |which: usize| -> f64 {
        let start = Instant::now();
        for _ in 0..iters {
            match which {
                0 => {
                    let ok = verifier.verify(black_box(&hc1), clock).is_ok();
                    assert!(ok);
                }
                1 => {
                    let (_, v) = dgc::validate(black_box(&hc1), &trustlist).unwrap();
                    assert!(v.is_valid());
                }
                2 => {
                    let ok = bare.verify_sig(black_box(&tbs), black_box(&sig)).is_ok();
                    assert!(ok);
                }
                _ => {
                    let n = rule_set
                        .check(black_box(&vn_payload), "VN", &vn_external, &value_sets)
                        .len();
                    assert_eq!(n, 5);
                }
            }
        }
        start.elapsed().as_nanos() as f64 / iters as f64
    };
    // Warm up each contender once.
    for which in 0..4 {
        run(which);
    }
    // The order rotates every round and reverses every other round, so that no contender
    // always follows the same one.
    for round in 0..rounds {
        let mut order = [0, 1, 2, 3];
        order.rotate_left(round % 4);
        if (round / 4) % 2 == 1 {
            order.reverse();
        }
        for which in order {
            let ns = run(which);
            samples[which].push(ns);
        }
    }
    let med: Vec<f64> = samples.iter_mut().map(|s| quantile(s, 0.5)).collect();
    let p10: Vec<f64> = samples.iter_mut().map(|s| quantile(s, 0.1)).collect();
    println!("case: {rel} (clock {clock})");
    println!("{rounds} rounds x {iters} iterations per contender, interleaved; ns/op:");
    println!("  {:<22} {:>10} {:>10}", "", "median", "p10");
    for (i, name) in names.iter().enumerate() {
        println!("  {name:<22} {:>10.0} {:>10.0}", med[i], p10[i]);
    }
    println!(
        "full check / bare aws-lc verify: {:.3} (p10: {:.3}; goal <= 1.15)",
        med[0] / med[2],
        p10[0] / p10[2]
    );
    println!(
        "throughput vaxpass / dgc:        {:.3} (p10: {:.3}; goal >= 1.15)",
        med[1] / med[0],
        p10[1] / p10[0]
    );
    println!(
        "dgc / bare aws-lc verify:        {:.3} (p10: {:.3})",
        med[1] / med[2],
        p10[1] / p10[2]
    );
    println!(
        "VN rules / bare aws-lc verify:   {:.3} (p10: {:.3}; goal < 0.10)",
        med[3] / med[2],
        p10[3] / p10[2]
    );
}
