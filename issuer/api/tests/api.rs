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
use vaxpass_issuer_api::{AppState, Config, app};
use vaxpass_issuer_domain::identity::Cccd;
use vaxpass_issuer_domain::matching::RegistryPerson;
use vaxpass_issuer_domain::names::{DccName, strip_diacritics};
use vaxpass_issuer_store::Storage;
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

    // Lookup: own clinic and admin yes, another clinic 404 (as a missing certificate).
    // `#` must be percent-encoded in the path (it would start a fragment).
    let uri = format!("/api/v1/certificates/{}", uvci.replace('#', "%23"));
    let (status, got) = env.call("GET", &uri, Some(&env.token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["hc1"], cert["hc1"]);
    let (status, _) = env.call("GET", &uri, Some(&env.admin_token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = env.call("GET", &uri, Some(&env.other_token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "NOT_FOUND");
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
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "NOT_FOUND");
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

// ----- issue 12: hardening of the auth and API surface -----

/// A service whose clock (storage and API alike) the test moves, with these submission limits.
struct Hard {
    app: Router,
    state: AppState,
    storage: Storage,
    clock: Arc<std::sync::atomic::AtomicI64>,
    persons: Vec<RegistryPerson>,
    token: String,
    other_token: String,
    admin_token: String,
    clinic: i64,
    _keys: tempfile::TempDir,
    _db: Option<tempfile::TempDir>,
    _pg: Option<common::PgDb>,
}

impl Hard {
    async fn new(
        url: String,
        db: Option<tempfile::TempDir>,
        pg: Option<common::PgDb>,
        limits: Option<vaxpass_issuer_api::limits::SubmitLimits>,
    ) -> Hard {
        use std::sync::atomic::{AtomicI64, Ordering};
        let clock = Arc::new(AtomicI64::new(NOW));
        let c = clock.clone();
        let storage = Storage::open(&url)
            .await
            .unwrap()
            .with_clock(move || c.load(Ordering::SeqCst));
        let seeded = common::seed(&storage, 100, 7).await;
        let (keys, signer) = common::dev_signer(PKI_START, NOW);
        let c = clock.clone();
        let mut state = AppState::new(storage.clone(), signer, Config::default())
            .unwrap()
            .with_clock(move || c.load(Ordering::SeqCst));
        if let Some(limits) = limits {
            state = state.with_submit_limits(limits);
        }
        Hard {
            app: app(state.clone()),
            state,
            storage,
            clock,
            persons: seeded.persons,
            token: seeded.token,
            other_token: seeded.other_token,
            admin_token: seeded.admin_token,
            clinic: seeded.clinic,
            _keys: keys,
            _db: db,
            _pg: pg,
        }
    }

    async fn sqlite() -> Hard {
        let (url, dir) = sqlite_url();
        Hard::new(url, Some(dir), None, None).await
    }

    async fn postgres() -> Option<Hard> {
        let db = common::pg_database("vaxpass_h12").await?;
        let url = db.url.clone();
        Some(Hard::new(url, None, Some(db), None).await)
    }

    async fn done(self) {
        self.storage.close().await;
        if let Some(pg) = self._pg {
            pg.drop().await;
        }
    }

    fn advance(&self, secs: i64) {
        self.clock
            .fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let (status, headers, bytes) =
            common::send(&self.app, common::request(method, uri, token, body)).await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, headers, value)
    }

    /// `POST /dose-records` with `token`: the status.
    async fn submit_with(&self, token: &str) -> StatusCode {
        let p = self
            .persons
            .iter()
            .find(|p| p.id.as_cccd().is_some())
            .unwrap();
        self.send(
            "POST",
            "/api/v1/dose-records",
            Some(token),
            Some(record_for(p)),
        )
        .await
        .0
    }

    /// A new staff token of clinic A through the admin API: (id, secret, answer).
    async fn new_token(&self, body: Value) -> (i64, String, Value) {
        let (status, headers, answer) = self
            .send(
                "POST",
                &format!("/api/v1/admin/clinics/{}/tokens", self.clinic),
                Some(&self.admin_token),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(headers["cache-control"], "no-store");
        (
            answer["token_id"].as_i64().unwrap(),
            answer["token"].as_str().unwrap().to_owned(),
            answer,
        )
    }

    async fn audit_actions(&self) -> Vec<(String, String, String)> {
        self.storage
            .audit_entries(0, 1_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action, e.subject))
            .collect()
    }
}

fn assert_hardened(headers: &axum::http::HeaderMap, what: &str) {
    assert_eq!(
        headers
            .get("x-content-type-options")
            .map(|v| v.to_str().unwrap()),
        Some("nosniff"),
        "{what}"
    );
    let cc = headers
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(cc.contains("no-store"), "{what}: cache-control {cc:?}");
}

#[tokio::test]
async fn api_answers_are_no_store_and_nosniff() {
    let env = Hard::sqlite().await;
    let p = env
        .persons
        .iter()
        .find(|p| p.id.as_cccd().is_some())
        .unwrap();
    let (status, headers, body) = env
        .send(
            "POST",
            "/api/v1/dose-records",
            Some(&env.token),
            Some(record_for(p)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_hardened(&headers, "submit");
    let id = body["id"].as_i64().unwrap();
    let (status, headers, cert) = env
        .send(
            "POST",
            &format!("/api/v1/dose-records/{id}/confirm"),
            Some(&env.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cert}");
    assert_hardened(&headers, "confirm");
    let uvci = cert["uvci"].as_str().unwrap().replace('#', "%23");
    for uri in [
        format!("/api/v1/certificates/{uvci}"),
        format!("/api/v1/certificates/{uvci}/qr.png"),
        format!("/api/v1/certificates/{uvci}/qr.svg"),
    ] {
        let (status, headers, _) = common::send(
            &env.app,
            common::request("GET", &uri, Some(&env.token), None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_hardened(&headers, &uri);
    }
    // Errors too: 401, 404, 422, an unknown route, a wrong method.
    for (method, uri, token) in [
        ("GET", format!("/api/v1/certificates/{uvci}"), None),
        (
            "GET",
            "/api/v1/certificates/URN:UVCI:01:VN:NONE".to_owned(),
            Some(env.token.as_str()),
        ),
        (
            "GET",
            format!("/api/v1/certificates/{uvci}/qr.png?scale=99"),
            Some(env.token.as_str()),
        ),
        ("GET", "/api/v1/no-such-route".to_owned(), None),
        (
            "DELETE",
            "/api/v1/dose-records".to_owned(),
            Some(env.token.as_str()),
        ),
    ] {
        let (status, headers, _) =
            common::send(&env.app, common::request(method, &uri, token, None)).await;
        assert!(status.is_client_error(), "{uri}: {status}");
        assert_hardened(&headers, &uri);
    }
    // Outside /api/v1 every answer is nosniff.
    let (_, headers, _) =
        common::send(&env.app, common::request("GET", "/healthz", None, None)).await;
    assert_eq!(headers["x-content-type-options"], "nosniff");
    env.done().await;
}

#[tokio::test]
async fn another_clinics_record_is_404() {
    let env = Hard::sqlite().await;
    let p = env
        .persons
        .iter()
        .find(|p| p.id.as_cccd().is_some())
        .unwrap();
    let (_, _, body) = env
        .send(
            "POST",
            "/api/v1/dose-records",
            Some(&env.token),
            Some(record_for(p)),
        )
        .await;
    let id = body["id"].as_i64().unwrap();
    let missing = id + 1_000;
    // Confirm: another clinic's record and a missing one are the same answer, byte for byte
    // and header for header.
    let theirs = common::send(
        &env.app,
        common::request(
            "POST",
            &format!("/api/v1/dose-records/{id}/confirm"),
            Some(&env.other_token),
            None,
        ),
    )
    .await;
    let none = common::send(
        &env.app,
        common::request(
            "POST",
            &format!("/api/v1/dose-records/{missing}/confirm"),
            Some(&env.other_token),
            None,
        ),
    )
    .await;
    assert_eq!(theirs.0, StatusCode::NOT_FOUND);
    assert_eq!(theirs, none);
    // The owner can still confirm; the certificate is 404 to the other clinic as a missing one.
    let (status, _, cert) = env
        .send(
            "POST",
            &format!("/api/v1/dose-records/{id}/confirm"),
            Some(&env.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let uvci = cert["uvci"].as_str().unwrap().replace('#', "%23");
    for suffix in ["", "/qr.png", "/qr.svg"] {
        let theirs = common::send(
            &env.app,
            common::request(
                "GET",
                &format!("/api/v1/certificates/{uvci}{suffix}"),
                Some(&env.other_token),
                None,
            ),
        )
        .await;
        let none = common::send(
            &env.app,
            common::request(
                "GET",
                &format!("/api/v1/certificates/URN:UVCI:01:VN:NONE{suffix}"),
                Some(&env.other_token),
                None,
            ),
        )
        .await;
        assert_eq!(theirs.0, StatusCode::NOT_FOUND, "{suffix}");
        assert_eq!(theirs, none, "{suffix}");
    }
    env.done().await;
}

#[tokio::test]
async fn invalid_utf8_path_gets_json_error() {
    let env = Hard::sqlite().await;
    for uri in [
        "/api/v1/certificates/%FF%FE",
        "/api/v1/certificates/%FF/qr.png",
        "/api/v1/dose-records/%FF/confirm",
        "/api/v1/admin/tokens/%C3%28/revoke",
    ] {
        let method = if uri.contains("certificates") {
            "GET"
        } else {
            "POST"
        };
        let token = if uri.contains("admin") {
            &env.admin_token
        } else {
            &env.token
        };
        let (status, headers, body) = env.send(method, uri, Some(token), None).await;
        assert!(status.is_client_error(), "{uri}: {status}");
        assert_eq!(headers["content-type"], "application/json", "{uri}");
        assert!(
            body["code"].is_string() && body["message"].is_string(),
            "{uri}: {body}"
        );
    }
    let (status, _, body) = env
        .send("GET", "/api/v1/certificates/%FF%FE", Some(&env.token), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "INVALID_REQUEST");
    env.done().await;
}

#[tokio::test]
async fn unknown_api_route_gets_json_404() {
    let env = Hard::sqlite().await;
    for token in [None, Some(env.token.as_str())] {
        let (status, headers, body) = env.send("GET", "/api/v1/nothing/here", token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(body["code"], "NOT_FOUND");
    }
    env.done().await;
}

#[tokio::test]
async fn wrong_method_gets_json_405() {
    let env = Hard::sqlite().await;
    let (status, headers, body) = env
        .send("GET", "/api/v1/dose-records", Some(&env.token), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
    assert!(headers["allow"].to_str().unwrap().contains("POST"));
    env.done().await;
}

#[tokio::test]
async fn unauthenticated_has_www_authenticate() {
    let env = Hard::sqlite().await;
    let (status, headers, body) = env
        .send("POST", "/api/v1/dose-records/1/confirm", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "UNAUTHENTICATED");
    let www = headers["www-authenticate"].to_str().unwrap();
    assert!(www.starts_with("Bearer "), "{www}");
    assert!(!www.contains("error="), "{www}");
    let (status, headers, _) = env
        .send(
            "POST",
            "/api/v1/dose-records/1/confirm",
            Some("vxp_unknown"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let www = headers["www-authenticate"].to_str().unwrap();
    assert!(
        www.starts_with("Bearer ") && www.contains("error=\"invalid_token\""),
        "{www}"
    );
    env.done().await;
}

#[tokio::test]
async fn metrics_needs_admin_or_own_listener() {
    let env = Hard::sqlite().await;
    let (status, headers, _) =
        common::send(&env.app, common::request("GET", "/metrics", None, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key("www-authenticate"));
    let (status, _, _) = common::send(
        &env.app,
        common::request("GET", "/metrics", Some(&env.token), None),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, body) = common::send(
        &env.app,
        common::request("GET", "/metrics", Some(&env.admin_token), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert!(String::from_utf8_lossy(&body).contains("vaxpass_submissions_rate_limited_total 0"));
    // The separate listener's router: /metrics without a token, nothing else.
    let own = vaxpass_issuer_api::metrics::router(env.state.clone());
    let (status, _, body) =
        common::send(&own, common::request("GET", "/metrics", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("vaxpass_http_requests_total"));
    let (status, _, _) = common::send(
        &own,
        common::request("GET", "/api/v1/certificates/X", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.done().await;
}

#[tokio::test]
async fn submissions_are_rate_limited_per_token() {
    let (url, dir) = sqlite_url();
    let limits = vaxpass_issuer_api::limits::SubmitLimits {
        burst: 3,
        per_sec: 1,
        max_tokens: 100,
    };
    let env = Hard::new(url, Some(dir), None, Some(limits)).await;
    for _ in 0..3 {
        assert!(env.submit_with(&env.token).await.is_success());
    }
    let p = env
        .persons
        .iter()
        .find(|p| p.id.as_cccd().is_some())
        .unwrap();
    let (status, headers, body) = env
        .send(
            "POST",
            "/api/v1/dose-records",
            Some(&env.token),
            Some(record_for(p)),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "RATE_LIMITED");
    assert_eq!(headers["retry-after"], "1");
    // Another token of another clinic is not affected.
    assert!(env.submit_with(&env.other_token).await.is_success());
    // A second later one more passes.
    env.advance(1);
    assert!(env.submit_with(&env.token).await.is_success());
    assert_eq!(
        env.submit_with(&env.token).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (_, _, metrics) = common::send(
        &env.app,
        common::request("GET", "/metrics", Some(&env.admin_token), None),
    )
    .await;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert!(
        metrics
            .lines()
            .any(|l| l == "vaxpass_submissions_rate_limited_total 2"),
        "{metrics}"
    );
    env.done().await;
}

async fn revoked_token_is_refused_at_once_on(env: Hard) {
    let (id, secret, _) = env.new_token(json!({ "role": "staff" })).await;
    // Used once: now in the authentication cache.
    assert!(env.submit_with(&secret).await.is_success());
    let (status, _, info) = env
        .send(
            "POST",
            &format!("/api/v1/admin/tokens/{id}/revoke"),
            Some(&env.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["state"], "revoked");
    assert_eq!(info["revoked_at"], NOW);
    // The very next request is refused, although the cache's TTL has not passed.
    let p = env
        .persons
        .iter()
        .find(|p| p.id.as_cccd().is_some())
        .unwrap();
    let (status, headers, body) = env
        .send(
            "POST",
            "/api/v1/dose-records",
            Some(&secret),
            Some(record_for(p)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "UNAUTHENTICATED");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // A second revocation changes nothing; an unknown token is 404; staff may not revoke.
    let (status, _, _) = env
        .send(
            "POST",
            &format!("/api/v1/admin/tokens/{id}/revoke"),
            Some(&env.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = env
        .send(
            "POST",
            "/api/v1/admin/tokens/999999/revoke",
            Some(&env.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = env
        .send(
            "POST",
            &format!("/api/v1/admin/tokens/{id}/revoke"),
            Some(&env.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Audited once, by the admin token, and the chain verifies.
    let admin = env
        .storage
        .authenticate(&env.admin_token)
        .await
        .unwrap()
        .unwrap();
    let revokes: Vec<_> = env
        .audit_actions()
        .await
        .into_iter()
        .filter(|(_, action, _)| action == "staff_token.revoke")
        .collect();
    assert_eq!(
        revokes,
        vec![(
            format!("staff:{}", admin.token_id),
            "staff_token.revoke".to_owned(),
            format!("staff_token:{id}")
        )]
    );
    env.storage.audit_verify().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn revoked_token_is_refused_at_once() {
    revoked_token_is_refused_at_once_on(Hard::sqlite().await).await;
}

#[tokio::test]
async fn revoked_token_is_refused_at_once_postgres() {
    if let Some(env) = Hard::postgres().await {
        revoked_token_is_refused_at_once_on(env).await;
    }
}

async fn expired_token_is_refused_on(env: Hard) {
    let (_, default_secret, answer) = env.new_token(json!({ "role": "staff" })).await;
    assert_eq!(answer["expires_at"], NOW + 90 * 86_400);
    let (_, secret, answer) = env
        .new_token(json!({ "role": "staff", "expires_in_days": 1 }))
        .await;
    assert_eq!(answer["expires_at"], NOW + 86_400);
    assert!(env.submit_with(&secret).await.is_success());
    env.advance(86_400 - 1);
    assert!(env.submit_with(&secret).await.is_success());
    // Expired: refused even though it was used (cached) a moment ago.
    env.advance(1);
    let p = env
        .persons
        .iter()
        .find(|p| p.id.as_cccd().is_some())
        .unwrap();
    let (status, headers, _) = env
        .send(
            "POST",
            "/api/v1/dose-records",
            Some(&secret),
            Some(record_for(p)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // The 90-day token and the tokens made before expiry existed (no expiry) still work.
    assert!(env.submit_with(&default_secret).await.is_success());
    assert!(env.submit_with(&env.token).await.is_success());
    // Out-of-range lifetimes are refused with what is accepted.
    let (status, _, err) = env
        .send(
            "POST",
            &format!("/api/v1/admin/clinics/{}/tokens", env.clinic),
            Some(&env.admin_token),
            Some(json!({ "role": "staff", "expires_in_days": 91 })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err["message"],
        "expires_in_days must be a whole number of days from 1 to 90"
    );
    // The listing shows states and no secret.
    let (status, _, list) = env
        .send(
            "GET",
            &format!("/api/v1/admin/clinics/{}/tokens", env.clinic),
            Some(&env.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = list.to_string();
    assert!(
        !text.contains(&secret) && !text.contains("vxp_") && !text.contains("hash"),
        "{text}"
    );
    let states: Vec<&str> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "active", "expired"]);
    env.done().await;
}

#[tokio::test]
async fn expired_token_is_refused() {
    expired_token_is_refused_on(Hard::sqlite().await).await;
}

#[tokio::test]
async fn expired_token_is_refused_postgres() {
    if let Some(env) = Hard::postgres().await {
        expired_token_is_refused_on(env).await;
    }
}

async fn rotated_token_replaces_the_old_one_on(env: Hard) {
    let (id, old_secret, _) = env.new_token(json!({ "role": "staff" })).await;
    assert!(env.submit_with(&old_secret).await.is_success());
    // Without grace: the old token is refused at once, the new one works.
    let (status, headers, rotated) = env
        .send(
            "POST",
            &format!("/api/v1/admin/tokens/{id}/rotate"),
            Some(&env.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    assert_eq!(headers["cache-control"], "no-store");
    let new_secret = rotated["token"].as_str().unwrap().to_owned();
    let new_id = rotated["new"]["id"].as_i64().unwrap();
    assert_eq!(rotated["old"]["state"], "revoked");
    assert_eq!(rotated["old"]["replaced_by"], new_id);
    assert_eq!(env.submit_with(&old_secret).await, StatusCode::UNAUTHORIZED);
    assert!(env.submit_with(&new_secret).await.is_success());
    let holder = env
        .storage
        .authenticate(&new_secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder.clinic_id, env.clinic);
    // A revoked token cannot be rotated.
    let (status, _, err) = env
        .send(
            "POST",
            &format!("/api/v1/admin/tokens/{id}/rotate"),
            Some(&env.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["code"], "TOKEN_REVOKED");
    // With a grace period the old one works until it ends.
    let (status, _, rotated) = env
        .send(
            "POST",
            &format!("/api/v1/admin/tokens/{new_id}/rotate"),
            Some(&env.admin_token),
            Some(json!({ "grace_secs": 60 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    assert_eq!(rotated["old"]["expires_at"], NOW + 60);
    let newest = rotated["token"].as_str().unwrap().to_owned();
    assert!(env.submit_with(&new_secret).await.is_success());
    env.advance(60);
    assert_eq!(env.submit_with(&new_secret).await, StatusCode::UNAUTHORIZED);
    assert!(env.submit_with(&newest).await.is_success());
    // Bad grace periods are refused.
    let (status, _, _) = env
        .send(
            "POST",
            &format!("/api/v1/admin/tokens/{new_id}/rotate"),
            Some(&env.admin_token),
            Some(json!({ "grace_secs": -1 })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let rotations = env
        .audit_actions()
        .await
        .into_iter()
        .filter(|(_, action, _)| action == "staff_token.rotate")
        .count();
    assert_eq!(rotations, 2);
    env.storage.audit_verify().await.unwrap();
    env.done().await;
}

#[tokio::test]
async fn rotated_token_replaces_the_old_one() {
    rotated_token_replaces_the_old_one_on(Hard::sqlite().await).await;
}

#[tokio::test]
async fn rotated_token_replaces_the_old_one_postgres() {
    if let Some(env) = Hard::postgres().await {
        rotated_token_replaces_the_old_one_on(env).await;
    }
}

/// A database migrated by today's main (migrations 0001–0004 only) with a clinic and a token:
/// opening it runs 0005, and the old token keeps working, with no expiry.
async fn database_of_the_old_schema_opens_on(url: &str, backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../store/migrations")
        .join(backend);
    let mut names: Vec<_> = std::fs::read_dir(&source)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.as_str() < "0005")
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    for n in &names {
        std::fs::copy(source.join(n), dir.path().join(n)).unwrap();
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let secret = "vxp_old-token-of-main";
    sqlx::query("INSERT INTO clinics (id, name, province, created_at) VALUES (1, 'Old', 79, 1)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO staff_tokens (clinic_id, role, token_hash, created_at) VALUES (1, 'staff', $1, 1)",
    )
    .bind(vaxpass_issuer_store::token_hash(secret))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let storage = Storage::open(url).await.unwrap().with_clock(|| NOW);
    let staff = storage.authenticate(secret).await.unwrap().unwrap();
    assert_eq!(staff.clinic_id, 1);
    let tokens = storage.list_tokens(1).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].expires_at, None);
    assert_eq!(tokens[0].state, vaxpass_issuer_store::TokenState::Active);
    storage.close().await;
}

#[tokio::test]
async fn database_of_the_old_schema_opens_and_its_tokens_keep_working() {
    let (url, _dir) = sqlite_url();
    database_of_the_old_schema_opens_on(&url, "sqlite").await;
}

#[tokio::test]
async fn database_of_the_old_schema_opens_and_its_tokens_keep_working_postgres() {
    let Some(db) = common::pg_database("vaxpass_h12_old").await else {
        return;
    };
    database_of_the_old_schema_opens_on(&db.url, "postgres").await;
    db.drop().await;
}

/// A database that stays locked by another process past the busy timeout is 503 `UNAVAILABLE`
/// with `Retry-After`, not a 500: the clinic retries (the same `Idempotency-Key` makes that safe),
/// and the record is stored once the lock is gone. SQLite: another connection holds the write
/// lock for longer than the storage's 10 s busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_503_with_retry_after() {
    let (url, dir) = sqlite_url();
    let env = env_with(url.clone(), Some(dir)).await;
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let record = record_for(env.person());
    let req = common::request(
        "POST",
        "/api/v1/dose-records",
        Some(&env.token),
        Some(record.clone()),
    );
    let mut req = req;
    req.headers_mut()
        .insert("idempotency-key", "busy-1".parse().unwrap());
    let (status, headers, body) = common::send(&env.app, req).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "UNAVAILABLE");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    let mut req = common::request(
        "POST",
        "/api/v1/dose-records",
        Some(&env.token),
        Some(record),
    );
    req.headers_mut()
        .insert("idempotency-key", "busy-1".parse().unwrap());
    let (status, _, body) = common::send(&env.app, req).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
}
