//! The SQLite migrations, run through rusqlite on the database file, continuing the history
//! that `sqlx::migrate!` wrote before: the same `_sqlx_migrations` table, the same versions and
//! descriptions (from the file names: `0005_token_expiry.sql` is version 5, `token expiry`), the
//! same checksums (SHA-384 of the file's text). A database migrated by an earlier issuer is
//! recognised migration by migration; one holding a migration this program does not know is
//! refused ([`StorageError::SchemaTooNew`]), as is one whose recorded checksum differs or whose
//! migration did not complete ([`StorageError::SchemaMismatch`]).
//!
//! Every pending migration and its bookkeeping row commit in one `BEGIN IMMEDIATE`
//! transaction, which also re-reads what is applied: two processes opening a new file at once
//! take turns and the second finds nothing left to do.

use std::time::Instant;

use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha384};

use super::StorageError;
use super::error::db;

/// One embedded migration.
pub(crate) struct Migration {
    /// The number its file name starts with.
    pub(crate) version: i64,
    /// The rest of the file name, `_` read as a space, without `.sql`.
    pub(crate) description: &'static str,
    /// The file's text.
    pub(crate) sql: &'static str,
}

impl Migration {
    /// What `_sqlx_migrations.checksum` holds for it.
    pub(crate) fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }
}

/// A [`Migration`] of `migrations/sqlite/`: version, description, file name.
macro_rules! sqlite {
    ($version:literal, $description:literal, $file:literal) => {
        Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../migrations/sqlite/", $file)),
        }
    };
}

/// `migrations/sqlite/`, in order (a test checks this list against the directory).
pub(crate) const SQLITE: [Migration; 10] = [
    sqlite!(1, "storage", "0001_storage.sql"),
    sqlite!(2, "prophylaxis", "0002_prophylaxis.sql"),
    sqlite!(3, "batch", "0003_batch.sql"),
    sqlite!(4, "lookup", "0004_lookup.sql"),
    sqlite!(5, "token expiry", "0005_token_expiry.sql"),
    sqlite!(6, "corrections", "0006_corrections.sql"),
    sqlite!(7, "staff accounts", "0007_staff_accounts.sql"),
    sqlite!(8, "replicas", "0008_replicas.sql"),
    sqlite!(9, "notice outbox", "0009_notice_outbox.sql"),
    sqlite!(
        10,
        "signature revocations",
        "0010_signature_revocations.sql"
    ),
];

/// The bookkeeping table, as sqlx created it (so that either finds the other's).
const TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Brings the database on `conn` up to `migrations`; returns how many were applied now.
pub(crate) fn run(conn: &mut Connection, migrations: &[Migration]) -> Result<usize, StorageError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    tx.execute_batch(TABLE_SQL).map_err(db)?;
    let unfinished: Option<i64> = tx
        .query_row(
            "SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    if let Some(version) = unfinished {
        return Err(StorageError::SchemaMismatch { version });
    }
    let mut applied = Vec::new();
    {
        let mut stmt = tx
            .prepare("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let version: i64 = row.get(0).map_err(db)?;
            let checksum: Vec<u8> = row.get(1).map_err(db)?;
            applied.push((version, checksum));
        }
    }
    for (version, checksum) in &applied {
        let Some(m) = migrations.iter().find(|m| m.version == *version) else {
            return Err(StorageError::SchemaTooNew { version: *version });
        };
        if m.checksum() != *checksum {
            return Err(StorageError::SchemaMismatch { version: *version });
        }
    }
    let mut count = 0;
    for m in migrations {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        let start = Instant::now();
        tx.execute_batch(m.sql).map_err(|e| match db(e) {
            StorageError::Database(e) => StorageError::Migrate(e),
            other => other,
        })?;
        let nanos = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![m.version, m.description, m.checksum(), nanos],
        )
        .map_err(db)?;
        count += 1;
    }
    tx.commit().map_err(db)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// The list names every file of the directory, in order, with sqlx's version and
    /// description and the file's text.
    #[test]
    fn the_list_is_the_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files.len(), SQLITE.len(), "{files:?}");
        for (name, m) in files.iter().zip(&SQLITE) {
            let (version, rest) = name.split_once('_').unwrap();
            assert_eq!(version.parse::<i64>().unwrap(), m.version, "{name}");
            let description = rest.strip_suffix(".sql").unwrap().replace('_', " ");
            assert_eq!(description, m.description, "{name}");
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), m.sql);
        }
    }

    fn bookkeeping(conn: &Connection) -> Vec<(i64, String, bool, Vec<u8>)> {
        let mut stmt = conn
            .prepare(
                "SELECT version, description, success, checksum FROM _sqlx_migrations \
                 ORDER BY version",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn an_older_database_is_brought_up_to_date() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(run(&mut conn, &SQLITE[..3]).unwrap(), 3);
        assert_eq!(run(&mut conn, &SQLITE).unwrap(), SQLITE.len() - 3);
        let versions: Vec<i64> = bookkeeping(&conn).iter().map(|b| b.0).collect();
        let known: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        assert_eq!(versions, known);
        // What it refuses.
        assert!(matches!(
            run(&mut conn, &SQLITE[..4]),
            Err(StorageError::SchemaTooNew { version: v }) if v == SQLITE[4].version
        ));
        conn.execute(
            "UPDATE _sqlx_migrations SET success = false WHERE version = 4",
            [],
        )
        .unwrap();
        assert!(matches!(
            run(&mut conn, &SQLITE),
            Err(StorageError::SchemaMismatch { version: 4 })
        ));
    }

    #[test]
    fn a_failing_migration_leaves_nothing_behind() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [
            Migration {
                version: 1,
                description: "storage",
                sql: SQLITE[0].sql,
            },
            Migration {
                version: 2,
                description: "broken",
                sql: "CREATE TABLE clinics (id INTEGER)",
            },
        ];
        let err = run(&mut conn, &broken).unwrap_err();
        assert!(matches!(err, StorageError::Migrate(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("database migration failed: "),
            "{err}"
        );
        // Rolled back whole: not even migration 1 or the bookkeeping table stayed.
        let tables: i64 = conn
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
