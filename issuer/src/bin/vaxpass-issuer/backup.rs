//! `backup` and `restore`: a consistent copy of the database while the service runs, and its
//! restore into a fresh database, checked (the audit chain verified) before it is used.
//!
//! - SQLite: `VACUUM INTO` on a read connection (one snapshot, mode 0600); the restore checks
//!   the copy (`PRAGMA integrity_check`) and copies it to the database path.
//! - PostgreSQL: `pg_dump --format=custom` (one snapshot of a running database) and
//!   `pg_restore --single-transaction --exit-on-error --no-owner` into an empty database
//!   (the tools of the server's major version, from `PATH` or `--pg-bin`).

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use vaxpass_issuer::storage::{Backend, Storage, restore_sqlite};

use crate::cli::{CliError, Outcome};

/// Arguments of `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Database URL: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// The backup file to write (must not exist): a SQLite database, or a `pg_dump` archive.
    #[arg(long)]
    out: PathBuf,
    /// Directory of `pg_dump` / `pg_restore` (default: found in `PATH`).
    #[arg(long, env = "VAXPASS_PG_BIN")]
    pg_bin: Option<PathBuf>,
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file made by `backup`.
    #[arg(long)]
    from: PathBuf,
    /// The database to restore into: a SQLite file that does not exist yet, or an empty
    /// PostgreSQL database.
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// Directory of `pg_dump` / `pg_restore` (default: found in `PATH`).
    #[arg(long, env = "VAXPASS_PG_BIN")]
    pg_bin: Option<PathBuf>,
}

fn tool(bin: Option<&Path>, name: &str) -> PathBuf {
    match bin {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// Runs a PostgreSQL tool; its own messages go to standard error.
fn run_tool(mut cmd: Command, what: &str) -> Result<(), CliError> {
    let status = cmd.status().map_err(|e| {
        CliError::Usage(format!(
            "cannot run {what}: {e} (install the PostgreSQL client tools or pass --pg-bin)"
        ))
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{what} failed ({status}); its messages are above"
        )))
    }
}

/// The file of a `sqlite://PATH?…` URL.
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

/// `backup`.
pub fn backup(args: BackupArgs) -> Result<Outcome, CliError> {
    match Backend::from_url(&args.database)? {
        Backend::Postgres => {
            let mut cmd = Command::new(tool(args.pg_bin.as_deref(), "pg_dump"));
            cmd.arg("--format=custom")
                .arg("--file")
                .arg(&args.out)
                .arg("--dbname")
                .arg(&args.database);
            run_tool(cmd, "pg_dump")?;
        }
        Backend::Sqlite => {
            let runtime = crate::cli::runtime().map_err(CliError::Runtime)?;
            runtime.block_on(async {
                let storage = Storage::open(&args.database).await?;
                let result = storage.backup_sqlite(&args.out).await;
                storage.close().await;
                result
            })?;
        }
    }
    println!("backup written to {}", args.out.display());
    println!(
        "restore it with: vaxpass-issuer restore --from {} --database URL",
        args.out.display()
    );
    Ok(Outcome::Ok)
}

/// `restore`: the backup into a fresh database, then the audit chain checked.
pub fn restore(args: RestoreArgs) -> Result<Outcome, CliError> {
    match Backend::from_url(&args.database)? {
        Backend::Postgres => {
            let mut cmd = Command::new(tool(args.pg_bin.as_deref(), "pg_restore"));
            cmd.arg("--single-transaction")
                .arg("--exit-on-error")
                .arg("--no-owner")
                .arg("--dbname")
                .arg(&args.database)
                .arg(&args.from);
            run_tool(cmd, "pg_restore")?;
        }
        Backend::Sqlite => restore_sqlite(&args.from, &sqlite_path(&args.database))?,
    }
    println!("restored into {}", redact(&args.database));
    crate::cli::verify_audit(
        &args.database,
        "the restored database's audit chain is broken: do not serve from it; try an older backup",
    )
}

/// The URL without a password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
