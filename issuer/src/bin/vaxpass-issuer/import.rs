//! `registry import FILE`: streams a registry CSV into the database.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use clap::Args;
use vaxpass_issuer::registry_csv;
use vaxpass_issuer::storage::{Actor, Storage};

use crate::cli::{CliError, Outcome};

/// Rows per INSERT statement.
const BATCH: usize = 1_000;

/// Arguments of `registry import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The registry CSV (id_number,full_name,date_of_birth,sex).
    file: PathBuf,
    /// Database URL: `sqlite://PATH?mode=rwc` or `postgres://…` (pending migrations are applied).
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// Bad rows to print before only counting them.
    #[arg(long, default_value_t = 100)]
    max_errors: u64,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Persons inserted or updated.
    pub imported: u64,
    /// Rows skipped as bad.
    pub bad: u64,
}

/// Reads `path` row by row (one line in memory at a time) into `storage`, in one transaction.
/// Bad rows are printed (`line N: reason`, up to `max_errors`) and skipped.
pub async fn import_csv(
    storage: &Storage,
    path: &Path,
    max_errors: u64,
    actor: &Actor,
) -> Result<ImportReport, CliError> {
    let file = File::open(path).map_err(|source| CliError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut bad = 0u64;
    let persons = registry_csv::read_registry(io::BufReader::with_capacity(1 << 16, file))
        .filter_map(|row| match row {
            Ok(person) => Some(person),
            Err(e) => {
                bad += 1;
                if bad <= max_errors {
                    // The row error names the line and the field, never the value.
                    println!("{e}");
                }
                None
            }
        });
    let summary = storage.import_registry(persons, BATCH, actor).await?;
    if bad > max_errors {
        println!("… and {} more bad rows", bad - max_errors);
    }
    Ok(ImportReport {
        imported: summary.rows,
        bad,
    })
}

/// `registry import`.
pub fn run(args: ImportArgs) -> Result<Outcome, CliError> {
    let runtime = crate::cli::runtime().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let storage = Storage::open(&args.database).await?;
        let result = import_csv(
            &storage,
            &args.file,
            args.max_errors,
            &Actor::System("cli".into()),
        )
        .await;
        let total = storage.registry_count().await;
        storage.close().await;
        let report = result?;
        println!(
            "{} persons imported (inserted or updated), {} bad rows skipped; the registry now holds {} persons",
            report.imported,
            report.bad,
            total?
        );
        if report.bad > 0 {
            println!("fix the bad rows (line numbers above) and import the file again: good rows are updated, not duplicated");
            Ok(Outcome::Invalid)
        } else {
            Ok(Outcome::Ok)
        }
    })
}
