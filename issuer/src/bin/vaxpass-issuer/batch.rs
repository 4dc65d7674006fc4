//! `vaxpass-issuer batch …`: national-scale batch issuance (see `vaxpass_issuer::batch`).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vaxpass_issuer::api::Config;
use vaxpass_issuer::api::issue::IssueContext;
use vaxpass_issuer::batch::{
    self, BatchError, BatchOptions, BatchReport, ImportReport, Progress, import::ImportError,
    per_second,
};
use vaxpass_issuer::registry::{RemoteRegistry, RemoteRegistryConfig};
use vaxpass_issuer::storage::{Actor, ExportedCertificate, Storage, StorageError};
use vaxpass_keys::manifest::{MANIFEST_FILE, Manifest, Secrets};
use vaxpass_keys::{CertificateType, Passphrase, Signer};
use vaxpass_verifier::Timestamp;

use crate::cli::Outcome;

/// `batch` subcommands.
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Issue the certificates of confirmed dose records, on all cores, exactly once; safe to
    /// interrupt and run again. Exit code 0: everything issued; 1: some records were rejected
    /// or could not be issued (listed); 2: error.
    Issue(IssueArgs),
    /// FOR BENCHMARKS AND TESTS: write a synthetic registry of COUNT persons and one confirmed
    /// dose record per person.
    Seed(SeedArgs),
    /// Write the issued certificates as NDJSON: {"id","uvci","dose_record_id","hc1"} per line.
    Export(ExportArgs),
    /// Re-sign every live certificate of DSC KID with the current DSC (a compromised or
    /// withdrawn key): same UVCI and payload, new signature; the old signatures go on the
    /// revocation list (SIGNATURE entries only). Exactly once, safe to interrupt and run again;
    /// when none is left, DSC KID is withdrawn from the trust list (keys.toml). Exit code 0:
    /// all re-signed; 2: error.
    Reissue(ReissueArgs),
}

#[derive(Debug, Args)]
pub struct ReissueArgs {
    /// Database URL: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// Key directory (its `keys.toml` names the current document signer, which must not be
    /// KID).
    #[arg(long, env = "VAXPASS_KEYS")]
    keys: PathBuf,
    /// File holding the passphrase of encrypted key files.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// The kid (base64) of the DSC whose certificates are re-signed.
    #[arg(long, value_name = "KID")]
    signed_by: String,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain periodic lines.
    Lines,
    /// Nothing until the summary.
    None,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Database URL: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// Key directory (its `keys.toml` names the current document signer).
    #[arg(long, env = "VAXPASS_KEYS")]
    keys: PathBuf,
    /// File holding the passphrase of encrypted key files.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Issue every confirmed record of the database.
    #[arg(long, conflicts_with = "from", required_unless_present = "from")]
    pending: bool,
    /// Import an NDJSON file of dose records (the API's fields plus `clinic_id`), match them
    /// against the registry, then issue every confirmed record.
    #[arg(long)]
    from: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Signing threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Records per batch (one transaction each).
    #[arg(long, default_value_t = batch::DEFAULT_BATCH_SIZE)]
    batch_size: u32,
    /// Self-verify one certificate in N (default: all in debug builds, 1 in 1,000 in release).
    #[arg(long, default_value_t = batch::DEFAULT_VERIFY_EVERY)]
    verify_every: u64,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Database URL.
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// Persons (and records).
    #[arg(long)]
    count: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Database URL.
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// Only certificates with a row id above this one (resume an export).
    #[arg(long, default_value_t = 0)]
    after: i64,
    /// Also write one QR image per certificate into this directory: `<id>.png` (the line's
    /// `id`), rendered on all cores.
    #[arg(long)]
    qr: Option<PathBuf>,
}

/// Why a batch command failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchCliError {
    /// The database failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// The batch stopped.
    #[error("{0}; certificates committed so far are kept: run the same command again to finish")]
    Batch(#[from] BatchError),
    /// The import stopped.
    #[error("{0}; records stored so far are kept: run the same command again to finish")]
    Import(#[from] ImportError),
    /// The key directory could not be used.
    #[error("cannot open the document signer in {dir}: {source}; check --keys and the passphrase")]
    Keys {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: vaxpass_keys::Error,
    },
    /// The signer's certificate is not a usable DSC.
    #[error("the document signer certificate cannot be used: {0}")]
    Dsc(String),
    /// The remote population registry (VAXPASS_REGISTRY_*) cannot be used.
    #[error("remote population registry (VAXPASS_REGISTRY_*): {0}")]
    Registry(String),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// A certificate could not be drawn as a QR code.
    #[error("cannot draw certificate {id} as a QR code: {source}")]
    Qr {
        /// The certificate's row id.
        id: i64,
        /// The cause.
        source: vaxpass_issuer::qr::QrError,
    },
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> BatchCliError + 'a {
    move |source| BatchCliError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Runs a `batch` subcommand.
///
/// # Errors
/// [`BatchCliError`].
pub fn run(cmd: BatchCommand) -> Result<Outcome, BatchCliError> {
    let runtime = crate::cli::runtime().map_err(BatchCliError::Runtime)?;
    runtime.block_on(async {
        match cmd {
            BatchCommand::Issue(args) => issue(args).await,
            BatchCommand::Seed(args) => seed(args).await,
            BatchCommand::Export(args) => export(args).await,
            BatchCommand::Reissue(args) => reissue(args).await,
        }
    })
}

fn open_signer(
    dir: &Path,
    passphrase_file: Option<&Path>,
) -> Result<Arc<dyn Signer>, BatchCliError> {
    let keys = |source| BatchCliError::Keys {
        dir: dir.to_path_buf(),
        source,
    };
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE)).map_err(keys)?;
    let passphrase = match passphrase_file {
        Some(p) => Some(Passphrase::from_file(p).map_err(|e| keys(e.into()))?),
        None => None,
    };
    let secrets = Secrets {
        passphrase,
        pin: None,
    };
    let signer = manifest
        .current_signer(
            dir,
            CertificateType::Vaccination,
            Timestamp::now(),
            &secrets,
        )
        .map_err(keys)?;
    Ok(Arc::from(signer))
}

/// `batch reissue`.
async fn reissue(args: ReissueArgs) -> Result<Outcome, BatchCliError> {
    let signer = open_signer(&args.keys, args.passphrase_file.as_deref())?;
    let storage = Storage::open(&args.database).await?;
    let now = storage.clock().now();
    let total = storage.live_certificates_of(&args.signed_by, now).await?;
    let mut display = Display::new(args.run.progress, total);
    let mut opts = options(&args.run);
    opts.actor = Actor::System("batch-reissue".into());
    let result =
        batch::reissue::reissue_signed_by(&storage, &args.signed_by, &signer, &opts, &mut |p| {
            display.update(p)
        })
        .await;
    display.finish();
    storage.close().await;
    let report = result?;
    println!(
        "re-signed {} certificates of DSC {} with DSC {} in {} batches, {:.1} s, {:.0} certificates/s ({} workers); their old signatures are on the revocation list (SIGNATURE)",
        report.resigned,
        args.signed_by,
        signer.kid().to_base64(),
        report.batches,
        report.elapsed.as_secs_f64(),
        per_second(report.resigned, report.elapsed),
        report.workers
    );
    if report.remaining > 0 {
        println!(
            "{} live certificates of DSC {} are left (issued meanwhile?): run the same command again",
            report.remaining, args.signed_by
        );
        return Ok(Outcome::Invalid);
    }
    // Nothing live is signed by it any more: it leaves the trust list now.
    let keys = |source| BatchCliError::Keys {
        dir: args.keys.clone(),
        source,
    };
    let path = args.keys.join(MANIFEST_FILE);
    let mut manifest = Manifest::load(&path).map_err(keys)?;
    if manifest.find(&args.signed_by).is_none() {
        println!(
            "DSC {} is not in {}: withdraw it from the trust list where it is listed",
            args.signed_by,
            path.display()
        );
        return Ok(Outcome::Ok);
    }
    manifest
        .withdraw(&args.signed_by, Timestamp::now())
        .map_err(|e| keys(e.into()))?;
    manifest.save(&path).map_err(keys)?;
    println!(
        "DSC {} withdrawn from the trust list ({}): the next trust list signed leaves it out",
        args.signed_by,
        path.display()
    );
    Ok(Outcome::Ok)
}

fn context(signer: Arc<dyn Signer>) -> Result<IssueContext, BatchCliError> {
    IssueContext::new(signer, Config::default()).map_err(|e| BatchCliError::Dsc(e.to_string()))
}

fn options(run: &RunArgs) -> BatchOptions {
    let mut opts = BatchOptions {
        batch_size: run.batch_size,
        verify_every: run.verify_every,
        ..BatchOptions::default()
    };
    if let Some(w) = run.workers {
        opts = opts.with_workers(w);
    }
    opts
}

/// The progress display: a bar with rate and ETA on a terminal, a line every 2 s otherwise.
struct Display {
    bar: Option<ProgressBar>,
    lines: bool,
    total: u64,
    started: Instant,
    last_line: Instant,
}

impl Display {
    fn new(mode: ProgressMode, total: u64) -> Display {
        let terminal = io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {pos}/{len} certificates  {per_sec}  ETA {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Display {
            lines: bar.is_none() && mode != ProgressMode::None,
            bar,
            total,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn update(&mut self, p: Progress) {
        if let Some(bar) = &self.bar {
            bar.set_position(p.issued);
        } else if self.lines && self.last_line.elapsed() >= Duration::from_secs(2) {
            self.last_line = Instant::now();
            let rate = per_second(p.issued, self.started.elapsed());
            let eta = if rate > 0.0 {
                format!("{:.0} s", self.total.saturating_sub(p.issued) as f64 / rate)
            } else {
                "?".to_owned()
            };
            eprintln!(
                "issued {}/{} ({} failed), {rate:.0} certificates/s, ETA {eta}",
                p.issued, self.total, p.failed
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

async fn run_batch(
    storage: &Storage,
    ctx: &IssueContext,
    run: &RunArgs,
) -> Result<BatchReport, BatchCliError> {
    let total = storage.confirmed_count().await?;
    let mut display = Display::new(run.progress, total);
    let opts = options(run);
    let result = batch::issue_pending(storage, ctx, &opts, &mut |p| display.update(p)).await;
    display.finish();
    Ok(result?)
}

fn print_import(report: &ImportReport) {
    for e in &report.errors {
        println!("{e}");
    }
    if report.rejected > report.errors.len() as u64 {
        println!(
            "… and {} more rejected lines",
            report.rejected - report.errors.len() as u64
        );
    }
    println!(
        "import: {} lines read, {} stored as confirmed, {} already stored, {} rejected",
        report.read, report.stored.inserted, report.stored.existing, report.rejected
    );
    if report.rejected > 0 {
        println!(
            "rejected lines were not stored: correct them (the codes say why) and import them again"
        );
    }
}

fn print_batch(report: &BatchReport) {
    for f in &report.failures {
        println!("record {}: not issued: {}", f.record_id, f.reason);
    }
    println!(
        "issued {} certificates in {} batches, {:.1} s, {:.0} certificates/s ({} workers); {} records not issued",
        report.issued,
        report.batches,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.workers,
        report.failed
    );
    if report.failed > 0 {
        println!(
            "records not issued stay confirmed: fix them (see the reasons) and run again; \
             export the issued ones with `batch export`"
        );
    }
}

async fn issue(args: IssueArgs) -> Result<Outcome, BatchCliError> {
    let signer = open_signer(&args.keys, args.passphrase_file.as_deref())?;
    let ctx = context(signer)?;
    let storage = Storage::open(&args.database).await?;
    let actor = Actor::System("batch".into());
    let mut rejected = 0;
    if let Some(path) = &args.from {
        let file = File::open(path).map_err(io_err("cannot open", path))?;
        let input = BufReader::with_capacity(1 << 16, file);
        // The registry of `serve`: the remote service when VAXPASS_REGISTRY_URL is set, else
        // the local table, loaded in memory once.
        let remote =
            RemoteRegistryConfig::from_env().map_err(|e| BatchCliError::Registry(e.to_string()))?;
        let report = match remote {
            Some(config) => {
                let registry = RemoteRegistry::new(config)
                    .map_err(|e| BatchCliError::Registry(e.to_string()))?;
                batch::import_records(&storage, &registry, input, &actor).await?
            }
            None => {
                let registry = batch::load_registry(&storage).await?;
                let mut report = batch::import_records(&storage, &registry, input, &actor).await?;
                report.registry = registry.len() as u64;
                report
            }
        };
        print_import(&report);
        rejected = report.rejected;
    }
    let report = run_batch(&storage, &ctx, &args.run).await;
    storage.close().await;
    let report = report?;
    print_batch(&report);
    Ok(if report.failed > 0 || rejected > 0 {
        Outcome::Invalid
    } else {
        Outcome::Ok
    })
}

async fn seed(args: SeedArgs) -> Result<Outcome, BatchCliError> {
    let storage = Storage::open(&args.database).await?;
    let report = batch::seed(
        &storage,
        args.count,
        args.seed,
        &Actor::System("batch-seed".into()),
    )
    .await;
    storage.close().await;
    let report = report?;
    println!(
        "seeded {} registry persons and {} confirmed dose records ({} already there), \
         matching {:.0} records/s",
        report.registry,
        report.stored.inserted,
        report.stored.existing,
        per_second(report.read, report.matching)
    );
    Ok(Outcome::Ok)
}

async fn export(args: ExportArgs) -> Result<Outcome, BatchCliError> {
    let storage = Storage::open(&args.database).await?;
    let result = export_to(&storage, &args.out, args.after, args.qr.as_deref()).await;
    storage.close().await;
    let n = result?;
    println!("exported {n} certificates to {}", args.out.display());
    if let Some(dir) = &args.qr {
        println!("wrote {n} QR images (PNG) to {}", dir.display());
    }
    Ok(Outcome::Ok)
}

/// Renders and writes `<id>.png` for every certificate of `page`, on all cores.
fn write_qr_images(page: &[ExportedCertificate], dir: &Path) -> Result<(), BatchCliError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = page.len().div_ceil(threads).max(1);
    let opts = vaxpass_issuer::qr::QrOptions::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = page
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || -> Result<(), BatchCliError> {
                    for c in chunk {
                        let png = vaxpass_issuer::qr::render_png(&c.hc1, &opts)
                            .map_err(|source| BatchCliError::Qr { id: c.id, source })?;
                        let path = dir.join(format!("{}.png", c.id));
                        std::fs::write(&path, png).map_err(io_err("cannot write", &path))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join().unwrap_or_else(|_| {
                Err(BatchCliError::Io {
                    action: "cannot write QR images to",
                    path: dir.to_path_buf(),
                    source: io::Error::other("a rendering thread failed"),
                })
            })
        })
    })
}

async fn export_to(
    storage: &Storage,
    path: &Path,
    after: i64,
    qr: Option<&Path>,
) -> Result<u64, BatchCliError> {
    if let Some(dir) = qr {
        std::fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
    }
    let file = File::create(path).map_err(io_err("cannot create", path))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut after = after;
    let mut n = 0u64;
    loop {
        let page = storage.export_certificates(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for c in &page {
            let line = serde_json::to_string(c).map_err(|e| BatchCliError::Io {
                action: "cannot write",
                path: path.to_path_buf(),
                source: io::Error::other(e),
            })?;
            writeln!(out, "{line}").map_err(io_err("cannot write", path))?;
            n += 1;
        }
        if let Some(dir) = qr {
            write_qr_images(&page, dir)?;
        }
    }
    out.flush().map_err(io_err("cannot write", path))?;
    out.into_inner()
        .map_err(|e| BatchCliError::Io {
            action: "cannot write",
            path: path.to_path_buf(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io_err("cannot sync", path))?;
    Ok(n)
}
