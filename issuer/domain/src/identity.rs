//! Identity document numbers: CCCD (12 digits), CMND (9 digits) and foreign passports.
//!
//! # CCCD — Căn cước công dân (citizen identity card, personal identification number)
//!
//! Circular 07/2016/TT-BCA, Article 7 (implementing the Law on Citizen Identification 2014) fixes
//! the 12 digits of the personal identification number printed on the CCCD:
//!
//! | digits | meaning |
//! |---|---|
//! | 1–3 | code of the province or centrally-governed city where the birth was registered (Annex 1 of the Circular: 63 codes, `001` Hà Nội … `096` Cà Mau, see [`PROVINCES`]) |
//! | 4 | century of birth and sex: `0` male / `1` female born 1900–1999, `2`/`3` 2000–2099, `4`/`5` 2100–2199, `6`/`7` 2200–2299, `8`/`9` 2300–2399 |
//! | 5–6 | last two digits of the year of birth |
//! | 7–12 | random serial |
//!
//! There is no check digit: a mistyped serial digit can only be caught by the registry lookup,
//! but a mistyped province, century/sex or year digit is caught by [`Cccd::from_digits`] (unknown
//! province) or by [`Cccd::consistency`] against the record's own birth year and sex.
//!
//! # CMND — Chứng minh nhân dân (the old identity card)
//!
//! 9 digits; no internal structure is checked beyond that.
//!
//! # Passports of foreign citizens
//!
//! Letters and digits. They are not in the national population registry, so they are never
//! cross-checked: matching returns [`crate::matching::MatchResult::ForeignPassport`], which the
//! service routes to a separate, manual verification path.
//!
//! # Normalisation
//!
//! Clinics type numbers as `079 085 012 345`, `079.085.012.345`, `079-085-012345`, sometimes with
//! full-width digits from an East Asian input method (`０７９…`). [`IdNumber::parse_national`]
//! and [`IdNumber::parse_passport`] remove white space, dots and dashes and map full-width digits
//! and letters to ASCII before anything is checked.
//!
//! No error of this module carries the ID number itself: they are safe to log.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The 63 province / centrally-governed city codes of Annex 1 of Circular 07/2016/TT-BCA
/// ("Danh mục mã tỉnh, thành phố trực thuộc trung ương nơi công dân đăng ký khai sinh"),
/// sorted by code.
pub const PROVINCES: [(u16, &str); 63] = [
    (1, "Hà Nội"),
    (2, "Hà Giang"),
    (4, "Cao Bằng"),
    (6, "Bắc Kạn"),
    (8, "Tuyên Quang"),
    (10, "Lào Cai"),
    (11, "Điện Biên"),
    (12, "Lai Châu"),
    (14, "Sơn La"),
    (15, "Yên Bái"),
    (17, "Hòa Bình"),
    (19, "Thái Nguyên"),
    (20, "Lạng Sơn"),
    (22, "Quảng Ninh"),
    (24, "Bắc Giang"),
    (25, "Phú Thọ"),
    (26, "Vĩnh Phúc"),
    (27, "Bắc Ninh"),
    (30, "Hải Dương"),
    (31, "Hải Phòng"),
    (33, "Hưng Yên"),
    (34, "Thái Bình"),
    (35, "Hà Nam"),
    (36, "Nam Định"),
    (37, "Ninh Bình"),
    (38, "Thanh Hóa"),
    (40, "Nghệ An"),
    (42, "Hà Tĩnh"),
    (44, "Quảng Bình"),
    (45, "Quảng Trị"),
    (46, "Thừa Thiên Huế"),
    (48, "Đà Nẵng"),
    (49, "Quảng Nam"),
    (51, "Quảng Ngãi"),
    (52, "Bình Định"),
    (54, "Phú Yên"),
    (56, "Khánh Hòa"),
    (58, "Ninh Thuận"),
    (60, "Bình Thuận"),
    (62, "Kon Tum"),
    (64, "Gia Lai"),
    (66, "Đắk Lắk"),
    (67, "Đắk Nông"),
    (68, "Lâm Đồng"),
    (70, "Bình Phước"),
    (72, "Tây Ninh"),
    (74, "Bình Dương"),
    (75, "Đồng Nai"),
    (77, "Bà Rịa - Vũng Tàu"),
    (79, "Hồ Chí Minh"),
    (80, "Long An"),
    (82, "Tiền Giang"),
    (83, "Bến Tre"),
    (84, "Trà Vinh"),
    (86, "Vĩnh Long"),
    (87, "Đồng Tháp"),
    (89, "An Giang"),
    (91, "Kiên Giang"),
    (92, "Cần Thơ"),
    (93, "Hậu Giang"),
    (94, "Sóc Trăng"),
    (95, "Bạc Liêu"),
    (96, "Cà Mau"),
];

/// The name of a province code of [`PROVINCES`], `None` if the code is not in the list.
pub fn province_name(code: u16) -> Option<&'static str> {
    PROVINCES
        .binary_search_by_key(&code, |&(c, _)| c)
        .ok()
        .and_then(|i| PROVINCES.get(i))
        .map(|&(_, name)| name)
}

/// Sex as recorded in the registry and encoded in the CCCD's 4th digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Nam.
    Male,
    /// Nữ.
    Female,
}

impl Sex {
    /// Parses `M`/`F`, `male`/`female`, `nam`/`nữ` (any case).
    pub fn parse(s: &str) -> Option<Sex> {
        let s = s.trim().to_lowercase();
        match s.as_str() {
            "m" | "male" | "nam" => Some(Sex::Male),
            "f" | "female" | "nữ" | "nu" => Some(Sex::Female),
            _ => None,
        }
    }

    /// `M` or `F`, as written in registry CSV files.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sex::Male => "male",
            Sex::Female => "female",
        })
    }
}

/// Why a text is not a valid ID number. Never contains the number itself (safe to log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Nothing left after removing spaces, dots and dashes.
    #[error("the ID number is empty")]
    Empty,
    /// A national ID (CCCD/CMND) holds digits only.
    #[error(
        "the ID number has a character that is not a digit at position {position}{}",
        if *lookalike { " (a letter O, I or l typed for a digit 0 or 1?)" } else { "" }
    )]
    NotDigits {
        /// 1-based position in the normalised number.
        position: usize,
        /// The character is O, I or l, which people type for 0 and 1.
        lookalike: bool,
    },
    /// Neither 12 (CCCD) nor 9 (CMND) digits.
    #[error("the ID number has {digits} digits; a CCCD has 12 and a CMND 9")]
    WrongLength {
        /// Number of digits found.
        digits: usize,
    },
    /// The first three digits of a CCCD are not in [`PROVINCES`].
    #[error(
        "the first three digits ({code:03}) are not a province code (Circular 07/2016/TT-BCA, Annex 1)"
    )]
    UnknownProvince {
        /// The code found.
        code: u16,
    },
    /// A passport number must be 5–20 letters and digits.
    #[error("a passport number must be 5 to 20 letters and digits")]
    PassportFormat,
}

/// Removes white space, dots and dashes; maps full-width digits and letters to ASCII and letters
/// to upper case. Returns the position (1-based, among kept characters) of anything else.
fn normalise(raw: &str) -> Result<String, usize> {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = match c {
            '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                // Full-width forms sit at a fixed offset from ASCII.
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            c if c.is_whitespace() => continue,
            '.' | '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}' | '\u{FF0E}' => continue,
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else {
            return Err(out.chars().count() + 1);
        }
    }
    Ok(out)
}

/// The century encoded with the sex in the CCCD's 4th digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Century {
    /// First year of the century: 1900, 2000, 2100, 2200 or 2300.
    pub first_year: u16,
}

impl Century {
    /// Whether `year` lies in this century.
    pub fn contains(self, year: u16) -> bool {
        year >= self.first_year && year - self.first_year < 100
    }
}

impl fmt::Display for Century {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.first_year, self.first_year + 99)
    }
}

/// A parsed, structurally valid CCCD number (see the module documentation for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cccd {
    /// Digits 1–3: province code of birth registration, one of [`PROVINCES`].
    pub province: u16,
    /// Digit 4: century of birth and sex.
    pub century_sex_digit: u8,
    /// Digits 5–6: last two digits of the birth year.
    pub year2: u8,
    /// Digits 7–12: random serial (0–999 999).
    pub serial: u32,
}

/// A way in which a CCCD's digits disagree with a record's own birth year or sex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CccdInconsistency {
    /// The 4th digit encodes the other sex.
    Sex {
        /// The 4th digit.
        digit: u8,
        /// Sex encoded by the digit.
        id_sex: Sex,
        /// Century encoded by the digit.
        id_century: Century,
        /// Sex on the record.
        record_sex: Sex,
    },
    /// The 4th digit encodes another century than the record's birth year.
    Century {
        /// The 4th digit.
        digit: u8,
        /// Sex encoded by the digit.
        id_sex: Sex,
        /// Century encoded by the digit.
        id_century: Century,
        /// Birth year on the record.
        record_year: u16,
    },
    /// Digits 5–6 disagree with the record's birth year.
    Year {
        /// Digits 5–6.
        year2: u8,
        /// Birth year on the record.
        record_year: u16,
    },
}

impl fmt::Display for CccdInconsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CccdInconsistency::Sex {
                digit,
                id_sex,
                id_century,
                record_sex,
            } => write!(
                f,
                "the 4th digit ({digit}) says {id_sex} born {id_century}, but the record says {record_sex}"
            ),
            CccdInconsistency::Century {
                digit,
                id_sex,
                id_century,
                record_year,
            } => write!(
                f,
                "the 4th digit ({digit}) says {id_sex} born {id_century}, but the record's birth year is {record_year}"
            ),
            CccdInconsistency::Year { year2, record_year } => write!(
                f,
                "digits 5–6 ({year2:02}) are the last two digits of the birth year, but the record's birth year is {record_year}"
            ),
        }
    }
}

impl CccdInconsistency {
    /// The same sentence without the digits, sex or year (for logs).
    pub fn redacted(&self) -> &'static str {
        match self {
            CccdInconsistency::Sex { .. } => "century/sex digit disagrees with the record's sex",
            CccdInconsistency::Century { .. } => {
                "century/sex digit disagrees with the record's birth year"
            }
            CccdInconsistency::Year { .. } => "year digits disagree with the record's birth year",
        }
    }
}

impl Cccd {
    /// Parses 12 ASCII digits (already normalised).
    ///
    /// # Errors
    /// [`IdError::WrongLength`], [`IdError::NotDigits`], [`IdError::UnknownProvince`].
    pub fn from_digits(digits: &str) -> Result<Cccd, IdError> {
        let b = digits.as_bytes();
        if b.len() != 12 {
            return Err(IdError::WrongLength { digits: b.len() });
        }
        if let Some(p) = b.iter().position(|c| !c.is_ascii_digit()) {
            return Err(IdError::NotDigits {
                position: p + 1,
                lookalike: false,
            });
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
        };
        let province = num(0..3) as u16;
        if province_name(province).is_none() {
            return Err(IdError::UnknownProvince { code: province });
        }
        Ok(Cccd {
            province,
            century_sex_digit: b[3] - b'0',
            year2: num(4..6) as u8,
            serial: num(6..12),
        })
    }

    /// Builds the CCCD of a person born in `birth_year` (1900–2399) with the given sex.
    /// Returns `None` if the province is not in [`PROVINCES`], the year is out of range or the
    /// serial has more than 6 digits.
    pub fn new(province: u16, sex: Sex, birth_year: u16, serial: u32) -> Option<Cccd> {
        if province_name(province).is_none() || !(1900..2400).contains(&birth_year) {
            return None;
        }
        if serial > 999_999 {
            return None;
        }
        let century_index = ((birth_year - 1900) / 100) as u8;
        let sex_bit = match sex {
            Sex::Male => 0,
            Sex::Female => 1,
        };
        Some(Cccd {
            province,
            century_sex_digit: century_index * 2 + sex_bit,
            year2: (birth_year % 100) as u8,
            serial,
        })
    }

    /// Sex encoded by the 4th digit (even: male, odd: female).
    pub fn sex(&self) -> Sex {
        if self.century_sex_digit % 2 == 0 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Century encoded by the 4th digit.
    pub fn century(&self) -> Century {
        Century {
            first_year: 1900 + 100 * u16::from(self.century_sex_digit / 2),
        }
    }

    /// Birth year encoded by digits 4–6.
    pub fn birth_year(&self) -> u16 {
        self.century().first_year + u16::from(self.year2)
    }

    /// Name of the province of birth registration.
    pub fn province_name(&self) -> &'static str {
        province_name(self.province).unwrap_or("?")
    }

    /// Checks the 4th–6th digits against a record's sex and (if known) birth year; empty when
    /// consistent. The century is checked before the year digits: a wrong century makes the
    /// year digits meaningless to compare.
    pub fn consistency(&self, birth_year: Option<u16>, sex: Sex) -> Vec<CccdInconsistency> {
        let mut out = Vec::new();
        let (digit, id_sex, id_century) = (self.century_sex_digit, self.sex(), self.century());
        if id_sex != sex {
            out.push(CccdInconsistency::Sex {
                digit,
                id_sex,
                id_century,
                record_sex: sex,
            });
        }
        if let Some(year) = birth_year {
            if !id_century.contains(year) {
                out.push(CccdInconsistency::Century {
                    digit,
                    id_sex,
                    id_century,
                    record_year: year,
                });
            } else if u16::from(self.year2) != year % 100 {
                out.push(CccdInconsistency::Year {
                    year2: self.year2,
                    record_year: year,
                });
            }
        }
        out
    }
}

impl fmt::Display for Cccd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:03}{}{:02}{:06}",
            self.province, self.century_sex_digit, self.year2, self.serial
        )
    }
}

/// An old 9-digit CMND number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cmnd(u32);

impl Cmnd {
    /// From its numeric value (0–999 999 999); `None` if larger.
    pub fn new(value: u32) -> Option<Cmnd> {
        (value <= 999_999_999).then_some(Cmnd(value))
    }

    /// The numeric value (leading zeros are significant in the written form: see `Display`).
    pub fn value(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Cmnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:09}", self.0)
    }
}

/// A foreign citizen's passport number (upper-case letters and digits, 5–20 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Passport(String);

impl Passport {
    /// The normalised number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Passport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which kind of document the clinic's form says the number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// A Vietnamese citizen's CCCD (12 digits) or CMND (9 digits), told apart by length.
    #[default]
    National,
    /// A foreign citizen's passport: not in the national registry, verified manually.
    ForeignPassport,
}

/// A normalised, structurally valid identity document number.
///
/// The kind is chosen by the form (see [`IdKind`]), never guessed from the characters: some
/// countries issue all-digit passports that would look like a CMND, and a CCCD typed with a
/// letter O for a zero must be reported as a typing error, not become a passport.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum IdNumber {
    /// 12-digit CCCD.
    Cccd(Cccd),
    /// 9-digit CMND.
    Cmnd(Cmnd),
    /// Foreign passport.
    Passport(Passport),
}

impl IdNumber {
    /// Parses a number of the given kind.
    ///
    /// # Errors
    /// See [`IdNumber::parse_national`] and [`IdNumber::parse_passport`].
    pub fn parse(raw: &str, kind: IdKind) -> Result<IdNumber, IdError> {
        match kind {
            IdKind::National => IdNumber::parse_national(raw),
            IdKind::ForeignPassport => IdNumber::parse_passport(raw),
        }
    }

    /// Parses a CCCD (12 digits) or CMND (9 digits) after normalisation.
    ///
    /// # Errors
    /// [`IdError::Empty`], [`IdError::NotDigits`] (with a hint for O/I/l typed for 0/1),
    /// [`IdError::WrongLength`], [`IdError::UnknownProvince`].
    pub fn parse_national(raw: &str) -> Result<IdNumber, IdError> {
        let s = normalise(raw).map_err(|position| IdError::NotDigits {
            position,
            lookalike: false,
        })?;
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if let Some((i, c)) = s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(IdError::NotDigits {
                position: i + 1,
                lookalike: matches!(c, 'O' | 'I' | 'L'),
            });
        }
        match s.len() {
            12 => Cccd::from_digits(&s).map(IdNumber::Cccd),
            9 => s
                .parse::<u32>()
                .ok()
                .and_then(Cmnd::new)
                .map(IdNumber::Cmnd)
                .ok_or(IdError::WrongLength { digits: 9 }),
            n => Err(IdError::WrongLength { digits: n }),
        }
    }

    /// Parses a foreign passport number: 5–20 letters and digits after normalisation.
    ///
    /// # Errors
    /// [`IdError::Empty`], [`IdError::PassportFormat`].
    pub fn parse_passport(raw: &str) -> Result<IdNumber, IdError> {
        let s = normalise(raw).map_err(|_| IdError::PassportFormat)?;
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if !(5..=20).contains(&s.len()) {
            return Err(IdError::PassportFormat);
        }
        Ok(IdNumber::Passport(Passport(s)))
    }

    /// The kind of document.
    pub fn kind(&self) -> IdKind {
        match self {
            IdNumber::Passport(_) => IdKind::ForeignPassport,
            _ => IdKind::National,
        }
    }

    /// The CCCD, if this is one.
    pub fn as_cccd(&self) -> Option<&Cccd> {
        match self {
            IdNumber::Cccd(c) => Some(c),
            _ => None,
        }
    }

    /// A short description of the kind for messages: "CCCD", "CMND", "passport".
    pub fn kind_name(&self) -> &'static str {
        match self {
            IdNumber::Cccd(_) => "CCCD",
            IdNumber::Cmnd(_) => "CMND",
            IdNumber::Passport(_) => "passport",
        }
    }
}

impl fmt::Display for IdNumber {
    /// The canonical written form: digits only (CCCD, CMND), upper case (passport).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdNumber::Cccd(c) => c.fmt(f),
            IdNumber::Cmnd(c) => c.fmt(f),
            IdNumber::Passport(p) => p.fmt(f),
        }
    }
}

impl FromStr for IdNumber {
    type Err = IdError;
    /// Parses a national number (CCCD or CMND); passports need [`IdNumber::parse_passport`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdNumber::parse_national(s)
    }
}

impl TryFrom<String> for IdNumber {
    type Error = IdError;
    /// Serde form: a national number as digits, a passport as `P:` followed by the number.
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.strip_prefix("P:") {
            Some(p) => IdNumber::parse_passport(p),
            None => IdNumber::parse_national(&s),
        }
    }
}

impl From<IdNumber> for String {
    fn from(id: IdNumber) -> String {
        match id {
            IdNumber::Passport(p) => format!("P:{p}"),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn province_list_is_the_circulars() {
        assert_eq!(PROVINCES.len(), 63);
        assert!(
            PROVINCES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        assert_eq!(province_name(1), Some("Hà Nội"));
        assert_eq!(province_name(79), Some("Hồ Chí Minh"));
        assert_eq!(province_name(48), Some("Đà Nẵng"));
        assert_eq!(province_name(96), Some("Cà Mau"));
        for gap in [
            0, 3, 5, 7, 9, 13, 16, 18, 21, 23, 28, 29, 32, 39, 41, 97, 99, 100,
        ] {
            assert_eq!(province_name(gap), None, "{gap:03}");
        }
    }

    #[test]
    fn cccd_table() {
        // (input, province, digit, year2, serial, sex, first year of century)
        let ok: &[(&str, u16, u8, u8, u32, Sex, u16)] = &[
            ("001085012345", 1, 0, 85, 12345, Sex::Male, 1900),
            ("079185000001", 79, 1, 85, 1, Sex::Female, 1900),
            ("048203999999", 48, 2, 3, 999_999, Sex::Male, 2000),
            ("096315123456", 96, 3, 15, 123_456, Sex::Female, 2000),
            ("031430000000", 31, 4, 30, 0, Sex::Male, 2100),
            ("031530000000", 31, 5, 30, 0, Sex::Female, 2100),
            ("031600000000", 31, 6, 0, 0, Sex::Male, 2200),
            ("031700000000", 31, 7, 0, 0, Sex::Female, 2200),
            ("031800000000", 31, 8, 0, 0, Sex::Male, 2300),
            ("031999000000", 31, 9, 99, 0, Sex::Female, 2300),
            ("079 085 012 345", 79, 0, 85, 12345, Sex::Male, 1900),
            ("079.085.012.345", 79, 0, 85, 12345, Sex::Male, 1900),
            ("079-085-012345", 79, 0, 85, 12345, Sex::Male, 1900),
            (
                "\u{FF10}\u{FF17}\u{FF19}０８５０１２３４５",
                79,
                0,
                85,
                12345,
                Sex::Male,
                1900,
            ),
            ("\t079085012345\u{A0}", 79, 0, 85, 12345, Sex::Male, 1900),
        ];
        for &(input, province, digit, year2, serial, sex, first_year) in ok {
            let id = IdNumber::parse_national(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            let c = *id.as_cccd().unwrap();
            assert_eq!(
                (c.province, c.century_sex_digit, c.year2, c.serial),
                (province, digit, year2, serial),
                "{input}"
            );
            assert_eq!(c.sex(), sex, "{input}");
            assert_eq!(c.century().first_year, first_year, "{input}");
            assert_eq!(c.birth_year(), first_year + u16::from(year2));
            assert_eq!(Cccd::new(province, sex, c.birth_year(), serial), Some(c));
            assert_eq!(IdNumber::parse_national(&id.to_string()), Ok(id.clone()));
        }
        let bad: &[(&str, IdError)] = &[
            ("", IdError::Empty),
            (" - . ", IdError::Empty),
            ("000085012345", IdError::UnknownProvince { code: 0 }),
            ("003085012345", IdError::UnknownProvince { code: 3 }),
            ("097085012345", IdError::UnknownProvince { code: 97 }),
            ("999085012345", IdError::UnknownProvince { code: 999 }),
            ("07908501234", IdError::WrongLength { digits: 11 }),
            ("0790850123456", IdError::WrongLength { digits: 13 }),
            ("12345678", IdError::WrongLength { digits: 8 }),
            (
                "079O85012345",
                IdError::NotDigits {
                    position: 4,
                    lookalike: true,
                },
            ),
            (
                "07908501234l",
                IdError::NotDigits {
                    position: 12,
                    lookalike: true,
                },
            ),
            (
                "07908501234X",
                IdError::NotDigits {
                    position: 12,
                    lookalike: false,
                },
            ),
            (
                "079/085012345",
                IdError::NotDigits {
                    position: 4,
                    lookalike: false,
                },
            ),
        ];
        for (input, err) in bad {
            assert_eq!(
                IdNumber::parse_national(input).as_ref(),
                Err(err),
                "{input:?}"
            );
        }
    }

    #[test]
    fn every_province_code_parses() {
        for &(code, _) in &PROVINCES {
            let s = format!("{code:03}085012345");
            assert!(IdNumber::parse_national(&s).is_ok(), "{s}");
        }
    }

    #[test]
    fn cccd_consistency_table() {
        let id = |s: &str| *IdNumber::parse_national(s).unwrap().as_cccd().unwrap();
        // Consistent.
        assert!(
            id("001085012345")
                .consistency(Some(1985), Sex::Male)
                .is_empty()
        );
        assert!(
            id("001185012345")
                .consistency(Some(1985), Sex::Female)
                .is_empty()
        );
        assert!(
            id("001205012345")
                .consistency(Some(2005), Sex::Male)
                .is_empty()
        );
        assert!(
            id("001315012345")
                .consistency(Some(2015), Sex::Female)
                .is_empty()
        );
        assert!(id("001085012345").consistency(None, Sex::Male).is_empty());
        // Sex.
        let r = id("001185012345").consistency(Some(1985), Sex::Male);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].to_string(),
            "the 4th digit (1) says female born 1900–1999, but the record says male"
        );
        // Century.
        let r = id("001003012345").consistency(Some(2003), Sex::Male);
        assert_eq!(
            r[0].to_string(),
            "the 4th digit (0) says male born 1900–1999, but the record's birth year is 2003"
        );
        // Year digits.
        let r = id("001085012345").consistency(Some(1986), Sex::Male);
        assert_eq!(
            r[0].to_string(),
            "digits 5–6 (85) are the last two digits of the birth year, but the record's birth year is 1986"
        );
        // Sex and century both wrong: two reasons, year digits not compared.
        let r = id("001285012345").consistency(Some(1985), Sex::Female);
        assert_eq!(r.len(), 2);
        assert!(matches!(r[0], CccdInconsistency::Sex { .. }));
        assert!(matches!(r[1], CccdInconsistency::Century { .. }));
    }

    #[test]
    fn cmnd_and_passport() {
        assert_eq!(
            IdNumber::parse_national("012345678").map(|i| i.to_string()),
            Ok("012345678".into())
        );
        assert_eq!(
            IdNumber::parse_national("012 345 678").map(|i| i.kind_name()),
            Ok("CMND")
        );
        assert_eq!(
            IdNumber::parse_passport("c 1234567").map(|i| i.to_string()),
            Ok("C1234567".into())
        );
        assert_eq!(
            IdNumber::parse_passport("123456789").map(|i| i.kind()),
            Ok(IdKind::ForeignPassport)
        );
        assert_eq!(
            IdNumber::parse_passport("AB1"),
            Err(IdError::PassportFormat)
        );
        assert_eq!(
            IdNumber::parse_passport("AB12#45"),
            Err(IdError::PassportFormat)
        );
        // Serde form round trip.
        for id in [
            IdNumber::parse_national("079085012345").unwrap(),
            IdNumber::parse_national("012345678").unwrap(),
            IdNumber::parse_passport("X9876543").unwrap(),
        ] {
            assert_eq!(IdNumber::try_from(String::from(id.clone())), Ok(id));
        }
    }

    #[test]
    fn errors_never_contain_the_number() {
        for input in [
            "07908501234",
            "079O85012345",
            "003085012345",
            "0790850123456",
        ] {
            let e = IdNumber::parse_national(input).unwrap_err();
            for text in [e.to_string(), format!("{e:?}")] {
                assert!(!text.contains(&input[4..]), "{text}");
            }
        }
    }

    #[test]
    fn sex_parsing() {
        for (s, sex) in [
            ("M", Sex::Male),
            ("f", Sex::Female),
            ("Nam", Sex::Male),
            ("Nữ", Sex::Female),
            (" female ", Sex::Female),
        ] {
            assert_eq!(Sex::parse(s), Some(sex), "{s}");
        }
        assert_eq!(Sex::parse("x"), None);
    }
}
