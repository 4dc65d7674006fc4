//! A real `vaxpass-issuer serve --demo` child process and a minimal HTTP/1.1 client, for the
//! cross-crate tests that drive the service over TCP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// The `vaxpass-issuer` binary next to this test's executable (built by `cargo test
/// --workspace`), as `common::vaxpass_verify` finds `vaxpass-verify`.
pub fn vaxpass_issuer() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let bin = dir.join(format!("vaxpass-issuer{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

pub fn binaries() -> Option<(PathBuf, PathBuf)> {
    match (vaxpass_issuer(), super::vaxpass_verify()) {
        (Some(issuer), Some(verify)) => Some((issuer, verify)),
        _ => {
            println!(
                "SKIPPED: the vaxpass-issuer and vaxpass-verify binaries are not built; run \
                 `cargo test --workspace --all-features` (or build them first)"
            );
            None
        }
    }
}

/// A running `serve --demo` child, its stdout lines and its stderr.
pub struct Issuer {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub admin_token: String,
    pub stdout: Vec<String>,
    pub stderr: Arc<Mutex<String>>,
}

impl Issuer {
    pub fn start(bin: &Path, data: &Path, database: Option<&str>) -> Issuer {
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env_remove("DATABASE_URL")
            .env_remove("VAXPASS_LISTEN")
            .env_remove("VAXPASS_DATA_DIR")
            .env_remove("VAXPASS_KEYS")
            .env_remove("VAXPASS_TLS_CERT")
            .env_remove("VAXPASS_TLS_KEY")
            .env_remove("VAXPASS_KEY_PASSPHRASE")
            .env("VAXPASS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = database {
            cmd.args(["--database", url]);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut pipe = child.stderr.take().unwrap();
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(300)) {
                Ok(line) => {
                    let done = line == "stop with Ctrl-C";
                    stdout.push(line);
                    if done {
                        break;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!(
                        "serve --demo did not finish its setup ({e}):\n{}\n{}",
                        stdout.join("\n"),
                        stderr.lock().unwrap()
                    );
                }
            }
        }
        let find = |prefix: &str| {
            stdout
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{}", stdout.join("\n")))
                .trim()
                .to_owned()
        };
        // Standard output is a pipe, not a terminal: the tokens are only in the demo's 0600
        // file, whose `. FILE` line is printed.
        let tokens_file = data.join("demo-tokens.env");
        assert!(
            stdout
                .iter()
                .any(|l| l.contains(&tokens_file.display().to_string())),
            "the tokens file is not named in:\n{}",
            stdout.join("\n")
        );
        let tokens = std::fs::read_to_string(&tokens_file).unwrap();
        let token = |prefix: &str| {
            tokens
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no `{prefix}` line in {}", tokens_file.display()))
                .trim()
                .to_owned()
        };
        Issuer {
            base: find("listening on "),
            token: token("export VAXPASS_TOKEN="),
            admin_token: token("export VAXPASS_ADMIN_TOKEN="),
            child,
            stdout,
            stderr,
        }
    }

    pub fn addr(&self) -> &str {
        self.base.strip_prefix("http://").unwrap()
    }

    /// One request on a fresh connection (`Connection: close`).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        http(self.addr(), method, path, token, body)
    }

    /// SIGKILL (`kill -9`): no shutdown of any kind; then reaps the process.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status (at most 60 s).
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..600 {
            if let Some(exit) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100)); // let the stderr reader finish
                let log = self.stderr.lock().unwrap().clone();
                return (exit, log);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("no exit 60 s after SIGTERM");
    }
}

pub struct Answer {
    pub status: u16,
    /// The status line and header lines.
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A minimal HTTP/1.1 client over a real TCP connection; panics on I/O errors.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    try_http(addr, method, path, token, body, &[]).unwrap()
}

/// [`http`] with extra header lines (`("Idempotency-Key", "k1")`), returning I/O errors (a
/// server killed mid-request) instead of panicking.
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}{extra}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no response head")
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad status line"))?;
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "chunked answers are not expected: {head}"
    );
    Ok(Answer {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    })
}

/// `#` and other reserved characters of a UVCI, percent-encoded for a path segment.
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs one SQL statement on the PostgreSQL server `server` (CREATE/DROP DATABASE).
pub fn pg_exec(server: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(pg(server, sql));
}

async fn pg(server: &str, sql: &str) {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(server).await.unwrap();
    admin.execute(sql).await.unwrap();
    admin.close().await;
}

/// `url` with its database name replaced (the query string kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{db}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Thirty days ago, `YYYY-MM-DD`: a dose date recent enough for Viet Nam's rules.
pub fn recent_date() -> String {
    vaxpass_verifier::Timestamp::from_unix_seconds(
        vaxpass_verifier::Timestamp::now().unix_seconds() - 30 * 86_400,
    )
    .to_string()[..10]
        .to_owned()
}

/// Runs `f` with the URL of a fresh PostgreSQL database on the server named by
/// `VAXPASS_TEST_POSTGRES_URL` (`<prefix>_<time>_<pid>`), dropped afterwards even when `f`
/// panics; says SKIPPED and returns when the variable is unset.
pub fn on_fresh_postgres(prefix: &str, f: impl FnOnce(&str) + std::panic::UnwindSafe) {
    let Ok(server) = std::env::var("VAXPASS_TEST_POSTGRES_URL") else {
        println!("SKIPPED (PostgreSQL): VAXPASS_TEST_POSTGRES_URL not set");
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("{prefix}_{nanos:x}_{}", std::process::id());
    pg_exec(&server, &format!("CREATE DATABASE {name}"));
    let url = with_database(&server, &name);
    let result = std::panic::catch_unwind(|| f(&url));
    pg_exec(
        &server,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// What one phase's clients saw: request index → the answer's JSON, for acknowledged ones.
pub type Acks = Arc<Mutex<HashMap<usize, Value>>>;

/// Runs `work(i)` for `0..n` on `clients` threads until the server stops answering; kills
/// the server (SIGKILL) once `kill_after` requests were acknowledged. Returns the
/// acknowledged answers.
pub fn run_until_killed(
    issuer: Issuer,
    n: usize,
    clients: usize,
    kill_after: usize,
    work: impl Fn(&str, usize) -> Option<Value> + Send + Sync + 'static,
) -> HashMap<usize, Value> {
    let acks: Acks = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let work = Arc::new(work);
    let addr = issuer.addr().to_owned();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (acks, next, down, work, addr) = (
                Arc::clone(&acks),
                Arc::clone(&next),
                Arc::clone(&down),
                Arc::clone(&work),
                addr.clone(),
            );
            std::thread::spawn(move || {
                while !down.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        return;
                    }
                    match work(&addr, i) {
                        Some(answer) => {
                            acks.lock().unwrap().insert(i, answer);
                        }
                        // No answer: the server is gone (or going); this request's fate is
                        // unknown to the client, as for a real clinic.
                        None => {
                            down.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // Wait for progress, then kill with requests in flight.
    loop {
        let acked = acks.lock().unwrap().len();
        if acked >= kill_after || threads.iter().all(|t| t.is_finished()) {
            break;
        }
        std::thread::yield_now();
    }
    issuer.kill9();
    for t in threads {
        t.join().unwrap();
    }
    let acks = acks.lock().unwrap().clone();
    assert!(
        acks.len() >= kill_after && acks.len() < n,
        "the kill must fall inside the phase: {} of {n} acknowledged",
        acks.len()
    );
    acks
}
