//! `vaxpass-loadgen`: a load generator for the issuer's HTTP API. Each virtual user holds one
//! HTTP/1.1 keep-alive connection and loops: submit a dose record for a random registry person
//! (correct identity, so it is verified) → confirm it → one certificate.
//!
//! - `--in-process`: starts the service itself on 127.0.0.1 (a temporary SQLite database, a
//!   synthetic registry, development keys, one clinic and token), by default twice, once per
//!   commit mode (one transaction per write, then group commit), and reports both side by side;
//!   at the end of each run it verifies the audit chain and compares the certificates stored
//!   with those the clients were given (no loss, no duplicate UVCI).
//! - `--url http://HOST:PORT --token TOKEN --registry CSV`: drives a running service whose
//!   registry was imported from that CSV.
//!
//! Reports certificates/s, the submit and confirm latency percentiles, and errors by code.

/// The same allocator as `vaxpass-issuer` (the in-process service runs in this process).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use vaxpass_issuer::api::records::{SubmitRequest, VaccineIn};
use vaxpass_issuer::api::{AppState, Config, app};
use vaxpass_issuer::dates::Date;
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::registry_csv::{generate_persons, read_registry};
use vaxpass_issuer::storage::{Actor, CommitMode, Role, Storage};
use vaxpass_keys::CertificateType;
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{Manifest, Secrets};
use vaxpass_verifier::Timestamp;

/// Load generator for the vaxpass issuer API (submit + confirm).
#[derive(Debug, Parser)]
#[command(name = "vaxpass-loadgen", version)]
struct Args {
    /// Start the service in this process (temporary SQLite database, synthetic registry,
    /// development keys) instead of driving `--url`.
    #[arg(long, conflicts_with_all = ["url", "token", "registry"])]
    in_process: bool,
    /// Base URL of a running service, e.g. `http://127.0.0.1:8080`.
    #[arg(long, required_unless_present = "in_process", requires_all = ["token", "registry"])]
    url: Option<String>,
    /// A staff token of the running service.
    #[arg(long, env = "VAXPASS_LOADGEN_TOKEN")]
    token: Option<String>,
    /// The registry CSV the running service imported: submitted identities are drawn from it.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Concurrent connections (virtual users).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds per run (ignored with `--count`).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many certificates instead of after `--duration`.
    #[arg(long)]
    count: Option<u64>,
    /// Seconds of load before measuring (not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// In-process: which commit modes to run (`both`: per-operation first, then grouped).
    #[arg(long, value_enum, default_value_t = Commit::Both)]
    commit: Commit,
    /// In-process: persons in the synthetic registry.
    #[arg(long, default_value_t = 20_000)]
    registry_size: u64,
    /// In-process: worker threads of the service's runtime.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Commit {
    /// One transaction per write (the behaviour before group commit).
    PerOperation,
    /// Group commit.
    Grouped,
    /// Both, side by side.
    Both,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "(check that the URL answers, the token is a staff token of that service, and the \
                 registry CSV is the one it imported)"
            );
            ExitCode::from(2)
        }
    }
}

/// `Ok(false)`: a run lost or duplicated a certificate, or the audit chain did not verify.
fn run(args: &Args) -> Result<bool, BoxError> {
    println!(
        "vaxpass-loadgen: {} connections, {} cores, load average before: {}",
        args.connections,
        std::thread::available_parallelism().map_or(0, usize::from),
        loadavg()
    );
    if !args.in_process {
        let (url, token, registry) = match (&args.url, &args.token, &args.registry) {
            (Some(u), Some(t), Some(r)) => (u, t, r),
            _ => return Err("--url needs --token and --registry".into()),
        };
        let addr = parse_url(url)?;
        let persons = load_registry(registry)?;
        let rt = client_runtime()?;
        let cpu = CpuClock::start();
        let mut report = rt.block_on(drive(args, addr, token.clone(), Arc::new(persons)))?;
        report.print("external service");
        cpu.print(false);
        let unique = report.uvcis.iter().collect::<HashSet<_>>().len();
        println!(
            "  UVCIs received: {}, distinct: {unique}",
            report.uvcis.len()
        );
        return Ok(unique == report.uvcis.len());
    }
    let modes: &[(CommitMode, &str)] = match args.commit {
        Commit::PerOperation => &[(CommitMode::PerOperation, "per-operation commit (before)")],
        Commit::Grouped => &[(GROUPED, "group commit (after)")],
        Commit::Both => &[
            (CommitMode::PerOperation, "per-operation commit (before)"),
            (GROUPED, "group commit (after)"),
        ],
    };
    let mut all_ok = true;
    let mut rates = Vec::new();
    for (mode, label) in modes {
        let (report, ok) = in_process(args, *mode, label)?;
        rates.push(report.rate());
        all_ok &= ok;
    }
    if let [before, after] = rates[..] {
        if before > 0.0 {
            println!("\nafter / before: {:.2}× certificates/s", after / before);
        }
    }
    Ok(all_ok)
}

const GROUPED: CommitMode = CommitMode::Grouped { max_batch: 256 };

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// CPU time used by this process and by the calling thread (the clients' runtime), from
/// `/proc` (Linux; in clock ticks, taken as 100 a second), over warm-up and measurement.
struct CpuClock {
    wall: std::time::Instant,
    process: Option<u64>,
    thread: Option<u64>,
}

/// utime + stime of a `/proc/…/stat` file, in clock ticks.
fn cpu_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces: the fields counted from after its `)`.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

impl CpuClock {
    fn start() -> CpuClock {
        CpuClock {
            wall: std::time::Instant::now(),
            process: cpu_ticks("/proc/self/stat"),
            thread: cpu_ticks("/proc/thread-self/stat"),
        }
    }

    /// `in_process`: the service runs on this process's other threads.
    fn print(&self, in_process: bool) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let (Some(p0), Some(t0), Some(p1), Some(t1)) = (
            self.process,
            self.thread,
            cpu_ticks("/proc/self/stat"),
            cpu_ticks("/proc/thread-self/stat"),
        ) else {
            println!("  CPU: unknown (no /proc)");
            return;
        };
        let process = (p1.saturating_sub(p0)) as f64 / 100.0;
        let client = (t1.saturating_sub(t0)) as f64 / 100.0;
        let share = |s: f64| 100.0 * s / (wall * cores);
        if in_process {
            println!(
                "  CPU over {wall:.1} s: service {:.1} s ({:.0}% of the machine), load generator \
                 {client:.1} s ({:.0}%)",
                process - client,
                share(process - client),
                share(client),
            );
        } else {
            println!(
                "  CPU over {wall:.1} s: load generator {process:.1} s ({:.0}% of the machine)",
                share(process)
            );
        }
    }
}

fn client_runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// `http://host:port[/]` → a socket address.
fn parse_url(url: &str) -> Result<SocketAddr, BoxError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("--url must start with http:// (no TLS in the load generator)")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{authority} does not resolve").into())
}

fn load_registry(path: &PathBuf) -> Result<Vec<RegistryPerson>, BoxError> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open the registry {}: {e}", path.display()))?;
    let mut persons = Vec::new();
    // Bad rows were refused by the service's import too: skipped.
    persons.extend(read_registry(std::io::BufReader::new(file)).flatten());
    if persons.is_empty() {
        return Err("the registry CSV holds no valid person".into());
    }
    Ok(persons)
}

/// One in-process run: the service on its own runtime, the clients on this thread.
fn in_process(args: &Args, mode: CommitMode, label: &str) -> Result<(Report, bool), BoxError> {
    let data = tempfile::tempdir()?;
    let keys = tempfile::tempdir()?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.max(1))
        .enable_all()
        .build()?;
    let file = data.path().join("issuer.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let persons: Vec<RegistryPerson> = generate_persons(args.registry_size, 42).collect();
    let (addr, token, storage) = server_rt.block_on(async {
        let storage = Storage::open_with(&url, mode).await?;
        let admin = Actor::System("loadgen".into());
        storage
            .import_registry(persons.iter().cloned(), 5_000, &admin)
            .await?;
        let clinic = storage
            .create_clinic("Load test clinic", 79, &admin)
            .await?;
        let (token, _) = storage
            .create_staff_token(clinic, Role::Staff, &admin)
            .await?;
        let now = Timestamp::now().unix_seconds();
        let init = dev_init(
            keys.path(),
            &DevOptions::new(Timestamp::from_unix_seconds(now - 86_400)),
        )?;
        let manifest = Manifest::load(&init.manifest_path)?;
        let signer = manifest.current_signer(
            keys.path(),
            CertificateType::Vaccination,
            Timestamp::from_unix_seconds(now),
            &Secrets::default(),
        )?;
        // No per-token submission limit: the load generator drives one token as hard as the
        // service goes (vaxpass_issuer::api::limits).
        let state = AppState::new(storage.clone(), Arc::from(signer), Config::default())?
            .with_submit_limits(vaxpass_issuer::api::limits::SubmitLimits::unlimited());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app(state)).await {
                eprintln!("error: the service stopped: {e}");
            }
        });
        Ok::<_, BoxError>((addr, token.expose().to_owned(), storage))
    })?;
    let cpu = CpuClock::start();
    let mut report = client_runtime()?.block_on(drive(args, addr, token, Arc::new(persons)))?;
    report.print(label);
    cpu.print(true);
    println!("  load average after: {}", loadavg());
    // What is stored against what the clients were given.
    let ok = server_rt.block_on(async {
        let audit = storage.audit_verify().await;
        // A connection of its own on the file, outside the storage.
        let raw = rusqlite::Connection::open(&file)?;
        let stored: Vec<String> = raw
            .prepare("SELECT uvci FROM certificates")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let records: i64 = raw.query_row("SELECT COUNT(*) FROM dose_records", [], |r| r.get(0))?;
        let issued: i64 = raw.query_row(
            "SELECT COUNT(*) FROM dose_records WHERE status = 'issued'",
            [],
            |r| r.get(0),
        )?;
        drop(raw);
        let stored_set: HashSet<&String> = stored.iter().collect();
        let given: HashSet<&String> = report.uvcis.iter().collect();
        let lost = given.iter().filter(|u| !stored_set.contains(*u)).count();
        println!(
            "  stored: {records} records, {issued} issued, {} certificates ({} distinct UVCIs); \
             acknowledged to clients: {} certificates, {lost} of them missing",
            stored.len(),
            stored_set.len(),
            report.uvcis.len()
        );
        if let Some(stats) = storage.group_stats() {
            println!(
                "  group commit: {} writes in {} transactions ({:.1} writes per commit, at most {})",
                stats.writes,
                stats.groups,
                stats.writes as f64 / stats.groups.max(1) as f64,
                stats.largest
            );
        }
        let audit_ok = match audit {
            Ok(r) => {
                println!("  audit verify: intact, {} entries", r.entries);
                true
            }
            Err(e) => {
                println!("  audit verify: FAILED: {e}");
                false
            }
        };
        let ok = audit_ok
            && lost == 0
            && given.len() == report.uvcis.len()
            && stored_set.len() == stored.len()
            && issued as usize == stored.len();
        if !ok {
            println!("  CHECK FAILED: lost, duplicated or unmatched certificates (see above)");
        }
        Ok::<_, BoxError>(ok)
    })?;
    server_rt.shutdown_timeout(Duration::from_secs(2));
    Ok((report, ok))
}

/// The measurements of one run.
#[derive(Default)]
struct Report {
    certificates: u64,
    elapsed: Duration,
    submit_us: Vec<u32>,
    confirm_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    uvcis: Vec<String>,
}

impl Report {
    fn rate(&self) -> f64 {
        self.certificates as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn print(&mut self, label: &str) {
        println!("\n== {label}");
        println!(
            "  {} certificates in {:.2} s: {:.0} certificates/s",
            self.certificates,
            self.elapsed.as_secs_f64(),
            self.rate()
        );
        for (name, v) in [
            ("submit", &mut self.submit_us),
            ("confirm", &mut self.confirm_us),
        ] {
            v.sort_unstable();
            println!(
                "  {name:<8} n={:<7} p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
                v.len(),
                pct(v, 50.0),
                pct(v, 90.0),
                pct(v, 99.0),
                v.last().map_or(0.0, |&x| f64::from(x) / 1000.0)
            );
        }
        if self.errors.is_empty() {
            println!("  errors: none");
        } else {
            for (code, n) in &self.errors {
                println!("  errors: {code}: {n}");
            }
        }
    }
}

/// The `p`th percentile (nearest rank) of sorted microseconds, in ms.
fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

/// Shared by the virtual users.
struct Shared {
    addr: SocketAddr,
    bearer: String,
    persons: Arc<Vec<RegistryPerson>>,
    /// Set when measuring begins.
    measuring: AtomicBool,
    /// Set when the run ends.
    stop: AtomicBool,
    /// Certificates counted while measuring.
    certificates: AtomicU64,
    limit: Option<u64>,
    /// The vaccination date of every submitted record.
    dose_date: Date,
}

async fn drive(
    args: &Args,
    addr: SocketAddr,
    token: String,
    persons: Arc<Vec<RegistryPerson>>,
) -> Result<Report, BoxError> {
    let shared = Arc::new(Shared {
        addr,
        bearer: format!("Bearer {token}"),
        persons,
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        certificates: AtomicU64::new(0),
        limit: args.count,
        dose_date: Date::parse("2021-09-01")?,
    });
    let run_id: u64 = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
    let mut users = Vec::new();
    for vu in 0..args.connections.max(1) {
        users.push(tokio::spawn(user(shared.clone(), vu, run_id)));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup.max(0.0))).await;
    shared.measuring.store(true, Ordering::SeqCst);
    let start = Instant::now();
    match args.count {
        Some(n) => {
            while shared.certificates.load(Ordering::SeqCst) < n
                && !users.iter().all(|u| u.is_finished())
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        None => tokio::time::sleep(Duration::from_secs_f64(args.duration.max(0.1))).await,
    }
    shared.stop.store(true, Ordering::SeqCst);
    let elapsed = start.elapsed();
    let mut report = Report {
        elapsed,
        ..Report::default()
    };
    for u in users {
        let r = u.await?;
        report.submit_us.extend(r.submit_us);
        report.confirm_us.extend(r.confirm_us);
        for (k, v) in r.errors {
            *report.errors.entry(k).or_default() += v;
        }
        report.uvcis.extend(r.uvcis);
        report.certificates += r.certificates;
    }
    Ok(report)
}

/// One virtual user's counts.
#[derive(Default)]
struct UserReport {
    certificates: u64,
    submit_us: Vec<u32>,
    confirm_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    /// Every UVCI this user was given (warm-up included), for the loss check.
    uvcis: Vec<String>,
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server closes it.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request; the status and the JSON body.
async fn call(
    sender: &mut SendRequest<Full<Bytes>>,
    shared: &Shared,
    path: &str,
    key: Option<&str>,
    body: Bytes,
) -> Result<(StatusCode, serde_json::Value), BoxError> {
    let mut req = Request::post(path)
        .header("host", shared.addr.to_string())
        .header("authorization", &shared.bearer)
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let req = req.body(Full::new(body))?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Ok((status, value))
}

fn error_code(status: StatusCode, body: &serde_json::Value) -> String {
    match body.get("code").and_then(|c| c.as_str()) {
        Some(code) => format!("{} {code}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

async fn user(shared: Arc<Shared>, vu: usize, run_id: u64) -> UserReport {
    let mut report = UserReport::default();
    let mut rng = SmallRng::seed_from_u64(run_id ^ (vu as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut n: u64 = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        if let Some(limit) = shared.limit {
            if shared.certificates.load(Ordering::SeqCst) >= limit {
                break;
            }
        }
        let conn = match sender.as_mut() {
            Some(s) => s,
            None => match connect(shared.addr).await {
                Ok(s) => sender.insert(s),
                Err(_) => {
                    *report.errors.entry("connect".to_owned()).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        n += 1;
        let p = &shared.persons[rng.gen_range(0..shared.persons.len())];
        let body = record_json(p, rng.gen_range(1..=3), shared.dose_date);
        let key = format!("lg-{run_id:x}-{vu}-{n}");
        let measuring = shared.measuring.load(Ordering::SeqCst);
        let t = Instant::now();
        let submitted = call(conn, &shared, "/api/v1/dose-records", Some(&key), body).await;
        let submit_us = elapsed_us(t);
        let id = match submitted {
            Ok((StatusCode::CREATED, v)) => v.get("id").and_then(serde_json::Value::as_i64),
            Ok((status, v)) => {
                if measuring {
                    *report
                        .errors
                        .entry(format!("submit {}", error_code(status, &v)))
                        .or_default() += 1;
                }
                None
            }
            Err(_) => {
                *report
                    .errors
                    .entry("submit: connection".to_owned())
                    .or_default() += 1;
                sender = None;
                continue;
            }
        };
        if measuring {
            report.submit_us.push(submit_us);
        }
        let Some(id) = id else { continue };
        let t = Instant::now();
        let confirmed = call(
            conn,
            &shared,
            &format!("/api/v1/dose-records/{id}/confirm"),
            None,
            Bytes::new(),
        )
        .await;
        let confirm_us = elapsed_us(t);
        match confirmed {
            Ok((StatusCode::OK, v)) => {
                if let Some(uvci) = v.get("uvci").and_then(|u| u.as_str()) {
                    report.uvcis.push(uvci.to_owned());
                }
                if measuring && !shared.stop.load(Ordering::SeqCst) {
                    report.confirm_us.push(confirm_us);
                    report.certificates += 1;
                    shared.certificates.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok((status, v)) => {
                if measuring {
                    *report
                        .errors
                        .entry(format!("confirm {}", error_code(status, &v)))
                        .or_default() += 1;
                }
            }
            Err(_) => {
                *report
                    .errors
                    .entry("confirm: connection".to_owned())
                    .or_default() += 1;
                sender = None;
            }
        }
    }
    report
}

fn elapsed_us(t: Instant) -> u32 {
    u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX)
}

fn record_json(p: &RegistryPerson, dose: u32, date: Date) -> Bytes {
    let record = SubmitRequest::for_person(p, VaccineIn::comirnaty(), dose, 3, date);
    Bytes::from(serde_json::to_vec(&record).unwrap_or_default())
}
