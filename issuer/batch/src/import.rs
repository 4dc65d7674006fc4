//! Bringing records to `confirmed` in bulk: an NDJSON file of dose records matched against
//! the registry ([`import_records`]: any [`PersonRegistry`], the local table loaded in memory
//! or the remote registry service), or a synthetic population for benchmarks ([`seed`]).

use std::io::{BufRead, Read};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use vaxpass_verifier::valuesets::ValueSets;

use crate::dates::Date;
use crate::matching::{DoseIdentity, InMemoryRegistry, match_record};
use crate::registry::{PersonRegistry, REGISTRY_UNAVAILABLE, RegistryError};
use crate::registry_csv::generate_persons;
use crate::storage::{
    Actor, ConfirmedRecord, InsertSummary, NewDoseRecord, Storage, StorageError, Vaccination,
};
use crate::workflow::intake::match_identity;
use crate::workflow::{SubmitRequest, submission};

/// Longest accepted NDJSON line (bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// Records stored per transaction by an import.
const IMPORT_CHUNK: usize = 20_000;

/// A line of the import file that was not stored. The message carries no personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: u64,
    /// `INVALID`, `MISMATCH`, `NOT_FOUND`, `FOREIGN_PASSPORT`, `REGISTRY_UNAVAILABLE`.
    pub code: &'static str,
    /// What is wrong (codes only for matching outcomes).
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {} ({})", self.line, self.code, self.message)
    }
}

/// What an import or a seed did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Lines (or synthetic persons) read.
    pub read: u64,
    /// Registry persons loaded (import) or written (seed).
    pub registry: u64,
    /// Records stored as confirmed, and records already stored under their key.
    pub stored: InsertSummary,
    /// Lines not stored (first 1,000 kept; `rejected` counts all).
    pub errors: Vec<LineError>,
    /// Lines not stored.
    pub rejected: u64,
    /// Time spent matching against the registry.
    pub matching: Duration,
    /// Time spent writing records (and, for a seed, the registry).
    pub writing: Duration,
}

impl ImportReport {
    fn reject(&mut self, line: u64, code: &'static str, message: String) {
        self.rejected += 1;
        if self.errors.len() < 1_000 {
            self.errors.push(LineError {
                line,
                code,
                message,
            });
        }
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Reading the file failed.
    #[error("cannot read the import file: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The embedded value sets do not load.
    #[error("the vaccine value sets do not load: {0}")]
    ValueSets(String),
}

/// One line of an import file: the API's dose record plus its clinic.
#[derive(Deserialize)]
struct Line {
    clinic_id: i64,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(flatten)]
    record: SubmitRequest,
}

/// One line as a dose record: the same validation as `POST /dose-records`
/// ([`submission::parse`]), then the optional idempotency key.
fn parse_line(line: Line) -> Result<(NewDoseRecord, Option<String>), String> {
    let record = submission::parse(line.record, line.clinic_id).map_err(|e| e.to_string())?;
    if line
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 200)
    {
        return Err("idempotency_key must be 1 to 200 characters".to_owned());
    }
    Ok((record, line.idempotency_key))
}

/// Loads the whole registry table in memory.
///
/// # Errors
/// [`StorageError`].
pub async fn load_registry(storage: &Storage) -> Result<InMemoryRegistry, StorageError> {
    let mut registry = InMemoryRegistry::with_capacity(
        usize::try_from(storage.registry_count().await?).unwrap_or(0),
    );
    let mut after = String::new();
    loop {
        let page = storage.registry_page(&after, 50_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id.to_string();
        for p in page {
            // The table's primary key makes duplicates impossible.
            let _ = registry.insert(p);
        }
    }
    Ok(registry)
}

/// Reads an NDJSON file of dose records (the API's `SubmitRequest` fields plus `clinic_id`
/// and an optional `idempotency_key`), matches each against `registry` (one lookup per line:
/// the local table loaded in memory by [`load_registry`], or the remote registry service) and
/// stores the verified ones as `confirmed` in transactions of 20,000; the others are reported
/// by line number and not stored — a line whose lookup failed with the code
/// `REGISTRY_UNAVAILABLE` (importing the file again retries it). A line without a key gets
/// `batch-<SHA-256 of the line>`, so importing the same file again stores nothing twice.
/// `report.registry` is left to the caller (the size of the table it loaded, if it did).
///
/// # Errors
/// [`ImportError`]; chunks stored before the error stay stored.
pub async fn import_records<R: BufRead>(
    storage: &Storage,
    registry: &impl PersonRegistry,
    mut input: R,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    // Checked once up front: every line's vaccine codes are looked up in them.
    ValueSets::shared().map_err(|e| ImportError::ValueSets(e.to_string()))?;
    let mut report = ImportReport::default();
    storage.tune_for_batch().await?;
    let mut chunk = Vec::with_capacity(IMPORT_CHUNK);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
            report.read += 1;
            report.reject(
                line_no,
                "INVALID",
                format!("line longer than {MAX_LINE} bytes"),
            );
            // Skip the rest of the line.
            loop {
                buf.clear();
                let n = (&mut input)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut buf)?;
                if n == 0 || buf.ends_with(b"\n") {
                    break;
                }
            }
            continue;
        }
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        report.read += 1;
        let parsed = serde_json::from_slice::<Line>(text)
            .map_err(|_| "not a JSON dose record with clinic_id".to_owned())
            .and_then(parse_line);
        let (record, key) = match parsed {
            Ok(r) => r,
            Err(message) => {
                report.reject(line_no, "INVALID", message);
                continue;
            }
        };
        let t = Instant::now();
        let result = match_identity(registry, &record.identity).await;
        report.matching += t.elapsed();
        let result = match result {
            Ok(result) => result,
            Err(RegistryError::Storage(e)) => return Err(e.into()),
            Err(e) => {
                // The error's text carries no personal data.
                report.reject(line_no, REGISTRY_UNAVAILABLE, e.to_string());
                continue;
            }
        };
        if !result.is_verified() {
            // Codes only: the redacted form carries no personal data.
            report.reject(line_no, result.code(), result.redacted().to_string());
            continue;
        }
        let idempotency_key =
            key.unwrap_or_else(|| format!("batch-{}", hex::encode(Sha256::digest(text))));
        chunk.push(ConfirmedRecord {
            record,
            idempotency_key,
            result,
        });
        if chunk.len() >= IMPORT_CHUNK {
            store(storage, &mut chunk, actor, &mut report).await?;
        }
    }
    store(storage, &mut chunk, actor, &mut report).await?;
    Ok(report)
}

async fn store(
    storage: &Storage,
    chunk: &mut Vec<ConfirmedRecord>,
    actor: &Actor,
    report: &mut ImportReport,
) -> Result<(), StorageError> {
    if chunk.is_empty() {
        return Ok(());
    }
    let t = Instant::now();
    let s = storage.insert_confirmed_records(chunk, actor).await?;
    report.writing += t.elapsed();
    report.stored.inserted += s.inserted;
    report.stored.existing += s.existing;
    chunk.clear();
    Ok(())
}

/// For benchmarks and tests: a synthetic registry of `count` persons (seeded, see
/// [`generate_persons`]) written to the registry table, one clinic, and one confirmed dose
/// record per person (Comirnaty, dose 2 of 2), each matched against the registry first.
/// Keys are `seed-<seed>-<n>`: seeding again with the same seed stores nothing twice.
///
/// # Errors
/// [`StorageError`].
pub async fn seed(
    storage: &Storage,
    count: u64,
    seed: u64,
    actor: &Actor,
) -> Result<ImportReport, StorageError> {
    let mut report = ImportReport::default();
    storage.tune_for_batch().await?;
    let persons: Vec<_> = generate_persons(count, seed).collect();
    report.read = persons.len() as u64;
    let t = Instant::now();
    let imported = storage
        // 250 rows a batch (one statement of 1,000 parameters on PostgreSQL; a prepared
        // statement per row on SQLite).
        .import_registry(persons.iter().cloned(), 250, actor)
        .await?;
    report.registry = imported.rows;
    let clinic = storage
        .create_clinic("Batch benchmark clinic", 79, actor)
        .await?;
    report.writing += t.elapsed();
    let mut registry = InMemoryRegistry::with_capacity(persons.len());
    for p in &persons {
        let _ = registry.insert(p.clone());
    }
    let mut chunk = Vec::with_capacity(IMPORT_CHUNK);
    for (n, p) in persons.iter().enumerate() {
        let record = NewDoseRecord {
            clinic_id: clinic,
            identity: DoseIdentity::from(p),
            vaccination: Vaccination {
                prophylaxis: "1119349007".into(),
                product: "EU/1/20/1528".into(),
                manufacturer: "ORG-100030215".into(),
                dose_number: 2,
                series_total: 2,
                date: Date::new(2021, 7 + (n % 6) as u8, 1 + (n % 28) as u8)
                    .map_err(|_| StorageError::Corrupt { what: "seed date" })?,
            },
        };
        let t = Instant::now();
        let result = match_record(&record.identity, &registry);
        report.matching += t.elapsed();
        if !result.is_verified() {
            report.reject(n as u64 + 1, result.code(), result.redacted().to_string());
            continue;
        }
        chunk.push(ConfirmedRecord {
            record,
            idempotency_key: format!("seed-{seed}-{n}"),
            result,
        });
        if chunk.len() >= IMPORT_CHUNK {
            store(storage, &mut chunk, actor, &mut report).await?;
        }
    }
    store(storage, &mut chunk, actor, &mut report).await?;
    Ok(report)
}
