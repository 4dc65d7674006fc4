//! Statements inside a writing transaction, written once for both drivers: [`Tx`] is the
//! open transaction of either (sqlx's, or the rusqlite connection of the SQLite writer thread
//! inside its group's transaction), and the code above it (the audit chain) does not know which.
//!
//! The rusqlite side never waits: its futures are ready when first polled, so the writer
//! thread runs shared async code with [`run_ready`] instead of a runtime.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use sqlx::{Any, Transaction};

use super::group::BoxFuture;
use super::read::Arg;
use super::{Columns, DatabaseError, StorageError, db};

/// What a row callback is given: each row of a statement's result, in order.
pub(crate) type OnRow<'a> = dyn FnMut(&dyn Columns) -> Result<(), StorageError> + Send + 'a;

/// An open writing transaction.
pub(crate) trait Tx: Send {
    /// Runs `sql` with `args` (`$1` is the first), calling `on_row` for each row it returns.
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
        on_row: &'a mut OnRow<'_>,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Runs `sql` with `args`, which returns no rows; returns the number of rows changed.
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> BoxFuture<'a, Result<u64, StorageError>>;
}

/// The first row of `sql`, parsed, or `None`.
pub(crate) async fn first<T: Send>(
    tx: &mut dyn Tx,
    sql: &str,
    args: &[Arg<'_>],
    mut parse: impl FnMut(&dyn Columns) -> Result<T, StorageError> + Send,
) -> Result<Option<T>, StorageError> {
    let mut found = None;
    let mut on_row = |row: &dyn Columns| {
        if found.is_none() {
            found = Some(parse(row)?);
        }
        Ok(())
    };
    tx.query(sql, args, &mut on_row).await?;
    Ok(found)
}

/// The one row `sql` returns (`INSERT … RETURNING`), parsed.
pub(crate) async fn one<T: Send>(
    tx: &mut dyn Tx,
    sql: &str,
    args: &[Arg<'_>],
    parse: impl FnMut(&dyn Columns) -> Result<T, StorageError> + Send,
) -> Result<T, StorageError> {
    first(tx, sql, args, parse)
        .await?
        .ok_or(StorageError::Corrupt {
            what: "a statement that returns a row",
        })
}

/// A sqlx transaction (PostgreSQL, or SQLite through sqlx).
pub(crate) struct SqlxTx<'t>(pub(crate) &'t mut Transaction<'static, Any>);

impl Tx for SqlxTx<'_> {
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
        on_row: &'a mut OnRow<'_>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let rows = super::read::bind(sqlx::query(sql), args)
                .fetch_all(&mut **self.0)
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
            Ok(super::read::bind(sqlx::query(sql), args)
                .execute(&mut **self.0)
                .await
                .map_err(db)?
                .rows_affected())
        })
    }
}

/// The SQLite writer thread's connection, inside its group's transaction. Each statement runs
/// to its end when called; the future returned is already complete.
pub(crate) struct SqliteTx<'c>(pub(crate) &'c mut rusqlite::Connection);

impl Tx for SqliteTx<'_> {
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
        on_row: &'a mut OnRow<'_>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        let mut run = || {
            let mut stmt = super::read::prepare(self.0, sql, args)?;
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
            let mut stmt = super::read::prepare(self.0, sql, args)?;
            let changed = stmt.raw_execute().map_err(db)?;
            Ok(u64::try_from(changed).unwrap_or(u64::MAX))
        };
        Box::pin(std::future::ready(run()))
    }
}

/// Runs a future that never waits (shared code on [`SqliteTx`]) to its end on this thread.
pub(crate) fn run_ready<T>(
    future: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        // Only a future awaiting something other than a `SqliteTx` could: none is passed here.
        Poll::Pending => Err(StorageError::Commit(DatabaseError::other(
            "a SQLite write waited for something other than SQLite",
        ))),
    }
}
