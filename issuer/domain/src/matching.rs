//! Matching a clinic's dose record against the national population registry.
//!
//! [`match_record`] looks the record's ID number up through the [`Registry`] trait and grades
//! every field; the [`MatchResult`] says verified / mismatch (which fields, why, what to do) /
//! not found, or routes a foreign passport to the manual path.
//!
//! # Policies
//!
//! - **The registry is canonical.** A verified record is issued with the registry's name and
//!   birth date, never the clinic's spelling. Case, spacing and Unicode-form differences in the
//!   name, and a record that has only the birth year (or year and month) that agrees with the
//!   registry, are therefore *verified with a note*.
//! - **A diacritics-only name difference is a mismatch**, not silently verified: "Nguyen Thi Lan"
//!   for "Nguyễn Thị Lan" is likely the same person, but different Vietnamese names often differ
//!   only in their marks (Lan / Lân, Đức / Dức …), so the clinic officer must look at the card and
//!   correct the spelling before the record is signed.
//! - **Tone-mark placement variants are verified with a note** by default ("Hoà"/"Hòa",
//!   "Thuỷ"/"Thủy"): both placements are accepted spellings of the very same syllable (old and
//!   new orthography), so nothing about the person is in doubt. [`MatchPolicy`] can make them a
//!   mismatch instead.
//! - **A CCCD whose digits disagree with the record** (4th digit for century and sex, 5th–6th for
//!   the birth year; Circular 07/2016/TT-BCA, Article 7) is reported on the ID number field when
//!   other fields mismatch too, and as the hint of "not found" when the number is not
//!   registered: either way the officer learns which of ID number, sex or birth year to check.
//!   If the record agrees with the registry but not with the digits, the registry wins.
//! - **No disclosure of someone else's data.** A mistyped ID number may hit another person, and
//!   a staff token is enough to submit records: a token holder probing ID numbers must learn
//!   nothing from the registry. The clinic API ([`MatchResult::report`], what
//!   `POST /dose-records` answers and stores) therefore quotes **no registry value at all**:
//!   not the birth date, not the sex, not the ID number, and not the registered name either,
//!   even when the names agree up to diacritics or word order (the registry's spelling is
//!   personal data of the registry, and a prober who guessed a name would learn its exact
//!   form). Each line names the field, the kind of difference (stable code, e.g.
//!   `NAME_DIACRITICS_ONLY`, `DOB_DAY_MONTH_SWAPPED`) and what to do; the officer has the
//!   person and their card in front of them, which is where the right value comes from. A
//!   verified record's notes say that the registered spelling or full birth date will be used:
//!   those values reach the clinic only on the certificate, after confirmation. The report
//!   does not quote the record's own values either (they were just typed; a reply must not
//!   echo long or personal input).
//! - The `Display` texts ([`MatchResult`], [`FieldMismatch`], [`MatchNote`]) are **internal**:
//!   written for an operator with registry access (CLI, support tools); they quote registry
//!   values (name, birth date, sex) when the names agree at least up to diacritics or word
//!   order, and otherwise say only that the record's value is not the registered one. They are
//!   never sent over the clinic API.
//! - **Foreign passports are not cross-checked** (they are not in the national registry):
//!   [`MatchResult::ForeignPassport`] sends them to a separate, manual verification path.
//!
//! # Personal data
//!
//! `Display` of a [`MatchResult`] is internal (see above) and quotes the record's data and
//! registry data under the rule above; [`MatchResult::report`] is the clinic API's form. For logs
//! use [`MatchResult::redacted`] (stable codes only). `Debug` of results, persons and identities is redacted too, so a stray `{:?}` in a log
//! leaks no name, ID number or birth date.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dates::{Date, DateComparison, PartialDate};
use crate::identity::{CccdInconsistency, IdError, IdKind, IdNumber, Passport, Sex};
use crate::names::{self, NameComparison};

/// A person as the national population registry knows them: the canonical identity.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryPerson {
    /// CCCD or CMND number.
    pub id: IdNumber,
    /// Full name, family name first, with diacritics.
    pub full_name: String,
    /// Full birth date.
    pub date_of_birth: Date,
    /// Sex.
    pub sex: Sex,
}

impl fmt::Debug for RegistryPerson {
    /// Redacted: the kind of ID only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryPerson")
            .field("id", &self.id.kind_name())
            .finish_non_exhaustive()
    }
}

/// The identity part of a clinic's dose record, as the clinic typed it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoseIdentity {
    /// ID number as typed (spaces, dots, dashes and full-width digits are fine).
    pub id_number: String,
    /// Which document the form says the number is.
    #[serde(default)]
    pub id_kind: IdKind,
    /// Full name, family name first.
    pub full_name: String,
    /// Birth date, possibly only the year or year and month.
    pub date_of_birth: PartialDate,
    /// Sex.
    pub sex: Sex,
}

impl From<&RegistryPerson> for DoseIdentity {
    /// The identity exactly as the registry holds it (what a record that matches perfectly
    /// says): for seeding, examples and tests.
    fn from(p: &RegistryPerson) -> Self {
        DoseIdentity {
            id_number: p.id.to_string(),
            id_kind: p.id.kind(),
            full_name: p.full_name.clone(),
            date_of_birth: PartialDate::from(p.date_of_birth),
            sex: p.sex,
        }
    }
}

impl fmt::Debug for DoseIdentity {
    /// Redacted: the kind of document only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoseIdentity")
            .field("id_kind", &self.id_kind)
            .finish_non_exhaustive()
    }
}

/// Lookup of a person by ID number: the local registry table, a remote registry service, or
/// [`InMemoryRegistry`].
pub trait Registry {
    /// The person registered under `id`, if any.
    fn find(&self, id: &IdNumber) -> Option<RegistryPerson>;
}

impl<R: Registry + ?Sized> Registry for &R {
    fn find(&self, id: &IdNumber) -> Option<RegistryPerson> {
        (**self).find(id)
    }
}

/// Two registry rows with the same ID number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two registry persons share one {kind} number")]
pub struct DuplicateId {
    /// "CCCD" or "CMND" (the number itself is left out: safe to log).
    pub kind: &'static str,
}

/// A registry held in a `HashMap` (tests, benchmarks, small deployments).
#[derive(Default, Clone)]
pub struct InMemoryRegistry {
    persons: HashMap<IdNumber, RegistryPerson>,
}

impl InMemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry with room for `n` persons.
    pub fn with_capacity(n: usize) -> Self {
        InMemoryRegistry {
            persons: HashMap::with_capacity(n),
        }
    }

    /// Adds a person.
    ///
    /// # Errors
    /// [`DuplicateId`] if the ID number is already registered (the first person is kept).
    pub fn insert(&mut self, person: RegistryPerson) -> Result<(), DuplicateId> {
        match self.persons.entry(person.id.clone()) {
            Entry::Occupied(_) => Err(DuplicateId {
                kind: person.id.kind_name(),
            }),
            Entry::Vacant(v) => {
                v.insert(person);
                Ok(())
            }
        }
    }

    /// Number of persons.
    pub fn len(&self) -> usize {
        self.persons.len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }
}

impl fmt::Debug for InMemoryRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryRegistry")
            .field("len", &self.persons.len())
            .finish()
    }
}

impl Registry for InMemoryRegistry {
    fn find(&self, id: &IdNumber) -> Option<RegistryPerson> {
        self.persons.get(id).cloned()
    }
}

/// The registry as far as one match needs it: the one person an asynchronous lookup found
/// under the record's number, or none. A lookup by number (database or network) comes first;
/// [`match_record`] then grades the record against what it found. A person registered under
/// another number is not found (the lookup answered about someone else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookedUp(pub Option<RegistryPerson>);

impl Registry for LookedUp {
    fn find(&self, id: &IdNumber) -> Option<RegistryPerson> {
        self.0.as_ref().filter(|p| &p.id == id).cloned()
    }
}

/// Adjustable parts of the matching policy (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchPolicy {
    /// Verify (with a note) a name that differs only in tone-mark placement ("Hoà"/"Hòa").
    /// Default `true`; `false` makes it a mismatch needing correction.
    pub accept_tone_mark_placement: bool,
}

impl Default for MatchPolicy {
    fn default() -> Self {
        MatchPolicy {
            accept_tone_mark_placement: true,
        }
    }
}

/// A field of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// ID number.
    IdNumber,
    /// Full name.
    Name,
    /// Date of birth.
    DateOfBirth,
    /// Sex.
    Sex,
}

impl Field {
    /// Stable code: `id_number`, `name`, `date_of_birth`, `sex`.
    pub fn code(self) -> &'static str {
        match self {
            Field::IdNumber => "id_number",
            Field::Name => "name",
            Field::DateOfBirth => "date_of_birth",
            Field::Sex => "sex",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::IdNumber => "ID number",
            Field::Name => "Name",
            Field::DateOfBirth => "Date of birth",
            Field::Sex => "Sex",
        })
    }
}

/// Why a field does not match, with what to do about it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MismatchReason {
    /// The CCCD's 4th–6th digits disagree with the record's sex or birth year.
    IdDigits(CccdInconsistency),
    /// Name and birth date both differ from the person registered under the ID number.
    ProbablyAnotherPerson,
    /// The names differ only in diacritics (including Đ/D).
    NameDiacriticsOnly {
        /// Record's name.
        record: String,
        /// Registry's name.
        registry: String,
    },
    /// The names differ only in tone-mark placement, and the policy does not accept that.
    NameToneMarkPlacement {
        /// Record's name.
        record: String,
        /// Registry's name.
        registry: String,
    },
    /// The same words in another order.
    NameWordOrder {
        /// Record's name.
        record: String,
        /// Registry's name.
        registry: String,
    },
    /// Another name (the registry's is not quoted).
    NameDifferent {
        /// Record's name.
        record: String,
    },
    /// Day and month exchanged.
    DateDayMonthSwapped {
        /// Record's date.
        record: PartialDate,
        /// Registry's date.
        registry: Date,
    },
    /// Another birth date; the registry's is quoted only when the names agree.
    DateDiffers {
        /// Record's date.
        record: PartialDate,
        /// Registry's date, when it may be shown.
        registry: Option<Date>,
    },
    /// Another sex; the registry's is quoted only when the names agree.
    SexDiffers {
        /// Record's sex.
        record: Sex,
        /// Registry's sex, when it may be shown.
        registry: Option<Sex>,
    },
}

impl MismatchReason {
    /// The field concerned.
    pub fn field(&self) -> Field {
        match self {
            MismatchReason::IdDigits(_) | MismatchReason::ProbablyAnotherPerson => Field::IdNumber,
            MismatchReason::NameDiacriticsOnly { .. }
            | MismatchReason::NameToneMarkPlacement { .. }
            | MismatchReason::NameWordOrder { .. }
            | MismatchReason::NameDifferent { .. } => Field::Name,
            MismatchReason::DateDayMonthSwapped { .. } | MismatchReason::DateDiffers { .. } => {
                Field::DateOfBirth
            }
            MismatchReason::SexDiffers { .. } => Field::Sex,
        }
    }

    /// Stable code for APIs and logs (no personal data).
    pub fn code(&self) -> &'static str {
        match self {
            MismatchReason::IdDigits(CccdInconsistency::Sex { .. }) => "ID_SEX_DIGIT",
            MismatchReason::IdDigits(CccdInconsistency::Century { .. }) => "ID_CENTURY_DIGIT",
            MismatchReason::IdDigits(CccdInconsistency::Year { .. }) => "ID_YEAR_DIGITS",
            MismatchReason::ProbablyAnotherPerson => "ID_ANOTHER_PERSON",
            MismatchReason::NameDiacriticsOnly { .. } => "NAME_DIACRITICS_ONLY",
            MismatchReason::NameToneMarkPlacement { .. } => "NAME_TONE_MARK_PLACEMENT",
            MismatchReason::NameWordOrder { .. } => "NAME_WORD_ORDER",
            MismatchReason::NameDifferent { .. } => "NAME_DIFFERENT",
            MismatchReason::DateDayMonthSwapped { .. } => "DOB_DAY_MONTH_SWAPPED",
            MismatchReason::DateDiffers { .. } => "DOB_DIFFERENT",
            MismatchReason::SexDiffers { .. } => "SEX_DIFFERENT",
        }
    }
}

impl MismatchReason {
    /// The sentence for the clinic API ([`MatchResult::report`]): what differs and what to
    /// do, quoting no registry value (name, birth date, sex, ID number) and no value of the
    /// record (see the module documentation).
    pub fn clinic_message(&self) -> String {
        match self {
            // The digits are the record's own ID number, read against the record's own sex
            // and birth year: nothing of the registry.
            MismatchReason::IdDigits(_) | MismatchReason::ProbablyAnotherPerson => {
                self.to_string()
            }
            MismatchReason::NameDiacriticsOnly { .. } => "differs from the registered name only in diacritics (tone marks, â/ă/ê/ô/ơ/ư, Đ/D): \
                 correct the spelling from the person's card"
                .to_owned(),
            MismatchReason::NameToneMarkPlacement { .. } => "the tone mark is on another vowel than in the registered name \
                 (as in Hoà / Hòa): confirm the spelling on the person's card"
                .to_owned(),
            MismatchReason::NameWordOrder { .. } => {
                "the same names as registered, in another order: write the family name first"
                    .to_owned()
            }
            MismatchReason::NameDifferent { .. } => "not the name registered under this ID number: check the name and the ID \
                 number against the person's card"
                .to_owned(),
            MismatchReason::DateDayMonthSwapped { .. } => "day and month look swapped: forms are written day first (dd/mm/yyyy); \
                 correct the date from the person's card"
                .to_owned(),
            MismatchReason::DateDiffers { .. } => "not the birth date registered under this ID number: check the birth date \
                 and the ID number against the person's card"
                .to_owned(),
            MismatchReason::SexDiffers { .. } => "not the sex registered under this ID number: check the sex and the ID \
                 number against the person's card"
                .to_owned(),
        }
    }
}

impl fmt::Display for MismatchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MismatchReason::IdDigits(c) => {
                let what = match c {
                    CccdInconsistency::Sex { .. } => "sex",
                    _ => "birth year",
                };
                write!(f, "{c}: check the ID number and the {what}")
            }
            MismatchReason::ProbablyAnotherPerson => f.write_str(
                "name and birth date do not match the person registered under this number: \
                 the ID number is probably mistyped; check it against the person's card",
            ),
            MismatchReason::NameDiacriticsOnly { record, registry } => write!(
                f,
                "differs only in diacritics (record '{record}', registry '{registry}'): correct the spelling"
            ),
            MismatchReason::NameToneMarkPlacement { record, registry } => write!(
                f,
                "the tone mark is on another vowel (record '{record}', registry '{registry}'): \
                 confirm the spelling"
            ),
            MismatchReason::NameWordOrder { record, registry } => write!(
                f,
                "the same names in another order (record '{record}', registry '{registry}'): \
                 write the family name first"
            ),
            MismatchReason::NameDifferent { record } => write!(
                f,
                "'{record}' is not the name registered under this ID number: check the name and the ID number"
            ),
            MismatchReason::DateDayMonthSwapped { record, registry } => write!(
                f,
                "day and month look swapped (record {record}, registry {registry}): \
                 forms are written day first (dd/mm/yyyy); correct the date"
            ),
            MismatchReason::DateDiffers {
                record,
                registry: Some(registry),
            } => write!(
                f,
                "the record says {record}, the registry says {registry}: check the birth date"
            ),
            MismatchReason::DateDiffers {
                record,
                registry: None,
            } => write!(
                f,
                "{record} is not the birth date registered under this ID number: check the birth date and the ID number"
            ),
            MismatchReason::SexDiffers {
                record,
                registry: Some(registry),
            } => write!(
                f,
                "the record says {record}, the registry says {registry}: check the sex"
            ),
            MismatchReason::SexDiffers {
                record,
                registry: None,
            } => write!(
                f,
                "{record} is not the sex registered under this ID number: check the sex and the ID number"
            ),
        }
    }
}

/// One field that does not match, and why.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldMismatch {
    /// The field.
    pub field: Field,
    /// Why, in words a clinic officer can act on.
    pub reason: MismatchReason,
}

impl From<MismatchReason> for FieldMismatch {
    fn from(reason: MismatchReason) -> Self {
        FieldMismatch {
            field: reason.field(),
            reason,
        }
    }
}

impl fmt::Display for FieldMismatch {
    /// `Field: reason`, e.g. "ID number: the 4th digit (1) says female born 1900–1999, but the
    /// record says male: check the ID number and the sex".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl fmt::Debug for FieldMismatch {
    /// Redacted: field and code only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.field.code(), self.reason.code())
    }
}

/// A difference tolerated in a verified record; the registry's value goes on the certificate.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchNote {
    /// The names differ only in case, spacing or Unicode form.
    NameCaseOrSpacing {
        /// Registry's name.
        registry: String,
    },
    /// The names differ only in tone-mark placement (accepted by the policy).
    NameToneMarkPlacement {
        /// Record's name.
        record: String,
        /// Registry's name.
        registry: String,
    },
    /// The record has only the birth year.
    DateYearOnly {
        /// Registry's date, used on the certificate.
        registry: Date,
    },
    /// The record has only the birth year and month.
    DateYearMonthOnly {
        /// Registry's date, used on the certificate.
        registry: Date,
    },
}

impl MatchNote {
    /// Stable code (no personal data).
    pub fn code(&self) -> &'static str {
        match self {
            MatchNote::NameCaseOrSpacing { .. } => "NAME_CASE_OR_SPACING",
            MatchNote::NameToneMarkPlacement { .. } => "NAME_TONE_MARK_PLACEMENT",
            MatchNote::DateYearOnly { .. } => "DOB_YEAR_ONLY",
            MatchNote::DateYearMonthOnly { .. } => "DOB_YEAR_MONTH_ONLY",
        }
    }
}

impl MatchNote {
    /// The sentence for the clinic API ([`MatchResult::report`]), quoting no registry value:
    /// the registered spelling and date are on the certificate once it is confirmed.
    pub fn clinic_message(&self) -> String {
        match self {
            MatchNote::NameCaseOrSpacing { .. } => {
                "Name: differs only in letter case or spacing; the registered spelling will be used"
            }
            MatchNote::NameToneMarkPlacement { .. } => {
                "Name: the tone mark is on another vowel, an accepted spelling of the same name; \
                 the registered spelling will be used"
            }
            MatchNote::DateYearOnly { .. } => {
                "Date of birth: the record has only the birth year; the registered full date will be used"
            }
            MatchNote::DateYearMonthOnly { .. } => {
                "Date of birth: the record has only the birth year and month; the registered full \
                 date will be used"
            }
        }
        .to_owned()
    }
}

impl fmt::Display for MatchNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchNote::NameCaseOrSpacing { registry } => write!(
                f,
                "Name: differs only in letter case or spacing; the registry spelling '{registry}' will be used"
            ),
            MatchNote::NameToneMarkPlacement { record, registry } => write!(
                f,
                "Name: the tone mark is on another vowel (record '{record}', registry '{registry}'), \
                 an accepted spelling of the same name; the registry spelling will be used"
            ),
            MatchNote::DateYearOnly { registry } => write!(
                f,
                "Date of birth: the record has only the birth year; registry date {registry} will be used"
            ),
            MatchNote::DateYearMonthOnly { registry } => write!(
                f,
                "Date of birth: the record has only the birth year and month; registry date {registry} will be used"
            ),
        }
    }
}

impl fmt::Debug for MatchNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a record's ID number was not found.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotFoundHint {
    /// The number is not a valid CCCD/CMND at all: mistyped.
    InvalidId(IdError),
    /// A valid CCCD, not registered, and its digits disagree with the record: mistyped.
    InconsistentId(Vec<CccdInconsistency>),
    /// A valid number that is simply not registered.
    NotRegistered,
}

impl NotFoundHint {
    /// Stable code (no personal data).
    pub fn code(&self) -> &'static str {
        match self {
            NotFoundHint::InvalidId(_) => "ID_INVALID",
            NotFoundHint::InconsistentId(_) => "ID_INCONSISTENT",
            NotFoundHint::NotRegistered => "ID_NOT_REGISTERED",
        }
    }
}

impl fmt::Display for NotFoundHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotFoundHint::InvalidId(e) => {
                write!(
                    f,
                    "the ID number is not valid ({e}); it is probably mistyped: check it against the person's card"
                )
            }
            NotFoundHint::InconsistentId(list) => {
                f.write_str("the ID number disagrees with the record (")?;
                for (i, c) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("); it is probably mistyped: check it against the person's card")
            }
            NotFoundHint::NotRegistered => f.write_str(
                "no person is registered under this ID number: check it against the person's card",
            ),
        }
    }
}

/// The outcome of matching one record.
#[derive(Clone, PartialEq, Eq)]
pub enum MatchResult {
    /// The record matches; the certificate carries `person`'s name and birth date.
    Verified {
        /// The registry's canonical identity.
        person: RegistryPerson,
        /// Tolerated differences.
        notes: Vec<MatchNote>,
    },
    /// The ID number is registered, but fields differ: correct the record and resubmit.
    Mismatch {
        /// Each field that differs and why (never empty).
        fields: Vec<FieldMismatch>,
    },
    /// No registry person under this ID number.
    NotFound {
        /// Why, and what to check.
        hint: NotFoundHint,
    },
    /// A foreign citizen's passport: not in the national registry; verify manually.
    ForeignPassport {
        /// The normalised passport number.
        passport: Passport,
    },
}

impl MatchResult {
    /// Stable code: `VERIFIED`, `MISMATCH`, `NOT_FOUND`, `FOREIGN_PASSPORT`.
    pub fn code(&self) -> &'static str {
        match self {
            MatchResult::Verified { .. } => "VERIFIED",
            MatchResult::Mismatch { .. } => "MISMATCH",
            MatchResult::NotFound { .. } => "NOT_FOUND",
            MatchResult::ForeignPassport { .. } => "FOREIGN_PASSPORT",
        }
    }

    /// Whether the record may go on to confirmation and signing.
    pub fn is_verified(&self) -> bool {
        matches!(self, MatchResult::Verified { .. })
    }

    /// A form for logs: the outcome and stable codes, no name, ID number, birth date or sex.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }
}

/// [`MatchResult::redacted`]: e.g. `MISMATCH [name:NAME_DIACRITICS_ONLY, sex:SEX_DIFFERENT]`.
pub struct Redacted<'a>(&'a MatchResult);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code())?;
        match self.0 {
            MatchResult::Verified { notes, .. } if !notes.is_empty() => {
                let codes: Vec<&str> = notes.iter().map(MatchNote::code).collect();
                write!(f, " [{}]", codes.join(", "))
            }
            MatchResult::Mismatch { fields } => {
                let codes: Vec<String> = fields.iter().map(|m| format!("{m:?}")).collect();
                write!(f, " [{}]", codes.join(", "))
            }
            MatchResult::NotFound { hint } => write!(f, " [{}]", hint.code()),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for MatchResult {
    /// Redacted, as [`MatchResult::redacted`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.redacted(), f)
    }
}

impl fmt::Display for MatchResult {
    /// Internal (see the module documentation): a headline and one line per note or mismatch,
    /// quoting registry values under the module's rule. The clinic API uses
    /// [`MatchResult::report`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchResult::Verified { notes, .. } => {
                f.write_str("Verified against the population registry.")?;
                for n in notes {
                    write!(f, "\n- {n}")?;
                }
                Ok(())
            }
            MatchResult::Mismatch { fields } => {
                f.write_str("Does not match the population registry:")?;
                for m in fields {
                    write!(f, "\n- {m}")?;
                }
                Ok(())
            }
            MatchResult::NotFound { hint } => {
                write!(f, "Not found in the population registry: {hint}.")
            }
            MatchResult::ForeignPassport { .. } => f.write_str(
                "Foreign passport: not in the national population registry; \
                 verify the passport in person (manual verification path).",
            ),
        }
    }
}

/// Matches a record with the default [`MatchPolicy`].
pub fn match_record<R: Registry + ?Sized>(record: &DoseIdentity, registry: &R) -> MatchResult {
    match_record_with(record, registry, MatchPolicy::default())
}

/// Matches a record against the registry (see the module documentation for the policies).
pub fn match_record_with<R: Registry + ?Sized>(
    record: &DoseIdentity,
    registry: &R,
    policy: MatchPolicy,
) -> MatchResult {
    let id = match IdNumber::parse(&record.id_number, record.id_kind) {
        Ok(IdNumber::Passport(passport)) => return MatchResult::ForeignPassport { passport },
        Ok(id) => id,
        Err(e) => {
            return MatchResult::NotFound {
                hint: NotFoundHint::InvalidId(e),
            };
        }
    };
    let id_checks = id
        .as_cccd()
        .map(|c| c.consistency(Some(record.date_of_birth.year()), record.sex))
        .unwrap_or_default();
    let Some(person) = registry.find(&id) else {
        let hint = if id_checks.is_empty() {
            NotFoundHint::NotRegistered
        } else {
            NotFoundHint::InconsistentId(id_checks)
        };
        return MatchResult::NotFound { hint };
    };

    let mut notes = Vec::new();
    let mut fields: Vec<FieldMismatch> = Vec::new();

    let name = names::compare(&record.full_name, &person.full_name);
    let quote_registry = name != NameComparison::Different;
    let rec_name = || (record.full_name.clone(), person.full_name.clone());
    match name {
        NameComparison::Exact => {}
        NameComparison::Equivalent => notes.push(MatchNote::NameCaseOrSpacing {
            registry: person.full_name.clone(),
        }),
        NameComparison::ToneMarkPlacement if policy.accept_tone_mark_placement => {
            let (record, registry) = rec_name();
            notes.push(MatchNote::NameToneMarkPlacement { record, registry })
        }
        NameComparison::ToneMarkPlacement => {
            let (record, registry) = rec_name();
            fields.push(MismatchReason::NameToneMarkPlacement { record, registry }.into())
        }
        NameComparison::DiacriticsOnly { .. } => {
            let (record, registry) = rec_name();
            fields.push(MismatchReason::NameDiacriticsOnly { record, registry }.into())
        }
        NameComparison::WordOrder => {
            let (record, registry) = rec_name();
            fields.push(MismatchReason::NameWordOrder { record, registry }.into())
        }
        NameComparison::Different => fields.push(
            MismatchReason::NameDifferent {
                record: record.full_name.clone(),
            }
            .into(),
        ),
    }

    let date = record.date_of_birth.compare(person.date_of_birth);
    match date {
        DateComparison::Exact => {}
        DateComparison::RecordYearOnly => notes.push(MatchNote::DateYearOnly {
            registry: person.date_of_birth,
        }),
        DateComparison::RecordYearMonthOnly => notes.push(MatchNote::DateYearMonthOnly {
            registry: person.date_of_birth,
        }),
        DateComparison::DayMonthSwapped if quote_registry => fields.push(
            MismatchReason::DateDayMonthSwapped {
                record: record.date_of_birth,
                registry: person.date_of_birth,
            }
            .into(),
        ),
        DateComparison::DayMonthSwapped | DateComparison::YearDiffers | DateComparison::Differs => {
            fields.push(
                MismatchReason::DateDiffers {
                    record: record.date_of_birth,
                    registry: quote_registry.then_some(person.date_of_birth),
                }
                .into(),
            )
        }
    }

    if record.sex != person.sex {
        fields.push(
            MismatchReason::SexDiffers {
                record: record.sex,
                registry: quote_registry.then_some(person.sex),
            }
            .into(),
        );
    }

    if fields.is_empty() {
        return MatchResult::Verified { person, notes };
    }
    // The ID number's own digits help decide which field is wrong; if the record agrees with
    // the registry but not with the digits, the registry wins (handled above: no mismatch).
    let mut id_fields: Vec<FieldMismatch> = id_checks
        .into_iter()
        .map(|c| MismatchReason::IdDigits(c).into())
        .collect();
    if name == NameComparison::Different && !date.is_compatible() {
        id_fields.insert(0, MismatchReason::ProbablyAnotherPerson.into());
    }
    id_fields.extend(fields);
    MatchResult::Mismatch { fields: id_fields }
}

/// One line of a [`MatchReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportLine {
    /// Field concerned (`id_number`, `name`, `date_of_birth`, `sex`).
    pub field: &'static str,
    /// Stable code of the reason or note.
    pub code: &'static str,
    /// The sentence for the clinic API: no registry value, no value of the record (see the
    /// module documentation).
    pub message: String,
}

/// A serialisable form of a [`MatchResult`] for the clinic API: stable codes beside sentences
/// that quote no registry value ([`MismatchReason::clinic_message`],
/// [`MatchNote::clinic_message`]), unlike the internal `Display`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchReport {
    /// `VERIFIED`, `MISMATCH`, `NOT_FOUND`, `FOREIGN_PASSPORT`.
    pub outcome: &'static str,
    /// The headline, with the not-found hint if any.
    pub message: String,
    /// Mismatching fields (mismatch only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<ReportLine>,
    /// Tolerated differences (verified only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<ReportLine>,
    /// Why the ID number was not found (not found only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
}

impl MatchNote {
    fn field(&self) -> Field {
        match self {
            MatchNote::NameCaseOrSpacing { .. } | MatchNote::NameToneMarkPlacement { .. } => {
                Field::Name
            }
            MatchNote::DateYearOnly { .. } | MatchNote::DateYearMonthOnly { .. } => {
                Field::DateOfBirth
            }
        }
    }
}

impl MatchResult {
    /// The serialisable report of this result, for the clinic API (stored with the record and
    /// answered by `POST /dose-records`): it quotes no registry value and no value of the
    /// record.
    pub fn report(&self) -> MatchReport {
        let mut report = MatchReport {
            outcome: self.code(),
            message: String::new(),
            mismatches: Vec::new(),
            notes: Vec::new(),
            hint: None,
        };
        match self {
            MatchResult::Verified { notes, .. } => {
                report.message = "Verified against the population registry.".into();
                report.notes = notes
                    .iter()
                    .map(|n| ReportLine {
                        field: n.field().code(),
                        code: n.code(),
                        message: n.clinic_message(),
                    })
                    .collect();
            }
            MatchResult::Mismatch { fields } => {
                report.message = "Does not match the population registry.".into();
                report.mismatches = fields
                    .iter()
                    .map(|m| ReportLine {
                        field: m.field.code(),
                        code: m.reason.code(),
                        message: format!("{}: {}", m.field, m.reason.clinic_message()),
                    })
                    .collect();
            }
            MatchResult::NotFound { hint } => {
                report.message = self.to_string();
                report.hint = Some(hint.code());
            }
            MatchResult::ForeignPassport { .. } => report.message = self.to_string(),
        }
        report
    }
}
