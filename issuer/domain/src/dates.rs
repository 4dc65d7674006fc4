//! Birth dates: the registry's full [`Date`] and the clinic record's [`PartialDate`].
//!
//! Clinic records often carry only the birth year (older people whose papers give no day), or
//! a year and month. Accepted written forms ([`PartialDate::parse`]):
//!
//! | form | example | meaning |
//! |---|---|---|
//! | `yyyy` | `1985` | year only |
//! | `yyyy-mm` | `1985-04` | year and month (ISO 8601) |
//! | `yyyy-mm-dd` | `1985-04-12` | full date (ISO 8601, the DCC's `dob` form) |
//! | `mm/yyyy` | `04/1985` | year and month, as Vietnamese forms write it |
//! | `dd/mm/yyyy` | `12/04/1985` | full date, **day first** as Vietnamese forms write it (also with `-` or `.`) |
//!
//! A slashed date is never read month first (US style): `04/12/1985` is 4 December 1985.
//! One-digit day and month are accepted in the slashed forms (`2/9/1945`).
//!
//! No error of this module carries the date itself: they are safe to log.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a text is not a date. Never contains the date (safe to log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateError {
    /// Not one of the accepted forms.
    #[error("not a date: write yyyy, yyyy-mm, yyyy-mm-dd, mm/yyyy or dd/mm/yyyy (day first)")]
    Format,
    /// Year outside 1800–2999.
    #[error("the year is out of range")]
    Year,
    /// Month outside 1–12.
    #[error("the month is out of range (1–12)")]
    Month,
    /// No such day in that month.
    #[error("the day does not exist in that month")]
    Day,
    /// A full date was required (registry rows) but only a year or year-month was given.
    #[error("a full date (yyyy-mm-dd) is required")]
    NotFull,
}

/// Whether `year` is a leap year in the Gregorian calendar (the verifier's calendar).
pub fn is_leap_year(year: u16) -> bool {
    vaxpass_verifier::time::is_leap_year(i64::from(year))
}

/// Days in `month` (1–12) of `year`; 0 for an invalid month (the verifier's calendar).
pub fn days_in_month(year: u16, month: u8) -> u8 {
    // At most 31: the narrowing cannot truncate.
    vaxpass_verifier::time::days_in_month(i64::from(year), u32::from(month)) as u8
}

fn check_year(year: u16) -> Result<u16, DateError> {
    if (1800..=2999).contains(&year) {
        Ok(year)
    } else {
        Err(DateError::Year)
    }
}

fn check_month(month: u8) -> Result<u8, DateError> {
    if (1..=12).contains(&month) {
        Ok(month)
    } else {
        Err(DateError::Month)
    }
}

/// A valid calendar date (Gregorian, years 1800–2999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// 1800-01-01, the smallest date.
    pub const MIN: Date = Date {
        year: 1800,
        month: 1,
        day: 1,
    };

    /// A checked date.
    ///
    /// # Errors
    /// [`DateError::Year`], [`DateError::Month`], [`DateError::Day`].
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, DateError> {
        let year = check_year(year)?;
        let month = check_month(month)?;
        if day == 0 || day > days_in_month(year, month) {
            return Err(DateError::Day);
        }
        Ok(Date { year, month, day })
    }

    /// Year.
    pub fn year(self) -> u16 {
        self.year
    }
    /// Month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }
    /// Day of the month, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Parses a full date in any form of [`PartialDate::parse`].
    ///
    /// # Errors
    /// As [`PartialDate::parse`], and [`DateError::NotFull`] for a year or year-month.
    pub fn parse(s: &str) -> Result<Date, DateError> {
        match PartialDate::parse(s)? {
            PartialDate::Full(d) => Ok(d),
            _ => Err(DateError::NotFull),
        }
    }
}

impl fmt::Display for Date {
    /// ISO 8601 `yyyy-mm-dd`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Date::parse(s)
    }
}

impl TryFrom<String> for Date {
    type Error = DateError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Date::parse(&s)
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

/// A birth date as a clinic recorded it: year only, year and month, or a full date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PartialDate {
    /// Year only.
    Year(u16),
    /// Year and month (1–12).
    YearMonth(u16, u8),
    /// Full date.
    Full(Date),
}

/// Parses 1–`max` ASCII digits.
fn number(s: &str, min_len: usize, max_len: usize) -> Result<u16, DateError> {
    if s.len() < min_len || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::Format);
    }
    s.parse().map_err(|_| DateError::Format)
}

impl PartialDate {
    /// Parses the forms of the module documentation (surrounding white space ignored).
    ///
    /// # Errors
    /// [`DateError::Format`] for another form; [`DateError::Year`], [`DateError::Month`],
    /// [`DateError::Day`] for values out of range.
    pub fn parse(s: &str) -> Result<PartialDate, DateError> {
        let s = s.trim();
        let month = |m: u16| {
            u8::try_from(m)
                .map_err(|_| DateError::Month)
                .and_then(check_month)
        };
        let day = |d: u16| u8::try_from(d).map_err(|_| DateError::Day);
        let sep = if s.contains('/') {
            Some('/')
        } else if s.contains('.') {
            Some('.')
        } else if s.split('-').next().is_some_and(|p| p.len() <= 2) && s.contains('-') {
            Some('-')
        } else {
            None
        };
        if let Some(sep) = sep {
            // Day-first forms: dd/mm/yyyy, mm/yyyy (also with '-' or '.').
            let parts: Vec<&str> = s.split(sep).collect();
            return match parts.as_slice() {
                [m, y] => {
                    let y = check_year(number(y, 4, 4)?)?;
                    Ok(PartialDate::YearMonth(y, month(number(m, 1, 2)?)?))
                }
                [d, m, y] => {
                    let y = number(y, 4, 4)?;
                    let (m, d) = (month(number(m, 1, 2)?)?, day(number(d, 1, 2)?)?);
                    Date::new(y, m, d).map(PartialDate::Full)
                }
                _ => Err(DateError::Format),
            };
        }
        let parts: Vec<&str> = s.split('-').collect();
        match parts.as_slice() {
            [y] => Ok(PartialDate::Year(check_year(number(y, 4, 4)?)?)),
            [y, m] => {
                let y = check_year(number(y, 4, 4)?)?;
                Ok(PartialDate::YearMonth(y, month(number(m, 2, 2)?)?))
            }
            [y, m, d] => {
                let y = number(y, 4, 4)?;
                let (m, d) = (month(number(m, 2, 2)?)?, day(number(d, 2, 2)?)?);
                Date::new(y, m, d).map(PartialDate::Full)
            }
            _ => Err(DateError::Format),
        }
    }

    /// The first day this date allows: `1992` → 1992-01-01, `1992-03` → 1992-03-01.
    pub fn earliest_day(self) -> Date {
        match self {
            PartialDate::Full(d) => d,
            // Day 1 exists in every valid month; a hand-built out-of-range value allows
            // any date.
            PartialDate::Year(year) => Date::new(year, 1, 1).unwrap_or(Date::MIN),
            PartialDate::YearMonth(year, month) => Date::new(year, month, 1).unwrap_or(Date::MIN),
        }
    }

    /// The year.
    pub fn year(self) -> u16 {
        match self {
            PartialDate::Year(y) | PartialDate::YearMonth(y, _) => y,
            PartialDate::Full(d) => d.year,
        }
    }

    /// Compares with the registry's full date.
    pub fn compare(self, registry: Date) -> DateComparison {
        match self {
            PartialDate::Full(d) if d == registry => DateComparison::Exact,
            PartialDate::Full(d)
                if d.year == registry.year
                    && d.day == registry.month
                    && d.month == registry.day =>
            {
                DateComparison::DayMonthSwapped
            }
            PartialDate::Year(y) if y == registry.year => DateComparison::RecordYearOnly,
            PartialDate::YearMonth(y, m) if y == registry.year && m == registry.month => {
                DateComparison::RecordYearMonthOnly
            }
            _ if self.year() != registry.year => DateComparison::YearDiffers,
            _ => DateComparison::Differs,
        }
    }
}

impl fmt::Display for PartialDate {
    /// ISO 8601 reduced precision: `yyyy`, `yyyy-mm`, `yyyy-mm-dd`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartialDate::Year(y) => write!(f, "{y:04}"),
            PartialDate::YearMonth(y, m) => write!(f, "{y:04}-{m:02}"),
            PartialDate::Full(d) => d.fmt(f),
        }
    }
}

impl FromStr for PartialDate {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartialDate::parse(s)
    }
}

impl TryFrom<String> for PartialDate {
    type Error = DateError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PartialDate::parse(&s)
    }
}

impl From<PartialDate> for String {
    fn from(d: PartialDate) -> String {
        d.to_string()
    }
}

impl From<Date> for PartialDate {
    fn from(d: Date) -> PartialDate {
        PartialDate::Full(d)
    }
}

/// How a record's (partial) birth date relates to the registry's full date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateComparison {
    /// The same full date.
    Exact,
    /// The record has only the year, and it agrees: the registry's date is used.
    RecordYearOnly,
    /// The record has only year and month, and they agree: the registry's date is used.
    RecordYearMonthOnly,
    /// Same year; day and month exchanged (a month-first date typed into a day-first form).
    DayMonthSwapped,
    /// Another birth year.
    YearDiffers,
    /// Same year, another month or day.
    Differs,
}

impl DateComparison {
    /// Whether the record's date is compatible with the registry's.
    pub fn is_compatible(self) -> bool {
        matches!(
            self,
            DateComparison::Exact
                | DateComparison::RecordYearOnly
                | DateComparison::RecordYearMonthOnly
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: u16, m: u8, day: u8) -> Date {
        Date::new(y, m, day).unwrap()
    }

    #[test]
    fn parse_table() {
        use PartialDate::*;
        let ok: &[(&str, PartialDate)] = &[
            ("1985", Year(1985)),
            (" 1985 ", Year(1985)),
            ("1985-04", YearMonth(1985, 4)),
            ("1985-04-12", Full(d(1985, 4, 12))),
            ("12/04/1985", Full(d(1985, 4, 12))),
            ("2/9/1945", Full(d(1945, 9, 2))),
            ("12-04-1985", Full(d(1985, 4, 12))),
            ("12.04.1985", Full(d(1985, 4, 12))),
            ("04/1985", YearMonth(1985, 4)),
            ("4/1985", YearMonth(1985, 4)),
            ("29/02/2000", Full(d(2000, 2, 29))),
            ("2004-02-29", Full(d(2004, 2, 29))),
        ];
        for &(s, want) in ok {
            assert_eq!(PartialDate::parse(s), Ok(want), "{s:?}");
        }
        let bad: &[(&str, DateError)] = &[
            ("", DateError::Format),
            ("85", DateError::Format),
            ("1985-4", DateError::Format),
            ("1985-04-1", DateError::Format),
            ("1985/04/12", DateError::Format),
            ("12/04/85", DateError::Format),
            ("1/2/3/1985", DateError::Format),
            ("abcd", DateError::Format),
            ("1985-13", DateError::Month),
            ("1985-00-10", DateError::Month),
            ("12/13/1985", DateError::Month),
            ("1985-04-31", DateError::Day),
            ("29/02/1900", DateError::Day),
            ("29/02/1985", DateError::Day),
            ("00/02/1985", DateError::Day),
            ("1799", DateError::Year),
            ("3000-01-01", DateError::Year),
        ];
        for &(s, want) in bad {
            assert_eq!(PartialDate::parse(s), Err(want), "{s:?}");
        }
        assert_eq!(Date::parse("1985"), Err(DateError::NotFull));
        assert_eq!(Date::parse("12/04/1985"), Ok(d(1985, 4, 12)));
    }

    #[test]
    fn display_round_trips() {
        for s in ["1985", "1985-04", "1985-04-12", "2000-02-29"] {
            assert_eq!(PartialDate::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn compare_table() {
        use DateComparison::*;
        let reg = d(1985, 4, 12);
        for (rec, want) in [
            ("1985-04-12", Exact),
            ("12/04/1985", Exact),
            ("1985", RecordYearOnly),
            ("1985-04", RecordYearMonthOnly),
            ("04/12/1985", DayMonthSwapped),
            ("1986", YearDiffers),
            ("1986-04-12", YearDiffers),
            ("1984-04", YearDiffers),
            ("1985-05", Differs),
            ("1985-04-13", Differs),
        ] {
            let got = PartialDate::parse(rec).unwrap().compare(reg);
            assert_eq!(got, want, "{rec}");
            assert_eq!(
                got.is_compatible(),
                matches!(want, Exact | RecordYearOnly | RecordYearMonthOnly)
            );
        }
    }

    #[test]
    fn leap_years() {
        assert!(
            is_leap_year(2000) && is_leap_year(1996) && !is_leap_year(1900) && !is_leap_year(2015)
        );
        assert_eq!(days_in_month(2016, 2), 29);
        assert_eq!(days_in_month(2015, 13), 0);
    }
}
