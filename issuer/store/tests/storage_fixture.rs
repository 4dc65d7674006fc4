//! Databases written by an earlier version of the issuer open and keep working.
//!
//! `fixtures/storage/` holds a SQLite database and a PostgreSQL dump (`pg_dump --inserts`)
//! written through the storage API of main at commit b09e59e (migrations 0001–0005): registry
//! persons, two clinics, tokens (active, with an expiry, revoked, rotated), dose records in
//! every status, certificates issued one by one and by a batch, a lookup and the audit chain.
//! `manifest.json` beside them says what the generator stored (ids, statuses, UVCIs, the
//! token secrets, the audit head), as that code reported it.
//!
//! The tests open a copy with today's code (the migrations continue from the stored
//! `_sqlx_migrations`), read everything back, verify the audit chain, then write: a new
//! record, a confirmation, the rest of the batch, a token; and verify the chain again.
//!
//! Regenerate (only when the format is meant to change, with today's code):
//! `VAXPASS_FIXTURE_OUT=$PWD/issuer/store/tests/fixtures/storage VAXPASS_TEST_POSTGRES_URL=… cargo
//! test -p vaxpass-issuer-store --test storage_fixture -- --ignored generate`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{PG_ENV, with_database};

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use common::generate_persons;
use serde_json::{Value, json};
use sqlx::{AnyPool, Connection, Executor};
use vaxpass_issuer_domain::dates::{Date, PartialDate};
use vaxpass_issuer_domain::identity::IdKind;
use vaxpass_issuer_domain::matching::{
    DoseIdentity, InMemoryRegistry, MatchResult, RegistryPerson, match_record,
};
use vaxpass_issuer_store::{
    Actor, Backend, CommitMode, ConfirmedRecord, DoseRecord, NewCertificate, NewDoseRecord,
    RecordStatus, Role, Storage, StorageError, TokenState, Vaccination,
};

/// The generator's clock: 2025-11-24T16:00:00Z.
const T0: i64 = 1_764_000_000;

/// The readers' clock: a day later (the rotated token's grace period has ended).
const T1: i64 = T0 + 86_400;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/storage")
}

fn system(name: &'static str) -> Actor {
    Actor::System(name.into())
}

fn dose(clinic_id: i64, identity: DoseIdentity, dose_number: u32) -> NewDoseRecord {
    NewDoseRecord {
        clinic_id,
        identity,
        vaccination: Vaccination {
            prophylaxis: "1119349007".into(),
            product: "EU/1/20/1528".into(),
            manufacturer: "ORG-100030215".into(),
            dose_number,
            series_total: 2,
            date: Date::parse("2021-09-01").unwrap(),
        },
    }
}

fn certificate(uvci: &str, record: &DoseRecord) -> NewCertificate {
    let person = record.registry_person.as_ref().expect("verified record");
    NewCertificate {
        uvci: uvci.to_owned(),
        hc1: format!("HC1:FIXTURE-{}", record.id),
        payload: format!(
            "{{\"nam\":{{\"fn\":{:?}}},\"dob\":\"{}\"}}",
            person.full_name, person.date_of_birth
        ),
        kid: "AAAAAAAAAAA=".into(),
        iat: T0,
        exp: T0 + 365 * 86_400,
    }
}

// ----- the generator (run once, by hand, at the commit named in the module documentation) -----

/// Writes the fixture's contents through the storage API; returns the manifest.
async fn populate(s: &Storage) -> Value {
    let persons: Vec<RegistryPerson> = generate_persons(40, 20_251_124).collect();
    s.import_registry(persons.clone(), 16, &system("fixture"))
        .await
        .unwrap();
    let mut registry = InMemoryRegistry::new();
    for p in &persons {
        registry.insert(p.clone()).unwrap();
    }
    let clinic = s
        .create_clinic("Trạm Y tế Phường Bến Nghé", 79, &system("fixture"))
        .await
        .unwrap();
    let other = s
        .create_clinic("Trạm Y tế Xã Tân Phú", 1, &system("fixture"))
        .await
        .unwrap();

    // Tokens: plain, admin, with an expiry, revoked, rotated (the old one in its grace period).
    let token = async |clinic, role, until| {
        s.create_staff_token_until(clinic, role, until, &system("fixture"))
            .await
            .unwrap()
    };
    let (staff, staff_id) = token(clinic, Role::Staff, None).await;
    let (admin, admin_id) = token(other, Role::Admin, None).await;
    let (expiring, expiring_id) = token(clinic, Role::Staff, Some(T0 + 30 * 86_400)).await;
    let (revoked, revoked_id) = token(clinic, Role::Staff, None).await;
    s.revoke_token(revoked_id, &Actor::Staff(admin_id))
        .await
        .unwrap();
    let (rotated_old, rotated_old_id) = token(other, Role::Staff, None).await;
    let rotated = s
        .rotate_token(rotated_old_id, None, 3_600, &Actor::Staff(admin_id))
        .await
        .unwrap();
    let actor = Actor::Staff(staff_id);
    let matcher = system("matcher");

    // Records in every status the API leaves them in.
    let mut records = Vec::new();
    let mut add = |name: &str, id: i64, status: RecordStatus| {
        records.push(json!({ "name": name, "id": id, "status": status.as_str() }));
    };
    let received = dose(clinic, DoseIdentity::from(&persons[0]), 1);
    let (id, _) = s
        .insert_dose_record(&received, "rec-received", &actor)
        .await
        .unwrap();
    add("received", id, RecordStatus::Received);
    let unavailable = dose(clinic, DoseIdentity::from(&persons[1]), 1);
    let (id, _) = s
        .insert_dose_record(&unavailable, "rec-unavailable", &actor)
        .await
        .unwrap();
    s.mark_registry_unavailable(id, "TIMEOUT", &matcher)
        .await
        .unwrap();
    add("registry_unavailable", id, RecordStatus::Received);
    let verify = async |name: &str, key: &str, record: NewDoseRecord| {
        let result = match_record(&record.identity, &registry);
        let (id, created, status) = s
            .insert_and_verify(&record, key, &actor, &result, &matcher)
            .await
            .unwrap();
        assert!(created);
        (name.to_owned(), id, status)
    };
    let mut mismatched = DoseIdentity::from(&persons[2]);
    mismatched.full_name = "Nguyễn Văn Khác".into();
    let mut unknown = DoseIdentity::from(&persons[3]);
    unknown.id_number = "079099000001".into();
    let passport = DoseIdentity {
        id_number: "C1234567".into(),
        id_kind: IdKind::ForeignPassport,
        full_name: "Smith John".into(),
        date_of_birth: PartialDate::parse("1980-05").unwrap(),
        sex: persons[4].sex,
    };
    let verified = [
        verify(
            "verified",
            "rec-verified",
            dose(clinic, DoseIdentity::from(&persons[5]), 1),
        )
        .await,
        verify("mismatch", "rec-mismatch", dose(clinic, mismatched, 1)).await,
        verify("not_found", "rec-not-found", dose(clinic, unknown, 1)).await,
        verify("manual_review", "rec-passport", dose(other, passport, 1)).await,
        verify(
            "issued",
            "rec-issued",
            dose(clinic, DoseIdentity::from(&persons[6]), 2),
        )
        .await,
        verify(
            "looked_up",
            "rec-looked-up",
            dose(clinic, DoseIdentity::from(&persons[7]), 2),
        )
        .await,
    ];
    let mut uvcis = Vec::new();
    for (name, id, status) in verified {
        let status = if name == "issued" || name == "looked_up" {
            let uvci = format!("URN:UVCI:01:VN:FIXTURE{id:04}#X");
            let issued = s
                .confirm_and_issue(id, &actor, |r| Ok::<_, Infallible>(certificate(&uvci, r)))
                .await
                .unwrap();
            assert!(issued.newly_issued);
            uvcis.push(json!({ "record": id, "uvci": uvci }));
            if name == "looked_up" {
                s.record_lookup(&uvci).await.unwrap();
            }
            RecordStatus::Issued
        } else {
            status
        };
        add(&name, id, status);
    }

    // A batch: six confirmed records imported, four of them issued in one batch commit.
    let confirmed: Vec<ConfirmedRecord> = (10..16)
        .map(|i| {
            let record = dose(clinic, DoseIdentity::from(&persons[i]), 2);
            ConfirmedRecord {
                result: match_record(&record.identity, &registry),
                record,
                idempotency_key: format!("batch-{i}"),
            }
        })
        .collect();
    let summary = s
        .insert_confirmed_records(&confirmed, &system("batch"))
        .await
        .unwrap();
    assert_eq!(summary.inserted, 6);
    let claim = s.batch_claim(0, 4).await.unwrap();
    let batch: Vec<(i64, NewCertificate)> = claim
        .records
        .iter()
        .map(|p| {
            let uvci = format!("URN:UVCI:01:VN:FIXTUREB{:04}#X", p.id);
            uvcis.push(json!({ "record": p.id, "uvci": uvci }));
            (p.id, certificate(&uvci, &pending_as_record(p, T0)))
        })
        .collect();
    for (id, _) in &batch {
        add("batch_issued", *id, RecordStatus::Issued);
    }
    s.batch_commit(claim.lock, &batch, &system("batch"))
        .await
        .unwrap();
    let rest = s.batch_claim(0, 100).await.unwrap();
    for p in &rest.records {
        add("batch_pending", p.id, RecordStatus::Confirmed);
    }
    drop(rest);

    let audit = s.audit_verify().await.unwrap();
    json!({
        "written_by": "vaxpass main b09e59e",
        "clock": T0,
        "clinics": { "first": clinic, "second": other },
        "registry_persons": persons.len(),
        "tokens": {
            "staff": { "id": staff_id, "secret": staff.expose() },
            "admin": { "id": admin_id, "secret": admin.expose() },
            "expiring": { "id": expiring_id, "secret": expiring.expose() },
            "revoked": { "id": revoked_id, "secret": revoked.expose() },
            "rotated_old": { "id": rotated_old_id, "secret": rotated_old.expose() },
            "rotated_new": { "id": rotated.new.id, "secret": rotated.secret.expose() },
        },
        "records": records,
        "certificates": uvcis,
        "audit": { "entries": audit.entries, "head_hash": audit.head_hash },
    })
}

/// Writes `fixtures/storage/` (see the module documentation). Ignored: run by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the fixture; run by hand with VAXPASS_FIXTURE_OUT"]
async fn generate() {
    let out = PathBuf::from(std::env::var("VAXPASS_FIXTURE_OUT").expect("VAXPASS_FIXTURE_OUT"));
    std::fs::create_dir_all(&out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("issuer.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let s = Storage::open(&url).await.unwrap().with_clock(|| T0);
    let manifest = populate(&s).await;
    s.close().await;
    drop(s);
    // One self-contained file: the WAL folded in, compacted.
    let target = out.join("issuer-b09e59e.sqlite3");
    let _ = std::fs::remove_file(&target);
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    conn.execute(format!("VACUUM INTO '{}'", target.display()).as_str())
        .await
        .unwrap();
    conn.close().await.unwrap();
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
    )
    .unwrap();

    // The same on PostgreSQL, dumped as plain SQL.
    let Ok(server) = std::env::var(PG_ENV) else {
        println!("SKIPPED (PostgreSQL): {PG_ENV} not set; no dump written");
        return;
    };
    let name = format!("vaxpass_fixture_{}", std::process::id());
    let admin = AnyPool::connect(&server).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let url = with_database(&server, &name);
    let s = Storage::open(&url).await.unwrap().with_clock(|| T0);
    let pg_manifest = populate(&s).await;
    s.close().await;
    let dump = std::process::Command::new("pg_dump")
        .args([
            "--inserts",
            "--no-owner",
            "--no-privileges",
            "--no-comments",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    std::fs::write(out.join("issuer-b09e59e.postgres.sql"), dump.stdout).unwrap();
    std::fs::write(
        out.join("manifest.postgres.json"),
        serde_json::to_string_pretty(&pg_manifest).unwrap() + "\n",
    )
    .unwrap();
    admin
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
}

// ----- the readers -----

fn manifest(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn int(v: &Value) -> i64 {
    v.as_i64().expect("an integer in the manifest")
}

/// Reads what the manifest says is stored, verifies the chain, writes more, verifies again.
async fn read_and_extend(s: &Storage, m: &Value) {
    // Registry and records, as stored.
    assert_eq!(
        s.registry_count().await.unwrap(),
        m["registry_persons"].as_u64().unwrap()
    );
    let records = m["records"].as_array().unwrap();
    assert_eq!(records.len(), 14);
    for r in records {
        let record = s.get_dose_record(int(&r["id"])).await.unwrap().unwrap();
        assert_eq!(record.status.as_str(), r["status"], "{r}");
        let outcome = record.outcome.as_deref();
        match r["name"].as_str().unwrap() {
            "received" => assert_eq!(outcome, None),
            "registry_unavailable" => assert_eq!(outcome, Some("REGISTRY_UNAVAILABLE")),
            "mismatch" => assert_eq!(outcome, Some("MISMATCH")),
            "not_found" => assert_eq!(outcome, Some("NOT_FOUND")),
            "manual_review" => assert_eq!(outcome, Some("FOREIGN_PASSPORT")),
            _ => assert_eq!(outcome, Some("VERIFIED")),
        }
        if record.status == RecordStatus::Verified || record.status == RecordStatus::Issued {
            let person = record.registry_person.as_ref().unwrap();
            assert_eq!(
                s.find_person(&person.id).await.unwrap().as_ref(),
                Some(person)
            );
        }
    }
    let certificates = m["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 6);
    for c in certificates {
        let uvci = c["uvci"].as_str().unwrap();
        let cert = s.get_certificate(uvci).await.unwrap().unwrap();
        assert_eq!(cert.dose_record_id, int(&c["record"]));
        assert_eq!(cert.hc1, format!("HC1:FIXTURE-{}", cert.dose_record_id));
        let by_record = s.certificate_for_record(cert.dose_record_id).await.unwrap();
        assert_eq!(by_record.as_ref(), Some(&cert));
    }
    assert_eq!(s.certificate_count().await.unwrap(), 6);
    let exported = s.export_certificates(0, 100).await.unwrap();
    assert_eq!(exported.len(), 6);
    let clinic = int(&m["clinics"]["first"]);
    let listed = s
        .records_for_clinic(
            clinic,
            vaxpass_issuer_store::Page {
                after_id: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 13, "all but the passport record");
    assert!(s.has_record_with_key(clinic, "rec-verified").await.unwrap());

    // Tokens: the secrets still authenticate (or not) as their state says.
    let t = &m["tokens"];
    let auth = async |name: &str| {
        s.authenticate(t[name]["secret"].as_str().unwrap())
            .await
            .unwrap()
    };
    let staff = auth("staff").await.unwrap();
    assert_eq!(
        (staff.token_id, staff.clinic_id),
        (int(&t["staff"]["id"]), clinic)
    );
    assert_eq!(auth("admin").await.unwrap().role, Role::Admin);
    assert!(auth("expiring").await.is_some());
    assert!(auth("rotated_new").await.is_some());
    assert_eq!(auth("revoked").await, None);
    assert_eq!(
        auth("rotated_old").await,
        None,
        "its grace period has ended"
    );
    let old = s
        .token_info(int(&t["rotated_old"]["id"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.replaced_by, Some(int(&t["rotated_new"]["id"])));
    assert_ne!(old.state, TokenState::Active);

    // The audit chain, as the old code left it.
    let report = s.audit_verify().await.unwrap();
    assert_eq!(report.entries, m["audit"]["entries"].as_u64().unwrap());
    assert_eq!(report.head_hash, m["audit"]["head_hash"].as_str().unwrap());
    let entries = s.audit_entries(0, 1_000).await.unwrap();
    assert!(entries.iter().any(|e| e.action == "certificate.lookup"));
    assert!(entries.iter().any(|e| e.action == "staff_token.rotate"));

    // Writing on top: a new record, a confirmation, the rest of the batch, a token.
    let actor = Actor::Staff(staff.token_id);
    let by_name = |name: &str| {
        records
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| int(&r["id"]))
            .unwrap()
    };
    let verified = by_name("verified");
    let issued = s
        .confirm_and_issue(verified, &actor, |r| {
            Ok::<_, Infallible>(certificate("URN:UVCI:01:VN:AFTER0001#X", r))
        })
        .await
        .unwrap();
    assert!(issued.newly_issued);
    let person = s
        .registry_page("", 1)
        .await
        .unwrap()
        .pop()
        .expect("a registry person");
    let mut registry = InMemoryRegistry::new();
    registry.insert(person.clone()).unwrap();
    let record = dose(clinic, DoseIdentity::from(&person), 1);
    let result = match_record(&record.identity, &registry);
    assert!(matches!(result, MatchResult::Verified { .. }));
    let (new_id, created, status) = s
        .insert_and_verify(
            &record,
            "after-upgrade",
            &actor,
            &result,
            &system("matcher"),
        )
        .await
        .unwrap();
    assert!(created && status == RecordStatus::Verified);
    assert!(new_id > records.iter().map(|r| int(&r["id"])).max().unwrap());
    let claim = s.batch_claim(0, 100).await.unwrap();
    let pending: Vec<i64> = records
        .iter()
        .filter(|r| r["name"] == "batch_pending")
        .map(|r| int(&r["id"]))
        .collect();
    assert_eq!(
        claim.records.iter().map(|p| p.id).collect::<Vec<_>>(),
        pending
    );
    let batch: Vec<(i64, NewCertificate)> = claim
        .records
        .iter()
        .map(|p| {
            let mut c = certificate(
                &format!("URN:UVCI:01:VN:AFTERB{:04}#X", p.id),
                &pending_as_record(p, T1),
            );
            c.iat = T1;
            (p.id, c)
        })
        .collect();
    s.batch_commit(claim.lock, &batch, &system("batch"))
        .await
        .unwrap();
    assert_eq!(s.confirmed_count().await.unwrap(), 0);
    assert_eq!(s.certificate_count().await.unwrap(), 9);
    let (token, _) = s
        .create_staff_token(clinic, Role::Staff, &system("fixture"))
        .await
        .unwrap();
    assert!(s.authenticate(token.expose()).await.unwrap().is_some());
    let after = s.audit_verify().await.unwrap();
    // A confirmation (2 entries), a submission (2), a batch (1), a token (1).
    assert_eq!(after.entries, report.entries + 6);
}

/// A pending record as the [`DoseRecord`] that [`certificate`] reads.
fn pending_as_record(p: &vaxpass_issuer_store::PendingRecord, at: i64) -> DoseRecord {
    DoseRecord {
        id: p.id,
        clinic_id: p.clinic_id,
        identity: DoseIdentity::from(&p.person),
        vaccination: p.vaccination.clone(),
        status: RecordStatus::Confirmed,
        outcome: None,
        match_report: None,
        registry_person: Some(p.person.clone()),
        created_at: at,
        updated_at: at,
    }
}

/// The SQLite fixture, copied, opened in every commit mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_of_b09e59e_opens_and_works() {
    let m = manifest("manifest.json");
    for mode in [
        CommitMode::default_for(Backend::Sqlite),
        CommitMode::Grouped { max_batch: 64 },
        CommitMode::PerOperation,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("issuer.db");
        std::fs::copy(fixtures().join("issuer-b09e59e.sqlite3"), &file).unwrap();
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let s = Storage::open_with(&url, mode)
            .await
            .unwrap()
            .with_clock(|| T1);
        read_and_extend(&s, &m).await;
        s.close().await;
        drop(s);
        // Reopened: the chain written by both versions verifies.
        let s = Storage::open(&url).await.unwrap();
        assert_eq!(
            s.audit_verify().await.unwrap().entries,
            m["audit"]["entries"].as_u64().unwrap() + 6
        );
        s.close().await;
    }
}

/// The PostgreSQL dump, restored into a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dump_of_b09e59e_opens_and_works() {
    let Ok(server) = std::env::var(PG_ENV) else {
        println!("SKIPPED (PostgreSQL): {PG_ENV} not set");
        return;
    };
    sqlx::any::install_default_drivers();
    let name = format!("vaxpass_test_fixture_{:08x}", std::process::id());
    let admin = AnyPool::connect(&server).await.unwrap();
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let url = with_database(&server, &name);
    // The dump as plain statements: psql's meta-commands (`\restrict`) left out. It clears
    // `search_path` for its own session: a connection of its own, closed afterwards.
    let dump = std::fs::read_to_string(fixtures().join("issuer-b09e59e.postgres.sql")).unwrap();
    let sql: String = dump
        .lines()
        .filter(|l| !l.starts_with('\\'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let m = manifest("manifest.postgres.json");
    let s = Storage::open(&url).await.unwrap().with_clock(|| T1);
    read_and_extend(&s, &m).await;
    s.close().await;
    admin
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
}

/// A copy of the SQLite fixture with `sql` run on it, then opened by today's code.
async fn open_altered(sql: &str) -> Result<Storage, StorageError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("issuer.db");
    std::fs::copy(fixtures().join("issuer-b09e59e.sqlite3"), &file).unwrap();
    let url = format!("sqlite://{}?mode=rwc", file.display());
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    conn.execute(sql).await.unwrap();
    conn.close().await.unwrap();
    Storage::open(&url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_by_a_newer_version_is_refused() {
    let err = open_altered(
        "INSERT INTO _sqlx_migrations \
         (version, description, installed_on, success, checksum, execution_time) \
         VALUES (99, 'from the future', '2026-01-01 00:00:00', 1, x'00', 0)",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, StorageError::SchemaTooNew { version: 99 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the database was migrated by a newer version of the issuer (migration 99 is unknown to \
         this one); run that version or a newer one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_changed_outside_the_issuer_is_refused() {
    let err = open_altered("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 3")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::SchemaMismatch { version: 3 }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("issuer.db");
    std::fs::write(&file, vec![0x5a; 8_192]).unwrap();
    let err = Storage::open(&format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::CorruptDatabase(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("the database file is damaged or not a SQLite database")
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_answer_is_unavailable() {
    // Port 1 on loopback: nothing listens there.
    let err = Storage::open("postgres://vaxpass@127.0.0.1:1/vaxpass")
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("the database is unavailable ("),
        "{err}"
    );
}

/// `_sqlx_migrations` of a SQLite file: version, description, success, checksum.
fn sqlite_bookkeeping(conn: &rusqlite::Connection) -> Vec<(i64, String, bool, Vec<u8>)> {
    let mut stmt = conn
        .prepare(
            "SELECT version, description, success, checksum FROM _sqlx_migrations \
             ORDER BY version",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The schema of a SQLite file, without the bookkeeping table.
fn sqlite_schema(conn: &rusqlite::Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE '_sqlx%' \
             ORDER BY name",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A file migrated by sqlx's own migrator (what issuers before the rusqlite-only driver ran)
/// and one migrated by `Storage::open` hold the same bookkeeping and the same schema; each
/// accepts the other's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_keep_the_history_of_sqlx() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let migrator = sqlx::migrate::Migrator::new(migrations.as_path())
        .await
        .unwrap();
    let by_sqlx = dir.path().join("sqlx.db");
    sqlx::any::install_default_drivers();
    let sqlx_url = format!("sqlite://{}?mode=rwc", by_sqlx.display());
    let mut conn = sqlx::AnyConnection::connect(&sqlx_url).await.unwrap();
    migrator.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let ours = dir.path().join("ours.db");
    let ours_url = format!("sqlite://{}?mode=rwc", ours.display());
    Storage::open(&ours_url).await.unwrap().close().await;

    let theirs_conn = rusqlite::Connection::open(&by_sqlx).unwrap();
    let ours_conn = rusqlite::Connection::open(&ours).unwrap();
    let files = std::fs::read_dir(&migrations).unwrap().count();
    assert_eq!(sqlite_bookkeeping(&ours_conn).len(), files);
    assert_eq!(
        sqlite_bookkeeping(&ours_conn),
        sqlite_bookkeeping(&theirs_conn)
    );
    assert_eq!(sqlite_schema(&ours_conn), sqlite_schema(&theirs_conn));
    drop((theirs_conn, ours_conn));
    // Each accepts the other's history: the storage opens sqlx's file, sqlx's migrator finds
    // nothing to do on ours.
    Storage::open(&sqlx_url).await.unwrap().close().await;
    let mut conn = sqlx::AnyConnection::connect(&ours_url).await.unwrap();
    migrator.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}
