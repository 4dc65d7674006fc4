//! Clinical plausibility of a dose, checked when a record is submitted (`POST /dose-records`,
//! the bulk upload and the import, through `vaxpass_issuer_workflow::submission::parse` and
//! `vaxpass_issuer_workflow::submit`) and again right before it is signed (confirmation and
//! batch issuance, in `vaxpass_issuer_issuance::IssueContext::issue_timed`), since records may be in the database
//! from before these checks existed.
//!
//! A dose is refused ([`Implausible`], HTTP 422 `IMPLAUSIBLE_VACCINATION`) when:
//! - **`dose_number` or `series_total` is outside 1–9**: the range of the DCC schema up to
//!   1.2.1 (`dose_posint`; 1.3.x dropped the upper bound, not the meaning);
//! - **it is more than [`MAX_BOOSTERS`] boosters past the series**. Boosters are encoded as
//!   the EU eHealth Network guidelines say: the dose number counts every dose given, the series
//!   total stays that of the primary series, so `dose_number > series_total` *is* a booster:
//!   `3/2` is the first booster after a two-dose series, `4/2` the second, `2/1` the first
//!   booster after a single-dose vaccine (Jcovden). `1/1` is a complete single-dose series (or
//!   a single dose after recovery, as the guidelines allow). The older encoding `3/3` for a
//!   booster is accepted too (it is a well-formed "dose 3 of 3"). So the API accepts every
//!   `dose_number`/`series_total` pair within 1–9 with `dose_number <= series_total + 3`;
//!   `9/2` (a seventh booster) is refused;
//! - **the vaccination `date` is in the future**: after today in the earliest time zone on
//!   Earth (UTC+14), so a dose given early in the morning in Viet Nam (UTC+7) is never refused.
//!   "Today" is the service's injected clock, passed in as Unix seconds;
//! - **the vaccination is before the date of birth**: at submission, before the earliest day
//!   the record's (possibly partial) birth date allows (born "1992": not before 1992-01-01);
//!   before signing, before the registry's birth date;
//! - **the vaccination is before the product's first authorisation**: the table
//!   `schemas/vaccines/first-authorisation.json` ([`vaxpass_schemas::VACCINE_FIRST_AUTHORISATION`]:
//!   EMA or WHO EUL dates, national authorisations for the products with neither, each with
//!   its source); a product without an entry is checked against the table's floor
//!   (2020-08-11, the first COVID-19 vaccine authorised anywhere). Doses given in clinical
//!   trials before authorisation cannot be issued through this path.
//!
//! No message quotes the record's values (dates, names, numbers): only the field, the rule
//! and what to check. The date of today and the products' authorisation dates are not personal
//! data and are quoted.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::dates::{Date, PartialDate};
use crate::record::Vaccination;

/// Highest `dose_number` and `series_total` (the DCC schema's `dose_posint` up to 1.2.1).
pub const MAX_DOSE: u32 = 9;

/// Most boosters past the primary series (`dose_number - series_total`).
pub const MAX_BOOSTERS: u32 = 3;

/// Seconds from UTC to the earliest time zone (UTC+14, Line Islands).
const EARLIEST_ZONE_OFFSET: i64 = 14 * 3_600;

/// Why a dose is not plausible. The texts name the field and the rule, never the record's
/// values: safe to log and to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Implausible {
    /// `dose_number` or `series_total` outside 1–9.
    #[error(
        "{field} must be between 1 and {MAX_DOSE} (the DCC range); check the dose number and the doses in the series"
    )]
    DoseOutOfRange {
        /// `dose_number` or `series_total`.
        field: &'static str,
    },
    /// More than [`MAX_BOOSTERS`] boosters past the series.
    #[error(
        "dose_number is more than {MAX_BOOSTERS} above series_total: a booster is written as the count of all doses given over the primary series (3 of 2 is the first booster after two doses, 2 of 1 after a single-dose vaccine); check both numbers"
    )]
    TooManyBoosters,
    /// The vaccination date is after today.
    #[error(
        "date is in the future (today is {today}): only a dose already given can be recorded; check the vaccination date"
    )]
    InTheFuture {
        /// Today (in the earliest time zone).
        today: Date,
    },
    /// The vaccination date is before the person's birth.
    #[error("date is before the date of birth: check the vaccination date and the date of birth")]
    BeforeBirth,
    /// The vaccination date is before the product was first authorised.
    #[error(
        "date is before {product} was first authorised ({first}, {authority}): check the vaccination date and the vaccine (vaccine.mp)"
    )]
    BeforeFirstAuthorisation {
        /// The product's name (or its code).
        product: String,
        /// Its first authorisation.
        first: Date,
        /// The authority of that date (`EMA`, `WHO EUL`, …).
        authority: String,
    },
}

impl Implausible {
    /// The request field concerned: `dose_number`, `series_total`, `date`.
    pub fn field(&self) -> &'static str {
        match self {
            Implausible::DoseOutOfRange { field } => field,
            Implausible::TooManyBoosters => "dose_number",
            _ => "date",
        }
    }
}

/// One product's first authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstAuthorisation {
    /// The product's name.
    pub name: String,
    /// The date.
    pub date: Date,
    /// The authority (a key of the table's `sources`).
    pub authority: String,
}

#[derive(Deserialize)]
struct TableFile {
    floor: Date,
    products: HashMap<String, ProductFile>,
}

#[derive(Deserialize)]
struct ProductFile {
    name: String,
    date: Date,
    authority: String,
}

/// The parsed first-authorisation table.
#[derive(Debug, Clone)]
pub struct AuthorisationTable {
    floor: Date,
    products: HashMap<String, FirstAuthorisation>,
}

/// 2020-08-11: the floor if the embedded table could not be read (a test checks that it can).
fn built_in_floor() -> Date {
    Date::new(2020, 8, 11).unwrap_or(Date::MIN)
}

impl AuthorisationTable {
    /// Parses a table in the shape of [`vaxpass_schemas::VACCINE_FIRST_AUTHORISATION`].
    ///
    /// # Errors
    /// The JSON text does not have that shape.
    pub fn parse(json: &str) -> Result<AuthorisationTable, serde_json::Error> {
        let file: TableFile = serde_json::from_str(json)?;
        Ok(AuthorisationTable {
            floor: file.floor,
            products: file
                .products
                .into_iter()
                .map(|(code, p)| {
                    (
                        code,
                        FirstAuthorisation {
                            name: p.name,
                            date: p.date,
                            authority: p.authority,
                        },
                    )
                })
                .collect(),
        })
    }

    /// The embedded table (parsed once). If it could not be parsed, an empty table with the
    /// floor 2020-08-11 (`embedded_table_parses` checks that this never happens).
    pub fn embedded() -> &'static AuthorisationTable {
        static TABLE: OnceLock<AuthorisationTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            AuthorisationTable::parse(vaxpass_schemas::VACCINE_FIRST_AUTHORISATION).unwrap_or(
                AuthorisationTable {
                    floor: built_in_floor(),
                    products: HashMap::new(),
                },
            )
        })
    }

    /// The entry of a product code, if it has one.
    pub fn get(&self, product: &str) -> Option<&FirstAuthorisation> {
        self.products.get(product)
    }

    /// The date before which no dose of `product` can have been given (its entry, else the
    /// floor), with the product's name and the authority.
    fn earliest(&self, product: &str) -> (String, Date, String) {
        match self.products.get(product) {
            Some(p) => (p.name.clone(), p.date, p.authority.clone()),
            None => (
                "any COVID-19 vaccine".to_owned(),
                self.floor,
                "first authorisation anywhere".to_owned(),
            ),
        }
    }
}

/// Today in the earliest time zone (UTC+14) at `now` (Unix seconds); `None` beyond the range
/// of [`Date`].
pub fn today_anywhere(now: i64) -> Option<Date> {
    let (y, m, d) =
        vaxpass_verifier::Timestamp::from_unix_seconds(now.saturating_add(EARLIEST_ZONE_OFFSET))
            .to_civil_date();
    Date::new(
        u16::try_from(y).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(d).ok()?,
    )
    .ok()
}

/// The checks that need no clock: dose numbers, birth date, first authorisation.
///
/// # Errors
/// [`Implausible`], the first rule broken (in the order of the module documentation).
pub fn check_timeless(v: &Vaccination, born: PartialDate) -> Result<(), Implausible> {
    for (field, n) in [
        ("dose_number", v.dose_number),
        ("series_total", v.series_total),
    ] {
        if !(1..=MAX_DOSE).contains(&n) {
            return Err(Implausible::DoseOutOfRange { field });
        }
    }
    if v.dose_number > v.series_total.saturating_add(MAX_BOOSTERS) {
        return Err(Implausible::TooManyBoosters);
    }
    if v.date < born.earliest_day() {
        return Err(Implausible::BeforeBirth);
    }
    let (product, first, authority) = AuthorisationTable::embedded().earliest(&v.product);
    if v.date < first {
        return Err(Implausible::BeforeFirstAuthorisation {
            product,
            first,
            authority,
        });
    }
    Ok(())
}

/// Every check of the module documentation at `now` (Unix seconds, the service's clock).
///
/// # Errors
/// [`Implausible`], the first rule broken.
pub fn check(v: &Vaccination, born: PartialDate, now: i64) -> Result<(), Implausible> {
    check_timeless(v, born)?;
    if let Some(today) = today_anywhere(now) {
        if v.date > today {
            return Err(Implausible::InTheFuture { today });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dose(dn: u32, sd: u32, date: &str, product: &str) -> Vaccination {
        Vaccination {
            prophylaxis: "1119349007".into(),
            product: product.into(),
            manufacturer: "ORG-100030215".into(),
            dose_number: dn,
            series_total: sd,
            date: Date::parse(date).unwrap(),
        }
    }

    fn born(s: &str) -> PartialDate {
        PartialDate::parse(s).unwrap()
    }

    /// 2026-12-02T12:00:00Z.
    const NOW: i64 = 1_796_212_800;

    #[test]
    fn embedded_table_parses() {
        let t = AuthorisationTable::parse(vaxpass_schemas::VACCINE_FIRST_AUTHORISATION).unwrap();
        assert_eq!(t.floor, Date::new(2020, 8, 11).unwrap());
        // The campaign's vaccines all have an entry.
        for code in [
            "EU/1/20/1528",
            "EU/1/20/1507",
            "EU/1/21/1529",
            "Covishield",
            "EU/1/20/1525",
            "Sputnik-V",
            "BBIBP-CorV",
            "CoronaVac",
            "Abdala",
            "Hayat-Vax",
        ] {
            let p = t.get(code).unwrap();
            assert!(p.date >= t.floor, "{code}");
        }
        assert_eq!(
            t.get("EU/1/20/1528").unwrap().date,
            Date::new(2020, 12, 21).unwrap()
        );
    }

    #[test]
    fn today_is_that_of_the_earliest_time_zone() {
        assert_eq!(today_anywhere(NOW), Some(Date::new(2026, 12, 3).unwrap()));
        assert_eq!(
            today_anywhere(NOW - 12 * 3_600 - 14 * 3_600 - 1),
            Some(Date::new(2026, 12, 1).unwrap())
        );
        assert_eq!(today_anywhere(i64::MAX), None);
    }

    #[test]
    fn the_issue_examples_are_refused() {
        let b = born("1992-03-04");
        for (d, want) in [
            (
                dose(4_294_967_295, 2, "2021-09-01", "EU/1/20/1528"),
                Implausible::DoseOutOfRange {
                    field: "dose_number",
                },
            ),
            (
                dose(9, 2, "2021-09-01", "EU/1/20/1528"),
                Implausible::TooManyBoosters,
            ),
            (
                dose(2, 2, "2999-12-31", "EU/1/20/1528"),
                Implausible::InTheFuture {
                    today: Date::new(2026, 12, 3).unwrap(),
                },
            ),
            (
                dose(2, 2, "1900-01-01", "EU/1/20/1528"),
                Implausible::BeforeBirth,
            ),
        ] {
            assert_eq!(check(&d, b, NOW), Err(want));
        }
        assert_eq!(
            check(&dose(2, 0, "2021-09-01", "EU/1/20/1528"), b, NOW),
            Err(Implausible::DoseOutOfRange {
                field: "series_total"
            })
        );
    }

    #[test]
    fn booster_encodings() {
        let b = born("1992");
        for (dn, sd) in [
            (1, 1),
            (2, 1),
            (1, 2),
            (2, 2),
            (3, 2),
            (4, 2),
            (5, 2),
            (3, 3),
        ] {
            assert_eq!(
                check(&dose(dn, sd, "2022-01-10", "EU/1/20/1528"), b, NOW),
                Ok(()),
                "{dn}/{sd}"
            );
        }
        assert_eq!(
            check(&dose(6, 2, "2022-01-10", "EU/1/20/1528"), b, NOW),
            Err(Implausible::TooManyBoosters)
        );
    }

    #[test]
    fn partial_birth_dates_allow_their_earliest_day() {
        let v = dose(1, 2, "2021-06-01", "EU/1/20/1528");
        assert_eq!(check(&v, born("2021"), NOW), Ok(()));
        assert_eq!(check(&v, born("2021-06"), NOW), Ok(()));
        assert_eq!(
            check(&v, born("2021-07"), NOW),
            Err(Implausible::BeforeBirth)
        );
        assert_eq!(
            check(&v, born("2021-06-02"), NOW),
            Err(Implausible::BeforeBirth)
        );
    }

    #[test]
    fn first_authorisation_by_product_and_floor() {
        let b = born("1960");
        // Comirnaty: EMA 2020-12-21.
        assert_eq!(
            check(&dose(1, 2, "2020-12-21", "EU/1/20/1528"), b, NOW),
            Ok(())
        );
        let err = check(&dose(1, 2, "2020-12-20", "EU/1/20/1528"), b, NOW).unwrap_err();
        assert_eq!(
            err.to_string(),
            "date is before Comirnaty was first authorised (2020-12-21, EMA): check the \
             vaccination date and the vaccine (vaccine.mp)"
        );
        // A product without an entry: the floor.
        assert_eq!(check(&dose(1, 2, "2020-08-11", "R-COVI"), b, NOW), Ok(()));
        assert!(matches!(
            check(&dose(1, 2, "2020-08-10", "R-COVI"), b, NOW),
            Err(Implausible::BeforeFirstAuthorisation { .. })
        ));
    }
}
