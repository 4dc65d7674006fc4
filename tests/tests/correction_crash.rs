//! `kill -9` of the real `vaxpass-issuer serve` process while clinics approve corrections
//! (issue 14): an approval amends the record, revokes the old certificate and stores the new one
//! in one transaction, so after a restart no certificate is revoked without its replacement,
//! no record is re-issued twice for a report, and every acknowledged approval stands as it was
//! answered.
//!
//! Certificates are issued over HTTP; one `dose_details` report per certificate (a dose date
//! one day earlier, which the registry need not confirm) is stored through the storage API
//! (the public route's throttles would slow the set-up); then client threads approve them over
//! HTTP and the server is killed with requests in flight. After the restart every report is
//! approved again (acknowledged ones answer `409 CHANGED`), and the database is checked report
//! by report; the audit chain verifies (`vaxpass-issuer audit verify`), and the outbox holds
//! exactly one email per report (queued in the approval's transaction).
//!
//! Runs on SQLite, and on PostgreSQL when `VAXPASS_TEST_POSTGRES_URL` is set. Needs the
//! `vaxpass-issuer` binary; without it it says SKIPPED.
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
use vaxpass_issuer::storage::corrections::{CorrectionKind, CorrectionStatus, NewCorrection};
use vaxpass_issuer::storage::revocations::RevocationReason;
use vaxpass_issuer::storage::{Actor, Storage, token_hash};

use common::issuer::{Issuer, run_until_killed, try_http, vaxpass_issuer};

/// Reports approved in the killed phase.
const REPORTS: usize = 80;
/// Client threads.
const CLIENTS: usize = 4;
/// Kill once this many approvals were acknowledged.
const KILL_AFTER: usize = 20;

fn approve(addr: &str, token: &str, reference: &str) -> Option<(u16, Value)> {
    let a = try_http(
        addr,
        "POST",
        &format!("/api/v1/corrections/{reference}/approve"),
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
    let addr = issuer.addr().to_owned();
    let persons: Vec<RegistryPerson> = read_registry(BufReader::new(
        std::fs::File::open(data.join("registry.csv")).unwrap(),
    ))
    .map(Result::unwrap)
    .take(REPORTS)
    .collect();
    let date = Date::parse(&common::issuer::recent_date()).unwrap();
    let earlier = {
        let t = vaxpass_verifier::Timestamp::parse(&date.to_string()).unwrap();
        vaxpass_verifier::Timestamp::from_unix_seconds(t.unix_seconds() - 86_400).to_string()[..10]
            .to_owned()
    };

    // One certificate per person.
    let mut issued = Vec::with_capacity(REPORTS);
    for (i, p) in persons.iter().enumerate() {
        let body = serde_json::to_value(SubmitRequest::for_person(
            p,
            VaccineIn::comirnaty(),
            2,
            2,
            date,
        ))
        .unwrap();
        let key = format!("correction-crash-{i}");
        let a = try_http(
            &addr,
            "POST",
            "/api/v1/dose-records",
            Some(&issuer.token),
            Some(&body),
            &[("Idempotency-Key", &key)],
        )
        .unwrap();
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
        let id = a.json()["id"].as_i64().unwrap();
        let c = try_http(
            &addr,
            "POST",
            &format!("/api/v1/dose-records/{id}/confirm"),
            Some(&issuer.token),
            None,
            &[],
        )
        .unwrap();
        assert_eq!(c.status, 200, "{}", String::from_utf8_lossy(&c.body));
        issued.push((id, c.json()["uvci"].as_str().unwrap().to_owned()));
    }

    // One report per certificate, stored beside the running service.
    let url = database.map_or_else(
        || format!("sqlite://{}", data.join("issuer.db").display()),
        str::to_owned,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let storage = rt.block_on(Storage::open(&url)).unwrap();
    let references: Vec<String> = (0..REPORTS).map(|i| format!("VXC-CRASH{i:07}")).collect();
    for (i, (id, uvci)) in issued.iter().enumerate() {
        let record = rt.block_on(storage.get_dose_record(*id)).unwrap().unwrap();
        let new = NewCorrection {
            reference: references[i].clone(),
            token_hash: token_hash("not used"),
            dose_record_id: Some(*id),
            uvci: Some(uvci.clone()),
            clinic_id: record.clinic_id,
            kind: CorrectionKind::DoseDetails,
            proposed: serde_json::json!({ "date": earlier }).to_string(),
            note: String::new(),
            photo: None,
            email: Some(format!("holder{i}@example.vn")),
            status: CorrectionStatus::Open,
        };
        rt.block_on(storage.insert_correction(&new, &Actor::System("test".into())))
            .unwrap();
    }

    // Approvals, killed with requests in flight.
    let token = issuer.token.clone();
    let acked = {
        let references = Arc::new(references.clone());
        run_until_killed(issuer, REPORTS, CLIENTS, KILL_AFTER, move |addr, i| {
            let (status, body) = approve(addr, &token, &references[i])?;
            assert_eq!(status, 200, "{body}");
            Some(body)
        })
    };

    // After the restart: every report approved exactly once.
    let issuer = Issuer::start(&bin, &data, database);
    let addr = issuer.addr().to_owned();
    let mut again_approved = 0;
    for (i, reference) in references.iter().enumerate() {
        let (status, answer) = approve(&addr, &issuer.token, reference).unwrap();
        if acked.contains_key(&i) {
            assert_eq!(status, 409, "report {i} approved twice: {answer}");
            assert_eq!(answer["code"], "CHANGED");
        } else if status == 200 {
            again_approved += 1;
        } else {
            // Approved before the kill, unanswered.
            assert_eq!(status, 409, "{answer}");
        }
    }
    let (status, _log) = issuer.terminate();
    assert!(status.success());

    let mut new_uvcis = HashSet::new();
    for (i, (id, old_uvci)) in issued.iter().enumerate() {
        let report = rt
            .block_on(storage.get_correction(&references[i]))
            .unwrap()
            .unwrap();
        assert_eq!(report.status, CorrectionStatus::Approved);
        let new_uvci = report.new_uvci.clone().unwrap();
        if let Some(answer) = acked.get(&i) {
            assert_eq!(answer["certificate"]["uvci"], new_uvci.as_str());
        }
        // The record's certificate is the replacement, which names the old one …
        let current = rt
            .block_on(storage.certificate_for_record(*id))
            .unwrap()
            .unwrap();
        assert_eq!(current.uvci, new_uvci);
        assert_eq!(
            rt.block_on(storage.certificate_replaces(&new_uvci))
                .unwrap(),
            Some(old_uvci.clone())
        );
        // … the old one is revoked, superseded by it, and the new one is not revoked …
        let revocation = rt
            .block_on(storage.get_revocation(old_uvci))
            .unwrap()
            .unwrap();
        assert_eq!(revocation.reason, RevocationReason::Superseded);
        assert_eq!(revocation.replaced_by.as_deref(), Some(new_uvci.as_str()));
        assert!(
            rt.block_on(storage.get_revocation(&new_uvci))
                .unwrap()
                .is_none()
        );
        // … and the record was amended once.
        assert_eq!(
            rt.block_on(storage.dose_record_history(*id)).unwrap().len(),
            1
        );
        let record = rt.block_on(storage.get_dose_record(*id)).unwrap().unwrap();
        assert_eq!(record.vaccination.date.to_string(), earlier);
        assert!(new_uvcis.insert(new_uvci));
    }
    let live = rt
        .block_on(storage.live_revocations(0, true))
        .unwrap()
        .len();
    assert_eq!(live, REPORTS, "exactly one revocation per report");
    // The citizens' emails were queued with the approvals: one per report, none lost with
    // the kill, none twice (no SMTP server here: all waiting in the outbox).
    let outbox = rt.block_on(storage.notice_counts()).unwrap();
    assert_eq!(
        (outbox.sent, outbox.unsent),
        (0, REPORTS as u64),
        "{outbox:?}"
    );
    rt.block_on(storage.close());
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
        "correction crash test: {} of {REPORTS} approvals acknowledged before kill -9, {again_approved} \
         approved after the restart; every report re-issued once, every old certificate revoked \
         with its replacement",
        acked.len()
    );
}

#[test]
fn kill9_during_approvals_on_sqlite() {
    crash_run(None);
}

#[test]
fn kill9_during_approvals_on_postgres() {
    common::issuer::on_fresh_postgres("vaxpass_correction_crash", |url| {
        crash_run(Some(url));
    });
}
