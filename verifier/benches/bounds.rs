//! How fast hostile input is refused (the decoders' bounds), measured here rather than by
//! timing assertions in tests. The tests assert the refusals and the memory caps.
//!
//! `cargo bench -p vaxpass-verifier --bench bounds`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use vaxpass_verifier::zlib::Inflater;
use vaxpass_verifier::{Limits, TrustStore, Verifier, base45, cbor};

fn bounds(c: &mut Criterion) {
    let limits = Limits::default();

    // A zlib bomb: 200 MiB of zeros compress to about 200 KiB.
    let bomb = miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; 200 << 20], 9);
    let mut inflater = Inflater::new();
    assert!(inflater.inflate(&bomb, limits.max_inflated).is_err());
    c.bench_function("bounds/zlib-bomb-200MiB", |b| {
        b.iter(|| {
            inflater
                .inflate(black_box(&bomb), limits.max_inflated)
                .is_err()
        })
    });

    // The same bomb as an HC1 text through the whole decoder, with the input limit raised so
    // that it reaches the inflater.
    let text = format!("HC1:{}", base45::encode(&bomb));
    let mut lenient =
        Verifier::with_limits(TrustStore::new(), limits.with_max_input(text.len() + 1));
    assert_eq!(lenient.decode(&text).unwrap_err().code(), "COMPRESSION");
    c.bench_function("bounds/zlib-bomb-200MiB-as-hc1", |b| {
        b.iter(|| lenient.decode(black_box(&text)).is_err())
    });

    // A 2 MB input under the default limits: refused before any decoding.
    let big = format!("HC1:{}", "0".repeat(2_000_000));
    let mut verifier = Verifier::new(TrustStore::new());
    assert_eq!(verifier.decode(&big).unwrap_err().code(), "INPUT_TOO_LARGE");
    c.bench_function("bounds/input-2MB", |b| {
        b.iter(|| verifier.decode(black_box(&big)).is_err())
    });

    // 100,000 nested CBOR arrays: refused at the depth limit, no recursion beyond it.
    let nested = vec![0x81u8; 100_000];
    assert!(cbor::decode(&nested, limits.max_depth).is_err());
    c.bench_function("bounds/cbor-100k-nested-arrays", |b| {
        b.iter(|| cbor::decode(black_box(&nested), limits.max_depth).is_err())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bounds
}
criterion_main!(benches);
