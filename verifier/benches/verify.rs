//! Hot-path benchmarks on public test data (see `benches/README.md` for figures and how to run).
//!
//! Groups:
//! - `full/<cert>/<backend>`: [`Verifier::verify`] = decode + every check (kid, algorithm,
//!   signature, times, key usage, schema, value sets);
//! - `bare/<cert>/<backend>`: only the signature verify of the same Sig_structure with the same
//!   backend (the baseline of the goal "full check ≤ 1.15× bare ECDSA verify");
//! - `stage/<cert>/…`: each decode/check stage on its own;
//! - `inflate/<cert>/{miniz_oxide,vaxpass}`: the previous inflater beside ours, same bytes;
//! - `rules/…` (feature `rules`): all applicable VN rules on one payload, beside the bare
//!   ES256 verify so that the ratio comes from one run.
//!
//! Data: `../../shared/conformance/dgc-testdata` relative to this crate, or the folder in
//! `VAXPASS_DGC_TESTDATA`; skipped with a message when absent.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;
use vaxpass_verifier::cose::CoseSign1;
use vaxpass_verifier::crypto::Backend;
use vaxpass_verifier::schema::SchemaSet;
use vaxpass_verifier::valuesets::ValueSets;
use vaxpass_verifier::zlib::Inflater;
use vaxpass_verifier::{Limits, SignedHcert, Timestamp, TrustStore, Verifier, base45, hc1};

struct Case {
    name: &'static str,
    hc1: String,
    cert: Vec<u8>,
    clock: Timestamp,
}

fn testdata_root() -> PathBuf {
    std::env::var_os("VAXPASS_DGC_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/conformance/dgc-testdata"
            ))
        })
}

fn load(name: &'static str, rel: &str) -> Option<Case> {
    use base64::Engine;
    let case: serde_json::Value =
        serde_json::from_slice(&std::fs::read(testdata_root().join(rel)).ok()?).ok()?;
    let ctx = case.get("TESTCTX")?;
    Some(Case {
        name,
        hc1: case.get("PREFIX")?.as_str()?.to_owned(),
        cert: base64::engine::general_purpose::STANDARD
            .decode(ctx.get("CERTIFICATE")?.as_str()?)
            .ok()?,
        clock: Timestamp::parse(ctx.get("VALIDATIONCLOCK")?.as_str()?).ok()?,
    })
}

/// The SubjectPublicKeyInfo bit string of a DER certificate (SEC1 point or PKCS#1 key).
fn public_key_bits(cert_der: &[u8]) -> Vec<u8> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    cert.tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

/// A bare signature check of one message with one backend, key parsed once beforehand.
enum Bare {
    P256(p256::ecdsa::VerifyingKey),
    Rsa(rsa::pss::VerifyingKey<sha2::Sha256>),
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::signature::ParsedPublicKey),
}

impl Bare {
    fn new(backend: Backend, es256: bool, key_bits: &[u8]) -> Self {
        match backend {
            Backend::RustCrypto if es256 => {
                Bare::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bits).unwrap())
            }
            Backend::RustCrypto => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                Bare::Rsa(rsa::pss::VerifyingKey::new(
                    rsa::RsaPublicKey::from_pkcs1_der(key_bits).unwrap(),
                ))
            }
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                use aws_lc_rs::signature as sig;
                let alg: &'static dyn sig::VerificationAlgorithm = if es256 {
                    &sig::ECDSA_P256_SHA256_FIXED
                } else {
                    &sig::RSA_PSS_2048_8192_SHA256
                };
                Bare::AwsLc(sig::ParsedPublicKey::new(alg, key_bits).unwrap())
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("no such backend"),
        }
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        use signature::Verifier as _;
        match self {
            Bare::P256(k) => {
                let sig = p256::ecdsa::Signature::from_slice(sig).unwrap();
                k.verify(msg, &sig).is_ok()
            }
            Bare::Rsa(k) => {
                let sig = rsa::pss::Signature::try_from(sig).unwrap();
                k.verify(msg, &sig).is_ok()
            }
            #[cfg(feature = "aws-lc")]
            Bare::AwsLc(k) => k.verify_sig(msg, sig).is_ok(),
        }
    }
}

fn backends() -> Vec<(&'static str, Backend)> {
    vec![
        #[cfg(feature = "aws-lc")]
        ("aws-lc", Backend::AwsLc),
        ("rustcrypto", Backend::RustCrypto),
    ]
}

fn cases() -> Vec<Case> {
    [
        load("ES256", "common/2DCode/raw/CO13.json"),
        load("PS256", "CH/2DCode/raw/1.json"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    if cases.is_empty() {
        eprintln!(
            "SKIPPED: dgc-testdata not found at {} (set VAXPASS_DGC_TESTDATA)",
            testdata_root().display()
        );
        return;
    }
    for case in &cases {
        // The exact Sig_structure and signature of this certificate.
        let signed = Verifier::new(TrustStore::new()).decode(&case.hc1).unwrap();
        let tbs = signed.to_be_signed();
        let cose = CoseSign1::parse(signed.cose_bytes(), 16).unwrap();
        let sig = cose.signature.to_vec();
        let key_bits = public_key_bits(&case.cert);
        for (backend_name, backend) in backends() {
            let mut store = TrustStore::with_backend(backend);
            store.add_der(&case.cert).unwrap();
            let mut verifier = Verifier::new(store);
            if let Err(e) = verifier.verify(&case.hc1, case.clock) {
                eprintln!("{}: does not verify ({e}), skipped", case.name);
                continue;
            }
            c.bench_function(&format!("full/{}/{backend_name}", case.name), |b| {
                b.iter(|| {
                    verifier
                        .verify(black_box(&case.hc1), case.clock)
                        .map(|v| v.certificate_type())
                })
            });
            let bare = Bare::new(backend, case.name == "ES256", &key_bits);
            assert!(bare.verify(&tbs, &sig));
            c.bench_function(&format!("bare/{}/{backend_name}", case.name), |b| {
                b.iter(|| bare.verify(black_box(&tbs), black_box(&sig)))
            });
        }
        stages(c, case, &signed);
    }
    #[cfg(feature = "rules")]
    rules(c, &cases);
}

fn stages(c: &mut Criterion, case: &Case, signed: &SignedHcert) {
    let name = case.name;
    let mut verifier = Verifier::new(TrustStore::new());
    c.bench_function(&format!("stage/{name}/decode"), |b| {
        b.iter(|| verifier.decode(black_box(&case.hc1)).map(|s| s.kid()))
    });
    // Each stage gets its own, checked input, so a filtered run measures the same work.
    let text = hc1::strip_prefix(&case.hc1).unwrap();
    let compressed = base45::decode(text.as_bytes()).unwrap();
    let mut b45 = Vec::new();
    c.bench_function(&format!("stage/{name}/prefix+base45"), |b| {
        b.iter(|| {
            b45.clear();
            let text = hc1::strip_prefix(black_box(&case.hc1)).unwrap();
            base45::decode_into(text.as_bytes(), &mut b45).unwrap();
            b45.len()
        })
    });
    let mut inflater = Inflater::new();
    let limits = Limits::default();
    assert_eq!(
        inflater.inflate(&compressed, limits.max_inflated).unwrap(),
        signed.cose_bytes()
    );
    c.bench_function(&format!("stage/{name}/inflate"), |b| {
        b.iter(|| {
            inflater
                .inflate(black_box(&compressed), limits.max_inflated)
                .map(<[u8]>::len)
        })
    });
    inflate_against_miniz_oxide(c, name, &compressed, limits.max_inflated);
    let cose = signed.cose_bytes().to_vec();
    c.bench_function(&format!("stage/{name}/cose+cwt"), |b| {
        b.iter(|| SignedHcert::from_cose(black_box(&cose).clone(), &limits).map(|s| s.kid()))
    });
    let payload = signed.dangerous_unverified_payload();
    let schemas = SchemaSet::shared().unwrap();
    assert!(schemas.validate(&payload).is_ok());
    c.bench_function(&format!("stage/{name}/schema"), |b| {
        b.iter(|| schemas.validate(black_box(&payload)).is_ok())
    });
    let value_sets = ValueSets::shared().unwrap();
    assert!(value_sets.check(&payload).is_ok());
    c.bench_function(&format!("stage/{name}/valuesets"), |b| {
        b.iter(|| value_sets.check(black_box(&payload)).is_ok())
    });
    c.bench_function(&format!("stage/{name}/to_be_signed"), |b| {
        b.iter(|| black_box(signed).to_be_signed().len())
    });
}

/// `inflate/<cert>/{miniz_oxide,vaxpass}`: the previous inflater (miniz_oxide's `decompress`
/// with a reused state into the same capped buffer, as `Inflater` did up to commit 13007d4)
/// beside ours, on the same bytes in the same run.
fn inflate_against_miniz_oxide(c: &mut Criterion, name: &str, compressed: &[u8], limit: usize) {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
    let mut state = Box::<DecompressorOxide>::default();
    let mut buf = vec![0u8; limit + 1];
    let mut miniz = |input: &[u8]| -> Option<usize> {
        state.init();
        let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
            | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
            | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32;
        let (status, read, written) = decompress(&mut state, input, &mut buf, 0, flags);
        (status == TINFLStatus::Done && read == input.len() && written <= limit).then_some(written)
    };
    let mut inflater = Inflater::new();
    let expected = inflater.inflate(compressed, limit).unwrap().len();
    assert_eq!(miniz(compressed), Some(expected));
    let mut group = c.benchmark_group(format!("inflate/{name}"));
    group.bench_function("miniz_oxide", |b| b.iter(|| miniz(black_box(compressed))));
    group.bench_function("vaxpass", |b| {
        b.iter(|| {
            inflater
                .inflate(black_box(compressed), limit)
                .map(<[u8]>::len)
        })
    });
    group.finish();
}

#[cfg(feature = "rules")]
fn rules(c: &mut Criterion, cases: &[Case]) {
    use std::path::Path;
    use vaxpass_verifier::rules::{External, RuleOutcome, RuleSet, value_sets_from_dir};
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let set = RuleSet::load_dir(&schemas.join("rules")).unwrap();
    let value_sets = value_sets_from_dir(&schemas.join("valuesets")).unwrap();
    // A VN vaccination certificate: complete series, last dose 20 days before the clock.
    let vn = serde_json::json!({
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
    let reports = set.check(&vn, "VN", &vn_external, &value_sets);
    assert_eq!(reports.len(), 5, "GR + four VR rules apply");
    assert!(reports.iter().all(|r| r.outcome == RuleOutcome::Passed));
    c.bench_function("rules/VN-vaccination", |b| {
        b.iter(|| {
            set.check(black_box(&vn), "VN", &vn_external, &value_sets)
                .len()
        })
    });
    // The ES256 certificate's own payload, VN as the country of arrival, at the VN clock (at
    // the certificate's own clock no VN rule is valid yet).
    if let Some(case) = cases.iter().find(|c| c.name == "ES256") {
        let mut store = TrustStore::new();
        store.add_der(&case.cert).unwrap();
        let verified = Verifier::new(store).verify(&case.hc1, case.clock).unwrap();
        let payload = verified.payload_json().unwrap();
        let external = External {
            validation_clock: vn_external.validation_clock,
            country_code: "VN".into(),
            exp: verified.signed().expires_at(),
            iat: verified.signed().issued_at(),
        };
        let issuer = verified.signed().issuer().unwrap_or("XX").to_owned();
        let n = set.check(&payload, &issuer, &external, &value_sets).len();
        eprintln!("rules/ES256-payload: {n} applicable VN rules");
        c.bench_function("rules/ES256-payload", |b| {
            b.iter(|| {
                set.check(black_box(&payload), &issuer, &external, &value_sets)
                    .len()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
