//! `vaxpass-batch-bench`: national-scale batch issuance, measured. Seeds COUNT persons and one
//! confirmed dose record each (development keys, a fresh database), issues every certificate on
//! all cores, then measures the signing-only ceiling in the same run and prints the figures side
//! by side (end to end / signing only), with the CPU time of each stage. A developer tool: not
//! part of the shipped `vaxpass-issuer` binary.
//!
//! ```sh
//! cargo run --release -p vaxpass-tools --bin vaxpass-batch-bench -- --count 1000000
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use vaxpass_issuer::api::Config;
use vaxpass_issuer::api::issue::IssueContext;
use vaxpass_issuer::batch::{self, BatchOptions, per_second};
use vaxpass_issuer::storage::{Actor, Storage};
use vaxpass_keys::manifest::{MANIFEST_FILE, Manifest, Secrets};
use vaxpass_keys::{CertificateType, Signer};
use vaxpass_verifier::Timestamp;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Batch issuance benchmark (development keys; a new database unless --database is given).
#[derive(Debug, Parser)]
#[command(name = "vaxpass-batch-bench", version)]
struct Args {
    /// Persons, records and certificates.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Working directory (keys and SQLite file); default: a new one under the temp dir,
    /// removed afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Database URL (default: a new SQLite file in the working directory). Must be empty.
    #[arg(long)]
    database: Option<String>,
    /// Signatures for the signing-only ceiling.
    #[arg(long, default_value_t = 200_000)]
    ceiling_count: u64,
    /// Signing threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Records per batch (one transaction each).
    #[arg(long, default_value_t = batch::DEFAULT_BATCH_SIZE)]
    batch_size: u32,
    /// Self-verify one certificate in N (default: all in debug builds, 1 in 1,000 in release).
    #[arg(long, default_value_t = batch::DEFAULT_VERIFY_EVERY)]
    verify_every: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(bench(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn bench(args: Args) -> Result<bool, BoxError> {
    let (dir, remove) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("vaxpass-batch-bench-{}", std::process::id())),
            true,
        ),
    };
    let result = bench_in(&args, &dir).await;
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn bench_in(args: &Args, dir: &Path) -> Result<bool, BoxError> {
    std::fs::create_dir_all(dir)?;
    let keys_dir = dir.join("keys");
    let opts = vaxpass_keys::dev::DevOptions::new(Timestamp::now());
    vaxpass_keys::dev::dev_init(&keys_dir, &opts)?;
    let manifest = Manifest::load(&keys_dir.join(MANIFEST_FILE))?;
    let signer: Arc<dyn Signer> = Arc::from(manifest.current_signer(
        &keys_dir,
        CertificateType::Vaccination,
        Timestamp::now(),
        &Secrets::default(),
    )?);
    let ctx = IssueContext::new(signer.clone(), Config::default())?;
    let url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
    let storage = Storage::open(&url).await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "batch bench: {} persons, {:?} backend, {} cores, load average before: {}",
        args.count,
        storage.backend(),
        cores,
        load_average()
    );
    let actor = Actor::System("batch-bench".into());
    let t = Instant::now();
    let seeded = batch::seed(&storage, args.count, 1, &actor).await?;
    println!(
        "seed: {} persons and {} confirmed records in {:.1} s (match {:.0} records/s on one core, \
         {:.2} µs each)",
        seeded.registry,
        seeded.stored.inserted,
        t.elapsed().as_secs_f64(),
        per_second(seeded.read, seeded.matching),
        us_per(
            u64::try_from(seeded.matching.as_nanos()).unwrap_or(u64::MAX),
            seeded.read
        ),
    );
    let mut opts = BatchOptions {
        batch_size: args.batch_size,
        verify_every: args.verify_every,
        ..BatchOptions::default()
    };
    if let Some(w) = args.workers {
        opts = opts.with_workers(w);
    }
    let report = batch::issue_pending(&storage, &ctx, &opts, &mut |_| {}).await;
    let load_after = load_average();
    let sample = storage.export_certificates(0, 1).await;
    storage.close().await;
    let report = report?;
    let sample = sample?;
    let n = report.issued;
    let s = &report.stages;
    println!(
        "batch issue: {} certificates in {:.2} s = {:.0} certificates/s end to end ({} workers, \
         batch {}, self-verify 1 in {})",
        n,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.workers,
        args.batch_size,
        args.verify_every
    );
    println!("per stage (CPU time per certificate, summed over workers):");
    for (name, ns, count) in [
        ("build (payload, UVCI, CBOR)", s.build_ns, n),
        ("sign", s.sign_ns, n),
        ("encode (CWT, COSE, zlib, Base45, JSON)", s.encode_ns, n),
        ("self-verify (sampled)", s.verify_ns, s.verified.max(1)),
    ] {
        println!("  {name:40} {:8.2} µs", us_per(ns, count));
    }
    let read_ns = u64::try_from(report.read.as_nanos()).unwrap_or(u64::MAX);
    let write_ns = u64::try_from(report.write.as_nanos()).unwrap_or(u64::MAX);
    println!(
        "  {:40} {:8.2} µs  (reader, wall: {:.0} records/s)",
        "read (claim)",
        us_per(read_ns, n),
        per_second(n, report.read)
    );
    println!(
        "  {:40} {:8.2} µs  (writer, wall: {:.0} certificates/s)",
        "write (one transaction per batch)",
        us_per(write_ns, n),
        per_second(n, report.write)
    );
    let (signed, took) = batch::signing_ceiling(&signer, report.workers, args.ceiling_count)?;
    let ceiling = per_second(signed, took);
    println!(
        "signing-only ceiling: {signed} signatures in {:.2} s = {ceiling:.0} signatures/s \
         ({} threads)",
        took.as_secs_f64(),
        report.workers
    );
    println!(
        "end to end / signing-only = {:.2}; load average after: {load_after}",
        if ceiling > 0.0 {
            report.rate() / ceiling
        } else {
            0.0
        }
    );
    if let Some(c) = sample.first() {
        zlib_side_by_side(&c.hc1);
    }
    Ok(report.failed == 0)
}

/// zlib of one certificate's COSE_Sign1 on one thread, side by side: miniz_oxide at level 9
/// with a new compressor per certificate (the verifier's one-shot `encode_hc1`) and issuance's
/// [`Deflater`](vaxpass_issuer_issuance::deflate::Deflater), the same compressor kept between
/// certificates (what issuing uses).
fn zlib_side_by_side(hc1: &str) {
    use vaxpass_verifier::{base45, zlib};
    const N: u32 = 20_000;
    let Some(cose) = hc1
        .strip_prefix("HC1:")
        .and_then(|b| base45::decode(b.as_bytes()).ok())
        .and_then(|z| zlib::inflate(&z, 1 << 16).ok())
    else {
        return;
    };
    let mut theirs = 0;
    let t = Instant::now();
    for _ in 0..N {
        theirs = miniz_oxide::deflate::compress_to_vec_zlib(&cose, 9).len();
    }
    let theirs_t = t.elapsed();
    let mut deflater = vaxpass_issuer_issuance::deflate::Deflater::new();
    let mut out = Vec::new();
    let t = Instant::now();
    for _ in 0..N {
        out.clear();
        deflater.deflate_into(&cose, &mut out);
    }
    let ours_t = t.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(N);
    println!(
        "zlib of a {}-byte COSE_Sign1, one thread: miniz_oxide level 9, a new compressor each \
         {:.2} µs ({theirs} bytes), issuance's Deflater (kept) {:.2} µs ({} bytes): {:.2}x",
        cose.len(),
        per(theirs_t),
        per(ours_t),
        out.len(),
        per(theirs_t) / per(ours_t).max(1e-9),
    );
}

fn us_per(ns: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        ns as f64 / n as f64 / 1_000.0
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            let parts: Vec<&str> = s.split_whitespace().take(3).collect();
            (parts.len() == 3).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
