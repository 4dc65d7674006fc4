//! Hot-path benchmarks on public test data: decode only, and decode + verify per backend.
//!
//! Needs `/work/shared/conformance/dgc-testdata` (or `VAXPASS_DGC_TESTDATA`); skipped otherwise.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use vaxpass_verifier::crypto::Backend;
use vaxpass_verifier::{Timestamp, TrustStore, Verifier};

struct Case {
    name: &'static str,
    hc1: String,
    cert: Vec<u8>,
    clock: Timestamp,
}

fn load(name: &'static str, rel: &str) -> Option<Case> {
    use base64::Engine;
    let root = std::env::var_os("VAXPASS_DGC_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/conformance/dgc-testdata"));
    let case: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(rel)).ok()?).ok()?;
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

fn bench(c: &mut Criterion) {
    let cases: Vec<Case> = [
        load("ES256", "common/2DCode/raw/CO13.json"),
        load("PS256", "CH/2DCode/raw/1.json"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if cases.is_empty() {
        eprintln!("SKIPPED: dgc-testdata not found");
        return;
    }
    let backends = [
        ("rustcrypto", Backend::RustCrypto),
        #[cfg(feature = "aws-lc")]
        ("aws-lc", Backend::AwsLc),
    ];
    for case in &cases {
        let mut verifier = Verifier::new(TrustStore::new());
        c.bench_function(&format!("decode/{}", case.name), |b| {
            b.iter(|| verifier.decode(black_box(&case.hc1)).map(|s| s.kid()))
        });
        for (backend_name, backend) in backends {
            let mut store = TrustStore::with_backend(backend);
            if store.add_der(&case.cert).is_err() {
                continue;
            }
            let mut verifier = Verifier::new(store);
            if verifier.verify(&case.hc1, case.clock).is_err() {
                eprintln!("{}: does not verify, skipped", case.name);
                continue;
            }
            c.bench_function(&format!("verify/{}/{backend_name}", case.name), |b| {
                b.iter(|| {
                    verifier
                        .verify(black_box(&case.hc1), case.clock)
                        .map(|v| v.certificate_type())
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
