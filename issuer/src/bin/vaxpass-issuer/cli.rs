//! Command-line definition (clap derive) and dispatch. Subcommands are added as variants of
//! [`Command`] with one dispatch line in [`run`]; larger commands live in modules of their own
//! (`serve`, `import`) that define their arguments.

use std::fs::File;
use std::io;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vaxpass_issuer::registry_csv::{self, GenerateError};
use vaxpass_issuer::storage::{Storage, StorageError};

/// vaxpass issuer: registry-verified vaccination certificates.
#[derive(Debug, Parser)]
#[command(name = "vaxpass-issuer", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the issuing service (HTTPS, or plain HTTP for local development), with the trust
    /// list at /trust-list. `--demo`: set up a data directory with DEVELOPMENT keys, a
    /// synthetic registry, a clinic and tokens, then serve on 127.0.0.1.
    Serve(Box<crate::serve::ServeArgs>),
    /// Population registry tools.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// National-scale batch issuance.
    #[command(subcommand)]
    Batch(crate::batch::BatchCommand),
    /// Staff accounts of the web console (`staff add`).
    #[command(subcommand)]
    Staff(crate::staff::StaffCommand),
    /// The revocation list (issue 14).
    #[command(subcommand)]
    Revocations(RevocationsCommand),
}

#[derive(Debug, Subcommand)]
enum RevocationsCommand {
    /// Write every revoked certificate not yet expired as EU gateway revocation batches (JSON,
    /// the three hash types, 1 to 1000 entries a batch), for upload: what the service serves
    /// at /revocations/gateway.json.
    Export(RevocationsExportArgs),
}

#[derive(Debug, Args)]
struct RevocationsExportArgs {
    /// Database URL: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// The issuer country (ISO 3166 alpha-2).
    #[arg(long, default_value = "VN")]
    country: String,
    /// Leave out fraud entries whose certificate has expired (kept by default, as on the list).
    #[arg(long)]
    drop_expired_fraud: bool,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain: every entry's hash, every link, no entry removed.
    /// Exit code 0: intact; 1: broken (the first bad entry is named); 2: cannot read.
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Args)]
struct AuditVerifyArgs {
    /// Database URL: `sqlite://PATH` or `postgres://…` (pending migrations are applied).
    #[arg(long, env = "DATABASE_URL")]
    database: String,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Write a synthetic but realistic registry CSV (id_number,full_name,date_of_birth,sex).
    Generate(GenerateArgs),
    /// Read a registry CSV as `registry import` will, and report bad rows by line number.
    /// Exit code 0: all rows good; 1: some rows bad; 2: the file cannot be read.
    Check(CheckArgs),
    /// Import a registry CSV into the database (streaming; inserts or updates by ID number).
    /// Bad rows are reported by line number and skipped; the good ones are imported.
    /// Exit code 0: all rows imported; 1: some rows bad; 2: nothing imported (I/O, database).
    Import(crate::import::ImportArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The registry CSV.
    file: PathBuf,
    /// Bad rows to print before only counting them.
    #[arg(long, default_value_t = 100)]
    max_errors: u64,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// Number of persons.
    #[arg(long)]
    count: u64,
    /// Seed: the same seed gives the same registry.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Creating the output file failed.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Opening the input failed.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Generation failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// The service could not start or failed.
    #[error(transparent)]
    Serve(#[from] vaxpass_issuer::server::ServeError),
    /// Usage or setup error of `serve`, with what to do.
    #[error("{0}")]
    Usage(String),
    /// The development keys could not be made.
    #[error("creating DEVELOPMENT keys: {0}")]
    DevKeys(vaxpass_keys::Error),
    /// A batch command failed.
    #[error(transparent)]
    Batch(#[from] crate::batch::BatchCliError),
    /// The revocation list could not be built.
    #[error(transparent)]
    Revocations(vaxpass_issuer::revocations::PublishError),
}

/// How a command that ran went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything fine (exit 0).
    Ok,
    /// Ran, but found problems in its input (exit 1).
    Invalid,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Serve(args) => crate::serve::run(*args),
        Command::Registry(RegistryCommand::Import(args)) => crate::import::run(args),
        Command::Registry(RegistryCommand::Generate(args)) => generate(args).map(|()| Outcome::Ok),
        Command::Registry(RegistryCommand::Check(args)) => check(args),
        Command::Audit(AuditCommand::Verify(args)) => audit_verify(args),
        Command::Batch(cmd) => Ok(crate::batch::run(cmd)?),
        Command::Staff(cmd) => crate::staff::run(cmd),
        Command::Revocations(RevocationsCommand::Export(args)) => revocations_export(args),
    }
}

fn revocations_export(args: RevocationsExportArgs) -> Result<Outcome, CliError> {
    let runtime = crate::cli::runtime().map_err(CliError::Runtime)?;
    let batches = runtime.block_on(async {
        let storage = Storage::open(&args.database).await?;
        let now = storage.clock().now();
        let batches = vaxpass_issuer::revocations::gateway_batches_at(
            &storage,
            &args.country,
            !args.drop_expired_fraud,
            now,
        )
        .await;
        storage.close().await;
        batches.map_err(CliError::Revocations)
    })?;
    let json = serde_json::to_vec_pretty(&batches).map_err(|e| {
        CliError::Revocations(vaxpass_issuer::revocations::PublishError::Json(
            e.to_string(),
        ))
    })?;
    match &args.out {
        Some(path) => std::fs::write(path, &json).map_err(|source| CliError::Create {
            path: path.clone(),
            source,
        })?,
        None => {
            use std::io::Write as _;
            let mut out = io::stdout().lock();
            out.write_all(&json)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|source| CliError::Create {
                    path: PathBuf::from("-"),
                    source,
                })?;
        }
    }
    let entries: usize = batches.iter().map(|b| b.entries.len()).sum();
    eprintln!("{} batches, {entries} entries", batches.len());
    Ok(Outcome::Ok)
}

/// The single-threaded Tokio runtime of the one-shot commands (import, audit, batch).
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn audit_verify(args: AuditVerifyArgs) -> Result<Outcome, CliError> {
    let runtime = crate::cli::runtime().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let storage = Storage::open(&args.database).await?;
        let result = storage.audit_verify().await;
        storage.close().await;
        match result {
            Ok(report) => {
                println!(
                    "audit log intact: {} entries, last hash {}",
                    report.entries, report.head_hash
                );
                Ok(Outcome::Ok)
            }
            Err(StorageError::AuditBroken(broken)) => {
                println!("{broken}");
                println!(
                    "the log was changed outside the issuer: keep this database as evidence, \
                     restore from a backup and compare"
                );
                Ok(Outcome::Invalid)
            }
            Err(e) => Err(e.into()),
        }
    })
}

fn check(args: CheckArgs) -> Result<Outcome, CliError> {
    let file = File::open(&args.file).map_err(|source| CliError::Open {
        path: args.file.clone(),
        source,
    })?;
    let (mut good, mut bad) = (0u64, 0u64);
    for row in registry_csv::read_registry(io::BufReader::with_capacity(1 << 16, file)) {
        match row {
            Ok(_) => good += 1,
            Err(e) => {
                bad += 1;
                if bad <= args.max_errors {
                    println!("{e}");
                }
            }
        }
    }
    if bad > args.max_errors {
        println!("… and {} more bad rows", bad - args.max_errors);
    }
    println!("{good} persons read, {bad} bad rows");
    if bad > 0 {
        println!("fix or remove the bad rows (line numbers above) and check again");
        Ok(Outcome::Invalid)
    } else {
        Ok(Outcome::Ok)
    }
}

fn generate(args: GenerateArgs) -> Result<(), CliError> {
    let summary = match &args.out {
        Some(path) => {
            let file = create_private_file(path).map_err(|source| CliError::Create {
                path: path.clone(),
                source,
            })?;
            registry_csv::generate(args.count, args.seed, file)?
        }
        None => registry_csv::generate(args.count, args.seed, io::stdout().lock())?,
    };
    eprintln!(
        "wrote {} synthetic persons ({} CCCD, {} CMND), seed {}",
        summary.persons, summary.cccd, summary.cmnd, args.seed
    );
    Ok(())
}

/// Mode of files holding personal data or secrets (registry CSVs, the demo's tokens).
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of the data directory.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates (or truncates) `path` with mode 0600, whatever the umask; an existing file's mode
/// is set to 0600 too.
pub fn create_private_file(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    Ok(file)
}

/// Creates the directory `path` (and its parents) with mode 0700; an existing one loses the
/// group's and others' access.
pub fn create_private_dir(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)?;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}
