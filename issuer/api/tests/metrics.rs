//! `GET /metrics`: requests counted by route template (never the raw path: no UVCI or record
//! id becomes a label), submissions by outcome, issued certificates counted once.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::call;
use common::record_for;
use serde_json::{Value, json};

const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;

type Env = common::OneClinicApp;

/// A fresh SQLite database with a generated registry, one clinic token, a development PKI.
async fn env() -> Env {
    common::one_clinic_app(PKI_START, NOW).await
}

async fn metrics(env: &Env) -> String {
    let (status, content_type, body) =
        call(&env.app, "GET", "/metrics", Some(&env.admin_token), None).await;
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
