//! The population registry the service matches dose records against, behind one async trait
//! with two sources:
//!
//! - **local**: the `registry_persons` table of the issuer's own database, loaded from a CSV
//!   extract ([`Storage::import_registry`], looked up with [`Storage::find_person`]);
//! - **remote**: the ministry's registry verification service over HTTPS
//!   ([`remote::RemoteRegistry`]; its request/response contract, timeouts, retries and circuit
//!   breaker are described in [`remote`]).
//!
//! [`crate::matching`] keeps the pure, synchronous [`crate::matching::Registry`] trait that
//! [`crate::matching::match_record`] grades against; this module does the I/O before it: one
//! [`PersonRegistry::lookup`] per record, then `match_record` over the one person found.
//!
//! # Why an enum beside the trait
//! [`PersonRegistry`] is an `async fn`-in-trait (Rust 2024, no `async_trait` macro), implemented
//! by [`Storage`], [`remote::RemoteRegistry`] and [`RegistrySource`]. Such a trait is not
//! object-safe, so the service state holds the closed enum [`RegistrySource`] (`Local` or
//! `Remote`) rather than a `dyn`: dispatch is a `match`, with no boxed future per lookup and
//! nothing to declare `Send` by hand. A third source is a third variant.
//!
//! # When the registry cannot answer
//! A dose record is committed before the registry is asked, so nothing is lost when it does
//! not answer: the record stays `received`, its outcome is set to
//! [`REGISTRY_UNAVAILABLE`], and `POST /dose-records` replies `202 Accepted` with that status.
//! Such records are matched again by [`rematch_pending`] (and by a retry of the submission with
//! the same `Idempotency-Key`, which re-runs the match of a record still `received`).
//!
//! No error text of this module carries personal data: ID numbers travel only in request
//! bodies, never in URLs, logs or messages.

use std::fmt;

use crate::api::{ApiError, AppState};
use crate::identity::IdNumber;
use crate::matching::{Registry, RegistryPerson, match_record};
use crate::storage::{Actor, Storage, StorageError};

pub mod remote;

pub use remote::{RemoteRegistry, RemoteRegistryConfig};

pub use vaxpass_issuer_domain::record::REGISTRY_UNAVAILABLE;

/// Why a registry lookup failed. The texts carry no personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The circuit breaker is open after repeated failures: the request was not sent.
    #[error(
        "the population registry is unavailable (circuit open after repeated failures); \
         the request was not sent"
    )]
    Unavailable,
    /// The registry did not answer within the attempt timeout or the total deadline.
    #[error("the population registry did not answer in time")]
    Timeout,
    /// The registry answered with a server error (5xx) or 429 on every attempt.
    #[error("the population registry answered HTTP {0} on every attempt")]
    Status(u16),
    /// The answer breaks the contract: a refused request (4xx), a body that is not the
    /// contract's JSON, too large, or about another person.
    #[error("the population registry's answer breaks the contract: {0}")]
    Protocol(String),
    /// The TLS handshake failed (untrusted or expired certificate, name mismatch, client
    /// certificate refused).
    #[error("TLS with the population registry failed: {0}")]
    Tls(String),
    /// The connection failed (refused, reset, name not resolved).
    #[error("cannot reach the population registry: {0}")]
    Transport(String),
    /// The local registry table could not be read.
    #[error("the local registry table: {0}")]
    Storage(#[from] StorageError),
}

impl RegistryError {
    /// A stable code for logs and audit entries.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Unavailable => "CIRCUIT_OPEN",
            RegistryError::Timeout => "TIMEOUT",
            RegistryError::Status(_) => "STATUS",
            RegistryError::Protocol(_) => "PROTOCOL",
            RegistryError::Tls(_) => "TLS",
            RegistryError::Transport(_) => "TRANSPORT",
            RegistryError::Storage(_) => "STORAGE",
        }
    }
}

/// Lookup of one person by ID number, asynchronously (database or network).
pub trait PersonRegistry: Send + Sync {
    /// The person registered under `id`, if any (`Ok(None)`: not registered).
    ///
    /// # Errors
    /// [`RegistryError`]: the registry could not give an answer.
    fn lookup(
        &self,
        id: &IdNumber,
    ) -> impl Future<Output = Result<Option<RegistryPerson>, RegistryError>> + Send;
}

impl PersonRegistry for Storage {
    async fn lookup(&self, id: &IdNumber) -> Result<Option<RegistryPerson>, RegistryError> {
        Ok(self.find_person(id).await?)
    }
}

/// The registry the service uses: the local table or the remote service.
#[derive(Clone)]
#[non_exhaustive]
pub enum RegistrySource {
    /// The `registry_persons` table of the issuer's database.
    Local(Storage),
    /// The remote registry verification service.
    Remote(RemoteRegistry),
}

impl RegistrySource {
    /// `local` or `remote`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistrySource::Local(_) => "local",
            RegistrySource::Remote(_) => "remote",
        }
    }
}

impl fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrySource::Local(s) => f.debug_tuple("Local").field(s).finish(),
            RegistrySource::Remote(r) => f.debug_tuple("Remote").field(r).finish(),
        }
    }
}

impl PersonRegistry for RegistrySource {
    async fn lookup(&self, id: &IdNumber) -> Result<Option<RegistryPerson>, RegistryError> {
        match self {
            RegistrySource::Local(s) => s.lookup(id).await,
            RegistrySource::Remote(r) => r.lookup(id).await,
        }
    }
}

/// The registry as far as one match needs it: the person found under the record's number.
struct LookedUp(Option<RegistryPerson>);

impl Registry for LookedUp {
    fn find(&self, id: &IdNumber) -> Option<RegistryPerson> {
        self.0.as_ref().filter(|p| &p.id == id).cloned()
    }
}

/// The outcome body of a record left `received` because the registry could not answer.
fn unavailable_outcome() -> serde_json::Value {
    serde_json::json!({
        "outcome": REGISTRY_UNAVAILABLE,
        "message": "The population registry could not be asked now. The record is stored and \
                    will be matched when the registry answers; submitting it again with the same \
                    Idempotency-Key retries the match.",
    })
}

/// After a failed lookup in `POST /dose-records`: a storage error of the local registry is a
/// 500 as before; any other failure leaves the (already committed) record `received` with the
/// outcome [`REGISTRY_UNAVAILABLE`], to be matched later. Returns the status and outcome body
/// for the 202 answer.
pub(crate) async fn defer_match(
    state: &AppState,
    id: i64,
    error: RegistryError,
) -> Result<(String, serde_json::Value), ApiError> {
    if let RegistryError::Storage(e) = error {
        return Err(e.into());
    }
    // The error text carries no personal data.
    tracing::warn!(record = id, code = error.code(), %error, "registry lookup failed; match deferred");
    state
        .storage
        .mark_registry_unavailable(id, error.code(), &Actor::System("matcher".into()))
        .await?;
    Ok((
        crate::storage::RecordStatus::Received.to_string(),
        unavailable_outcome(),
    ))
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
pub async fn rematch_pending(state: &AppState, limit: u32) -> Result<RematchSummary, StorageError> {
    let mut summary = RematchSummary::default();
    let mut after = 0;
    let mut left = limit;
    let actor = Actor::System("rematch".into());
    while left > 0 {
        let batch = state
            .storage
            .records_awaiting_match(after, left.min(100))
            .await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        left = left.saturating_sub(u32::try_from(batch.len()).unwrap_or(u32::MAX));
        for record in batch {
            let person = match IdNumber::parse(&record.identity.id_number, record.identity.id_kind)
            {
                Ok(IdNumber::Passport(_)) | Err(_) => None,
                Ok(number) => match state.registry.lookup(&number).await {
                    Ok(p) => p,
                    Err(RegistryError::Storage(e)) => return Err(e),
                    Err(e) => {
                        tracing::warn!(record = record.id, code = e.code(), error = %e, "rematch stopped: registry lookup failed");
                        state
                            .storage
                            .mark_registry_unavailable(record.id, e.code(), &actor)
                            .await?;
                        summary.still_pending += 1;
                        summary.stopped_by = Some(e.code());
                        return Ok(summary);
                    }
                },
            };
            let result = match_record(&record.identity, &LookedUp(person));
            match state
                .storage
                .set_verification(record.id, &result, &actor)
                .await
            {
                Ok(_) => summary.matched += 1,
                // Confirmed meanwhile: nothing to do.
                Err(StorageError::AlreadyIssued { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(summary)
}
