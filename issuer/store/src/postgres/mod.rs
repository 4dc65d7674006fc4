//! The PostgreSQL driver: every statement through sqlx's `PgPool`, none through another
//! library.
//!
//! - **Writes**: with [`crate::CommitMode::PerOperation`] (the default: PostgreSQL already
//!   shares its WAL flushes between concurrent commits) each write is a transaction of its own
//!   from the pool; with [`crate::CommitMode::Grouped`] they go to the group-commit task
//!   (`group.rs`). A registry import holds a transaction of the pool of its own, and a batch
//!   claim holds its row locks in one until its batch commits there.
//! - **Reads** run on the pool.
//!
//! The operations are written once on [`crate::tx::Tx`], which [`PgTx`] implements on a
//! connection of the pool inside its transaction.

mod error;
mod group;

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnection, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Connection as _, PgPool, Postgres, Row as _};

pub(crate) use error::violation;
pub(crate) use group::PgTransaction;

use crate::error::db;
use crate::group::{BoxFuture, GroupStats};
use crate::read::Arg;
use crate::tx::{OnRow, Tx};
use crate::{Columns, DatabaseError, StorageError};

/// The connection pool.
pub(crate) type Pool = PgPool;

static MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The expression of the lookup indexes (0004_lookup.sql) for the registry person's ID.
pub(crate) const PERSON_ID_SQL: &str = "((d.registry_person::jsonb) ->> 'id')";

/// The most parameters in one multi-row statement of [`PgTx::insert_rows`] (PostgreSQL takes
/// 65,535): a registry batch of 5,000 persons (4 each) is one statement.
const MAX_PARAMETERS: usize = 20_000;

/// How long a statement waits for a connection of the pool. Short, so that while the
/// server cannot be reached (restarted, failed over) requests fail fast (the API answers 503
/// `UNAVAILABLE`) instead of piling up; the pool reconnects by itself when it is back.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections of the pool: `VAXPASS_DB_POOL_SIZE` (1 to 1,000), default 10. Every
/// replica and batch worker opens up to this many: the server's `max_connections` must cover
/// them all.
pub(crate) fn pool_size() -> u32 {
    std::env::var("VAXPASS_DB_POOL_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (1..=1_000).contains(n))
        .unwrap_or(10)
}

/// Connects (one connection first, which says at once why it fails: the pool retries until
/// its acquire timeout and then reports only the timeout), migrates, and opens the pool.
pub(crate) async fn open(url: &str) -> Result<PgPool, StorageError> {
    let probe = PgConnection::connect(url).await.map_err(db)?;
    probe.close().await.map_err(db)?;
    let pool = PgPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .max_connections(pool_size())
        .connect(url)
        .await
        .map_err(db)?;
    MIGRATIONS.run(&pool).await.map_err(db)?;
    Ok(pool)
}

/// The writing side of one [`crate::Storage`] on PostgreSQL.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pool: PgPool,
    /// The group-commit task ([`crate::CommitMode::Grouped`]).
    group: Option<group::Group>,
}

impl Writer {
    /// A writer on `pool`: grouped (at most `max_batch` writes a transaction) or not.
    pub(crate) fn new(pool: PgPool, max_batch: Option<usize>) -> Writer {
        Writer {
            group: max_batch.map(|n| group::Group::start(pool.clone(), n)),
            pool,
        }
    }

    /// The group counters (`None` without group commit).
    pub(crate) fn stats(&self) -> Option<GroupStats> {
        self.group.as_ref().map(group::Group::stats)
    }

    /// Runs `op` in the current group (inside a savepoint), or in a transaction of its own;
    /// returns after the commit.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, StorageError>>
            + Send
            + 'static,
    {
        let (job, answer) = group::typed(op);
        let job = match &self.group {
            Some(group) => group.send(job).err(),
            None => Some(job),
        };
        if let Some(job) = job {
            // Per operation, or the writer is gone (its runtime ended): a transaction alone.
            match self.pool.begin().await {
                Ok(tx) => job.run_alone(tx).await,
                Err(e) => job.fail(std::sync::Arc::new(e)),
            }
        }
        answer.await.map_err(|_| {
            StorageError::Commit(DatabaseError::other("the writer ended before answering"))
        })?
    }

    /// A transaction of its own, for a long write.
    pub(crate) async fn begin(&self) -> Result<PgTransaction, StorageError> {
        self.pool.begin().await.map_err(db)
    }

    /// Closes every connection (waits for those in use to be returned).
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs `op` inside the open transaction `tx`.
pub(crate) async fn run_in<T, F>(tx: &mut PgTransaction, op: F) -> Result<T, StorageError>
where
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, StorageError>>,
{
    op(&mut PgTx(tx)).await
}

/// At most one row (`first`) or every row of `sql` on the pool, parsed.
pub(crate) async fn rows<T>(
    pool: &PgPool,
    sql: &str,
    args: &[Arg<'_>],
    first: bool,
    parse: &mut impl FnMut(&dyn Columns) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError> {
    let query = bind(sqlx::query(sql), args);
    let rows = if first {
        query
            .fetch_optional(pool)
            .await
            .map_err(db)?
            .into_iter()
            .collect()
    } else {
        query.fetch_all(pool).await.map_err(db)?
    };
    rows.iter().map(|row| parse(row)).collect()
}

/// Claims with `sql` (a `SELECT … ORDER BY id LIMIT …`) under `FOR UPDATE SKIP LOCKED`, in a
/// transaction that holds the row locks; `None` for the transaction when nothing was found.
pub(crate) async fn claim<T>(
    pool: &PgPool,
    sql: &str,
    args: &[Arg<'_>],
    parse: fn(&dyn Columns) -> Result<T, StorageError>,
) -> Result<(Vec<T>, Option<PgTransaction>), StorageError> {
    let mut tx = pool.begin().await.map_err(db)?;
    let sql = format!("{sql} FOR UPDATE SKIP LOCKED");
    let rows = bind(sqlx::query(&sql), args)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
    let records = rows
        .iter()
        .map(|row| parse(row))
        .collect::<Result<Vec<T>, _>>()?;
    if records.is_empty() {
        tx.rollback().await.map_err(db)?;
        return Ok((records, None));
    }
    Ok((records, Some(tx)))
}

/// Binds `args` to a query in order (`$1` first).
fn bind<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    args: &[Arg<'q>],
) -> Query<'q, Postgres, PgArguments> {
    for arg in args {
        query = match *arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::OptInt(v) => query.bind(v),
            Arg::OptText(v) => query.bind(v),
        };
    }
    query
}

/// A connection of the pool inside its transaction.
pub(crate) struct PgTx<'t>(pub(crate) &'t mut PgConnection);

impl Tx for PgTx<'_> {
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
        on_row: &'a mut OnRow<'_>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let rows = bind(sqlx::query(sql), args)
                .fetch_all(&mut *self.0)
                .await
                .map_err(db)?;
            for row in &rows {
                on_row(row)?;
            }
            Ok(())
        })
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, Result<u64, StorageError>> {
        Box::pin(async move {
            Ok(bind(sqlx::query(sql), args)
                .execute(&mut *self.0)
                .await
                .map_err(db)?
                .rows_affected())
        })
    }

    /// Multi-row statements of at most [`MAX_PARAMETERS`] parameters: one round trip to the
    /// server for many rows.
    fn insert_rows<'a>(
        &'a mut self,
        head: &'a str,
        columns: usize,
        tail: &'a str,
        args: &'a [Arg<'a>],
        on_row: &'a mut OnRow<'_>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if columns == 0 {
                return Ok(());
            }
            let per_statement = (MAX_PARAMETERS / columns).max(1) * columns;
            for chunk in args.chunks(per_statement) {
                let sql = crate::tx::values_sql(head, columns, chunk.len() / columns, tail);
                self.query(&sql, chunk, on_row).await?;
            }
            Ok(())
        })
    }
}

impl Columns for PgRow {
    fn text(&self, col: &str) -> Result<String, StorageError> {
        self.try_get(col).map_err(db)
    }
    fn text_or_null(&self, col: &str) -> Result<Option<String>, StorageError> {
        self.try_get(col).map_err(db)
    }
    fn int(&self, col: &str) -> Result<i64, StorageError> {
        self.try_get(col).map_err(db)
    }
    fn int_or_null(&self, col: &str) -> Result<Option<i64>, StorageError> {
        self.try_get(col).map_err(db)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn multi_row_placeholders() {
        assert_eq!(
            crate::tx::values_sql("INSERT INTO t (a, b)", 2, 2, " RETURNING id"),
            "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4) RETURNING id"
        );
        assert_eq!(
            crate::tx::values_sql("INSERT INTO t (a)", 1, 3, ""),
            "INSERT INTO t (a) VALUES ($1),($2),($3)"
        );
    }
}
