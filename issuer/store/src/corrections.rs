//! Citizens' correction reports (migration 0006): stored with the hash of their status token,
//! listed for the reviewing clinic, closed (rejected, escalated, or approved without a
//! re-issue) with a reason. Approval with a re-issue is [`Storage::amend_and_reissue`]
//! (`revocations.rs`): one transaction for the amendment, the new certificate and the
//! revocation of the old one.
//!
//! A report's proposed values, note, email and photo are personal data: `Debug` of
//! [`Correction`] and [`NewCorrection`] leaves them out, and no audit entry quotes them.

use std::fmt;

use super::read::Arg;
use super::{Actor, Storage, StorageError, audit, corrupt, tx};

/// What a report says is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrectionKind {
    /// The name's spelling.
    Name,
    /// The birth date.
    BirthDate,
    /// The sex.
    Sex,
    /// The ID number.
    IdNumber,
    /// A dose never entered: the report names the clinic and the date, and goes to that clinic.
    MissingDose,
    /// The dose's details (vaccine, date, dose number).
    DoseDetails,
}

impl CorrectionKind {
    /// Every kind.
    pub const ALL: [CorrectionKind; 6] = [
        CorrectionKind::Name,
        CorrectionKind::BirthDate,
        CorrectionKind::Sex,
        CorrectionKind::IdNumber,
        CorrectionKind::MissingDose,
        CorrectionKind::DoseDetails,
    ];

    /// The stored (and API) form.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionKind::Name => "name",
            CorrectionKind::BirthDate => "birth_date",
            CorrectionKind::Sex => "sex",
            CorrectionKind::IdNumber => "id_number",
            CorrectionKind::MissingDose => "missing_dose",
            CorrectionKind::DoseDetails => "dose_details",
        }
    }

    /// The kind of a stored (or API) form.
    pub fn parse(s: &str) -> Option<CorrectionKind> {
        CorrectionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrectionStatus {
    /// Waiting for the clinic.
    Open,
    /// Approved (the record amended and the certificate re-issued, or the missing dose
    /// accepted for entry).
    Approved,
    /// Rejected, with a reason.
    Rejected,
    /// Waiting for an admin: the record reached its limit of corrections, or the clinic
    /// escalated it.
    Escalated,
}

impl CorrectionStatus {
    /// The stored (and API) form.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionStatus::Open => "open",
            CorrectionStatus::Approved => "approved",
            CorrectionStatus::Rejected => "rejected",
            CorrectionStatus::Escalated => "escalated",
        }
    }

    fn parse(s: &str) -> Option<CorrectionStatus> {
        Some(match s {
            "open" => CorrectionStatus::Open,
            "approved" => CorrectionStatus::Approved,
            "rejected" => CorrectionStatus::Rejected,
            "escalated" => CorrectionStatus::Escalated,
            _ => return None,
        })
    }

    /// Whether a reviewer may still act on it.
    pub fn is_pending(self) -> bool {
        matches!(self, CorrectionStatus::Open | CorrectionStatus::Escalated)
    }
}

impl fmt::Display for CorrectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A picture attached to a report: its bytes in Base64 and its media type (checked by the
/// caller from the bytes' magic numbers).
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    /// Standard Base64 of the picture's bytes.
    pub base64: String,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub media_type: &'static str,
}

impl fmt::Debug for Photo {
    /// The media type and size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Photo")
            .field("media_type", &self.media_type)
            .field("base64_len", &self.base64.len())
            .finish()
    }
}

/// A report to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewCorrection {
    /// The reference shown to the citizen (unique).
    pub reference: String,
    /// Hex SHA-256 of the status token ([`super::token_hash`]).
    pub token_hash: String,
    /// The dose record the report is about (`None`: a dose never entered).
    pub dose_record_id: Option<i64>,
    /// The certificate it is about.
    pub uvci: Option<String>,
    /// The reviewing clinic.
    pub clinic_id: i64,
    /// What is wrong.
    pub kind: CorrectionKind,
    /// The proposed values, JSON.
    pub proposed: String,
    /// The citizen's note.
    pub note: String,
    /// A picture of the paper vaccination record.
    pub photo: Option<Photo>,
    /// Where to send the answer.
    pub email: Option<String>,
    /// `Open`, or `Escalated` when the record reached its limit of corrections.
    pub status: CorrectionStatus,
}

impl fmt::Debug for NewCorrection {
    /// Redacted: no proposed values, note, photo or email.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCorrection")
            .field("reference", &self.reference)
            .field("dose_record_id", &self.dose_record_id)
            .field("clinic_id", &self.clinic_id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A stored report (without its photo: [`Storage::correction_photo`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Correction {
    /// Its id.
    pub id: i64,
    /// The citizen's reference.
    pub reference: String,
    /// Hex SHA-256 of the status token.
    pub token_hash: String,
    /// The dose record (`None`: a dose never entered).
    pub dose_record_id: Option<i64>,
    /// The certificate named.
    pub uvci: Option<String>,
    /// The reviewing clinic.
    pub clinic_id: i64,
    /// What is wrong.
    pub kind: CorrectionKind,
    /// The proposed values, JSON.
    pub proposed: String,
    /// The citizen's note.
    pub note: String,
    /// The photo's media type, if there is one.
    pub photo_type: Option<String>,
    /// Where to send the answer.
    pub email: Option<String>,
    /// Where it stands.
    pub status: CorrectionStatus,
    /// The reviewer's reason.
    pub reason: Option<String>,
    /// The certificate issued on approval.
    pub new_uvci: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl fmt::Debug for Correction {
    /// Redacted: no proposed values, note or email.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Correction")
            .field("id", &self.id)
            .field("reference", &self.reference)
            .field("dose_record_id", &self.dose_record_id)
            .field("clinic_id", &self.clinic_id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// One earlier state of an amended record.
#[derive(Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The report that caused the amendment.
    pub correction_id: Option<i64>,
    /// The record's identity, dose and registry person before it, JSON.
    pub previous: String,
    /// Unix seconds.
    pub amended_at: i64,
    /// Who amended it (the audit actor).
    pub amended_by: String,
}

impl fmt::Debug for HistoryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryEntry")
            .field("correction_id", &self.correction_id)
            .field("amended_at", &self.amended_at)
            .finish_non_exhaustive()
    }
}

pub(crate) const CORRECTION_COLUMNS: &str = "id, reference, token_hash, dose_record_id, uvci, \
    clinic_id, kind, proposed, note, photo_type, email, status, reason, new_uvci, created_at, \
    updated_at";

pub(crate) fn correction_from_row(row: &dyn super::Columns) -> Result<Correction, StorageError> {
    Ok(Correction {
        id: row.int("id")?,
        reference: row.text("reference")?,
        token_hash: row.text("token_hash")?,
        dose_record_id: row.int_or_null("dose_record_id")?,
        uvci: row.text_or_null("uvci")?,
        clinic_id: row.int("clinic_id")?,
        kind: CorrectionKind::parse(&row.text("kind")?).ok_or(corrupt("correction kind"))?,
        proposed: row.text("proposed")?,
        note: row.text("note")?,
        photo_type: row.text_or_null("photo_type")?,
        email: row.text_or_null("email")?,
        status: CorrectionStatus::parse(&row.text("status")?)
            .ok_or(corrupt("correction status"))?,
        reason: row.text_or_null("reason")?,
        new_uvci: row.text_or_null("new_uvci")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

impl Storage {
    /// Stores a report, with the audit entry `correction.report` (its reference, kind, record
    /// and clinic: nothing the citizen typed). Returns its id.
    ///
    /// # Errors
    /// [`StorageError::UnknownClinic`] (a missing-dose report naming no clinic of ours),
    /// [`StorageError::Database`].
    pub async fn insert_correction(
        &self,
        new: &NewCorrection,
        actor: &Actor,
    ) -> Result<i64, StorageError> {
        let now = self.now();
        let new = new.clone();
        let actor = actor.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let photo = new.photo.as_ref();
                let args = [
                    Arg::Text(&new.reference),
                    Arg::Text(&new.token_hash),
                    Arg::OptInt(new.dose_record_id),
                    Arg::OptText(new.uvci.as_deref()),
                    Arg::Int(new.clinic_id),
                    Arg::Text(new.kind.as_str()),
                    Arg::Text(&new.proposed),
                    Arg::Text(&new.note),
                    Arg::OptText(photo.map(|p| p.base64.as_str())),
                    Arg::OptText(photo.map(|p| p.media_type)),
                    Arg::OptText(new.email.as_deref()),
                    Arg::Text(new.status.as_str()),
                    Arg::Int(now),
                ];
                let id = tx::one(
                    tx,
                    "INSERT INTO correction_reports (reference, token_hash, dose_record_id, uvci, \
                     clinic_id, kind, proposed, note, photo, photo_type, email, status, \
                     created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
                     RETURNING id",
                    &args,
                    |row| row.int("id"),
                )
                .await
                .map_err(|e| match super::constraint::of_error(&e) {
                    Some(super::constraint::Violation::ForeignKey) => {
                        StorageError::UnknownClinic(new.clinic_id)
                    }
                    _ => e,
                })?;
                audit::append(
                    tx,
                    now,
                    vec![audit::NewEntry {
                        actor,
                        action: "correction.report",
                        subject: format!("correction:{}", new.reference),
                        details: serde_json::json!({
                            "kind": new.kind.as_str(),
                            "dose_record": new.dose_record_id,
                            "clinic": new.clinic_id,
                            "status": new.status.as_str(),
                            "photo": new.photo.is_some(),
                        }),
                    }],
                )
                .await?;
                Ok(id)
            })
        })
        .await
    }

    /// The report with this reference.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn get_correction(
        &self,
        reference: &str,
    ) -> Result<Option<Correction>, StorageError> {
        let sql =
            format!("SELECT {CORRECTION_COLUMNS} FROM correction_reports WHERE reference = $1");
        self.reader
            .first(&sql, &[Arg::Text(reference)], correction_from_row)
            .await
    }

    /// A report's photo: its Base64 and media type.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn correction_photo(
        &self,
        reference: &str,
    ) -> Result<Option<(String, String)>, StorageError> {
        let sql = "SELECT photo, photo_type FROM correction_reports WHERE reference = $1 \
                   AND photo IS NOT NULL";
        self.reader
            .first(sql, &[Arg::Text(reference)], |row| {
                Ok((row.text("photo")?, row.text("photo_type")?))
            })
            .await
    }

    /// Reports waiting for review (open and escalated) with an id above `after_id`, oldest
    /// first, at most `limit` (capped at 200): a clinic's (`Some(clinic)`), or every clinic's
    /// escalated ones (`None`, for admins).
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn pending_corrections(
        &self,
        clinic_id: Option<i64>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<Correction>, StorageError> {
        let limit = i64::from(limit.min(200));
        match clinic_id {
            Some(clinic) => {
                let sql = format!(
                    "SELECT {CORRECTION_COLUMNS} FROM correction_reports WHERE clinic_id = $1 \
                     AND status IN ('open', 'escalated') AND id > $2 ORDER BY id LIMIT $3"
                );
                let args = [Arg::Int(clinic), Arg::Int(after_id), Arg::Int(limit)];
                self.reader.all(&sql, &args, correction_from_row).await
            }
            None => {
                let sql = format!(
                    "SELECT {CORRECTION_COLUMNS} FROM correction_reports \
                     WHERE status = 'escalated' AND id > $1 ORDER BY id LIMIT $2"
                );
                let args = [Arg::Int(after_id), Arg::Int(limit)];
                self.reader.all(&sql, &args, correction_from_row).await
            }
        }
    }

    /// How many reports about the record were approved.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn approved_corrections_of(&self, dose_record_id: i64) -> Result<u64, StorageError> {
        let n = self
            .reader
            .one(
                "SELECT COUNT(*) AS n FROM correction_reports WHERE dose_record_id = $1 \
                 AND status = 'approved'",
                &[Arg::Int(dose_record_id)],
                |row| row.int("n"),
            )
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Closes a pending report without touching any record: `Rejected` or `Escalated` with a
    /// reason, or `Approved` (a missing dose accepted for entry). Audit entry
    /// `correction.<status>` (the reason is not quoted: it may name the person).
    ///
    /// # Errors
    /// [`StorageError::CorrectionClosed`] when it is not pending any more,
    /// [`StorageError::NotFound`], [`StorageError::Database`].
    pub async fn close_correction(
        &self,
        id: i64,
        to: CorrectionStatus,
        reason: Option<&str>,
        actor: &Actor,
    ) -> Result<Correction, StorageError> {
        let now = self.now();
        let reason = reason.map(str::to_owned);
        let actor = actor.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE correction_reports SET status = $1, reason = $2, updated_at = $3, \
                     reviewed_at = $3, reviewed_by = $4 \
                     WHERE id = $5 AND status IN ('open', 'escalated') RETURNING {CORRECTION_COLUMNS}"
                );
                let args = [
                    Arg::Text(to.as_str()),
                    Arg::OptText(reason.as_deref()),
                    Arg::Int(now),
                    Arg::Text(&actor),
                    Arg::Int(id),
                ];
                let Some(closed) = tx::first(tx, &sql, &args, correction_from_row).await? else {
                    return Err(correction_not_pending(tx, id).await);
                };
                // The citizen's email of the outcome, committed with it.
                super::notices::enqueue(tx, closed.id, now).await?;
                let action = match to {
                    CorrectionStatus::Approved => "correction.approve",
                    CorrectionStatus::Rejected => "correction.reject",
                    CorrectionStatus::Escalated => "correction.escalate",
                    CorrectionStatus::Open => "correction.reopen",
                };
                audit::append(
                    tx,
                    now,
                    vec![audit::NewEntry {
                        actor,
                        action,
                        subject: format!("correction:{}", closed.reference),
                        details: serde_json::json!({ "dose_record": closed.dose_record_id }),
                    }],
                )
                .await?;
                Ok(closed)
            })
        })
        .await
    }

    /// The earlier states of an amended record, oldest first.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn dose_record_history(
        &self,
        dose_record_id: i64,
    ) -> Result<Vec<HistoryEntry>, StorageError> {
        self.reader
            .all(
                "SELECT correction_id, previous, amended_at, amended_by FROM dose_record_history \
                 WHERE dose_record_id = $1 ORDER BY id",
                &[Arg::Int(dose_record_id)],
                |row| {
                    Ok(HistoryEntry {
                        correction_id: row.int_or_null("correction_id")?,
                        previous: row.text("previous")?,
                        amended_at: row.int("amended_at")?,
                        amended_by: row.text("amended_by")?,
                    })
                },
            )
            .await
    }
}

/// Why a report could not be moved on: gone, or reviewed already.
pub(crate) async fn correction_not_pending(tx: &mut dyn tx::Tx, id: i64) -> StorageError {
    match tx::first(
        tx,
        "SELECT id FROM correction_reports WHERE id = $1",
        &[Arg::Int(id)],
        |row| row.int("id"),
    )
    .await
    {
        Ok(Some(_)) => StorageError::CorrectionClosed { id },
        Ok(None) => StorageError::NotFound {
            what: "correction report",
            id,
        },
        Err(e) => e,
    }
}
