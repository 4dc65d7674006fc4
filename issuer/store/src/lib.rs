//! The issuer's storage: registry persons, clinics and staff tokens, dose records with their
//! verification results, issued certificates and the hash-chained audit log.
//!
//! One [`Storage`] type serves both backends: SQLite (embedded, the default;
//! `sqlite://<path>?mode=rwc`, or `sqlite::memory:`) and PostgreSQL (`postgres://…`). One
//! driver per database, chosen once when the storage opens: SQLite through rusqlite only
//! (`sqlite/`), PostgreSQL through sqlx's `PgPool` only (`postgres/`). Every operation is
//! written once, on the transaction trait both drivers implement (`tx.rs`) and the reads of
//! `read.rs`, with `$n` placeholders; the schema differs only in types and lives per backend
//! under `issuer/store/migrations/{sqlite,postgres}/`, embedded and run by [`Storage::open`].
//!
//! ```
//! use vaxpass_issuer_domain::dates::{Date, PartialDate};
//! use vaxpass_issuer_domain::identity::{IdNumber, Sex};
//! use vaxpass_issuer_domain::matching::{match_record, DoseIdentity, InMemoryRegistry, RegistryPerson};
//! use vaxpass_issuer_store::{Actor, NewCertificate, NewDoseRecord, Role, Storage, Vaccination};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let url = format!("sqlite://{}?mode=rwc", dir.path().join("issuer.db").display());
//! let storage = Storage::open(&url).await?; // creates the file, runs the migrations
//! let admin = Actor::System("setup".into());
//!
//! let people = vec![RegistryPerson {
//!     id: IdNumber::parse_national("079090001234")?,
//!     full_name: "Nguyễn Văn An".into(),
//!     date_of_birth: Date::parse("1990-04-12")?,
//!     sex: Sex::Male,
//! }];
//! storage.import_registry(people.iter().cloned(), 500, &admin).await?;
//! let clinic = storage.create_clinic("Trạm Y tế Phường 1", 79, &admin).await?;
//! let (token, _) = storage.create_staff_token(clinic, Role::Staff, &admin).await?;
//! let staff = storage.authenticate(token.expose()).await?.ok_or("unknown token")?;
//! let actor = Actor::Staff(staff.token_id);
//!
//! // A clinic submits a record (retries with the same key return the same id) …
//! let p = &people[0];
//! let record = NewDoseRecord {
//!     clinic_id: staff.clinic_id,
//!     identity: DoseIdentity {
//!         id_number: p.id.to_string(),
//!         id_kind: p.id.kind(),
//!         full_name: p.full_name.clone(),
//!         date_of_birth: PartialDate::from(p.date_of_birth),
//!         sex: p.sex,
//!     },
//!     vaccination: Vaccination {
//!         prophylaxis: "1119349007".into(),
//!         product: "EU/1/20/1528".into(),
//!         manufacturer: "ORG-100030215".into(),
//!         dose_number: 2,
//!         series_total: 2,
//!         date: Date::parse("2021-09-01")?,
//!     },
//! };
//! let (id, created) = storage.insert_dose_record(&record, "request-1", &actor).await?;
//! assert!(created);
//!
//! // … it is matched against the registry …
//! let mut registry = InMemoryRegistry::new();
//! registry.insert(storage.find_person(&p.id).await?.ok_or("not registered")?)?;
//! let result = match_record(&record.identity, &registry);
//! storage.set_verification(id, &result, &Actor::System("matcher".into())).await?;
//!
//! // … and confirmed: `issue` builds and signs the certificate, stored once.
//! let issued = storage
//!     .confirm_and_issue(id, &actor, |r| {
//!         let person = r.registry_person.as_ref().ok_or(std::fmt::Error)?;
//!         Ok::<_, std::fmt::Error>(NewCertificate {
//!             uvci: "URN:UVCI:01:VN:EXAMPLE1".into(),
//!             hc1: "HC1:…".into(),
//!             payload: format!("{{\"dob\":\"{}\"}}", person.date_of_birth),
//!             kid: "AAAAAAAAAAA=".into(),
//!             iat: 1_700_000_000,
//!             exp: 1_731_536_000,
//!         })
//!     })
//!     .await?;
//! assert!(issued.newly_issued);
//! assert_eq!(storage.audit_verify().await?.entries, 7);
//! # Ok(())
//! # }
//! ```
//!
//! ## Durability and concurrency
//! - SQLite: WAL journal, `synchronous=FULL` (the WAL is synced at every commit, so a record is
//!   on disk when [`Storage::insert_dose_record`] returns), foreign keys on, a 10 s busy
//!   timeout. Every write of a storage runs on its one writer thread, which owns its
//!   connection and opens every transaction with `BEGIN IMMEDIATE` (no `SQLITE_BUSY` when
//!   upgrading a read lock; other processes wait on the busy timeout). Readers run beside the
//!   writer (WAL), on the calling thread, each on a read connection of a small pool.
//! - Group commit ([`CommitMode::Grouped`], the default on SQLite): the record writes
//!   (clinics, tokens, dose records, verifications, certificates, lookups, re-match notes) go
//!   to the writer (the thread on SQLite, a task on PostgreSQL), which runs those waiting at
//!   that moment in one transaction, each inside a `SAVEPOINT` (a failing write is rolled back
//!   alone and gets its own error), and commits them with one sync. Every caller is answered
//!   after that commit, so durability is that of one transaction per write, at a fraction of
//!   the syncs. [`CommitMode::PerOperation`] gives one transaction per write (on SQLite, on the
//!   same thread).
//! - Batch inserts of confirmed records and batch commits are writes like the others (one
//!   write each, grouped on SQLite); on PostgreSQL a batch commit runs in its claim's
//!   transaction, which holds the records' row locks. A registry import, which streams its
//!   persons, is a transaction of its own: on SQLite a session on the writer thread (which
//!   runs nothing else meanwhile), on PostgreSQL a transaction of the pool.
//! - An in-memory SQLite database (`sqlite::memory:`) is shared by the storage's connections
//!   through SQLite's `memdb` VFS; it has no WAL, so readers and the committing writer take
//!   turns on the busy timeout.
//! - PostgreSQL: the default `synchronous_commit=on`, one transaction per write by default.
//!   The write transaction of [`Storage::confirm_and_issue`] first locks the dose record's
//!   row and re-checks its status.
//! - Signing happens outside any transaction: [`Storage::confirm_and_issue`] reads the record,
//!   lets the caller sign, then stores the certificate only if the record is still verified
//!   and unchanged (an already issued record keeps its certificate; the fresh one is dropped).
//!   Confirmations of one record within a process take turns, so it is signed once.
//! - The audit log is appended in the same transaction as the change it records; appenders lock
//!   the one-row `audit_head`, which serialises them and keeps the chain linear (inside a
//!   group, in the order the writes run; a write rolled back to its savepoint takes its
//!   entries with it).
//!
//! No error text or `Debug` output here carries personal data (names, ID numbers, birth dates).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
mod audit;
mod backup;
mod batch;
mod console;
mod constraint;
pub mod corrections;
mod error;
mod group;
pub mod lookup;
mod migrate;
pub mod notices;
mod postgres;
pub mod ratelimit;
mod read;
pub mod reissue;
mod rematch;
pub mod revocations;
mod sqlite;
mod tokens;
mod tx;
mod write;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OwnedMutexGuard};

use vaxpass_issuer_domain::dates::{Date, PartialDate};
use vaxpass_issuer_domain::identity::{IdKind, IdNumber, Sex};
use vaxpass_issuer_domain::matching::{DoseIdentity, MatchResult, RegistryPerson};

pub use audit::{AuditBroken, AuditBrokenReason, AuditEntry, AuditReport};
pub use backup::restore_sqlite;
pub use batch::{
    Claim, ClaimLock, ConfirmedRecord, ExportedCertificate, InsertSummary, PendingRecord,
};
pub use console::MAX_CONSOLE_PAGE;
pub use error::{DatabaseError, StorageError};
pub use group::GroupStats;
use read::Arg;
pub use tokens::{AUTH_CACHE_TTL, MAX_ROTATION_GRACE_SECS, Rotated, TokenInfo, TokenState};
use tx::Tx;

/// Mode of the SQLite database file and its `-wal` and `-shm` files: they hold names, ID
/// numbers and birth dates.
pub const DATABASE_FILE_MODE: u32 = 0o600;

/// Creates the SQLite file `path` with mode 0600 if it does not exist and `create` (the URL
/// says `mode=rwc`), and takes the group's and others' access away from it and its `-wal` /
/// `-shm` files if they exist. SQLite creates the `-wal` and `-shm` files with the mode of the
/// database file, so they are private too.
pub(crate) fn make_private(path: &std::path::Path, create: bool) -> Result<(), StorageError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file_err = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| StorageError::File { path, source }
    };
    if create {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(DATABASE_FILE_MODE)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // A directory that does not exist: opening the database reports it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(file_err(path)(e)),
        }
    }
    let mut names = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        names.push(name.into());
    }
    for name in names {
        let meta = match std::fs::metadata(&name) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(file_err(&name)(e)),
        };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_file() && mode & 0o077 != 0 {
            std::fs::set_permissions(&name, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(file_err(&name))?;
        }
    }
    Ok(())
}

/// Largest registry batch: 4 values per row stay far below both backends' bind limits.
pub const MAX_IMPORT_BATCH: usize = 5_000;

/// How [`Storage`] commits its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Every write is a transaction of its own, committed (on SQLite: the WAL synced) before
    /// the next writer of this process starts.
    PerOperation,
    /// Group commit: one writer (a thread on SQLite, a task on PostgreSQL) gathers the writes
    /// waiting at that moment (at most `max_batch`) into one transaction, each inside a
    /// savepoint, and commits them with one sync; every caller is answered after that commit.
    /// The default on SQLite.
    Grouped {
        /// The most writes in one transaction.
        max_batch: usize,
    },
}

impl CommitMode {
    /// The default of a backend: [`CommitMode::Grouped`] (256 writes at most) on SQLite,
    /// [`CommitMode::PerOperation`] on PostgreSQL (which already shares its WAL flushes
    /// between concurrent commits).
    pub fn default_for(backend: Backend) -> CommitMode {
        match backend {
            Backend::Sqlite => CommitMode::Grouped { max_batch: 256 },
            Backend::Postgres => CommitMode::PerOperation,
        }
    }
}

/// Which database a [`Storage`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    ///
    /// # Errors
    /// [`StorageError::UnsupportedUrl`].
    pub fn from_url(url: &str) -> Result<Backend, StorageError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StorageError::UnsupportedUrl)
        }
    }
}

/// Who did something, as written in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A clinic staff member or admin, by token id.
    Staff(i64),
    /// A component of the service (`matcher`, `cli`, …).
    System(Cow<'static, str>),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Staff(id) => write!(f, "staff:{id}"),
            Actor::System(name) => write!(f, "system:{name}"),
        }
    }
}

/// A staff token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Acts on its own clinic's records.
    Staff,
    /// Manages clinics.
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }
}

/// Why [`Storage::confirm_and_issue_checked`] did not issue.
#[derive(Debug)]
pub enum Refused<CE> {
    /// The caller's check refused the record.
    Check(CE),
    /// As [`Storage::confirm_and_issue`].
    Storage(StorageError),
}

impl<CE> From<StorageError> for Refused<CE> {
    fn from(e: StorageError) -> Self {
        Refused::Storage(e)
    }
}

/// An authenticated token holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staff {
    /// The token's id (the audit actor).
    pub token_id: i64,
    /// The clinic it belongs to.
    pub clinic_id: i64,
    /// Its role.
    pub role: Role,
}

/// A freshly created token's plaintext: shown once, never stored. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// The token to hand to the staff member (`vxp_` and 64 hex digits).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(..)")
    }
}

/// The hex SHA-256 under which a token is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub use vaxpass_issuer_domain::record::Vaccination;

/// A dose record as a clinic submits it.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewDoseRecord {
    /// The submitting clinic.
    pub clinic_id: i64,
    /// The identity as typed.
    pub identity: DoseIdentity,
    /// The dose.
    pub vaccination: Vaccination,
}

impl fmt::Debug for NewDoseRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewDoseRecord")
            .field("clinic_id", &self.clinic_id)
            .field("identity", &self.identity)
            .field("vaccination", &self.vaccination)
            .finish()
    }
}

/// Where a dose record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordStatus {
    /// Stored, not yet matched against the registry.
    Received,
    /// Matches the registry: may be confirmed.
    Verified,
    /// The ID number is registered but fields differ.
    Mismatch,
    /// No registry person under the ID number.
    NotFound,
    /// A foreign passport: verified by hand, outside the registry.
    ManualReview,
    /// Confirmed by clinic staff (transient: [`Storage::confirm_and_issue`] confirms and issues
    /// in one transaction).
    Confirmed,
    /// The certificate is issued.
    Issued,
}

impl RecordStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Received => "received",
            RecordStatus::Verified => "verified",
            RecordStatus::Mismatch => "mismatch",
            RecordStatus::NotFound => "not_found",
            RecordStatus::ManualReview => "manual_review",
            RecordStatus::Confirmed => "confirmed",
            RecordStatus::Issued => "issued",
        }
    }

    fn parse(s: &str) -> Option<RecordStatus> {
        Some(match s {
            "received" => RecordStatus::Received,
            "verified" => RecordStatus::Verified,
            "mismatch" => RecordStatus::Mismatch,
            "not_found" => RecordStatus::NotFound,
            "manual_review" => RecordStatus::ManualReview,
            "confirmed" => RecordStatus::Confirmed,
            "issued" => RecordStatus::Issued,
            _ => return None,
        })
    }

    fn of(result: &MatchResult) -> RecordStatus {
        match result {
            MatchResult::Verified { .. } => RecordStatus::Verified,
            MatchResult::Mismatch { .. } => RecordStatus::Mismatch,
            MatchResult::NotFound { .. } => RecordStatus::NotFound,
            MatchResult::ForeignPassport { .. } => RecordStatus::ManualReview,
        }
    }
}

impl fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored dose record.
#[derive(Clone, PartialEq, Eq)]
pub struct DoseRecord {
    /// Its id.
    pub id: i64,
    /// The clinic that submitted it.
    pub clinic_id: i64,
    /// The identity as submitted.
    pub identity: DoseIdentity,
    /// The dose.
    pub vaccination: Vaccination,
    /// Where it stands.
    pub status: RecordStatus,
    /// The matching outcome code (`VERIFIED`, `MISMATCH`, …), once matched.
    pub outcome: Option<String>,
    /// The [`vaxpass_issuer_domain::matching::MatchReport`] as JSON, once matched (may quote personal data).
    pub match_report: Option<String>,
    /// The registry's canonical identity (verified records): what the certificate carries.
    pub registry_person: Option<RegistryPerson>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl fmt::Debug for DoseRecord {
    /// Redacted: no name, ID number, birth date or match report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoseRecord")
            .field("id", &self.id)
            .field("clinic_id", &self.clinic_id)
            .field("identity", &self.identity)
            .field("vaccination", &self.vaccination)
            .field("status", &self.status)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// A certificate to store, built by the caller of [`Storage::confirm_and_issue`] (issuance
/// produces it; the type is the domain's).
pub use vaxpass_issuer_domain::record::NewCertificate;

/// A stored certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    /// `URN:UVCI:01:VN:…`.
    pub uvci: String,
    /// The dose record it certifies (one certificate per record).
    pub dose_record_id: i64,
    /// The `HC1:` string.
    pub hc1: String,
    /// The HCERT payload as JSON.
    pub payload: String,
    /// The signer's key id (base64).
    pub kid: String,
    /// CWT issued-at, Unix seconds.
    pub iat: i64,
    /// CWT expiry, Unix seconds.
    pub exp: i64,
    /// When it was stored, Unix seconds.
    pub issued_at: i64,
}

impl fmt::Debug for Certificate {
    /// Redacted: the payload and HC1 string (personal data) are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("uvci", &self.uvci)
            .field("dose_record_id", &self.dose_record_id)
            .field("kid", &self.kid)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// What [`Storage::confirm_and_issue`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The record's certificate.
    pub certificate: Certificate,
    /// `false` when the record had been issued before and the stored certificate is returned.
    pub newly_issued: bool,
}

/// A page of a clinic's records, in id order: keyset pagination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Records with an id above this one (`None`: from the start).
    pub after_id: Option<i64>,
    /// At most this many (capped at 1,000).
    pub limit: u32,
}

/// What [`Storage::import_registry`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// Rows inserted or updated.
    pub rows: u64,
    /// Batches of rows sent.
    pub batches: u64,
}

/// What [`Storage::sqlite_settings`] reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// `wal`.
    pub journal_mode: String,
    /// 2 = `FULL`.
    pub synchronous: i64,
    /// Foreign keys enforced.
    pub foreign_keys: bool,
    /// Busy timeout in milliseconds.
    pub busy_timeout_ms: i64,
}

pub use vaxpass_issuer_domain::clock::Clock;

/// One async lock per key, created on demand and removed when nobody holds or waits for it.
#[derive(Default)]
struct KeyedLocks {
    locks: std::sync::Mutex<HashMap<i64, Arc<Mutex<()>>>>,
}

/// Holds a [`KeyedLocks`] key; releases (and forgets an unused lock) on drop.
struct KeyGuard<'a> {
    owner: &'a KeyedLocks,
    key: i64,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    async fn lock(&self, key: i64) -> KeyGuard<'_> {
        let lock = match self.locks.lock() {
            Ok(mut map) => map.entry(key).or_default().clone(),
            // A poisoned map (a panic elsewhere): a private lock still serialises nothing,
            // and the database's re-check keeps the outcome right.
            Err(_) => Arc::new(Mutex::new(())),
        };
        KeyGuard {
            owner: self,
            key,
            guard: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.guard = None;
        if let Ok(mut map) = self.owner.locks.lock() {
            // Only the map holds it now: nobody waits for this key.
            if map
                .get(&self.key)
                .is_some_and(|l| Arc::strong_count(l) == 1)
            {
                map.remove(&self.key);
            }
        }
    }
}

/// The issuer's database, SQLite or PostgreSQL. Cheap to clone (handles to its driver).
#[derive(Clone)]
pub struct Storage {
    /// Where reads run (the read side of the driver, see `read`).
    reader: read::Reader,
    /// Where writes run (the write side of the driver, see `write`).
    writer: write::Writer,
    /// Which database the driver talks to.
    backend: Backend,
    clock: Clock,
    /// Confirmations in progress in this process, by record: one signs, the others wait.
    confirming: Arc<KeyedLocks>,
    /// Recently authenticated tokens (see [`Storage::authenticate`]).
    auth_cache: Arc<tokens::AuthCache>,
    /// The audit head as the last write of this process left it (a checked hint).
    audit_head: Arc<audit::HeadCache>,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.backend)
            .field("group_commit", &self.writer.stats().is_some())
            .finish_non_exhaustive()
    }
}

const RECORD_COLUMNS: &str = "id, clinic_id, id_number, id_kind, full_name, date_of_birth, sex, \
    prophylaxis, product, manufacturer, dose_number, series_total, vaccination_date, status, outcome, \
    match_report, registry_person, created_at, updated_at";

const CERT_COLUMNS: &str = "uvci, dose_record_id, hc1, payload, kid, iat, exp, issued_at";

fn corrupt(what: &'static str) -> StorageError {
    StorageError::Corrupt { what }
}

fn id_kind_str(kind: IdKind) -> &'static str {
    match kind {
        IdKind::National => "national",
        IdKind::ForeignPassport => "foreign_passport",
    }
}

/// A stored row, read by column name: rusqlite's rows and sqlx's PostgreSQL rows alike, so
/// that stored values are parsed into records by one piece of code.
pub(crate) trait Columns {
    /// A TEXT column.
    fn text(&self, col: &str) -> Result<String, StorageError>;
    /// A nullable TEXT column.
    fn text_or_null(&self, col: &str) -> Result<Option<String>, StorageError>;
    /// An INTEGER column.
    fn int(&self, col: &str) -> Result<i64, StorageError>;
    /// A nullable INTEGER column.
    fn int_or_null(&self, col: &str) -> Result<Option<i64>, StorageError>;
}

/// A count column (dose number, series total) as a `u32`.
fn count(row: &dyn Columns, col: &'static str) -> Result<u32, StorageError> {
    u32::try_from(row.int(col)?).map_err(|_| corrupt(col))
}

/// The vaccination columns shared by records and pending records.
fn vaccination_from_row(row: &dyn Columns) -> Result<Vaccination, StorageError> {
    Ok(Vaccination {
        prophylaxis: row.text("prophylaxis")?,
        product: row.text("product")?,
        manufacturer: row.text("manufacturer")?,
        dose_number: count(row, "dose_number")?,
        series_total: count(row, "series_total")?,
        date: Date::parse(&row.text("vaccination_date")?)
            .map_err(|_| corrupt("vaccination date"))?,
    })
}

fn record_from_row(row: &dyn Columns) -> Result<DoseRecord, StorageError> {
    let id_kind = match row.text("id_kind")?.as_str() {
        "national" => IdKind::National,
        "foreign_passport" => IdKind::ForeignPassport,
        _ => return Err(corrupt("document kind")),
    };
    let sex = Sex::parse(&row.text("sex")?).ok_or(corrupt("sex"))?;
    let dob = PartialDate::parse(&row.text("date_of_birth")?).map_err(|_| corrupt("birth date"))?;
    let status = RecordStatus::parse(&row.text("status")?).ok_or(corrupt("record status"))?;
    let registry_person = match row.text_or_null("registry_person")? {
        Some(json) => Some(serde_json::from_str(&json).map_err(|_| corrupt("registry person"))?),
        None => None,
    };
    Ok(DoseRecord {
        id: row.int("id")?,
        clinic_id: row.int("clinic_id")?,
        identity: DoseIdentity {
            id_number: row.text("id_number")?,
            id_kind,
            full_name: row.text("full_name")?,
            date_of_birth: dob,
            sex,
        },
        vaccination: vaccination_from_row(row)?,
        status,
        outcome: row.text_or_null("outcome")?,
        match_report: row.text_or_null("match_report")?,
        registry_person,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

const FIND_PERSON_SQL: &str =
    "SELECT full_name, date_of_birth, sex FROM registry_persons WHERE id_number = $1";

/// A registry person (a row of [`FIND_PERSON_SQL`]) with the ID number it was found under.
fn person_from_row(row: &dyn Columns, id: &IdNumber) -> Result<RegistryPerson, StorageError> {
    Ok(RegistryPerson {
        id: id.clone(),
        full_name: row.text("full_name")?,
        date_of_birth: Date::parse(&row.text("date_of_birth")?)
            .map_err(|_| corrupt("registry birth date"))?,
        sex: Sex::parse(&row.text("sex")?).ok_or(corrupt("registry sex"))?,
    })
}

fn cert_from_row(row: &dyn Columns) -> Result<Certificate, StorageError> {
    Ok(Certificate {
        uvci: row.text("uvci")?,
        dose_record_id: row.int("dose_record_id")?,
        hc1: row.text("hc1")?,
        payload: row.text("payload")?,
        kid: row.text("kid")?,
        iat: row.int("iat")?,
        exp: row.int("exp")?,
        issued_at: row.int("issued_at")?,
    })
}

impl Storage {
    /// Opens (creating a SQLite file if the URL says `mode=rwc`) and migrates the database,
    /// with the backend's default [`CommitMode`]. Call it inside a Tokio runtime, which runs
    /// the group-commit writer.
    ///
    /// # Errors
    /// [`StorageError::UnsupportedUrl`], [`StorageError::Unavailable`] (cannot connect),
    /// [`StorageError::CorruptDatabase`] (a file that is not a SQLite database),
    /// [`StorageError::SchemaTooNew`] (migrated by a newer issuer),
    /// [`StorageError::SchemaMismatch`], [`StorageError::Migrate`], [`StorageError::Database`].
    pub async fn open(url: &str) -> Result<Storage, StorageError> {
        let backend = Backend::from_url(url)?;
        Storage::open_with(url, CommitMode::default_for(backend)).await
    }

    /// [`Storage::open`] with a chosen [`CommitMode`].
    ///
    /// # Errors
    /// As [`Storage::open`].
    pub async fn open_with(url: &str, mode: CommitMode) -> Result<Storage, StorageError> {
        let max_batch = match mode {
            CommitMode::PerOperation => None,
            CommitMode::Grouped { max_batch } => Some(max_batch),
        };
        let backend = Backend::from_url(url)?;
        let (reader, writer) = match backend {
            Backend::Sqlite => {
                // Per operation: the writer thread's groups are of one write.
                let (readers, writer) =
                    sqlite::open(url, max_batch.unwrap_or(1), max_batch.is_some())?;
                (read::Reader::Sqlite(readers), write::Writer::Sqlite(writer))
            }
            Backend::Postgres => {
                let pool = postgres::open(url).await?;
                (
                    read::Reader::Postgres(pool.clone()),
                    write::Writer::Postgres(postgres::Writer::new(pool, max_batch)),
                )
            }
        };
        Ok(Storage {
            reader,
            writer,
            backend,
            clock: Clock::system(),
            confirming: Arc::default(),
            auth_cache: Arc::default(),
            audit_head: Arc::default(),
        })
    }

    /// Replaces the clock (Unix seconds) used for timestamps.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Storage {
        self.clock = Clock::from_fn(clock);
        self
    }

    /// Replaces the clock with the service's clock (shared with the API and batch issuance).
    #[must_use]
    pub fn with_service_clock(mut self, clock: Clock) -> Storage {
        self.clock = clock;
        self
    }

    /// The clock this storage stamps its rows with: the service's one clock (the API and batch
    /// issuance read it too).
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// Checks that the database answers (`SELECT 1`): the service's readiness probe.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.reader.one("SELECT 1", &[], |_| Ok(())).await
    }

    /// The one number a `SELECT COUNT(*) AS n …` returns.
    async fn count(&self, sql: &str) -> Result<u64, StorageError> {
        let n = self.reader.one(sql, &[], |row| row.int("n")).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (waits for those in use to be returned).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The group-commit writer's counters (`None` with [`CommitMode::PerOperation`]):
    /// `writes / groups` is the number of writes one sync acknowledged on average.
    pub fn group_stats(&self) -> Option<GroupStats> {
        self.writer.stats()
    }

    /// Runs a write operation: with [`CommitMode::Grouped`] in the writer's current group
    /// (inside a savepoint), else in a transaction of its own. Returns after the commit.
    async fn write<T, F>(&self, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> group::BoxFuture<'t, Result<T, StorageError>>
            + Send
            + 'static,
    {
        self.writer.write(op).await
    }

    /// SQLite: the settings in force on a connection of the storage (`None` on PostgreSQL),
    /// to check the durability choices described in the module documentation.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn sqlite_settings(&self) -> Result<Option<SqliteSettings>, StorageError> {
        self.reader.sqlite_settings()
    }

    // ----- registry -----

    /// Inserts or updates registry persons in batches of `batch` rows, all in one transaction
    /// (all or nothing), with one audit entry.
    ///
    /// # Errors
    /// [`StorageError::BatchSize`], [`StorageError::Database`].
    pub async fn import_registry<I>(
        &self,
        persons: I,
        batch: usize,
        actor: &Actor,
    ) -> Result<ImportSummary, StorageError>
    where
        I: IntoIterator<Item = RegistryPerson>,
    {
        if batch == 0 || batch > MAX_IMPORT_BATCH {
            return Err(StorageError::BatchSize);
        }
        let mut tx = self.writer.bulk().await?;
        let mut summary = ImportSummary::default();
        let mut buf: Vec<RegistryPerson> = Vec::with_capacity(batch);
        let mut persons = persons.into_iter();
        loop {
            buf.clear();
            buf.extend(persons.by_ref().take(batch));
            if buf.is_empty() {
                break;
            }
            // One statement may not touch a row twice (PostgreSQL refuses): within a batch,
            // the last row for an ID number wins, as it would across batches.
            let mut seen = std::collections::HashMap::with_capacity(buf.len());
            let mut duplicates = false;
            for (i, p) in buf.iter().enumerate() {
                duplicates |= seen.insert(p.id.clone(), i).is_some();
            }
            if duplicates {
                let mut i = 0;
                buf.retain(|p| {
                    let keep = seen.get(&p.id) == Some(&i);
                    i += 1;
                    keep
                });
            }
            let rows: Vec<[String; 4]> = buf
                .iter()
                .map(|p| {
                    [
                        p.id.to_string(),
                        p.full_name.clone(),
                        p.date_of_birth.to_string(),
                        p.sex.code().to_owned(),
                    ]
                })
                .collect();
            tx.run(move |tx| {
                Box::pin(async move {
                    let args: Vec<Arg<'_>> = rows.iter().flatten().map(|v| Arg::Text(v)).collect();
                    tx.insert_rows(UPSERT_HEAD, 4, UPSERT_TAIL, &args, &mut |_| Ok(()))
                        .await
                })
            })
            .await?;
            summary.rows += buf.len() as u64;
            summary.batches += 1;
        }
        let now = self.now();
        let actor = actor.to_string();
        let rows = summary.rows;
        tx.run(move |tx| {
            Box::pin(async move {
                audit::append(
                    tx,
                    now,
                    vec![audit::NewEntry {
                        actor,
                        action: "registry.import",
                        subject: "registry".into(),
                        details: serde_json::json!({ "rows": rows }),
                    }],
                )
                .await
            })
        })
        .await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// The registry person with this ID number.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn find_person(&self, id: &IdNumber) -> Result<Option<RegistryPerson>, StorageError> {
        self.reader
            .first(FIND_PERSON_SQL, &[Arg::Text(&id.to_string())], |row| {
                person_from_row(row, id)
            })
            .await
    }

    /// Number of registry persons.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn registry_count(&self) -> Result<u64, StorageError> {
        self.count("SELECT COUNT(*) AS n FROM registry_persons")
            .await
    }

    // ----- clinics and tokens -----

    /// Creates a clinic and returns its id.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn create_clinic(
        &self,
        name: &str,
        province: u16,
        actor: &Actor,
    ) -> Result<i64, StorageError> {
        let now = self.now();
        let name = name.to_owned();
        let actor = actor.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let id = tx::one(
                    tx,
                    "INSERT INTO clinics (name, province, created_at) VALUES ($1, $2, $3) \
                     RETURNING id",
                    &[
                        Arg::Text(&name),
                        Arg::Int(i64::from(province)),
                        Arg::Int(now),
                    ],
                    |row| row.int("id"),
                )
                .await?;
                audit::append(
                    tx,
                    now,
                    vec![audit::NewEntry {
                        actor,
                        action: "clinic.create",
                        subject: format!("clinic:{id}"),
                        details: serde_json::json!({ "province": province }),
                    }],
                )
                .await?;
                Ok(id)
            })
        })
        .await
    }

    /// Creates a staff token for a clinic: 32 random bytes, returned once as plaintext; only
    /// its SHA-256 is stored. Returns the plaintext and the token's id.
    ///
    /// # Errors
    /// [`StorageError::UnknownClinic`], [`StorageError::Database`].
    pub async fn create_staff_token(
        &self,
        clinic_id: i64,
        role: Role,
        actor: &Actor,
    ) -> Result<(TokenSecret, i64), StorageError> {
        self.create_staff_token_until(clinic_id, role, None, actor)
            .await
    }

    // ----- dose records -----

    /// Stores a dose record under the clinic's idempotency key and returns its id and whether
    /// it was created now (`false`: the same record was stored before under this key). The
    /// record is committed (on SQLite: synced to disk) when this returns.
    ///
    /// # Errors
    /// [`StorageError::IdempotencyConflict`] (the key was used for a different record),
    /// [`StorageError::UnknownClinic`], [`StorageError::Database`].
    pub async fn insert_dose_record(
        &self,
        record: &NewDoseRecord,
        idempotency_key: &str,
        actor: &Actor,
    ) -> Result<(i64, bool), StorageError> {
        let request_hash = request_hash(record)?;
        let now = self.now();
        let record = record.clone();
        let key = idempotency_key.to_owned();
        let actor = actor.to_string();
        let head = self.audit_head.clone();
        self.write(move |tx| {
            Box::pin(async move {
                insert_record_tx(tx, &record, &key, &request_hash, now, actor, &head).await
            })
        })
        .await
    }

    /// [`Storage::insert_dose_record`] and [`Storage::set_verification`] in one write: a new
    /// record is stored with its matching outcome `result` (audited as by `actor` and
    /// `matcher`), so a submission costs one commit. A record stored before under the key
    /// (`created == false`) is left as it is and `result` ignored. Returns the id, whether it
    /// was created now, and the stored status.
    ///
    /// # Errors
    /// As [`Storage::insert_dose_record`].
    pub async fn insert_and_verify(
        &self,
        record: &NewDoseRecord,
        idempotency_key: &str,
        actor: &Actor,
        result: &MatchResult,
        matcher: &Actor,
    ) -> Result<(i64, bool, RecordStatus), StorageError> {
        let request_hash = request_hash(record)?;
        let verification = Verification::of(result)?;
        let now = self.now();
        let record = record.clone();
        let key = idempotency_key.to_owned();
        let actor = actor.to_string();
        let matcher = matcher.to_string();
        let head = self.audit_head.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let (id, created) =
                    insert_record_rows(tx, &record, &key, &request_hash, now, actor).await?;
                let Some(created) = created else {
                    let status = tx::one(
                        tx,
                        "SELECT status FROM dose_records WHERE id = $1",
                        &[Arg::Int(id)],
                        |row| row.text("status"),
                    )
                    .await?;
                    let status = RecordStatus::parse(&status).ok_or(corrupt("record status"))?;
                    return Ok((id, false, status));
                };
                let (status, verified) = verify_rows(tx, id, verification, now, matcher).await?;
                // Both entries in one append: one head update, one INSERT.
                audit::append_cached(tx, now, vec![created, verified], &head).await?;
                Ok((id, true, status))
            })
        })
        .await
    }

    /// A dose record by id.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn get_dose_record(&self, id: i64) -> Result<Option<DoseRecord>, StorageError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM dose_records WHERE id = $1");
        self.reader
            .first(&sql, &[Arg::Int(id)], record_from_row)
            .await
    }

    /// Stores the registry matching outcome of a record (again if re-matched), unless it is
    /// already confirmed or issued.
    ///
    /// # Errors
    /// [`StorageError::NotFound`], [`StorageError::AlreadyIssued`], [`StorageError::Database`].
    pub async fn set_verification(
        &self,
        id: i64,
        result: &MatchResult,
        actor: &Actor,
    ) -> Result<RecordStatus, StorageError> {
        let verification = Verification::of(result)?;
        let now = self.now();
        let actor = actor.to_string();
        let head = self.audit_head.clone();
        self.write(move |tx| {
            Box::pin(async move { verify_tx(tx, id, verification, now, actor, &head).await })
        })
        .await
    }

    /// Confirms a verified record and stores its certificate:
    /// - a record already issued returns its stored certificate (`newly_issued: false`) and
    ///   `issue` is not called;
    /// - a record not verified is refused ([`StorageError::NotVerified`]);
    /// - otherwise `issue` builds the certificate (sign it there) from the record as read,
    ///   outside any transaction or lock of the database. Then, in one write transaction, the
    ///   record is checked again: if it was issued meanwhile (by another process), the stored
    ///   certificate is returned and the fresh one dropped unstored, so no record gets two
    ///   UVCIs; if it was matched again, [`StorageError::Changed`]; else the certificate is
    ///   inserted (the UVCI is UNIQUE in the database), the record marked issued, and the
    ///   audit entries `dose_record.confirm` and `certificate.issue` appended, atomically.
    ///
    /// Concurrent calls for one record in this process run one after the other (`issue` is
    /// called once); calls for different records sign in parallel.
    ///
    /// # Errors
    /// [`StorageError::NotFound`], [`StorageError::NotVerified`], [`StorageError::Issue`],
    /// [`StorageError::DuplicateUvci`], [`StorageError::Changed`], [`StorageError::Database`].
    pub async fn confirm_and_issue<F, E>(
        &self,
        id: i64,
        actor: &Actor,
        issue: F,
    ) -> Result<Issued, StorageError>
    where
        F: FnOnce(&DoseRecord) -> Result<NewCertificate, E>,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.confirm_and_issue_with(id, actor, |record| std::future::ready(issue(&record)))
            .await
    }

    /// [`Storage::confirm_and_issue`] with an asynchronous `issue`, e.g. one that signs on
    /// `tokio::task::spawn_blocking` so the async workers are not held by the signature.
    ///
    /// # Errors
    /// As [`Storage::confirm_and_issue`].
    pub async fn confirm_and_issue_with<F, Fut, E>(
        &self,
        id: i64,
        actor: &Actor,
        issue: F,
    ) -> Result<Issued, StorageError>
    where
        F: FnOnce(DoseRecord) -> Fut,
        Fut: Future<Output = Result<NewCertificate, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.confirm_and_issue_checked(id, actor, |_| Ok::<(), StorageError>(()), issue)
            .await
            .map_err(|e| match e {
                Refused::Storage(e) => e,
                Refused::Check(e) => e,
            })
    }

    /// [`Storage::confirm_and_issue_with`] that first lets `check` refuse the record as read
    /// (e.g. it belongs to another clinic), whatever its status, before anything else happens:
    /// the record is read once for both.
    ///
    /// # Errors
    /// [`Refused::Check`] with `check`'s error, or [`Refused::Storage`] as
    /// [`Storage::confirm_and_issue`].
    pub async fn confirm_and_issue_checked<C, CE, F, Fut, E>(
        &self,
        id: i64,
        actor: &Actor,
        check: C,
        issue: F,
    ) -> Result<Issued, Refused<CE>>
    where
        C: FnOnce(&DoseRecord) -> Result<(), CE>,
        F: FnOnce(DoseRecord) -> Fut,
        Fut: Future<Output = Result<NewCertificate, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let _turn = self.confirming.lock(id).await;
        let record = self
            .get_dose_record(id)
            .await?
            .ok_or(StorageError::NotFound {
                what: "dose record",
                id,
            })?;
        check(&record).map_err(Refused::Check)?;
        match record.status {
            RecordStatus::Issued => {
                let certificate = self
                    .certificate_for_record(id)
                    .await?
                    .ok_or(corrupt("issued record without certificate"))?;
                return Ok(Issued {
                    certificate,
                    newly_issued: false,
                });
            }
            RecordStatus::Verified => {}
            status => return Err(StorageError::NotVerified { id, status }.into()),
        }
        let signed_for = record.registry_person.clone();
        let clinic_id = record.clinic_id;
        let new = issue(record)
            .await
            .map_err(|e| StorageError::Issue(Box::new(e)))?;
        let now = self.now();
        let actor = actor.to_string();
        let head = self.audit_head.clone();
        Ok(self
            .write(move |tx| {
                Box::pin(async move {
                    store_certificate_tx(tx, id, clinic_id, signed_for, new, now, actor, &head)
                        .await
                })
            })
            .await?)
    }

    /// The certificate with this UVCI.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn get_certificate(&self, uvci: &str) -> Result<Option<Certificate>, StorageError> {
        let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE uvci = $1");
        self.reader
            .first(&sql, &[Arg::Text(uvci)], cert_from_row)
            .await
    }

    /// The certificate of a dose record.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn certificate_for_record(
        &self,
        dose_record_id: i64,
    ) -> Result<Option<Certificate>, StorageError> {
        let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE dose_record_id = $1");
        self.reader
            .first(&sql, &[Arg::Int(dose_record_id)], cert_from_row)
            .await
    }

    /// A page of a clinic's records in id order.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn records_for_clinic(
        &self,
        clinic_id: i64,
        page: Page,
    ) -> Result<Vec<DoseRecord>, StorageError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM dose_records WHERE clinic_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        );
        let args = [
            Arg::Int(clinic_id),
            Arg::Int(page.after_id.unwrap_or(0)),
            Arg::Int(i64::from(page.limit.min(1_000))),
        ];
        self.reader.all(&sql, &args, record_from_row).await
    }

    /// Whether the clinic already stored a record under `idempotency_key` (a retry), without
    /// storing anything. Lets a rate-limited retry of a stored line get its answer.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn has_record_with_key(
        &self,
        clinic_id: i64,
        idempotency_key: &str,
    ) -> Result<bool, StorageError> {
        let sql = "SELECT id FROM dose_records WHERE clinic_id = $1 AND idempotency_key = $2";
        let args = [Arg::Int(clinic_id), Arg::Text(idempotency_key)];
        Ok(self.reader.first(sql, &args, |_| Ok(())).await?.is_some())
    }

    // ----- audit -----

    /// Audit entries with `seq > after`, at most `limit` (capped at 1,000).
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn audit_entries(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let sql = "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2";
        let args = [Arg::Int(after), Arg::Int(i64::from(limit.min(1_000)))];
        self.reader.all(sql, &args, audit::entry_from_row).await
    }

    /// Verifies the whole audit chain: every entry's hash, every link, no gap in `seq`, and
    /// the last entry against the head row.
    ///
    /// # Errors
    /// [`StorageError::AuditBroken`] with the first bad `seq` and why;
    /// [`StorageError::Database`].
    pub async fn audit_verify(&self) -> Result<AuditReport, StorageError> {
        // The head first: entries up to its seq were committed with it.
        let (head_seq, head_hash) = self
            .reader
            .one(
                "SELECT seq, hash FROM audit_head WHERE id = 1",
                &[],
                |row| Ok((row.int("seq")?, row.text("hash")?)),
            )
            .await?;
        let mut verifier = audit::Verifier::new();
        let mut after = 0;
        loop {
            let entries = self
                .reader
                .all(
                    "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
                     WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 1000",
                    &[Arg::Int(after), Arg::Int(head_seq)],
                    audit::entry_from_row,
                )
                .await?;
            if entries.is_empty() {
                break;
            }
            for entry in &entries {
                verifier.check(entry)?;
                after = entry.seq;
            }
        }
        Ok(verifier.finish(head_seq, &head_hash)?)
    }
}

/// The registry upsert, before its `VALUES` (4 columns a person) …
const UPSERT_HEAD: &str = "INSERT INTO registry_persons (id_number, full_name, date_of_birth, sex)";
/// … and after: the last row for an ID number wins.
const UPSERT_TAIL: &str = " ON CONFLICT (id_number) DO UPDATE SET full_name = excluded.full_name, \
    date_of_birth = excluded.date_of_birth, sex = excluded.sex";

/// The hex SHA-256 of a record's content: the idempotency check compares it.
fn request_hash(record: &NewDoseRecord) -> Result<String, StorageError> {
    Ok(hex::encode(Sha256::digest(
        serde_json::to_vec(record).map_err(|_| corrupt("dose record"))?,
    )))
}

/// A matching outcome as stored by `verify_tx`.
struct Verification {
    status: RecordStatus,
    code: &'static str,
    report: String,
    person: Option<String>,
    /// Codes only (`MatchResult::redacted`): no personal data.
    redacted: String,
}

impl Verification {
    fn of(result: &MatchResult) -> Result<Verification, StorageError> {
        Ok(Verification {
            status: RecordStatus::of(result),
            code: result.code(),
            report: serde_json::to_string(&result.report()).map_err(|_| corrupt("report"))?,
            person: match result {
                MatchResult::Verified { person, .. } => {
                    Some(serde_json::to_string(person).map_err(|_| corrupt("registry person"))?)
                }
                _ => None,
            },
            redacted: result.redacted().to_string(),
        })
    }
}

/// Inserts a record (or finds the one stored under its key) inside `tx`; returns its id and,
/// when created now, the audit entry to append.
async fn insert_record_rows(
    tx: &mut dyn Tx,
    record: &NewDoseRecord,
    idempotency_key: &str,
    request_hash: &str,
    now: i64,
    actor: String,
) -> Result<(i64, Option<audit::NewEntry>), StorageError> {
    let id_ = &record.identity;
    let v = &record.vaccination;
    let dob = id_.date_of_birth.to_string();
    let date = v.date.to_string();
    let args = [
        Arg::Int(record.clinic_id),
        Arg::Text(idempotency_key),
        Arg::Text(request_hash),
        Arg::Text(&id_.id_number),
        Arg::Text(id_kind_str(id_.id_kind)),
        Arg::Text(&id_.full_name),
        Arg::Text(&dob),
        Arg::Text(id_.sex.code()),
        Arg::Text(&v.product),
        Arg::Text(&v.manufacturer),
        Arg::Int(i64::from(v.dose_number)),
        Arg::Int(i64::from(v.series_total)),
        Arg::Text(&date),
        Arg::Int(now),
        Arg::Text(&v.prophylaxis),
    ];
    let inserted = tx::first(tx, INSERT_RECORD_SQL, &args, |row| row.int("id"))
        .await
        .map_err(|e| match constraint::of_error(&e) {
            Some(constraint::Violation::ForeignKey) => {
                StorageError::UnknownClinic(record.clinic_id)
            }
            _ => e,
        })?;
    if let Some(id) = inserted {
        return Ok((id, Some(create_entry(id, record, actor))));
    }
    let (existing_id, stored_hash) = tx::one(
        tx,
        "SELECT id, request_hash FROM dose_records WHERE clinic_id = $1 AND idempotency_key = $2",
        &[Arg::Int(record.clinic_id), Arg::Text(idempotency_key)],
        |row| Ok((row.int("id")?, row.text("request_hash")?)),
    )
    .await?;
    if stored_hash != request_hash {
        return Err(StorageError::IdempotencyConflict { existing_id });
    }
    Ok((existing_id, None))
}

/// Inserts a record (or finds the one stored under its key) inside `tx` and appends its audit
/// entry.
async fn insert_record_tx(
    tx: &mut dyn Tx,
    record: &NewDoseRecord,
    idempotency_key: &str,
    request_hash: &str,
    now: i64,
    actor: String,
    head: &audit::HeadCache,
) -> Result<(i64, bool), StorageError> {
    let (id, entry) =
        insert_record_rows(tx, record, idempotency_key, request_hash, now, actor).await?;
    let created = entry.is_some();
    if let Some(entry) = entry {
        audit::append_cached(tx, now, vec![entry], head).await?;
    }
    Ok((id, created))
}

/// Stores a matching outcome inside `tx` and appends its audit entry.
async fn verify_tx(
    tx: &mut dyn Tx,
    id: i64,
    v: Verification,
    now: i64,
    actor: String,
    head: &audit::HeadCache,
) -> Result<RecordStatus, StorageError> {
    let (status, entry) = verify_rows(tx, id, v, now, actor).await?;
    audit::append_cached(tx, now, vec![entry], head).await?;
    Ok(status)
}

/// Stores a matching outcome inside `tx`; returns the status and the audit entry to append.
async fn verify_rows(
    tx: &mut dyn Tx,
    id: i64,
    v: Verification,
    now: i64,
    actor: String,
) -> Result<(RecordStatus, audit::NewEntry), StorageError> {
    let entry = verify_entry(id, &v, actor);
    let args = [
        Arg::Text(v.status.as_str()),
        Arg::Text(v.code),
        Arg::Text(&v.report),
        Arg::OptText(v.person.as_deref()),
        Arg::Int(now),
        Arg::Int(id),
    ];
    let updated = tx::first(tx, VERIFY_SQL, &args, |_| Ok(())).await?;
    if updated.is_none() {
        let exists = tx::first(
            tx,
            "SELECT id FROM dose_records WHERE id = $1",
            &[Arg::Int(id)],
            |_| Ok(()),
        )
        .await?;
        return Err(match exists {
            Some(()) => StorageError::AlreadyIssued { id },
            None => StorageError::NotFound {
                what: "dose record",
                id,
            },
        });
    }
    Ok((v.status, entry))
}

/// The write half of a confirmation, inside `tx`: re-checks the record, then stores the
/// certificate signed for `signed_for`.
#[allow(clippy::too_many_arguments)]
async fn store_certificate_tx(
    tx: &mut dyn Tx,
    id: i64,
    clinic_id: i64,
    signed_for: Option<RegistryPerson>,
    new: NewCertificate,
    now: i64,
    actor: String,
    head: &audit::HeadCache,
) -> Result<Issued, StorageError> {
    // The usual case in one statement: still verified → marked issued (row-locked on
    // PostgreSQL). If the certificate cannot be stored after all (changed identity, duplicate
    // UVCI) the write fails and this update is rolled back with it.
    let marked = tx::first(tx, MARK_ISSUED_SQL, &[Arg::Int(now), Arg::Int(id)], |row| {
        row.text_or_null("registry_person")
    })
    .await?;
    let Some(marked) = marked else {
        return recheck_unverified(tx, id).await;
    };
    let person: Option<RegistryPerson> = match marked {
        Some(json) => Some(serde_json::from_str(&json).map_err(|_| corrupt("registry person"))?),
        None => None,
    };
    if person != signed_for {
        return Err(StorageError::Changed { id });
    }
    insert_certificate(tx, id, clinic_id, new, now, actor, head).await
}

/// The record was not `verified` when its certificate was to be stored: issued meanwhile
/// (another process: theirs is returned, ours was never stored), gone, or in another state.
async fn recheck_unverified(tx: &mut dyn Tx, id: i64) -> Result<Issued, StorageError> {
    // UPDATE … RETURNING: row-locked on PostgreSQL until the write ends.
    let status = tx::first(
        tx,
        "UPDATE dose_records SET updated_at = updated_at WHERE id = $1 RETURNING status",
        &[Arg::Int(id)],
        |row| row.text("status"),
    )
    .await?;
    let Some(status) = status else {
        return Err(StorageError::NotFound {
            what: "dose record",
            id,
        });
    };
    let status = RecordStatus::parse(&status).ok_or(corrupt("record status"))?;
    if status == RecordStatus::Issued {
        // Issued meanwhile (another process): theirs stands, ours was never stored.
        let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE dose_record_id = $1");
        let certificate = tx::first(tx, &sql, &[Arg::Int(id)], cert_from_row)
            .await?
            .ok_or(corrupt("issued record without certificate"))?;
        return Ok(Issued {
            certificate,
            newly_issued: false,
        });
    }
    Err(StorageError::NotVerified { id, status })
}

/// Inserts the certificate of a record just marked issued, and the audit entries.
async fn insert_certificate(
    tx: &mut dyn Tx,
    id: i64,
    clinic_id: i64,
    new: NewCertificate,
    now: i64,
    actor: String,
    head: &audit::HeadCache,
) -> Result<Issued, StorageError> {
    let args = [
        Arg::Text(&new.uvci),
        Arg::Int(id),
        Arg::Text(&new.hc1),
        Arg::Text(&new.payload),
        Arg::Text(&new.kid),
        Arg::Int(new.iat),
        Arg::Int(new.exp),
        Arg::Int(now),
    ];
    tx.execute(INSERT_CERT_SQL, &args)
        .await
        .map_err(|e| match constraint::of_error(&e) {
            Some(constraint::Violation::DuplicateUvci) => StorageError::DuplicateUvci,
            _ => e,
        })?;
    let entries = issue_entries(id, clinic_id, &new, actor);
    audit::append_cached(tx, now, entries, head).await?;
    Ok(Issued {
        certificate: Certificate {
            uvci: new.uvci,
            dose_record_id: id,
            hc1: new.hc1,
            payload: new.payload,
            kid: new.kid,
            iat: new.iat,
            exp: new.exp,
            issued_at: now,
        },
        newly_issued: true,
    })
}

const INSERT_RECORD_SQL: &str = "INSERT INTO dose_records (clinic_id, idempotency_key, \
    request_hash, id_number, id_kind, full_name, date_of_birth, sex, product, manufacturer, \
    dose_number, series_total, vaccination_date, status, created_at, updated_at, prophylaxis) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'received', $14, $14, $15) \
    ON CONFLICT (clinic_id, idempotency_key) DO NOTHING RETURNING id";

const VERIFY_SQL: &str = "UPDATE dose_records SET status = $1, outcome = $2, \
    match_report = $3, registry_person = $4, updated_at = $5 \
    WHERE id = $6 AND status NOT IN ('confirmed', 'issued') RETURNING clinic_id";

const MARK_ISSUED_SQL: &str = "UPDATE dose_records SET status = 'issued', updated_at = $1 \
    WHERE id = $2 AND status = 'verified' RETURNING registry_person";

const INSERT_CERT_SQL: &str = "INSERT INTO certificates \
    (uvci, dose_record_id, hc1, payload, kid, iat, exp, issued_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The audit entry of a new dose record (no personal data: clinic and dose numbers).
fn create_entry(id: i64, record: &NewDoseRecord, actor: String) -> audit::NewEntry {
    audit::NewEntry {
        actor,
        action: "dose_record.create",
        subject: format!("dose_record:{id}"),
        details: serde_json::json!({
            "clinic": record.clinic_id,
            "dose": record.vaccination.dose_number,
            "series": record.vaccination.series_total,
        }),
    }
}

/// The audit entry of a matching outcome (codes only).
fn verify_entry(id: i64, v: &Verification, actor: String) -> audit::NewEntry {
    audit::NewEntry {
        actor,
        action: "dose_record.verify",
        subject: format!("dose_record:{id}"),
        details: serde_json::json!({ "result": v.redacted }),
    }
}

/// The audit entries of a confirmation: the record confirmed, the certificate issued.
fn issue_entries(
    id: i64,
    clinic_id: i64,
    new: &NewCertificate,
    actor: String,
) -> Vec<audit::NewEntry> {
    vec![
        audit::NewEntry {
            actor: actor.clone(),
            action: "dose_record.confirm",
            subject: format!("dose_record:{id}"),
            details: serde_json::json!({ "clinic": clinic_id }),
        },
        audit::NewEntry {
            actor,
            action: "certificate.issue",
            subject: format!("certificate:{}", new.uvci),
            details: serde_json::json!({
                "dose_record": id,
                "kid": new.kid,
                "iat": new.iat,
                "exp": new.exp,
            }),
        },
    ]
}
