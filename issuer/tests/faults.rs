//! Faults, each a test (issue 18, item 2):
//!
//! - PostgreSQL cut off while serving (every connection dropped and new ones refused, as in a
//!   restart or a failover, through a TCP proxy of the test in front of the real server):
//!   requests fail with 503 instead of hanging, `/readyz` says 503, the service recovers by
//!   itself when the server is back, and nothing acknowledged is lost;
//! - the database unreachable at start: `serve` retries with a growing pause and then serves;
//!   with `--database-wait 0`, a clear error and exit code 2;
//! - a damaged SQLite file: a clear error at open (`serve`, `audit verify`), never a panic;
//! - the clock stepping back (and a second process whose clock is an hour behind): no
//!   certificate with `exp ≤ iat`, no audit entry earlier than the one before it;
//! - the disk full during a batch (SQLite on a small tmpfs; root only, else `SKIPPED`): the
//!   batch stops with a clear error, committed batches are whole, and the next run issues
//!   exactly the rest.
//!
//! The PostgreSQL tests print `SKIPPED (PostgreSQL)` without `VAXPASS_TEST_POSTGRES_URL`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/tests/common/mod.rs"]
mod common;
mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use vaxpass_issuer::storage::Storage;

use support::{audit_verify, issue_one, request, setup, start_replica};

/// A TCP proxy to the PostgreSQL server: `cut()` drops every connection and refuses new ones
/// (accepted and closed at once) until `restore()`.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    cut_now: Arc<Notify>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let cut_now = Arc::new(Notify::new());
        let (c, n) = (cut.clone(), cut_now.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let n = n.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::io::copy(&mut cr, &mut sw);
                    let down = tokio::io::copy(&mut sr, &mut cw);
                    // Ends when either side closes, or at the cut (both sockets dropped).
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        () = n.notified() => {}
                    }
                });
            }
        });
        Proxy { addr, cut, cut_now }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cut_now.notify_waiters();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn url(&self, url: &str) -> String {
        let scheme_end = url.find("://").unwrap() + 3;
        let rest = &url[scheme_end..];
        let auth_end = rest.find('/').unwrap_or(rest.len());
        let (user, _) = match rest[..auth_end].rfind('@') {
            Some(at) => (&rest[..=at], &rest[at + 1..auth_end]),
            None => ("", &rest[..auth_end]),
        };
        format!(
            "{}{user}{}{}",
            &url[..scheme_end],
            self.addr,
            &rest[auth_end..]
        )
    }
}

/// The host and port of a `postgres://` URL.
fn upstream(url: &str) -> SocketAddr {
    let rest = &url[url.find("://").unwrap() + 3..];
    let auth = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host = auth.rsplit('@').next().unwrap();
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&host.replace("localhost", "127.0.0.1"))
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_while_serving_fails_fast_and_recovers() {
    let Some(db) = common::pg_database("vaxpass_fault_cut").await else {
        return;
    };
    let s = setup(&db.url, 200).await;
    let proxy = Proxy::start(upstream(&db.url)).await;
    let replica = start_replica(
        s.dir.path(),
        &proxy.url(&db.url),
        &[],
        Duration::from_secs(60),
    );
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        acknowledged.push(
            issue_one(replica.addr, &s.token, &s.persons[i], 1)
                .await
                .unwrap(),
        );
    }

    proxy.cut();
    let started = Instant::now();
    let mut statuses = Vec::new();
    for i in 10..14 {
        statuses.push(issue_one(replica.addr, &s.token, &s.persons[i], 1).await);
    }
    let (ready, _) = request(replica.addr, "GET", "/readyz", None, None)
        .await
        .unwrap();
    println!(
        "while cut: {statuses:?}, /readyz {ready}, in {:?} for 5 requests",
        started.elapsed()
    );
    // Answered (no hang, no dropped connection), with 503 UNAVAILABLE.
    assert!(
        statuses.iter().all(|s| *s == Err(503)),
        "requests while the database is cut: {statuses:?}"
    );
    assert_eq!(ready, 503);

    proxy.restore();
    // It comes back by itself: no restart of the replica.
    let back = Instant::now();
    let uvci = loop {
        match issue_one(replica.addr, &s.token, &s.persons[20], 1).await {
            Ok(uvci) => break uvci,
            Err(status) => {
                assert!(
                    back.elapsed() < Duration::from_secs(60),
                    "not recovered after a minute: {status}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    println!("recovered after {:?}", back.elapsed());
    acknowledged.push(uvci);
    let (ready, _) = request(replica.addr, "GET", "/readyz", None, None)
        .await
        .unwrap();
    assert_eq!(ready, 200);
    drop(replica);

    let storage = Storage::open(&db.url).await.unwrap();
    for uvci in &acknowledged {
        assert!(
            storage.get_certificate(uvci).await.unwrap().is_some(),
            "acknowledged {uvci} is not stored"
        );
    }
    storage.close().await;
    let (code, out) = audit_verify(&db.url);
    assert_eq!(code, 0, "{out}");
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_unreachable_at_start_is_retried_then_served() {
    let Some(db) = common::pg_database("vaxpass_fault_start").await else {
        return;
    };
    let s = setup(&db.url, 20).await;
    let proxy = Proxy::start(upstream(&db.url)).await;
    proxy.cut();
    let log = s.dir.path().join("serve.log");
    let mut child = support::serve_command(
        s.dir.path(),
        &proxy.url(&db.url),
        &["--database-wait", "60"],
    )
    .env("VAXPASS_LOG", "info")
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    // It keeps trying while the database is away …
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(child.try_wait().unwrap().is_none(), "serve gave up at once");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("the database cannot be reached; trying again"),
        "{text}"
    );
    // … and serves once it is back.
    proxy.restore();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead as _;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("listening on "))
    })
    .await
    .unwrap()
    .expect("serve never listened");
    let addr: SocketAddr = line["listening on http://".len()..].trim().parse().unwrap();
    issue_one(addr, &s.token, &s.persons[0], 1).await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    db.drop().await;
}

#[test]
fn database_unreachable_at_start_without_waiting_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let start = vaxpass_verifier::Timestamp::from_unix_seconds(
        vaxpass_verifier::Timestamp::now().unix_seconds() - 3600,
    );
    vaxpass_keys::dev::dev_init(
        &dir.path().join("keys"),
        &vaxpass_keys::dev::DevOptions::new(start),
    )
    .unwrap();
    // Port 1 on loopback: nothing listens there.
    let out = support::serve_command(
        dir.path(),
        "postgres://vaxpass@127.0.0.1:1/vaxpass",
        &["--database-wait", "0"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: database: the database is unavailable ("),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Overwrites `len` bytes of `file` at `offset` with a pattern.
fn damage(file: &std::path::Path, offset: u64, len: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&vec![0xa5; len]).unwrap();
}

/// A SQLite database with a few certificates, closed.
async fn sqlite_with_certificates() -> (support::Setup, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("issuer.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let s = setup(&url, 500).await;
    let replica = start_replica(s.dir.path(), &url, &[], Duration::from_secs(60));
    for i in 0..20 {
        issue_one(replica.addr, &s.token, &s.persons[i], 1)
            .await
            .unwrap();
    }
    drop(replica);
    // The temporary directory of the file moves with the setup (kept alive by the caller).
    std::mem::forget(dir);
    (s, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_sqlite_file_is_a_clear_error_not_a_panic() {
    let (s, file) = sqlite_with_certificates().await;
    let url = format!("sqlite://{}?mode=rwc", file.display());
    // Every page but the first (the schema's root) overwritten: the tables' pages are damaged.
    let len = std::fs::metadata(&file).unwrap().len();
    let _ = std::fs::remove_file(file.with_extension("db-wal"));
    let _ = std::fs::remove_file(file.with_extension("db-shm"));
    damage(&file, 4096, usize::try_from(len - 4096).unwrap());
    let (code, out) = audit_verify(&url);
    println!("audit verify on a damaged file: exit {code}: {out}");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("damaged"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    // The schema page itself: `serve` refuses to start, saying why.
    damage(&file, 100, 3996);
    let out = support::serve_command(s.dir.path(), &url, &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("serve on a damaged file: {stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Submits and confirms one record through `app`: the certificate's UVCI.
async fn issue_in_process(
    app: &axum::Router,
    token: &str,
    p: &vaxpass_issuer::matching::RegistryPerson,
) -> String {
    let (status, _, body) = common::call(
        app,
        "POST",
        "/api/v1/dose-records",
        Some(token),
        Some(common::record_for(p)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, _, body) = common::call(
        app,
        "POST",
        &format!("/api/v1/dose-records/{id}/confirm"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["uvci"].as_str().unwrap().to_owned()
}

async fn clock_steps_back_on(url: &str) {
    let now = vaxpass_verifier::Timestamp::now().unix_seconds();
    let (keys, signer) = common::dev_signer(now - 30 * 86_400, now);
    let storage = Storage::open(url).await.unwrap();
    let persons = common::import_persons(&storage, 30, 5).await;
    let clinic = storage
        .create_clinic("Clinic A", 79, &common::test_actor())
        .await
        .unwrap();
    let token = common::staff_token(&storage, clinic, vaxpass_issuer::storage::Role::Staff).await;
    // Process A's clock, which steps back; process B's, an hour behind all along.
    let a_time = Arc::new(AtomicI64::new(now));
    let t = a_time.clone();
    let app_a = vaxpass_issuer::api::app(
        vaxpass_issuer::api::AppState::new(storage.clone(), signer.clone(), Default::default())
            .unwrap()
            .with_clock(move || t.load(Ordering::SeqCst)),
    );
    let other = Storage::open(url).await.unwrap();
    let app_b = vaxpass_issuer::api::app(
        vaxpass_issuer::api::AppState::new(other.clone(), signer, Default::default())
            .unwrap()
            .with_clock(move || now - 3_600),
    );
    let mut uvcis = Vec::new();
    for (i, p) in persons.iter().enumerate().take(12) {
        if i == 4 {
            // The system time of A is set back two hours.
            a_time.store(now - 7_200, Ordering::SeqCst);
        }
        let app = if i % 3 == 2 { &app_b } else { &app_a };
        uvcis.push(issue_in_process(app, &token, p).await);
    }
    // Every certificate is valid for some time.
    for uvci in &uvcis {
        let c = storage.get_certificate(uvci).await.unwrap().unwrap();
        assert!(c.exp > c.iat, "{uvci}: exp {} ≤ iat {}", c.exp, c.iat);
    }
    // The audit log never goes back in time along the chain.
    let mut after = 0;
    let mut last_at = i64::MIN;
    let mut entries = 0u64;
    loop {
        let page = storage.audit_entries(after, 1_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        for e in &page {
            assert!(
                e.at >= last_at,
                "audit entry {} at {} is before the one before it ({last_at})",
                e.seq,
                e.at
            );
            last_at = e.at;
            after = e.seq;
            entries += 1;
        }
    }
    assert!(entries > 24, "{entries} audit entries");
    // The stamps held at the latest time seen: A's first entries were at `now`.
    assert!(last_at >= now, "{last_at} < {now}");
    assert_eq!(storage.audit_verify().await.unwrap().entries, entries);
    storage.close().await;
    other.close().await;
    drop(keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_stepping_back_keeps_the_audit_log_in_order_sqlite() {
    let (url, _dir) = common::sqlite_url();
    clock_steps_back_on(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_stepping_back_keeps_the_audit_log_in_order_postgres() {
    let Some(db) = common::pg_database("vaxpass_fault_clock").await else {
        return;
    };
    clock_steps_back_on(&db.url).await;
    db.drop().await;
}

/// A tmpfs of a given size mounted on a temporary directory (root only), unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` when tmpfs cannot be mounted here (not root, or no permission in a container).
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    fn grow(&self, bytes: u64) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_during_a_batch_stops_cleanly_and_resumes() {
    const N: u64 = 3_000;
    let work = tempfile::tempdir().unwrap();
    let seeded = format!(
        "sqlite://{}?mode=rwc",
        work.path().join("seeded.db").display()
    );
    let (code, out) = support::run_bin(&[
        "batch",
        "seed",
        "--count",
        "3000",
        "--seed",
        "3",
        "--database",
        &seeded,
    ]);
    assert_eq!(code, 0, "{out}");
    // One file, no WAL: the size the database really needs.
    let clean = work.path().join("clean.db");
    let (code, out) = support::run_bin(&[
        "backup",
        "--database",
        &seeded,
        "--out",
        clean.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let size = std::fs::metadata(&clean).unwrap().len();
    // Room for the database and ~600 KiB more: a few hundred certificates.
    let Some(disk) = SmallDisk::mount(size + 600 * 1024) else {
        println!("SKIPPED (disk full): cannot mount a tmpfs here (needs root)");
        return;
    };
    let file = disk.dir.path().join("issuer.db");
    std::fs::copy(&clean, &file).unwrap();
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let keys = work.path().join("keys");
    let start = vaxpass_verifier::Timestamp::from_unix_seconds(
        vaxpass_verifier::Timestamp::now().unix_seconds() - 3600,
    );
    vaxpass_keys::dev::dev_init(&keys, &vaxpass_keys::dev::DevOptions::new(start)).unwrap();
    let issue = || {
        support::run_bin(&[
            "batch",
            "issue",
            "--pending",
            "--database",
            &url,
            "--keys",
            keys.to_str().unwrap(),
            "--batch-size",
            "100",
            "--progress",
            "none",
        ])
    };
    let (code, out) = issue();
    println!("batch on a full disk: exit {code}: {out}");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("full"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    let storage = Storage::open(&url).await;
    // Opening may itself need room (the WAL): read what was committed once there is room.
    drop(storage);
    disk.grow(256 * 1024 * 1024);
    let storage = Storage::open(&url).await.unwrap();
    let before = storage.certificate_count().await.unwrap();
    assert!(before < N, "the disk did not fill: {before} certificates");
    // Committed batches are whole.
    assert_eq!(storage.confirmed_count().await.unwrap(), N - before);
    storage.close().await;

    let (code, out) = issue();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("issued {} certificates", N - before)),
        "{out}"
    );
    let storage = Storage::open(&url).await.unwrap();
    assert_eq!(storage.certificate_count().await.unwrap(), N);
    assert_eq!(storage.confirmed_count().await.unwrap(), 0);
    storage.close().await;
    let (code, out) = audit_verify(&url);
    assert_eq!(code, 0, "{out}");
}
