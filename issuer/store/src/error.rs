//! [`StorageError`]: why a storage operation failed, in variants a caller can act on, with the
//! driver's error kept inside an opaque [`DatabaseError`] as the source.
//!
//! The drivers' errors are classified here, once: by SQLite's result codes and PostgreSQL's
//! SQLSTATE classes, never by message text.

use std::fmt;
use std::sync::Arc;

use super::{MAX_IMPORT_BATCH, RecordStatus, audit::AuditBroken};

/// Why a storage operation failed. The texts carry no personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The URL is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL: expected sqlite://… or postgres://…")]
    UnsupportedUrl,
    /// The SQLite database file could not be created or made private (mode 0600).
    #[error(
        "database file {path}: {source}; the issuer creates it with mode 0600 in a directory it can write"
    )]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database cannot be reached or stopped answering (connection refused or lost, the
    /// pool's wait for a connection timed out, the SQLite file cannot be opened, …). Trying
    /// again later may succeed.
    #[error("the database is unavailable ({0}); check that it runs and can be reached")]
    Unavailable(#[source] DatabaseError),
    /// The database is locked by another writer (another process on a SQLite file past the
    /// busy timeout; a PostgreSQL deadlock, serialisation failure or lock timeout). Nothing of
    /// the operation was stored; trying again may succeed.
    #[error("the database is busy ({0}); nothing was stored, try again")]
    Busy(#[source] DatabaseError),
    /// The SQLite file is damaged or is not a database.
    #[error(
        "the database file is damaged or not a SQLite database ({0}); restore it from a backup"
    )]
    CorruptDatabase(#[source] DatabaseError),
    /// The database was migrated by a newer version of the issuer: it holds a migration this
    /// program does not know.
    #[error(
        "the database was migrated by a newer version of the issuer (migration {version} is unknown to this one); run that version or a newer one"
    )]
    SchemaTooNew {
        /// The unknown migration's version.
        version: i64,
    },
    /// A migration recorded in the database differs from this program's migration of the
    /// same version (its checksum), or was left half applied.
    #[error(
        "migration {version} recorded in the database differs from this issuer's or was not completed; the schema was changed outside the issuer"
    )]
    SchemaMismatch {
        /// The migration's version.
        version: i64,
    },
    /// Migrating the database failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] DatabaseError),
    /// The database failed or refused a statement.
    #[error("database error: {0}")]
    Database(#[source] DatabaseError),
    /// No such row.
    #[error("{what} {id} does not exist")]
    NotFound {
        /// `dose record`, `clinic`.
        what: &'static str,
        /// Its id.
        id: i64,
    },
    /// The clinic named by a record or token does not exist.
    #[error("clinic {0} does not exist")]
    UnknownClinic(i64),
    /// Only a verified record can be confirmed.
    #[error(
        "dose record {id} cannot be confirmed: its status is '{status}', only a record verified against the population registry can be"
    )]
    NotVerified {
        /// The record.
        id: i64,
        /// Its status.
        status: RecordStatus,
    },
    /// The record was already confirmed and its certificate issued: it can no longer change.
    #[error("dose record {id} already has a certificate and can no longer be changed")]
    AlreadyIssued {
        /// The record.
        id: i64,
    },
    /// The idempotency key was used before by this clinic for a different record.
    #[error(
        "the idempotency key was already used by this clinic for a different record (record {existing_id})"
    )]
    IdempotencyConflict {
        /// The record stored under that key.
        existing_id: i64,
    },
    /// A certificate with this UVCI exists already (the database's UNIQUE constraint).
    #[error("a certificate with this UVCI already exists")]
    DuplicateUvci,
    /// The issuing callback of [`super::Storage::confirm_and_issue`] failed; nothing was
    /// stored.
    #[error("issuing the certificate failed: {0}")]
    Issue(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An import batch size of 0 or above [`MAX_IMPORT_BATCH`].
    #[error("import batch size must be between 1 and {MAX_IMPORT_BATCH}")]
    BatchSize,
    /// A stored value could not be read back (a column edited outside the application).
    #[error("stored {what} is malformed")]
    Corrupt {
        /// Which value.
        what: &'static str,
    },
    /// The audit log does not verify.
    #[error(transparent)]
    AuditBroken(#[from] AuditBroken),
    /// The transaction holding this write (with a group of others, see
    /// [`super::CommitMode`]) could not be committed: none of its writes is stored.
    #[error("database error while committing: {0}")]
    Commit(#[source] DatabaseError),
    /// The record changed (it was matched again) while its certificate was being signed; the
    /// certificate was dropped unstored. Confirming again signs the record as it is now.
    #[error("dose record {id} changed while its certificate was being signed; confirm it again")]
    Changed {
        /// The record.
        id: i64,
    },
    /// The token is revoked (or expired): it cannot be rotated.
    #[error("staff token {0} is revoked or expired; create a new token instead")]
    TokenRevoked(i64),
    /// A batch commit found a record no longer confirmed or already certified: another
    /// process issued it. Nothing of the batch was stored.
    #[error(
        "a record of the batch was issued by another process meanwhile; nothing of this batch was stored (run one batch process per SQLite database)"
    )]
    BatchConflict,
    /// A staff account with this user name exists (the name is not quoted).
    #[error("this user name is taken by another staff account; choose another")]
    UsernameTaken,
    /// The correction report was reviewed meanwhile (approved, rejected or escalated by
    /// someone else); nothing was changed.
    #[error("correction report {id} is no longer open for review; nothing was changed")]
    CorrectionClosed {
        /// The report's id.
        id: i64,
    },
    /// The certificate was revoked or replaced meanwhile; nothing was changed.
    #[error(
        "the certificate of dose record {id} was revoked or replaced meanwhile; nothing was changed"
    )]
    CertificateChanged {
        /// The dose record.
        id: i64,
    },
}

/// A database driver's error, the source of a [`StorageError`]: its text (for the operator's
/// log; the drivers' messages name tables, columns and constraints, not stored values), its
/// type private to the storage. Cheap to clone: the members of a commit group share one.
#[derive(Clone)]
pub struct DatabaseError(Arc<dyn std::error::Error + Send + Sync>);

impl DatabaseError {
    pub(crate) fn new(e: impl std::error::Error + Send + Sync + 'static) -> DatabaseError {
        DatabaseError(Arc::new(e))
    }

    /// One error shared by several callers (a group's failed commit).
    pub(crate) fn shared<E: std::error::Error + Send + Sync + 'static>(e: Arc<E>) -> DatabaseError {
        DatabaseError(e)
    }

    /// The driver's own error.
    pub(crate) fn driver(&self) -> &(dyn std::error::Error + 'static) {
        &*self.0
    }

    /// An error of the storage's own machinery (a writer gone), as text.
    pub(crate) fn other(text: &'static str) -> DatabaseError {
        DatabaseError::new(std::io::Error::other(text))
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseError")
            .field(&format_args!("{}", self.0))
            .finish()
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A commit group failed (its `BEGIN` or its `COMMIT`): none of its writes is stored.
/// [`StorageError::Busy`] or [`StorageError::Unavailable`] when the driver says the database was
/// locked or gone (trying again may succeed), [`StorageError::Commit`] otherwise.
pub(crate) fn group_failed_sqlite(e: Arc<rusqlite::Error>) -> StorageError {
    let kind = match &*e {
        rusqlite::Error::SqliteFailure(f, _) => Kind::of_sqlite(f.extended_code),
        _ => Kind::Other,
    };
    group_failed(kind, DatabaseError::shared(e))
}

/// A commit group failed, with the driver's error of kind `kind`.
pub(crate) fn group_failed(kind: Kind, e: DatabaseError) -> StorageError {
    match kind {
        Kind::Busy | Kind::Unavailable => kind.wrap(e),
        Kind::Corrupt | Kind::Other => StorageError::Commit(e),
    }
}

/// What a driver's error means to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Unavailable,
    Busy,
    Corrupt,
    Other,
}

impl Kind {
    pub(crate) fn wrap(self, e: DatabaseError) -> StorageError {
        match self {
            Kind::Unavailable => StorageError::Unavailable(e),
            Kind::Busy => StorageError::Busy(e),
            Kind::Corrupt => StorageError::CorruptDatabase(e),
            Kind::Other => StorageError::Database(e),
        }
    }

    /// By SQLite's primary result code (the low byte of the extended one).
    fn of_sqlite(extended_code: i32) -> Kind {
        use rusqlite::ffi;
        match extended_code & 0xff {
            ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED => Kind::Busy,
            ffi::SQLITE_CORRUPT | ffi::SQLITE_NOTADB => Kind::Corrupt,
            // A full disk, like an unreadable one, is the database being unavailable: the
            // API answers 503 and a batch stops; both go on once there is room again.
            ffi::SQLITE_CANTOPEN | ffi::SQLITE_IOERR | ffi::SQLITE_FULL => Kind::Unavailable,
            _ => Kind::Other,
        }
    }

    /// By PostgreSQL's SQLSTATE.
    pub(crate) fn of_sqlstate(state: &str) -> Kind {
        match state {
            // serialization_failure, deadlock_detected, lock_not_available
            "40001" | "40P01" | "55P03" => Kind::Busy,
            // connection_exception (08…), insufficient_resources (53…), operator
            // intervention such as admin_shutdown (57P…), cannot_connect_now
            s if s.starts_with("08") || s.starts_with("53") || s.starts_with("57P") => {
                Kind::Unavailable
            }
            _ => Kind::Other,
        }
    }
}

/// A driver's error as a [`StorageError`] (`.map_err(db)` inside the storage).
pub(crate) fn db<E: Classify>(e: E) -> StorageError {
    e.classify()
}

/// The drivers' error types the storage classifies.
pub(crate) trait Classify {
    /// The [`StorageError`] this error is.
    fn classify(self) -> StorageError;
}

impl Classify for rusqlite::Error {
    fn classify(self) -> StorageError {
        let kind = match &self {
            rusqlite::Error::SqliteFailure(f, _) => Kind::of_sqlite(f.extended_code),
            _ => Kind::Other,
        };
        kind.wrap(DatabaseError::new(self))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn text(e: StorageError) -> String {
        e.to_string()
    }

    #[test]
    fn texts_for_people() {
        let sqlite_busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        assert_eq!(
            text(db(sqlite_busy)),
            "the database is busy (database is locked); nothing was stored, try again"
        );
        let not_a_database = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
            None,
        );
        let e = db(not_a_database);
        assert!(matches!(e, StorageError::CorruptDatabase(_)));
        assert!(
            text(e).starts_with("the database file is damaged or not a SQLite database ("),
            "restore"
        );
        let e = StorageError::Commit(DatabaseError::other("the writer ended"));
        assert_eq!(text(e), "database error while committing: the writer ended");
    }

    #[test]
    fn a_locked_sqlite_file_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let e = db(other.execute_batch("BEGIN IMMEDIATE").unwrap_err());
        assert!(matches!(e, StorageError::Busy(_)), "{e:?}");
    }

    #[test]
    fn sqlstates() {
        for (state, kind) in [
            ("40001", Kind::Busy),
            ("40P01", Kind::Busy),
            ("55P03", Kind::Busy),
            ("08006", Kind::Unavailable),
            ("57P01", Kind::Unavailable),
            ("53300", Kind::Unavailable),
            ("23505", Kind::Other),
            ("42P01", Kind::Other),
        ] {
            assert_eq!(Kind::of_sqlstate(state), kind, "{state}");
        }
        assert_eq!(
            Kind::of_sqlite(rusqlite::ffi::SQLITE_BUSY_SNAPSHOT),
            Kind::Busy
        );
        assert_eq!(
            Kind::of_sqlite(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE),
            Kind::Other
        );
    }
}
