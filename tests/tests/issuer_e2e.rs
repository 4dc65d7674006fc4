//! End to end through the real `vaxpass-issuer serve --demo` process: it makes DEVELOPMENT keys,
//! a synthetic registry, a clinic and tokens, and listens on a free loopback port. Over real
//! HTTP: a dose record of a registry person → verified → confirmed → the certificate fetched
//! again → the trust list fetched → `vaxpass-verify check --trust-list … --anchor CSCA` says
//! valid (also with Viet Nam's rules). Then the matching outcomes (a wrong CCCD digit, a
//! year-only birth date, a name without diacritics, an unknown person), 401 without a token,
//! 404 for another clinic's record (as for a missing one) (that clinic made through the admin endpoint). SIGTERM: the
//! process exits 0; `--demo` again on the same directory imports nothing twice.
//!
//! Runs on SQLite, and on PostgreSQL when `VAXPASS_TEST_POSTGRES_URL` is set (a database of its
//! own, dropped afterwards). Needs the `vaxpass-issuer` and `vaxpass-verify` binaries, which
//! `cargo test --workspace --all-features` builds; without them it says SKIPPED.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod common;

use std::collections::HashSet;
use std::io::BufReader;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use vaxpass_issuer::identity::IdNumber;
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::names::strip_diacritics;
use vaxpass_issuer::registry_csv::read_registry;

use common::issuer::{Issuer, binaries, path_segment};

fn record(p: &RegistryPerson, id: &str, name: &str, dob: &str) -> Value {
    json!({
        "id_number": id,
        "full_name": name,
        "date_of_birth": dob,
        "sex": p.sex.code(),
        "vaccine": {"mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007"},
        "dose_number": 2,
        "series_total": 2,
        "date": common::issuer::recent_date(),
    })
}

/// `id` with its last digit changed so that it is no registered number.
fn unregistered_variant(id: &str, registered: &HashSet<String>) -> String {
    let (head, last) = id.split_at(id.len() - 1);
    let last: u32 = last.parse().unwrap();
    (1..10)
        .map(|d| format!("{head}{}", (last + d) % 10))
        .find(|c| !registered.contains(c))
        .unwrap()
}

fn verify(verify_bin: &Path, args: &[&std::ffi::OsStr]) -> (Option<i32>, Value) {
    let out = Command::new(verify_bin)
        .arg("check")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

fn whole_flow(database: Option<&str>) {
    let Some((issuer_bin, verify_bin)) = binaries() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let issuer = Issuer::start(&issuer_bin, &data, database);
    assert!(
        issuer
            .stdout
            .iter()
            .any(|l| l.contains("DEVELOPMENT KEYS, NOT FOR PRODUCTION")),
        "{}",
        issuer.stdout.join("\n")
    );
    assert!(
        issuer
            .stdout
            .iter()
            .any(|l| l == "imported 10000 registry persons into the database (0 bad rows)"),
        "{}",
        issuer.stdout.join("\n")
    );

    // The generated registry, as the demo wrote it.
    let persons: Vec<RegistryPerson> = read_registry(BufReader::new(
        std::fs::File::open(data.join("registry.csv")).unwrap(),
    ))
    .map(Result::unwrap)
    .collect();
    assert_eq!(persons.len(), 10_000);
    let registered: HashSet<String> = persons.iter().map(|p| p.id.to_string()).collect();
    let mut cccd = persons
        .iter()
        .filter(|p| matches!(p.id, IdNumber::Cccd(_)))
        .filter(|p| strip_diacritics(&p.full_name) != p.full_name);
    let (p1, p2, p3, p4) = (
        cccd.next().unwrap(),
        cccd.next().unwrap(),
        cccd.next().unwrap(),
        cccd.next().unwrap(),
    );

    // Without a token: 401.
    let anonymous = issuer.call(
        "POST",
        "/api/v1/dose-records",
        None,
        Some(&record(
            p1,
            &p1.id.to_string(),
            &p1.full_name,
            &p1.date_of_birth.to_string(),
        )),
    );
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["code"], "UNAUTHENTICATED");

    // A registry person, as registered: verified → confirmed → certificate.
    let submitted = issuer.call(
        "POST",
        "/api/v1/dose-records",
        Some(&issuer.token),
        Some(&record(
            p1,
            &p1.id.to_string(),
            &p1.full_name,
            &p1.date_of_birth.to_string(),
        )),
    );
    assert_eq!(submitted.status, 201);
    let submitted = submitted.json();
    assert_eq!(submitted["status"], "verified", "{submitted}");
    assert_eq!(submitted["outcome"]["outcome"], "VERIFIED");
    let record_id = submitted["id"].as_i64().unwrap();
    let confirmed = issuer.call(
        "POST",
        &format!("/api/v1/dose-records/{record_id}/confirm"),
        Some(&issuer.token),
        None,
    );
    assert_eq!(confirmed.status, 200);
    let cert = confirmed.json();
    let uvci = cert["uvci"].as_str().unwrap().to_owned();
    let hc1 = cert["hc1"].as_str().unwrap().to_owned();
    assert!(hc1.starts_with("HC1:"));
    assert_eq!(cert["payload"]["dob"], p1.date_of_birth.to_string());
    let fetched = issuer.call(
        "GET",
        &format!("/api/v1/certificates/{}", path_segment(&uvci)),
        Some(&issuer.token),
        None,
    );
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json()["hc1"], hc1.as_str());

    // The trust list from the service, then the certificate checked offline against the CSCA.
    let list = issuer.call("GET", "/trust-list", None, None);
    assert_eq!(list.status, 200);
    let list_file = tmp.path().join("trust-list.cose");
    std::fs::write(&list_file, &list.body).unwrap();
    let anchor = data.join("keys").join("csca.pem");
    let (code, report) = verify(
        &verify_bin,
        &[
            "--trust-list".as_ref(),
            list_file.as_os_str(),
            "--anchor".as_ref(),
            anchor.as_os_str(),
            hc1.as_ref(),
        ],
    );
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["payload"]["v"][0]["ci"], uvci.as_str());
    // With Viet Nam's validity rules (a dose of 30 days ago, 2/2).
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/rules");
    let (code, report) = verify(
        &verify_bin,
        &[
            "--trust-list".as_ref(),
            list_file.as_os_str(),
            "--anchor".as_ref(),
            anchor.as_os_str(),
            "--rules".as_ref(),
            rules.as_os_str(),
            "--country".as_ref(),
            "VN".as_ref(),
            hc1.as_ref(),
        ],
    );
    let outcomes: Vec<String> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["identifier"].as_str().unwrap(),
                r["outcome"].as_str().unwrap()
            )
        })
        .collect();
    println!(
        "VN rules on the issued certificate: {}",
        outcomes.join(", ")
    );
    assert_eq!(code, Some(0), "{report}");
    assert!(!outcomes.is_empty());
    assert!(
        outcomes.iter().all(|o| o.ends_with(" passed")),
        "{outcomes:?}"
    );

    // One wrong CCCD digit: not found.
    let wrong = unregistered_variant(&p2.id.to_string(), &registered);
    let answer = issuer
        .call(
            "POST",
            "/api/v1/dose-records",
            Some(&issuer.token),
            Some(&record(
                p2,
                &wrong,
                &p2.full_name,
                &p2.date_of_birth.to_string(),
            )),
        )
        .json();
    assert_eq!(answer["status"], "not_found", "{answer}");
    assert_eq!(answer["outcome"]["outcome"], "NOT_FOUND");
    assert_eq!(answer["outcome"]["hint"], "ID_NOT_REGISTERED");

    // Only the birth year: verified with a note; the certificate carries the registry's date.
    let year = p3.date_of_birth.to_string()[..4].to_owned();
    let answer = issuer
        .call(
            "POST",
            "/api/v1/dose-records",
            Some(&issuer.token),
            Some(&record(p3, &p3.id.to_string(), &p3.full_name, &year)),
        )
        .json();
    assert_eq!(answer["status"], "verified", "{answer}");
    assert_eq!(answer["outcome"]["notes"][0]["code"], "DOB_YEAR_ONLY");
    let year_only_id = answer["id"].as_i64().unwrap();
    let cert3 = issuer.call(
        "POST",
        &format!("/api/v1/dose-records/{year_only_id}/confirm"),
        Some(&issuer.token),
        None,
    );
    assert_eq!(cert3.status, 200);
    let cert3 = cert3.json();
    assert_eq!(cert3["payload"]["dob"], p3.date_of_birth.to_string());
    assert_ne!(cert3["payload"]["dob"], year.as_str());

    // The name without its diacritics: mismatch, nothing to confirm.
    let answer = issuer
        .call(
            "POST",
            "/api/v1/dose-records",
            Some(&issuer.token),
            Some(&record(
                p4,
                &p4.id.to_string(),
                &strip_diacritics(&p4.full_name),
                &p4.date_of_birth.to_string(),
            )),
        )
        .json();
    assert_eq!(answer["status"], "mismatch", "{answer}");
    assert_eq!(
        answer["outcome"]["mismatches"][0]["code"],
        "NAME_DIACRITICS_ONLY"
    );
    let mismatch_id = answer["id"].as_i64().unwrap();
    let refused = issuer.call(
        "POST",
        &format!("/api/v1/dose-records/{mismatch_id}/confirm"),
        Some(&issuer.token),
        None,
    );
    assert_eq!(refused.status, 409);
    assert_eq!(refused.json()["code"], "NOT_VERIFIED");

    // Somebody the registry does not know (a well-formed, unregistered CCCD).
    // 079: TP. Hồ Chí Minh; 1: a woman born in the 1900s; 90: born 1990.
    let unknown_id = unregistered_variant("079190000000", &registered);
    let mut stranger = record(p1, &unknown_id, "Phan Thị Khải", "1990-05-05");
    stranger["sex"] = json!("F");
    let answer = issuer
        .call(
            "POST",
            "/api/v1/dose-records",
            Some(&issuer.token),
            Some(&stranger),
        )
        .json();
    assert_eq!(answer["status"], "not_found", "{answer}");
    assert_eq!(answer["outcome"]["outcome"], "NOT_FOUND");

    // Another clinic, made through the admin endpoint (staff tokens may not), may not touch
    // this clinic's records.
    let clinic = json!({"name": "Trạm Y tế Xã Tân Phú", "province": 1});
    let denied = issuer.call(
        "POST",
        "/api/v1/admin/clinics",
        Some(&issuer.token),
        Some(&clinic),
    );
    assert_eq!(denied.status, 403);
    let created = issuer.call(
        "POST",
        "/api/v1/admin/clinics",
        Some(&issuer.admin_token),
        Some(&clinic),
    );
    assert_eq!(created.status, 201);
    let other_clinic = created.json()["id"].as_i64().unwrap();
    let token = issuer.call(
        "POST",
        &format!("/api/v1/admin/clinics/{other_clinic}/tokens"),
        Some(&issuer.admin_token),
        Some(&json!({"role": "staff"})),
    );
    assert_eq!(token.status, 201);
    let other_token = token.json()["token"].as_str().unwrap().to_owned();
    let foreign_get = issuer.call(
        "GET",
        &format!("/api/v1/certificates/{}", path_segment(&uvci)),
        Some(&other_token),
        None,
    );
    // Another clinic's certificate: 404, the same answer as a missing one (issue 12).
    assert_eq!(foreign_get.status, 404);
    assert_eq!(foreign_get.json()["code"], "NOT_FOUND");
    let foreign_confirm = issuer.call(
        "POST",
        &format!("/api/v1/dose-records/{record_id}/confirm"),
        Some(&other_token),
        None,
    );
    assert_eq!(foreign_confirm.status, 404);

    let first_token = issuer.token.clone();
    // SIGTERM: a clean exit. The log has no personal data of the requests above.
    let (status, log) = issuer.terminate();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("issuer stopped"), "{log}");
    for p in [p1, p2, p3, p4] {
        assert!(!log.contains(&p.full_name), "a name in the log:\n{log}");
        assert!(
            !log.contains(&p.id.to_string()),
            "an ID number in the log:\n{log}"
        );
    }

    // --demo again on the same directory: keys and registry reused, new tokens work.
    let again = Issuer::start(&issuer_bin, &data, database);
    let out = again.stdout.join("\n");
    assert!(out.contains("reusing the keys in"), "{out}");
    assert!(
        out.contains("the database already holds 10000 registry persons: not imported again"),
        "{out}"
    );
    assert_ne!(again.token, first_token);
    let fetched = again.call(
        "GET",
        &format!("/api/v1/certificates/{}", path_segment(&uvci)),
        Some(&again.token),
        None,
    );
    assert_eq!(
        fetched.status, 200,
        "the first run's certificate, same clinic"
    );
    let (status, log) = again.terminate();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn demo_service_on_sqlite() {
    whole_flow(None);
}

#[test]
fn demo_service_on_postgres() {
    common::issuer::on_fresh_postgres("vaxpass_e2e", |url| whole_flow(Some(url)));
}
