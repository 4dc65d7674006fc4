//! Concurrent writers against the storage, in both commit modes (group commit and one
//! transaction per write): every acknowledged record is stored, each is issued once, UVCIs
//! are unique and the audit chain verifies; a write that fails inside a group leaves the
//! others of its group stored. SQLite always; PostgreSQL too when `VAXPASS_TEST_POSTGRES_URL`
//! is set (each test creates and drops a database of its own), else that half prints
//! `SKIPPED (PostgreSQL): …` and passes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestDb, dose_for, test_actor as system};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::generate_persons;
use sqlx::{AnyPool, Executor};
use vaxpass_issuer_domain::matching::{MatchResult, RegistryPerson};
use vaxpass_issuer_store::{
    Actor, Backend, CommitMode, DoseRecord, NewCertificate, RecordStatus, Storage, StorageError,
};

fn cert(uvci: String) -> impl FnOnce(&DoseRecord) -> Result<NewCertificate, Infallible> {
    move |record: &DoseRecord| {
        let person = record.registry_person.as_ref().expect("verified record");
        Ok(NewCertificate {
            uvci,
            hc1: "HC1:TEST".into(),
            payload: format!("{{\"dob\":\"{}\"}}", person.date_of_birth),
            kid: "AAAAAAAAAAA=".into(),
            iat: 1_700_000_000,
            exp: 1_731_536_000,
        })
    }
}

async fn count(s: &TestDb, sql: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let raw = AnyPool::connect(&s.url).await.unwrap();
    let n = sqlx::query_scalar(sql).fetch_one(&raw).await.unwrap();
    raw.close().await;
    n
}

/// 200 records submitted, verified and confirmed at once (a quarter confirmed twice at the
/// same moment): every acknowledged record is stored and issued exactly once.
async fn concurrent_pipeline(db: &TestDb, mode: CommitMode) {
    const N: usize = 200;
    let s = Storage::open_with(&db.url, mode).await.unwrap();
    let people: Vec<RegistryPerson> = generate_persons(N as u64, 11).collect();
    let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
    let signed = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = people
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, p)| {
            let (s, signed) = (s.clone(), signed.clone());
            tokio::spawn(async move {
                let (id, created) = s
                    .insert_dose_record(&dose_for(clinic, &p, 1), &format!("c{i}"), &system())
                    .await
                    .unwrap();
                assert!(created);
                let verified = MatchResult::Verified {
                    person: p.clone(),
                    notes: vec![],
                };
                let status = s
                    .set_verification(id, &verified, &Actor::System("matcher".into()))
                    .await
                    .unwrap();
                assert_eq!(status, RecordStatus::Verified);
                let confirm = |tag: &'static str| {
                    let (s, signed) = (s.clone(), signed.clone());
                    let issue = cert(format!("URN:UVCI:01:VN:C{i}{tag}"));
                    async move {
                        s.confirm_and_issue(id, &Actor::Staff(1), move |r: &DoseRecord| {
                            signed.fetch_add(1, Ordering::SeqCst);
                            issue(r)
                        })
                        .await
                        .unwrap()
                    }
                };
                let issued = if i % 4 == 0 {
                    let (a, b) = tokio::join!(confirm("A"), confirm("B"));
                    assert_eq!(a.certificate, b.certificate);
                    assert!(a.newly_issued != b.newly_issued);
                    a
                } else {
                    let a = confirm("A").await;
                    assert!(a.newly_issued);
                    a
                };
                (id, issued.certificate.uvci)
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    // Each record signed once: the second confirmation of a pair waited for the first.
    assert_eq!(signed.load(Ordering::SeqCst), N);
    let uvcis: HashSet<&String> = acked.iter().map(|(_, u)| u).collect();
    assert_eq!(uvcis.len(), N, "UVCIs are unique");
    for (id, uvci) in &acked {
        let record = s.get_dose_record(*id).await.unwrap().unwrap();
        assert_eq!(record.status, RecordStatus::Issued);
        let c = s.certificate_for_record(*id).await.unwrap().unwrap();
        assert_eq!(&c.uvci, uvci);
    }
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM dose_records").await,
        N as i64
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM certificates").await,
        N as i64
    );
    // clinic.create, then create, verify, confirm, issue per record.
    assert_eq!(s.audit_verify().await.unwrap().entries, 1 + 4 * N as u64);
    if let CommitMode::Grouped { .. } = mode {
        let stats = s.group_stats().unwrap();
        assert_eq!(stats.writes, 1 + 3 * N as u64);
        assert_eq!(stats.waiting, 0);
    } else {
        assert_eq!(s.group_stats(), None);
    }
    s.close().await;
}

/// A group that holds good inserts and idempotency conflicts: the conflicts fail alone.
async fn failing_write_inside_a_group(db: &TestDb) {
    const GOOD: usize = 30;
    const BAD: usize = 6;
    let s = Storage::open_with(&db.url, CommitMode::Grouped { max_batch: 256 })
        .await
        .unwrap();
    let people: Vec<RegistryPerson> = generate_persons((GOOD + BAD) as u64 + 2, 5).collect();
    let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
    let (taken, _) = s
        .insert_dose_record(&dose_for(clinic, &people[0], 1), "taken", &system())
        .await
        .unwrap();
    let before = s.group_stats().unwrap();

    // Hold the database's write lock (SQLite) or the audit head's row lock (PostgreSQL) from
    // another connection, so the writes below queue up and run as one group once released.
    sqlx::any::install_default_drivers();
    let raw = AnyPool::connect(&db.url).await.unwrap();
    let mut blocker = raw.acquire().await.unwrap();
    match db.backend {
        Backend::Sqlite => blocker.execute("BEGIN IMMEDIATE").await.unwrap(),
        Backend::Postgres => {
            blocker.execute("BEGIN").await.unwrap();
            blocker
                .execute("UPDATE audit_head SET seq = seq WHERE id = 1")
                .await
                .unwrap()
        }
    };
    let is_bad = |i: usize| (10..10 + BAD).contains(&i);
    let mut tasks = Vec::new();
    for i in 0..GOOD + BAD {
        let s = s.clone();
        let (record, key) = if is_bad(i) {
            // The key of `taken` with other content.
            (dose_for(clinic, &people[1], 2), "taken".to_owned())
        } else {
            (dose_for(clinic, &people[i + 2], 1), format!("g{i}"))
        };
        tasks.push(tokio::spawn(async move {
            s.insert_dose_record(&record, &key, &system()).await
        }));
    }
    // Every write has reached the writer (which waits for the lock with what it took).
    while s.group_stats().unwrap().submitted - before.submitted < (GOOD + BAD) as u64 {
        tokio::task::yield_now().await;
    }
    blocker.execute("COMMIT").await.unwrap();
    drop(blocker);
    raw.close().await;

    let mut created = Vec::new();
    let mut conflicts = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok((id, true)) if !is_bad(i) => created.push(id),
            Err(StorageError::IdempotencyConflict { existing_id }) if is_bad(i) => {
                assert_eq!(existing_id, taken);
                conflicts += 1;
            }
            other => panic!("write {i}: {other:?}"),
        }
    }
    assert_eq!((created.len(), conflicts), (GOOD, BAD));
    let after = s.group_stats().unwrap();
    // At most two groups: what the writer took before it waited for the lock (on SQLite it
    // waits before taking more than the first write: one group), and everything else.
    let groups = after.groups - before.groups;
    assert!(groups <= 2, "{before:?} {after:?}");
    if db.backend == Backend::Sqlite {
        assert_eq!((groups, after.largest), (1, (GOOD + BAD) as u64));
    }
    for id in &created {
        assert_eq!(
            s.get_dose_record(*id).await.unwrap().unwrap().status,
            RecordStatus::Received
        );
    }
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM dose_records").await,
        GOOD as i64 + 1
    );
    // clinic.create, the first record, the good ones; nothing from the failed writes.
    assert_eq!(s.audit_verify().await.unwrap().entries, 2 + GOOD as u64);
    s.close().await;
}

/// The submit's two writes in one: stored with its outcome, a retry returns what is stored.
async fn insert_and_verify_in_one_write(db: &TestDb) {
    let s = Storage::open(&db.url).await.unwrap();
    let people: Vec<RegistryPerson> = generate_persons(3, 9).collect();
    let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
    let matcher = Actor::System("matcher".into());
    let record = dose_for(clinic, &people[0], 1);
    let verified = MatchResult::Verified {
        person: people[0].clone(),
        notes: vec![],
    };
    let (id, created, status) = s
        .insert_and_verify(&record, "k1", &system(), &verified, &matcher)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(status, RecordStatus::Verified);
    let stored = s.get_dose_record(id).await.unwrap().unwrap();
    assert_eq!(stored.registry_person.as_ref(), Some(&people[0]));
    assert_eq!(stored.outcome.as_deref(), Some("VERIFIED"));
    // A retry: same id, the stored status, nothing written.
    assert_eq!(
        s.insert_and_verify(&record, "k1", &system(), &verified, &matcher)
            .await
            .unwrap(),
        (id, false, RecordStatus::Verified)
    );
    // Another record under the key: refused, nothing stored.
    let other = dose_for(clinic, &people[1], 1);
    assert!(matches!(
        s.insert_and_verify(&other, "k1", &system(), &verified, &matcher)
            .await,
        Err(StorageError::IdempotencyConflict { existing_id }) if existing_id == id
    ));
    let issued = s
        .confirm_and_issue(id, &system(), cert("URN:UVCI:01:VN:IV1".into()))
        .await
        .unwrap();
    assert!(issued.newly_issued);
    assert_eq!(count(db, "SELECT COUNT(*) FROM dose_records").await, 1);
    // clinic.create, dose_record.create, .verify, .confirm, certificate.issue
    assert_eq!(s.audit_verify().await.unwrap().entries, 5);
    s.close().await;
}

/// Takes the database's write lock (SQLite) or the audit head's row lock (PostgreSQL) from
/// another connection, so writes queue up and run as one group once it is released.
async fn block_writes(db: &TestDb) -> (AnyPool, sqlx::pool::PoolConnection<sqlx::Any>) {
    sqlx::any::install_default_drivers();
    let raw = AnyPool::connect(&db.url).await.unwrap();
    let mut blocker = raw.acquire().await.unwrap();
    match db.backend {
        Backend::Sqlite => blocker.execute("BEGIN IMMEDIATE").await.unwrap(),
        Backend::Postgres => {
            blocker.execute("BEGIN").await.unwrap();
            blocker
                .execute("UPDATE audit_head SET seq = seq WHERE id = 1")
                .await
                .unwrap()
        }
    };
    (raw, blocker)
}

async fn release_when_queued(
    s: &Storage,
    since: u64,
    n: usize,
    raw: AnyPool,
    mut blocker: sqlx::pool::PoolConnection<sqlx::Any>,
) {
    while s.group_stats().unwrap().submitted - since < n as u64 {
        tokio::task::yield_now().await;
    }
    blocker.execute("COMMIT").await.unwrap();
    drop(blocker);
    raw.close().await;
}

/// Groups of writes appending two entries each (`insert_and_verify`, confirmations), with
/// failing writes among them (rolled back to their own savepoint): the chain links across the
/// writes and groups, and holds exactly the entries of the writes that succeeded.
async fn multi_entry_writes_in_groups(db: &TestDb, mode: CommitMode) {
    const N: usize = 36;
    let s = Storage::open_with(&db.url, mode).await.unwrap();
    let people: Vec<RegistryPerson> = generate_persons(N as u64 + 1, 21).collect();
    let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
    let matcher = Actor::System("matcher".into());
    let verified = |p: &RegistryPerson| MatchResult::Verified {
        person: p.clone(),
        notes: vec![],
    };
    let (taken, _, _) = s
        .insert_and_verify(
            &dose_for(clinic, &people[N], 1),
            "taken",
            &system(),
            &verified(&people[N]),
            &matcher,
        )
        .await
        .unwrap();

    // Group 1: submissions; every third one reuses the key `taken` for another record.
    let bad = |i: usize| i % 3 == 2;
    let since = s.group_stats().unwrap().submitted;
    let (raw, blocker) = block_writes(db).await;
    let mut tasks = Vec::new();
    for (i, p) in people.iter().take(N).enumerate() {
        let (s, matcher, result) = (s.clone(), matcher.clone(), verified(p));
        let key = if bad(i) {
            "taken".to_owned()
        } else {
            format!("m{i}")
        };
        let record = dose_for(clinic, p, 1);
        tasks.push(tokio::spawn(async move {
            s.insert_and_verify(&record, &key, &system(), &result, &matcher)
                .await
        }));
    }
    release_when_queued(&s, since, N, raw, blocker).await;
    let mut ids = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok((id, true, RecordStatus::Verified)) if !bad(i) => ids.push(id),
            Err(StorageError::IdempotencyConflict { existing_id }) if bad(i) => {
                assert_eq!(existing_id, taken);
            }
            other => panic!("submission {i}: {other:?}"),
        }
    }
    assert_eq!(ids.len(), N - N / 3);

    // Group 2: confirmations; every fourth one carries the UVCI of the one before it: one of
    // the two is refused after its first statements ran.
    let since = s.group_stats().unwrap().submitted;
    let (raw, blocker) = block_writes(db).await;
    let mut tasks = Vec::new();
    for (j, id) in ids.iter().copied().enumerate() {
        let s = s.clone();
        let uvci = if j % 4 == 3 {
            format!("URN:UVCI:01:VN:M{}", j - 1)
        } else {
            format!("URN:UVCI:01:VN:M{j}")
        };
        tasks.push(tokio::spawn(async move {
            s.confirm_and_issue(id, &Actor::Staff(1), cert(uvci)).await
        }));
    }
    release_when_queued(&s, since, ids.len(), raw, blocker).await;
    // Of the two confirmations sharing a UVCI, whichever ran first in the group stored it.
    let mut issued = 0u64;
    let mut duplicates = 0u64;
    for (j, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(i) => {
                assert!(i.newly_issued);
                issued += 1;
            }
            Err(StorageError::DuplicateUvci) if j % 4 >= 2 => {
                let record = s.get_dose_record(ids[j]).await.unwrap().unwrap();
                assert_eq!(record.status, RecordStatus::Verified);
                duplicates += 1;
            }
            other => panic!("confirmation {j}: {other:?}"),
        }
    }
    assert_eq!(duplicates, (ids.len() / 4) as u64);
    assert_eq!(issued + duplicates, ids.len() as u64);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM certificates").await,
        issued as i64
    );
    // clinic.create; create + verify for `taken` and each stored submission; confirm + issue
    // for each certificate.
    let expected = 1 + 2 * (1 + ids.len() as u64) + 2 * issued;
    let report = s.audit_verify().await.unwrap();
    assert_eq!(report.entries, expected);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM audit_log").await,
        expected as i64
    );
    s.close().await;
}

mod multi_entry {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let db = TestDb::sqlite();
        multi_entry_writes_in_groups(&db, CommitMode::Grouped { max_batch: 256 }).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        multi_entry_writes_in_groups(&db, CommitMode::Grouped { max_batch: 256 }).await;
        db.cleanup().await;
    }
}

mod insert_and_verify {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let db = TestDb::sqlite();
        insert_and_verify_in_one_write(&db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        insert_and_verify_in_one_write(&db).await;
        db.cleanup().await;
    }
}

mod pipeline {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_grouped() {
        let db = TestDb::sqlite();
        concurrent_pipeline(&db, CommitMode::Grouped { max_batch: 64 }).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_per_operation() {
        let db = TestDb::sqlite();
        concurrent_pipeline(&db, CommitMode::PerOperation).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_grouped() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        concurrent_pipeline(&db, CommitMode::Grouped { max_batch: 64 }).await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_per_operation() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        concurrent_pipeline(&db, CommitMode::PerOperation).await;
        db.cleanup().await;
    }
}

mod failing_write {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let db = TestDb::sqlite();
        failing_write_inside_a_group(&db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        failing_write_inside_a_group(&db).await;
        db.cleanup().await;
    }
}

#[test]
fn default_commit_modes() {
    assert_eq!(
        CommitMode::default_for(Backend::Sqlite),
        CommitMode::Grouped { max_batch: 256 }
    );
    assert_eq!(
        CommitMode::default_for(Backend::Postgres),
        CommitMode::PerOperation
    );
}
