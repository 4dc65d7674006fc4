//! Group commit, the rules both drivers' writers follow (the SQLite writer thread,
//! `sqlite/writer.rs`; the PostgreSQL writer task, `postgres/group.rs`): one writer gathers the
//! write operations that are waiting into one transaction and commits them together, so a
//! single sync of the WAL (SQLite `synchronous=FULL`) or of the WAL flush (PostgreSQL)
//! acknowledges many operations.
//!
//! - Each operation runs inside a `SAVEPOINT`: an operation that fails is rolled back to its
//!   savepoint alone and answered with its own error; the others of its group go on. The
//!   savepoints are not released one by one: they nest until the group's `COMMIT`.
//! - Every caller is answered only after the group's `COMMIT` returned: an acknowledged write
//!   is as durable as with one transaction per operation.
//! - If the commit itself fails (or the transaction cannot go on after a failed rollback to a
//!   savepoint), the whole group is rolled back and every operation of it fails with
//!   [`StorageError::Commit`] (or [`StorageError::Busy`] / [`StorageError::Unavailable`] when
//!   the database was locked or gone).
//! - Audit entries are appended by each operation inside the group's transaction, in the order
//!   the operations run: the chain stays linear, and a rolled-back operation takes its entries
//!   with it.
//!
//! This module holds what both writers share: the counters and the answer slot.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;

use super::StorageError;

/// A boxed, sendable future borrowing for `'a`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a write's answer goes; shared by its `run` and `fail` halves (whichever is called
/// answers).
pub(crate) type Slot<T> = Arc<std::sync::Mutex<Option<oneshot::Sender<Result<T, StorageError>>>>>;

/// Answers the caller of a write, unless answered already.
pub(crate) fn answer_with<T>(slot: &Slot<T>, value: Result<T, StorageError>) {
    let sender = slot.lock().ok().and_then(|mut s| s.take());
    if let Some(sender) = sender {
        // The caller may have gone away (its request was cancelled): nothing to do.
        let _ = sender.send(value);
    }
}

/// Counters of the group-commit writer, read by [`super::Storage::group_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupStats {
    /// Transactions committed or abandoned by the writer.
    pub groups: u64,
    /// Writes run in them.
    pub writes: u64,
    /// The most writes in one group.
    pub largest: u64,
    /// Writes queued now, not yet taken into a group.
    pub waiting: u64,
    /// Writes ever sent to the writer.
    pub submitted: u64,
}

/// Shared by both drivers' writers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) groups: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) largest: AtomicU64,
    pub(crate) waiting: AtomicU64,
    pub(crate) submitted: AtomicU64,
}

impl Counters {
    /// A write was queued (`true`) or could not be (`false`: undoes the count).
    pub(crate) fn queued(&self, yes: bool) {
        if yes {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            self.submitted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            self.submitted.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The writer took a queued write.
    pub(crate) fn taken(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    /// Makes a group of `first` and everything that queued meanwhile (while the previous
    /// group was committing, or this transaction waited for the database's write lock), at
    /// most `max` writes; counts it.
    pub(crate) fn fill<J>(
        &self,
        batch: &mut Vec<J>,
        first: J,
        max: usize,
        mut next: impl FnMut() -> Option<J>,
    ) {
        batch.push(first);
        while batch.len() < max {
            let Some(job) = next() else { break };
            self.taken();
            batch.push(job);
        }
        let n = batch.len() as u64;
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(n, Ordering::Relaxed);
        self.largest.fetch_max(n, Ordering::Relaxed);
    }
}

impl Counters {
    /// The counters as [`GroupStats`].
    pub(crate) fn stats(&self) -> GroupStats {
        GroupStats {
            groups: self.groups.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            largest: self.largest.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            submitted: self.submitted.load(Ordering::Relaxed),
        }
    }
}
