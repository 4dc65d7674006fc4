//! # vaxpass-issuer-workflow
//!
//! The issuer's use cases, below the HTTP layer: what happens to a dose record between the
//! clinic's submission and its certificate, in domain terms. The HTTP handlers
//! (`vaxpass_issuer::api`) and the file import (`vaxpass_issuer::batch`) call these and only
//! translate: a request body into a [`SubmitRequest`], a [`Submitted`] into a status code and
//! JSON.
//!
//! - [`submission`]: the checks every submission path shares ([`submission::parse`]).
//! - [`intake`]: store a record, match it against the registry, defer the match when the
//!   registry cannot answer ([`intake::submit`]), and match the deferred ones again
//!   ([`intake::rematch_pending`]).
//! - [`confirm`]: confirm a verified record and issue its certificate once
//!   ([`confirm::confirm`]).
//! - [`corrections`]: a citizen's correction report, its review by the clinic (approve: amend,
//!   re-match and re-issue in one transaction; reject; escalate) and revocation without
//!   replacement ([`corrections::report`], [`corrections::approve`], [`corrections::revoke`]).
//! - [`lookup`]: the public lookup of a person's latest certificate ([`lookup::lookup`]), with
//!   its throttles ([`ratelimit`]).
//!
//! Nothing here knows axum, hyper or status codes; errors are typed ([`SubmissionError`],
//! [`WorkflowError`]) and their texts quote no submitted value.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod confirm;
pub mod corrections;
pub mod intake;
pub mod lookup;
pub mod ratelimit;
pub mod submission;

// The stages below, under the names the issuer has always used for them.
use vaxpass_issuer_domain::{dates, identity, matching, names, plausibility};
use vaxpass_issuer_registry as registry;
use vaxpass_issuer_store as storage;

pub use intake::{
    Disposition, Outcome, REGISTRY_UNAVAILABLE, RematchSummary, Submitted, match_identity,
    rematch_pending, submit,
};
pub use submission::{SubmissionError, SubmitRequest, VaccineIn};

use crate::storage::StorageError;

/// Why a use case did not complete. The texts carry no personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// The submission breaks a rule every submission path checks.
    #[error(transparent)]
    Submission(#[from] SubmissionError),
    /// The record does not exist, or belongs to another clinic (the same answer: ids are
    /// sequential).
    #[error("the dose record does not exist")]
    RecordMissing,
    /// The dose is not (any more) clinically plausible: it is not signed.
    #[error(transparent)]
    Implausible(crate::plausibility::Implausible),
    /// The database failed, or refused the change (see [`StorageError`]).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A correction report is malformed ([`corrections::CorrectionError`]).
    #[error(transparent)]
    Correction(#[from] corrections::CorrectionError),
    /// The correction report does not exist, or belongs to another clinic (the same answer).
    #[error("the correction report does not exist")]
    CorrectionMissing,
    /// The correction report waits for an admin: a clinic's token may not act on it.
    #[error("this correction report was escalated: only an admin may review it")]
    NeedsAdmin,
    /// The population registry does not confirm the amended identity: nothing was changed.
    #[error("the population registry does not confirm the corrected identity; nothing was changed")]
    NotConfirmed(Box<crate::matching::MatchReport>),
    /// The population registry could not be asked (its error code); nothing was changed.
    #[error(
        "the population registry could not be asked ({0}); nothing was changed, try again later"
    )]
    RegistryUnavailable(&'static str),
    /// The certificate does not exist, or another clinic issued it (the same answer).
    #[error("the certificate does not exist")]
    CertificateMissing,
}
