//! Several `vaxpass-issuer serve` processes on one PostgreSQL database (issue 18, item 1):
//!
//! - two replicas under load, one killed with SIGKILL in the middle: every certificate a
//!   client was given is stored, no UVCI is stored twice, no record has two certificates, and
//!   `audit verify` finds the one chain intact;
//! - the rate limits hold across the replicas: requests spread over both are limited as if
//!   they went to one process (the lookup portal per client, submissions per token);
//! - the trust lists the replicas sign carry distinct, increasing sequences.
//!
//! PostgreSQL only (SQLite is the single-node store): each test prints `SKIPPED (PostgreSQL)`
//! without `VAXPASS_TEST_POSTGRES_URL`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::{AnyPool, Row as _};
use support::{Replica, audit_verify, request, run_load, setup, start_replica};

const START: Duration = Duration::from_secs(60);

/// Every stored UVCI, and the number of records with more than one certificate.
async fn stored(url: &str) -> (Vec<String>, i64) {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.unwrap();
    let uvcis: Vec<String> = sqlx::query("SELECT uvci FROM certificates")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let doubled: i64 = sqlx::query(
        "SELECT COUNT(*) FROM (SELECT dose_record_id FROM certificates \
         GROUP BY dose_record_id HAVING COUNT(*) > 1) AS d",
    )
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    pool.close().await;
    (uvcis, doubled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_one_killed_mid_run_lose_nothing() {
    let Some(db) = common::pg_database("vaxpass_replicas").await else {
        return;
    };
    let s = setup(&db.url, 2_000).await;
    let mut a = start_replica(s.dir.path(), &s.url, &[], START);
    let b = start_replica(s.dir.path(), &s.url, &[], START);
    let addrs = [a.addr, b.addr];
    // After the kill every client goes to B; before it, users alternate.
    let a_dead = Arc::new(AtomicBool::new(false));
    let dead = a_dead.clone();
    let targets: Arc<dyn Fn(usize, u64) -> std::net::SocketAddr + Send + Sync> =
        Arc::new(move |u, n| {
            if dead.load(Ordering::SeqCst) && (u as u64 + n) % 2 == 0 {
                // Some clients keep trying the dead one for a while: connection failures.
                if n % 4 == 0 {
                    return addrs[0];
                }
                return addrs[1];
            }
            addrs[(u + n as usize) % 2]
        });
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(run_load(
        targets,
        s.token.clone(),
        Arc::new(s.persons.clone()),
        8,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.kill9();
    a_dead.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let load = load.await.unwrap();
    println!(
        "acknowledged certificates: {}; failures by status (0: connection): {:?}",
        load.uvcis.len(),
        load.failures
    );
    assert!(
        load.uvcis.len() >= 20,
        "too little load got through: {load:?}"
    );
    // Requests to the killed replica failed; none was answered with a 5xx other than 503.
    assert!(
        load.failures.keys().all(|&s| s == 0 || s == 503),
        "{:?}",
        load.failures
    );

    let (uvcis, doubled) = stored(&s.url).await;
    let stored: HashSet<&String> = uvcis.iter().collect();
    assert_eq!(stored.len(), uvcis.len(), "a UVCI is stored twice");
    assert_eq!(doubled, 0, "a record has two certificates");
    let given: HashSet<&String> = load.uvcis.iter().collect();
    assert_eq!(given.len(), load.uvcis.len(), "a UVCI was given twice");
    let lost: Vec<&&String> = given.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // The survivor still serves, and the one audit chain is intact.
    let (status, _) = request(b.addr, "GET", "/readyz", None, None).await.unwrap();
    assert_eq!(status, 200);
    drop(b);
    let (code, out) = audit_verify(&s.url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log intact"), "{out}");
    db.drop().await;
}

/// The lookup body of an ID number nobody has: every attempt is a miss, and counted.
fn lookup_body(id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "full_name": "Nguyễn Văn An",
        "date_of_birth": "1990-04-12",
        "sex": "M",
        "id_number": id,
        "last_dose_date": "2021-09-01",
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_hold_across_replicas() {
    let Some(db) = common::pg_database("vaxpass_replica_limits").await else {
        return;
    };
    let s = setup(&db.url, 50).await;
    // Lookup: burst 5 per client, then 1 a minute; submissions: burst 10 per token, then 1 a
    // second (the test takes a few seconds: a few refills at most).
    let extra = [
        "--lookup-per-minute",
        "1",
        "--submit-burst",
        "10",
        "--submit-per-sec",
        "1",
    ];
    let a = start_replica(s.dir.path(), &s.url, &extra, START);
    let b = start_replica(s.dir.path(), &s.url, &extra, START);
    let replicas: [&Replica; 2] = [&a, &b];

    // 12 lookups from this one client address, alternating: 5 pass in all, not 5 on each.
    let mut passed = 0;
    let mut limited_on = [0usize; 2];
    for i in 0..12 {
        let r = replicas[i % 2];
        let (status, body) = request(
            r.addr,
            "POST",
            "/api/v1/lookup",
            None,
            Some(&lookup_body("079099000001")),
        )
        .await
        .unwrap();
        match status {
            429 => limited_on[i % 2] += 1,
            500..=599 => panic!("lookup answered {status}: {body}"),
            _ => passed += 1,
        }
    }
    assert_eq!(
        passed, 5,
        "lookups that passed over both replicas (limited on {limited_on:?})"
    );
    assert!(limited_on[0] > 0 && limited_on[1] > 0, "{limited_on:?}");

    // 24 submissions with one token, alternating: at most the burst of 10 (plus the refills of
    // the seconds the test took) are stored.
    let started = std::time::Instant::now();
    let accepted = AtomicUsize::new(0);
    let mut refused = 0;
    for i in 0..24 {
        let p = &s.persons[i % s.persons.len()];
        let (status, body) = request(
            replicas[i % 2].addr,
            "POST",
            "/api/v1/dose-records",
            Some(&s.token),
            Some(&support::record_body(p, 1)),
        )
        .await
        .unwrap();
        match status {
            201 => {
                accepted.fetch_add(1, Ordering::SeqCst);
            }
            429 => refused += 1,
            _ => panic!("submission answered {status}: {body}"),
        }
    }
    let secs = started.elapsed().as_secs() as usize + 1;
    let accepted = accepted.load(Ordering::SeqCst);
    println!("submissions: {accepted} accepted, {refused} refused in ~{secs} s");
    assert!(
        accepted >= 10 && accepted <= 10 + secs,
        "{accepted} accepted in ~{secs} s: the per-token limit did not hold across the replicas"
    );
    drop((a, b));
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_sign_trust_lists_with_increasing_sequences() {
    let Some(db) = common::pg_database("vaxpass_replica_seq").await else {
        return;
    };
    let s = setup(&db.url, 10).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let a = start_replica(s.dir.path(), &s.url, &[], START);
        let b = start_replica(s.dir.path(), &s.url, &[], START);
        for r in [&a, &b] {
            let (status, v) = request(r.addr, "GET", "/trust-list.json", None, None)
                .await
                .unwrap();
            assert_eq!(status, 200);
            seen.push(v["sequence"].as_u64().unwrap());
        }
    }
    let distinct: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "two lists with one sequence: {seen:?}"
    );
    // The second pair started after the first: its lists come later.
    assert!(seen[2].min(seen[3]) > seen[0].max(seen[1]), "{seen:?}");
    db.drop().await;
}
