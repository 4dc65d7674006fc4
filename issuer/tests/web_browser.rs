//! The web pages in a real browser: the service started in process on a loopback port with
//! DEVELOPMENT keys (`server::Server`, as `serve` runs it), then `node tests/browser/flow.mjs`
//! drives headless Chromium through it (sign-in, a photo of a CCCD card's QR code filling the
//! intake form, a misspelt name and its Vietnamese reason, the correction, confirmation, the
//! QR and HC1, the PDF download, the records list, another clinic's record, a form without its
//! CSRF token, sign-out, the citizen's lookup and PDF, a wrong lookup, a correction report and
//! its status, the language switch, the clinic's review and approval of the report, the
//! revocation of a certificate, the records search, a 404 page), running axe-core on every
//! page. This test fails when the script fails, checks both HC1 strings the browser read with
//! the verifier library, and renders both PDFs the browser downloaded with `pdftoppm` to read
//! their QR code back.
//!
//! It prints `SKIPPED: …` and passes only when Chromium (`/usr/bin/chromium` or
//! `VAXPASS_CHROMIUM`), `node` or `tests/browser/node_modules` (`npm ci` there) is absent
//! (the PDF check alone, saying so, without poppler-utils).
//! With `VAXPASS_SCREENSHOTS_DIR=DIR` the script also writes desktop (1280 px) and phone
//! (360 px) screenshots of every page into DIR (`docs/screenshots/` in the README), and the
//! test the PDF's page as poppler renders it (`certificate-pdf.png`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::sync::oneshot;
use vaxpass_issuer::identity::IdNumber;
use vaxpass_issuer::registry_csv::generate_persons;
use vaxpass_issuer::server::{Server, ServerConfig};
use vaxpass_issuer::storage::{Actor, NewDoseRecord, Role};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_verifier::{Timestamp, TrustStore, Verifier};

/// What the browser needs, or why it cannot run here.
fn browser_tools(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("VAXPASS_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (Debian: apt-get install chromium chromium-driver)",
            chromium.display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("node is not installed".to_owned());
    }
    let modules = root.join("tests/browser/node_modules");
    if !modules.join("playwright-core").exists() || !modules.join("axe-core").exists() {
        return Err(format!(
            "{} is missing (run npm ci in tests/browser)",
            modules.display()
        ));
    }
    Ok((chromium, root.join("tests/browser/flow.mjs")))
}

/// The QR code of a PDF's page as poppler renders it at 150 dpi, and the page (`None`, saying
/// so, without poppler-utils, which `.ci/run` installs).
fn pdf_page_qr(pdf: &[u8]) -> Option<(String, Vec<u8>)> {
    let png = common::pdf_page_png(pdf)?;
    let text = vaxpass_verifier::qr::decode_image(&png).expect("a QR code on the PDF's page");
    Some((text, png))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_member_and_a_citizen_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (chromium, script) = match browser_tools(&root) {
        Ok(tools) => tools,
        Err(why) => {
            println!("SKIPPED: browser test: {why}");
            return;
        }
    };

    // The service as `serve` runs it: DEVELOPMENT keys in the data directory, SQLite there.
    let data = tempfile::tempdir().unwrap();
    let start = Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() - 60);
    let init = dev_init(&data.path().join("keys"), &DevOptions::new(start)).unwrap();
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), data.path().to_path_buf());
    let server = Server::start(config).await.unwrap();
    let addr = server.local_addr();
    let storage = server.storage().clone();

    // A registry, two clinics, an account of the first, a record of the second.
    let actor = Actor::System("test".into());
    let persons: Vec<_> = generate_persons(60, 21).collect();
    storage
        .import_registry(persons.iter().cloned(), 100, &actor)
        .await
        .unwrap();
    let clinic = storage.create_clinic("Clinic A", 79, &actor).await.unwrap();
    let other = storage.create_clinic("Clinic B", 1, &actor).await.unwrap();
    let password = vaxpass_issuer_web::generate_password();
    let account = vaxpass_issuer_web::create_account(
        &storage,
        clinic,
        "lan.nguyen",
        &password,
        Role::Staff,
        &actor,
    )
    .await
    .unwrap();
    let p = persons
        .iter()
        .find(|p| matches!(p.id, IdNumber::Cccd(_)) && !p.full_name.is_ascii())
        .unwrap()
        .clone();
    let other_record = NewDoseRecord {
        clinic_id: other,
        identity: (&persons[1]).into(),
        vaccination: vaxpass_issuer::storage::Vaccination {
            prophylaxis: "1119349007".into(),
            product: "EU/1/20/1528".into(),
            manufacturer: "ORG-100030215".into(),
            dose_number: 1,
            series_total: 2,
            date: vaxpass_issuer::dates::Date::parse("2021-08-01").unwrap(),
        },
    };
    let (other_id, _) = storage
        .insert_dose_record(&other_record, "other-1", &actor)
        .await
        .unwrap();

    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));

    let dob = p.date_of_birth.to_string();
    let dob: Vec<&str> = dob.split('-').collect();
    // A photo of the person's CCCD card's QR code (a real QR picture, the card's text in UTF-8).
    let card_text = format!(
        "{}||{}|{}{}{}|{}|5 Nguyễn Huệ, Phường Bến Nghé, Quận 1, TP Hồ Chí Minh|20062021",
        p.id,
        p.full_name,
        dob[2],
        dob[1],
        dob[0],
        if p.sex.code() == "F" { "Nữ" } else { "Nam" }
    );
    let card_png = vaxpass_issuer::qr::render_png(
        &card_text,
        &vaxpass_issuer::qr::QrOptions {
            module_px: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let card_file = data.path().join("cccd-card.png");
    std::fs::write(&card_file, card_png).unwrap();
    let vi = &vaxpass_issuer_web::i18n::VI;
    let scenario = serde_json::json!({
        "username": account.username,
        "password": password,
        "misspelt_name": vaxpass_issuer::names::strip_diacritics(&p.full_name),
        "other_clinic_record": other_id,
        "cccd_photo": card_file,
        "clinic_pdf": data.path().join("clinic.pdf"),
        "portal_pdf": data.path().join("portal.pdf"),
        "person": {
            "id_number": p.id.to_string(),
            "full_name": p.full_name,
            "dob_day": dob[2], "dob_month": dob[1], "dob_year": dob[0],
            "sex": p.sex.code(),
        },
        "expect": {
            "reason_vi": vi.reason_name_diacritics_only,
            "forbidden_vi": vi.forbidden_text,
            "csrf_vi": vi.csrf_text,
            "no_match_vi": vi.lookup_no_match,
            "corr_open_vi": vi.corr_status_open,
            "revoked_vi": vi.revoked_title,
            "not_found_vi": vi.not_found_title,
        },
    });
    let scenario_file = data.path().join("scenario.json");
    std::fs::write(&scenario_file, scenario.to_string()).unwrap();

    let mut command = Command::new("node");
    command
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg(&scenario_file)
        .env("VAXPASS_CHROMIUM", &chromium)
        .current_dir(root.join("tests/browser"));
    if let Some(dir) = std::env::var_os("VAXPASS_SCREENSHOTS_DIR") {
        command.arg("--screenshots").arg(dir);
    }
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("the browser script finished within 5 minutes")
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser script failed ({}):\n{stderr}\n{stdout}",
        output.status
    );

    // Both HC1 strings the browser read: the same, and valid under the service's DSC.
    let result: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|json| serde_json::from_str(json).unwrap())
        .expect("a RESULT line");
    let hc1 = result["clinic_hc1"].as_str().unwrap();
    assert_eq!(result["portal_hc1"].as_str().unwrap(), hc1);
    let (dsc, _) = vaxpass_keys::storage::read_certificate(&init.dsc_certificate).unwrap();
    let verified = Verifier::new(TrustStore::from_der_certificates([dsc.as_slice()]).unwrap())
        .verify(hc1, Timestamp::now())
        .unwrap();
    let payload = verified.payload_json().unwrap();
    assert_eq!(payload["dob"], p.date_of_birth.to_string());
    assert_eq!(payload["v"][0]["dn"], 2);

    // The two PDFs the browser downloaded (the clinic's and the citizen's): rendered by poppler,
    // their QR code read by the verifier's picture reader holds the same HC1.
    for name in ["clinic.pdf", "portal.pdf"] {
        let pdf = std::fs::read(data.path().join(name)).unwrap();
        match pdf_page_qr(&pdf) {
            Some((text, png)) => {
                assert_eq!(text, hc1, "{name}");
                // The paper certificate as printed, beside the pages' screenshots.
                if let (Some(dir), "clinic.pdf") =
                    (std::env::var_os("VAXPASS_SCREENSHOTS_DIR"), name)
                {
                    std::fs::write(Path::new(&dir).join("certificate-pdf.png"), png).unwrap();
                }
            }
            None => break,
        }
    }

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}
