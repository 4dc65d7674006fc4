//! Reads, written once for every database: a statement with `$n` parameters, its arguments,
//! and a parser of one row ([`Columns`]). [`Reader`] runs it on the driver of the database,
//! chosen once when the storage opens: a SQLite file on rusqlite (a read connection of
//! `native::Readers`, on the calling thread), any other database on sqlx's pool.
//!
//! Parameters are bound by name (`$1` is the first argument, wherever it appears in the
//! statement), as sqlx binds them on both backends.

use std::fmt::Write as _;
use std::sync::Arc;

use sqlx::AnyPool;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::native::Readers;
use super::{Columns, StorageError, db};

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

/// Where reads run.
#[derive(Clone)]
pub(crate) enum Reader {
    /// A SQLite file: rusqlite.
    Sqlite(Arc<Readers>),
    /// PostgreSQL, or an in-memory SQLite database (which only sqlx's connections share).
    Sqlx(AnyPool),
}

/// At most one row, or every row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rows {
    First,
    All,
}

impl Reader {
    /// Closes the read connections: later reads fail with [`StorageError::Unavailable`].
    pub(crate) async fn close(&self) {
        match self {
            Reader::Sqlite(readers) => readers.close(),
            Reader::Sqlx(pool) => pool.close().await,
        }
    }

    /// The first row of `sql`, parsed, or `None`.
    pub(crate) async fn first<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        parse: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        Ok(self.rows(sql, args, Rows::First, parse).await?.pop())
    }

    /// Every row of `sql`, parsed.
    pub(crate) async fn all<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        parse: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        self.rows(sql, args, Rows::All, parse).await
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
                    readers.read(|conn| sqlite_rows(conn, &sql, &args, Rows::All, &mut { parse }))
                })
                .await
                // The reading task panicked or the runtime is shutting down.
                .map_err(|_| db(sqlx::Error::WorkerCrashed))?
            }
            Reader::Sqlx(_) => self.all(&sql, &args, parse).await,
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
        which: Rows,
        mut parse: impl FnMut(&dyn Columns) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        match self {
            Reader::Sqlite(readers) => {
                readers.read(|conn| sqlite_rows(conn, sql, args, which, &mut parse))
            }
            Reader::Sqlx(pool) => {
                let query = bind(sqlx::query(sql), args);
                let rows = match which {
                    Rows::First => query
                        .fetch_optional(pool)
                        .await
                        .map_err(db)?
                        .into_iter()
                        .collect(),
                    Rows::All => query.fetch_all(pool).await.map_err(db)?,
                };
                rows.iter().map(|row| parse(row)).collect()
            }
        }
    }
}

/// Binds `args` to a sqlx query in order (`$1` first).
pub(crate) fn bind<'q>(
    mut query: Query<'q, sqlx::Any, AnyArguments<'q>>,
    args: &[Arg<'q>],
) -> Query<'q, sqlx::Any, AnyArguments<'q>> {
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

/// Runs `sql` on a rusqlite connection; binds `$n` by name.
fn sqlite_rows<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
    which: Rows,
    parse: &mut dyn FnMut(&dyn Columns) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError> {
    let mut stmt = prepare(conn, sql, args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(parse(row)?);
        if which == Rows::First {
            break;
        }
    }
    Ok(out)
}

/// The cached statement of `sql` with `args` bound to `$1`, `$2`, … by name.
pub(crate) fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<rusqlite::CachedStatement<'c>, StorageError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut name = String::with_capacity(4);
    for (i, arg) in args.iter().enumerate() {
        name.clear();
        // Writing to a String cannot fail.
        let _ = write!(name, "${}", i + 1);
        let Some(index) = stmt.parameter_index(&name).map_err(db)? else {
            continue;
        };
        match *arg {
            Arg::Int(v) => stmt.raw_bind_parameter(index, v),
            Arg::Text(v) => stmt.raw_bind_parameter(index, v),
            Arg::OptInt(v) => stmt.raw_bind_parameter(index, v),
            Arg::OptText(v) => stmt.raw_bind_parameter(index, v),
        }
        .map_err(db)?;
    }
    Ok(stmt)
}
