//! The storage suite. Every test runs twice: on SQLite (a fresh file in a temporary directory)
//! and on PostgreSQL when `VAXPASS_TEST_POSTGRES_URL` is set (each test creates and drops its
//! own database `vaxpass_test_<random>`); without the variable the PostgreSQL half prints
//! `SKIPPED (PostgreSQL): …` and passes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestDb, dose_for, test_actor as system, with_database};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::generate_persons;
use sqlx::{AnyPool, Executor, Row};
use vaxpass_issuer_domain::identity::IdNumber;
use vaxpass_issuer_domain::matching::{
    InMemoryRegistry, MatchResult, RegistryPerson, match_record,
};
use vaxpass_issuer_store::{
    Actor, AuditBroken, AuditBrokenReason, Backend, CommitMode, ConfirmedRecord, DoseRecord,
    NewCertificate, Page, RecordStatus, Role, SqliteSettings, Storage, StorageError, token_hash,
};

impl TestDb {
    async fn open(&self) -> Storage {
        let s = Storage::open(&self.url).await.unwrap();
        assert_eq!(s.backend(), self.backend);
        s
    }

    /// A connection pool of its own, as an intruder with database access would have.
    async fn raw(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&self.url).await.unwrap()
    }

    /// Removes the append-only triggers (what an intruder would do first).
    async fn drop_audit_triggers(&self, raw: &AnyPool) {
        match self.backend {
            Backend::Sqlite => {
                raw.execute("DROP TRIGGER audit_log_no_update")
                    .await
                    .unwrap();
                raw.execute("DROP TRIGGER audit_log_no_delete")
                    .await
                    .unwrap();
            }
            Backend::Postgres => {
                raw.execute("DROP TRIGGER audit_log_no_update ON audit_log")
                    .await
                    .unwrap();
            }
        }
    }
}

/// Runs the body once on SQLite and once on PostgreSQL (if configured).
macro_rules! both_backends {
    ($(fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = TestDb::sqlite();
                $body
                $db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($db) = TestDb::postgres().await else { return };
                $body
                $db.cleanup().await;
            }
        }
    )*};
}

fn persons(n: u64) -> Vec<RegistryPerson> {
    generate_persons(n, 7).collect()
}

fn cert(
    uvci: &str,
) -> impl FnOnce(&DoseRecord) -> Result<NewCertificate, Infallible> + Send + use<> {
    let uvci = uvci.to_owned();
    move |record: &DoseRecord| {
        let person = record.registry_person.as_ref().expect("verified record");
        Ok(NewCertificate {
            uvci,
            hc1: "HC1:TEST".into(),
            payload: format!(
                "{{\"nam\":{{\"fn\":{:?}}},\"dob\":\"{}\"}}",
                person.full_name, person.date_of_birth
            ),
            kid: "AAAAAAAAAAA=".into(),
            iat: 1_700_000_000,
            exp: 1_731_536_000,
        })
    }
}

/// A clinic, a small registry, and one verified record for its first person.
async fn verified_record(s: &Storage, key: &str) -> (i64, i64, RegistryPerson) {
    let people = persons(20);
    s.import_registry(people.clone(), 8, &system())
        .await
        .unwrap();
    let clinic = s
        .create_clinic("Trạm Y tế Phường 1", 79, &system())
        .await
        .unwrap();
    let person = people[3].clone();
    let record = dose_for(clinic, &person, 2);
    let (id, created) = s.insert_dose_record(&record, key, &system()).await.unwrap();
    assert!(created);
    // Matched against the stored registry.
    let mut registry = InMemoryRegistry::new();
    registry
        .insert(s.find_person(&person.id).await.unwrap().unwrap())
        .unwrap();
    let result = match_record(&record.identity, &registry);
    assert!(result.is_verified());
    assert_eq!(
        s.set_verification(id, &result, &Actor::System("matcher".into()))
            .await
            .unwrap(),
        RecordStatus::Verified
    );
    (clinic, id, person)
}

async fn count(raw: &AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(raw).await.unwrap()
}

both_backends! {
    fn migrations_on_fresh_database(db) {
        let s = db.open().await;
        assert_eq!(s.registry_count().await.unwrap(), 0);
        let report = s.audit_verify().await.unwrap();
        assert_eq!(report.entries, 0);
        s.close().await;
        // Opening again runs no migration twice.
        let s = db.open().await;
        assert_eq!(s.audit_verify().await.unwrap().entries, 0);
        let raw = db.raw().await;
        for table in ["registry_persons", "clinics", "staff_tokens", "dose_records",
                      "certificates", "audit_log", "audit_head"] {
            count(&raw, &format!("SELECT COUNT(*) FROM {table}")).await;
        }
        // Every migration file ran once (the directory is the list, so adding one needs no edit).
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
            .unwrap()
            .count();
        assert_eq!(count(&raw, "SELECT COUNT(*) FROM _sqlx_migrations").await, i64::try_from(files).unwrap());
        match (db.backend, s.sqlite_settings().await.unwrap()) {
            (Backend::Sqlite, Some(settings)) => assert_eq!(
                settings,
                SqliteSettings {
                    journal_mode: "wal".into(),
                    synchronous: 2,
                    foreign_keys: true,
                    busy_timeout_ms: 10_000,
                }
            ),
            (Backend::Postgres, None) => {}
            other => panic!("{other:?}"),
        }
        raw.close().await;
        s.close().await;
    }

    fn registry_import_100k_and_lookup(db) {
        let s = db.open().await;
        let n = 100_000u64;
        let people = persons(n);
        let summary = s.import_registry(people.iter().cloned(), 1_000, &system()).await.unwrap();
        assert_eq!(summary.rows, n);
        assert_eq!(summary.batches, 100);
        assert_eq!(s.registry_count().await.unwrap(), n);
        for p in people.iter().step_by(9_973) {
            assert_eq!(s.find_person(&p.id).await.unwrap().as_ref(), Some(p));
        }
        let unknown = IdNumber::parse_national("001099999999").unwrap();
        assert!(people.iter().all(|p| p.id != unknown));
        assert_eq!(s.find_person(&unknown).await.unwrap(), None);

        // Upsert: importing a corrected extract updates rows, adds none; a duplicate ID in
        // one batch is fine (the last row wins).
        let mut fixed = people[..3].to_vec();
        fixed[1].full_name = "Trần Văn Sửa".into();
        fixed.push(fixed[1].clone());
        fixed[3].full_name = "Trần Văn Cuối".into();
        s.import_registry(fixed.clone(), 2, &system()).await.unwrap();
        assert_eq!(s.registry_count().await.unwrap(), n);
        let got = s.find_person(&fixed[1].id).await.unwrap().unwrap();
        assert_eq!(got.full_name, "Trần Văn Cuối");
        s.audit_verify().await.unwrap();
        s.close().await;
    }

    fn token_is_stored_as_hash_only(db) {
        let s = db.open().await;
        let clinic = s.create_clinic("Bệnh viện Quận 3", 79, &system()).await.unwrap();
        let other = s.create_clinic("TTYT Ba Đình", 1, &system()).await.unwrap();
        let (secret, id) = s.create_staff_token(clinic, Role::Staff, &system()).await.unwrap();
        let (admin, _) = s.create_staff_token(other, Role::Admin, &system()).await.unwrap();
        let token = secret.expose().to_owned();
        assert!(token.starts_with("vxp_") && token.len() == 68);
        assert_eq!(format!("{secret:?}"), "TokenSecret(..)");

        let staff = s.authenticate(&token).await.unwrap().unwrap();
        assert_eq!((staff.token_id, staff.clinic_id, staff.role), (id, clinic, Role::Staff));
        assert_eq!(s.authenticate(admin.expose()).await.unwrap().unwrap().role, Role::Admin);
        assert_eq!(s.authenticate("vxp_00").await.unwrap(), None);
        assert_eq!(s.authenticate(&token[..67]).await.unwrap(), None);
        assert!(matches!(
            s.create_staff_token(9_999, Role::Staff, &system()).await,
            Err(StorageError::UnknownClinic(9_999))
        ));

        // The database holds the hash and never the token.
        let raw = db.raw().await;
        let row = sqlx::query("SELECT token_hash FROM staff_tokens WHERE id = $1")
            .bind(id).fetch_one(&raw).await.unwrap();
        assert_eq!(row.get::<String, _>("token_hash"), token_hash(&token));
        let hex_part = &token[4..];
        for sql in [
            "SELECT token_hash || role FROM staff_tokens",
            "SELECT actor || action || subject || details FROM audit_log",
        ] {
            let texts: Vec<String> = sqlx::query_scalar(sql).fetch_all(&raw).await.unwrap();
            assert!(!texts.is_empty());
            assert!(texts.iter().all(|t| !t.contains(hex_part)), "{sql}");
        }
        raw.close().await;
        s.close().await;
        if db.backend == Backend::Sqlite {
            // Every byte on disk, WAL included.
            let dir = db.dir.as_ref().unwrap().path();
            for entry in std::fs::read_dir(dir).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                assert!(!bytes.windows(hex_part.len()).any(|w| w == hex_part.as_bytes()));
                assert!(!bytes.windows(32).any(|w| hex::encode(w) == hex_part));
            }
        }
    }

    fn idempotent_insert(db) {
        let s = db.open().await;
        let people = persons(3);
        let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
        let other = s.create_clinic("B", 1, &system()).await.unwrap();
        let rec = dose_for(clinic, &people[0], 1);
        let (id, created) = s.insert_dose_record(&rec, "key-1", &system()).await.unwrap();
        assert!(created);
        assert_eq!(s.insert_dose_record(&rec, "key-1", &system()).await.unwrap(), (id, false));
        // The same key with other content is refused, and says nothing personal.
        let changed = dose_for(clinic, &people[1], 1);
        let err = s.insert_dose_record(&changed, "key-1", &system()).await.unwrap_err();
        assert!(matches!(err, StorageError::IdempotencyConflict { existing_id } if existing_id == id));
        assert_eq!(
            err.to_string(),
            format!("the idempotency key was already used by this clinic for a different record (record {id})")
        );
        // Keys are per clinic.
        let rec_b = dose_for(other, &people[0], 1);
        let (id_b, created) = s.insert_dose_record(&rec_b, "key-1", &system()).await.unwrap();
        assert!(created && id_b != id);
        let (id2, _) = s.insert_dose_record(&changed, "key-2", &system()).await.unwrap();
        assert!(matches!(
            s.insert_dose_record(&dose_for(4_242, &people[0], 1), "k", &system()).await,
            Err(StorageError::UnknownClinic(4_242))
        ));

        let stored = s.get_dose_record(id).await.unwrap().unwrap();
        assert_eq!(stored.identity, rec.identity);
        assert_eq!(stored.vaccination, rec.vaccination);
        assert_eq!(stored.status, RecordStatus::Received);
        let dbg = format!("{stored:?}");
        assert!(!dbg.contains(&people[0].full_name) && !dbg.contains(&people[0].id.to_string()));

        let page1 = s.records_for_clinic(clinic, Page { after_id: None, limit: 1 }).await.unwrap();
        assert_eq!(page1.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id]);
        let page2 = s.records_for_clinic(clinic, Page { after_id: Some(id), limit: 10 }).await.unwrap();
        assert_eq!(page2.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id2]);
        // One audit entry per created record: 2 clinics + 3 records.
        assert_eq!(s.audit_verify().await.unwrap().entries, 5);
        s.close().await;
    }

    fn confirm_of_unverified_record_is_refused(db) {
        let s = db.open().await;
        let people = persons(2);
        let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
        let (id, _) = s.insert_dose_record(&dose_for(clinic, &people[0], 1), "k", &system()).await.unwrap();
        let calls = AtomicUsize::new(0);
        let issue = |_: &DoseRecord| -> Result<NewCertificate, Infallible> {
            calls.fetch_add(1, Ordering::SeqCst);
            unreachable!()
        };
        let err = s.confirm_and_issue(id, &system(), issue).await.unwrap_err();
        assert!(matches!(err, StorageError::NotVerified { status: RecordStatus::Received, .. }));
        assert_eq!(
            err.to_string(),
            format!("dose record {id} cannot be confirmed: its status is 'received', only a record verified against the population registry can be")
        );
        // A mismatch (wrong name) is refused too.
        let mut registry = InMemoryRegistry::new();
        registry.insert(people[1].clone()).unwrap();
        let mut wrong = dose_for(clinic, &people[1], 1);
        wrong.identity.full_name = "Someone Else".into();
        let result = match_record(&wrong.identity, &registry);
        assert!(matches!(result, MatchResult::Mismatch { .. }));
        let (id2, _) = s.insert_dose_record(&wrong, "k2", &system()).await.unwrap();
        assert_eq!(s.set_verification(id2, &result, &system()).await.unwrap(), RecordStatus::Mismatch);
        let stored = s.get_dose_record(id2).await.unwrap().unwrap();
        assert_eq!(stored.outcome.as_deref(), Some("MISMATCH"));
        assert!(stored.match_report.unwrap().contains("\"outcome\":\"MISMATCH\""));
        assert!(matches!(
            s.confirm_and_issue(id2, &system(), cert("URN:UVCI:01:VN:X")).await,
            Err(StorageError::NotVerified { status: RecordStatus::Mismatch, .. })
        ));
        assert!(matches!(
            s.confirm_and_issue(777, &system(), cert("URN:UVCI:01:VN:X")).await,
            Err(StorageError::NotFound { id: 777, .. })
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(s.certificate_for_record(id).await.unwrap(), None);
        // The audit log holds codes only, never the name typed.
        let entries = s.audit_entries(0, 100).await.unwrap();
        assert!(entries.iter().any(|e| e.action == "dose_record.verify"
            && e.details.contains("MISMATCH [name:")));
        assert!(entries.iter().all(|e| !e.details.contains("Someone") && !e.details.contains(&people[1].full_name)));
        s.close().await;
    }

    fn confirm_twice_returns_the_same_certificate(db) {
        let s = db.open().await;
        let (_, id, person) = verified_record(&s, "k").await;
        let first = s.confirm_and_issue(id, &system(), cert("URN:UVCI:01:VN:AAA1")).await.unwrap();
        assert!(first.newly_issued);
        // The certificate carries the registry's name.
        assert!(first.certificate.payload.contains(&format!("{:?}", person.full_name)));
        let second = s
            .confirm_and_issue(id, &system(), |_: &DoseRecord| -> Result<NewCertificate, Infallible> {
                unreachable!("an issued record is never signed again")
            })
            .await
            .unwrap();
        assert!(!second.newly_issued);
        assert_eq!(second.certificate, first.certificate);
        assert_eq!(s.get_certificate("URN:UVCI:01:VN:AAA1").await.unwrap(), Some(first.certificate.clone()));
        assert_eq!(s.certificate_for_record(id).await.unwrap(), Some(first.certificate.clone()));
        assert_eq!(s.get_dose_record(id).await.unwrap().unwrap().status, RecordStatus::Issued);
        // An issued record can no longer be re-matched.
        let result = MatchResult::Verified { person, notes: vec![] };
        assert!(matches!(
            s.set_verification(id, &result, &system()).await,
            Err(StorageError::AlreadyIssued { .. })
        ));
        let actions: Vec<String> = s.audit_entries(0, 100).await.unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(&actions[actions.len() - 2..], ["dose_record.confirm", "certificate.issue"]);
        assert!(!format!("{:?}", first.certificate).contains("HC1:"));
        s.audit_verify().await.unwrap();
        s.close().await;
    }

    fn batch_commit_tells_a_duplicate_uvci_from_a_record_certified_meanwhile(db) {
        let modes = match db.backend {
            Backend::Sqlite => vec![
                CommitMode::Grouped { max_batch: 16 },
                CommitMode::PerOperation,
            ],
            Backend::Postgres => vec![CommitMode::PerOperation, CommitMode::Grouped { max_batch: 16 }],
        };
        let people = persons(20);
        let raw = db.raw().await;
        for (round, mode) in modes.into_iter().enumerate() {
            let s = Storage::open_with(&db.url, mode).await.unwrap();
            let clinic = s.create_clinic("Batch", 79, &system()).await.unwrap();
            let confirmed: Vec<ConfirmedRecord> = people[..3]
                .iter()
                .enumerate()
                .map(|(i, p)| ConfirmedRecord {
                    record: dose_for(clinic, p, 1),
                    idempotency_key: format!("{round}-{i}"),
                    result: MatchResult::Verified { person: p.clone(), notes: vec![] },
                })
                .collect();
            s.insert_confirmed_records(&confirmed, &system()).await.unwrap();
            let claim = s.batch_claim(0, 3).await.unwrap();
            let ids: Vec<i64> = claim.records.iter().map(|r| r.id).collect();
            assert_eq!(ids.len(), 3, "{mode:?}");
            drop(claim);
            let new = |uvci: String| NewCertificate {
                uvci,
                hc1: "HC1:TEST".into(),
                payload: "{}".into(),
                kid: "AAAAAAAAAAA=".into(),
                iat: 1_700_000_000,
                exp: 1_731_536_000,
            };
            // A UVCI already stored (the first certificate of an earlier round, or of this one).
            let taken = format!("URN:UVCI:01:VN:R{round}A");
            let claim = s.batch_claim(0, 1).await.unwrap();
            s.batch_commit(claim.lock, &[(ids[0], new(taken.clone()))], &system()).await.unwrap();
            let claim = s.batch_claim(0, 2).await.unwrap();
            let batch = [(ids[1], new(format!("URN:UVCI:01:VN:R{round}B"))), (ids[2], new(taken))];
            let err = s.batch_commit(claim.lock, &batch, &system()).await.unwrap_err();
            assert!(matches!(err, StorageError::DuplicateUvci), "{mode:?}: {err}");
            // Record 1 gets a certificate behind the storage's back (another process): a
            // unique violation on the record, not on the UVCI.
            sqlx::query(
                "INSERT INTO certificates (uvci, dose_record_id, hc1, payload, kid, iat, exp, issued_at) \
                 VALUES ($1, $2, 'x', '{}', 'k', 0, 0, 0)",
            )
            .bind(format!("URN:UVCI:01:VN:R{round}ELSEWHERE"))
            .bind(ids[1])
            .execute(&raw)
            .await
            .unwrap();
            let claim = s.batch_claim(0, 2).await.unwrap();
            let batch = [(ids[1], new(format!("URN:UVCI:01:VN:R{round}B"))), (ids[2], new(format!("URN:UVCI:01:VN:R{round}C")))];
            let err = s.batch_commit(claim.lock, &batch, &system()).await.unwrap_err();
            assert!(matches!(err, StorageError::BatchConflict), "{mode:?}: {err}");
            // Nothing of the failed batches was stored; record 2 is issued on its own.
            assert_eq!(s.certificate_for_record(ids[2]).await.unwrap(), None);
            let claim = s.batch_claim(ids[1], 1).await.unwrap();
            s.batch_commit(claim.lock, &[(ids[2], new(format!("URN:UVCI:01:VN:R{round}C")))], &system()).await.unwrap();
            // Mark record 1 as issued too, so the next round's claims start clean.
            sqlx::query("UPDATE dose_records SET status = 'issued' WHERE id = $1")
                .bind(ids[1])
                .execute(&raw)
                .await
                .unwrap();
            s.audit_verify().await.unwrap();
            s.close().await;
        }
        raw.close().await;
    }

    fn uvci_uniqueness_is_enforced_by_the_database(db) {
        let s = db.open().await;
        let (clinic, a, _) = verified_record(&s, "a").await;
        let people = persons(20);
        let p = &people[5];
        let (b, _) = s.insert_dose_record(&dose_for(clinic, p, 1), "b", &system()).await.unwrap();
        let verified = MatchResult::Verified { person: p.clone(), notes: vec![] };
        s.set_verification(b, &verified, &system()).await.unwrap();
        s.confirm_and_issue(a, &system(), cert("URN:UVCI:01:VN:SAME")).await.unwrap();
        let entries_before = s.audit_verify().await.unwrap().entries;
        let err = s.confirm_and_issue(b, &system(), cert("URN:UVCI:01:VN:SAME")).await.unwrap_err();
        assert!(matches!(err, StorageError::DuplicateUvci), "{err}");
        // Rolled back whole: record b still verified, no certificate, no audit entry.
        assert_eq!(s.get_dose_record(b).await.unwrap().unwrap().status, RecordStatus::Verified);
        assert_eq!(s.certificate_for_record(b).await.unwrap(), None);
        assert_eq!(s.audit_verify().await.unwrap().entries, entries_before);
        // The constraint itself, bypassing the application.
        let raw = db.raw().await;
        let res = sqlx::query(
            "INSERT INTO certificates (uvci, dose_record_id, hc1, payload, kid, iat, exp, issued_at) \
             VALUES ('URN:UVCI:01:VN:SAME', $1, 'x', '{}', 'k', 0, 0, 0)",
        )
        .bind(b)
        .execute(&raw)
        .await;
        assert!(matches!(res, Err(sqlx::Error::Database(e)) if e.is_unique_violation()));
        // One certificate per record, too.
        let res = sqlx::query(
            "INSERT INTO certificates (uvci, dose_record_id, hc1, payload, kid, iat, exp, issued_at) \
             VALUES ('URN:UVCI:01:VN:OTHER', $1, 'x', '{}', 'k', 0, 0, 0)",
        )
        .bind(a)
        .execute(&raw)
        .await;
        assert!(matches!(res, Err(sqlx::Error::Database(e)) if e.is_unique_violation()));
        // Then b gets its own UVCI.
        let ok = s.confirm_and_issue(b, &system(), cert("URN:UVCI:01:VN:B")).await.unwrap();
        assert!(ok.newly_issued);
        raw.close().await;
        s.close().await;
    }

    fn audit_chain_detects_an_edited_entry(db) {
        let s = db.open().await;
        let (_, id, _) = verified_record(&s, "k").await;
        s.confirm_and_issue(id, &system(), cert("URN:UVCI:01:VN:E1")).await.unwrap();
        // registry.import, clinic.create, dose_record.create, .verify, .confirm, certificate.issue
        let report = s.audit_verify().await.unwrap();
        assert_eq!(report.entries, 6);
        let raw = db.raw().await;
        // Append-only: the database itself refuses edits while its triggers are in place.
        assert!(raw.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 3").await.is_err());
        assert!(raw.execute("DELETE FROM audit_log WHERE seq = 3").await.is_err());
        db.drop_audit_triggers(&raw).await;
        raw.execute("UPDATE audit_log SET details = '{\"clinic\":2}' WHERE seq = 3").await.unwrap();
        let err = s.audit_verify().await.unwrap_err();
        assert!(
            matches!(&err, StorageError::AuditBroken(AuditBroken { seq: 3, reason: AuditBrokenReason::HashMismatch })),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "the audit log is broken at entry 3: its content does not match its hash (edited)"
        );
        raw.close().await;
        s.close().await;
    }

    fn audit_chain_detects_a_removed_or_reordered_entry(db) {
        let s = db.open().await;
        let (_, id, _) = verified_record(&s, "k").await;
        s.confirm_and_issue(id, &system(), cert("URN:UVCI:01:VN:D1")).await.unwrap();
        assert_eq!(s.audit_verify().await.unwrap().entries, 6);
        let raw = db.raw().await;
        db.drop_audit_triggers(&raw).await;

        // Removing the last entry: the head row still names it.
        raw.execute("DELETE FROM audit_log WHERE seq = 6").await.unwrap();
        assert!(matches!(
            s.audit_verify().await,
            Err(StorageError::AuditBroken(AuditBroken { seq: 6, reason: AuditBrokenReason::Missing }))
        ));
        // Removing one in the middle.
        raw.execute("DELETE FROM audit_log WHERE seq = 4").await.unwrap();
        assert!(matches!(
            s.audit_verify().await,
            Err(StorageError::AuditBroken(AuditBroken { seq: 4, reason: AuditBrokenReason::Missing }))
        ));
        // Closing the gap by renumbering: 5 becomes 4, and its hash no longer matches.
        raw.execute("UPDATE audit_log SET seq = 4 WHERE seq = 5").await.unwrap();
        assert!(matches!(
            s.audit_verify().await,
            Err(StorageError::AuditBroken(AuditBroken { seq: 4, reason: AuditBrokenReason::HashMismatch }))
        ));
        // Swapping two entries' positions (content and hashes moved together): links break.
        raw.execute("UPDATE audit_log SET seq = 100 WHERE seq = 1").await.unwrap();
        raw.execute("UPDATE audit_log SET seq = 1 WHERE seq = 2").await.unwrap();
        raw.execute("UPDATE audit_log SET seq = 2 WHERE seq = 100").await.unwrap();
        let err = s.audit_verify().await.unwrap_err();
        assert!(
            matches!(&err, StorageError::AuditBroken(AuditBroken { seq: 1, .. })),
            "{err}"
        );
        raw.close().await;
        s.close().await;
    }

    fn concurrent_confirmations_issue_one_certificate(db) {
        let s = db.open().await;
        let people = persons(20);
        s.import_registry(people.clone(), 100, &system()).await.unwrap();
        let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
        for (round, p) in people.iter().enumerate().take(10) {
            let (id, _) = s
                .insert_dose_record(&dose_for(clinic, p, 1), &format!("k{round}"), &system())
                .await
                .unwrap();
            let verified = MatchResult::Verified { person: p.clone(), notes: vec![] };
            s.set_verification(id, &verified, &system()).await.unwrap();
            let calls = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = ["A", "B"]
                .into_iter()
                .map(|tag| {
                    let s = s.clone();
                    let calls = calls.clone();
                    let issue = cert(&format!("URN:UVCI:01:VN:R{round}{tag}"));
                    tokio::spawn(async move {
                        s.confirm_and_issue(id, &Actor::Staff(1), move |r: &DoseRecord| {
                            calls.fetch_add(1, Ordering::SeqCst);
                            issue(r)
                        })
                        .await
                    })
                })
                .collect();
            let mut uvcis = Vec::new();
            let mut newly = 0;
            for t in tasks {
                let issued = t.await.unwrap().unwrap();
                newly += usize::from(issued.newly_issued);
                uvcis.push(issued.certificate.uvci);
            }
            assert_eq!(uvcis[0], uvcis[1]);
            assert_eq!(newly, 1);
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        }
        let raw = db.raw().await;
        assert_eq!(count(&raw, "SELECT COUNT(*) FROM certificates").await, 10);
        raw.close().await;
        s.audit_verify().await.unwrap();
        s.close().await;
    }

    fn pipeline_issues_every_record_once(db) {
        // Each record goes through three durable transactions (insert, verification,
        // confirm + issue); throughput belongs in a benchmark, not here.
        let s = db.open().await;
        let n = 300usize;
        let people = persons(n as u64);
        s.import_registry(people.clone(), 1_000, &system()).await.unwrap();
        let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
        for (i, p) in people.iter().enumerate() {
            let (id, _) = s
                .insert_dose_record(&dose_for(clinic, p, 1), &format!("f{i}"), &system())
                .await
                .unwrap();
            let verified = MatchResult::Verified { person: p.clone(), notes: vec![] };
            s.set_verification(id, &verified, &system()).await.unwrap();
            s.confirm_and_issue(id, &system(), cert(&format!("URN:UVCI:01:VN:F{i}")))
                .await
                .unwrap();
        }
        let report = s.audit_verify().await.unwrap();
        // registry.import, clinic.create, then create, verify, confirm, issue per record.
        assert_eq!(report.entries, 2 + 4 * n as u64);
        s.close().await;
    }

    fn concurrent_retries_of_one_submission_store_one_record(db) {
        let s = db.open().await;
        let people = persons(1);
        let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
        let rec = dose_for(clinic, &people[0], 1);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (s, rec) = (s.clone(), rec.clone());
                tokio::spawn(async move { s.insert_dose_record(&rec, "retry", &system()).await })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap().unwrap());
        }
        assert!(results.iter().all(|&(id, _)| id == results[0].0));
        assert_eq!(results.iter().filter(|&&(_, created)| created).count(), 1);
        let raw = db.raw().await;
        assert_eq!(count(&raw, "SELECT COUNT(*) FROM dose_records").await, 1);
        raw.close().await;
        s.close().await;
    }

    fn acknowledged_record_survives_reopening(db) {
        let s = db.open().await;
        let people = persons(1);
        let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
        let rec = dose_for(clinic, &people[0], 1);
        let (id, created) = s.insert_dose_record(&rec, "durable", &system()).await.unwrap();
        assert!(created);
        // No orderly close: the handle is dropped as a crashing process would drop it.
        drop(s);
        let s = db.open().await;
        let stored = s.get_dose_record(id).await.unwrap().unwrap();
        assert_eq!(stored.identity, rec.identity);
        assert_eq!(s.insert_dose_record(&rec, "durable", &system()).await.unwrap(), (id, false));
        s.audit_verify().await.unwrap();
        s.close().await;
    }
}

/// An in-memory SQLite database: the writer and the read connections share it, every
/// operation works on it (group commit and one transaction per write), and two storages
/// opened on `sqlite::memory:` are two databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_sqlite() {
    for (url, mode) in [
        ("sqlite::memory:", CommitMode::Grouped { max_batch: 16 }),
        ("sqlite://:memory:", CommitMode::PerOperation),
    ] {
        let s = Storage::open_with(url, mode).await.unwrap();
        assert_eq!(s.backend(), Backend::Sqlite);
        let (clinic, id, person) = verified_record(&s, "memory-1").await;
        let issued = s
            .confirm_and_issue(id, &system(), cert("URN:UVCI:01:VN:MEMORY1"))
            .await
            .unwrap();
        assert!(issued.newly_issued);
        // Concurrent writers and readers on the shared database.
        let mut tasks = Vec::new();
        for i in 0..8u32 {
            let s = s.clone();
            let person = person.clone();
            tasks.push(tokio::spawn(async move {
                let record = dose_for(clinic, &person, 1 + i % 2);
                let (id, _) = s
                    .insert_dose_record(&record, &format!("m-{i}"), &system())
                    .await
                    .unwrap();
                s.get_dose_record(id).await.unwrap().unwrap().id
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.registry_count().await.unwrap(), 20);
        assert_eq!(s.certificate_count().await.unwrap(), 1);
        let page = Page {
            after_id: None,
            limit: 100,
        };
        assert_eq!(s.records_for_clinic(clinic, page).await.unwrap().len(), 9);
        assert_eq!(s.audit_verify().await.unwrap().entries, 1 + 1 + 4 + 8);
        // Another in-memory storage sees none of it.
        let other = Storage::open(url).await.unwrap();
        assert_eq!(other.registry_count().await.unwrap(), 0);
        other.close().await;
        assert_eq!(s.registry_count().await.unwrap(), 20);
        s.close().await;
    }
}

#[test]
fn database_url_rewriting() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}

/// `kill -9` of a process that is writing: every record it had been told was stored (printed
/// `ack <id>` after `insert_dose_record` returned) is there when the file is opened again.
mod kill9 {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    const CHILD_ENV: &str = "VAXPASS_TEST_KILL9_CHILD_URL";

    /// The writer, run as a child process of `sqlite_acknowledged_records_survive`; without
    /// its variable (a normal test run) it does nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn child() {
        let Ok(url) = std::env::var(CHILD_ENV) else {
            return;
        };
        let s = Storage::open(&url).await.unwrap();
        let people = persons(50);
        let clinic = s.create_clinic("A", 79, &system()).await.unwrap();
        for i in 0u64.. {
            let p = &people[(i % 50) as usize];
            let (id, created) = s
                .insert_dose_record(&dose_for(clinic, p, 1), &format!("kill9-{i}"), &system())
                .await
                .unwrap();
            assert!(created);
            println!("ack {id}");
        }
    }

    #[test]
    fn sqlite_acknowledged_records_survive() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["kill9::child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            if let Some(id) = line.unwrap().strip_prefix("ack ") {
                acked.push(id.parse::<i64>().unwrap());
                if acked.len() == 200 {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no orderly close
        child.wait().unwrap();
        assert_eq!(acked.len(), 200);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let s = Storage::open(&url).await.unwrap();
            for id in &acked {
                assert!(
                    s.get_dose_record(*id).await.unwrap().is_some(),
                    "record {id} lost"
                );
            }
            // The audit chain is intact too (entries were written with their records).
            s.audit_verify().await.unwrap();
            s.close().await;
        });
    }
}

both_backends! {
    fn a_closed_storage_reads_nothing(db) {
        let s = db.open().await;
        let people = persons(3);
        s.import_registry(people.clone(), 8, &system()).await.unwrap();
        assert!(s.find_person(&people[0].id).await.unwrap().is_some());
        s.ping().await.unwrap();
        let other = s.clone();
        s.close().await;
        // Every clone shares the connections: all of them are closed.
        assert!(matches!(other.ping().await, Err(StorageError::Unavailable(_))));
        assert!(matches!(
            other.find_person(&people[0].id).await,
            Err(StorageError::Unavailable(_))
        ));
        assert!(matches!(other.registry_count().await, Err(StorageError::Unavailable(_))));
    }
}
