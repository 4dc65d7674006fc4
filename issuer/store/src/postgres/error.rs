//! The PostgreSQL driver's errors: sqlx's errors classified into [`StorageError`] (by
//! SQLSTATE, through [`Kind`]) and into constraint violations (by SQLSTATE and constraint
//! name, through [`crate::constraint`]).

use std::sync::Arc;

use crate::constraint::{self, Violation};
use crate::error::{Classify, Kind, group_failed};
use crate::{DatabaseError, StorageError};

fn kind(e: &sqlx::Error) -> Kind {
    match e {
        sqlx::Error::Database(d) => match d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            Some(pg) => Kind::of_sqlstate(pg.code()),
            None => Kind::Other,
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Kind::Unavailable,
        _ => Kind::Other,
    }
}

impl Classify for sqlx::Error {
    fn classify(self) -> StorageError {
        match self {
            sqlx::Error::Migrate(e) => (*e).classify(),
            e => kind(&e).wrap(DatabaseError::new(e)),
        }
    }
}

impl Classify for sqlx::migrate::MigrateError {
    fn classify(self) -> StorageError {
        use sqlx::migrate::MigrateError as M;
        match self {
            M::VersionMissing(version) => StorageError::SchemaTooNew { version },
            M::VersionMismatch(version) | M::Dirty(version) => {
                StorageError::SchemaMismatch { version }
            }
            M::Execute(e) | M::ExecuteMigration(e, _) if kind(&e) != Kind::Other => e.classify(),
            e => StorageError::Migrate(DatabaseError::new(e)),
        }
    }
}

/// A commit group of the PostgreSQL writer failed (see `crate::error::group_failed`).
pub(crate) fn group_failed_pg(e: Arc<sqlx::Error>) -> StorageError {
    let kind = kind(&e);
    group_failed(kind, DatabaseError::shared(e))
}

/// The violation behind a driver error, if it is the PostgreSQL driver's and one.
pub(crate) fn violation(driver: &(dyn std::error::Error + 'static)) -> Option<Violation> {
    let sqlx::Error::Database(d) = driver.downcast_ref::<sqlx::Error>()? else {
        return None;
    };
    let pg = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    constraint::postgres(pg.code(), pg.constraint())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::constraint::tests::{CASES, SCHEMA, SEED};
    use crate::error::db;
    use sqlx::{Connection as _, Executor as _};

    fn text(e: StorageError) -> String {
        e.to_string()
    }

    #[test]
    fn texts_for_people() {
        assert_eq!(
            text(db(sqlx::Error::PoolTimedOut)),
            "the database is unavailable (pool timed out while waiting for an open connection); \
             check that it runs and can be reached"
        );
        assert_eq!(
            text(db(sqlx::migrate::MigrateError::VersionMissing(6))),
            "the database was migrated by a newer version of the issuer (migration 6 is unknown \
             to this one); run that version or a newer one"
        );
        assert_eq!(
            text(db(sqlx::migrate::MigrateError::VersionMismatch(3))),
            "migration 3 recorded in the database differs from this issuer's or was not \
             completed; the schema was changed outside the issuer"
        );
        assert_eq!(
            text(db(sqlx::Error::RowNotFound)),
            "database error: no rows returned by a query that expected to return at least one row"
        );
    }

    #[test]
    fn the_driver_error_is_the_source() {
        let e = db(sqlx::Error::PoolClosed);
        let source = std::error::Error::source(&e).unwrap();
        assert_eq!(
            source.to_string(),
            sqlx::Error::PoolClosed.to_string(),
            "the driver's text"
        );
        assert!(format!("{e:?}").starts_with("Unavailable(DatabaseError("));
    }

    /// Constraint violations on the server named by `VAXPASS_TEST_POSTGRES_URL` (temporary
    /// tables: nothing stays), as sqlx reports them and through the storage's `Tx`.
    #[tokio::test]
    async fn constraint_violations() {
        let Ok(url) = std::env::var("VAXPASS_TEST_POSTGRES_URL") else {
            println!("SKIPPED (PostgreSQL): VAXPASS_TEST_POSTGRES_URL not set");
            return;
        };
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        // Temporary tables get the default constraint names of permanent ones.
        for sql in SCHEMA.iter().chain(&SEED) {
            conn.execute(*sql).await.unwrap();
        }
        for (sql, expected) in CASES {
            let e = conn.execute(sql).await.unwrap_err();
            assert_eq!(violation(&e), expected, "{sql}: {e}");
        }
        let mut tx = super::super::PgTx(&mut conn);
        for (sql, expected) in CASES {
            let e = crate::tx::Tx::execute(&mut tx, sql, &[]).await.unwrap_err();
            assert_eq!(constraint::of_error(&e), expected, "{sql}: {e}");
        }
        conn.close().await.unwrap();
    }
}
