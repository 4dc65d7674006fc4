//! Group commit: one writer task gathers the write operations that are waiting into one
//! transaction and commits them together, so a single sync of the WAL (SQLite
//! `synchronous=FULL`) or of the WAL flush (PostgreSQL) acknowledges many operations.
//!
//! - Each operation runs inside a `SAVEPOINT`: an operation that fails is rolled back to its
//!   savepoint alone and answered with its own error; the others of its group go on. The
//!   savepoints are not released one by one: they nest until the group's `COMMIT`.
//! - Every caller is answered only after the group's `COMMIT` returned: an acknowledged write
//!   is as durable as with one transaction per operation.
//! - If the commit itself fails (or the transaction cannot go on after a failed rollback to a
//!   savepoint), the whole group is rolled back and every operation of it fails with
//!   [`StorageError::Commit`].
//! - Audit entries are appended by each operation inside the group's transaction, in the order
//!   the operations run: the chain stays linear, and a rolled-back operation takes its entries
//!   with it.
//!
//! The writer takes the same in-process write lock as [`super::Storage::begin_write`] for each
//! group, so other writing transactions (registry import, …) interleave with groups, never
//! inside one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Backend, StorageError};

/// A boxed, sendable future borrowing for `'a`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the fate of the transaction reaches an operation's caller: `Ok` once committed.
pub(crate) type Outcome = Result<(), Arc<sqlx::Error>>;

/// Answers the caller once the outcome of the transaction is known.
pub(crate) type Deliver = Box<dyn FnOnce(Outcome) + Send>;

/// The runnable part of a [`Job`].
type Run = Box<
    dyn for<'t> FnOnce(&'t mut Transaction<'static, Any>) -> BoxFuture<'t, (bool, Deliver)> + Send,
>;

/// A type-erased write operation: `run` executes its statements in the transaction it is given
/// and says whether it succeeded (`false`: roll it back), with the callback that answers its
/// caller; `fail` answers the caller without running (the group broke before its turn).
pub(crate) struct Job {
    run: Run,
    fail: Box<dyn FnOnce(Arc<sqlx::Error>) + Send>,
}

impl Job {
    /// Runs the job on its own transaction (no group): the fallback when the writer is gone,
    /// and the per-operation commit mode.
    pub(crate) async fn run_alone(self, mut tx: Transaction<'static, Any>) {
        let (ok, deliver) = (self.run)(&mut tx).await;
        let outcome = if ok {
            tx.commit().await.map_err(Arc::new)
        } else {
            // The operation's own error is what its caller sees; a failed rollback only
            // closes the connection.
            let _ = tx.rollback().await;
            Ok(())
        };
        deliver(outcome);
    }

    /// Answers the caller with `e` without running the job.
    pub(crate) fn fail(self, e: Arc<sqlx::Error>) {
        (self.fail)(e);
    }
}

/// Wraps a typed operation into a [`Job`] and the receiver of its answer.
pub(crate) fn typed<T, F>(op: F) -> (Job, oneshot::Receiver<Result<T, StorageError>>)
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut Transaction<'static, Any>) -> BoxFuture<'t, Result<T, StorageError>>
        + Send
        + 'static,
{
    let (answer, rx) = oneshot::channel();
    // Shared by `run` and `fail`: whichever is called answers.
    let slot = Arc::new(std::sync::Mutex::new(Some(answer)));
    let fail_slot = slot.clone();
    let run = run_fn(move |tx| {
        Box::pin(async move {
            let result = op(tx).await;
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |outcome: Outcome| {
                let value = match (result, outcome) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(crate::error::group_failed_sqlx(e)),
                    // The operation's own error, whatever became of the others.
                    (Err(e), _) => Err(e),
                };
                answer_with(&slot, value);
            });
            (ok, deliver)
        })
    });
    let fail = Box::new(move |e: Arc<sqlx::Error>| {
        answer_with(&fail_slot, Err(crate::error::group_failed_sqlx(e)));
    });
    (Job { run, fail }, rx)
}

type Slot<T> = Arc<std::sync::Mutex<Option<oneshot::Sender<Result<T, StorageError>>>>>;

fn answer_with<T>(slot: &Slot<T>, value: Result<T, StorageError>) {
    let sender = slot.lock().ok().and_then(|mut s| s.take());
    if let Some(sender) = sender {
        // The caller may have gone away (its request was cancelled): nothing to do.
        let _ = sender.send(value);
    }
}

/// Pins the closure's higher-ranked signature.
fn run_fn<F>(f: F) -> Run
where
    F: for<'t> FnOnce(&'t mut Transaction<'static, Any>) -> BoxFuture<'t, (bool, Deliver)>
        + Send
        + 'static,
{
    Box::new(f)
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

/// Shared by the sqlx writer and the native SQLite writer (`super::native`).
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

/// The sending side, held by every clone of the storage; the writer ends when the last one
/// is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    jobs: mpsc::UnboundedSender<Job>,
    counters: Arc<Counters>,
}

impl Group {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn start(
        pool: AnyPool,
        backend: Backend,
        write_lock: Arc<Mutex<()>>,
        max_batch: usize,
        counters: Arc<Counters>,
    ) -> Group {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(
            pool,
            backend,
            write_lock,
            rx,
            max_batch.max(1),
            counters.clone(),
        ));
        Group { jobs, counters }
    }

    /// Queues a job; gives it back when the writer is gone (its runtime shut down).
    pub(crate) fn send(&self, job: Job) -> Result<(), Job> {
        self.counters.queued(true);
        self.jobs.send(job).map_err(|e| {
            self.counters.queued(false);
            e.0
        })
    }

    /// The writer's counters.
    pub(crate) fn stats(&self) -> GroupStats {
        let c = &self.counters;
        GroupStats {
            groups: c.groups.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            largest: c.largest.load(Ordering::Relaxed),
            waiting: c.waiting.load(Ordering::Relaxed),
            submitted: c.submitted.load(Ordering::Relaxed),
        }
    }
}

async fn writer(
    pool: AnyPool,
    backend: Backend,
    write_lock: Arc<Mutex<()>>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        counters.taken();
        let _guard = write_lock.lock().await;
        let begun = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => pool.begin().await,
        };
        let tx = match begun {
            Ok(tx) => tx,
            Err(e) => {
                first.fail(Arc::new(e));
                continue;
            }
        };
        counters.fill(&mut batch, first, max_batch, || rx.try_recv().ok());
        run_group(tx, &mut batch).await;
    }
}

/// Runs the jobs in one transaction, each inside a savepoint, commits once, then answers.
async fn run_group(mut tx: Transaction<'static, Any>, batch: &mut Vec<Job>) {
    if batch.len() == 1 {
        // Alone in its group: its transaction is its savepoint.
        if let Some(job) = batch.pop() {
            job.run_alone(tx).await;
        }
        return;
    }
    let mut delivers = Vec::with_capacity(batch.len());
    let mut broken: Option<Arc<sqlx::Error>> = None;
    let mut jobs = batch.drain(..);
    for job in jobs.by_ref() {
        if let Err(e) = savepoint(&mut tx, "SAVEPOINT op").await {
            let e = Arc::new(e);
            job.fail(e.clone());
            broken = Some(e);
            break;
        }
        let (ok, deliver) = (job.run)(&mut tx).await;
        delivers.push(deliver);
        // No `RELEASE`: the savepoints of a group nest until the `COMMIT`, which releases them
        // all (one statement less per write). `ROLLBACK TO` names the most recent savepoint
        // called `op`, which is this job's, and leaves it open, empty, under the next one.
        if !ok {
            if let Err(e) = savepoint(&mut tx, "ROLLBACK TO SAVEPOINT op").await {
                broken = Some(Arc::new(e));
                break;
            }
        }
    }
    let outcome = match broken {
        Some(e) => {
            // Jobs not run yet fail with the same error; the transaction is abandoned.
            for job in jobs {
                job.fail(e.clone());
            }
            let _ = tx.rollback().await;
            Err(e)
        }
        None => tx.commit().await.map_err(Arc::new),
    };
    for deliver in delivers {
        deliver(outcome.clone());
    }
}

async fn savepoint(tx: &mut Transaction<'static, Any>, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut **tx).await.map(|_| ())
}
