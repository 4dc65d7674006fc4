//! Instants as whole seconds since the Unix epoch, and the ISO 8601 / RFC 3339 forms HCERT uses.
//!
//! The verifier never reads the system clock itself: every check takes a [`Timestamp`] from the
//! caller (the CLI's `--at`, a test case's `VALIDATIONCLOCK`, or `Timestamp::now()` at the top).

use std::fmt;

/// An instant, in whole seconds since 1970-01-01T00:00:00Z (leap seconds ignored, as in CWT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a date or date-time string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ISO 8601 date-time ({reason}): {input:?}")]
pub struct TimeError {
    /// The text, cut to 40 characters.
    pub input: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl Timestamp {
    /// The instant `secs` seconds after the epoch.
    pub const fn from_unix_seconds(secs: i64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the epoch.
    pub const fn unix_seconds(self) -> i64 {
        self.0
    }

    /// The system clock, for use at the top of a program (never deep inside the library).
    pub fn now() -> Self {
        let secs = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        Timestamp(secs)
    }

    /// Midnight UTC at the start of a calendar date; `None` if the date does not exist.
    pub fn from_date(year: i64, month: u32, day: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Timestamp(days_from_civil(year, month, day) * 86_400))
    }

    /// Parses `YYYY-MM-DD` (as midnight UTC) or an ISO 8601 date-time
    /// `YYYY-MM-DDThh:mm[:ss[.fraction]][Z|±hh[:mm]|±hhmm]`.
    ///
    /// A date-time without an offset is read as UTC (as most `VALIDATIONCLOCK` values in the
    /// public test data need). A space is accepted in place of `T`. Fractions are truncated.
    ///
    /// # Errors
    /// [`TimeError`] when the text is not such a date or date-time, or names a day that does
    /// not exist.
    pub fn parse(input: &str) -> Result<Self, TimeError> {
        let err = |reason| TimeError {
            input: input.chars().take(40).collect(),
            reason,
        };
        let b = input.as_bytes();
        if b.len() < 10 || b.len() > 40 {
            return Err(err("wrong length"));
        }
        let year = digits(&b[0..4]).ok_or_else(|| err("year"))? as i64;
        if b[4] != b'-' || b[7] != b'-' {
            return Err(err("date separators"));
        }
        let month = digits(&b[5..7]).ok_or_else(|| err("month"))?;
        let day = digits(&b[8..10]).ok_or_else(|| err("day"))?;
        let date = Timestamp::from_date(year, month, day).ok_or_else(|| err("no such day"))?;
        if b.len() == 10 {
            return Ok(date);
        }
        if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
            return Err(err("expected T after the date"));
        }
        let rest = &b[11..];
        if rest.len() < 5 || rest[2] != b':' {
            return Err(err("time"));
        }
        let hour = digits(&rest[0..2]).ok_or_else(|| err("hour"))?;
        let minute = digits(&rest[3..5]).ok_or_else(|| err("minute"))?;
        let mut i = 5;
        let mut second = 0;
        if rest.get(i) == Some(&b':') {
            second = digits(rest.get(i + 1..i + 3).ok_or_else(|| err("second"))?)
                .ok_or_else(|| err("second"))?;
            i += 3;
            if rest.get(i) == Some(&b'.') || rest.get(i) == Some(&b',') {
                i += 1;
                let start = i;
                while rest.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                if i == start {
                    return Err(err("empty fraction"));
                }
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(err("time out of range"));
        }
        let offset = match &rest[i..] {
            [] | [b'Z'] | [b'z'] => 0,
            [sign @ (b'+' | b'-'), tail @ ..] => {
                let (h, m) = match tail {
                    [h1, h2] => (digits(&[*h1, *h2]), Some(0)),
                    [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                        (digits(&[*h1, *h2]), digits(&[*m1, *m2]))
                    }
                    _ => (None, None),
                };
                let (h, m) = h
                    .zip(m)
                    .filter(|(h, m)| *h < 24 && *m < 60)
                    .ok_or_else(|| err("offset"))?;
                let secs = i64::from(h * 3600 + m * 60);
                if *sign == b'-' { -secs } else { secs }
            }
            _ => return Err(err("trailing characters")),
        };
        let secs = date.0 + i64::from(hour * 3600 + minute * 60 + second.min(59)) - offset;
        Ok(Timestamp(secs))
    }

    /// The calendar date (year, month, day) in UTC.
    pub fn to_civil_date(self) -> (i64, u32, u32) {
        civil_from_days(self.0.div_euclid(86_400))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, e.g. `2021-06-01T12:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.to_civil_date();
        let s = self.0.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in a month (1-12) of a year.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm); `d` may run
/// past the end of the month.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_found_in_test_data() {
        let t = |s| Timestamp::parse(s).map(|t| t.unix_seconds());
        assert_eq!(t("1970-01-01"), Ok(0));
        assert_eq!(t("2021-06-01T12:00:00Z"), Ok(1_622_548_800));
        assert_eq!(t("2021-06-01T12:00:00"), Ok(1_622_548_800));
        assert_eq!(t("2021-06-01T14:00:00+02:00"), Ok(1_622_548_800));
        assert_eq!(t("2021-06-01T14:00:00+0200"), Ok(1_622_548_800));
        assert_eq!(t("2021-06-01T10:00:00-02"), Ok(1_622_548_800));
        assert_eq!(t("2021-06-01T12:00:00.123456789Z"), Ok(1_622_548_800));
        assert_eq!(t("2021-06-01T12:00Z"), Ok(1_622_548_800));
        assert_eq!(t("2000-02-29"), Ok(951_782_400));
        assert!(t("2021-02-29").is_err());
        assert!(t("2021-13-01").is_err());
        assert!(t("2021-06-01T25:00:00Z").is_err());
        assert!(t("2021-06-01T12:00:00Zjunk").is_err());
        assert!(t("2021-06-01T12:00:00.Z").is_err());
        assert!(t("").is_err());
    }

    #[test]
    fn civil_round_trip_and_display() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(
            Timestamp::from_unix_seconds(1_622_548_800).to_string(),
            "2021-06-01T12:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_seconds(-1).to_string(),
            "1969-12-31T23:59:59Z"
        );
    }
}
