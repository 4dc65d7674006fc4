//! The SQLite driver: every statement through rusqlite, none through another library.
//!
//! - **Writes** go to one writer thread that owns its connection ([`Writer`], `writer.rs`).
//!   With [`crate::CommitMode::Grouped`] it runs the writes waiting at that moment in one
//!   `BEGIN IMMEDIATE` transaction, each inside a `SAVEPOINT`, commits them with one sync of the
//!   WAL (`synchronous=FULL`), then answers every caller; with
//!   [`crate::CommitMode::PerOperation`] each write is a transaction of its own on the same
//!   thread (a group of one). A long transaction whose rows are streamed (a registry import)
//!   is a session on the same thread ([`Session`]): the caller sends its steps one by one
//!   and the thread serves nothing else until the session commits or is dropped (rolled
//!   back). One writer per storage: the writes of one process never wait on each other's
//!   locks, only in the thread's queue; other processes wait on the busy timeout.
//! - **Reads** run on the calling thread with a connection from a small pool ([`Readers`]): a
//!   point query on an index takes microseconds, less than a hop to another thread. WAL
//!   readers do not wait for the writer. A batch claim (thousands of rows) reads the same way
//!   on Tokio's blocking pool.
//! - **In memory** (`sqlite::memory:`, `sqlite://:memory:` or `?mode=memory`): a database of
//!   SQLite's `memdb` VFS under a name unique to the storage (`/vaxpass-<pid>-<n>`), which
//!   every connection of this process opening that name shares; it lives while the writer's
//!   connection is open. It has no WAL (memdb keeps a rollback journal in memory), so readers
//!   and the committing writer take turns on the busy timeout.
//!
//! The operations are not written here: they are written once on [`crate::tx::Tx`], which
//! [`SqliteTx`] implements on the writer's connection. Statements are written with `$n`
//! parameters (PostgreSQL's form); [`prepare`] turns them into SQLite's `?n`, which binds by
//! position (SQLite looks `$n` up by name, a linear scan per parameter).

mod writer;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::db;
use crate::group::BoxFuture;
use crate::read::Arg;
use crate::tx::{OnRow, Tx};
use crate::{Columns, DatabaseError, SqliteSettings, StorageError};

pub(crate) use writer::{Session, Writer};

/// How long a statement waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The most idle read connections kept.
const MAX_IDLE_READERS: usize = 8;

/// The expression of the lookup indexes (0004_lookup.sql) for the registry person's ID.
pub(crate) const PERSON_ID_SQL: &str = "json_extract(d.registry_person, '$.id')";

/// Where a `sqlite:` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A database file; `create`: the URL says `mode=rwc`.
    File {
        /// The file.
        path: PathBuf,
        /// Create it if it does not exist.
        create: bool,
    },
    /// An in-memory database of its own.
    Memory,
}

impl Location {
    /// Parses `sqlite://PATH[?mode=rwc|rw|memory…]`, `sqlite:PATH`, `sqlite::memory:`.
    /// Percent-escapes in the path are decoded; other query parameters are ignored.
    pub(crate) fn of_url(url: &str) -> Result<Location, StorageError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or(StorageError::UnsupportedUrl)?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut create = false;
        for pair in query.split('&') {
            match pair {
                "mode=memory" => return Ok(Location::Memory),
                "mode=rwc" => create = true,
                _ => {}
            }
        }
        if path.is_empty() || path == ":memory:" {
            return Ok(Location::Memory);
        }
        Ok(Location::File {
            path: PathBuf::from(percent_decode(path).into_owned()),
            create,
        })
    }
}

/// `%XX` escapes decoded (an invalid one is kept as it is).
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Two hex digits: at most 255.
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// What connections open: a file, or the name of a shared in-memory database.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    name: PathBuf,
    memory: bool,
}

impl Target {
    /// The target of `location`; a new in-memory database gets a name of its own.
    pub(crate) fn of(location: &Location) -> Target {
        match location {
            Location::File { path, .. } => Target {
                name: path.clone(),
                memory: false,
            },
            Location::Memory => {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                Target {
                    name: PathBuf::from(format!(
                        "file:/vaxpass-{}-{n}?vfs=memdb",
                        std::process::id()
                    )),
                    memory: true,
                }
            }
        }
    }

    /// A connection with the settings of every connection of the storage. `create`: create
    /// the file (or the in-memory database) if it does not exist.
    pub(crate) fn open(&self, create: bool) -> Result<Connection, StorageError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        if create || self.memory {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(&self.name, flags).map_err(db)?;
        session(&conn).map_err(db)?;
        Ok(conn)
    }
}

/// The settings of every connection. WAL: readers never block the writer; FULL: the WAL is
/// synced at every commit, so an acknowledged record survives a power cut.
fn session(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // A memdb database answers `memory`: it has no WAL.
    let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The savepoints of a group keep their undo pages (the sub-journal) in memory rather
    // than in a temporary file created and deleted for every group; sorting too.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // 64 MiB of page cache (the default is 2 MiB): the UVCI and idempotency-key indexes take
    // inserts at random places, and with a million certificates their pages no longer fit
    // in 2 MiB; every miss is a read from the OS.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Opens (creating a file if the URL says so, mode 0600) and migrates the database of a
/// `sqlite:` URL; starts its writer thread. `max_batch` is the most writes in one group
/// (1: a transaction per write); `grouped` says whether the writer reports group counters.
pub(crate) fn open(
    url: &str,
    max_batch: usize,
    grouped: bool,
) -> Result<(Arc<Readers>, Arc<Writer>), StorageError> {
    let location = Location::of_url(url)?;
    if let Location::File { path, create } = &location {
        crate::make_private(path, *create)?;
    }
    let create = matches!(location, Location::File { create: true, .. });
    let target = Target::of(&location);
    let mut conn = target.open(create)?;
    crate::migrate::run(&mut conn, &crate::migrate::SQLITE)?;
    let writer = Writer::start(conn, max_batch, grouped)?;
    Ok((Arc::new(Readers::new(target)), Arc::new(writer)))
}

/// Read connections: a small pool of idle ones, used on the calling thread.
pub(crate) struct Readers {
    target: Target,
    idle: std::sync::Mutex<Vec<Connection>>,
    /// Set by [`Readers::close`]: no read opens a connection any more.
    closed: AtomicBool,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").finish_non_exhaustive()
    }
}

impl Readers {
    fn new(target: Target) -> Readers {
        Readers {
            target,
            idle: std::sync::Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Closes the idle connections; every later read fails with
    /// [`StorageError::Unavailable`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// Runs `op` on a read connection of the pool, on this thread.
    pub(crate) fn read<T>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Unavailable(DatabaseError::other(
                "the storage is closed",
            )));
        }
        let idle = self.idle.lock().ok().and_then(|mut r| r.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.target.open(false)?,
        };
        let result = op(&conn);
        // A connection left inside a transaction (it cannot be: reads are autocommit) or after
        // an error is still usable; keep a few.
        if conn.is_autocommit() && !self.closed.load(Ordering::Acquire) {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < MAX_IDLE_READERS {
                    idle.push(conn);
                }
            }
        }
        result
    }

    /// At most one row (`first`) or every row of `sql`, parsed.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        first: bool,
        parse: &mut dyn FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        self.read(|conn| {
            let mut stmt = prepare(conn, sql, args)?;
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(db)? {
                out.push(parse(row)?);
                if first {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// The settings in force on a read connection (every connection has the same).
    pub(crate) fn settings(&self) -> Result<SqliteSettings, StorageError> {
        self.read(|conn| {
            let get = |sql: &str| -> Result<rusqlite::types::Value, StorageError> {
                conn.query_row(sql, [], |r| r.get(0)).map_err(db)
            };
            let int = |sql: &str| -> Result<i64, StorageError> {
                match get(sql)? {
                    rusqlite::types::Value::Integer(n) => Ok(n),
                    _ => Err(StorageError::Corrupt { what: "a setting" }),
                }
            };
            let journal_mode = match get("PRAGMA journal_mode")? {
                rusqlite::types::Value::Text(s) => s,
                _ => return Err(StorageError::Corrupt { what: "a setting" }),
            };
            Ok(SqliteSettings {
                journal_mode,
                synchronous: int("PRAGMA synchronous")?,
                foreign_keys: int("PRAGMA foreign_keys")? == 1,
                busy_timeout_ms: int("PRAGMA busy_timeout")?,
            })
        })
    }
}

/// `sql` in SQLite's form: every `$n` parameter outside quotes becomes `?n` (bound by
/// position: SQLite looks `$n` up by name, a scan of the names at every one when preparing).
fn positional(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '$' if chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
                _ => out.push(c),
            },
        }
    }
    Cow::Owned(out)
}

/// The cached statement of `sql` (its `$n` made `?n`) with `args` bound: the first to `?1`.
pub(crate) fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<rusqlite::CachedStatement<'c>, StorageError> {
    let mut stmt = conn.prepare_cached(&positional(sql)).map_err(db)?;
    bind(&mut stmt, args)?;
    Ok(stmt)
}

/// Binds `args` to `?1`, `?2`, … (those the statement has).
fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Arg<'_>]) -> Result<(), StorageError> {
    let count = stmt.parameter_count();
    for (i, arg) in args.iter().enumerate().take(count) {
        let index = i + 1;
        match *arg {
            Arg::Int(v) => stmt.raw_bind_parameter(index, v),
            Arg::Text(v) => stmt.raw_bind_parameter(index, v),
            Arg::OptInt(v) => stmt.raw_bind_parameter(index, v),
            Arg::OptText(v) => stmt.raw_bind_parameter(index, v),
        }
        .map_err(db)?;
    }
    Ok(())
}

/// The writer thread's connection, inside its group's or session's transaction. Each
/// statement runs to its end when called; the future returned is already complete.
pub(crate) struct SqliteTx<'c>(pub(crate) &'c mut Connection);

impl Tx for SqliteTx<'_> {
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
        on_row: &'a mut OnRow<'_>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        let mut run = || {
            let mut stmt = prepare(self.0, sql, args)?;
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next().map_err(db)? {
                on_row(row)?;
            }
            Ok(())
        };
        Box::pin(std::future::ready(run()))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, Result<u64, StorageError>> {
        let run = || {
            let mut stmt = prepare(self.0, sql, args)?;
            let changed = stmt.raw_execute().map_err(db)?;
            Ok(u64::try_from(changed).unwrap_or(u64::MAX))
        };
        Box::pin(std::future::ready(run()))
    }

    /// One prepared single-row statement, run once per row: SQLite has no round trip to
    /// save, and binding a few parameters per row beats a statement with thousands.
    fn insert_rows<'a>(
        &'a mut self,
        head: &'a str,
        columns: usize,
        tail: &'a str,
        args: &'a [Arg<'a>],
        on_row: &'a mut OnRow<'_>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        let mut run = || {
            if columns == 0 {
                return Ok(());
            }
            let sql = crate::tx::values_sql(head, columns, 1, tail);
            let mut stmt = prepare(self.0, &sql, &[])?;
            for row_args in args.chunks(columns) {
                bind(&mut stmt, row_args)?;
                let mut rows = stmt.raw_query();
                while let Some(row) = rows.next().map_err(db)? {
                    on_row(row)?;
                }
            }
            Ok(())
        };
        Box::pin(std::future::ready(run()))
    }
}

/// A rusqlite row read through the storage's row parsing ([`Columns`]).
impl Columns for rusqlite::Row<'_> {
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

/// The file of a `sqlite:` URL (`None`: in memory). For the tests of this module.
#[cfg(test)]
fn file_of(url: &str) -> Option<PathBuf> {
    match Location::of_url(url).ok()? {
        Location::File { path, .. } => Some(path),
        Location::Memory => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Location::of_url("sqlite:///tmp/a%20b.db?mode=rwc").unwrap(),
            Location::File {
                path: "/tmp/a b.db".into(),
                create: true
            }
        );
        assert_eq!(
            Location::of_url("sqlite://rel.db").unwrap(),
            Location::File {
                path: "rel.db".into(),
                create: false
            }
        );
        assert_eq!(
            file_of("sqlite:x.db?cache=shared").unwrap(),
            PathBuf::from("x.db")
        );
        for memory in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://x.db?mode=memory",
            "sqlite://",
        ] {
            assert_eq!(
                Location::of_url(memory).unwrap(),
                Location::Memory,
                "{memory}"
            );
        }
        assert!(Location::of_url("postgres://h/db").is_err());
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%e1%bb%87"), "ệ");
    }

    #[test]
    fn dollar_parameters_become_positional() {
        assert_eq!(
            positional("SELECT $1, '$2', \"$3\" WHERE a = $12 AND b = $"),
            "SELECT ?1, '$2', \"$3\" WHERE a = ?12 AND b = $"
        );
        assert_eq!(
            positional("json_extract(x, '$.id') = $1"),
            "json_extract(x, '$.id') = ?1"
        );
        assert!(matches!(positional("PRAGMA x"), Cow::Borrowed(_)));
    }

    /// `$1` used twice binds the first argument at both places.
    #[test]
    fn a_parameter_used_twice() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = prepare(&conn, "SELECT $1 + $2 + $1", &[Arg::Int(10), Arg::Int(1)]).unwrap();
        let mut rows = stmt.raw_query();
        let n: i64 = rows.next().unwrap().unwrap().get(0).unwrap();
        assert_eq!(n, 21);
    }
}
