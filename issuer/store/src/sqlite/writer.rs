//! The SQLite writer thread: group commit ([`crate::group`]'s rules: a savepoint per write,
//! one `COMMIT` per group, every caller answered after it) and sessions (one long
//! transaction whose steps the caller sends one by one).

use std::sync::{Arc, mpsc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::SqliteTx;
use crate::error::{db, group_failed_sqlite};
use crate::group::{BoxFuture, Counters, GroupStats, answer_with};
use crate::tx::{Tx, run_ready};
use crate::{DatabaseError, StorageError};

/// How the fate of the group's transaction reaches a write's caller: `Ok` once committed.
type Outcome = Result<(), Arc<rusqlite::Error>>;

/// Answers the caller once the outcome of the transaction is known.
type Deliver = Box<dyn FnOnce(Outcome) + Send>;

/// The runnable part of a [`Job`].
type Run = Box<dyn FnOnce(&mut Connection) -> (bool, Deliver) + Send>;

/// A type-erased write: `run` executes its statements on the writer's connection (inside its
/// savepoint) and says whether it succeeded, with the callback that answers its caller; `fail`
/// answers without running (the group could not begin or broke before its turn).
struct Job {
    run: Run,
    fail: Box<dyn FnOnce(Arc<rusqlite::Error>) + Send>,
}

/// A step of a session.
enum Step {
    /// Statements to run inside the session's transaction (answers its caller itself).
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Commit, then answer.
    Commit(oneshot::Sender<Result<(), StorageError>>),
}

/// A session's opening: where its steps come from, and who waits for its `BEGIN`.
struct Opening {
    steps: mpsc::Receiver<Step>,
    begun: oneshot::Sender<Result<(), StorageError>>,
}

/// What the writer thread is sent.
enum Message {
    Write(Job),
    Session(Opening),
}

/// The writing side of one [`crate::Storage`] on SQLite: the writer thread's queue.
pub(crate) struct Writer {
    messages: mpsc::Sender<Message>,
    counters: Arc<Counters>,
    /// Whether writes are grouped (else each is a group of one, and no counters are shown).
    grouped: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("grouped", &self.grouped)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer thread on `conn` (migrated, with the storage's settings).
    pub(super) fn start(
        conn: Connection,
        max_batch: usize,
        grouped: bool,
    ) -> Result<Writer, StorageError> {
        let (messages, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        std::thread::Builder::new()
            .name("vaxpass-sqlite-writer".to_owned())
            .spawn(move || writer(conn, rx, max_batch.max(1), thread_counters))
            .map_err(|e| StorageError::Commit(DatabaseError::shared(Arc::new(e))))?;
        Ok(Writer {
            messages,
            counters,
            grouped,
        })
    }

    /// The group counters (`None` when every write is a transaction of its own).
    pub(crate) fn stats(&self) -> Option<GroupStats> {
        self.grouped.then(|| self.counters.stats())
    }

    /// Runs `op` in the writer's current group (inside a savepoint); returns after the commit.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, StorageError>>
            + Send
            + 'static,
    {
        let (answer, rx) = oneshot::channel();
        let slot = Arc::new(std::sync::Mutex::new(Some(answer)));
        let fail_slot = slot.clone();
        let job = Job {
            run: Box::new(move |conn| {
                let result = run_ready(op(&mut SqliteTx(conn)));
                let ok = result.is_ok();
                let deliver: Deliver = Box::new(move |outcome: Outcome| {
                    let value = match (result, outcome) {
                        (Ok(v), Ok(())) => Ok(v),
                        (Ok(_), Err(e)) => Err(group_failed_sqlite(e)),
                        (Err(e), _) => Err(e),
                    };
                    answer_with(&slot, value);
                });
                (ok, deliver)
            }),
            fail: Box::new(move |e| answer_with(&fail_slot, Err(group_failed_sqlite(e)))),
        };
        self.counters.queued(true);
        if self.messages.send(Message::Write(job)).is_err() {
            self.counters.queued(false);
            return Err(gone());
        }
        rx.await.map_err(|_| gone())?
    }

    /// Opens a session: a `BEGIN IMMEDIATE` transaction of its own on the writer thread,
    /// which runs nothing else until [`Session::commit`] or the session is dropped (rolled
    /// back).
    pub(crate) async fn session(&self) -> Result<Session, StorageError> {
        let (steps, rx) = mpsc::channel();
        let (begun, begun_rx) = oneshot::channel();
        let opening = Opening { steps: rx, begun };
        self.messages
            .send(Message::Session(opening))
            .map_err(|_| gone())?;
        begun_rx.await.map_err(|_| gone())??;
        Ok(Session { steps })
    }
}

/// A long transaction on the writer thread (see [`Writer::session`]).
pub(crate) struct Session {
    steps: mpsc::Sender<Step>,
}

impl Session {
    /// Runs `op` inside the session's transaction.
    pub(crate) async fn run<T, F>(&mut self, op: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, StorageError>>
            + Send
            + 'static,
    {
        let (answer, rx) = oneshot::channel();
        let step = Step::Run(Box::new(move |conn| {
            // The caller may have gone away: the session then rolls back.
            let _ = answer.send(run_ready(op(&mut SqliteTx(conn))));
        }));
        self.steps.send(step).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Commits the session's transaction.
    pub(crate) async fn commit(self) -> Result<(), StorageError> {
        let (answer, rx) = oneshot::channel();
        self.steps.send(Step::Commit(answer)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

fn gone() -> StorageError {
    StorageError::Commit(DatabaseError::other(
        "the SQLite writer thread ended before answering",
    ))
}

/// The writer thread: ends when every [`Writer`] handle is dropped.
fn writer(
    mut conn: Connection,
    rx: mpsc::Receiver<Message>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    // A session that arrived while a group was being filled: it runs after that group.
    let mut next: Option<Message> = None;
    loop {
        let message = match next.take() {
            Some(m) => m,
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            },
        };
        let first = match message {
            Message::Session(opening) => {
                run_session(&mut conn, opening);
                continue;
            }
            Message::Write(job) => job,
        };
        counters.taken();
        if let Err(e) = execute(&conn, "BEGIN IMMEDIATE") {
            (first.fail)(Arc::new(e));
            continue;
        }
        counters.fill(&mut batch, first, max_batch, || match rx.try_recv() {
            Ok(Message::Write(job)) => Some(job),
            Ok(session) => {
                next = Some(session);
                None
            }
            Err(_) => None,
        });
        run_group(&mut conn, &mut batch);
    }
}

/// Runs the jobs inside the open transaction, each in a savepoint, commits once, then answers.
fn run_group(conn: &mut Connection, batch: &mut Vec<Job>) {
    let mut delivers = Vec::with_capacity(batch.len());
    let mut broken: Option<Arc<rusqlite::Error>> = None;
    let alone = batch.len() == 1;
    let mut jobs = batch.drain(..);
    for job in jobs.by_ref() {
        // Alone in its group, the transaction is its savepoint.
        if !alone {
            if let Err(e) = execute(conn, "SAVEPOINT op") {
                let e = Arc::new(e);
                (job.fail)(e.clone());
                broken = Some(e);
                break;
            }
        }
        let (ok, deliver) = (job.run)(conn);
        delivers.push(deliver);
        if !ok {
            let undo = if alone {
                "ROLLBACK"
            } else {
                // No `RELEASE`: the savepoints of a group nest until the `COMMIT`. The most
                // recent savepoint called `op` is this job's.
                "ROLLBACK TO SAVEPOINT op"
            };
            if let Err(e) = execute(conn, undo) {
                broken = Some(Arc::new(e));
                break;
            }
            if alone {
                // Nothing left to commit; the job's own error is what its caller sees.
                for deliver in delivers {
                    deliver(Ok(()));
                }
                return;
            }
        }
    }
    let outcome = match broken {
        Some(e) => {
            for job in jobs {
                (job.fail)(e.clone());
            }
            end(conn);
            Err(e)
        }
        None => match execute(conn, "COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                end(conn);
                Err(Arc::new(e))
            }
        },
    };
    for deliver in delivers {
        deliver(outcome.clone());
    }
}

/// Runs a session: `BEGIN IMMEDIATE`, its steps as they come, then its `COMMIT`; a session
/// whose handle is dropped before committing is rolled back.
fn run_session(conn: &mut Connection, opening: Opening) {
    if let Err(e) = execute(conn, "BEGIN IMMEDIATE") {
        let _ = opening.begun.send(Err(db(e)));
        return;
    }
    if opening.begun.send(Ok(())).is_err() {
        end(conn);
        return;
    }
    loop {
        match opening.steps.recv() {
            Ok(Step::Run(step)) => step(conn),
            Ok(Step::Commit(answer)) => {
                let result = execute(conn, "COMMIT").map_err(db);
                if result.is_err() {
                    end(conn);
                }
                let _ = answer.send(result);
                return;
            }
            Err(_) => {
                end(conn);
                return;
            }
        }
    }
}

/// Ends whatever transaction is open (a failed `COMMIT` may leave it open).
fn end(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = execute(conn, "ROLLBACK");
    }
}

fn execute(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
