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

/// Reads from `s` until the server closes the connection (EOF or reset), at most `guard`;
/// returns what was read, or `None` if the connection was still open after the guard.
async fn read_until_closed(s: &mut TcpStream, guard: std::time::Duration) -> Option<Vec<u8>> {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(guard, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| rest)
}

/// Issue 12, item 4: after the headers of a POST with `Content-Length: 100000`, a client that
/// sends the body a byte at a time kept the connection open indefinitely (no body timeout).
/// With a 1 s body read timeout the connection is closed; a complete request on another
/// connection is answered meanwhile. Without the timeout the trickle would keep the
/// connection open past the 20 s guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_body_is_cut_off() {
    let data = data().await;
    let mut config = config(data.dir.path());
    config.body_read_timeout = std::time::Duration::from_secs(1);
    let (addr, stop, task) = start(config).await;

    let slow = TcpStream::connect(addr).await.unwrap();
    let (mut read_half, mut write_half) = slow.into_split();
    write_half
        .write_all(
            b"POST /api/v1/lookup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        )
        .await
        .unwrap();
    // One byte every 200 ms, for at most 30 s, until the server closes.
    let trickle = tokio::spawn(async move {
        for _ in 0..150 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if write_half.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut ok = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        request(&mut ok, "GET", "/healthz", None, None).await.status,
        200
    );

    let mut rest = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        loop {
            match read_half.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the slow body's connection was never closed"
    );
    let text = String::from_utf8_lossy(&rest);
    assert!(
        rest.is_empty() || text.starts_with("HTTP/1.1 4"),
        "unexpected answer to a slow body: {text}"
    );
    trickle.abort();

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// A TCP connection to `addr` from the loopback address `from` (Linux routes all of
/// 127.0.0.0/8 to the loopback interface).
async fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Issue 12, item 4: there was no cap on connections per client address. With a cap of 2,
/// the third connection from 127.0.0.1 is closed at once (and counted), while a connection
/// from 127.0.0.2 is served; when one of the first two closes, 127.0.0.1 gets a slot again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped() {
    let data = data().await;
    let mut config = config(data.dir.path());
    config.max_connections_per_address = 2;
    let server = Server::start(config).await.unwrap();
    let addr = server.local_addr();
    let refused = server.refused_connections();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));

    let mut first = connect_from([127, 0, 0, 1], addr).await;
    let mut second = connect_from([127, 0, 0, 1], addr).await;
    for c in [&mut first, &mut second] {
        assert_eq!(request(c, "GET", "/healthz", None, None).await.status, 200);
    }
    let mut third = connect_from([127, 0, 0, 1], addr).await;
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let rest = read_until_closed(&mut third, std::time::Duration::from_secs(20))
        .await
        .expect("the third connection from one address was not closed");
    assert!(
        rest.is_empty(),
        "the connection over the cap was answered: {}",
        String::from_utf8_lossy(&rest)
    );
    assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 1);

    // Another address is served.
    let mut other = connect_from([127, 0, 0, 2], addr).await;
    assert_eq!(
        request(&mut other, "GET", "/healthz", None, None)
            .await
            .status,
        200
    );
    // The kept-alive connections are still served.
    assert_eq!(
        request(&mut first, "GET", "/healthz", None, None)
            .await
            .status,
        200
    );

    // One closes: a new one from 127.0.0.1 is served (once the server has seen the close).
    drop(second);
    let mut served = false;
    for _ in 0..100 {
        let mut again = connect_from([127, 0, 0, 1], addr).await;
        if again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .is_ok()
        {
            let mut buf = [0u8; 12];
            if again.read_exact(&mut buf).await.is_ok() {
                assert_eq!(&buf, b"HTTP/1.1 200");
                served = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(served, "no slot came back after a connection closed");

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Also a cap on connections in all: with a cap of 1, a second connection (from another
/// address) is closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_in_all_are_capped() {
    let data = data().await;
    let mut config = config(data.dir.path());
    config.max_connections = 1;
    let (addr, stop, task) = start(config).await;
    let mut first = connect_from([127, 0, 0, 1], addr).await;
    assert_eq!(
        request(&mut first, "GET", "/healthz", None, None)
            .await
            .status,
        200
    );
    let mut second = connect_from([127, 0, 0, 3], addr).await;
    let _ = second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let rest = read_until_closed(&mut second, std::time::Duration::from_secs(20))
        .await
        .expect("the connection over the global cap was not closed");
    assert!(rest.is_empty());
    drop(first);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

// --- The demo's files (the real binary) ---------------------------------------------------

/// Runs `serve --demo` on `data` with standard output a pipe (not a terminal) until its setup
/// is printed; returns the child (still serving) and its standard output.
fn demo(data: &Path) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vaxpass-issuer"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("VAXPASS_KEYS")
        .env_remove("VAXPASS_DATA_DIR")
        .env_remove("VAXPASS_LISTEN")
        .env("VAXPASS_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(std::time::Duration::from_secs(300)) {
            Ok(line) => {
                let done = line == "stop with Ctrl-C";
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("serve --demo did not finish ({e}):\n{}", lines.join("\n"));
            }
        }
    }
    (child, lines.join("\n"))
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Issue 12, item 10: `issuer.db` (+ `-wal`, `-shm`) and `registry.csv` were 0644 in a 0755
/// data directory. Now the directory is 0700 and the files 0600, whatever the umask (the test
/// runs with the usual 022); `registry generate --out` writes 0600 too.
#[test]
fn data_dir_and_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (mut child, _) = demo(&data);
    // While serving: the WAL files exist.
    let checks = [
        (data.clone(), 0o700),
        (data.join("issuer.db"), 0o600),
        (data.join("issuer.db-wal"), 0o600),
        (data.join("issuer.db-shm"), 0o600),
        (data.join("registry.csv"), 0o600),
    ];
    let found: Vec<(String, u32)> = checks
        .iter()
        .map(|(p, _)| (p.display().to_string(), mode(p)))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    for ((path, want), (_, got)) in checks.iter().zip(&found) {
        assert_eq!(*got, *want, "{}: {got:04o}", path.display());
    }

    // A directory and files made by an older version with the umask's modes are tightened.
    use std::os::unix::fs::PermissionsExt as _;
    for (path, _) in &checks {
        std::fs::set_permissions(
            path,
            std::fs::Permissions::from_mode(if path.is_dir() { 0o755 } else { 0o644 }),
        )
        .unwrap();
    }
    let (mut child, _) = demo(&data);
    let found: Vec<u32> = checks.iter().map(|(p, _)| mode(p)).collect();
    let _ = child.kill();
    let _ = child.wait();
    for ((path, want), got) in checks.iter().zip(&found) {
        assert_eq!(*got, *want, "again: {}: {got:04o}", path.display());
    }

    let csv = tmp.path().join("generated.csv");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vaxpass-issuer"))
        .args(["registry", "generate", "--count", "10", "--out"])
        .arg(&csv)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(mode(&csv), 0o600);
}

/// Issue 12, item 10: the demo banner printed the tokens and a registry person into whatever
/// standard output was (a 0644 log). Now the tokens are kept in a 0600 file of the data
/// directory, the example person in another; with standard output not a terminal neither is
/// printed, only where they are; the printed `curl` commands read them from there.
#[test]
fn demo_tokens_go_to_a_private_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (mut child, out) = demo(&data);
    let tokens_file = data.join("demo-tokens.env");
    let example_file = data.join("demo-example.json");
    let tokens = std::fs::read_to_string(&tokens_file).unwrap();
    let example = std::fs::read_to_string(&example_file).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(mode(&tokens_file), 0o600);
    assert_eq!(mode(&example_file), 0o600);

    let staff = tokens
        .lines()
        .find_map(|l| l.strip_prefix("export VAXPASS_TOKEN="))
        .expect("a staff token line");
    let admin = tokens
        .lines()
        .find_map(|l| l.strip_prefix("export VAXPASS_ADMIN_TOKEN="))
        .expect("an admin token line");
    assert!(staff.len() >= 20 && admin.len() >= 20, "{tokens}");
    assert!(!out.contains(staff) && !out.contains(admin), "{out}");
    // The web console's sign-in: in the file, not in the output, which says where it is.
    let web_password = tokens
        .lines()
        .find_map(|l| l.strip_prefix("export VAXPASS_WEB_PASSWORD="))
        .expect("a web password line");
    assert!(web_password.len() >= 16, "{tokens}");
    assert!(!out.contains(web_password), "{out}");
    assert!(out.contains("/clinic"), "the console's URL: {out}");
    assert!(!out.contains("export VAXPASS_TOKEN="), "{out}");
    // The example person's details stay out of the output.
    let person: Value = serde_json::from_str(&example).unwrap();
    for field in ["id_number", "full_name", "date_of_birth"] {
        let v = person[field].as_str().unwrap();
        assert!(!out.contains(v), "{field} printed:\n{out}");
    }
    // Where they are, and commands that use them.
    assert!(
        out.contains(&format!(". '{}'", tokens_file.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("-d @'{}'", example_file.display())),
        "{out}"
    );
    assert!(out.contains("Bearer $VAXPASS_TOKEN"), "{out}");
}
