//! Setup shared by the issuer's integration tests: a dev PKI and its signer, a seeded
//! registry with clinics and tokens, SQLite and PostgreSQL test databases, and an in-process
//! request helper. Each test file says `mod common;` and uses what it needs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use vaxpass_issuer_api::records::{SubmitRequest, VaccineIn};
use vaxpass_issuer_domain::dates::Date;
use vaxpass_issuer_domain::matching::RegistryPerson;
use vaxpass_issuer_registry::csv::generate_persons;
use vaxpass_issuer_store::{Role, Storage};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{Manifest, Secrets};
use vaxpass_keys::{CertificateType, Signer};
use vaxpass_verifier::Timestamp;

#[path = "../../../store/tests/common/mod.rs"]
mod db;
pub use db::*;

/// Makes a dev PKI dated `pki_start` in `dir` and returns the vaccination signer current at
/// `now`.
pub fn signer_in(dir: &Path, pki_start: Timestamp, now: Timestamp) -> Arc<dyn Signer> {
    let init = dev_init(dir, &DevOptions::new(pki_start)).unwrap();
    let manifest = Manifest::load(&init.manifest_path).unwrap();
    Arc::from(
        manifest
            .current_signer(dir, CertificateType::Vaccination, now, &Secrets::default())
            .unwrap(),
    )
}

/// Makes a dev PKI dated `pki_start` (Unix seconds) in a fresh directory and returns the
/// directory (keep it alive) with the vaccination signer current at `now`.
pub fn dev_signer(pki_start: i64, now: i64) -> (tempfile::TempDir, Arc<dyn Signer>) {
    let keys = tempfile::tempdir().unwrap();
    let signer = signer_in(
        keys.path(),
        Timestamp::from_unix_seconds(pki_start),
        Timestamp::from_unix_seconds(now),
    );
    (keys, signer)
}

/// Generates `n` registry persons from `seed` and imports them (batches of 100).
pub async fn import_persons(storage: &Storage, n: u64, seed: u64) -> Vec<RegistryPerson> {
    let persons: Vec<RegistryPerson> = generate_persons(n, seed).collect();
    storage
        .import_registry(persons.iter().cloned(), 100, &test_actor())
        .await
        .unwrap();
    persons
}

/// Creates a token with `role` for `clinic` and returns its secret text.
pub async fn staff_token(storage: &Storage, clinic: i64, role: Role) -> String {
    let (token, _) = storage
        .create_staff_token(clinic, role, &test_actor())
        .await
        .unwrap();
    token.expose().to_owned()
}

/// Sends `req` to `app` in-process; returns the status, the headers without `date`, and the
/// body bytes.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let mut headers = resp.headers().clone();
    headers.remove("date");
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes)
}

/// A seeded registry with two clinics and their tokens.
pub struct Seeded {
    /// The generated registry persons, as imported.
    pub persons: Vec<RegistryPerson>,
    /// "Clinic A" (province 79).
    pub clinic: i64,
    /// "Clinic B" (province 1).
    pub other_clinic: i64,
    /// A staff token of clinic A.
    pub token: String,
    /// A staff token of clinic B.
    pub other_token: String,
    /// An admin token of clinic B.
    pub admin_token: String,
}

/// Imports `n_persons` generated persons from `seed`, then creates clinic A (province 79) and
/// clinic B (province 1), a staff token for each, and an admin token for clinic B, in that
/// order.
pub async fn seed(storage: &Storage, n_persons: u64, seed: u64) -> Seeded {
    let persons = import_persons(storage, n_persons, seed).await;
    let admin = test_actor();
    let clinic = storage.create_clinic("Clinic A", 79, &admin).await.unwrap();
    let other_clinic = storage.create_clinic("Clinic B", 1, &admin).await.unwrap();
    let token = staff_token(storage, clinic, Role::Staff).await;
    let other_token = staff_token(storage, other_clinic, Role::Staff).await;
    let admin_token = staff_token(storage, other_clinic, Role::Admin).await;
    Seeded {
        persons,
        clinic,
        other_clinic,
        token,
        other_token,
        admin_token,
    }
}

/// A request with an optional bearer `token` and an optional JSON `body`.
pub fn request(method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    req.body(body).unwrap()
}

/// A valid dose record for `p`: Comirnaty, dose 2 of 2, given on 2026-05-01.
pub fn record_for(p: &RegistryPerson) -> Value {
    let date = Date::parse("2026-05-01").unwrap();
    serde_json::to_value(SubmitRequest::for_person(
        p,
        VaccineIn::comirnaty(),
        2,
        2,
        date,
    ))
    .unwrap()
}

/// A storage with `n` imported persons, one clinic ("Clinic A", province 79) with a staff
/// token, and a dev signer.
pub struct OneClinic {
    /// The storage, its clock fixed at `now`.
    pub storage: Storage,
    /// The imported persons.
    pub persons: Vec<RegistryPerson>,
    /// The clinic's staff token.
    pub token: String,
    /// The directory holding the dev PKI (keep it alive).
    pub keys: tempfile::TempDir,
    /// The vaccination signer current at `now`.
    pub signer: Arc<dyn Signer>,
}

/// Opens `url` with its clock fixed at `now`, imports `n_persons` generated from `seed`,
/// creates clinic A with a staff token, and makes a dev PKI dated `pki_start`.
pub async fn one_clinic(
    url: &str,
    n_persons: u64,
    seed: u64,
    pki_start: i64,
    now: i64,
) -> OneClinic {
    let storage = Storage::open(url).await.unwrap().with_clock(move || now);
    let persons = import_persons(&storage, n_persons, seed).await;
    let clinic = storage
        .create_clinic("Clinic A", 79, &test_actor())
        .await
        .unwrap();
    let token = staff_token(&storage, clinic, Role::Staff).await;
    let (keys, signer) = dev_signer(pki_start, now);
    OneClinic {
        storage,
        persons,
        token,
        keys,
        signer,
    }
}

/// Sends one request (see [`request`]) to `app`; returns the status, the content type (empty
/// if none) and the body.
pub async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, Vec<u8>) {
    let (status, headers, body) = send(app, request(method, uri, token, body)).await;
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, body.to_vec())
}

/// A service (`app`) over a fresh SQLite database: one clinic, its staff token, 50 generated
/// registry persons (seed 13), a development PKI made at `pki_start`, the clock at `now`.
pub struct OneClinicApp {
    /// The router.
    pub app: Router,
    /// The registry persons.
    pub persons: Vec<RegistryPerson>,
    /// The clinic's staff token.
    pub token: String,
    /// An admin token of the clinic (e.g. for `GET /metrics`).
    pub admin_token: String,
    /// Kept alive with the service.
    pub _keys: tempfile::TempDir,
    /// Kept alive with the service.
    pub _db: tempfile::TempDir,
}

/// See [`OneClinicApp`].
pub async fn one_clinic_app(pki_start: i64, now: i64) -> OneClinicApp {
    let (url, db) = sqlite_url();
    let OneClinic {
        storage,
        persons,
        token,
        keys,
        signer,
    } = one_clinic(&url, 50, 13, pki_start, now).await;
    let admin_clinic = storage
        .create_clinic("Admin clinic", 1, &test_actor())
        .await
        .unwrap();
    let admin_token = staff_token(&storage, admin_clinic, Role::Admin).await;
    let state =
        vaxpass_issuer_api::AppState::new(storage, signer, vaxpass_issuer_api::Config::default())
            .unwrap()
            .with_clock(move || now);
    OneClinicApp {
        app: vaxpass_issuer_api::app(state),
        persons,
        token,
        admin_token,
        _keys: keys,
        _db: db,
    }
}

/// The first page of a PDF as poppler renders it at 150 dpi (`pdftoppm`), as PNG bytes; `None`,
/// saying so, when poppler-utils is not installed (`.ci/run` installs it).
pub fn pdf_page_png(pdf: &[u8]) -> Option<Vec<u8>> {
    use std::process::Command;
    if Command::new("pdftoppm").arg("-v").output().is_err() {
        println!("SKIPPED: the PDF check: pdftoppm is not installed (Debian: poppler-utils)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("document.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = Command::new("pdftoppm")
        .args(["-r", "150", "-png", "-singlefile"])
        .arg(&file)
        .arg(dir.path().join("page"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(std::fs::read(dir.path().join("page.png")).unwrap())
}

/// A PDF's text as poppler reads it (`pdftotext -layout`): what a person copying it gets.
pub fn pdf_text(pdf: &[u8]) -> String {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("document.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
