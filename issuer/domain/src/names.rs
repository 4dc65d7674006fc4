//! Vietnamese personal names: normalisation, comparison, ICAO 9303 transliteration, and the
//! split into family name and given names.
//!
//! # Comparison
//!
//! [`compare`] grades a clinic record's name against the registry's:
//!
//! | grade | example (record / registry) |
//! |---|---|
//! | [`NameComparison::Exact`] | identical code points |
//! | [`NameComparison::Equivalent`] | `nguyễn  thị LAN ` / `Nguyễn Thị Lan` (case, spacing, NFC vs NFD) |
//! | [`NameComparison::ToneMarkPlacement`] | `Hoà` / `Hòa`: same letters and tones, the tone mark on another vowel (old and new orthography, both in use) |
//! | [`NameComparison::DiacriticsOnly`] | `Nguyen Thi Lan` / `Nguyễn Thị Lan`, `Dang` / `Đặng` |
//! | [`NameComparison::WordOrder`] | `Lan Nguyễn Thị` / `Nguyễn Thị Lan` (written given name first) |
//! | [`NameComparison::Different`] | anything else |
//!
//! Đ/đ (D with stroke, U+0110/U+0111) is a letter of its own, not D plus a combining mark: NFD
//! leaves it whole, so comparisons without diacritics map it to D explicitly.
//!
//! Case folding is Unicode lower-casing (`str::to_lowercase`) plus ß → ss; for the Latin
//! letters of Vietnamese it equals full case folding.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// NFC, trimmed, internal white space collapsed to one space; case kept (the form stored for
/// registry names).
pub fn normalise_spacing(name: &str) -> String {
    let nfc: String = name.nfc().collect();
    let mut out = String::with_capacity(nfc.len());
    for word in nfc.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// NFC, trimmed, internal white space collapsed to one space, lower case.
///
/// Idempotent: `normalise(&normalise(s)) == normalise(s)`.
pub fn normalise(name: &str) -> String {
    // Full case folding differs from lower-casing only for a few characters outside
    // Vietnamese; ß (which upper-cases to SS) is the one that occurs in foreign names.
    let lowered: String = name
        .nfc()
        .collect::<String>()
        .to_lowercase()
        .replace('ß', "ss");
    // Lower-casing can in principle produce non-NFC sequences; normalise again.
    let nfc: String = lowered.nfc().collect();
    let mut out = String::with_capacity(nfc.len());
    for word in nfc.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Like [`normalise`], then with every diacritic removed and đ mapped to d: the skeleton used
/// to detect a diacritics-only difference.
pub fn strip_diacritics(name: &str) -> String {
    let bare: String = normalise(name)
        .nfd()
        .filter(|&c| !is_combining_mark(c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .collect();
    // A stray combining mark typed after a space leaves an empty word behind.
    if bare.contains("  ") || bare.starts_with(' ') || bare.ends_with(' ') {
        return bare.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    bare
}

/// Vietnamese tone marks in NFD: huyền (grave), sắc (acute), hỏi (hook above), ngã (tilde),
/// nặng (dot below). The breve, circumflex and horn are part of the vowel (ă, â, ê, ô, ơ, ư),
/// not tones.
fn is_tone_mark(c: char) -> bool {
    matches!(
        c,
        '\u{0300}' | '\u{0301}' | '\u{0309}' | '\u{0303}' | '\u{0323}'
    )
}

/// A word's letters with vowel marks but no tone, and its tone marks in order.
fn tone_split(word: &str) -> (String, Vec<char>) {
    let mut letters = String::new();
    let mut tones = Vec::new();
    for c in word.nfd() {
        if is_tone_mark(c) {
            tones.push(c);
        } else {
            letters.push(c);
        }
    }
    (letters.nfc().collect(), tones)
}

/// How a record's name relates to the registry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameComparison {
    /// Identical.
    Exact,
    /// Equal after [`normalise`]: case, spacing or Unicode form (NFC/NFD) only.
    Equivalent,
    /// Same letters and tones word by word; a tone mark sits on another vowel ("Hoà"/"Hòa").
    ToneMarkPlacement,
    /// Equal once diacritics are removed and Đ mapped to D, but the marks differ or are missing.
    DiacriticsOnly {
        /// The record has no diacritics at all (typed on a keyboard without Vietnamese input).
        record_without_diacritics: bool,
    },
    /// The same words (without diacritics) in another order.
    WordOrder,
    /// Different names.
    Different,
}

/// Compares a record's name with the registry's (see the module documentation).
pub fn compare(record: &str, registry: &str) -> NameComparison {
    if record == registry {
        return NameComparison::Exact;
    }
    let (rec, reg) = (normalise(record), normalise(registry));
    if rec == reg {
        return NameComparison::Equivalent;
    }
    let (rec_words, reg_words): (Vec<&str>, Vec<&str>) =
        (rec.split(' ').collect(), reg.split(' ').collect());
    if rec_words.len() == reg_words.len()
        && rec_words.iter().zip(&reg_words).all(|(a, b)| {
            let (la, ta) = tone_split(a);
            let (lb, tb) = tone_split(b);
            la == lb && ta == tb
        })
    {
        return NameComparison::ToneMarkPlacement;
    }
    let (rec_bare, reg_bare) = (strip_diacritics(&rec), strip_diacritics(&reg));
    if rec_bare == reg_bare {
        return NameComparison::DiacriticsOnly {
            record_without_diacritics: rec_bare == rec,
        };
    }
    let mut a: Vec<&str> = rec_bare.split(' ').collect();
    let mut b: Vec<&str> = reg_bare.split(' ').collect();
    a.sort_unstable();
    b.sort_unstable();
    if a == b {
        return NameComparison::WordOrder;
    }
    NameComparison::Different
}

/// ICAO 9303 Part 3 (section 6, transliteration of Latin-based national characters) for the
/// DCC's `fnt`/`gnt`: upper case A–Z, `<` for spaces and hyphens, apostrophes and other
/// punctuation dropped, letters with diacritics to their base letter (Ă/Â→A, Ê→E, Ô/Ơ→O, Ư→U,
/// Đ→D, and all tone marks dropped), and the recommended multi-letter forms of Doc 9303
/// (Ä→AE, Å→AA, Æ→AE, Ö→OE, Ø→OE, Ü→UE, ß→SS, Þ→TH, Œ→OE, Ĳ→IJ). Characters that are not
/// Latin letters are dropped; runs of `<` are collapsed and trimmed.
///
/// "Nguyễn Thị Lan" → "NGUYEN<THI<LAN"; use [`split_full_name`] first to get `fnt` "NGUYEN" and
/// `gnt` "THI<LAN". The output always matches `^[A-Z<]*$` (the DCC schema's pattern); the
/// schema's 80-character limit is applied by [`DccName::from_full_name`].
pub fn icao_transliterate(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_filler = false;
    let push = |out: &mut String, s: &str, pending: &mut bool| {
        if *pending && !out.is_empty() {
            out.push('<');
        }
        *pending = false;
        out.push_str(s);
    };
    for c in name.nfc() {
        let mapped: Option<&str> = match c {
            'Ä' | 'ä' | 'Æ' | 'æ' => Some("AE"),
            'Å' | 'å' => Some("AA"),
            'Ö' | 'ö' | 'Ø' | 'ø' | 'Œ' | 'œ' => Some("OE"),
            'Ü' | 'ü' => Some("UE"),
            'ß' => Some("SS"),
            'Þ' | 'þ' => Some("TH"),
            'Ĳ' | 'ĳ' => Some("IJ"),
            'Đ' | 'đ' | 'Ð' | 'ð' => Some("D"),
            'Ł' | 'ł' => Some("L"),
            'Ħ' | 'ħ' => Some("H"),
            'ı' => Some("I"),
            _ => None,
        };
        if let Some(s) = mapped {
            push(&mut out, s, &mut pending_filler);
            continue;
        }
        if c.is_whitespace() || matches!(c, '-' | '\u{2010}' | '\u{2011}' | '<') {
            pending_filler = true;
            continue;
        }
        // Base letter: the first code point of the canonical decomposition.
        let base = c.nfd().next().unwrap_or(c);
        if base.is_ascii_alphabetic() {
            let mut buf = [0u8; 4];
            let s = base.to_ascii_uppercase().encode_utf8(&mut buf);
            push(&mut out, s, &mut pending_filler);
        }
        // Anything else (apostrophes, dots, digits, non-Latin scripts) is dropped.
    }
    out
}

/// A full name split the Vietnamese way: family name first, then middle and given names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitName {
    /// Họ: the first word.
    pub family: String,
    /// Tên đệm + tên: the remaining words, `None` for a one-word name.
    pub given: Option<String>,
}

/// Splits a full Vietnamese name (NFC, white space collapsed, case kept) into the family name
/// (the first word: Nguyễn, Trần, Lê …) and the given names (middle names and given name).
///
/// Compound family names (Tôn Thất, Âu Dương …) are rare and cannot be told from a family name
/// plus a middle name by the text alone: they come out as family = first word, which still puts
/// every word in the certificate in the right order. Returns `None` for an empty name.
pub fn split_full_name(full: &str) -> Option<SplitName> {
    let nfc: String = full.nfc().collect();
    let mut words = nfc.split_whitespace();
    let family = words.next()?.to_owned();
    let rest: Vec<&str> = words.collect();
    Some(SplitName {
        family,
        given: (!rest.is_empty()).then(|| rest.join(" ")),
    })
}

/// The DCC's name object (`nam`): `fn`, `fnt`, `gn`, `gnt`, each at most 80 characters
/// (DCC schema 1.3.0 `person_name`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DccName {
    /// Family name as written.
    #[serde(rename = "fn")]
    pub family: String,
    /// Family name, ICAO 9303 transliterated.
    #[serde(rename = "fnt")]
    pub family_t: String,
    /// Given names as written.
    #[serde(rename = "gn", skip_serializing_if = "Option::is_none")]
    pub given: Option<String>,
    /// Given names, ICAO 9303 transliterated.
    #[serde(rename = "gnt", skip_serializing_if = "Option::is_none")]
    pub given_t: Option<String>,
}

/// Longest `fn`/`fnt`/`gn`/`gnt` the DCC schema allows.
pub const DCC_NAME_MAX: usize = 80;

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl DccName {
    /// Builds the DCC name from the registry's canonical full name. `None` for an empty name.
    pub fn from_full_name(full: &str) -> Option<DccName> {
        let split = split_full_name(full)?;
        let given_t = split
            .given
            .as_deref()
            .map(|g| truncate_chars(&icao_transliterate(g), DCC_NAME_MAX));
        Some(DccName {
            family_t: truncate_chars(&icao_transliterate(&split.family), DCC_NAME_MAX),
            family: truncate_chars(&split.family, DCC_NAME_MAX),
            given: split
                .given
                .as_deref()
                .map(|g| truncate_chars(g, DCC_NAME_MAX)),
            given_t,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let nfd_lan: String = "Nguyễn Thị Lan".nfd().collect();
        for (input, want) in [
            ("Nguyễn Thị Lan", "nguyễn thị lan"),
            ("  NGUYỄN   THỊ\tLAN \n", "nguyễn thị lan"),
            (nfd_lan.as_str(), "nguyễn thị lan"),
            ("ĐẶNG văn Đức", "đặng văn đức"),
            ("Lê\u{3000}Văn\u{A0}Tám", "lê văn tám"),
            ("", ""),
            ("   ", ""),
        ] {
            assert_eq!(normalise(input), want, "{input:?}");
        }
        assert_eq!(strip_diacritics("Đặng Thị Ngọc Ánh"), "dang thi ngoc anh");
        assert_eq!(strip_diacritics("Trương Vĩnh Ưng Ơn"), "truong vinh ung on");
    }

    #[test]
    fn comparison_table() {
        use NameComparison::*;
        let nfd: String = "Nguyễn Thị Lan".nfd().collect();
        let cases: &[(&str, &str, NameComparison)] = &[
            ("Nguyễn Thị Lan", "Nguyễn Thị Lan", Exact),
            ("nguyễn thị lan", "Nguyễn Thị Lan", Equivalent),
            ("NGUYỄN  THỊ LAN ", "Nguyễn Thị Lan", Equivalent),
            (nfd.as_str(), "Nguyễn Thị Lan", Equivalent),
            (
                "Nguyen Thi Lan",
                "Nguyễn Thị Lan",
                DiacriticsOnly {
                    record_without_diacritics: true,
                },
            ),
            (
                "NGUYEN THI LAN",
                "Nguyễn Thị Lan",
                DiacriticsOnly {
                    record_without_diacritics: true,
                },
            ),
            (
                "Nguyễn Thi Lan",
                "Nguyễn Thị Lan",
                DiacriticsOnly {
                    record_without_diacritics: false,
                },
            ),
            (
                "Nguyễn Thị Lân",
                "Nguyễn Thị Lan",
                DiacriticsOnly {
                    record_without_diacritics: false,
                },
            ),
            // Đ/đ is its own letter: D with stroke vs plain D.
            (
                "Dang Van Duc",
                "Đặng Văn Đức",
                DiacriticsOnly {
                    record_without_diacritics: true,
                },
            ),
            (
                "Đặng Văn Dức",
                "Đặng Văn Đức",
                DiacriticsOnly {
                    record_without_diacritics: false,
                },
            ),
            (
                "Đang Van Duc",
                "Đặng Văn Đức",
                DiacriticsOnly {
                    record_without_diacritics: false,
                },
            ),
            // Tone mark placement: old (hoà, thuỷ, khoẻ) and new (hòa, thủy, khỏe) style.
            ("Lê Thị Hoà", "Lê Thị Hòa", ToneMarkPlacement),
            ("Trần Thanh Thuỷ", "Trần Thanh Thủy", ToneMarkPlacement),
            ("Phạm Văn Khoẻ", "Phạm Văn Khỏe", ToneMarkPlacement),
            ("LÊ THỊ HOÀ", "Lê Thị Hòa", ToneMarkPlacement),
            // Same letters but another tone is not a placement variant.
            (
                "Lê Thị Hoá",
                "Lê Thị Hòa",
                DiacriticsOnly {
                    record_without_diacritics: false,
                },
            ),
            ("Lan Nguyễn Thị", "Nguyễn Thị Lan", WordOrder),
            ("Lan Nguyen Thi", "Nguyễn Thị Lan", WordOrder),
            ("Nguyễn Thị Lan Anh", "Nguyễn Thị Lan", Different),
            ("Nguyễn Văn Lan", "Nguyễn Thị Lan", Different),
            ("Trần Thị Lan", "Nguyễn Thị Lan", Different),
            ("", "Nguyễn Thị Lan", Different),
        ];
        for &(rec, reg, want) in cases {
            assert_eq!(compare(rec, reg), want, "{rec:?} vs {reg:?}");
        }
    }

    #[test]
    fn icao_table() {
        for (input, want) in [
            ("Nguyễn", "NGUYEN"),
            ("Thị Lan", "THI<LAN"),
            ("Nguyễn Thị Lan", "NGUYEN<THI<LAN"),
            ("Đặng Văn Đức", "DANG<VAN<DUC"),
            ("Trương Ưng Ơn Ấn Ê Ă", "TRUONG<UNG<ON<AN<E<A"),
            ("Hoàng  Thị-Thu   Hà", "HOANG<THI<THU<HA"),
            ("d'Červenková Panklová", "DCERVENKOVA<PANKLOVA"),
            ("Jiřina-Maria Alena", "JIRINA<MARIA<ALENA"),
            ("Müller Groß", "MUELLER<GROSS"),
            ("Øster Ærø", "OESTER<AEROE"),
            (" -Lê- ", "LE"),
            ("", ""),
            ("王", ""),
        ] {
            assert_eq!(icao_transliterate(input), want, "{input:?}");
        }
        let nfd: String = "Nguyễn Thị Lan".nfd().collect();
        assert_eq!(icao_transliterate(&nfd), "NGUYEN<THI<LAN");
    }

    #[test]
    fn split_and_dcc_name() {
        let n = DccName::from_full_name("  Nguyễn Thị  Lan ").unwrap();
        assert_eq!(n.family, "Nguyễn");
        assert_eq!(n.family_t, "NGUYEN");
        assert_eq!(n.given.as_deref(), Some("Thị Lan"));
        assert_eq!(n.given_t.as_deref(), Some("THI<LAN"));
        let n = DccName::from_full_name("Lê").unwrap();
        assert_eq!((n.family_t.as_str(), n.given), ("LE", None));
        assert_eq!(DccName::from_full_name("  "), None);
        let long = format!("Nguyễn {}", "Thị ".repeat(40));
        let n = DccName::from_full_name(&long).unwrap();
        assert_eq!(n.given_t.unwrap().len(), DCC_NAME_MAX);
        assert_eq!(n.given.unwrap().chars().count(), DCC_NAME_MAX);
    }
}
