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
use rand_core::{OsRng, RngCore};
use serde_json::Value;
use sqlx::{AnyPool, Executor};
use tower::ServiceExt;
use vaxpass_issuer::api::records::{SubmitRequest, VaccineIn};
use vaxpass_issuer::dates::Date;
use vaxpass_issuer::matching::{DoseIdentity, RegistryPerson};
use vaxpass_issuer::registry_csv::generate_persons;
use vaxpass_issuer::storage::{Actor, Backend, NewDoseRecord, Role, Storage, Vaccination};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{Manifest, Secrets};
use vaxpass_keys::{CertificateType, Signer};
use vaxpass_verifier::Timestamp;

/// The environment variable naming the PostgreSQL server used by the tests.
pub const PG_ENV: &str = "VAXPASS_TEST_POSTGRES_URL";

/// The actor that performs test setup.
pub fn test_actor() -> Actor {
    Actor::System("test".into())
}

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

/// A fresh SQLite database file: its URL and the directory holding it (keep it alive).
pub fn sqlite_url() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("issuer.db").display()
    );
    (url, dir)
}

/// `url` with its database name replaced (keeping any `?query`).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    match query {
        Some(q) => format!("{}/{db}?{q}", &base[..path]),
        None => format!("{}/{db}", &base[..path]),
    }
}

/// A PostgreSQL database created for one test. `drop().await` removes it; if the test
/// panics first, dropping the value removes it (from a thread of its own).
pub struct PgDb {
    /// The server URL from [`PG_ENV`].
    pub server: String,
    /// The database name.
    pub name: String,
    /// The URL of the new database.
    pub url: String,
    /// Whether the database still has to be dropped.
    live: bool,
}

/// Creates a randomly named database `<prefix>_<hex>` on the server named by [`PG_ENV`], or
/// prints the skip message and returns `None` when the variable is not set.
pub async fn pg_database(prefix: &str) -> Option<PgDb> {
    let Ok(server) = std::env::var(PG_ENV) else {
        println!("SKIPPED (PostgreSQL): {PG_ENV} not set");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("{prefix}_{:016x}", OsRng.next_u64());
    let admin = AnyPool::connect(&server).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    admin.close().await;
    let url = with_database(&server, &name);
    Some(PgDb {
        server,
        name,
        url,
        live: true,
    })
}

/// Drops database `name` on `server` (forcing out any connection left open).
pub async fn drop_database(server: &str, name: &str) {
    let admin = AnyPool::connect(server).await.unwrap();
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    admin.close().await;
}

impl PgDb {
    /// Drops the database.
    pub async fn drop(mut self) {
        self.live = false;
        drop_database(&self.server, &self.name).await;
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&server, &name));
            }
        })
        .join();
    }
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

/// One test's database: a SQLite file in a temporary directory, or a PostgreSQL database of
/// its own (dropped by [`TestDb::cleanup`], or when the value is dropped if the test fails).
pub struct TestDb {
    /// The database URL.
    pub url: String,
    /// Which backend `url` names.
    pub backend: Backend,
    /// SQLite: the directory holding the file.
    pub dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the database to drop afterwards.
    pg: Option<PgDb>,
}

impl TestDb {
    /// A fresh SQLite file.
    pub fn sqlite() -> TestDb {
        let (url, dir) = sqlite_url();
        TestDb {
            url,
            backend: Backend::Sqlite,
            dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (skip message printed) without [`PG_ENV`].
    pub async fn postgres() -> Option<TestDb> {
        let pg = pg_database("vaxpass_test").await?;
        Some(TestDb {
            url: pg.url.clone(),
            backend: Backend::Postgres,
            dir: None,
            pg: Some(pg),
        })
    }

    /// Drops the PostgreSQL database (SQLite: the file goes with the value).
    pub async fn cleanup(self) {
        if let Some(pg) = self.pg {
            pg.drop().await;
        }
    }
}

/// A dose record of `p` at `clinic_id`: Comirnaty, dose `dose` of 2, given on 2021-09-01.
pub fn dose_for(clinic_id: i64, p: &RegistryPerson, dose: u32) -> NewDoseRecord {
    NewDoseRecord {
        clinic_id,
        identity: DoseIdentity::from(p),
        vaccination: Vaccination {
            prophylaxis: "1119349007".into(),
            product: "EU/1/20/1528".into(),
            manufacturer: "ORG-100030215".into(),
            dose_number: dose,
            series_total: 2,
            date: Date::parse("2021-09-01").unwrap(),
        },
    }
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
        vaxpass_issuer::api::AppState::new(storage, signer, vaxpass_issuer::api::Config::default())
            .unwrap()
            .with_clock(move || now);
    OneClinicApp {
        app: vaxpass_issuer::api::app(state),
        persons,
        token,
        admin_token,
        _keys: keys,
        _db: db,
    }
}
