//! Where writes run: the write side of the storage's driver, chosen once when the storage
//! opens. Every operation is one closure on [`Tx`], written once; [`Writer::write`] runs it in
//! the driver's group commit or a transaction of its own, and [`Bulk`] holds a long
//! transaction (a registry import; on PostgreSQL a batch claim's) whose steps are such
//! closures too.

use std::sync::Arc;

use super::group::{BoxFuture, GroupStats};
use super::postgres::{self, PgTransaction};
use super::sqlite;
use super::tx::Tx;
use super::{StorageError, error::db};

/// The write side of the storage's driver.
#[derive(Clone, Debug)]
pub(crate) enum Writer {
    /// The SQLite writer thread.
    Sqlite(Arc<sqlite::Writer>),
    /// The PostgreSQL pool (and its group-commit task).
    Postgres(postgres::Writer),
}

impl Writer {
    /// Runs a write operation: with [`crate::CommitMode::Grouped`] in the writer's current
    /// group (inside a savepoint), else in a transaction of its own. Returns after the commit.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, StorageError>>
            + Send
            + 'static,
    {
        match self {
            Writer::Sqlite(w) => w.write(op).await,
            Writer::Postgres(w) => w.write(op).await,
        }
    }

    /// Opens a long transaction of its own.
    pub(crate) async fn bulk(&self) -> Result<Bulk, StorageError> {
        Ok(match self {
            Writer::Sqlite(w) => Bulk::Sqlite(w.session().await?),
            Writer::Postgres(w) => Bulk::Postgres(w.begin().await?),
        })
    }

    /// The group-commit counters (`None` without group commit).
    pub(crate) fn stats(&self) -> Option<GroupStats> {
        match self {
            Writer::Sqlite(w) => w.stats(),
            Writer::Postgres(w) => w.stats(),
        }
    }

    /// Closes the connections the writer holds in a pool (the SQLite writer's one connection
    /// closes when the last clone of the storage is dropped).
    pub(crate) async fn close(&self) {
        match self {
            Writer::Sqlite(_) => {}
            Writer::Postgres(w) => w.close().await,
        }
    }

    /// Settings for bulk transactions: on SQLite a 256 MiB page cache on the writer's
    /// connection, so that a registry import or a batch commit does not spill pages to the WAL
    /// while it runs. Nothing on PostgreSQL.
    pub(crate) async fn tune_for_batch(&self) -> Result<(), StorageError> {
        match self {
            Writer::Sqlite(w) => {
                w.write(|tx| tx.execute("PRAGMA cache_size = -262144", &[]))
                    .await?;
                Ok(())
            }
            Writer::Postgres(_) => Ok(()),
        }
    }
}

/// A long transaction of its own (see [`Writer::bulk`]); dropped without
/// [`Bulk::commit`], it is rolled back.
pub(crate) enum Bulk {
    /// A session on the SQLite writer thread.
    Sqlite(sqlite::Session),
    /// A transaction of the PostgreSQL pool (a claim's, with its row locks, or a new one).
    Postgres(PgTransaction),
}

impl Bulk {
    /// Runs `op` inside the transaction.
    pub(crate) async fn run<T, F>(&mut self, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, StorageError>>
            + Send
            + 'static,
    {
        match self {
            Bulk::Sqlite(s) => s.run(op).await,
            Bulk::Postgres(tx) => postgres::run_in(tx, op).await,
        }
    }

    /// Commits the transaction.
    pub(crate) async fn commit(self) -> Result<(), StorageError> {
        match self {
            Bulk::Sqlite(s) => s.commit().await,
            Bulk::Postgres(tx) => tx.commit().await.map_err(db),
        }
    }
}
