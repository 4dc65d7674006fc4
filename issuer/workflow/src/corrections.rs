//! Corrections and revocation (issue 14): a citizen reports what is wrong, the clinic reviews,
//! an approval amends the record and re-issues; a certificate can also be revoked without
//! replacement.
//!
//! - [`report`]: the holder is identified as the lookup portal identifies them (name, birth
//!   date, sex, ID number and the date of the latest dose), or by the certificate's UVCI and
//!   the birth date it carries; every miss is one answer ([`ReportAnswer::NoMatch`]). Attempts
//!   count against the lookup's throttles ([`crate::ratelimit`]). A dose never entered needs no
//!   certificate: the report names the clinic and the date, and goes to that clinic. A record
//!   that reached [`CorrectionPolicy::max_per_record`] approved corrections sends the report
//!   to an admin (`escalated`). The citizen gets a reference and a status token (only its
//!   SHA-256 is stored).
//! - [`status`]: by reference and token; a wrong token is the same answer as an unknown
//!   reference.
//! - [`pending`]: a clinic's reports (an admin's: the escalated ones), each with the record,
//!   what the registry says about the proposed identity, and the proposed change.
//! - [`approve`]: amends the record with the proposed values, matches it again, and when the
//!   registry confirms it signs a new certificate (outside any transaction, as
//!   [`crate::confirm`] does) and stores everything in one transaction
//!   ([`Storage::amend_and_reissue`]): a concurrent review or a crash leaves all or nothing.
//! - [`close`] (reject, escalate), [`revoke`].
//!
//! Each outcome carries a [`Notice`] for the citizen; the email itself is queued by the
//! storage in the outcome's transaction (`notice_outbox`) and sent by the service
//! (`vaxpass_issuer::notices`). Only the report's clinic (or an admin) may see or act on it: another clinic's report
//! is answered as a missing one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::dates::{Date, PartialDate};
use crate::identity::{IdNumber, Sex};
use crate::lookup::LookupRequest;
use crate::matching::{MatchReport, MatchResult};
use crate::plausibility;
use crate::ratelimit::{ClientKey, Limited, LookupLimiter};
use crate::registry::{PersonRegistry, RegistryError};
use crate::storage::corrections::{
    Correction, CorrectionKind, CorrectionStatus, NewCorrection, Photo,
};
use crate::storage::revocations::{Amendment, RevocationReason, Revoked};
use crate::storage::{
    Actor, Certificate, DoseRecord, NewCertificate, NewDoseRecord, RecordStatus, Role, Staff,
    Storage, StorageError, token_hash,
};
use crate::submission::{MAX_FULL_NAME_CHARS, MAX_ID_NUMBER_CHARS};

use super::WorkflowError;

/// The largest photo: 2 MiB of picture bytes.
pub const MAX_PHOTO_BYTES: usize = 2 * 1024 * 1024;
/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 1_000;
/// The longest reason of a reviewer, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The longest field of a holder (a UVCI is at most 80 characters, a name 100).
pub const MAX_HOLDER_FIELD_CHARS: usize = 200;
/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// How corrections are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrectionPolicy {
    /// A record with this many approved corrections sends any further report to an admin.
    pub max_per_record: u32,
}

impl Default for CorrectionPolicy {
    fn default() -> Self {
        CorrectionPolicy { max_per_record: 3 }
    }
}

/// Who the citizen is: the lookup portal's details, or a certificate's UVCI and the birth
/// date it carries. `Debug` shows none of it.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum Holder {
    /// The certificate and the birth date printed on it.
    Certificate {
        /// The certificate's UVCI.
        uvci: String,
        /// `YYYY-MM-DD`, as the certificate shows it.
        date_of_birth: String,
    },
    /// The lookup portal's details.
    Lookup(LookupRequest),
    /// A dose never entered: the person's details as on their ID card.
    Person {
        /// Full name.
        full_name: String,
        /// `YYYY-MM-DD` (or `YYYY`, `YYYY-MM`).
        date_of_birth: String,
        /// `M`/`F`.
        sex: String,
        /// CCCD or CMND number.
        id_number: String,
    },
}

impl std::fmt::Debug for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Holder(..)")
    }
}

/// The values the citizen proposes (only those of the report's kind are used).
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Proposed {
    /// The name as it should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// The birth date as it should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// The sex as it should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// The ID number as it should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// The dose's date (dose details; the date of a dose never entered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The dose number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_number: Option<u32>,
    /// The doses in the series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_total: Option<u32>,
    /// The clinic that gave a dose never entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinic_id: Option<i64>,
}

impl std::fmt::Debug for Proposed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Proposed(..)")
    }
}

/// A photo as sent: Base64 of the picture's bytes.
#[derive(Clone, Deserialize)]
pub struct PhotoIn {
    /// Standard Base64 (padding optional).
    pub base64: String,
}

/// `POST /api/v1/corrections`. `Debug` shows the kind only.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// `name`, `birth_date`, `sex`, `id_number`, `missing_dose`, `dose_details`.
    pub kind: String,
    /// Who the citizen is.
    pub holder: Holder,
    /// What it should be.
    #[serde(default)]
    pub proposed: Proposed,
    /// A short note.
    #[serde(default)]
    pub note: String,
    /// Where to send the answer.
    #[serde(default)]
    pub email: Option<String>,
    /// A picture of the paper vaccination record (JPEG, PNG or WebP, at most 2 MiB).
    #[serde(default)]
    pub photo: Option<PhotoIn>,
}

impl std::fmt::Debug for CorrectionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorrectionRequest")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Why a report is refused before anything is looked up. The texts quote no submitted value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorrectionError {
    /// A field is missing or malformed.
    #[error("{0}")]
    Invalid(&'static str),
    /// The photo is larger than [`MAX_PHOTO_BYTES`].
    #[error("the photo is {size} bytes; at most {MAX_PHOTO_BYTES} are accepted")]
    PhotoTooLarge {
        /// Its size.
        size: usize,
    },
    /// The photo is not a JPEG, PNG or WebP picture (by its first bytes).
    #[error("the photo must be a JPEG, PNG or WebP picture")]
    PhotoType,
}

/// What the citizen is told (and emailed, through the storage's outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Where to send it (none given: nothing to send).
    pub email: Option<String>,
    /// The report.
    pub reference: String,
    /// Its status now.
    pub status: CorrectionStatus,
}

/// A report filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    /// The reference to quote.
    pub reference: String,
    /// The status token (shown once; only its hash is stored).
    pub token: String,
    /// `open`, or `escalated` (the record reached its limit of corrections).
    pub status: CorrectionStatus,
}

/// The answer to [`report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportAnswer {
    /// Stored.
    Filed(Filed),
    /// No certificate matches the holder's details (one answer for every miss).
    NoMatch,
    /// Too many attempts from this client or for this certificate or person.
    Limited(Limited),
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// A new reference: `VXC-` and 16 capital hex digits (64 random bits).
fn new_reference() -> String {
    format!("VXC-{}", random_hex(8).to_ascii_uppercase())
}

/// The media type of a picture, by its magic bytes.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Decodes and checks a photo: at most [`MAX_PHOTO_BYTES`] (checked on the Base64's length
/// before decoding), JPEG, PNG or WebP by its magic bytes.
///
/// # Errors
/// [`CorrectionError`].
pub fn check_photo(photo: &PhotoIn) -> Result<Photo, CorrectionError> {
    let text = photo.base64.trim();
    // Base64 is 4 characters per 3 bytes: a longer text cannot hold an acceptable photo.
    if text.len() > MAX_PHOTO_BYTES.div_ceil(3) * 4 {
        return Err(CorrectionError::PhotoTooLarge {
            size: text.len() / 4 * 3,
        });
    }
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|_| CorrectionError::Invalid("photo.base64 is not Base64"))?;
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(CorrectionError::PhotoTooLarge { size: bytes.len() });
    }
    let media_type = image_type(&bytes).ok_or(CorrectionError::PhotoType)?;
    Ok(Photo {
        base64: STANDARD.encode(&bytes),
        media_type,
    })
}

/// Checks the form of a report, without looking anything up.
fn check_request(
    req: &CorrectionRequest,
) -> Result<(CorrectionKind, Option<Photo>), CorrectionError> {
    let kind = CorrectionKind::parse(&req.kind).ok_or(CorrectionError::Invalid(
        "kind must be one of name, birth_date, sex, id_number, missing_dose, dose_details",
    ))?;
    let holder_texts: Vec<&str> = match &req.holder {
        Holder::Certificate {
            uvci,
            date_of_birth,
        } => vec![uvci, date_of_birth],
        Holder::Lookup(l) => vec![
            &l.full_name,
            &l.date_of_birth,
            &l.sex,
            &l.id_number,
            &l.last_dose_date,
        ],
        Holder::Person {
            full_name,
            date_of_birth,
            sex,
            id_number,
        } => vec![full_name, date_of_birth, sex, id_number],
    };
    if holder_texts
        .iter()
        .any(|t| t.chars().count() > MAX_HOLDER_FIELD_CHARS)
    {
        return Err(CorrectionError::Invalid(
            "a holder field is longer than 200 characters",
        ));
    }
    if req.note.chars().count() > MAX_NOTE_CHARS {
        return Err(CorrectionError::Invalid(
            "note is longer than 1000 characters",
        ));
    }
    if let Some(email) = &req.email {
        let ok = email.chars().count() <= MAX_EMAIL_CHARS
            && email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
            && !email.chars().any(char::is_whitespace);
        if !ok {
            return Err(CorrectionError::Invalid("email is not an email address"));
        }
    }
    let p = &req.proposed;
    let missing = |what| CorrectionError::Invalid(what);
    match kind {
        CorrectionKind::Name => {
            let name = p
                .full_name
                .as_deref()
                .ok_or(missing("proposed.full_name is required"))?;
            if name.trim().is_empty() || name.chars().count() > MAX_FULL_NAME_CHARS {
                return Err(missing("proposed.full_name is empty or too long"));
            }
        }
        CorrectionKind::BirthDate => {
            let dob = p
                .date_of_birth
                .as_deref()
                .ok_or(missing("proposed.date_of_birth is required"))?;
            PartialDate::parse(dob.trim())
                .map_err(|_| missing("proposed.date_of_birth is not a date (YYYY-MM-DD)"))?;
        }
        CorrectionKind::Sex => {
            Sex::parse(p.sex.as_deref().unwrap_or(""))
                .ok_or(missing("proposed.sex must be M or F"))?;
        }
        CorrectionKind::IdNumber => {
            let id = p
                .id_number
                .as_deref()
                .ok_or(missing("proposed.id_number is required"))?;
            if id.chars().count() > MAX_ID_NUMBER_CHARS {
                return Err(missing("proposed.id_number is too long"));
            }
        }
        CorrectionKind::MissingDose => {
            p.clinic_id.ok_or(missing(
                "proposed.clinic_id (the clinic that gave the dose) is required",
            ))?;
            Date::parse(p.date.as_deref().unwrap_or(""))
                .map_err(|_| missing("proposed.date (the dose's date, YYYY-MM-DD) is required"))?;
            if !matches!(req.holder, Holder::Person { .. } | Holder::Lookup(_)) {
                return Err(missing(
                    "a missing dose is reported with the person's full_name, date_of_birth, sex and id_number",
                ));
            }
        }
        CorrectionKind::DoseDetails => {
            if p.date.is_none() && p.dose_number.is_none() && p.series_total.is_none() {
                return Err(missing(
                    "proposed needs date, dose_number or series_total for dose details",
                ));
            }
            if let Some(d) = &p.date {
                Date::parse(d.trim()).map_err(|_| missing("proposed.date is not a date"))?;
            }
        }
    }
    let photo = req.photo.as_ref().map(check_photo).transpose()?;
    Ok((kind, photo))
}

/// The certificate the holder's details identify, with its record; `None` for any miss.
async fn identify(
    storage: &Storage,
    holder: &Holder,
) -> Result<Option<(Certificate, DoseRecord)>, StorageError> {
    match holder {
        Holder::Certificate {
            uvci,
            date_of_birth,
        } => {
            let Some(cert) = storage.get_certificate(uvci.trim()).await? else {
                return Ok(None);
            };
            if storage.get_revocation(&cert.uvci).await?.is_some() {
                return Ok(None);
            }
            let Some(record) = storage.get_dose_record(cert.dose_record_id).await? else {
                return Ok(None);
            };
            let dob_ok = Date::parse(date_of_birth.trim()).is_ok_and(|d| {
                record
                    .registry_person
                    .as_ref()
                    .is_some_and(|p| p.date_of_birth == d)
            });
            Ok(dob_ok.then_some((cert, record)))
        }
        Holder::Lookup(req) => {
            let key = match IdNumber::parse_national(&req.id_number) {
                Ok(id) => String::from(id),
                Err(_) => "-".to_owned(),
            };
            Ok(storage
                .latest_certificate_by_key(&key)
                .await?
                .filter(|found| crate::lookup::matches(req, found))
                .map(|found| (found.certificate, found.record)))
        }
        Holder::Person { .. } => Ok(None),
    }
}

/// The rate-limit key of a holder: the certificate, or the person's normalised number.
fn limit_key(holder: &Holder) -> String {
    let number = |raw: &str| match IdNumber::parse_national(raw) {
        Ok(id) => String::from(id),
        Err(_) => format!("invalid:{}", raw.trim()),
    };
    match holder {
        Holder::Certificate { uvci, .. } => format!("uvci:{}", uvci.trim()),
        Holder::Lookup(req) => number(&req.id_number),
        Holder::Person { id_number, .. } => number(id_number),
    }
}

/// Files a report (see the module documentation) from `client` at `now`.
///
/// # Errors
/// [`WorkflowError::Correction`] for a malformed report (checked before anything counts or
/// is looked up), [`WorkflowError::Storage`].
pub async fn report(
    storage: &Storage,
    limiter: &LookupLimiter,
    policy: CorrectionPolicy,
    client: ClientKey,
    req: &CorrectionRequest,
    now: i64,
) -> Result<ReportAnswer, WorkflowError> {
    let (kind, photo) = check_request(req)?;
    let id_key = limiter.id_key(&limit_key(&req.holder));
    if let Err(limited) = limiter.take(client, &id_key, now).await {
        return Ok(ReportAnswer::Limited(limited));
    }
    let mut proposed = req.proposed.clone();
    let (dose_record_id, uvci, clinic_id, status) = if kind == CorrectionKind::MissingDose {
        // The person's details travel with the proposal: the clinic enters the dose.
        let (full_name, date_of_birth, sex, id_number) = match &req.holder {
            Holder::Person {
                full_name,
                date_of_birth,
                sex,
                id_number,
            } => (full_name, date_of_birth, sex, id_number),
            Holder::Lookup(l) => (&l.full_name, &l.date_of_birth, &l.sex, &l.id_number),
            Holder::Certificate { .. } => return Ok(ReportAnswer::NoMatch),
        };
        proposed.full_name = Some(full_name.clone());
        proposed.date_of_birth = Some(date_of_birth.clone());
        proposed.sex = Some(sex.clone());
        proposed.id_number = Some(id_number.clone());
        let clinic = proposed.clinic_id.unwrap_or_default();
        (None, None, clinic, CorrectionStatus::Open)
    } else {
        let Some((cert, record)) = identify(storage, &req.holder).await? else {
            return Ok(ReportAnswer::NoMatch);
        };
        let approved = storage.approved_corrections_of(record.id).await?;
        let status = if approved >= u64::from(policy.max_per_record) {
            CorrectionStatus::Escalated
        } else {
            CorrectionStatus::Open
        };
        (Some(record.id), Some(cert.uvci), record.clinic_id, status)
    };
    let token = random_hex(32);
    let reference = new_reference();
    let new = NewCorrection {
        reference: reference.clone(),
        token_hash: token_hash(&token),
        dose_record_id,
        uvci,
        clinic_id,
        kind,
        proposed: serde_json::to_string(&proposed)
            .map_err(|_| CorrectionError::Invalid("proposed does not serialise"))?,
        note: req.note.trim().to_owned(),
        photo,
        email: req.email.clone(),
        status,
    };
    match storage
        .insert_correction(&new, &Actor::System("correction-portal".into()))
        .await
    {
        Ok(_) => {}
        // A missing dose naming no clinic of ours.
        Err(StorageError::UnknownClinic(_)) => {
            return Err(CorrectionError::Invalid("proposed.clinic_id names no clinic").into());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(ReportAnswer::Filed(Filed {
        reference,
        token,
        status,
    }))
}

/// Constant-time comparison of two hex digests of equal length.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A report's status for its citizen: `None` for an unknown reference or a wrong token (one
/// answer).
///
/// # Errors
/// [`StorageError`].
pub async fn status(
    storage: &Storage,
    reference: &str,
    token: &str,
) -> Result<Option<Correction>, StorageError> {
    let given = token_hash(token.trim());
    let found = storage.get_correction(reference.trim()).await?;
    Ok(found.filter(|c| same_digest(&c.token_hash, &given)))
}

/// A report as its clinic reviews it.
#[derive(Debug, Clone)]
pub struct Review {
    /// The report.
    pub correction: Correction,
    /// The record it is about (none for a dose never entered).
    pub record: Option<DoseRecord>,
    /// The record as it would be after approval.
    pub amended: Option<NewDoseRecord>,
    /// What the registry says about the amended identity (`None`: it could not be asked).
    pub registry: Option<MatchReport>,
    /// Whether the registry confirms the amended identity (approval re-issues).
    pub registry_verified: bool,
}

/// Whether `staff` may see and act on `c`: its clinic's open reports, and for an admin
/// everything.
fn may_review(staff: Staff, c: &Correction) -> bool {
    staff.role == Role::Admin || c.clinic_id == staff.clinic_id
}

/// The pending reports of `staff`'s clinic (an admin: also every clinic's escalated ones),
/// with id above `after`, at most `limit`.
///
/// # Errors
/// [`WorkflowError::Storage`].
pub async fn pending(
    storage: &Storage,
    registry: &impl PersonRegistry,
    staff: Staff,
    after: i64,
    limit: u32,
) -> Result<Vec<Review>, WorkflowError> {
    let mut found = storage
        .pending_corrections(Some(staff.clinic_id), after, limit)
        .await?;
    if staff.role == Role::Admin {
        for c in storage.pending_corrections(None, after, limit).await? {
            if c.clinic_id != staff.clinic_id {
                found.push(c);
            }
        }
        found.sort_by_key(|c| c.id);
        found.truncate(usize::try_from(limit.min(200)).unwrap_or(200));
    }
    let mut out = Vec::with_capacity(found.len());
    for correction in found {
        out.push(review_of(storage, registry, correction).await?);
    }
    Ok(out)
}

async fn review_of(
    storage: &Storage,
    registry: &impl PersonRegistry,
    correction: Correction,
) -> Result<Review, WorkflowError> {
    let record = match correction.dose_record_id {
        Some(id) => storage.get_dose_record(id).await?,
        None => None,
    };
    let amended = match &record {
        Some(r) => Some(amend(r, &correction)?),
        None => None,
    };
    let result = match &amended {
        Some(a) => match super::match_identity(registry, &a.identity).await {
            Ok(result) => Some(result),
            Err(RegistryError::Storage(e)) => return Err(e.into()),
            Err(_) => None,
        },
        None => None,
    };
    Ok(Review {
        registry_verified: result.as_ref().is_some_and(MatchResult::is_verified),
        registry: result.map(|r| r.report()),
        correction,
        record,
        amended,
    })
}

/// The record with the report's proposed values applied.
fn amend(record: &DoseRecord, c: &Correction) -> Result<NewDoseRecord, WorkflowError> {
    let p: Proposed = serde_json::from_str(&c.proposed).map_err(|_| StorageError::Corrupt {
        what: "proposed values",
    })?;
    let mut out = NewDoseRecord {
        clinic_id: record.clinic_id,
        identity: record.identity.clone(),
        vaccination: record.vaccination.clone(),
    };
    let bad = |what| WorkflowError::Correction(CorrectionError::Invalid(what));
    match c.kind {
        CorrectionKind::Name => {
            out.identity.full_name = p
                .full_name
                .ok_or(bad("no proposed name"))?
                .trim()
                .to_owned();
        }
        CorrectionKind::BirthDate => {
            let dob = p.date_of_birth.ok_or(bad("no proposed birth date"))?;
            out.identity.date_of_birth =
                PartialDate::parse(dob.trim()).map_err(|_| bad("the proposed birth date"))?;
        }
        CorrectionKind::Sex => {
            out.identity.sex =
                Sex::parse(p.sex.as_deref().unwrap_or("")).ok_or(bad("the proposed sex"))?;
        }
        CorrectionKind::IdNumber => {
            out.identity.id_number = p.id_number.ok_or(bad("no proposed ID number"))?;
        }
        CorrectionKind::DoseDetails => {
            if let Some(d) = p.date {
                out.vaccination.date =
                    Date::parse(d.trim()).map_err(|_| bad("the proposed dose date"))?;
            }
            if let Some(n) = p.dose_number {
                out.vaccination.dose_number = n;
            }
            if let Some(n) = p.series_total {
                out.vaccination.series_total = n;
            }
        }
        CorrectionKind::MissingDose => {}
    }
    Ok(out)
}

/// The report `reference` if `staff` may act on it; another clinic's is a missing one.
async fn reviewable(
    storage: &Storage,
    staff: Staff,
    reference: &str,
) -> Result<Correction, WorkflowError> {
    let c = storage
        .get_correction(reference)
        .await?
        .filter(|c| may_review(staff, c))
        .ok_or(WorkflowError::CorrectionMissing)?;
    if !c.status.is_pending() {
        return Err(StorageError::CorrectionClosed { id: c.id }.into());
    }
    if c.status == CorrectionStatus::Escalated && staff.role != Role::Admin {
        return Err(WorkflowError::NeedsAdmin);
    }
    Ok(c)
}

/// What an approval did.
#[derive(Debug, Clone)]
pub enum Approved {
    /// The record was amended and re-issued: the new certificate, which `replaces` the old
    /// (revoked, superseded).
    Reissued {
        /// The new certificate.
        certificate: Box<Certificate>,
        /// The old certificate's UVCI.
        replaces: String,
        /// For the citizen.
        notice: Notice,
    },
    /// A dose never entered, accepted: the clinic enters it through the dose-record API.
    DoseToEnter {
        /// For the citizen.
        notice: Notice,
    },
}

/// Approves report `reference` for `staff` at `now` (see the module documentation); `sign`
/// builds, signs and self-verifies the new certificate from the amended record.
///
/// # Errors
/// [`WorkflowError::CorrectionMissing`], [`WorkflowError::NeedsAdmin`],
/// [`WorkflowError::NotConfirmed`] (the registry does not confirm the amended identity:
/// nothing changed), [`WorkflowError::RegistryUnavailable`], [`WorkflowError::Implausible`],
/// [`WorkflowError::Storage`] (reviewed or changed meanwhile:
/// [`StorageError::CorrectionClosed`], [`StorageError::Changed`],
/// [`StorageError::CertificateChanged`]; signing failed: [`StorageError::Issue`]).
pub async fn approve<F, Fut, E>(
    storage: &Storage,
    registry: &impl PersonRegistry,
    staff: Staff,
    reference: &str,
    now: i64,
    sign: F,
) -> Result<Approved, WorkflowError>
where
    F: FnOnce(DoseRecord) -> Fut,
    Fut: Future<Output = Result<NewCertificate, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let c = reviewable(storage, staff, reference).await?;
    let actor = Actor::Staff(staff.token_id);
    let Some(record_id) = c.dose_record_id else {
        let closed = storage
            .close_correction(c.id, CorrectionStatus::Approved, None, &actor)
            .await?;
        return Ok(Approved::DoseToEnter {
            notice: notice_of(&closed),
        });
    };
    let before = storage
        .get_dose_record(record_id)
        .await?
        .ok_or(WorkflowError::RecordMissing)?;
    if before.status != RecordStatus::Issued {
        return Err(StorageError::NotVerified {
            id: record_id,
            status: before.status,
        }
        .into());
    }
    let old = storage
        .certificate_for_record(record_id)
        .await?
        .ok_or(StorageError::CertificateChanged { id: record_id })?;
    let after = amend(&before, &c)?;
    let result = match super::match_identity(registry, &after.identity).await {
        Ok(result) => result,
        Err(RegistryError::Storage(e)) => return Err(e.into()),
        Err(e) => return Err(WorkflowError::RegistryUnavailable(e.code())),
    };
    let MatchResult::Verified { person, .. } = &result else {
        return Err(WorkflowError::NotConfirmed(Box::new(result.report())));
    };
    plausibility::check(
        &after.vaccination,
        PartialDate::from(person.date_of_birth),
        now,
    )
    .map_err(WorkflowError::Implausible)?;
    // The record as it will be, for the signer.
    let mut to_sign = before.clone();
    to_sign.identity = after.identity.clone();
    to_sign.vaccination = after.vaccination.clone();
    to_sign.registry_person = Some(person.clone());
    let new = sign(to_sign)
        .await
        .map_err(|e| StorageError::Issue(Box::new(e)))?;
    let old_uvci = old.uvci.clone();
    let certificate = storage
        .amend_and_reissue(
            Amendment {
                correction_id: Some(c.id),
                before,
                old_uvci: old_uvci.clone(),
                after,
                result,
                new,
            },
            &actor,
        )
        .await?;
    Ok(Approved::Reissued {
        certificate: Box::new(certificate),
        replaces: old_uvci,
        notice: Notice {
            email: c.email,
            reference: c.reference,
            status: CorrectionStatus::Approved,
        },
    })
}

fn notice_of(c: &Correction) -> Notice {
    Notice {
        email: c.email.clone(),
        reference: c.reference.clone(),
        status: c.status,
    }
}

fn check_reason(reason: &str) -> Result<&str, WorkflowError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(CorrectionError::Invalid("reason is required (at most 500 characters)").into());
    }
    Ok(reason)
}

/// How a reviewer closes a report without approving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// Rejected (told to the citizen with the reason).
    Reject,
    /// Sent to an admin.
    Escalate,
}

/// Rejects report `reference`, or sends it to an admin, with a reason.
///
/// # Errors
/// As [`approve`], and [`WorkflowError::Correction`] for an empty or long reason.
pub async fn close(
    storage: &Storage,
    staff: Staff,
    reference: &str,
    how: Closing,
    reason: &str,
) -> Result<Notice, WorkflowError> {
    let reason = check_reason(reason)?;
    let c = reviewable(storage, staff, reference).await?;
    let to = match how {
        Closing::Reject => CorrectionStatus::Rejected,
        Closing::Escalate => CorrectionStatus::Escalated,
    };
    let closed = storage
        .close_correction(c.id, to, Some(reason), &Actor::Staff(staff.token_id))
        .await?;
    Ok(notice_of(&closed))
}

/// Revokes the certificate `uvci` without replacement (`error` or `fraud`): by the clinic that
/// issued it, or an admin. Another clinic's certificate is a missing one.
///
/// # Errors
/// [`WorkflowError::CertificateMissing`], [`WorkflowError::Correction`] (reason
/// `superseded`: that is what an approval does), [`WorkflowError::Storage`].
pub async fn revoke(
    storage: &Storage,
    staff: Staff,
    uvci: &str,
    reason: RevocationReason,
) -> Result<Revoked, WorkflowError> {
    if reason == RevocationReason::Superseded {
        return Err(CorrectionError::Invalid(
            "reason must be error or fraud: a superseded certificate is replaced by approving a correction",
        )
        .into());
    }
    let cert = storage
        .get_certificate(uvci)
        .await?
        .ok_or(WorkflowError::CertificateMissing)?;
    let record = storage
        .get_dose_record(cert.dose_record_id)
        .await?
        .ok_or(WorkflowError::CertificateMissing)?;
    if staff.role != Role::Admin && record.clinic_id != staff.clinic_id {
        return Err(WorkflowError::CertificateMissing);
    }
    Ok(storage
        .revoke_certificate(&cert.uvci, reason, &Actor::Staff(staff.token_id))
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> CorrectionRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn photos_are_known_by_their_magic_bytes_and_bounded() {
        assert_eq!(image_type(b"\xFF\xD8\xFF\xE0rest"), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(image_type(b"GIF89a"), None);
        assert_eq!(image_type(b""), None);
        let photo = |bytes: &[u8]| PhotoIn {
            base64: STANDARD.encode(bytes),
        };
        let png = check_photo(&photo(b"\x89PNG\r\n\x1a\n\0\0")).unwrap();
        assert_eq!(png.media_type, "image/png");
        assert_eq!(
            check_photo(&photo(b"%PDF-1.7")),
            Err(CorrectionError::PhotoType)
        );
        let mut big = b"\xFF\xD8\xFF".to_vec();
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        assert!(matches!(
            check_photo(&photo(&big)),
            Err(CorrectionError::PhotoTooLarge { .. })
        ));
        big.truncate(MAX_PHOTO_BYTES);
        assert!(check_photo(&photo(&big)).is_ok());
        assert!(matches!(
            check_photo(&PhotoIn {
                base64: "not base64 at all!".into()
            }),
            Err(CorrectionError::Invalid(_))
        ));
    }

    #[test]
    fn a_report_names_what_is_missing_without_quoting_values() {
        let base = serde_json::json!({
            "kind": "birth_date",
            "holder": {"uvci": "URN:UVCI:01:VN:X", "date_of_birth": "1990-01-01"},
            "proposed": {"date_of_birth": "1990-02-01"},
        });
        assert!(check_request(&request(base.clone())).is_ok());
        let mut no_value = base.clone();
        no_value["proposed"] = serde_json::json!({});
        assert_eq!(
            check_request(&request(no_value)).unwrap_err(),
            CorrectionError::Invalid("proposed.date_of_birth is required")
        );
        let mut bad_date = base.clone();
        bad_date["proposed"]["date_of_birth"] = "1990-13-45".into();
        let e = check_request(&request(bad_date)).unwrap_err();
        assert!(!e.to_string().contains("1990-13-45"), "{e}");
        let mut long = base.clone();
        long["holder"]["uvci"] = "U".repeat(MAX_HOLDER_FIELD_CHARS + 1).into();
        assert!(check_request(&request(long)).is_err());
        let mut email = base.clone();
        email["email"] = "not an address".into();
        assert!(check_request(&request(email)).is_err());
        let mut kind = base;
        kind["kind"] = "everything".into();
        assert!(check_request(&request(kind)).is_err());
    }
}
