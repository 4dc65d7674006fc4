//! `kill -9` of the real `vaxpass-issuer serve` process, at API level: nothing the API has
//! acknowledged is lost, and no record is ever issued twice, nor a UVCI.
//!
//! 1. Clients submit dose records (each with its own `Idempotency-Key`) while the server is
//!    killed with SIGKILL. After a restart every acknowledged record is there, verified, and
//!    confirms; every submission that got no answer is sent again with its key and lands once.
//! 2. Clients confirm records while the server is killed again. After a restart every record
//!    is confirmed again: a record whose confirmation had been acknowledged gets the very same
//!    certificate back; in the database each record has at most one certificate and every
//!    UVCI is unique; the audit chain verifies (`vaxpass-issuer audit verify`).
//!
//! The kill happens while requests are in flight (clients keep sending until the connection is
//! refused); the test waits on observed progress, never on timings.
//!
//! Runs on SQLite, and on PostgreSQL when `VAXPASS_TEST_POSTGRES_URL` is set. Needs the
//! `vaxpass-issuer` binary, which `cargo test --workspace --all-features` builds; without it
//! it says SKIPPED.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod common;

use std::collections::HashSet;
use std::io::BufReader;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use vaxpass_issuer::api::records::{SubmitRequest, VaccineIn};
use vaxpass_issuer::dates::Date;
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::registry_csv::read_registry;

use common::issuer::{Issuer, run_until_killed, try_http, vaxpass_issuer};

/// Client threads per phase.
const CLIENTS: usize = 6;
/// Records per phase.
const RECORDS: usize = 240;
/// Kill once this many requests of the phase were acknowledged.
const KILL_AFTER: usize = 60;

fn record(p: &RegistryPerson, date: &str) -> Value {
    let date = Date::parse(date).unwrap();
    serde_json::to_value(SubmitRequest::for_person(
        p,
        VaccineIn::comirnaty(),
        2,
        2,
        date,
    ))
    .unwrap()
}

fn submit(addr: &str, token: &str, body: &Value, key: &str) -> Option<(u16, Value)> {
    let a = try_http(
        addr,
        "POST",
        "/api/v1/dose-records",
        Some(token),
        Some(body),
        &[("Idempotency-Key", key)],
    )
    .ok()?;
    Some((a.status, a.json()))
}

fn confirm(addr: &str, token: &str, id: i64) -> Option<(u16, Value)> {
    let a = try_http(
        addr,
        "POST",
        &format!("/api/v1/dose-records/{id}/confirm"),
        Some(token),
        None,
        &[],
    )
    .ok()?;
    Some((a.status, a.json()))
}

fn crash_run(database: Option<&str>) {
    let Some(bin) = vaxpass_issuer() else {
        println!(
            "SKIPPED: the vaxpass-issuer binary is not built; run `cargo test --workspace --all-features`"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let issuer = Issuer::start(&bin, &data, database);
    let persons: Vec<RegistryPerson> = read_registry(BufReader::new(
        std::fs::File::open(data.join("registry.csv")).unwrap(),
    ))
    .map(Result::unwrap)
    .take(2 * RECORDS)
    .collect();
    let date = common::issuer::recent_date();
    let bodies: Arc<Vec<Value>> = Arc::new(persons.iter().map(|p| record(p, &date)).collect());
    let key = |i: usize| format!("crash-test-{i}");

    // Phase 1: kill -9 while records are being submitted.
    let token = issuer.token.clone();
    let acked = {
        let bodies = Arc::clone(&bodies);
        run_until_killed(issuer, RECORDS, CLIENTS, KILL_AFTER, move |addr, i| {
            let (status, body) = submit(addr, &token, &bodies[i], &key(i))?;
            assert_eq!(status, 201, "{body}");
            assert_eq!(body["status"], "verified", "{body}");
            Some(body)
        })
    };

    let issuer = Issuer::start(&bin, &data, database);
    let addr = issuer.addr().to_owned();
    // Every submission again with its key: acknowledged ones answer 200 with the same id (the
    // stored record, nothing duplicated); the others are stored now (201) or were stored before
    // the kill without an answer (200).
    let mut ids = Vec::with_capacity(RECORDS);
    for (i, body) in bodies.iter().take(RECORDS).enumerate() {
        let (status, answer) = submit(&addr, &issuer.token, body, &key(i)).unwrap();
        let id = answer["id"].as_i64().unwrap();
        if let Some(first) = acked.get(&i) {
            assert_eq!(
                status, 200,
                "acknowledged record {i} not found again: {answer}"
            );
            assert_eq!(first["id"], answer["id"], "record {i} stored twice");
        } else {
            assert!(status == 200 || status == 201, "{status} {answer}");
        }
        assert_eq!(answer["status"], "verified", "{answer}");
        ids.push(id);
    }
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        RECORDS,
        "one record per submission"
    );

    // Phase 2: kill -9 while records are being confirmed (the first half of the ids is also
    // confirmed twice at once by two clients, the idempotent path under a crash too).
    let token = issuer.token.clone();
    let confirmed = {
        let ids = ids.clone();
        run_until_killed(issuer, RECORDS, CLIENTS, KILL_AFTER, move |addr, i| {
            let (status, body) = confirm(addr, &token, ids[i])?;
            assert_eq!(status, 200, "{body}");
            Some(body)
        })
    };

    let issuer = Issuer::start(&bin, &data, database);
    let addr = issuer.addr().to_owned();
    let mut uvcis = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        let (status, answer) = confirm(&addr, &issuer.token, *id).unwrap();
        assert_eq!(status, 200, "{answer}");
        let uvci = answer["uvci"].as_str().unwrap().to_owned();
        if let Some(first) = confirmed.get(&i) {
            assert_eq!(
                first["uvci"], answer["uvci"],
                "record {id}: its acknowledged certificate was replaced"
            );
            assert_eq!(first["hc1"], answer["hc1"]);
        }
        assert!(uvcis.insert(uvci), "a UVCI issued twice");
    }
    let url = database.map_or_else(
        || format!("sqlite://{}", data.join("issuer.db").display()),
        str::to_owned,
    );
    let (status, _log) = issuer.terminate();
    assert!(status.success());

    // In the database: one certificate per record, every UVCI unique, the audit chain intact.
    let (certs, distinct_uvci, distinct_records) = count_certificates(&url);
    assert_eq!(certs, RECORDS as i64);
    assert_eq!(distinct_uvci, certs);
    assert_eq!(distinct_records, certs);
    let audit = Command::new(&bin)
        .args(["audit", "verify", "--database", &url])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "{}{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );
    println!(
        "crash test: {} of {RECORDS} submissions and {} of {RECORDS} confirmations acknowledged \
         before kill -9; after restarts {RECORDS} records, {certs} certificates, {distinct_uvci} \
         distinct UVCIs",
        acked.len(),
        confirmed.len()
    );
}

fn count_certificates(url: &str) -> (i64, i64, i64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT uvci), COUNT(DISTINCT dose_record_id) FROM certificates",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        row
    })
}

#[test]
fn kill9_on_sqlite() {
    crash_run(None);
}

#[test]
fn kill9_on_postgres() {
    common::issuer::on_fresh_postgres("vaxpass_crash", |url| crash_run(Some(url)));
}
