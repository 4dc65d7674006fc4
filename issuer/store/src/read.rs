//! Reads, written once for every database: a statement with `$n` parameters, its arguments,
//! and a parser of one row ([`Columns`]). [`Reader`] runs it on the driver of the database,
//! chosen once when the storage opens: SQLite on a read connection of `sqlite::Readers`, on
//! the calling thread; PostgreSQL on the pool.
//!
//! `$1` is the first argument, wherever it appears in the statement (the SQLite driver makes
//! it `?1`).

use std::sync::Arc;

use super::postgres::Pool;

use super::sqlite::Readers;
use super::{Columns, DatabaseError, SqliteSettings, StorageError};

/// An argument of a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// An INTEGER.
    Int(i64),
    /// A TEXT.
    Text(&'a str),
    /// An INTEGER or NULL.
    OptInt(Option<i64>),
    /// A TEXT or NULL.
    OptText(Option<&'a str>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

/// Where reads run: the read side of the storage's driver.
#[derive(Clone)]
pub(crate) enum Reader {
    /// SQLite: rusqlite read connections.
    Sqlite(Arc<Readers>),
    /// PostgreSQL: the pool.
    Postgres(Pool),
}

impl Reader {
    /// Closes the read connections: later reads fail with [`StorageError::Unavailable`].
    pub(crate) async fn close(&self) {
        match self {
            Reader::Sqlite(readers) => readers.close(),
            Reader::Postgres(pool) => pool.close().await,
        }
    }

    /// The first row of `sql`, parsed, or `None`.
    pub(crate) async fn first<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        mut parse: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        Ok(self.rows(sql, args, true, &mut parse).await?.pop())
    }

    /// Every row of `sql`, parsed.
    pub(crate) async fn all<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        mut parse: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        self.rows(sql, args, false, &mut parse).await
    }

    /// As [`Reader::all`], for many rows: on SQLite, read on Tokio's blocking pool rather
    /// than on an async worker.
    pub(crate) async fn all_large<T: Send + 'static>(
        &self,
        sql: String,
        args: Vec<Arg<'static>>,
        parse: fn(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        match self {
            Reader::Sqlite(readers) => {
                let readers = readers.clone();
                tokio::task::spawn_blocking(move || {
                    readers.rows(&sql, &args, false, &mut { parse })
                })
                .await
                // The reading task panicked or the runtime is shutting down.
                .map_err(|_| {
                    StorageError::Unavailable(DatabaseError::other(
                        "the reading task ended before answering",
                    ))
                })?
            }
            Reader::Postgres(_) => self.all(&sql, &args, parse).await,
        }
    }

    /// Claims the records `sql` selects (see `batch.rs`): on SQLite a plain read (one
    /// writer at a time anyway; nothing to hold), on PostgreSQL under `FOR UPDATE SKIP
    /// LOCKED` in a transaction that holds the row locks (`None` when nothing was found).
    pub(crate) async fn claim<T: Send + 'static>(
        &self,
        sql: String,
        args: Vec<Arg<'static>>,
        parse: fn(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<(Vec<T>, Option<super::postgres::PgTransaction>), StorageError> {
        match self {
            Reader::Sqlite(_) => Ok((self.all_large(sql, args, parse).await?, None)),
            Reader::Postgres(pool) => super::postgres::claim(pool, &sql, &args, parse).await,
        }
    }

    /// The one row `sql` always returns (a count), parsed.
    pub(crate) async fn one<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        parse: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.first(sql, args, parse)
            .await?
            .ok_or(StorageError::Corrupt {
                what: "a query that always returns a row",
            })
    }

    async fn rows<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        first: bool,
        parse: &mut impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        match self {
            Reader::Sqlite(readers) => readers.rows(sql, args, first, parse),
            Reader::Postgres(pool) => super::postgres::rows(pool, sql, args, first, parse).await,
        }
    }

    /// SQLite's settings on a read connection (`None` on PostgreSQL).
    pub(crate) fn sqlite_settings(&self) -> Result<Option<SqliteSettings>, StorageError> {
        match self {
            Reader::Sqlite(readers) => readers.settings().map(Some),
            Reader::Postgres(_) => Ok(None),
        }
    }

    /// The SQL expression of a record's registry person's ID (`d.registry_person`), as the
    /// lookup indexes of the driver's schema spell it.
    pub(crate) fn person_id_sql(&self) -> &'static str {
        match self {
            Reader::Sqlite(_) => super::sqlite::PERSON_ID_SQL,
            Reader::Postgres(_) => super::postgres::PERSON_ID_SQL,
        }
    }
}
