//! The remote registry client against a real HTTPS registry server: axum over hyper over
//! tokio-rustls on 127.0.0.1, with a test CA, server and client certificates made here
//! (rcgen). The server counts the requests that reach it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use vaxpass_issuer::api::{AppState, Config, app};
use vaxpass_issuer::identity::{IdNumber, Sex};
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::registry::remote::BreakerStatus;
use vaxpass_issuer::registry::{
    PersonRegistry, REGISTRY_UNAVAILABLE, RegistryError, RegistrySource, RemoteRegistry,
    RemoteRegistryConfig,
};
use vaxpass_issuer::registry_csv::generate_persons;
use vaxpass_issuer::storage::{RecordStatus, Role, Storage};
use vaxpass_issuer::workflow::rematch_pending;

const API_KEY: &str = "test-registry-key";

// ----- test PKI -----

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

struct Leaf {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key: KeyPair,
}

impl Leaf {
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = params.self_signed(&key).unwrap().pem();
    Ca { params, key, pem }
}

fn leaf(ca: &Ca, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, sans[0]);
    params.extended_key_usages = vec![usage];
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    Leaf {
        cert_der: cert.der().clone(),
        cert_pem: cert.pem(),
        key,
    }
}

struct Pki {
    ca: Ca,
    server: Leaf,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let ca = ca("Test Registry CA");
        let server = leaf(
            &ca,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        Pki {
            ca,
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn ca_file(&self) -> PathBuf {
        self.write("ca.pem", &self.ca.pem)
    }

    fn server_config(&self, client_ca: Option<&Ca>) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                let der = ca.params.self_signed(&ca.key).unwrap().der().clone();
                roots.add(der).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        Arc::new(
            builder
                .with_single_cert(vec![self.server.cert_der.clone()], self.server.key_der())
                .unwrap(),
        )
    }
}

// ----- the registry server -----

/// What the server answers to the n-th request (0-based) with this body.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    content_type: &'static str,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            content_type: "application/json",
            delay: Duration::ZERO,
        }
    }
}

type Script = Arc<dyn Fn(usize, &Value) -> Reply + Send + Sync>;

#[derive(Clone)]
struct ServerState {
    hits: Arc<AtomicUsize>,
    request_ids: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<Script>>,
}

struct Server {
    addr: SocketAddr,
    state: ServerState,
}

impl Server {
    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    fn set_script(&self, script: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static) {
        *self.state.script.lock().unwrap() = Arc::new(script);
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

async fn lookup_handler(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let n = state.hits.fetch_add(1, Ordering::SeqCst);
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        state.request_ids.lock().unwrap().push(id.to_owned());
    }
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {API_KEY}"));
    if !authorised {
        return (StatusCode::UNAUTHORIZED, "no").into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    let script = state.script.lock().unwrap().clone();
    let reply = script(n, &request);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type)
        .body(Body::from(reply.body))
        .unwrap()
}

async fn start_server(
    tls: Arc<rustls::ServerConfig>,
    script: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static,
) -> Server {
    let state = ServerState {
        hits: Arc::new(AtomicUsize::new(0)),
        request_ids: Arc::new(Mutex::new(Vec::new())),
        script: Arc::new(Mutex::new(Arc::new(script))),
    };
    let router = Router::new()
        .route("/v1/persons:lookup", post(lookup_handler))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Server { addr, state }
}

// ----- helpers -----

fn person() -> RegistryPerson {
    RegistryPerson {
        id: IdNumber::parse_national("079185012345").unwrap(),
        full_name: "Nguyễn Thị Lan".into(),
        date_of_birth: vaxpass_issuer::dates::Date::new(1985, 4, 12).unwrap(),
        sex: Sex::Female,
    }
}

fn person_json(p: &RegistryPerson) -> Value {
    json!({
        "id_number": p.id.to_string(),
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.to_string(),
        "sex": p.sex.code(),
    })
}

/// Answers from a map of persons.
fn registry_script(
    persons: Vec<RegistryPerson>,
) -> impl Fn(usize, &Value) -> Reply + Send + Sync + 'static {
    let map: HashMap<String, RegistryPerson> =
        persons.into_iter().map(|p| (p.id.to_string(), p)).collect();
    move |_, req| match req["id_number"].as_str().and_then(|id| map.get(id)) {
        Some(p) => Reply::json(200, json!({ "found": true, "person": person_json(p) })),
        None => Reply::json(200, json!({ "found": false })),
    }
}

/// A test clock: a base instant plus a settable offset.
#[derive(Clone)]
struct ManualClock {
    base: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl ManualClock {
    fn new() -> ManualClock {
        ManualClock {
            base: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        }
    }
    fn advance(&self, d: Duration) {
        self.offset_ms
            .fetch_add(u64::try_from(d.as_millis()).unwrap(), Ordering::SeqCst);
    }
    fn now(&self) -> Instant {
        self.base + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

fn config(pki: &Pki, server: &Server) -> RemoteRegistryConfig {
    let mut c = RemoteRegistryConfig::new(server.url());
    c.api_key = Some(vaxpass_issuer::registry::remote::ApiKey::new(API_KEY));
    c.ca_file = Some(pki.ca_file());
    c.attempt_timeout = Duration::from_secs(10);
    c.total_deadline = Duration::from_secs(30);
    c.backoff_base = Duration::from_millis(1);
    c.backoff_max = Duration::from_millis(4);
    c
}

fn id() -> IdNumber {
    person().id
}

// ----- the client -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn found_not_found_and_another_person() {
    let pki = Pki::new();
    let server = start_server(pki.server_config(None), registry_script(vec![person()])).await;
    let registry = RemoteRegistry::new(config(&pki, &server)).unwrap();

    let found = registry.lookup(&id()).await.unwrap().unwrap();
    assert_eq!(found, person());
    assert_eq!(found.full_name, "Nguyễn Thị Lan");

    let other = IdNumber::parse_national("001090000001").unwrap();
    assert_eq!(registry.lookup(&other).await.unwrap(), None);
    assert_eq!(server.hits(), 2);

    // A foreign passport is never sent.
    let passport = IdNumber::parse_passport("C1234567").unwrap();
    assert_eq!(registry.lookup(&passport).await.unwrap(), None);
    assert_eq!(server.hits(), 2);

    // An answer about another person than the one asked is refused, and not retried.
    server.set_script(|_, _| {
        let mut p = person_json(&person());
        p["id_number"] = json!("079185012346");
        Reply::json(200, json!({ "found": true, "person": p }))
    });
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("another ID number"), "{err}");
    assert!(!err.to_string().contains("0791850123"), "{err}");
    assert_eq!(server.hits(), 3);

    // Not JSON by its Content-Type.
    server.set_script(|_, _| Reply {
        content_type: "text/html",
        ..Reply::json(200, json!({ "found": false }))
    });
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(err.to_string().contains("Content-Type"), "{err}");
    assert_eq!(registry.breaker_status(), BreakerStatus::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_api_key_is_a_protocol_error_without_retry() {
    let pki = Pki::new();
    let server = start_server(pki.server_config(None), registry_script(vec![person()])).await;
    let mut c = config(&pki, &server);
    c.api_key = Some(vaxpass_issuer::registry::remote::ApiKey::new("wrong"));
    let registry = RemoteRegistry::new(c).unwrap();
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    assert_eq!(server.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_with_one_request_id() {
    let pki = Pki::new();
    let ok = registry_script(vec![person()]);
    let server = start_server(pki.server_config(None), move |n, req| {
        if n < 2 {
            Reply::json(500, json!({ "error": "busy" }))
        } else {
            ok(n, req)
        }
    })
    .await;
    let registry = RemoteRegistry::new(config(&pki, &server)).unwrap();
    assert_eq!(registry.lookup(&id()).await.unwrap(), Some(person()));
    assert_eq!(server.hits(), 3);
    let ids = server.state.request_ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|i| i == &ids[0] && i.len() == 32), "{ids:?}");

    // 429 is retried too; with 2 attempts the last status is reported.
    server.set_script(|_, _| Reply::json(429, json!({})));
    let mut c = config(&pki, &server);
    c.max_attempts = 2;
    let registry = RemoteRegistry::new(c).unwrap();
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Status(429)), "{err:?}");
    assert_eq!(server.hits(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_stops_retries_whose_backoff_would_pass_it() {
    let pki = Pki::new();
    let server = start_server(pki.server_config(None), |_, _| Reply::json(503, json!({}))).await;
    let mut c = config(&pki, &server);
    c.max_attempts = 5;
    // Equal jitter: the backoff is at least half of 20 s, past the 5 s deadline.
    c.backoff_base = Duration::from_secs(20);
    c.backoff_max = Duration::from_secs(20);
    c.total_deadline = Duration::from_secs(5);
    let registry = RemoteRegistry::new(c).unwrap();
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Status(503)), "{err:?}");
    assert_eq!(server.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_fails_fast_then_probes() {
    let pki = Pki::new();
    let server = start_server(pki.server_config(None), |_, _| Reply::json(500, json!({}))).await;
    let mut c = config(&pki, &server);
    c.max_attempts = 2;
    c.breaker_failures = 3;
    c.breaker_open_for = Duration::from_secs(30);
    let clock = ManualClock::new();
    let registry = RemoteRegistry::new(c).unwrap().with_clock({
        let clock = clock.clone();
        move || clock.now()
    });

    // 2 failed attempts: still closed.
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Status(500)), "{err:?}");
    assert_eq!(server.hits(), 2);
    assert_eq!(registry.breaker_status(), BreakerStatus::Closed);
    // The 3rd failed attempt opens the circuit, which stops this lookup's retries.
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Status(500)), "{err:?}");
    assert_eq!(server.hits(), 3);
    assert_eq!(registry.breaker_status(), BreakerStatus::Open);

    // Open: fails fast, nothing reaches the server.
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unavailable), "{err:?}");
    assert_eq!(server.hits(), 3);
    clock.advance(Duration::from_secs(29));
    assert!(matches!(
        registry.lookup(&id()).await,
        Err(RegistryError::Unavailable)
    ));
    assert_eq!(server.hits(), 3);

    // Half-open: one probe; it fails, the circuit opens again.
    clock.advance(Duration::from_secs(1));
    assert_eq!(registry.breaker_status(), BreakerStatus::HalfOpen);
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Status(500)), "{err:?}");
    assert_eq!(server.hits(), 4);
    assert_eq!(registry.breaker_status(), BreakerStatus::Open);
    assert!(matches!(
        registry.lookup(&id()).await,
        Err(RegistryError::Unavailable)
    ));
    assert_eq!(server.hits(), 4);

    // The registry recovers; the next probe succeeds and closes the circuit.
    server.set_script(registry_script(vec![person()]));
    clock.advance(Duration::from_secs(30));
    assert_eq!(registry.lookup(&id()).await.unwrap(), Some(person()));
    assert_eq!(server.hits(), 5);
    assert_eq!(registry.breaker_status(), BreakerStatus::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_registry_times_out() {
    let pki = Pki::new();
    let server = start_server(pki.server_config(None), |_, _| Reply {
        delay: Duration::from_secs(5),
        ..Reply::json(200, json!({ "found": false }))
    })
    .await;
    let mut c = config(&pki, &server);
    c.attempt_timeout = Duration::from_millis(300);
    c.max_attempts = 2;
    let registry = RemoteRegistry::new(c).unwrap();
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Timeout), "{err:?}");
    assert_eq!(server.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_is_refused() {
    let pki = Pki::new();
    let server = start_server(pki.server_config(None), |_, _| {
        let mut p = person_json(&person());
        p["note"] = json!("x".repeat(70 * 1024));
        Reply::json(200, json!({ "found": true, "person": p }))
    })
    .await;
    let registry = RemoteRegistry::new(config(&pki, &server)).unwrap();
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("65536-byte limit"), "{err}");
    assert_eq!(server.hits(), 1);

    // The same body within a larger limit is accepted (the unknown field is ignored).
    let mut c = config(&pki, &server);
    c.max_body = 128 * 1024;
    let registry = RemoteRegistry::new(c).unwrap();
    assert_eq!(registry.lookup(&id()).await.unwrap(), Some(person()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_certificate_is_refused() {
    let pki = Pki::new();
    let server = start_server(pki.server_config(None), registry_script(vec![person()])).await;
    let other = ca("Another CA");
    let mut c = config(&pki, &server);
    c.ca_file = Some(pki.write("other-ca.pem", &other.pem));
    let registry = RemoteRegistry::new(c).unwrap();
    let err = registry.lookup(&id()).await.unwrap_err();
    assert!(matches!(err, RegistryError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert_eq!(server.hits(), 0);

    // Without a CA file the Mozilla roots are used: the test CA is not among them.
    let mut c = config(&pki, &server);
    c.ca_file = None;
    let err = RemoteRegistry::new(c)
        .unwrap()
        .lookup(&id())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Tls(_)), "{err:?}");
    assert_eq!(server.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls() {
    let pki = Pki::new();
    let client_ca = ca("Issuer Clients CA");
    let server = start_server(
        pki.server_config(Some(&client_ca)),
        registry_script(vec![person()]),
    )
    .await;

    // Without a client certificate the handshake is refused.
    let mut c = config(&pki, &server);
    c.max_attempts = 1;
    let err = RemoteRegistry::new(c)
        .unwrap()
        .lookup(&id())
        .await
        .unwrap_err();
    // TLS 1.3: the client may finish its side of the handshake before the server refuses
    // it, so the refusal shows as an alert (TLS) or as a closed connection (transport).
    assert!(
        matches!(err, RegistryError::Tls(_) | RegistryError::Transport(_)),
        "{err:?}"
    );
    assert_eq!(server.hits(), 0);

    let client = leaf(
        &client_ca,
        &["vaxpass-issuer"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let mut c = config(&pki, &server);
    c.client_cert_file = Some(pki.write("client.pem", &client.cert_pem));
    c.client_key_file = Some(pki.write("client-key.pem", &client.key.serialize_pem()));
    let registry = RemoteRegistry::new(c).unwrap();
    assert_eq!(registry.lookup(&id()).await.unwrap(), Some(person()));
    assert_eq!(server.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_files_are_config_errors() {
    let pki = Pki::new();
    let mut c = RemoteRegistryConfig::new("https://127.0.0.1:9");
    c.ca_file = Some(pki.write("empty.pem", "no pem here"));
    let err = RemoteRegistry::new(c).unwrap_err();
    assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
    let mut c = RemoteRegistryConfig::new("https://127.0.0.1:9");
    c.ca_file = Some(pki.dir.path().join("missing.pem"));
    assert!(RemoteRegistry::new(c).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut c = RemoteRegistryConfig::new(format!("https://{addr}"));
    c.backoff_base = Duration::from_millis(1);
    let err = RemoteRegistry::new(c)
        .unwrap()
        .lookup(&id())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Transport(_)), "{err:?}");
}

// ----- the API with the remote registry -----

const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;

struct Api {
    state: AppState,
    storage: Storage,
    token: String,
    persons: Vec<RegistryPerson>,
    _keys: tempfile::TempDir,
    _db: tempfile::TempDir,
}

async fn api(registry: RemoteRegistry, persons: Vec<RegistryPerson>) -> Api {
    let (url, db) = common::sqlite_url();
    api_on(&url, db, registry, persons).await
}

async fn api_on(
    url: &str,
    db: tempfile::TempDir,
    registry: RemoteRegistry,
    persons: Vec<RegistryPerson>,
) -> Api {
    // The local table stays empty: every match must come from the remote registry.
    let storage = Storage::open(url).await.unwrap().with_clock(|| NOW);
    let admin = common::test_actor();
    let clinic = storage.create_clinic("Clinic A", 79, &admin).await.unwrap();
    let token = common::staff_token(&storage, clinic, Role::Staff).await;
    let (keys, signer) = common::dev_signer(PKI_START, NOW);
    let state = AppState::new(storage.clone(), signer, Config::default())
        .unwrap()
        .with_clock(|| NOW)
        .with_registry(RegistrySource::Remote(registry));
    Api {
        state,
        storage,
        token,
        persons,
        _keys: keys,
        _db: db,
    }
}

impl Api {
    async fn submit(&self, record: Value, key: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/dose-records")
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(record.to_string()))
            .unwrap();
        let (status, _, bytes) = common::send(&app(self.state.clone()), req).await;
        (status, serde_json::from_slice(&bytes).unwrap())
    }
}

fn record_for(p: &RegistryPerson) -> Value {
    json!({
        "id_number": p.id.to_string(),
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.to_string(),
        "sex": p.sex.code(),
        "vaccine": { "mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007" },
        "dose_number": 1,
        "series_total": 2,
        "date": "2026-05-01",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_is_verified_by_the_remote_registry() {
    let pki = Pki::new();
    let persons: Vec<RegistryPerson> = generate_persons(50, 3)
        .filter(|p| p.id.as_cccd().is_some())
        .collect();
    let server = start_server(pki.server_config(None), registry_script(persons.clone())).await;
    let env = api(RemoteRegistry::new(config(&pki, &server)).unwrap(), persons).await;

    let p = env.persons[0].clone();
    let (status, body) = env.submit(record_for(&p), "k1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "verified");
    assert_eq!(server.hits(), 1);

    // The wrong sex: the remote person is graded as usual.
    let mut typo = record_for(&env.persons[1]);
    typo["sex"] = json!(if env.persons[1].sex == Sex::Male {
        "F"
    } else {
        "M"
    });
    let (status, body) = env.submit(typo, "k2").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "mismatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_down_stores_the_record_and_rematch_matches_it_later() {
    registry_down_then_rematch(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_down_stores_the_record_and_rematch_matches_it_later_postgres() {
    let Some(db) = common::pg_database("vaxpass_test").await else {
        return;
    };
    registry_down_then_rematch(Some(&db.url)).await;
    db.drop().await;
}

/// On SQLite (a temporary file) or on the PostgreSQL database at `url`.
async fn registry_down_then_rematch(url: Option<&str>) {
    let pki = Pki::new();
    let persons: Vec<RegistryPerson> = generate_persons(50, 4)
        .filter(|p| p.id.as_cccd().is_some())
        .collect();
    let server = start_server(pki.server_config(None), |_, _| Reply::json(503, json!({}))).await;
    let mut c = config(&pki, &server);
    c.max_attempts = 2;
    // Kept closed here (5 failures below): the breaker has its own test.
    c.breaker_failures = 100;
    let registry = RemoteRegistry::new(c).unwrap();
    let env = match url {
        None => api(registry, persons).await,
        Some(url) => api_on(url, tempfile::tempdir().unwrap(), registry, persons).await,
    };

    let p = env.persons[0].clone();
    let (status, body) = env.submit(record_for(&p), "k1").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "received");
    assert_eq!(body["outcome"]["outcome"], REGISTRY_UNAVAILABLE);
    assert_eq!(server.hits(), 2);
    // No personal data in the answer's message.
    let message = body["outcome"]["message"].as_str().unwrap();
    assert!(!message.contains(&p.full_name) && !message.contains(&p.id.to_string()));

    let id = body["id"].as_i64().unwrap();
    let stored = env.storage.get_dose_record(id).await.unwrap().unwrap();
    assert_eq!(stored.status, RecordStatus::Received);
    assert_eq!(stored.outcome.as_deref(), Some(REGISTRY_UNAVAILABLE));
    assert_eq!(stored.identity.full_name, p.full_name);
    let audit = env.storage.audit_entries(0, 100).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.action, "dose_record.registry_unavailable");
    assert!(last.details.contains("STATUS"), "{}", last.details);
    assert!(env.storage.audit_verify().await.unwrap().entries > 0);

    // A second record, and a pass while the registry is still down: nothing matched.
    let q = env.persons[1].clone();
    let (status, _) = env.submit(record_for(&q), "k2").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let summary = rematch_pending(&env.state.storage, &*env.state.registry, 100)
        .await
        .unwrap();
    assert_eq!(summary.matched, 0);
    assert_eq!(summary.stopped_by, Some("STATUS"));

    // The registry is back: the pass matches both, oldest first.
    server.set_script(registry_script(env.persons.clone()));
    let summary = rematch_pending(&env.state.storage, &*env.state.registry, 100)
        .await
        .unwrap();
    assert_eq!(summary.matched, 2, "{summary:?}");
    assert_eq!(summary.stopped_by, None);
    for id in [id, id + 1] {
        let r = env.storage.get_dose_record(id).await.unwrap().unwrap();
        assert_eq!(r.status, RecordStatus::Verified);
        assert_eq!(r.outcome.as_deref(), Some("VERIFIED"));
    }
    assert!(
        env.storage
            .records_awaiting_match(0, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A retry of the first submission returns the stored outcome.
    let (status, body) = env.submit(record_for(&p), "k1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "verified");
    // The audit chain holds.
    env.storage.audit_verify().await.unwrap();
    env.storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_submission_rematches_a_received_record() {
    let pki = Pki::new();
    let persons: Vec<RegistryPerson> = generate_persons(20, 5)
        .filter(|p| p.id.as_cccd().is_some())
        .collect();
    let server = start_server(pki.server_config(None), |_, _| Reply::json(500, json!({}))).await;
    let mut c = config(&pki, &server);
    c.max_attempts = 1;
    let env = api(RemoteRegistry::new(c).unwrap(), persons).await;
    let p = env.persons[0].clone();
    let (status, body) = env.submit(record_for(&p), "same-key").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    server.set_script(registry_script(env.persons.clone()));
    let (status, body) = env.submit(record_for(&p), "same-key").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "verified");
}

/// A file import matches through the remote registry like `POST /dose-records` (issue 13: the
/// import went through an in-memory copy of the local table only): verified lines are stored
/// confirmed, a person the registry does not know is reported, and while the registry is down
/// every line is reported `REGISTRY_UNAVAILABLE` and nothing is stored — importing the same
/// file again afterwards stores each record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_import_matches_through_the_remote_registry() {
    use vaxpass_issuer::batch::import_records;
    use vaxpass_issuer::storage::Actor;

    let pki = Pki::new();
    let persons: Vec<RegistryPerson> = generate_persons(50, 5)
        .filter(|p| p.id.as_cccd().is_some())
        .take(3)
        .collect();
    let server = start_server(pki.server_config(None), |_, _| Reply::json(503, json!({}))).await;
    let mut c = config(&pki, &server);
    c.max_attempts = 1;
    c.breaker_failures = 100;
    let registry = RemoteRegistry::new(c).unwrap();
    // The local table stays empty: a match can only come from the remote registry.
    let env = api(registry.clone(), persons.clone()).await;
    let clinic = env
        .storage
        .create_clinic("Import clinic", 1, &common::test_actor())
        .await;
    let clinic = clinic.unwrap();
    let unknown = generate_persons(60, 99)
        .find(|p| p.id.as_cccd().is_some() && !persons.iter().any(|q| q.id == p.id))
        .unwrap();
    let mut file = String::new();
    for p in persons.iter().chain([&unknown]) {
        let mut line = record_for(p);
        line["clinic_id"] = json!(clinic);
        file.push_str(&line.to_string());
        file.push('\n');
    }
    let actor = Actor::System("import-test".into());

    let down = import_records(&env.storage, &registry, file.as_bytes(), &actor)
        .await
        .unwrap();
    assert_eq!(down.read, 4);
    assert_eq!(down.stored.inserted, 0);
    assert_eq!(down.rejected, 4);
    assert!(
        down.errors.iter().all(|e| e.code == REGISTRY_UNAVAILABLE),
        "{:?}",
        down.errors
    );
    for e in &down.errors {
        assert!(!e.message.contains(&unknown.full_name), "{e}");
    }

    server.set_script(registry_script(persons.clone()));
    let up = import_records(&env.storage, &registry, file.as_bytes(), &actor)
        .await
        .unwrap();
    assert_eq!(up.stored.inserted, 3, "{:?}", up.errors);
    assert_eq!(up.rejected, 1);
    assert_eq!(up.errors[0].line, 4);
    assert_eq!(up.errors[0].code, "NOT_FOUND");
    let again = import_records(&env.storage, &registry, file.as_bytes(), &actor)
        .await
        .unwrap();
    assert_eq!((again.stored.inserted, again.stored.existing), (0, 3));
}
