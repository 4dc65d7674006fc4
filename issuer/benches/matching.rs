//! Registry matching throughput on one core: a realistic mix of records against an in-memory
//! registry of 1 M generated persons.
//!
//! Mix per 100 records: 70 verified (exact, or year-only birth date), 10 with a diacritics-only
//! name difference, 10 with one wrong digit in the ID number, 10 unknown persons.
//!
//! `cargo bench -p vaxpass-issuer --bench matching` (set `VAXPASS_BENCH_PERSONS` for another
//! registry size).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vaxpass_issuer::dates::PartialDate;
use vaxpass_issuer::identity::{IdKind, Sex};
use vaxpass_issuer::matching::{DoseIdentity, InMemoryRegistry, match_record};
use vaxpass_issuer::names::strip_diacritics;
use vaxpass_issuer::registry_csv::generate_persons;

const BATCH: usize = 10_000;

fn records(persons: &[vaxpass_issuer::matching::RegistryPerson]) -> Vec<DoseIdentity> {
    let mut out = Vec::with_capacity(BATCH);
    for (i, p) in persons.iter().cycle().step_by(97).take(BATCH).enumerate() {
        let mut r = DoseIdentity {
            id_number: p.id.to_string(),
            id_kind: IdKind::National,
            full_name: p.full_name.clone(),
            date_of_birth: PartialDate::Full(p.date_of_birth),
            sex: p.sex,
        };
        match i % 10 {
            0..=4 => {}
            5 | 6 => r.date_of_birth = PartialDate::Year(p.date_of_birth.year()),
            7 => r.full_name = strip_diacritics(&p.full_name),
            8 => {
                // One wrong digit: the last serial digit.
                let mut id = r.id_number.into_bytes();
                let last = id.len() - 1;
                id[last] = b'0' + (id[last] - b'0' + 1) % 10;
                r.id_number = String::from_utf8(id).unwrap();
            }
            _ => {
                r.id_number = format!("0011{:02}9{:05}", i % 100, i % 100_000);
                r.sex = Sex::Female;
            }
        }
        out.push(r);
    }
    out
}

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("VAXPASS_BENCH_PERSONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let persons: Vec<_> = generate_persons(n, 2026).collect();
    let mut registry = InMemoryRegistry::with_capacity(persons.len());
    for p in persons.iter().cloned() {
        registry.insert(p).unwrap();
    }
    let batch = records(&persons);
    let verified = batch
        .iter()
        .filter(|r| match_record(r, &registry).is_verified())
        .count();
    eprintln!(
        "registry: {} persons; batch: {} records, {verified} verified",
        registry.len(),
        batch.len()
    );

    let mut g = c.benchmark_group("match_record");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("mix_1M_registry", |b| {
        b.iter(|| {
            for r in &batch {
                black_box(match_record(black_box(r), &registry));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
