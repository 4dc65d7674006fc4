//! Issuing from the service's state and stored records. The pipeline itself (payload, UVCI,
//! signing, encoding, self-verification) is the `vaxpass-issuer-issuance` crate, re-exported
//! here under its old paths; this module maps the service's types onto it: [`Config`] to
//! [`IssueSettings`], a stored [`DoseRecord`] to the registry identity and dose it takes, and
//! its [`IssuedCertificate`] is the storage's [`NewCertificate`] (the domain's type).

pub use vaxpass_issuer_issuance::{
    IssueContext, IssueError, IssueSettings, IssuedCertificate, StageTimes, TARGET_COVID_19,
    luhn36_check, new_uvci, uvci_check_ok,
};
use vaxpass_verifier::Dcc;

use super::{AppState, Config};
use crate::storage::{DoseRecord, Issued, NewCertificate, Staff};
use crate::workflow::{self, WorkflowError};

impl From<&Config> for IssueSettings {
    fn from(c: &Config) -> Self {
        IssueSettings {
            issuer_text: c.issuer_text.clone(),
            country: c.country.clone(),
            validity_days: c.validity_days,
        }
    }
}

impl From<Config> for IssueSettings {
    fn from(c: Config) -> Self {
        IssueSettings::from(&c)
    }
}

impl AppState {
    /// The issuing part of the state, usable without the service.
    pub fn issue_context(&self) -> IssueContext {
        IssueContext {
            signer: self.signer.clone(),
            self_check: self.self_check.clone(),
            dsc_not_after: self.dsc_not_after,
            settings: std::sync::Arc::new(IssueSettings::from(&*self.config)),
        }
    }
}

/// Builds the DCC payload of a verified record (schema 1.3.0): the registry's canonical name
/// and birth date, one `v` entry for the record's dose.
///
/// # Errors
/// [`IssueError::NoRegistryPerson`], [`IssueError::Name`], [`IssueError::NoProphylaxis`].
pub fn build_dcc(state: &AppState, record: &DoseRecord, uvci: &str) -> Result<Dcc, IssueError> {
    let person = record
        .registry_person
        .as_ref()
        .ok_or(IssueError::NoRegistryPerson)?;
    state
        .issue_context()
        .build_dcc_for(person, &record.vaccination, uvci)
}

/// Builds, signs and verifies the certificate of a verified record at `now` (Unix seconds).
///
/// `exp` is `now + validity_days`, cut to the DSC's notAfter.
///
/// # Errors
/// [`IssueError`].
pub fn issue(
    state: &AppState,
    record: &DoseRecord,
    now: i64,
) -> Result<NewCertificate, IssueError> {
    let person = record
        .registry_person
        .as_ref()
        .ok_or(IssueError::NoRegistryPerson)?;
    state
        .issue_context()
        .issue(person, &record.vaccination, now)
}

/// Confirms record `id` for `staff` and issues its certificate at the state's clock
/// ([`workflow::confirm::confirm`]): signing and self-verifying are CPU work, so they run on
/// the blocking pool, outside any database transaction, and the async workers keep serving
/// requests meanwhile. The one confirmation of the JSON API and the web console.
///
/// # Errors
/// As [`workflow::confirm::confirm`].
pub async fn confirm_and_sign(
    state: &AppState,
    staff: Staff,
    id: i64,
) -> Result<Issued, WorkflowError> {
    let now = state.now();
    let signing_state = state.clone();
    workflow::confirm::confirm(&state.storage, staff, id, now, move |r| {
        sign_blocking(signing_state, r, now)
    })
    .await
}

/// Approves correction report `reference` for `staff` at the state's clock
/// ([`workflow::corrections::approve`]), signing the re-issued certificate on the blocking pool
/// as [`confirm_and_sign`] does. The one approval of the JSON API and the web console.
///
/// # Errors
/// As [`workflow::corrections::approve`].
pub async fn approve_and_sign(
    state: &AppState,
    staff: Staff,
    reference: &str,
) -> Result<workflow::corrections::Approved, WorkflowError> {
    let now = state.now();
    let signing_state = state.clone();
    workflow::corrections::approve(
        &state.storage,
        &*state.registry,
        staff,
        reference,
        now,
        move |r| sign_blocking(signing_state, r, now),
    )
    .await
}

/// Builds, signs and self-verifies the certificate of `record` at `now` on the blocking pool:
/// the signing step of a confirmation and of a correction's re-issue.
pub(crate) async fn sign_blocking(
    state: AppState,
    record: DoseRecord,
    now: i64,
) -> Result<NewCertificate, SignError> {
    tokio::task::spawn_blocking(move || issue(&state, &record, now))
        .await
        .map_err(|_| SignError::Task)?
        .map_err(SignError::Issue)
}

/// Why the signing task of a confirmation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignError {
    /// Building, signing or self-verifying failed.
    #[error(transparent)]
    Issue(IssueError),
    /// The blocking task did not complete (it panicked or the runtime is shutting down).
    #[error("the signing task did not complete")]
    Task,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_the_configs_issuing_fields() {
        let config = Config {
            issuer_text: "Sở Y tế Hà Nội".to_owned(),
            country: "VN".to_owned(),
            validity_days: 30,
            ..Config::default()
        };
        let expected = IssueSettings {
            issuer_text: "Sở Y tế Hà Nội".to_owned(),
            country: "VN".to_owned(),
            validity_days: 30,
        };
        assert_eq!(IssueSettings::from(&config), expected);
        assert_eq!(IssueSettings::from(config), expected);
        assert_eq!(
            IssueSettings::from(Config::default()),
            IssueSettings::default()
        );
    }
}
