//! Shared by the replica and fault tests: `vaxpass-issuer serve` as a child process on a data
//! directory of development keys, a plain HTTP/1.1 client (one connection a request, so that a
//! killed replica leaves nothing half-read behind), and the load loop of submit + confirm.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vaxpass_issuer::api::records::{SubmitRequest, VaccineIn};
use vaxpass_issuer::dates::Date;
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::registry_csv::generate_persons;
use vaxpass_issuer::storage::{Actor, Role, Storage};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_verifier::Timestamp;

pub const BIN: &str = env!("CARGO_BIN_EXE_vaxpass-issuer");

/// A data directory (development keys in `keys/`) and a database holding a registry, a
/// clinic and a staff token.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub token: String,
    pub persons: Vec<RegistryPerson>,
}

/// Keys in a fresh data directory; `persons` registry persons, a clinic and a staff token in
/// the database at `url`.
pub async fn setup(url: &str, persons: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let start = Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() - 3600);
    dev_init(&dir.path().join("keys"), &DevOptions::new(start)).unwrap();
    let storage = Storage::open(url).await.unwrap();
    let actor = Actor::System("test".into());
    let people: Vec<RegistryPerson> = generate_persons(persons, 7).collect();
    storage
        .import_registry(people.iter().cloned(), 500, &actor)
        .await
        .unwrap();
    let clinic = storage.create_clinic("Clinic A", 79, &actor).await.unwrap();
    let (token, _) = storage
        .create_staff_token(clinic, Role::Staff, &actor)
        .await
        .unwrap();
    storage.close().await;
    Setup {
        url: url.to_owned(),
        token: token.expose().to_owned(),
        persons: people,
        dir,
    }
}

/// A `serve` child process.
pub struct Replica {
    pub child: Child,
    pub addr: SocketAddr,
    /// Standard error, collected (the log).
    pub log: PathBuf,
}

impl Replica {
    /// Kills the process at once (SIGKILL: nothing is flushed or drained).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The `serve` command of a replica on `data` and `url` (plain HTTP on a free port), with
/// `extra` arguments.
pub fn serve_command(data: &Path, url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--insecure-plain-http", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .arg("--database")
        .arg(url)
        .args([
            "--lookup-min-answer-ms",
            "0",
            "--lookup-answer-jitter-ms",
            "0",
        ])
        .args(extra)
        .env_remove("DATABASE_URL")
        .env("VAXPASS_LOG", "warn");
    cmd
}

/// Starts a replica and waits (at most `wait`) for its `listening on` line.
pub fn start_replica(data: &Path, url: &str, extra: &[&str], wait: Duration) -> Replica {
    let log = data.join(format!(
        "serve-{:x}.log",
        rand_core::RngCore::next_u64(&mut rand_core::OsRng)
    ));
    let mut child = serve_command(data, url, extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("listening on http://") {
                let _ = tx.send(rest.trim().parse::<SocketAddr>().unwrap());
            }
        }
    });
    match rx.recv_timeout(wait) {
        Ok(addr) => Replica { child, addr, log },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the replica did not start within {wait:?}; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`): the status and the JSON
/// body (`Null` when it is not JSON), or an error when the connection fails.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> std::io::Result<(u16, Value)> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))??;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or_default();
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "read"))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no head"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "status"))?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// A dose record for `p` (verified against the registry), as JSON.
pub fn record_body(p: &RegistryPerson, dose: u32) -> Vec<u8> {
    let date = Date::parse(
        &Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() - 30 * 86_400).to_string()
            [..10],
    )
    .unwrap();
    serde_json::to_vec(&SubmitRequest::for_person(
        p,
        VaccineIn::comirnaty(),
        dose,
        3,
        date,
    ))
    .unwrap()
}

/// Submit + confirm: the UVCI when the service acknowledged a certificate (200 with a UVCI),
/// otherwise the status seen (0: the connection failed).
pub async fn issue_one(
    addr: SocketAddr,
    token: &str,
    p: &RegistryPerson,
    dose: u32,
) -> Result<String, u16> {
    let (status, v) = request(
        addr,
        "POST",
        "/api/v1/dose-records",
        Some(token),
        Some(&record_body(p, dose)),
    )
    .await
    .map_err(|_| 0u16)?;
    if status != 201 {
        return Err(status);
    }
    let id = v["id"].as_i64().ok_or(status)?;
    let (status, v) = request(
        addr,
        "POST",
        &format!("/api/v1/dose-records/{id}/confirm"),
        Some(token),
        None,
    )
    .await
    .map_err(|_| 0u16)?;
    match (status, v["uvci"].as_str()) {
        (200, Some(uvci)) => Ok(uvci.to_owned()),
        _ => Err(status),
    }
}

/// What a load run saw: the acknowledged UVCIs and the failures by status.
#[derive(Debug, Default)]
pub struct Load {
    pub uvcis: Vec<String>,
    pub failures: std::collections::BTreeMap<u16, u64>,
}

/// `users` clients, each issuing certificates in a loop on the replica `targets()` gives it
/// for each attempt, until `stop`.
pub async fn run_load(
    targets: Arc<dyn Fn(usize, u64) -> SocketAddr + Send + Sync>,
    token: String,
    persons: Arc<Vec<RegistryPerson>>,
    users: usize,
    stop: Arc<AtomicBool>,
) -> Load {
    let mut tasks = Vec::new();
    for u in 0..users {
        let (targets, token, persons, stop) = (
            targets.clone(),
            token.clone(),
            persons.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut load = Load::default();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let p = &persons[(u * 7919 + n as usize * 31) % persons.len()];
                match issue_one(targets(u, n), &token, p, 1 + (n % 3) as u32).await {
                    Ok(uvci) => load.uvcis.push(uvci),
                    Err(status) => {
                        *load.failures.entry(status).or_default() += 1;
                        if status == 0 {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }
            load
        }));
    }
    let mut all = Load::default();
    for t in tasks {
        let l = t.await.unwrap();
        all.uvcis.extend(l.uvcis);
        for (k, v) in l.failures {
            *all.failures.entry(k).or_default() += v;
        }
    }
    all
}

/// Runs `vaxpass-issuer` with `args`: the exit code and both outputs.
pub fn run_bin(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `vaxpass-issuer audit verify --database url`: the exit code and the output.
pub fn audit_verify(url: &str) -> (i32, String) {
    run_bin(&["audit", "verify", "--database", url])
}
