//! A clinic confirms a verified record: its certificate is signed and stored, exactly once.

use crate::dates::PartialDate;
use crate::plausibility;
use crate::storage::{DoseRecord, Issued, NewCertificate, RecordStatus, Refused, Staff, Storage};

use super::WorkflowError;

/// Confirms record `id` for `staff`'s clinic and issues its certificate with `sign` (which
/// builds, signs and self-verifies it from the record as read; run it off the async workers).
///
/// - Only the record's clinic may confirm it: another clinic's record is refused as a missing
///   one ([`WorkflowError::RecordMissing`]) — ids are sequential, and a different answer would
///   let any clinic count every record.
/// - A verified record is checked for plausibility again, against the registry's birth date,
///   at `now` (it may have been stored before the checks existed).
/// - Idempotent: a record issued already returns its certificate (`newly_issued` false).
///
/// # Errors
/// [`WorkflowError::RecordMissing`], [`WorkflowError::Implausible`], or
/// [`WorkflowError::Storage`]: not verified ([`crate::storage::StorageError::NotVerified`]), the
/// signing failed ([`crate::storage::StorageError::Issue`]), or the database failed.
pub async fn confirm<F, Fut, E>(
    storage: &Storage,
    staff: Staff,
    id: i64,
    now: i64,
    sign: F,
) -> Result<Issued, WorkflowError>
where
    F: FnOnce(DoseRecord) -> Fut,
    Fut: Future<Output = Result<NewCertificate, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let clinic_id = staff.clinic_id;
    let issued = storage
        .confirm_and_issue_checked(
            id,
            &crate::storage::Actor::Staff(staff.token_id),
            // Read once, whatever its status.
            |r| {
                if r.clinic_id != clinic_id {
                    return Err(WorkflowError::RecordMissing);
                }
                if r.status == RecordStatus::Verified {
                    let born = r
                        .registry_person
                        .as_ref()
                        .map_or(r.identity.date_of_birth, |p| {
                            PartialDate::from(p.date_of_birth)
                        });
                    plausibility::check(&r.vaccination, born, now)
                        .map_err(WorkflowError::Implausible)?;
                }
                Ok(())
            },
            sign,
        )
        .await;
    match issued {
        Ok(issued) => Ok(issued),
        Err(Refused::Check(e)) => Err(e),
        Err(Refused::Storage(e)) => Err(WorkflowError::Storage(e)),
    }
}
