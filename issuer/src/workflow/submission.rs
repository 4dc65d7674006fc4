//! A dose record as a clinic submits it (through `POST /dose-records`, a bulk upload or an
//! import file), and the checks every one of those paths shares before anything is stored.

use serde::{Deserialize, Serialize};
use vaxpass_verifier::valuesets::{ValueSets, ids};

use crate::dates::{Date, PartialDate};
use crate::identity::{IdKind, Sex};
use crate::matching::{DoseIdentity, RegistryPerson};
use crate::names::{DCC_NAME_MAX, icao_transliterate, split_full_name};
use crate::plausibility::{self, Implausible};
use crate::storage::{NewDoseRecord, Vaccination};

/// Longest `id_number`, in characters as typed (separators included).
pub const MAX_ID_NUMBER_CHARS: usize = 20;

/// Longest `full_name`, in characters as typed (before spacing is normalised): two DCC name
/// parts of [`DCC_NAME_MAX`] and some spacing. Each part is checked too (see [`parse`]).
pub const MAX_FULL_NAME_CHARS: usize = 2 * DCC_NAME_MAX + 20;

/// The vaccine of a submitted dose (DCC codes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaccineIn {
    /// Medicinal product (`vaccines-covid-19-names`, e.g. `EU/1/20/1528`).
    pub mp: String,
    /// Marketing authorisation holder (`vaccines-covid-19-auth-holders`).
    pub ma: String,
    /// Vaccine or prophylaxis (`sct-vaccines-covid-19`, e.g. `1119349007`).
    pub vp: String,
}

impl VaccineIn {
    /// Comirnaty (BioNTech/Pfizer, mRNA): the vaccine of the demo, the load generator and
    /// the examples.
    pub fn comirnaty() -> VaccineIn {
        VaccineIn {
            mp: "EU/1/20/1528".to_owned(),
            ma: "ORG-100030215".to_owned(),
            vp: "1119349007".to_owned(),
        }
    }
}

/// A dose record as submitted: every field as typed (the body of `POST /dose-records`, a line
/// of a bulk upload or of an import file).
#[derive(Clone, Serialize, Deserialize)]
pub struct SubmitRequest {
    /// ID number as typed.
    pub id_number: String,
    /// `national` (default) or `foreign_passport`.
    #[serde(default)]
    pub id_kind: IdKind,
    /// Full name, family name first.
    pub full_name: String,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub date_of_birth: String,
    /// `M`/`F`, `male`/`female`.
    pub sex: String,
    /// The vaccine.
    pub vaccine: VaccineIn,
    /// Dose number.
    pub dose_number: u32,
    /// Doses in the series.
    pub series_total: u32,
    /// Date of vaccination, `YYYY-MM-DD`.
    pub date: String,
}

impl SubmitRequest {
    /// The record a clinic would submit for `p` with every identity field as the registry
    /// holds it (so it is verified): for the demo's example, the load generator and tests.
    pub fn for_person(
        p: &RegistryPerson,
        vaccine: VaccineIn,
        dose_number: u32,
        series_total: u32,
        date: Date,
    ) -> SubmitRequest {
        SubmitRequest {
            id_number: p.id.to_string(),
            id_kind: p.id.kind(),
            full_name: p.full_name.clone(),
            date_of_birth: p.date_of_birth.to_string(),
            sex: p.sex.code().to_owned(),
            vaccine,
            dose_number,
            series_total,
            date: date.to_string(),
        }
    }
}

/// Why a submitted record is refused before it is stored. No text quotes a submitted value
/// (a value may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmissionError {
    /// A field has a wrong format or is missing.
    #[error("{0}")]
    Invalid(&'static str),
    /// A field is longer than its limit.
    #[error("{field} is too long: {limit}")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// What is accepted.
        limit: &'static str,
    },
    /// A vaccine code is not in its eHealth Network value set.
    #[error("{field} is not a code of the value set {set}")]
    UnknownCode {
        /// The field.
        field: &'static str,
        /// The value set's id.
        set: &'static str,
    },
    /// The dose is not clinically plausible ([`crate::plausibility`]).
    #[error(transparent)]
    Implausible(#[from] Implausible),
    /// The embedded value sets do not load (a build defect, not the clinic's).
    #[error("the embedded vaccine value sets do not load: {0}")]
    ValueSets(String),
}

/// The vaccine codes must be in the embedded eHealth Network value sets (inactive codes are
/// accepted, as the verifier accepts them).
fn check_codes(v: &VaccineIn) -> Result<(), SubmissionError> {
    let sets = ValueSets::shared().map_err(|e| SubmissionError::ValueSets(e.to_string()))?;
    for (field, set, code) in [
        ("vaccine.vp", ids::VACCINE_PROPHYLAXIS, &v.vp),
        ("vaccine.mp", ids::VACCINE_MEDICINAL_PRODUCT, &v.mp),
        ("vaccine.ma", ids::VACCINE_MAH_MANF, &v.ma),
    ] {
        if !sets.get(set).is_some_and(|s| s.contains(code)) {
            return Err(SubmissionError::UnknownCode { field, set });
        }
    }
    Ok(())
}

/// The name's family part (first word) and given part (the rest) must each fit the DCC's
/// `fn`/`gn` and, transliterated, `fnt`/`gnt` (80 characters): the certificate never
/// truncates a name.
fn check_name_length(full_name: &str) -> Result<(), SubmissionError> {
    let too_long = || SubmissionError::FieldTooLong {
        field: "full_name",
        limit: "at most 80 characters for the family name (the first word) and 80 for the given names, also once transliterated (the DCC limit)",
    };
    if full_name.chars().count() > MAX_FULL_NAME_CHARS {
        return Err(too_long());
    }
    if let Some(split) = split_full_name(full_name) {
        for part in std::iter::once(split.family.as_str()).chain(split.given.as_deref()) {
            if part.chars().count() > DCC_NAME_MAX
                || icao_transliterate(part).chars().count() > DCC_NAME_MAX
            {
                return Err(too_long());
            }
        }
    }
    Ok(())
}

/// Checks one submitted dose record and turns it into the record to store: formats, lengths
/// ([`MAX_ID_NUMBER_CHARS`], [`MAX_FULL_NAME_CHARS`] and the DCC's 80 characters per name
/// part), vaccine codes, and the clinical plausibility that needs no clock
/// ([`plausibility::check_timeless`]). The vaccination date against today is checked by
/// [`super::intake::submit`], which has the service's clock.
///
/// # Errors
/// [`SubmissionError`]; its text quotes no submitted value.
pub fn parse(req: SubmitRequest, clinic_id: i64) -> Result<NewDoseRecord, SubmissionError> {
    use SubmissionError::Invalid;
    // Lengths first: nothing longer than its limit is parsed further.
    if req.id_number.chars().count() > MAX_ID_NUMBER_CHARS {
        return Err(SubmissionError::FieldTooLong {
            field: "id_number",
            limit: "at most 20 characters (a CCCD has 12 digits, a CMND 9, a passport number at most 20 characters)",
        });
    }
    check_name_length(&req.full_name)?;
    let date_of_birth = PartialDate::parse(&req.date_of_birth)
        .map_err(|_| Invalid("date_of_birth must be YYYY-MM-DD, YYYY-MM or YYYY"))?;
    let sex = Sex::parse(&req.sex).ok_or(Invalid("sex must be M or F"))?;
    let date = Date::parse(&req.date).map_err(|_| Invalid("date must be YYYY-MM-DD"))?;
    if req.full_name.trim().is_empty() || req.id_number.trim().is_empty() {
        return Err(Invalid("full_name and id_number are required"));
    }
    check_codes(&req.vaccine)?;
    let vaccination = Vaccination {
        prophylaxis: req.vaccine.vp,
        product: req.vaccine.mp,
        manufacturer: req.vaccine.ma,
        dose_number: req.dose_number,
        series_total: req.series_total,
        date,
    };
    plausibility::check_timeless(&vaccination, date_of_birth)?;
    Ok(NewDoseRecord {
        clinic_id,
        identity: DoseIdentity {
            id_number: req.id_number,
            id_kind: req.id_kind,
            full_name: req.full_name,
            date_of_birth,
            sex,
        },
        vaccination,
    })
}
