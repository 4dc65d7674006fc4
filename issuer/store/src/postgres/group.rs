//! The PostgreSQL group-commit writer ([`crate::CommitMode::Grouped`]): a task that runs the
//! writes waiting at that moment in one transaction, each inside a savepoint, and commits them
//! together (the rules are in [`crate::group`]). Also the per-operation path: a job run on a
//! transaction of its own.

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::PgTx;
use super::error::group_failed_pg;
use crate::StorageError;
use crate::group::{BoxFuture, Counters, GroupStats, answer_with};
use crate::tx::Tx;

/// An open transaction of the pool.
pub(crate) type PgTransaction = Transaction<'static, Postgres>;

/// How the fate of the transaction reaches an operation's caller: `Ok` once committed.
type Outcome = Result<(), Arc<sqlx::Error>>;

/// Answers the caller once the outcome of the transaction is known.
type Deliver = Box<dyn FnOnce(Outcome) + Send>;

/// The runnable part of a [`Job`].
type Run = Box<dyn for<'t> FnOnce(&'t mut PgTransaction) -> BoxFuture<'t, (bool, Deliver)> + Send>;

/// A type-erased write operation: `run` executes its statements in the transaction it is given
/// and says whether it succeeded (`false`: roll it back), with the callback that answers its
/// caller; `fail` answers the caller without running (the group broke before its turn).
pub(crate) struct Job {
    run: Run,
    fail: Box<dyn FnOnce(Arc<sqlx::Error>) + Send>,
}

impl Job {
    /// Runs the job on its own transaction (no group): the per-operation commit mode, a
    /// group of one, and the fallback when the writer is gone.
    pub(crate) async fn run_alone(self, mut tx: PgTransaction) {
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
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, StorageError>> + Send + 'static,
{
    let (answer, rx) = oneshot::channel();
    let slot = Arc::new(std::sync::Mutex::new(Some(answer)));
    let fail_slot = slot.clone();
    let run = run_fn(move |tx| {
        Box::pin(async move {
            let result = op(&mut PgTx(tx)).await;
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |outcome: Outcome| {
                let value = match (result, outcome) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(group_failed_pg(e)),
                    // The operation's own error, whatever became of the others.
                    (Err(e), _) => Err(e),
                };
                answer_with(&slot, value);
            });
            (ok, deliver)
        })
    });
    let fail = Box::new(move |e: Arc<sqlx::Error>| {
        answer_with(&fail_slot, Err(group_failed_pg(e)));
    });
    (Job { run, fail }, rx)
}

/// Pins the closure's higher-ranked signature.
fn run_fn<F>(f: F) -> Run
where
    F: for<'t> FnOnce(&'t mut PgTransaction) -> BoxFuture<'t, (bool, Deliver)> + Send + 'static,
{
    Box::new(f)
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
    pub(crate) fn start(pool: PgPool, max_batch: usize) -> Group {
        let (jobs, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        tokio::spawn(writer(pool, rx, max_batch.max(1), counters.clone()));
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
        self.counters.stats()
    }
}

async fn writer(
    pool: PgPool,
    mut rx: mpsc::UnboundedReceiver<Job>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        counters.taken();
        let tx = match pool.begin().await {
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
async fn run_group(mut tx: PgTransaction, batch: &mut Vec<Job>) {
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

async fn savepoint(tx: &mut PgTransaction, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut **tx).await.map(|_| ())
}
