//! The issuer as a server on real loopback sockets: HTTPS through a real rustls client (TLS 1.3
//! and 1.2), plain HTTP, the trust list next to the API, admin endpoints, and a graceful
//! shutdown that lets a request in flight finish while refusing new connections.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vaxpass_issuer::server::{ServeError, Server, ServerConfig, TlsFiles};
use vaxpass_issuer::storage::{Actor, Role, Storage};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::trustlist::{TrustListPolicy, verify};

/// A data directory with development keys, a clinic, a staff and an admin token.
struct Data {
    dir: tempfile::TempDir,
    staff: String,
    admin: String,
}

async fn data() -> Data {
    let dir = tempfile::tempdir().unwrap();
    let start = Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() - 3600);
    dev_init(&dir.path().join("keys"), &DevOptions::new(start)).unwrap();
    let storage = Storage::open(&vaxpass_issuer::server::default_database_url(dir.path()))
        .await
        .unwrap();
    let actor = Actor::System("test".into());
    let clinic = storage.create_clinic("Clinic A", 79, &actor).await.unwrap();
    let (staff, _) = storage
        .create_staff_token(clinic, Role::Staff, &actor)
        .await
        .unwrap();
    let (admin, _) = storage
        .create_staff_token(clinic, Role::Admin, &actor)
        .await
        .unwrap();
    storage.close().await;
    Data {
        staff: staff.expose().to_owned(),
        admin: admin.expose().to_owned(),
        dir,
    }
}

fn config(data: &Path) -> ServerConfig {
    ServerConfig::new("127.0.0.1:0".parse().unwrap(), data.to_path_buf())
}

/// Starts the server; returns its address, the shutdown trigger and the serving task.
async fn start(
    config: ServerConfig,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<Result<(), ServeError>>,
) {
    let server = Server::start(config).await.unwrap();
    let addr = server.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

/// A response read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Reads one HTTP/1.1 response (status line, headers, `Content-Length` body) from `s`.
async fn read_answer<S: AsyncRead + Unpin>(s: &mut S) -> Answer {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed inside a response head: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    read_answer(s).await
}

fn tls_client(
    root: CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_tls13_and_tls12_serves_api_and_trust_list() {
    let data = data().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = data.dir.path().join("tls-cert.pem");
    let key_path = data.dir.path().join("tls-key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut config = config(data.dir.path());
    config.tls = Some(TlsFiles {
        certificate: cert_path,
        key: key_path,
    });
    let (addr, stop, task) = start(config).await;
    let root = cert.cert.der().clone();
    let name = ServerName::try_from("localhost").unwrap();

    for (versions, expected) in [
        (
            &[&rustls::version::TLS13][..],
            rustls::ProtocolVersion::TLSv1_3,
        ),
        (
            &[&rustls::version::TLS12][..],
            rustls::ProtocolVersion::TLSv1_2,
        ),
    ] {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = tls_client(root.clone(), versions)
            .connect(name.clone(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.protocol_version(), Some(expected));
        assert_eq!(tls.get_ref().1.alpn_protocol(), None);
        let health = request(&mut tls, "GET", "/healthz", None, None).await;
        assert_eq!(health.status, 200);
        assert_eq!(health.json(), json!({"status": "ok"}));
        // The same connection, kept alive: the trust list next to the API, signed and
        // verifiable against the development CSCA.
        let list = request(&mut tls, "GET", "/trust-list", None, None).await;
        assert_eq!(list.status, 200);
        assert_eq!(list.header("content-type"), Some("application/cose"));
        let csca = vaxpass_keys::storage::read_certificate(&data.dir.path().join("keys/csca.pem"))
            .unwrap()
            .0;
        let verified = verify(
            &list.body,
            &csca,
            Timestamp::now(),
            None,
            &TrustListPolicy::default(),
        )
        .unwrap();
        assert_eq!(verified.list().entries.len(), 1);
        let unauth = request(&mut tls, "GET", "/api/v1/certificates/x", None, None).await;
        assert_eq!(unauth.status, 401);
        assert_eq!(unauth.json()["code"], "UNAUTHENTICATED");
    }

    // A client that does not trust the server's certificate gets no answer.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let refused = tls_client(other.cert.der().clone(), &[&rustls::version::TLS13])
        .connect(name.clone(), tcp)
        .await;
    assert!(refused.is_err());
    // Plain HTTP to the TLS port is not served.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tcp.read_to_end(&mut buf).await;
    assert!(!buf.starts_with(b"HTTP/1.1 200"));

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_files_that_do_not_fit_are_refused_with_the_file_named() {
    let data = data().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = data.dir.path().join("tls-cert.pem");
    let key_path = data.dir.path().join("tls-key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, other.signing_key.serialize_pem()).unwrap();
    let mut config = config(data.dir.path());
    config.tls = Some(TlsFiles {
        certificate: cert_path.clone(),
        key: key_path.clone(),
    });
    let err = Server::start(config.clone()).await.unwrap_err();
    assert!(
        matches!(err, ServeError::Tls { ref path, .. } if path == &key_path),
        "{err}"
    );

    std::fs::write(&key_path, "not PEM").unwrap();
    let err = Server::start(config.clone()).await.unwrap_err();
    assert!(err.to_string().contains("tls-key.pem"), "{err}");
    std::fs::write(&cert_path, "").unwrap();
    let err = Server::start(config).await.unwrap_err();
    assert!(
        err.to_string().contains("tls-cert.pem") && err.to_string().contains("no CERTIFICATE"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_serves_and_admin_endpoints_need_an_admin_token() {
    let data = data().await;
    let (addr, stop, task) = start(config(data.dir.path())).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        request(&mut s, "GET", "/healthz", None, None).await.status,
        200
    );
    assert_eq!(
        request(&mut s, "GET", "/readyz", None, None).await.status,
        200
    );

    let clinic = json!({"name": "  Trạm Y tế Phường 1 ", "province": 1});
    let denied = request(
        &mut s,
        "POST",
        "/api/v1/admin/clinics",
        Some(&data.staff),
        Some(&clinic),
    )
    .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["code"], "FORBIDDEN");
    let anonymous = request(&mut s, "POST", "/api/v1/admin/clinics", None, Some(&clinic)).await;
    assert_eq!(anonymous.status, 401);

    let created = request(
        &mut s,
        "POST",
        "/api/v1/admin/clinics",
        Some(&data.admin),
        Some(&clinic),
    )
    .await;
    assert_eq!(created.status, 201);
    let body = created.json();
    assert_eq!(body["name"], "Trạm Y tế Phường 1");
    assert_eq!(body["province"], 1);
    let clinic_id = body["id"].as_i64().unwrap();

    for bad in [
        json!({"name": "", "province": 1}),
        json!({"name": "X", "province": 3}),
        json!({"name": "X"}),
    ] {
        let answer = request(
            &mut s,
            "POST",
            "/api/v1/admin/clinics",
            Some(&data.admin),
            Some(&bad),
        )
        .await;
        assert_eq!(answer.status, 422, "{bad}");
        assert_eq!(answer.json()["code"], "INVALID_REQUEST");
    }

    let path = format!("/api/v1/admin/clinics/{clinic_id}/tokens");
    let role = json!({"role": "staff"});
    assert_eq!(
        request(&mut s, "POST", &path, Some(&data.staff), Some(&role))
            .await
            .status,
        403
    );
    let token = request(&mut s, "POST", &path, Some(&data.admin), Some(&role)).await;
    assert_eq!(token.status, 201);
    assert_eq!(token.header("cache-control"), Some("no-store"));
    let token = token.json();
    assert_eq!(token["clinic_id"], clinic_id);
    assert_eq!(token["role"], "staff");
    let new_staff = token["token"].as_str().unwrap().to_owned();
    assert!(new_staff.starts_with("vxp_"));
    // The new token authenticates, as staff of the new clinic (not an admin).
    let as_new = request(&mut s, "POST", &path, Some(&new_staff), Some(&role)).await;
    assert_eq!(as_new.status, 403);
    let missing = request(
        &mut s,
        "POST",
        "/api/v1/admin/clinics/999999/tokens",
        Some(&data.admin),
        Some(&role),
    )
    .await;
    assert_eq!(missing.status, 404);
    let bad_role = request(
        &mut s,
        "POST",
        &path,
        Some(&data.admin),
        Some(&json!({"role": "root"})),
    )
    .await;
    assert_eq!(bad_role.status, 422);

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    // Both changes are in the audit log, with the admin token as actor.
    let storage = Storage::open(&vaxpass_issuer::server::default_database_url(
        data.dir.path(),
    ))
    .await
    .unwrap();
    let entries = storage.audit_entries(0, 100).await.unwrap();
    let by_api: Vec<_> = entries
        .iter()
        .filter(|e| e.actor.starts_with("staff:"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(by_api, ["clinic.create", "staff_token.create"]);
    storage.audit_verify().await.unwrap();
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_and_refuses_new_connections() {
    let data = data().await;
    let (addr, stop, task) = start(config(data.dir.path())).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The connection is being served (one request answered on it).
    assert_eq!(
        request(&mut s, "GET", "/healthz", None, None).await.status,
        200
    );

    // A dose record whose body is held back until the server has begun shutting down. The
    // `100 Continue` says that the handler runs and waits for the body.
    let body = json!({
        "id_number": "079185012345", "full_name": "Nguyễn Thị Lan", "date_of_birth": "1985-04-12",
        "sex": "F", "vaccine": {"mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007"},
        "dose_number": 1, "series_total": 2, "date": "2021-09-01"
    })
    .to_string();
    let head = format!(
        "POST /api/v1/dose-records HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        data.staff,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let cont = read_answer(&mut s).await;
    assert_eq!(cont.status, 100);

    stop.send(()).unwrap();
    // Shutdown has begun once new connections are refused (the listener is closed).
    let mut attempts = 0;
    while TcpStream::connect(addr).await.is_ok() {
        attempts += 1;
        assert!(attempts < 500, "the listener was never closed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !task.is_finished(),
        "the server stopped with a request in flight"
    );

    s.write_all(body.as_bytes()).await.unwrap();
    let answer = read_answer(&mut s).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.header("connection"), Some("close"));
    let record = answer.json();
    // Not in the (empty) registry.
    assert_eq!(record["status"], "not_found");
    task.await.unwrap().unwrap();

    // The record was committed before the server stopped and the database closed cleanly.
    let storage = Storage::open(&vaxpass_issuer::server::default_database_url(
        data.dir.path(),
    ))
    .await
    .unwrap();
    let stored = storage
        .get_dose_record(record["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status.to_string(), "not_found");
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_keys_are_reported_with_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = Server::start(config(dir.path())).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ServeError::Keys { .. }), "{text}");
    assert!(text.contains("keys"), "{text}");
}

/// A client that sends part of a request's headers and then nothing (slowloris) is
/// disconnected once the header read timeout passes; a complete request on another
/// connection is answered meanwhile. Without the timeout the connection would stay open and
/// the read below would hit its 20 s guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let data = data().await;
    let mut config = config(data.dir.path());
    config.header_read_timeout = std::time::Duration::from_secs(1);
    let (addr, stop, task) = start(config).await;

    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1")
        .await
        .unwrap();
    let mut ok = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        request(&mut ok, "GET", "/healthz", None, None).await.status,
        200
    );

    // The server closes the slow connection (possibly after a 408): read to its end.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut rest),
    )
    .await;
    assert!(
        read.is_ok(),
        "the half-sent request's connection was never closed"
    );
    let text = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || text.starts_with("HTTP/1.1 408"),
        "unexpected answer to a half-sent request: {text}"
    );

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
