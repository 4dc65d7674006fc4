//! Backups of a SQLite database (`vaxpass-issuer backup` / `restore`): a consistent copy made
//! while the service runs, with SQLite's `VACUUM INTO` on a read connection (a snapshot of one
//! read transaction: every write committed before it, none after, and nothing half-written),
//! and a restore that checks the copy before it becomes the database. PostgreSQL is backed up
//! with its own tools (`pg_dump` / `pg_restore`, which the command line runs).

use std::path::Path;

use super::error::db;
use super::read::Reader;
use super::{DATABASE_FILE_MODE, DatabaseError, Storage, StorageError};

impl Storage {
    /// SQLite: writes a consistent copy of the database to `path` (which must not exist),
    /// mode 0600, while the storage stays in use.
    ///
    /// # Errors
    /// [`StorageError::File`] (`path` exists), [`StorageError::Database`] (also on
    /// PostgreSQL: use `pg_dump`).
    pub async fn backup_sqlite(&self, path: &Path) -> Result<(), StorageError> {
        let Reader::Sqlite(readers) = &self.reader else {
            return Err(StorageError::Database(DatabaseError::other(
                "a PostgreSQL database is backed up with pg_dump",
            )));
        };
        create_private(path)?;
        // VACUUM INTO wants a file that does not exist or is empty: the one just made.
        let target = path.display().to_string();
        let readers = readers.clone();
        let result = tokio::task::spawn_blocking(move || {
            readers.read(|conn| {
                conn.execute("VACUUM INTO ?1", [target.as_str()])
                    .map(|_| ())
                    .map_err(db)
            })
        })
        .await
        .map_err(|_| {
            StorageError::Unavailable(DatabaseError::other("the backup task ended early"))
        })?;
        if result.is_err() {
            let _ = std::fs::remove_file(path);
        }
        result
    }
}

/// Creates the empty file `path` with mode 0600; refuses one that exists.
fn create_private(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(DATABASE_FILE_MODE)
        .open(path)
        .map(|_| ())
        .map_err(|source| StorageError::File {
            path: path.to_path_buf(),
            source,
        })
}

/// Restores the SQLite backup `backup` as the database file `target` (which must not exist):
/// checks the backup (`PRAGMA integrity_check`), copies it with `VACUUM INTO` (mode 0600),
/// and leaves `target` absent if anything fails. Open it with [`Storage::open`] afterwards
/// (pending migrations are then applied).
///
/// # Errors
/// [`StorageError::File`] (`target` exists), [`StorageError::CorruptDatabase`] (the backup
/// is damaged or not a database), [`StorageError::Database`].
pub fn restore_sqlite(backup: &Path, target: &Path) -> Result<(), StorageError> {
    let conn = rusqlite::Connection::open_with_flags(
        backup,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(db)?;
    if verdict != "ok" {
        return Err(StorageError::CorruptDatabase(DatabaseError::other(
            "the backup fails SQLite's integrity check",
        )));
    }
    create_private(target)?;
    let target_text = target.display().to_string();
    let copied = conn
        .execute("VACUUM INTO ?1", [target_text.as_str()])
        .map(|_| ())
        .map_err(db);
    if copied.is_err() {
        let _ = std::fs::remove_file(target);
    }
    copied
}
