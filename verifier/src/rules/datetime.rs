//! CertLogic date-times: parsing of the formats allowed by `plusTime` and `dccDateOfBirth`,
//! offsetting with JavaScript `Date` semantics, and the output format.
//!
//! A CertLogic date-time is an instant with millisecond precision (CertLogic 1.3.3, "Dates and
//! date-times"). The UTC offset of the input only moves the instant; all offsetting is done on the
//! UTC calendar (`setUTCFullYear`, `setUTCMonth`, `setUTCDate`, `setUTCHours`), so the offset
//! does not survive: a date-time prints as `YYYY-MM-DDThh:mm:ss.sssZ`, as JavaScript's
//! `Date.prototype.toISOString` does.

use crate::time::{civil_from_days, days_from_civil, days_in_month};
use std::fmt;

const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_HOUR: i64 = 3_600_000;
/// The range of a JavaScript `Date`: ±100,000,000 days around the epoch.
const MAX_MS: i64 = 8_640_000_000_000_000;

/// A CertLogic date-time: milliseconds since 1970-01-01T00:00:00.000Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(i64);

/// A `plusTime` time unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// `"year"`: `setUTCFullYear(getUTCFullYear() + n)`.
    Year,
    /// `"month"`: `setUTCMonth(getUTCMonth() + n)`.
    Month,
    /// `"day"`: `setUTCDate(getUTCDate() + n)`.
    Day,
    /// `"hour"`: `setUTCHours(getUTCHours() + n)`.
    Hour,
}

impl TimeUnit {
    /// The unit named by a `plusTime` operand, if it is one of the four allowed names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "year" => Some(TimeUnit::Year),
            "month" => Some(TimeUnit::Month),
            "day" => Some(TimeUnit::Day),
            "hour" => Some(TimeUnit::Hour),
            _ => None,
        }
    }
}

impl DateTime {
    /// The instant `ms` milliseconds after the epoch, if inside the range of a JavaScript `Date`.
    pub fn from_unix_millis(ms: i64) -> Option<Self> {
        (-MAX_MS..=MAX_MS).contains(&ms).then_some(DateTime(ms))
    }

    /// Milliseconds since the epoch.
    pub fn unix_millis(self) -> i64 {
        self.0
    }

    /// Parses a date or date-time in one of the formats `plusTime` allows (CertLogic 1.3.3):
    /// `YYYY`, `YYYY-MM` (both read as `dccDateOfBirth` does), `YYYY-MM-DD`, and
    /// `YYYY-MM-DDThh:mm:ss[.S…][Z|±h|±hh|±hmm|±hhmm|±h:mm|±hh:mm]`. A missing offset is `Z`;
    /// decimals beyond the third are dropped (rounding down). `None` for anything else,
    /// including dates that do not exist.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        match b.len() {
            0..=3 => return None,
            4 | 7 => return Self::parse_date_of_birth(s),
            _ => {}
        }
        if b.len() < 10 {
            return None;
        }
        let date_ms = date_only(&b[..10])?;
        if b.len() == 10 {
            return Some(DateTime(date_ms));
        }
        if b.len() < 19 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let hour = num(&b[11..13])?;
        let minute = num(&b[14..16])?;
        let second = num(&b[17..19])?;
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let mut i = 19;
        let mut millis = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 3 {
                    millis = millis * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let n = i - start;
            if n == 0 {
                return None;
            }
            for _ in n..3 {
                millis *= 10;
            }
        }
        let offset_minutes = parse_offset(&b[i..])?;
        let ms = date_ms + (hour * 3600 + minute * 60 + second) * 1000 + millis
            - offset_minutes * 60_000;
        DateTime::from_unix_millis(ms)
    }

    /// The `dccDateOfBirth` conversion (CertLogic 1.3.3): `YYYY` → 31 December, `YYYY-MM` → the
    /// last day of that month, `YYYY-MM-DD` → that day; always at `00:00:00.000Z`.
    pub fn parse_date_of_birth(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let year = |b: &[u8]| num(b.get(0..4)?);
        let ms = match b.len() {
            4 => days_from_civil(year(b)?, 12, 31) * MS_PER_DAY,
            7 if b[4] == b'-' => {
                let y = year(b)?;
                let m = u32::try_from(num(&b[5..7])?)
                    .ok()
                    .filter(|m| (1..=12).contains(m))?;
                days_from_civil(y, m, days_in_month(y, m)) * MS_PER_DAY
            }
            10 => date_only(b)?,
            _ => return None,
        };
        Some(DateTime(ms))
    }

    /// Offsets by `amount` units the way the JavaScript `Date` setters do on the UTC calendar:
    /// a day that does not exist in the target month overflows into the next one
    /// (2020-02-29 + 1 year = 2021-03-01; 2021-01-31 + 1 month = 2021-03-03). `None` when the
    /// result leaves the range of a JavaScript `Date`.
    pub fn plus(self, amount: i64, unit: TimeUnit) -> Option<Self> {
        let ms = match unit {
            TimeUnit::Hour => self.0.checked_add(amount.checked_mul(MS_PER_HOUR)?)?,
            TimeUnit::Day => self.0.checked_add(amount.checked_mul(MS_PER_DAY)?)?,
            TimeUnit::Month | TimeUnit::Year => {
                // Beyond this the result is out of range anyway; keeps the arithmetic small.
                if amount.unsigned_abs() > 4_000_000 {
                    return None;
                }
                let days = self.0.div_euclid(MS_PER_DAY);
                let time_of_day = self.0.rem_euclid(MS_PER_DAY);
                let (y, m, d) = civil_from_days(days);
                let months = if unit == TimeUnit::Month {
                    y * 12 + (m as i64 - 1) + amount
                } else {
                    (y + amount) * 12 + (m as i64 - 1)
                };
                let (ny, nm) = (months.div_euclid(12), months.rem_euclid(12) as u32 + 1);
                (days_from_civil(ny, nm, 1) + i64::from(d) - 1) * MS_PER_DAY + time_of_day
            }
        };
        DateTime::from_unix_millis(ms)
    }
}

impl fmt::Display for DateTime {
    /// `YYYY-MM-DDThh:mm:ss.sssZ` (JavaScript `toISOString`; years outside 0–9999 as `±YYYYYY`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0.div_euclid(MS_PER_DAY));
        let t = self.0.rem_euclid(MS_PER_DAY);
        if (0..=9999).contains(&y) {
            write!(f, "{y:04}")?;
        } else {
            write!(
                f,
                "{}{:06}",
                if y < 0 { '-' } else { '+' },
                y.unsigned_abs()
            )?;
        }
        write!(
            f,
            "-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            t / MS_PER_HOUR,
            t / 60_000 % 60,
            t / 1000 % 60,
            t % 1000
        )
    }
}

/// `YYYY-MM-DD` as milliseconds at midnight UTC.
fn date_only(b: &[u8]) -> Option<i64> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let m = u32::try_from(m).ok().filter(|m| (1..=12).contains(m))?;
    if d < 1 || d > i64::from(days_in_month(y, m)) {
        return None;
    }
    Some(days_from_civil(y, m, d as u32) * MS_PER_DAY)
}

/// `Z`, nothing, or `±h`, `±hh`, `±hmm`, `±hhmm`, `±h:mm`, `±hh:mm`, as minutes east of UTC.
fn parse_offset(b: &[u8]) -> Option<i64> {
    let (sign, rest) = match b {
        [] | [b'Z'] => return Some(0),
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    let (h, m) = match rest {
        [_] | [_, _] => (num(rest)?, 0),
        [h, m1, m2] => (num(&[*h])?, num(&[*m1, *m2])?),
        [h1, h2, m1, m2] if *h2 != b':' => (num(&[*h1, *h2])?, num(&[*m1, *m2])?),
        [h, b':', m1, m2] => (num(&[*h])?, num(&[*m1, *m2])?),
        [h1, h2, b':', m1, m2] => (num(&[*h1, *h2])?, num(&[*m1, *m2])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 60 + m))
}

/// A run of ASCII digits as a number (at most 4 digits are ever passed).
fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        DateTime::parse(s).map_or_else(|| "none".into(), |d| d.to_string())
    }

    fn plus(s: &str, n: i64, unit: &str) -> String {
        let unit = TimeUnit::from_name(unit).unwrap();
        DateTime::parse(s)
            .unwrap()
            .plus(n, unit)
            .unwrap()
            .to_string()
    }

    #[test]
    fn parses_every_allowed_format() {
        assert_eq!(iso("2021"), "2021-12-31T00:00:00.000Z");
        assert_eq!(iso("2020-02"), "2020-02-29T00:00:00.000Z");
        assert_eq!(iso("2021-06-01"), "2021-06-01T00:00:00.000Z");
        assert_eq!(iso("2021-06-01T12:34:56"), "2021-06-01T12:34:56.000Z");
        assert_eq!(iso("2021-06-01T12:34:56Z"), "2021-06-01T12:34:56.000Z");
        assert_eq!(iso("2021-06-01T12:34:56+2"), "2021-06-01T10:34:56.000Z");
        assert_eq!(iso("2021-06-01T12:34:56-02"), "2021-06-01T14:34:56.000Z");
        assert_eq!(iso("2021-06-01T12:34:56+130"), "2021-06-01T11:04:56.000Z");
        assert_eq!(iso("2021-06-01T12:34:56+0130"), "2021-06-01T11:04:56.000Z");
        assert_eq!(iso("2021-06-01T12:34:56+1:30"), "2021-06-01T11:04:56.000Z");
        assert_eq!(iso("2021-06-01T12:34:56+01:30"), "2021-06-01T11:04:56.000Z");
        assert_eq!(iso("2021-06-01T12:34:56.5"), "2021-06-01T12:34:56.500Z");
        assert_eq!(
            iso("2021-06-01T12:34:56.98765Z"),
            "2021-06-01T12:34:56.987Z"
        );
        assert_eq!(
            iso("2021-06-01T00:00:00.1-01:00"),
            "2021-06-01T01:00:00.100Z"
        );
        assert_eq!(iso("2021-01-01T00:30:00+01:00"), "2020-12-31T23:30:00.000Z");
        for bad in [
            "",
            "202",
            "21-06-01",
            "2021-6-01",
            "2021-13",
            "2021-02-29",
            "2021-09-99",
            "2021-06-01T",
            "2021-06-01T12:34",
            "2021-06-01 12:34:56",
            "2021-06-01T24:00:00",
            "2021-06-01T12:34:56.",
            "2021-06-01T12:34:56+",
            "2021-06-01T12:34:56+12345",
            "2021-06-01T12:34:56z",
            "2021-06-01T12:34:56Zx",
            "20x1",
            "2021-00",
        ] {
            assert_eq!(iso(bad), "none", "{bad}");
        }
    }

    #[test]
    fn offsets_like_javascript_dates() {
        // The leap-day table of the specification.
        assert_eq!(plus("2020-02-29", 1, "day"), "2020-03-01T00:00:00.000Z");
        assert_eq!(plus("2020-02-29", 1, "month"), "2020-03-29T00:00:00.000Z");
        assert_eq!(plus("2020-02-29", 1, "year"), "2021-03-01T00:00:00.000Z");
        assert_eq!(plus("2021-01-31", 1, "month"), "2021-03-03T00:00:00.000Z");
        assert_eq!(plus("2021-03-31", -1, "month"), "2021-03-03T00:00:00.000Z");
        assert_eq!(
            plus("2021-01-15T10:00:00Z", -13, "month"),
            "2019-12-15T10:00:00.000Z"
        );
        assert_eq!(
            plus("2021-06-01T00:00:00Z", 40, "hour"),
            "2021-06-02T16:00:00.000Z"
        );
        assert_eq!(
            plus("2021-06-01T00:00:00Z", -180, "day"),
            "2020-12-03T00:00:00.000Z"
        );
        assert_eq!(plus("2004-01", 18, "year"), "2022-01-31T00:00:00.000Z");
        // The offset is applied first; the arithmetic is on the UTC calendar.
        assert_eq!(
            plus("2021-02-01T00:30:00+01:00", 1, "month"),
            "2021-03-03T23:30:00.000Z"
        );
        let max = DateTime::parse("9999-12-31").unwrap();
        assert!(max.plus(i64::MAX, TimeUnit::Hour).is_none());
        assert!(max.plus(300_000, TimeUnit::Year).is_none());
        assert!(max.plus(i64::MIN, TimeUnit::Month).is_none());
        assert_eq!(
            max.plus(10_000, TimeUnit::Year).unwrap().to_string(),
            "+019999-12-31T00:00:00.000Z"
        );
    }

    #[test]
    fn calendar_round_trip() {
        for days in (-3_000_000..3_000_000).step_by(331) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
