//! The HTTP API, driven in-process with `tower::ServiceExt::oneshot` (no network). Each test
//! gets a fresh SQLite file; the flow test runs on PostgreSQL too when
//! `VAXPASS_TEST_POSTGRES_URL` is set (a database of its own, dropped afterwards).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{record_for, sqlite_url};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vaxpass_issuer::api::{AppState, Config, app};
use vaxpass_issuer::identity::Cccd;
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::names::{DccName, strip_diacritics};
use vaxpass_issuer::storage::Storage;
use vaxpass_keys::Signer;
use vaxpass_verifier::{Timestamp, TrustStore, Verifier};

/// The PKI is made at PKI_START; the service runs a day later.
const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;

struct Env {
    app: Router,
    storage: Storage,
    signer: Arc<dyn Signer>,
    persons: Vec<RegistryPerson>,
    token: String,
    other_token: String,
    admin_token: String,
    _keys: tempfile::TempDir,
    _db: Option<tempfile::TempDir>,
}

async fn env_with(url: String, db_dir: Option<tempfile::TempDir>) -> Env {
    env_full(url, db_dir, |s| s, NOW).await
}

async fn env_full(
    url: String,
    db_dir: Option<tempfile::TempDir>,
    wrap: impl FnOnce(Arc<dyn Signer>) -> Arc<dyn Signer>,
    now: i64,
) -> Env {
    let storage = Storage::open(&url).await.unwrap().with_clock(|| NOW);
    let seeded = common::seed(&storage, 300, 7).await;
    let (keys, signer) = common::dev_signer(PKI_START, NOW);
    let signer = wrap(signer);
    let state = AppState::new(storage.clone(), signer.clone(), Config::default())
        .unwrap()
        .with_clock(move || now);
    Env {
        app: app(state),
        storage,
        signer,
        persons: seeded.persons,
        token: seeded.token,
        other_token: seeded.other_token,
        admin_token: seeded.admin_token,
        _keys: keys,
        _db: db_dir,
    }
}

async fn env() -> Env {
    let (url, dir) = sqlite_url();
    env_with(url, Some(dir)).await
}

/// Signs with the real key, then spoils the signature: the self-check must catch it.
#[derive(Debug)]
struct SpoilingSigner(Arc<dyn Signer>);

impl Signer for SpoilingSigner {
    fn algorithm(&self) -> vaxpass_verifier::Algorithm {
        self.0.algorithm()
    }
    fn kid(&self) -> vaxpass_verifier::Kid {
        self.0.kid()
    }
    fn certificate_der(&self) -> &[u8] {
        self.0.certificate_der()
    }
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, vaxpass_keys::SignError> {
        let mut sig = self.0.sign(tbs)?;
        sig[10] ^= 0x55;
        Ok(sig)
    }
}

impl Env {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, bytes) =
            common::send(&self.app, common::request(method, uri, token, body)).await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }

    async fn submit(&self, record: Value) -> (StatusCode, Value) {
        self.call(
            "POST",
            "/api/v1/dose-records",
            Some(&self.token),
            Some(record),
        )
        .await
    }

    async fn confirm(&self, id: i64, token: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/api/v1/dose-records/{id}/confirm"),
            Some(token),
            None,
        )
        .await
    }

    /// A CCCD holder whose name carries diacritics.
    fn person(&self) -> &RegistryPerson {
        self.persons
            .iter()
            .find(|p| p.id.as_cccd().is_some() && strip_diacritics(&p.full_name) != p.full_name)
            .unwrap()
    }
}

async fn full_flow(env: &Env) {
    let p = env.person().clone();
    let (status, body) = env.submit(record_for(&p)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "verified");
    assert_eq!(body["outcome"]["outcome"], "VERIFIED");
    let id = body["id"].as_i64().unwrap();

    let (status, cert) = env.confirm(id, &env.token).await;
    assert_eq!(status, StatusCode::OK, "{cert}");
    let uvci = cert["uvci"].as_str().unwrap().to_owned();
    assert!(uvci.starts_with("URN:UVCI:01:VN:"), "{uvci}");
    assert_eq!(cert["iat"], NOW);
    assert_eq!(cert["exp"], NOW + 365 * 86_400);
    // The payload carries the registry's identity.
    let name = DccName::from_full_name(&p.full_name).unwrap();
    assert_eq!(cert["payload"]["nam"]["fn"], name.family);
    assert_eq!(cert["payload"]["nam"]["fnt"], name.family_t);
    assert_eq!(cert["payload"]["dob"], p.date_of_birth.to_string());
    assert_eq!(cert["payload"]["ver"], "1.3.0");
    let v = &cert["payload"]["v"][0];
    assert_eq!(v["tg"], "840539006");
    assert_eq!(v["vp"], "1119349007");
    assert_eq!(v["ci"], uvci.as_str());
    assert_eq!(v["co"], "VN");

    // An independent verifier with the DSC accepts the HC1 string.
    let store = TrustStore::from_der_certificates([env.signer.certificate_der()]).unwrap();
    let verified = Verifier::new(store)
        .verify(
            cert["hc1"].as_str().unwrap(),
            Timestamp::from_unix_seconds(NOW + 3_600),
        )
        .unwrap();
    assert_eq!(verified.payload_json().unwrap(), cert["payload"]);

    // Idempotent confirmation.
    let (status, again) = env.confirm(id, &env.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["uvci"], uvci.as_str());
    assert_eq!(again["hc1"], cert["hc1"]);

    // Lookup: own clinic and admin yes, another clinic 403.
    // `#` must be percent-encoded in the path (it would start a fragment).
    let uri = format!("/api/v1/certificates/{}", uvci.replace('#', "%23"));
    let (status, got) = env.call("GET", &uri, Some(&env.token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["hc1"], cert["hc1"]);
    let (status, _) = env.call("GET", &uri, Some(&env.admin_token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = env.call("GET", &uri, Some(&env.other_token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "FORBIDDEN");
    let (status, err) = env
        .call(
            "GET",
            "/api/v1/certificates/URN:UVCI:01:VN:NOPE%23A",
            Some(&env.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "NOT_FOUND");
}

#[tokio::test]
async fn submit_confirm_verify_sqlite() {
    full_flow(&env().await).await;
}

#[tokio::test]
async fn submit_confirm_verify_postgres() {
    let Some(db) = common::pg_database("vaxpass_test").await else {
        return;
    };
    let env = env_with(db.url.clone(), None).await;
    full_flow(&env).await;
    env.storage.close().await;
    db.drop().await;
}

#[tokio::test]
async fn wrong_cccd_digit_is_not_verified_and_cannot_be_confirmed() {
    let env = env().await;
    let p = env.person();
    let mut record = record_for(p);
    let mut digits: Vec<u8> = p.id.to_string().into_bytes();
    let last = digits.len() - 1;
    digits[last] = if digits[last] == b'9' {
        b'0'
    } else {
        digits[last] + 1
    };
    record["id_number"] = json!(String::from_utf8(digits).unwrap());
    let (status, body) = env.submit(record).await;
    assert_eq!(status, StatusCode::CREATED);
    let s = body["status"].as_str().unwrap();
    assert!(s == "not_found" || s == "mismatch", "{body}");
    let (status, err) = env.confirm(body["id"].as_i64().unwrap(), &env.token).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["code"], "NOT_VERIFIED");
    assert!(err["message"].as_str().unwrap().contains(s), "{err}");
}

#[tokio::test]
async fn year_only_birth_date_is_verified_with_a_note() {
    let env = env().await;
    let p = env.person();
    let mut record = record_for(p);
    record["date_of_birth"] = json!(p.date_of_birth.year().to_string());
    let (status, body) = env.submit(record).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "verified", "{body}");
    assert_eq!(body["outcome"]["notes"][0]["code"], "DOB_YEAR_ONLY");
    // The certificate carries the registry's full birth date.
    let (status, cert) = env.confirm(body["id"].as_i64().unwrap(), &env.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cert["payload"]["dob"], p.date_of_birth.to_string());
}

#[tokio::test]
async fn diacritics_only_difference_is_a_mismatch() {
    let env = env().await;
    let p = env.person();
    let mut record = record_for(p);
    record["full_name"] = json!(strip_diacritics(&p.full_name));
    let (status, body) = env.submit(record).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "mismatch", "{body}");
    assert_eq!(body["outcome"]["mismatches"][0]["field"], "name");
    assert_eq!(
        body["outcome"]["mismatches"][0]["code"],
        "NAME_DIACRITICS_ONLY"
    );
}

#[tokio::test]
async fn unknown_person_is_not_found() {
    let env = env().await;
    let p = env.person().clone();
    let unknown = (0..1000)
        .filter_map(|serial| Cccd::new(79, p.sex, p.date_of_birth.year(), 900_000 + serial))
        .map(|c| c.to_string())
        .find(|n| !env.persons.iter().any(|q| q.id.to_string() == *n))
        .unwrap();
    let mut record = record_for(&p);
    record["id_number"] = json!(unknown);
    let (status, body) = env.submit(record).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "not_found", "{body}");
    assert_eq!(body["outcome"]["outcome"], "NOT_FOUND");
}

#[tokio::test]
async fn other_clinic_cannot_confirm() {
    let env = env().await;
    let (_, body) = env.submit(record_for(env.person())).await;
    let id = body["id"].as_i64().unwrap();
    let (status, err) = env.confirm(id, &env.other_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "FORBIDDEN");
    // Nothing was issued: the owner's confirmation is the first.
    let (status, _) = env.confirm(id, &env.token).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn missing_or_bad_token_is_401() {
    let env = env().await;
    let record = record_for(env.person());
    for token in [None, Some("vxp_not-a-token"), Some("")] {
        let (status, err) = env
            .call("POST", "/api/v1/dose-records", token, Some(record.clone()))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(err["code"], "UNAUTHENTICATED");
        let (status, _) = env
            .call("POST", "/api/v1/dose-records/1/confirm", token, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = env
            .call(
                "GET",
                "/api/v1/certificates/URN:UVCI:01:VN:X%23A",
                token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn idempotency_key_retries_return_the_same_record() {
    let env = env().await;
    let record = record_for(env.person());
    let send = |body: Value| {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/dose-records")
            .header("authorization", format!("Bearer {}", env.token))
            .header("content-type", "application/json")
            .header("idempotency-key", "retry-1")
            .body(Body::from(body.to_string()))
            .unwrap();
        env.app.clone().oneshot(req)
    };
    let first = send(record.clone()).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value =
        serde_json::from_slice(&first.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let second = send(record.clone()).await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value =
        serde_json::from_slice(&second.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["status"], "verified");
    let mut changed = record;
    changed["dose_number"] = json!(3);
    let third = send(changed).await.unwrap();
    assert_eq!(third.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn invalid_body_is_422_without_echo() {
    let env = env().await;
    let mut record = record_for(env.person());
    record["date_of_birth"] = json!("1990-13-45");
    let (status, err) = env.submit(record).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["code"], "INVALID_REQUEST");
    assert!(!err.to_string().contains("1990-13-45"));
    let (status, err) = env.submit(json!({ "full_name": "Nguyễn Văn A" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!err.to_string().contains("Nguyễn"));
}

#[tokio::test]
async fn health_and_readiness() {
    let env = env().await;
    let (status, _) = env.call("GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = env.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
    env.storage.close().await;
    let (status, body) = env.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "NOT_READY");
}

#[tokio::test]
async fn failed_self_verification_is_500_and_stores_nothing() {
    let (url, dir) = sqlite_url();
    let env = env_full(
        url,
        Some(dir),
        |s| Arc::new(SpoilingSigner(s)) as Arc<dyn Signer>,
        NOW,
    )
    .await;
    let (_, body) = env.submit(record_for(env.person())).await;
    let id = body["id"].as_i64().unwrap();
    let (status, err) = env.confirm(id, &env.token).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(err["code"], "ISSUE_FAILED");
    // No internals in the answer.
    assert!(
        !err["message"].as_str().unwrap().contains("SIGNATURE"),
        "{err}"
    );
    assert!(
        env.storage
            .certificate_for_record(id)
            .await
            .unwrap()
            .is_none()
    );
    let record = env.storage.get_dose_record(id).await.unwrap().unwrap();
    assert_eq!(record.status.as_str(), "verified");
}

#[tokio::test]
async fn expiry_never_passes_the_dsc_not_after() {
    // Find the DSC's notAfter with a first environment, then run 10 days before it.
    let probe = env().await;
    let not_after = vaxpass_verifier::TrustedSigner::from_der(probe.signer.certificate_der())
        .unwrap()
        .not_after()
        .unix_seconds();
    let now = not_after - 10 * 86_400;
    let (url, dir) = sqlite_url();
    let env = env_full(url, Some(dir), |s| s, now).await;
    let (_, body) = env.submit(record_for(env.person())).await;
    let (status, cert) = env.confirm(body["id"].as_i64().unwrap(), &env.token).await;
    assert_eq!(status, StatusCode::OK, "{cert}");
    assert_eq!(cert["iat"], now);
    assert_eq!(cert["exp"], not_after);
}

#[tokio::test]
async fn unknown_vaccine_code_is_422() {
    let env = env().await;
    let mut record = record_for(env.person());
    record["vaccine"]["mp"] = json!("EU/1/99/0000");
    let (status, err) = env.submit(record).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["code"], "UNKNOWN_VACCINE_CODE");
    assert_eq!(
        err["message"],
        "vaccine.mp is not a code of the value set vaccines-covid-19-names"
    );
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive_and_bad_ids_are_404() {
    let env = env().await;
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/dose-records")
        .header("authorization", format!("bearer {}", env.token))
        .header("content-type", "application/json")
        .body(Body::from(record_for(env.person()).to_string()))
        .unwrap();
    let resp = env.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let (status, err) = env
        .call(
            "POST",
            "/api/v1/dose-records/abc/confirm",
            Some(&env.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "NOT_FOUND");
    let (status, _) = env.confirm(999_999, &env.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
