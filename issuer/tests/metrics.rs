//! `GET /metrics`: requests counted by route template (never the raw path: no UVCI or record
//! id becomes a label), submissions by outcome, issued certificates counted once.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vaxpass_issuer::api::{AppState, Config, app};
use vaxpass_issuer::identity::Sex;
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::registry_csv::generate_persons;
use vaxpass_issuer::storage::{Actor, Role, Storage};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{Manifest, Secrets};
use vaxpass_keys::{CertificateType, Signer};
use vaxpass_verifier::Timestamp;

const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;

struct Env {
    app: Router,
    persons: Vec<RegistryPerson>,
    token: String,
    _keys: tempfile::TempDir,
    _db: tempfile::TempDir,
}

/// A fresh SQLite database with a generated registry, one clinic token, a development PKI.
async fn env() -> Env {
    let db = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        db.path().join("issuer.db").display()
    );
    let storage = Storage::open(&url).await.unwrap().with_clock(|| NOW);
    let persons: Vec<RegistryPerson> = generate_persons(50, 13).collect();
    let admin = Actor::System("test".into());
    storage
        .import_registry(persons.iter().cloned(), 100, &admin)
        .await
        .unwrap();
    let clinic = storage.create_clinic("Clinic A", 79, &admin).await.unwrap();
    let (token, _) = storage
        .create_staff_token(clinic, Role::Staff, &admin)
        .await
        .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let init = dev_init(
        keys.path(),
        &DevOptions::new(Timestamp::from_unix_seconds(PKI_START)),
    )
    .unwrap();
    let manifest = Manifest::load(&init.manifest_path).unwrap();
    let signer: Arc<dyn Signer> = Arc::from(
        manifest
            .current_signer(
                keys.path(),
                CertificateType::Vaccination,
                Timestamp::from_unix_seconds(NOW),
                &Secrets::default(),
            )
            .unwrap(),
    );
    let state = AppState::new(storage, signer, Config::default())
        .unwrap()
        .with_clock(|| NOW);
    Env {
        app: app(state),
        persons,
        token: token.expose().to_owned(),
        _keys: keys,
        _db: db,
    }
}

/// Status, content type and body of one request.
async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, Vec<u8>) {
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
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, content_type, body)
}

fn record_for(p: &RegistryPerson) -> Value {
    json!({
        "id_number": p.id.to_string(),
        "id_kind": "national",
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.to_string(),
        "sex": if p.sex == Sex::Male { "M" } else { "F" },
        "vaccine": { "mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007" },
        "dose_number": 2,
        "series_total": 2,
        "date": "2026-05-01",
    })
}

async fn metrics(env: &Env) -> String {
    let (status, content_type, body) = call(&env.app, "GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    String::from_utf8(body).unwrap()
}

fn has(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test]
async fn counts_requests_by_template_and_issuing_by_outcome() {
    let env = env().await;
    let before = metrics(&env).await;
    assert!(has(&before, "vaxpass_certificates_issued_total 0"));
    assert!(has(
        &before,
        "vaxpass_dose_records_submitted_total{outcome=\"verified\"} 0"
    ));

    let p = env
        .persons
        .iter()
        .find(|p| p.id.as_cccd().is_some())
        .unwrap();
    let (status, _, body) = call(
        &env.app,
        "POST",
        "/api/v1/dose-records",
        Some(&env.token),
        Some(record_for(p)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    // A record with a wrong birth year: a mismatch.
    let mut wrong = record_for(p);
    let year = p.date_of_birth.year() + 1;
    wrong["date_of_birth"] = json!(format!("{year}"));
    let (status, _, body) = call(
        &env.app,
        "POST",
        "/api/v1/dose-records",
        Some(&env.token),
        Some(wrong),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["status"],
        "mismatch"
    );
    // Confirmed twice: one certificate.
    let uri = format!("/api/v1/dose-records/{id}/confirm");
    let mut uvci = String::new();
    for _ in 0..2 {
        let (status, _, body) = call(&env.app, "POST", &uri, Some(&env.token), None).await;
        assert_eq!(status, StatusCode::OK);
        uvci = serde_json::from_slice::<Value>(&body).unwrap()["uvci"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let cert_uri = format!("/api/v1/certificates/{}", uvci.replace('#', "%23"));
    let (status, _, _) = call(&env.app, "GET", &cert_uri, Some(&env.token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&env.app, "GET", &cert_uri, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&env.app, "GET", "/no/such/UVCI-LIKE-PATH", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let text = metrics(&env).await;
    for line in [
        "vaxpass_dose_records_submitted_total{outcome=\"verified\"} 1",
        "vaxpass_dose_records_submitted_total{outcome=\"mismatch\"} 1",
        "vaxpass_dose_records_submitted_total{outcome=\"not_found\"} 0",
        "vaxpass_certificates_issued_total 1",
        "vaxpass_certificate_issue_failures_total 0",
        "vaxpass_http_requests_total{route=\"/api/v1/dose-records\",status=\"2xx\"} 2",
        "vaxpass_http_requests_total{route=\"/api/v1/dose-records/{id}/confirm\",status=\"2xx\"} 2",
        "vaxpass_http_requests_total{route=\"/api/v1/certificates/{uvci}\",status=\"2xx\"} 1",
        "vaxpass_http_requests_total{route=\"/api/v1/certificates/{uvci}\",status=\"4xx\"} 1",
        "vaxpass_http_requests_total{route=\"unmatched\",status=\"4xx\"} 1",
        "vaxpass_http_requests_total{route=\"/metrics\",status=\"2xx\"} 1",
        "vaxpass_http_request_duration_seconds_count{route=\"/api/v1/dose-records/{id}/confirm\"} 2",
        "vaxpass_lookup_attempts_total{outcome=\"found\"} 0",
    ] {
        assert!(has(&text, line), "missing {line} in\n{text}");
    }
    // Raw paths never become labels.
    let opaque = uvci.split(':').nth(4).unwrap().split('#').next().unwrap();
    assert!(!text.contains(opaque), "{text}");
    assert!(!text.contains("UVCI-LIKE"));
    assert!(!text.contains(&format!("/dose-records/{id}/")));
}
