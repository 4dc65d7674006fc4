//! A record's way in: stored, matched against the population registry, or left `received`
//! for a later match when the registry cannot answer.
//!
//! A dose record is committed before anything can go wrong with the registry, so nothing is
//! lost when it does not answer: the record stays `received` with the outcome
//! [`REGISTRY_UNAVAILABLE`], and is matched again by [`rematch_pending`] (or by a retry of the
//! submission with the same idempotency key, which re-runs the match of a record still
//! `received`).

use crate::identity::IdNumber;
use crate::matching::{DoseIdentity, LookedUp, MatchReport, MatchResult, match_record};
use crate::plausibility;
use crate::registry::{PersonRegistry, RegistryError};
use crate::storage::{Actor, NewDoseRecord, RecordStatus, Staff, Storage, StorageError};

use super::WorkflowError;

pub use vaxpass_issuer_domain::record::REGISTRY_UNAVAILABLE;

/// How a submission was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A new record, stored and matched (HTTP: 201).
    Created,
    /// A retry with the same idempotency key and content: the record stored the first time
    /// (HTTP: 200).
    Replayed,
    /// Stored, but the registry could not be asked: left `received` for a later match
    /// (HTTP: 202).
    Deferred,
}

/// What the clinic is told about the match.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The match just made (its report quotes no registry value).
    Matched(MatchReport),
    /// The match is deferred: the registry could not be asked.
    Deferred,
    /// A retry of a record matched earlier: the report stored then (JSON), if any.
    Stored(Option<String>),
}

/// The result of [`submit`].
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The record's id.
    pub id: i64,
    /// Its status now.
    pub status: RecordStatus,
    /// How the submission was taken.
    pub disposition: Disposition,
    /// What the clinic is told about the match.
    pub outcome: Outcome,
}

/// Stores one parsed record under `key` (the clinic's idempotency key), matches it against the
/// registry and stores the outcome. The registry is asked first, so a new record is stored with
/// its outcome in one write; when the registry cannot answer, the record is stored `received`
/// and the match deferred ([`Disposition::Deferred`]). Everything it stores is committed when
/// it returns. `now` (Unix seconds, the service's clock) bounds the vaccination date.
///
/// # Errors
/// [`WorkflowError::Submission`] for an implausible dose, [`WorkflowError::Storage`] when the
/// database fails or refuses (a reused idempotency key: [`StorageError::IdempotencyConflict`]).
pub async fn submit(
    storage: &Storage,
    registry: &impl PersonRegistry,
    staff: Staff,
    record: &NewDoseRecord,
    key: &str,
    now: i64,
) -> Result<Submitted, WorkflowError> {
    // The clock-free checks ran in `submission::parse`; the date against today needs the clock.
    plausibility::check(&record.vaccination, record.identity.date_of_birth, now)
        .map_err(super::SubmissionError::from)?;
    let actor = Actor::Staff(staff.token_id);
    let matcher = Actor::System("matcher".into());
    let result = match match_identity(registry, &record.identity).await {
        Ok(result) => result,
        Err(e) => return submit_unmatched(storage, &actor, record, key, e).await,
    };
    let (id, created, status) = storage
        .insert_and_verify(record, key, &actor, &result, &matcher)
        .await?;
    let (status, disposition) = match (created, status) {
        (true, status) => (status, Disposition::Created),
        // A retry of a record left `received` (the registry could not be asked then): this
        // match is its first.
        (false, RecordStatus::Received) => (
            storage.set_verification(id, &result, &matcher).await?,
            Disposition::Replayed,
        ),
        // A retry of a record matched before: its stored outcome.
        (false, _) => return stored(storage, id).await,
    };
    Ok(Submitted {
        id,
        status,
        disposition,
        outcome: Outcome::Matched(result.report()),
    })
}

/// Grades a record's identity against the registry: one lookup under its number, then
/// [`match_record`] over the one person found. A passport (foreigners are not in the population
/// registry) or a number that does not parse asks nothing; the match then says why. The one
/// lookup-then-match of every path: submission, re-match and the file import.
///
/// # Errors
/// [`RegistryError`]: the registry could not answer (nothing was graded).
pub async fn match_identity(
    registry: &impl PersonRegistry,
    identity: &DoseIdentity,
) -> Result<MatchResult, RegistryError> {
    let person = match IdNumber::parse(&identity.id_number, identity.id_kind) {
        Ok(IdNumber::Passport(_)) | Err(_) => None,
        Ok(number) => registry.lookup(&number).await?,
    };
    Ok(match_record(identity, &LookedUp(person)))
}

/// The registry could not be asked: the record is stored (or found under its key) `received`
/// for a later match, unless a retry finds it matched already.
async fn submit_unmatched(
    storage: &Storage,
    actor: &Actor,
    record: &NewDoseRecord,
    key: &str,
    error: RegistryError,
) -> Result<Submitted, WorkflowError> {
    let (id, created) = storage.insert_dose_record(record, key, actor).await?;
    if !created {
        let stored_record = storage
            .get_dose_record(id)
            .await?
            .ok_or(WorkflowError::RecordMissing)?;
        if stored_record.status != RecordStatus::Received {
            return stored(storage, id).await;
        }
    }
    defer(storage, id, error).await?;
    Ok(Submitted {
        id,
        status: RecordStatus::Received,
        disposition: Disposition::Deferred,
        outcome: Outcome::Deferred,
    })
}

/// After a failed lookup: a storage error of the local registry is the database failing, as
/// any other; any other failure leaves the (already committed) record `received` with the
/// outcome [`REGISTRY_UNAVAILABLE`] and an audit entry, to be matched later.
async fn defer(storage: &Storage, id: i64, error: RegistryError) -> Result<(), StorageError> {
    if let RegistryError::Storage(e) = error {
        return Err(e);
    }
    // The error text carries no personal data.
    tracing::warn!(record = id, code = error.code(), %error, "registry lookup failed; match deferred");
    storage
        .mark_registry_unavailable(id, error.code(), &Actor::System("matcher".into()))
        .await
}

/// The stored status and matching report of a record.
async fn stored(storage: &Storage, id: i64) -> Result<Submitted, WorkflowError> {
    let record = storage
        .get_dose_record(id)
        .await?
        .ok_or(WorkflowError::RecordMissing)?;
    Ok(Submitted {
        id,
        status: record.status,
        disposition: Disposition::Replayed,
        outcome: Outcome::Stored(record.match_report),
    })
}

/// What one [`rematch_pending`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RematchSummary {
    /// Records matched (verified, mismatch, not found or manual review now).
    pub matched: u64,
    /// Records whose match failed again (the pass stopped at the first such failure).
    pub still_pending: u64,
    /// The registry error that stopped the pass, if any (its code).
    pub stopped_by: Option<&'static str>,
}

/// Matches again every record left `received` (registry unavailable at submission, or a crash
/// between storing and matching), oldest first, at most `limit` records. The pass stops at the
/// first registry failure: the registry is down again, and the rest waits for the next pass.
///
/// # Errors
/// [`StorageError`] when the database fails (a registry failure is reported in the summary).
pub async fn rematch_pending(
    storage: &Storage,
    registry: &impl PersonRegistry,
    limit: u32,
) -> Result<RematchSummary, StorageError> {
    let mut summary = RematchSummary::default();
    let mut after = 0;
    let mut left = limit;
    let actor = Actor::System("rematch".into());
    while left > 0 {
        let batch = storage.records_awaiting_match(after, left.min(100)).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        left = left.saturating_sub(u32::try_from(batch.len()).unwrap_or(u32::MAX));
        for record in batch {
            let result = match match_identity(registry, &record.identity).await {
                Ok(result) => result,
                Err(RegistryError::Storage(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(record = record.id, code = e.code(), error = %e, "rematch stopped: registry lookup failed");
                    storage
                        .mark_registry_unavailable(record.id, e.code(), &actor)
                        .await?;
                    summary.still_pending += 1;
                    summary.stopped_by = Some(e.code());
                    return Ok(summary);
                }
            };
            match storage.set_verification(record.id, &result, &actor).await {
                Ok(_) => summary.matched += 1,
                // Confirmed meanwhile: nothing to do.
                Err(StorageError::AlreadyIssued { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(summary)
}
