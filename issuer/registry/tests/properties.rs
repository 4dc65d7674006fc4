//! Property tests: transliteration alphabet, normalisation idempotence, generated persons
//! matching themselves, generated CCCD numbers valid and consistent.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use vaxpass_issuer_domain::dates::PartialDate;
use vaxpass_issuer_domain::identity::{IdKind, IdNumber};
use vaxpass_issuer_domain::matching::{DoseIdentity, InMemoryRegistry, MatchResult, match_record};
use vaxpass_issuer_domain::names::{
    self, NameComparison, icao_transliterate, normalise, strip_diacritics,
};
use vaxpass_issuer_registry::csv::generate_persons;

/// Vietnamese letters in both cases and both Unicode forms, plus spaces, hyphens, apostrophes
/// and a few foreign and non-Latin characters.
fn name_strategy() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXY\
        àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ\
        ÀÁẢÃẠẰẮẲẴẶẦẤẨẪẬÈÉẺẼẸỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌỒỐỔỖỘỜỚỞỠỢÙÚỦŨỤỪỨỬỮỰỲÝỶỸỴ \t\u{A0}\u{3000}-'.äößæøÞ王\u{300}\u{301}\u{309}\u{303}\u{323}"
        .chars()
        .collect();
    proptest::collection::vec(proptest::sample::select(alphabet), 0..40)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn transliteration_is_icao_alphabet(name in name_strategy()) {
        let t = icao_transliterate(&name);
        prop_assert!(t.bytes().all(|b| b.is_ascii_uppercase() || b == b'<'), "{t:?}");
        prop_assert!(!t.starts_with('<') && !t.ends_with('<') && !t.contains("<<"), "{t:?}");
        // Transliterating again changes nothing.
        prop_assert_eq!(icao_transliterate(&t), t.clone());
    }

    #[test]
    fn normalisation_is_idempotent(name in name_strategy()) {
        let n = normalise(&name);
        prop_assert_eq!(normalise(&n), n.clone());
        let s = strip_diacritics(&name);
        prop_assert_eq!(strip_diacritics(&s), s.clone());
        let sp = names::normalise_spacing(&name);
        prop_assert_eq!(names::normalise_spacing(&sp), sp);
    }

    #[test]
    fn a_name_compares_to_its_own_forms(name in name_strategy()) {
        use unicode_normalization::UnicodeNormalization;
        prop_assume!(!normalise(&name).is_empty());
        let nfd: String = name.nfd().collect();
        let upper = name.to_uppercase();
        prop_assert!(matches!(names::compare(&nfd, &name), NameComparison::Exact | NameComparison::Equivalent));
        let c = names::compare(&upper, &name);
        prop_assert!(!matches!(c, NameComparison::Different | NameComparison::WordOrder), "{:?}", c);
        let bare = strip_diacritics(&name);
        let c = names::compare(&bare, &name);
        prop_assert!(!matches!(c, NameComparison::Different | NameComparison::WordOrder), "{:?}", c);
    }

    #[test]
    fn generated_cccd_are_valid_and_consistent(seed in any::<u64>()) {
        for p in generate_persons(300, seed) {
            let text = p.id.to_string();
            let parsed = IdNumber::parse_national(&text).unwrap();
            prop_assert_eq!(&parsed, &p.id);
            if let IdNumber::Cccd(c) = parsed {
                prop_assert_eq!(text.len(), 12);
                prop_assert!(c.consistency(Some(p.date_of_birth.year()), p.sex).is_empty());
                prop_assert_eq!(c.birth_year(), p.date_of_birth.year());
                prop_assert_eq!(c.sex(), p.sex);
            } else {
                prop_assert_eq!(text.len(), 9);
                prop_assert!(p.date_of_birth.year() <= 2006);
            }
        }
    }

    #[test]
    fn generated_persons_match_themselves(seed in any::<u64>(), precision in 0u8..3) {
        let persons: Vec<_> = generate_persons(200, seed).collect();
        let mut registry = InMemoryRegistry::new();
        for p in persons.iter().cloned() {
            registry.insert(p).unwrap();
        }
        for p in &persons {
            let d = p.date_of_birth;
            let record = DoseIdentity {
                id_number: p.id.to_string(),
                id_kind: IdKind::National,
                full_name: p.full_name.clone(),
                date_of_birth: match precision {
                    0 => PartialDate::Year(d.year()),
                    1 => PartialDate::YearMonth(d.year(), d.month()),
                    _ => PartialDate::Full(d),
                },
                sex: p.sex,
            };
            let r = match_record(&record, &registry);
            let MatchResult::Verified { person, .. } = r else {
                return Err(TestCaseError::fail(format!("{r}")));
            };
            prop_assert_eq!(&person, p);
            // Without diacritics: a mismatch, unless the name has none.
            let bare = DoseIdentity { full_name: strip_diacritics(&p.full_name), ..record };
            let r = match_record(&bare, &registry);
            prop_assert!(r.is_verified() == (names::normalise(&p.full_name) == bare.full_name), "{}", r);
        }
    }
}
