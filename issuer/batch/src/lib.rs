//! # vaxpass-issuer-batch
//!
//! National-scale batch issuance: every confirmed dose record of the database gets its
//! certificate, on all cores, exactly once.
//!
//! The pipeline ([`issue_pending`]):
//! 1. a reader claims batches of confirmed records ([`Storage::batch_claim`]: row locks with
//!    `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several processes split the work);
//! 2. worker threads (one per core) build, sign and encode each certificate
//!    ([`IssueContext::issue_timed`]) and self-verify a sample of them with the verifier crate;
//! 3. a writer commits each batch in ONE transaction ([`Storage::batch_commit`]): the
//!    certificates, the records' status `issued` and one audit entry.
//!
//! A run killed at any point (`kill -9` included) loses only uncommitted batches, whose
//! records are still `confirmed`: the next run issues them, and no record is ever issued twice
//! (see the store's batch section, [`Storage::batch_claim`]). At most a few batches are in flight
//! ([`BatchOptions::max_in_flight`]), which bounds memory and, on PostgreSQL, connections.
//!
//! Records are brought to `confirmed` by an import ([`import_records`], matched against the
//! registry first) or, for benchmarks, by [`seed`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use vaxpass_keys::Signer;

use crate::storage::{Actor, Claim, ClaimLock, NewCertificate, Storage, StorageError};
use vaxpass_issuer_issuance::{IssueContext, IssueError, StageTimes};

// The stages below, under the names the issuer has always used for them.
use vaxpass_issuer_domain::{dates, matching};
use vaxpass_issuer_registry as registry;
use vaxpass_issuer_registry::csv as registry_csv;
use vaxpass_issuer_store as storage;
use vaxpass_issuer_workflow as workflow;

pub mod import;
pub mod reissue;

pub use import::{ImportReport, LineError, import_records, load_registry, seed};

/// Default records per claimed batch (and per committed transaction).
pub const DEFAULT_BATCH_SIZE: u32 = 10_000;

/// Default self-verification rate: every certificate in debug builds, 1 in 1,000 in release.
pub const DEFAULT_VERIFY_EVERY: u64 = if cfg!(debug_assertions) { 1 } else { 1_000 };

/// Why a batch run stopped. Committed batches stay committed; run again to finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Signing is impossible (the signer failed or its certificate is not valid now).
    #[error("signing failed, the run stopped: {0}")]
    Signer(IssueError),
    /// A worker thread could not be started or died.
    #[error("a signing worker thread failed")]
    Worker,
    /// The options are out of range.
    #[error("{0}")]
    Options(&'static str),
    /// A certificate could not be re-signed (`batch reissue`): the run stopped.
    #[error("re-signing {uvci} failed, the run stopped: {reason}")]
    Resign {
        /// The certificate.
        uvci: String,
        /// Why.
        reason: String,
    },
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Signing threads (default: the number of cores).
    pub workers: usize,
    /// Records per batch (1 to 50,000).
    pub batch_size: u32,
    /// Self-verify one certificate in this many (1: all).
    pub verify_every: u64,
    /// Batches claimed but not yet committed, at most (bounds memory and connections).
    pub max_in_flight: usize,
    /// The audit actor.
    pub actor: Actor,
}

impl Default for BatchOptions {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        BatchOptions {
            workers,
            batch_size: DEFAULT_BATCH_SIZE,
            verify_every: DEFAULT_VERIFY_EVERY,
            max_in_flight: in_flight_for(workers),
            actor: Actor::System("batch".into()),
        }
    }
}

impl BatchOptions {
    /// These options with `workers` signing threads, and as many batches in flight as keep
    /// them busy (two per worker and one more, at most 8).
    pub fn with_workers(mut self, workers: usize) -> BatchOptions {
        self.workers = workers;
        self.max_in_flight = in_flight_for(workers);
        self
    }
}

/// Batches in flight for `workers` signing threads: two each and one more, at most 8.
fn in_flight_for(workers: usize) -> usize {
    (workers * 2 + 1).min(8)
}

/// A record that could not be issued (it stays `confirmed`). No personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The dose record.
    pub record_id: i64,
    /// Why (a text without personal data).
    pub reason: String,
}

/// Progress after each committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Certificates committed so far in this run.
    pub issued: u64,
    /// Records that failed so far.
    pub failed: u64,
    /// Batches committed.
    pub batches: u64,
}

/// What a run did and how long each stage took.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// Certificates committed.
    pub issued: u64,
    /// Batches committed.
    pub batches: u64,
    /// Records not issued (first 1,000 kept; `failed` counts all).
    pub failures: Vec<Failure>,
    /// Records not issued.
    pub failed: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Time summed over the worker threads, per stage.
    pub stages: StageTimes,
    /// Reader: time spent claiming (reading) records.
    pub read: Duration,
    /// Writer: time spent committing batches.
    pub write: Duration,
    /// Worker threads used.
    pub workers: usize,
}

impl BatchReport {
    /// Certificates per second, end to end.
    pub fn rate(&self) -> f64 {
        per_second(self.issued, self.elapsed)
    }
}

/// `n / d` per second (0 for an empty duration).
pub fn per_second(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

struct Job {
    claim: Claim,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

struct Signed {
    lock: ClaimLock,
    certificates: Vec<(i64, NewCertificate)>,
    failures: Vec<Failure>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Issues the certificates of every confirmed record (see the module documentation), calling
/// `progress` after each committed batch. Returns when no confirmed record is left to claim.
///
/// # Errors
/// [`BatchError`]; batches committed before the error stay committed.
pub async fn issue_pending(
    storage: &Storage,
    ctx: &IssueContext,
    opts: &BatchOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<BatchReport, BatchError> {
    if opts.workers == 0 || opts.workers > 1_024 {
        return Err(BatchError::Options("workers must be between 1 and 1024"));
    }
    if opts.batch_size == 0 || opts.batch_size > 50_000 {
        return Err(BatchError::Options(
            "the batch size must be between 1 and 50,000",
        ));
    }
    if opts.verify_every == 0 {
        return Err(BatchError::Options("verify-every must be at least 1"));
    }
    storage.tune_for_batch().await?;
    let started = Instant::now();
    let in_flight = Arc::new(Semaphore::new(opts.max_in_flight.max(1)));
    let (work_tx, work_rx) = mpsc::channel::<Job>(opts.workers);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, mut done_rx) = mpsc::channel::<Result<Signed, IssueError>>(opts.workers + 1);

    let mut handles = Vec::with_capacity(opts.workers);
    for i in 0..opts.workers {
        let rx = work_rx.clone();
        let tx = done_tx.clone();
        let ctx = ctx.clone();
        let verify_every = opts.verify_every;
        // The storage's clock is the service's one clock: certificates are stamped with it.
        let clock = storage.clock();
        let handle = std::thread::Builder::new()
            .name(format!("batch-sign-{i}"))
            .spawn(move || worker(&ctx, &clock, &rx, &tx, verify_every))
            .map_err(|_| BatchError::Worker)?;
        handles.push(handle);
    }
    drop(done_tx);
    drop(work_rx);

    let backend = storage.backend();
    let batch_size = opts.batch_size;
    let sem = in_flight.clone();
    // Records that failed in this run: they stay confirmed, so a later pass would claim them
    // again and report them twice. The writer adds them before its commit releases their row
    // locks, so a pass that can see such a record again finds it here.
    let failed_ids = Arc::new(std::sync::Mutex::new(HashSet::<i64>::new()));
    let failed_seen = failed_ids.clone();
    let reader = async move {
        let mut read = Duration::ZERO;
        let mut cursor = 0;
        // PostgreSQL: one more pass from the start picks up records released meanwhile by a
        // killed process (their row locks die with its connection).
        let mut passes_left = match backend {
            crate::storage::Backend::Postgres => 1,
            crate::storage::Backend::Sqlite => 0,
        };
        let mut restarted = false;
        loop {
            let Ok(permit) = sem.clone().acquire_owned().await else {
                break; // the writer stopped
            };
            let t = Instant::now();
            let claim = storage.batch_claim(cursor, batch_size).await;
            read += t.elapsed();
            let mut claim = match claim {
                Ok(c) => c,
                Err(e) => return Err(BatchError::from(e)),
            };
            match claim.records.last() {
                Some(last) => cursor = last.id,
                None if passes_left > 0 => {
                    passes_left -= 1;
                    cursor = 0;
                    restarted = true;
                    continue;
                }
                None => break,
            }
            if restarted {
                let failed = failed_seen.lock().unwrap_or_else(PoisonError::into_inner);
                claim.records.retain(|r| !failed.contains(&r.id));
                if claim.records.is_empty() {
                    // Only records that failed already: dropping the claim releases them.
                    continue;
                }
            }
            if work_tx
                .send(Job {
                    claim,
                    _permit: permit,
                })
                .await
                .is_err()
            {
                break; // the workers stopped
            }
        }
        Ok(read)
    };

    let actor = opts.actor.clone();
    let sem = in_flight.clone();
    let writer = async move {
        let mut report = BatchReport::default();
        let mut first_error = None;
        while let Some(signed) = done_rx.recv().await {
            let signed = match signed {
                Ok(s) => s,
                Err(e) => {
                    first_error.get_or_insert(BatchError::Signer(e));
                    break;
                }
            };
            if !signed.failures.is_empty() {
                let mut failed = failed_ids.lock().unwrap_or_else(PoisonError::into_inner);
                failed.extend(signed.failures.iter().map(|f| f.record_id));
            }
            let t = Instant::now();
            let n = signed.certificates.len() as u64;
            let result = storage
                .batch_commit(signed.lock, &signed.certificates, &actor)
                .await;
            report.write += t.elapsed();
            if let Err(e) = result {
                first_error.get_or_insert(e.into());
                break;
            }
            report.issued += n;
            report.batches += 1;
            report.failed += signed.failures.len() as u64;
            for f in signed.failures {
                if report.failures.len() < 1_000 {
                    report.failures.push(f);
                }
            }
            progress(Progress {
                issued: report.issued,
                failed: report.failed,
                batches: report.batches,
            });
        }
        // Stop the reader (no more permits) and the workers (their sends fail).
        sem.close();
        drop(done_rx);
        (report, first_error)
    };

    let (read, (mut report, write_error)) = tokio::join!(reader, writer);
    let mut stages = StageTimes::default();
    let mut worker_died = false;
    for h in handles {
        match h.join() {
            Ok(t) => stages.add(&t),
            Err(_) => worker_died = true,
        }
    }
    if let Some(e) = write_error {
        return Err(e);
    }
    report.read = read?;
    if worker_died {
        return Err(BatchError::Worker);
    }
    report.stages = stages;
    report.workers = opts.workers;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Whether an error concerns the record (it stays confirmed, the run goes on) rather than the
/// signer (the run stops).
fn is_record_error(e: &IssueError) -> bool {
    matches!(
        e,
        IssueError::NoRegistryPerson
            | IssueError::Name
            | IssueError::NoProphylaxis
            | IssueError::Implausible(_)
    )
}

fn worker(
    ctx: &IssueContext,
    clock: &crate::storage::Clock,
    rx: &Mutex<mpsc::Receiver<Job>>,
    tx: &mpsc::Sender<Result<Signed, IssueError>>,
    verify_every: u64,
) -> StageTimes {
    let mut times = StageTimes::default();
    let mut n: u64 = 0;
    loop {
        let job = {
            let Ok(mut guard) = rx.lock() else { break };
            guard.blocking_recv()
        };
        let Some(job) = job else { break };
        let Job { claim, _permit } = job;
        let now = clock.now();
        let mut certificates = Vec::with_capacity(claim.records.len());
        let mut failures = Vec::new();
        let mut fatal = None;
        for r in &claim.records {
            let verify = n % verify_every == 0;
            n += 1;
            match ctx.issue_timed(&r.person, &r.vaccination, now, verify, &mut times) {
                Ok(c) => certificates.push((r.id, c)),
                Err(e) if is_record_error(&e) => failures.push(Failure {
                    record_id: r.id,
                    reason: e.to_string(),
                }),
                Err(e) => {
                    fatal = Some(e);
                    break;
                }
            }
        }
        let msg = match fatal {
            Some(e) => Err(e),
            None => Ok(Signed {
                lock: claim.lock,
                certificates,
                failures,
                _permit,
            }),
        };
        let stop = msg.is_err();
        if tx.blocking_send(msg).is_err() || stop {
            break;
        }
    }
    times
}

/// The signing-only ceiling: `count` ES256/PS256 signatures of a `Sig_structure`-sized
/// message spread over `workers` threads, nothing else. Returns the signatures made and the
/// wall time.
///
/// # Errors
/// [`BatchError::Signer`] if the signer fails; [`BatchError::Worker`].
pub fn signing_ceiling(
    signer: &Arc<dyn Signer>,
    workers: usize,
    count: u64,
) -> Result<(u64, Duration), BatchError> {
    let workers = workers.max(1);
    let per = count / workers as u64;
    let started = Instant::now();
    let results: Vec<Result<u64, BatchError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    // About the size of a DCC's Sig_structure.
                    let mut tbs = vec![0x5au8; 360];
                    for i in 0..per {
                        tbs[..8].copy_from_slice(&(i ^ ((w as u64) << 48)).to_be_bytes());
                        signer
                            .sign(&tbs)
                            .map_err(|e| BatchError::Signer(IssueError::Sign(e)))?;
                    }
                    Ok(per)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(BatchError::Worker)))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut total = 0;
    for r in results {
        total += r?;
    }
    Ok((total, elapsed))
}
