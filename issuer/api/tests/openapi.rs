//! `issuer/api/openapi.json`: an OpenAPI 3.1 document with the required fields, every `$ref`
//! resolving, and every route of the router documented; `GET /openapi.json` serves it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::call;
use serde_json::Value;
use vaxpass_issuer_api::OPENAPI_JSON;

const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;

type Env = common::OneClinicApp;

/// A fresh SQLite database with a generated registry, one clinic token, a development PKI.
async fn env() -> Env {
    common::one_clinic_app(PKI_START, NOW).await
}

/// Every route of `app()`, as (method, OpenAPI path, a concrete path to request).
const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/healthz", "/healthz"),
    ("get", "/readyz", "/readyz"),
    ("get", "/metrics", "/metrics"),
    ("get", "/openapi.json", "/openapi.json"),
    ("post", "/api/v1/dose-records", "/api/v1/dose-records"),
    (
        "post",
        "/api/v1/dose-records/{id}/confirm",
        "/api/v1/dose-records/1/confirm",
    ),
    (
        "get",
        "/api/v1/certificates/{uvci}",
        "/api/v1/certificates/URN:UVCI:01:VN:X%23Y",
    ),
    (
        "get",
        "/api/v1/certificates/{uvci}/qr.png",
        "/api/v1/certificates/URN:UVCI:01:VN:X%23Y/qr.png",
    ),
    (
        "get",
        "/api/v1/certificates/{uvci}/qr.svg",
        "/api/v1/certificates/URN:UVCI:01:VN:X%23Y/qr.svg",
    ),
    (
        "get",
        "/api/v1/admin/clinics/{id}/tokens",
        "/api/v1/admin/clinics/1/tokens",
    ),
    (
        "post",
        "/api/v1/admin/tokens/{id}/revoke",
        "/api/v1/admin/tokens/1/revoke",
    ),
    (
        "post",
        "/api/v1/admin/tokens/{id}/rotate",
        "/api/v1/admin/tokens/1/rotate",
    ),
    ("post", "/api/v1/corrections", "/api/v1/corrections"),
    ("get", "/api/v1/corrections", "/api/v1/corrections"),
    (
        "get",
        "/api/v1/corrections/{reference}",
        "/api/v1/corrections/VXC-0000000000000000",
    ),
    (
        "get",
        "/api/v1/corrections/{reference}/photo",
        "/api/v1/corrections/VXC-0000000000000000/photo",
    ),
    (
        "post",
        "/api/v1/corrections/{reference}/approve",
        "/api/v1/corrections/VXC-0000000000000000/approve",
    ),
    (
        "post",
        "/api/v1/corrections/{reference}/reject",
        "/api/v1/corrections/VXC-0000000000000000/reject",
    ),
    (
        "post",
        "/api/v1/corrections/{reference}/escalate",
        "/api/v1/corrections/VXC-0000000000000000/escalate",
    ),
    (
        "post",
        "/api/v1/certificates/{uvci}/revoke",
        "/api/v1/certificates/URN:UVCI:01:VN:X%23Y/revoke",
    ),
];

/// Documented routes that other parts of the service add (documented ahead of the merge).
const DOCUMENTED_AHEAD: &[(&str, &str)] = &[
    ("post", "/api/v1/dose-records:bulk"),
    ("post", "/api/v1/lookup"),
    ("post", "/api/v1/admin/clinics"),
    ("post", "/api/v1/admin/clinics/{id}/tokens"),
    ("get", "/trust-list"),
    // Served next to the API by the service (`vaxpass_issuer::revocations`).
    ("get", "/revocations"),
    ("get", "/revocations/gateway.json"),
    // The signed rule set (`vaxpass_issuer::rules`).
    ("get", "/rules"),
    ("get", "/rules.json"),
];

/// The answer of an unknown route under /api/v1.
const API_FALLBACK: &[u8] = br#"{"code":"NOT_FOUND","message":"route not found"}"#;

fn doc() -> Value {
    serde_json::from_str(OPENAPI_JSON).unwrap()
}

/// Every `$ref` in `v` (as its JSON pointer).
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push(v.as_str().unwrap().to_owned());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn is_openapi_3_1_with_required_fields() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
    assert!(doc["paths"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let codes: Vec<&str> = doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for code in [
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "INVALID_REQUEST",
        "UNKNOWN_VACCINE_CODE",
        "NOT_VERIFIED",
        "IDEMPOTENCY_CONFLICT",
        "NOT_READY",
        "ISSUE_FAILED",
        "INTERNAL",
        "RATE_LIMITED",
        "METHOD_NOT_ALLOWED",
        "TOKEN_REVOKED",
    ] {
        assert!(codes.contains(&code), "{code}");
    }
    // Every reference resolves; every operation has an id and responses.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20);
    for r in &all {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling {r}");
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["operationId"].is_string(), "{method} {path}");
            assert!(!op["responses"].as_object().unwrap().is_empty());
        }
    }
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_a_route() {
    let doc = doc();
    let paths = doc["paths"].as_object().unwrap();
    for (method, path, _) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let known = ROUTES.iter().any(|(m, p, _)| m == method && p == path)
                || DOCUMENTED_AHEAD.contains(&(method.as_str(), path.as_str()));
            assert!(known, "{method} {path} is documented but not a route");
        }
    }
}

#[tokio::test]
async fn listed_routes_exist_and_the_document_is_served() {
    let env = env().await;
    for (method, _, uri) in ROUTES {
        let (status, _, body) = call(
            &env.app,
            &method.to_uppercase(),
            uri,
            Some(&env.token),
            None,
        )
        .await;
        // The router's fallback answers an empty 404, under /api/v1 the JSON 404 of an
        // unknown route (or 405 for a wrong method); every route here answers something else.
        assert!(
            !(status == StatusCode::NOT_FOUND && (body.is_empty() || body == API_FALLBACK))
                && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}: {status}"
        );
    }
    let (status, content_type, body) = call(&env.app, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), doc());
    // The check above can fail: an unknown route is an empty 404.
    let (status, _, body) = call(&env.app, "GET", "/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.is_empty());
    let (status, _, body) = call(&env.app, "GET", "/api/v1/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, API_FALLBACK);
}
