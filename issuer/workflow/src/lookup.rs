//! The public lookup: a person's latest certificate, for their details, throttled and without
//! revealing who has one (the HTTP side — one answer for every miss, one answer time — is in
//! `api::lookup`).

use serde::Deserialize;

use crate::dates::Date;
use crate::identity::{IdNumber, Sex};
use crate::names::{self, NameComparison};
use crate::ratelimit::{ClientKey, Limited, LookupLimiter};
use crate::storage::lookup::LatestCertificate;
use crate::storage::{Certificate, Storage, StorageError};

/// What a person types to find their certificate. `Debug` shows none of it.
#[derive(Clone, Deserialize)]
pub struct LookupRequest {
    /// Full name, family name first, with diacritics.
    pub full_name: String,
    /// `YYYY-MM-DD` (or another full-date form [`Date::parse`] reads).
    pub date_of_birth: String,
    /// `M`/`F`, `male`/`female`, `nam`/`nữ`.
    pub sex: String,
    /// CCCD or CMND number (spaces, dots and dashes are fine).
    pub id_number: String,
    /// The date of the latest dose, `YYYY-MM-DD` (or another full-date form [`Date::parse`]
    /// reads).
    pub last_dose_date: String,
}

impl std::fmt::Debug for LookupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookupRequest(..)")
    }
}

/// The answer to a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAnswer {
    /// Every detail matches: the certificate (its hand-out is on record).
    Found(Box<Certificate>),
    /// Whatever did not match (an unknown or malformed number, a wrong detail, no
    /// certificate): one answer, with nothing said about which.
    NoMatch,
    /// Too many attempts from this client or for this ID number: nothing was looked up.
    Limited(Limited),
}

/// Looks up `req` for `client` at `now` (Unix seconds). Every attempt counts against the
/// client and the ID number before anything is looked up, whether it would match or not. A
/// number that does not parse runs the same single query under a key no registry ID has, and
/// every field is compared before the verdict, so the work does not depend on which detail
/// was wrong. A hit is audited (`certificate.lookup`, the UVCI only) and committed before it
/// is returned: if it cannot be recorded, nothing is handed out.
///
/// # Errors
/// [`StorageError`] when the database fails.
pub async fn lookup(
    storage: &Storage,
    limiter: &LookupLimiter,
    client: ClientKey,
    req: &LookupRequest,
    now: i64,
) -> Result<LookupAnswer, StorageError> {
    // The canonical number when it parses; otherwise a key that no registry ID has (the
    // serde form of a national ID is digits only) for the same query.
    let (limit_key, query_key) = match IdNumber::parse_national(&req.id_number) {
        Ok(id) => {
            let key = String::from(id);
            (key.clone(), key)
        }
        Err(_) => (format!("invalid:{}", req.id_number.trim()), "-".to_owned()),
    };
    let id_key = limiter.id_key(&limit_key);
    drop(limit_key);
    if let Err(limited) = limiter.take(client, &id_key, now).await {
        return Ok(LookupAnswer::Limited(limited));
    }
    match storage.latest_certificate_by_key(&query_key).await? {
        Some(found) if matches(req, &found) => {
            storage.record_lookup(&found.certificate.uvci).await?;
            Ok(LookupAnswer::Found(Box::new(found.certificate)))
        }
        _ => Ok(LookupAnswer::NoMatch),
    }
}

/// Whether the details match the certificate's person and latest dose. Every field is
/// compared, whichever fails.
pub(crate) fn matches(req: &LookupRequest, found: &LatestCertificate) -> bool {
    let Some(person) = found.record.registry_person.as_ref() else {
        return false;
    };
    let name = matches!(
        names::compare(&req.full_name, &person.full_name),
        NameComparison::Exact | NameComparison::Equivalent | NameComparison::ToneMarkPlacement
    );
    let dob = Date::parse(req.date_of_birth.trim()).is_ok_and(|d| d == person.date_of_birth);
    let sex = Sex::parse(&req.sex) == Some(person.sex);
    let dose =
        Date::parse(req.last_dose_date.trim()).is_ok_and(|d| d == found.record.vaccination.date);
    // Non-short-circuiting: all four comparisons always run.
    name & dob & sex & dose
}
