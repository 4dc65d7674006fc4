//! The QR code on the back of a CCCD card (the citizen identity card), as a typing aid for
//! the intake form: never proof of anything, since anyone can print such a code. What it
//! says is shown to the staff member, who checks it against the card before it is used.
//!
//! The text is `CCCD|old CMND|full name|ddmmyyyy|sex|address|issue date ddmmyyyy`: seven
//! fields, or six on cards that leave the issue date out; the old CMND number may be empty.
//! [`parse`] reads it defensively: bounded length, control characters refused, the name
//! NFC-normalised with its spacing collapsed, every date checked against the calendar, the
//! sex `Nam` or `Nữ` in any case and normalisation form.

use unicode_normalization::UnicodeNormalization;
use vaxpass_issuer_domain::dates::Date;
use vaxpass_issuer_domain::identity::Cccd;
use vaxpass_issuer_domain::names::normalise_spacing;

/// Longest QR text looked at, in bytes (a real card's text is about 150).
pub const MAX_TEXT_BYTES: usize = 1024;
/// Longest full name kept, in characters (the intake form's limit).
pub const MAX_NAME_CHARS: usize = 180;
/// Longest address kept, in characters.
pub const MAX_ADDRESS_CHARS: usize = 300;

/// What a CCCD card's QR code says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CccdCard {
    /// The 12-digit CCCD number.
    pub cccd: String,
    /// The 9-digit CMND the person had before, if the card names one.
    pub old_cmnd: Option<String>,
    /// The full name, NFC, single spaces.
    pub full_name: String,
    /// Date of birth.
    pub date_of_birth: Date,
    /// `M` or `F`.
    pub sex: &'static str,
    /// The address on the card (shown, never stored).
    pub address: String,
    /// The card's date of issue, on seven-field codes.
    pub issued: Option<Date>,
}

/// Why a text is not a CCCD card's QR code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CccdError {
    /// Longer than [`MAX_TEXT_BYTES`].
    #[error("the QR text is {len} bytes, more than a CCCD card's ({MAX_TEXT_BYTES} at most)")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not six or seven `|`-separated fields.
    #[error("the QR text has {fields} fields separated by '|'; a CCCD card's has 6 or 7")]
    Fields {
        /// How many it has.
        fields: usize,
    },
    /// A control character (other than a final line break).
    #[error("the QR text holds a control character")]
    Control,
    /// The first field is not a valid 12-digit CCCD number.
    #[error("the first field is not a 12-digit CCCD number")]
    Cccd,
    /// The second field is neither empty nor a 9- or 12-digit number.
    #[error("the second field is not an old CMND number (9 digits) or empty")]
    OldId,
    /// The name is empty or too long.
    #[error("the name is empty or longer than {MAX_NAME_CHARS} characters")]
    Name,
    /// A date that is not `ddmmyyyy` of a real day.
    #[error("the {field} is not a date written ddmmyyyy")]
    Date {
        /// Which one (`date of birth`, `issue date`).
        field: &'static str,
    },
    /// The sex is neither `Nam` nor `Nữ`.
    #[error("the sex is neither 'Nam' nor 'Nữ'")]
    Sex,
    /// The address is longer than [`MAX_ADDRESS_CHARS`].
    #[error("the address is longer than {MAX_ADDRESS_CHARS} characters")]
    Address,
}

/// A `ddmmyyyy` date.
fn date(field: &'static str, s: &str) -> Result<Date, CccdError> {
    let err = CccdError::Date { field };
    let b = s.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return Err(err);
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u16>().map_err(|_| err.clone());
    let (day, month, year) = (num(0..2)?, num(2..4)?, num(4..8)?);
    let day = u8::try_from(day).map_err(|_| err.clone())?;
    let month = u8::try_from(month).map_err(|_| err.clone())?;
    Date::new(year, month, day).map_err(|_| err)
}

/// Reads a CCCD card's QR text.
///
/// # Errors
/// [`CccdError`] naming the first thing that is not as on a card.
pub fn parse(text: &str) -> Result<CccdCard, CccdError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(CccdError::TooLong { len: text.len() });
    }
    // A byte-order mark and a final line break are how some readers hand the text over.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.trim_end_matches(['\r', '\n']);
    if text.chars().any(char::is_control) {
        return Err(CccdError::Control);
    }
    let fields: Vec<&str> = text.split('|').map(str::trim).collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(CccdError::Fields {
            fields: fields.len(),
        });
    }
    let cccd = fields[0];
    Cccd::from_digits(cccd).map_err(|_| CccdError::Cccd)?;
    let old = fields[1];
    let old_cmnd = match old.len() {
        0 => None,
        9 | 12 if old.bytes().all(|b| b.is_ascii_digit()) => Some(old.to_owned()),
        _ => return Err(CccdError::OldId),
    };
    let full_name = normalise_spacing(fields[2]);
    if full_name.is_empty() || full_name.chars().count() > MAX_NAME_CHARS {
        return Err(CccdError::Name);
    }
    let date_of_birth = date("date of birth", fields[3])?;
    let sex_text: String = fields[4].nfc().collect::<String>().to_lowercase();
    let sex = match sex_text.as_str() {
        "nam" => "M",
        "nữ" => "F",
        _ => return Err(CccdError::Sex),
    };
    let address = normalise_spacing(fields[5]);
    if address.chars().count() > MAX_ADDRESS_CHARS {
        return Err(CccdError::Address);
    }
    let issued = match fields.get(6) {
        Some(s) if !s.is_empty() => Some(date("issue date", s)?),
        _ => None,
    };
    Ok(CccdCard {
        cccd: cccd.to_owned(),
        old_cmnd,
        full_name,
        date_of_birth,
        sex,
        address,
        issued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = "079185001234|025123456|Nguyễn Thị Thuỳ Dương|27031985|Nữ|123 Lê Lợi, Phường Bến Thành, Quận 1, TP Hồ Chí Minh|15082021";

    #[test]
    fn a_seven_field_card() {
        let c = parse(CARD).unwrap();
        assert_eq!(c.cccd, "079185001234");
        assert_eq!(c.old_cmnd.as_deref(), Some("025123456"));
        assert_eq!(c.full_name, "Nguyễn Thị Thuỳ Dương");
        assert_eq!(c.date_of_birth, Date::new(1985, 3, 27).unwrap());
        assert_eq!(c.sex, "F");
        assert!(c.address.starts_with("123 Lê Lợi"));
        assert_eq!(c.issued, Some(Date::new(2021, 8, 15).unwrap()));
    }

    #[test]
    fn six_fields_an_empty_old_id_and_decomposed_text() {
        // NFD name and sex (as some readers hand them over), extra spaces, a final CRLF.
        let nfd_name: String = "  Trần   Văn  Đức ".nfd().collect();
        let nfd_sex: String = "NỮ".nfd().collect();
        let text = format!("001099012345||{nfd_name}|01011999|{nfd_sex}|Hà Nội\r\n");
        let c = parse(&text).unwrap();
        assert_eq!(c.old_cmnd, None);
        assert_eq!(c.full_name, "Trần Văn Đức");
        assert_eq!(c.sex, "F");
        assert_eq!(c.issued, None);
        assert_eq!(parse("001099012345||A B|01011999|nam|x").unwrap().sex, "M");
    }

    #[test]
    fn hostile_and_broken_texts_are_refused() {
        let long_name = format!("001099012345||{}|01011999|Nam|x", "A".repeat(181));
        let long_address = format!("001099012345||A|01011999|Nam|{}", "x".repeat(301));
        let huge = "|".repeat(MAX_TEXT_BYTES + 1);
        let cases: &[(&str, CccdError)] = &[
            ("", CccdError::Fields { fields: 1 }),
            ("HC1:6BFOXN*TS0BI$ZD4N9", CccdError::Fields { fields: 1 }),
            ("a|b|c|d|e", CccdError::Fields { fields: 5 }),
            ("a|b|c|d|e|f|g|h", CccdError::Fields { fields: 8 }),
            ("00109901234||A|01011999|Nam|x", CccdError::Cccd),
            ("00109901234X||A|01011999|Nam|x", CccdError::Cccd),
            (
                "９９９０９９０１２３４５||A|01011999|Nam|x",
                CccdError::Cccd,
            ),
            ("999099012345||A|01011999|Nam|x", CccdError::Cccd),
            ("001099012345|12345|A|01011999|Nam|x", CccdError::OldId),
            ("001099012345|12345678X|A|01011999|Nam|x", CccdError::OldId),
            ("001099012345|| |01011999|Nam|x", CccdError::Name),
            (&long_name, CccdError::Name),
            (
                "001099012345||A|31021999|Nam|x",
                CccdError::Date {
                    field: "date of birth",
                },
            ),
            (
                "001099012345||A|1011999|Nam|x",
                CccdError::Date {
                    field: "date of birth",
                },
            ),
            (
                "001099012345||A|+1011999|Nam|x",
                CccdError::Date {
                    field: "date of birth",
                },
            ),
            (
                "001099012345||A|01019999|Nam|x",
                CccdError::Date {
                    field: "date of birth",
                },
            ),
            ("001099012345||A|01011999|Male|x", CccdError::Sex),
            ("001099012345||A|01011999||x", CccdError::Sex),
            (&long_address, CccdError::Address),
            (
                "001099012345||A|01011999|Nam|x|32132021",
                CccdError::Date {
                    field: "issue date",
                },
            ),
            ("001099012345||A\u{0}B|01011999|Nam|x", CccdError::Control),
            (
                "001099012345||A|01011999|Nam|x\u{1b}[2J",
                CccdError::Control,
            ),
            ("001099012345||A\nB|01011999|Nam|x", CccdError::Control),
            (
                &huge,
                CccdError::TooLong {
                    len: MAX_TEXT_BYTES + 1,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).as_ref(), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn no_input_panics() {
        // Every prefix and every single-byte corruption of a real card's text.
        for end in 0..=CARD.len() {
            if CARD.is_char_boundary(end) {
                let _ = parse(&CARD[..end]);
            }
        }
        let bytes = CARD.as_bytes();
        for i in 0..bytes.len() {
            for b in [0u8, b'|', b'9', 0x7f, b' '] {
                let mut v = bytes.to_vec();
                v[i] = b;
                if let Ok(s) = std::str::from_utf8(&v) {
                    let _ = parse(s);
                }
            }
        }
    }
}
