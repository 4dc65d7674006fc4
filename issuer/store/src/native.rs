//! SQLite's hot path without a thread hop per statement.
//!
//! sqlx runs every SQLite connection on a worker thread of its own and sends it each statement
//! over a channel: a submission or a confirmation of a dose record (five to eight statements
//! with its audit entries) costs as many round trips between the async workers and that thread,
//! and those wake-ups cost more than SQLite's own work. For the service's hot path, this module
//! talks to SQLite directly (rusqlite, on the same SQLite library sqlx links):
//!
//! - **Writes** (every write operation of the storage's group commit: clinics, tokens, dose
//!   records, verifications, certificates, lookups; and committing an issuance batch) go to
//!   one writer thread that owns its connection. It runs the writes waiting at that moment in
//!   one `BEGIN IMMEDIATE` transaction, each inside a `SAVEPOINT`, commits them with one sync
//!   of the WAL (`synchronous=FULL`), then answers every caller: the group commit of
//!   [`super::group`], with one hop to the thread and one back per write instead of per
//!   statement. It takes the same in-process write lock as the sqlx writer, so the two never
//!   interleave inside a group, and shares its counters ([`super::GroupStats`]).
//! - **Reads** run on the calling thread with a connection from a small pool ([`Readers`],
//!   used by `super::read` for every read of a SQLite file, whatever the commit mode): a point
//!   query on an index takes microseconds, less than a hop to another thread. WAL readers do
//!   not wait for the writer. A batch claim (thousands of rows) reads the same way on Tokio's
//!   blocking pool.
//!
//! The operations themselves are written once, on [`super::tx::Tx`] (the same code runs on
//! sqlx's transactions for PostgreSQL and the other commit modes): the storage tests run both
//! and check the same outcomes. Only a file database takes this path; an in-memory one (which
//! only sqlx's own connections can share) stays on sqlx.

use super::db;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Mutex, oneshot};

use super::constraint;
use super::group::Counters;
use super::tx::{SqliteTx, run_ready};
use super::{DatabaseError, NewCertificate, StorageError, audit};

/// How long a statement waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The most idle read connections kept.
const MAX_IDLE_READERS: usize = 8;

/// How the fate of the group's transaction reaches a write's caller: `Ok` once committed.
type Outcome = Result<(), Arc<rusqlite::Error>>;

/// Answers the caller once the outcome of the transaction is known.
type Deliver = Box<dyn FnOnce(Outcome) + Send>;

/// The runnable part of a [`Job`].
type Run = Box<dyn FnOnce(&mut Connection) -> (bool, Deliver) + Send>;

/// A type-erased write: `run` executes its statements on the writer's connection (inside its
/// savepoint) and says whether it succeeded, with the callback that answers its caller; `fail`
/// answers without running (the group could not begin or broke before its turn).
struct Job {
    run: Run,
    fail: Box<dyn FnOnce(Arc<rusqlite::Error>) + Send>,
}

/// The native SQLite path of one [`super::Storage`]: the writer thread's queue and the read
/// connections.
pub(crate) struct Native {
    jobs: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

/// Read connections to a SQLite file: a small pool of idle ones, used on the calling thread.
pub(crate) struct Readers {
    path: PathBuf,
    idle: std::sync::Mutex<Vec<Connection>>,
    /// Set by [`Readers::close`]: no read opens a connection any more.
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").finish_non_exhaustive()
    }
}

/// The database file a `sqlite:` URL names, or `None` for an in-memory database.
pub(crate) fn file_of(url: &str) -> Option<PathBuf> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    let name = path.to_string_lossy();
    if name.is_empty() || name.starts_with(":memory:") || name.contains("mode=memory") {
        return None;
    }
    Some(path.to_path_buf())
}

/// A connection to the database file, with the settings of the storage's connections.
pub(crate) fn open(path: &Path) -> Result<Connection, rusqlite::Error> {
    // The file exists (sqlx created and migrated it); never create one here.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // As on the sqlx connections (see the module documentation of `storage`).
    let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The savepoints of a group keep their undo pages (the sub-journal) in memory rather
    // than in a temporary file created and deleted for every group.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // 64 MiB of page cache (the default is 2 MiB): the UVCI and idempotency-key indexes take
    // inserts at random places, and with a million certificates their pages no longer fit
    // in 2 MiB; every miss is a read from the OS.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Native {
    /// Opens the writer's connection and starts its thread.
    pub(crate) fn start(
        path: PathBuf,
        write_lock: Arc<Mutex<()>>,
        max_batch: usize,
        counters: Arc<Counters>,
    ) -> Result<Native, StorageError> {
        let conn = open(&path).map_err(db)?;
        let (jobs, rx) = mpsc::channel();
        let thread_counters = counters.clone();
        std::thread::Builder::new()
            .name("vaxpass-sqlite-writer".to_owned())
            .spawn(move || writer(conn, rx, write_lock, max_batch.max(1), thread_counters))
            .map_err(|e| StorageError::Commit(DatabaseError::shared(Arc::new(e))))?;
        Ok(Native { jobs, counters })
    }

    /// Runs `op` in the writer's current group (inside a savepoint); returns after the commit.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let (answer, rx) = oneshot::channel();
        let slot = Arc::new(std::sync::Mutex::new(Some(answer)));
        let fail_slot = slot.clone();
        let job = Job {
            run: Box::new(move |conn| {
                let result = op(conn);
                let ok = result.is_ok();
                let deliver: Deliver = Box::new(move |outcome: Outcome| {
                    let value = match (result, outcome) {
                        (Ok(v), Ok(())) => Ok(v),
                        (Ok(_), Err(e)) => Err(crate::error::group_failed_sqlite(e)),
                        (Err(e), _) => Err(e),
                    };
                    answer_with(&slot, value);
                });
                (ok, deliver)
            }),
            fail: Box::new(move |e| {
                answer_with(&fail_slot, Err(crate::error::group_failed_sqlite(e)))
            }),
        };
        self.counters.queued(true);
        if self.jobs.send(job).is_err() {
            self.counters.queued(false);
            return Err(gone());
        }
        rx.await.map_err(|_| gone())?
    }
}

impl Readers {
    /// Read connections to the file `path` (opened when first needed).
    pub(crate) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: std::sync::Mutex::new(Vec::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Closes the idle connections; every later read fails with
    /// [`StorageError::Unavailable`] (as sqlx's closed pool does).
    pub(crate) fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// Runs `op` on a read connection of the pool, on this thread.
    pub(crate) fn read<T>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StorageError::Unavailable(DatabaseError::other(
                "the storage is closed",
            )));
        }
        let idle = self.idle.lock().ok().and_then(|mut r| r.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => open(&self.path).map_err(db)?,
        };
        let result = op(&conn);
        // A connection left inside a transaction (it cannot be: reads are autocommit) or after
        // an error is still usable; keep a few.
        if conn.is_autocommit() && !self.closed.load(std::sync::atomic::Ordering::Acquire) {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < MAX_IDLE_READERS {
                    idle.push(conn);
                }
            }
        }
        result
    }
}

fn gone() -> StorageError {
    StorageError::Commit(DatabaseError::other(
        "the SQLite writer thread ended before answering",
    ))
}

type Slot<T> = Arc<std::sync::Mutex<Option<oneshot::Sender<Result<T, StorageError>>>>>;

fn answer_with<T>(slot: &Slot<T>, value: Result<T, StorageError>) {
    let sender = slot.lock().ok().and_then(|mut s| s.take());
    if let Some(sender) = sender {
        // The caller may have gone away (its request was cancelled): nothing to do.
        let _ = sender.send(value);
    }
}

/// The writer thread: ends when every [`Native`] handle is dropped.
fn writer(
    mut conn: Connection,
    rx: mpsc::Receiver<Job>,
    write_lock: Arc<Mutex<()>>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Ok(first) = rx.recv() {
        counters.taken();
        let _guard = write_lock.blocking_lock();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            (first.fail)(Arc::new(e));
            continue;
        }
        counters.fill(&mut batch, first, max_batch, || rx.try_recv().ok());
        run_group(&mut conn, &mut batch);
    }
}

/// Runs the jobs inside the open transaction, each in a savepoint, commits once, then answers.
fn run_group(conn: &mut Connection, batch: &mut Vec<Job>) {
    let mut delivers = Vec::with_capacity(batch.len());
    let mut broken: Option<Arc<rusqlite::Error>> = None;
    let alone = batch.len() == 1;
    let mut jobs = batch.drain(..);
    for job in jobs.by_ref() {
        // Alone in its group, the transaction is its savepoint.
        if !alone {
            if let Err(e) = execute(conn, "SAVEPOINT op") {
                let e = Arc::new(e);
                (job.fail)(e.clone());
                broken = Some(e);
                break;
            }
        }
        let (ok, deliver) = (job.run)(conn);
        delivers.push(deliver);
        if !ok {
            let undo = if alone {
                "ROLLBACK"
            } else {
                // The most recent savepoint called `op` is this job's (see `group`).
                "ROLLBACK TO SAVEPOINT op"
            };
            if let Err(e) = execute(conn, undo) {
                broken = Some(Arc::new(e));
                break;
            }
            if alone {
                // Nothing left to commit; the job's own error is what its caller sees.
                for deliver in delivers {
                    deliver(Ok(()));
                }
                return;
            }
        }
    }
    let outcome = match broken {
        Some(e) => {
            for job in jobs {
                (job.fail)(e.clone());
            }
            let _ = execute(conn, "ROLLBACK");
            Err(e)
        }
        None => match execute(conn, "COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                // A failed COMMIT may leave the transaction open: end it.
                if !conn.is_autocommit() {
                    let _ = execute(conn, "ROLLBACK");
                }
                Err(Arc::new(e))
            }
        },
    };
    for deliver in delivers {
        deliver(outcome.clone());
    }
}

fn execute(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

// ----- reads -----

/// A rusqlite row read through the same parsing as sqlx's ([`super::Columns`]).
impl super::Columns for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> Result<String, StorageError> {
        self.get(col).map_err(db)
    }
    fn text_or_null(&self, col: &str) -> Result<Option<String>, StorageError> {
        self.get(col).map_err(db)
    }
    fn int(&self, col: &str) -> Result<i64, StorageError> {
        self.get(col).map_err(db)
    }
    fn int_or_null(&self, col: &str) -> Result<Option<i64>, StorageError> {
        self.get(col).map_err(db)
    }
}

// ----- writes (run on the writer thread, inside the group's transaction) -----

/// `Storage::batch_commit` on the native path: the certificates (one prepared INSERT, run
/// once per certificate), the records marked `issued` (every one must still be `confirmed`)
/// and the batch's audit entry, all or nothing (the write's savepoint).
pub(crate) fn batch_commit(
    conn: &mut Connection,
    certificates: &[(i64, NewCertificate)],
    now: i64,
    actor: String,
    head: &audit::HeadCache,
) -> Result<(), StorageError> {
    let mut insert = conn.prepare_cached(super::INSERT_CERT_SQL).map_err(db)?;
    for (id, c) in certificates {
        insert
            .execute(rusqlite::params![
                c.uvci, id, c.hc1, c.payload, c.kid, c.iat, c.exp, now
            ])
            .map_err(|e| {
                constraint::batch_certificate_error(constraint::of_rusqlite(&e))
                    .unwrap_or_else(|| db(e))
            })?;
    }
    drop(insert);
    let mut updated = 0;
    for sql in super::batch::mark_issued_sql(certificates, now) {
        updated += conn.execute(&sql, []).map_err(db)?;
    }
    if updated != certificates.len() {
        return Err(StorageError::BatchConflict);
    }
    let entry = super::batch::batch_issue_entry(certificates, actor);
    append(conn, now, vec![entry], head)
}

/// `audit::append_cached` on the writer's connection.
fn append(
    conn: &mut Connection,
    at: i64,
    entries: Vec<audit::NewEntry>,
    cache: &audit::HeadCache,
) -> Result<(), StorageError> {
    run_ready(audit::append_cached(
        &mut SqliteTx(conn),
        at,
        entries,
        cache,
    ))
}
