//! Batch issuance: every confirmed record issued exactly once (library and binary), resumed
//! after `kill -9`, imports from NDJSON, and two concurrent processes on PostgreSQL (when
//! `VAXPASS_TEST_POSTGRES_URL` is set; otherwise that test prints `SKIPPED (PostgreSQL): …`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use sqlx::{AnyPool, Executor};
use vaxpass_issuer::api::Config;
use vaxpass_issuer::api::issue::{IssueContext, uvci_check_ok};
use vaxpass_issuer::batch::{self, BatchOptions};
use vaxpass_issuer::registry_csv::generate_persons;
use vaxpass_issuer::storage::{Actor, ExportedCertificate, Storage};
use vaxpass_keys::Signer;
use vaxpass_verifier::{Timestamp, TrustStore, Verifier};

const BIN: &str = env!("CARGO_BIN_EXE_vaxpass-issuer");

fn keys(dir: &Path) -> Arc<dyn Signer> {
    common::signer_in(dir, Timestamp::now(), Timestamp::now())
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("issuer.db").display())
}

/// Every stored certificate, with its distinct UVCIs and records.
#[derive(Default)]
struct CertSet {
    all: Vec<ExportedCertificate>,
    uvcis: HashSet<String>,
    records: HashSet<i64>,
}

impl CertSet {
    fn extend(&mut self, page: Vec<ExportedCertificate>) {
        for c in page {
            self.uvcis.insert(c.uvci.clone());
            self.records.insert(c.dose_record_id);
            self.all.push(c);
        }
    }
}

/// Every certificate in id order.
async fn all_certificates(storage: &Storage) -> CertSet {
    let mut set = CertSet::default();
    let mut after = 0;
    loop {
        let page = storage.export_certificates(after, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        set.extend(page);
    }
    set
}

/// Verifies `sample` certificates with the verifier crate, as a verifier app would.
fn verify_sample(signer: &Arc<dyn Signer>, certs: &CertSet, every: usize) {
    let store = TrustStore::from_der_certificates([signer.certificate_der()]).unwrap();
    let mut verifier = Verifier::new(store);
    let mut checked = 0;
    for c in certs.all.iter().step_by(every) {
        let verified = verifier.verify(&c.hc1, Timestamp::now()).unwrap();
        let dcc = verified.dcc().unwrap();
        let vaxpass_verifier::model::Entries::Vaccination(v) = &dcc.entries else {
            panic!("not a vaccination certificate");
        };
        assert_eq!(v[0].ci, c.uvci);
        assert!(uvci_check_ok(&c.uvci));
        checked += 1;
    }
    assert!(checked > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_every_confirmed_record_once_and_audits_it() {
    const N: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let signer = keys(&dir.path().join("keys"));
    let storage = Storage::open(&sqlite_url(dir.path())).await.unwrap();
    let actor = Actor::System("test".into());
    let seeded = batch::seed(&storage, N, 7, &actor).await.unwrap();
    assert_eq!(seeded.stored.inserted, N);
    assert_eq!(storage.confirmed_count().await.unwrap(), N);

    let ctx = IssueContext::new(signer.clone(), Config::default()).unwrap();
    let opts = BatchOptions {
        workers: 2,
        batch_size: 300,
        verify_every: 1,
        max_in_flight: 4,
        ..BatchOptions::default()
    };
    let mut progress = Vec::new();
    let report = batch::issue_pending(&storage, &ctx, &opts, &mut |p| progress.push(p))
        .await
        .unwrap();
    assert_eq!(report.issued, N);
    assert_eq!(report.failed, 0);
    assert_eq!(report.batches, N.div_ceil(300));
    assert_eq!(
        report.stages.verified, N,
        "debug: every certificate verified"
    );
    assert_eq!(progress.last().map(|p| p.issued), Some(N));
    assert!(progress.windows(2).all(|w| w[0].issued < w[1].issued));

    let certs = all_certificates(&storage).await;
    assert_eq!(certs.all.len() as u64, N);
    assert_eq!(certs.uvcis.len() as u64, N, "UVCIs unique");
    assert_eq!(certs.records.len() as u64, N, "one certificate per record");
    assert_eq!(storage.confirmed_count().await.unwrap(), 0);
    verify_sample(&signer, &certs, 37);

    // The audit log: intact, one batch entry per committed batch, counts adding up to N,
    // no personal data (codes and numbers only).
    storage.audit_verify().await.unwrap();
    let mut issued_in_audit = 0;
    let mut batch_entries = 0;
    let mut after = 0;
    loop {
        let entries = storage.audit_entries(after, 1_000).await.unwrap();
        let Some(last) = entries.last() else { break };
        after = last.seq;
        for e in entries
            .iter()
            .filter(|e| e.action == "certificate.batch_issue")
        {
            let d: serde_json::Value = serde_json::from_str(&e.details).unwrap();
            issued_in_audit += d["count"].as_u64().unwrap();
            batch_entries += 1;
            assert!(e.subject.starts_with("dose_records:"));
            let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["count", "first_record", "kids", "last_record"]);
        }
    }
    assert_eq!(issued_in_audit, N);
    assert_eq!(batch_entries, report.batches);

    // Nothing left: a second run issues nothing and changes nothing.
    let again = batch::issue_pending(&storage, &ctx, &opts, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again.issued, 0);
    assert_eq!(storage.certificate_count().await.unwrap(), N);
    storage.close().await;
}

/// One clock: a batch run stamps its certificates (`iat`) and its audit entries with the
/// storage's clock, not the system's (the time here is three days ago, inside the DSC's validity).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_issuance_reads_the_storage_clock() {
    const N: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let then = Timestamp::now().unix_seconds() - 3 * 86_400;
    let signer = common::signer_in(
        &dir.path().join("keys"),
        Timestamp::from_unix_seconds(then - 7 * 86_400),
        Timestamp::from_unix_seconds(then),
    );
    let storage = Storage::open(&sqlite_url(dir.path()))
        .await
        .unwrap()
        .with_clock(move || then);
    let actor = Actor::System("test".into());
    batch::seed(&storage, N, 11, &actor).await.unwrap();
    let ctx = IssueContext::new(signer.clone(), Config::default()).unwrap();
    let report = batch::issue_pending(&storage, &ctx, &BatchOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.issued, N);

    let store = TrustStore::from_der_certificates([signer.certificate_der()]).unwrap();
    let mut verifier = Verifier::new(store);
    let certs = all_certificates(&storage).await;
    assert_eq!(certs.all.len() as u64, N);
    for c in &certs.all {
        let verified = verifier.verify(&c.hc1, Timestamp::now()).unwrap();
        assert_eq!(
            verified.signed().issued_at().map(|t| t.unix_seconds()),
            Some(then)
        );
    }
    let entries = storage.audit_entries(0, 1_000).await.unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e.at == then),
        "audit entries at the storage clock"
    );
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_failing_inside_a_batch_stay_confirmed() {
    // Batches are committed with one UPDATE per run of consecutive record ids: records that
    // fail in the middle of a run must not be marked issued with their neighbours.
    const N: u64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let signer = keys(&dir.path().join("keys"));
    let url = sqlite_url(dir.path());
    let storage = Storage::open(&url).await.unwrap();
    let actor = Actor::System("test".into());
    batch::seed(&storage, N, 11, &actor).await.unwrap();
    sqlx::any::install_default_drivers();
    let raw = AnyPool::connect(&url).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM dose_records ORDER BY id")
        .fetch_all(&raw)
        .await
        .unwrap();
    // A record without a vaccine code cannot be issued (it stays confirmed).
    let broken = [ids[0], ids[10], ids[500], ids[501], ids[999]];
    for id in broken {
        raw.execute(format!("UPDATE dose_records SET prophylaxis = '' WHERE id = {id}").as_str())
            .await
            .unwrap();
    }
    let ctx = IssueContext::new(signer.clone(), Config::default()).unwrap();
    let opts = BatchOptions {
        workers: 2,
        batch_size: 400,
        verify_every: 50,
        max_in_flight: 3,
        ..BatchOptions::default()
    };
    let report = batch::issue_pending(&storage, &ctx, &opts, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.issued, N - 5);
    assert_eq!(report.failed, 5);
    let mut failed: Vec<i64> = report.failures.iter().map(|f| f.record_id).collect();
    failed.sort_unstable();
    assert_eq!(failed, broken);
    assert_eq!(storage.confirmed_count().await.unwrap(), 5);
    let still: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM dose_records WHERE status = 'confirmed' ORDER BY id")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert_eq!(still, broken);
    let certs = all_certificates(&storage).await;
    assert_eq!(certs.records.len() as u64, N - 5);
    assert!(broken.iter().all(|id| !certs.records.contains(id)));
    verify_sample(&signer, &certs, 13);
    raw.close().await;
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_resumes_and_issues_each_record_exactly_once() {
    const N: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let signer = keys(&keys_dir);
    let url = sqlite_url(dir.path());
    // Seeded by the binary's own subcommand.
    let out = Command::new(BIN)
        .args([
            "batch",
            "seed",
            "--count",
            "2000",
            "--seed",
            "3",
            "--database",
        ])
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let storage = Storage::open(&url).await.unwrap();
    assert_eq!(storage.confirmed_count().await.unwrap(), N);

    let issue = || {
        let mut cmd = Command::new(BIN);
        cmd.args(["batch", "issue", "--pending", "--database"])
            .arg(&url)
            .arg("--keys")
            .arg(&keys_dir)
            .args([
                "--batch-size",
                "50",
                "--workers",
                "2",
                "--progress",
                "lines",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let mut child = issue().spawn().unwrap();
    // Wait until some, but not all, batches are committed, then SIGKILL.
    loop {
        let n = storage.certificate_count().await.unwrap();
        if n > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before anything was observed"
        );
        tokio::task::yield_now().await;
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let after_kill = storage.certificate_count().await.unwrap();
    assert!(after_kill > 0);
    assert!(
        after_kill < N,
        "the run finished before the kill: nothing was resumed"
    );
    // Committed batches are whole: every certificate's record is issued, every other record
    // still confirmed.
    assert_eq!(storage.confirmed_count().await.unwrap(), N - after_kill);

    let out = issue().output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("issued {} certificates", N - after_kill)),
        "{stdout}"
    );

    let certs = all_certificates(&storage).await;
    assert_eq!(certs.all.len() as u64, N);
    assert_eq!(certs.uvcis.len() as u64, N);
    assert_eq!(certs.records.len() as u64, N);
    assert_eq!(storage.confirmed_count().await.unwrap(), 0);
    storage.audit_verify().await.unwrap();
    verify_sample(&signer, &certs, 97);

    // The export: N lines, the same UVCIs, one QR image per line.
    let export = dir.path().join("export.ndjson");
    let qr_dir = dir.path().join("qr");
    let out = Command::new(BIN)
        .args(["batch", "export", "--database"])
        .arg(&url)
        .arg("--out")
        .arg(&export)
        .arg("--qr")
        .arg(&qr_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&export).unwrap();
    let exported: HashSet<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["hc1"].as_str().unwrap().starts_with("HC1:"));
            v["uvci"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text.lines().count() as u64, N);
    assert_eq!(exported, certs.uvcis);
    assert_eq!(std::fs::read_dir(&qr_dir).unwrap().count() as u64, N);
    // A sample of the images decodes (rqrr) to the exported text.
    for line in text.lines().step_by(211) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let png = std::fs::read(qr_dir.join(format!("{}.png", v["id"]))).unwrap();
        assert_eq!(
            vaxpass_verifier::qr::decode_image(&png).unwrap(),
            v["hc1"].as_str().unwrap()
        );
    }
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_matches_stores_and_reports_rejected_lines() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let signer = keys(&keys_dir);
    let url = sqlite_url(dir.path());
    let storage = Storage::open(&url).await.unwrap();
    let actor = Actor::System("test".into());
    let persons: Vec<_> = generate_persons(40, 11).collect();
    storage
        .import_registry(persons.iter().cloned(), 100, &actor)
        .await
        .unwrap();
    let clinic = storage.create_clinic("Clinic", 79, &actor).await.unwrap();
    let line = |p: &vaxpass_issuer::matching::RegistryPerson, name: &str| {
        serde_json::json!({
            "clinic_id": clinic,
            "id_number": p.id.to_string(),
            "full_name": name,
            "date_of_birth": p.date_of_birth.to_string(),
            "sex": p.sex.code(),
            "vaccine": {"mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007"},
            "dose_number": 1,
            "series_total": 2,
            "date": "2021-08-01",
        })
        .to_string()
    };
    let mut lines: Vec<String> = persons[..30]
        .iter()
        .map(|p| line(p, &p.full_name))
        .collect();
    lines.push(line(&persons[30], "Somebody Else Entirely")); // line 31: mismatch
    lines.push("{not json".to_owned()); // line 32
    let mut wrong_code =
        serde_json::from_str::<serde_json::Value>(&line(&persons[31], &persons[31].full_name))
            .unwrap();
    wrong_code["vaccine"]["mp"] = "NOT-A-PRODUCT".into();
    lines.push(wrong_code.to_string()); // line 33
    let file = dir.path().join("records.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let run = || {
        Command::new(BIN)
            .args(["batch", "issue", "--database"])
            .arg(&url)
            .arg("--keys")
            .arg(&keys_dir)
            .arg("--from")
            .arg(&file)
            .args(["--progress", "none"])
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("line 31: MISMATCH"), "{stdout}");
    assert!(stdout.contains("line 32: INVALID"), "{stdout}");
    assert!(stdout.contains("line 33: INVALID (vaccine.mp"), "{stdout}");
    assert!(stdout.contains("30 stored as confirmed"), "{stdout}");
    assert!(stdout.contains("issued 30 certificates"), "{stdout}");
    // No personal data in the output: no rejected name or ID number.
    assert!(!stdout.contains("Somebody Else"));
    assert!(!stdout.contains(&persons[30].id.to_string()));
    assert_eq!(storage.certificate_count().await.unwrap(), 30);

    // The same file again: nothing stored or issued twice.
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("0 stored as confirmed, 30 already stored"),
        "{stdout}"
    );
    assert!(stdout.contains("issued 0 certificates"), "{stdout}");
    let certs = all_certificates(&storage).await;
    assert_eq!(certs.records.len(), 30);
    verify_sample(&signer, &certs, 1);
    storage.audit_verify().await.unwrap();
    storage.close().await;
}

fn pg_issue(url: &str, keys_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["batch", "issue", "--pending", "--database"])
        .arg(url)
        .arg("--keys")
        .arg(keys_dir)
        .args([
            "--batch-size",
            "100",
            "--workers",
            "1",
            "--progress",
            "none",
        ])
        .args(["--verify-every", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn issued_count(out: &std::process::Output) -> u64 {
    let s = String::from_utf8_lossy(&out.stdout);
    let rest = s.split("issued ").nth(1).unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_split_the_work() {
    const N: u64 = 5_000;
    let Some(db) = common::pg_database("vaxpass_test").await else {
        return;
    };
    let url = db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let signer = keys(&keys_dir);
    let storage = Storage::open(&url).await.unwrap();
    batch::seed(&storage, N, 5, &Actor::System("test".into()))
        .await
        .unwrap();

    let (a, b) = (
        pg_issue(&url, &keys_dir).spawn().unwrap(),
        pg_issue(&url, &keys_dir).spawn().unwrap(),
    );
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{a:?}");
    assert!(b.status.success(), "{b:?}");
    let (ia, ib) = (issued_count(&a), issued_count(&b));
    println!("process A issued {ia}, process B issued {ib}");
    // Disjoint and complete: the two counts add up to N, and the database holds N
    // certificates for N distinct records (an overlap would have been a rejected commit).
    assert_eq!(ia + ib, N);
    let certs = all_certificates(&storage).await;
    assert_eq!(certs.records.len() as u64, N);
    assert_eq!(certs.uvcis.len() as u64, N);
    assert_eq!(storage.confirmed_count().await.unwrap(), 0);
    storage.audit_verify().await.unwrap();
    verify_sample(&signer, &certs, 250);
    storage.close().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_process_killed_its_records_are_issued_by_the_next() {
    const N: u64 = 3_000;
    let Some(db) = common::pg_database("vaxpass_test").await else {
        return;
    };
    let url = db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    keys(&keys_dir);
    let storage = Storage::open(&url).await.unwrap();
    batch::seed(&storage, N, 9, &Actor::System("test".into()))
        .await
        .unwrap();
    let mut child = pg_issue(&url, &keys_dir).spawn().unwrap();
    while storage.certificate_count().await.unwrap() == 0 {
        assert!(child.try_wait().unwrap().is_none(), "ended before observed");
        tokio::task::yield_now().await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = storage.certificate_count().await.unwrap();
    assert!(after_kill < N, "the run finished before the kill");
    // The killed process's claims (row locks) died with its connections: the next run
    // issues every remaining record at once.
    let out = pg_issue(&url, &keys_dir).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(issued_count(&out), N - after_kill);
    let certs = all_certificates(&storage).await;
    assert_eq!(certs.records.len() as u64, N);
    assert_eq!(certs.uvcis.len() as u64, N);
    storage.audit_verify().await.unwrap();
    storage.close().await;
    db.drop().await;
}

/// `batch reissue --signed-by A` with the current DSC B: killed with `kill -9` mid-run and run
/// again, every live certificate of A is re-signed by B exactly once (same UVCI, same CWT
/// payload byte for byte, a signature that verifies under B), and each old signed instance is
/// on the revocation list under its SIGNATURE hash only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reissue_resigns_every_certificate_of_a_dsc_once_after_kill_9() {
    use vaxpass_verifier::cose::CoseSign1;
    use vaxpass_verifier::{Limits, decode};
    const N: u64 = 1_500;
    let dir = tempfile::tempdir().unwrap();
    let (keys_a, keys_b) = (dir.path().join("keys-a"), dir.path().join("keys-b"));
    let signer_a = keys(&keys_a);
    let signer_b = keys(&keys_b);
    let (kid_a, kid_b) = (signer_a.kid().to_base64(), signer_b.kid().to_base64());
    let url = sqlite_url(dir.path());
    let run = |args: &[&str], keys_dir: &Path| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .arg("--database")
            .arg(&url)
            .arg("--keys")
            .arg(keys_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let out = Command::new(BIN)
        .args([
            "batch",
            "seed",
            "--count",
            "1500",
            "--seed",
            "5",
            "--database",
        ])
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = run(
        &["batch", "issue", "--pending", "--progress", "none"],
        &keys_a,
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let storage = Storage::open(&url).await.unwrap();
    let before = all_certificates(&storage).await;
    assert_eq!(before.all.len() as u64, N);
    let now = Timestamp::now().unix_seconds();
    assert_eq!(storage.live_certificates_of(&kid_a, now).await.unwrap(), N);

    let reissue = || {
        run(
            &[
                "batch",
                "reissue",
                "--signed-by",
                &kid_a,
                "--batch-size",
                "50",
                "--workers",
                "2",
                "--progress",
                "lines",
            ],
            &keys_b,
        )
    };
    let mut child = reissue().spawn().unwrap();
    // Wait until some batches are committed, then SIGKILL.
    loop {
        let done = storage.live_signature_revocations(0).await.unwrap().len();
        if done > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before anything was observed"
        );
        tokio::task::yield_now().await;
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    let left = storage.live_certificates_of(&kid_a, now).await.unwrap();
    let revoked = storage.live_signature_revocations(0).await.unwrap().len() as u64;
    assert!(
        left > 0,
        "the run finished before the kill: nothing was resumed"
    );
    // Committed batches are whole: each re-signed certificate has its old signature revoked.
    assert_eq!(left + revoked, N);

    let out = reissue().output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("re-signed {left} certificates")),
        "{stdout}"
    );

    // Every certificate once, by B, same UVCI and CWT; every old signature revoked once.
    let after = all_certificates(&storage).await;
    assert_eq!(after.uvcis, before.uvcis);
    assert_eq!(storage.live_certificates_of(&kid_a, now).await.unwrap(), 0);
    assert_eq!(storage.live_certificates_of(&kid_b, now).await.unwrap(), N);
    let old: std::collections::HashMap<String, String> = storage
        .live_signature_revocations(0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!(r.kid, kid_a);
            (r.uvci, r.hc1)
        })
        .collect();
    assert_eq!(old.len() as u64, N, "one revoked signature per certificate");
    let cwt = |hc1: &str| {
        let signed = decode(hc1, &Limits::default()).unwrap();
        CoseSign1::parse(signed.cose_bytes(), 16)
            .unwrap()
            .payload
            .to_vec()
    };
    for c in after.all.iter().step_by(37) {
        let old_hc1 = &old[&c.uvci];
        assert_eq!(cwt(&c.hc1), cwt(old_hc1), "same payload, new signature");
        assert_ne!(&c.hc1, old_hc1);
    }
    verify_sample(&signer_b, &after, 41);
    storage.audit_verify().await.unwrap();

    // The published list: the old signatures only, as SIGNATURE entries (a UCI entry would
    // revoke the re-signed certificates too).
    let batches = vaxpass_issuer::revocations::gateway_batches_at(&storage, "VN", true, now)
        .await
        .unwrap();
    let json = serde_json::to_value(&batches).unwrap();
    let mut entries = 0;
    for b in json.as_array().unwrap() {
        assert_eq!(b["hashType"], "SIGNATURE", "{b}");
        entries += b["entries"].as_array().unwrap().len();
    }
    assert_eq!(entries as u64, N);
    // A third run finds nothing left.
    let out = reissue().output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-signed 0 certificates"));
}
