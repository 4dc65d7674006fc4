//! Which constraint of the schema a failed write violated, from the database's error codes and
//! constraint names: the one place that reads them, for both drivers.
//!
//! - PostgreSQL: the SQLSTATE (`23505` unique, `23503` foreign key) and the constraint's name,
//!   which the migrations leave to PostgreSQL's default (`<table>_<columns>_key`).
//! - SQLite: the extended result code (`SQLITE_CONSTRAINT_UNIQUE`, `…_PRIMARYKEY`,
//!   `…_FOREIGNKEY`) and, for a unique index, its columns: SQLite reports them only in its
//!   message, in a fixed form (`UNIQUE constraint failed: <table>.<column>[, …]`), which is
//!   parsed as a whole, never searched for a word.

use std::os::raw::c_int;

use super::StorageError;
use rusqlite::ffi::{
    SQLITE_CONSTRAINT_FOREIGNKEY, SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE,
};

/// A constraint violation the storage tells its callers about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// `certificates.uvci` is UNIQUE: a certificate with this UVCI exists.
    DuplicateUvci,
    /// `certificates.dose_record_id` is UNIQUE: the record has a certificate already.
    RecordCertified,
    /// Another UNIQUE or PRIMARY KEY constraint.
    OtherUnique,
    /// A FOREIGN KEY constraint (the rows the storage inserts refer to a clinic or a record).
    ForeignKey,
}

/// PostgreSQL's name of the UNIQUE constraint on `certificates (uvci)` (0001_storage.sql).
const PG_UVCI_KEY: &str = "certificates_uvci_key";
/// PostgreSQL's name of the UNIQUE constraint on `certificates (dose_record_id)`.
const PG_RECORD_KEY: &str = "certificates_dose_record_id_key";
/// SQLite's column list of the UNIQUE index on `certificates (uvci)`.
const SQLITE_UVCI_KEY: &str = "certificates.uvci";
/// SQLite's column list of the UNIQUE index on `certificates (dose_record_id)`.
const SQLITE_RECORD_KEY: &str = "certificates.dose_record_id";

/// SQLSTATE `unique_violation`.
const PG_UNIQUE: &str = "23505";
/// SQLSTATE `foreign_key_violation`.
const PG_FOREIGN_KEY: &str = "23503";

/// A PostgreSQL error by SQLSTATE and constraint name.
pub(crate) fn postgres(sqlstate: &str, constraint: Option<&str>) -> Option<Violation> {
    match sqlstate {
        PG_FOREIGN_KEY => Some(Violation::ForeignKey),
        PG_UNIQUE => Some(match constraint {
            Some(PG_UVCI_KEY) => Violation::DuplicateUvci,
            Some(PG_RECORD_KEY) => Violation::RecordCertified,
            _ => Violation::OtherUnique,
        }),
        _ => None,
    }
}

/// A SQLite error by extended result code and message.
fn sqlite(extended_code: c_int, message: &str) -> Option<Violation> {
    match extended_code {
        SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
        SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => {
            let columns = message.strip_prefix("UNIQUE constraint failed: ");
            Some(match columns {
                Some(SQLITE_UVCI_KEY) => Violation::DuplicateUvci,
                Some(SQLITE_RECORD_KEY) => Violation::RecordCertified,
                _ => Violation::OtherUnique,
            })
        }
        _ => None,
    }
}

/// What a violation while inserting the certificates of a batch means: a UVCI in use, or a
/// record certified meanwhile (another process issued it: [`StorageError::BatchConflict`]).
pub(crate) fn batch_certificate_error(v: Option<Violation>) -> Option<StorageError> {
    match v? {
        Violation::DuplicateUvci => Some(StorageError::DuplicateUvci),
        Violation::RecordCertified | Violation::OtherUnique => Some(StorageError::BatchConflict),
        Violation::ForeignKey => None,
    }
}

/// The violation behind a driver's error classified as [`StorageError::Database`], if any
/// (what statements run through [`crate::tx::Tx`] return).
pub(crate) fn of_error(e: &StorageError) -> Option<Violation> {
    let StorageError::Database(d) = e else {
        return None;
    };
    let driver = d.driver();
    if let Some(e) = driver.downcast_ref::<rusqlite::Error>() {
        return of_rusqlite(e);
    }
    crate::postgres::violation(driver)
}

/// The violation behind a rusqlite error, if any.
pub(crate) fn of_rusqlite(e: &rusqlite::Error) -> Option<Violation> {
    match e {
        rusqlite::Error::SqliteFailure(f, message) => {
            sqlite(f.extended_code, message.as_deref().unwrap_or(""))
        }
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A schema with the certificates' two unique columns, a foreign key, and decoys: a
    /// column whose name contains `uvci` in another table, and a composite unique key.
    pub(crate) const SCHEMA: [&str; 3] = [
        "CREATE TEMP TABLE dose_records (id BIGINT PRIMARY KEY)",
        "CREATE TEMP TABLE certificates (id BIGINT PRIMARY KEY, uvci TEXT NOT NULL UNIQUE, \
         dose_record_id BIGINT NOT NULL UNIQUE REFERENCES dose_records (id))",
        "CREATE TEMP TABLE notes (uvci_note TEXT UNIQUE, a TEXT, b TEXT, UNIQUE (a, b))",
    ];

    /// Statements after [`SCHEMA`] and the violation each must be classified as.
    pub(crate) const CASES: [(&str, Option<Violation>); 7] = [
        (
            "INSERT INTO certificates VALUES (2, 'U1', 2)",
            Some(Violation::DuplicateUvci),
        ),
        (
            "INSERT INTO certificates VALUES (2, 'U2', 1)",
            Some(Violation::RecordCertified),
        ),
        (
            "INSERT INTO certificates VALUES (1, 'U3', 2)",
            Some(Violation::OtherUnique),
        ),
        (
            "INSERT INTO certificates VALUES (3, 'U4', 99)",
            Some(Violation::ForeignKey),
        ),
        (
            "INSERT INTO notes VALUES ('uvci', 'x', 'z')",
            Some(Violation::OtherUnique),
        ),
        (
            "INSERT INTO notes VALUES ('other', 'x', 'y')",
            Some(Violation::OtherUnique),
        ),
        ("INSERT INTO certificates VALUES (4, NULL, 1)", None),
    ];

    pub(crate) const SEED: [&str; 3] = [
        "INSERT INTO dose_records VALUES (1), (2)",
        "INSERT INTO certificates VALUES (1, 'U1', 1)",
        "INSERT INTO notes VALUES ('uvci', 'x', 'y')",
    ];

    #[test]
    fn rusqlite_errors() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        for sql in SCHEMA.iter().chain(&SEED) {
            conn.execute_batch(sql).unwrap();
        }
        for (sql, expected) in CASES {
            let e = conn.execute_batch(sql).unwrap_err();
            assert_eq!(of_rusqlite(&e), expected, "{sql}: {e}");
        }
        assert_eq!(of_rusqlite(&rusqlite::Error::QueryReturnedNoRows), None);
    }

    /// The storage's own path: a statement run through `Tx` on the SQLite driver, its error
    /// classified from the `StorageError` it returns.
    #[test]
    fn through_the_sqlite_driver() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        for sql in SCHEMA.iter().chain(&SEED) {
            conn.execute_batch(sql).unwrap();
        }
        let mut tx = crate::sqlite::SqliteTx(&mut conn);
        for (sql, expected) in CASES {
            let e = crate::tx::run_ready(crate::tx::Tx::execute(&mut tx, sql, &[])).unwrap_err();
            assert_eq!(of_error(&e), expected, "{sql}: {e}");
        }
    }
}
