//! Statements inside a writing transaction, written once for both drivers: [`Tx`] is the
//! open transaction of either (`sqlite::SqliteTx` on the SQLite writer thread's connection,
//! `postgres::PgTx` on a connection of the PostgreSQL pool), and the code above it (every
//! write operation, the audit chain) does not know which.
//!
//! The SQLite side never waits: its futures are ready when first polled, so the writer
//! thread runs shared async code with [`run_ready`] instead of a runtime.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::group::BoxFuture;
use super::read::Arg;
use super::{Columns, DatabaseError, StorageError};

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

    /// Inserts many rows: `head VALUES (…), … tail` with `columns` parameters a row, the
    /// rows' arguments one after the other in `args`; calls `on_row` for every row returned
    /// (`tail` may say `RETURNING`). Each driver sends them the way that is fast on its
    /// database (multi-row statements to a server, one prepared statement per row in
    /// process); the outcome is the same.
    fn insert_rows<'a>(
        &'a mut self,
        head: &'a str,
        columns: usize,
        tail: &'a str,
        args: &'a [Arg<'a>],
        on_row: &'a mut OnRow<'_>,
    ) -> BoxFuture<'a, Result<(), StorageError>>;
}

/// `head VALUES ($1,…,$c),(…) tail` for `rows` rows of `columns` parameters.
pub(crate) fn values_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 7);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push(',');
            }
            n += 1;
            // Writing to a String cannot fail.
            let _ = write!(sql, "${n}");
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
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

/// Runs a future that never waits (shared code on the SQLite writer's connection) to its end
/// on this thread.
pub(crate) fn run_ready<T>(
    future: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        // Only a future awaiting something other than the SQLite connection could: none is
        // passed here.
        Poll::Pending => Err(StorageError::Commit(DatabaseError::other(
            "a SQLite write waited for something other than SQLite",
        ))),
    }
}
