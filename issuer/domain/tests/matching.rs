//! Every outcome and every reason text of `match_record`, as the clinic UI shows it and as the
//! logs get it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use vaxpass_issuer_domain::dates::{Date, PartialDate};
use vaxpass_issuer_domain::identity::{IdKind, IdNumber, Sex};
use vaxpass_issuer_domain::matching::{
    DoseIdentity, Field, InMemoryRegistry, MatchPolicy, MatchResult, RegistryPerson, match_record,
    match_record_with,
};

fn person(id: &str, name: &str, dob: &str, sex: Sex) -> RegistryPerson {
    RegistryPerson {
        id: IdNumber::parse_national(id).unwrap(),
        full_name: name.into(),
        date_of_birth: Date::parse(dob).unwrap(),
        sex,
    }
}

fn registry() -> InMemoryRegistry {
    let mut r = InMemoryRegistry::new();
    for p in [
        person("079185012345", "Nguyễn Thị Lan", "1985-04-12", Sex::Female),
        person("001090123456", "Đặng Văn Đức", "1990-12-03", Sex::Male),
        person("012345678", "Lê Thị Hòa", "1962-11-05", Sex::Female),
        person("048203000777", "Trần Minh Khoa", "2003-07-01", Sex::Male),
        // The registry's own data disagrees with its ID digits (male digit, female person).
        person("031085000001", "Phạm Thị Mai", "1985-01-01", Sex::Female),
    ] {
        r.insert(p).unwrap();
    }
    r
}

fn rec(id: &str, name: &str, dob: &str, sex: Sex) -> DoseIdentity {
    DoseIdentity {
        id_number: id.into(),
        id_kind: IdKind::National,
        full_name: name.into(),
        date_of_birth: PartialDate::parse(dob).unwrap(),
        sex,
    }
}

use Sex::{Female as F, Male as M};

/// (record, UI text, log text)
fn cases() -> Vec<(DoseIdentity, &'static str, &'static str)> {
    vec![
        (
            rec("079185012345", "Nguyễn Thị Lan", "1985-04-12", F),
            "Verified against the population registry.",
            "VERIFIED",
        ),
        (
            rec("079 185 012 345", "  nguyễn thị  LAN", "12/04/1985", F),
            "Verified against the population registry.\n\
             - Name: differs only in letter case or spacing; the registry spelling 'Nguyễn Thị Lan' will be used",
            "VERIFIED [NAME_CASE_OR_SPACING]",
        ),
        (
            rec("079185012345", "Nguyễn Thị Lan", "1985", F),
            "Verified against the population registry.\n\
             - Date of birth: the record has only the birth year; registry date 1985-04-12 will be used",
            "VERIFIED [DOB_YEAR_ONLY]",
        ),
        (
            rec("079185012345", "Nguyễn Thị Lan", "04/1985", F),
            "Verified against the population registry.\n\
             - Date of birth: the record has only the birth year and month; registry date 1985-04-12 will be used",
            "VERIFIED [DOB_YEAR_MONTH_ONLY]",
        ),
        (
            rec("012.345.678", "Lê Thị Hoà", "1962", F),
            "Verified against the population registry.\n\
             - Name: the tone mark is on another vowel (record 'Lê Thị Hoà', registry 'Lê Thị Hòa'), an accepted spelling of the same name; the registry spelling will be used\n\
             - Date of birth: the record has only the birth year; registry date 1962-11-05 will be used",
            "VERIFIED [NAME_TONE_MARK_PLACEMENT, DOB_YEAR_ONLY]",
        ),
        (
            // The record agrees with the registry, not with the ID's 4th digit: the registry wins.
            rec("031085000001", "Phạm Thị Mai", "1985-01-01", F),
            "Verified against the population registry.",
            "VERIFIED",
        ),
        (
            rec("079185012345", "Nguyen Thi Lan", "1985-04-12", F),
            "Does not match the population registry:\n\
             - Name: differs only in diacritics (record 'Nguyen Thi Lan', registry 'Nguyễn Thị Lan'): correct the spelling",
            "MISMATCH [name:NAME_DIACRITICS_ONLY]",
        ),
        (
            rec("001090123456", "Dang Van Duc", "03/12/1990", M),
            "Does not match the population registry:\n\
             - Name: differs only in diacritics (record 'Dang Van Duc', registry 'Đặng Văn Đức'): correct the spelling",
            "MISMATCH [name:NAME_DIACRITICS_ONLY]",
        ),
        (
            rec("001090123456", "Đặng Văn Dức", "1990-12-03", M),
            "Does not match the population registry:\n\
             - Name: differs only in diacritics (record 'Đặng Văn Dức', registry 'Đặng Văn Đức'): correct the spelling",
            "MISMATCH [name:NAME_DIACRITICS_ONLY]",
        ),
        (
            rec("079185012345", "Lan Nguyễn Thị", "1985-04-12", F),
            "Does not match the population registry:\n\
             - Name: the same names in another order (record 'Lan Nguyễn Thị', registry 'Nguyễn Thị Lan'): write the family name first",
            "MISMATCH [name:NAME_WORD_ORDER]",
        ),
        (
            rec("079185012345", "Nguyễn Thị Lan", "04/12/1985", F),
            "Does not match the population registry:\n\
             - Date of birth: day and month look swapped (record 1985-12-04, registry 1985-04-12): forms are written day first (dd/mm/yyyy); correct the date",
            "MISMATCH [date_of_birth:DOB_DAY_MONTH_SWAPPED]",
        ),
        (
            rec("079185012345", "Nguyễn Thị Lan", "1985-05-12", F),
            "Does not match the population registry:\n\
             - Date of birth: the record says 1985-05-12, the registry says 1985-04-12: check the birth date",
            "MISMATCH [date_of_birth:DOB_DIFFERENT]",
        ),
        (
            rec("079185012345", "Nguyễn Thị Lan", "1986", F),
            "Does not match the population registry:\n\
             - ID number: digits 5–6 (85) are the last two digits of the birth year, but the record's birth year is 1986: check the ID number and the birth year\n\
             - Date of birth: the record says 1986, the registry says 1985-04-12: check the birth date",
            "MISMATCH [id_number:ID_YEAR_DIGITS, date_of_birth:DOB_DIFFERENT]",
        ),
        (
            rec("079185012345", "Nguyễn Thị Lan", "1985-04-12", M),
            "Does not match the population registry:\n\
             - ID number: the 4th digit (1) says female born 1900–1999, but the record says male: check the ID number and the sex\n\
             - Sex: the record says male, the registry says female: check the sex",
            "MISMATCH [id_number:ID_SEX_DIGIT, sex:SEX_DIFFERENT]",
        ),
        (
            rec("048203000777", "Trần Minh Khoa", "1903-07-01", M),
            "Does not match the population registry:\n\
             - ID number: the 4th digit (2) says male born 2000–2099, but the record's birth year is 1903: check the ID number and the birth year\n\
             - Date of birth: the record says 1903-07-01, the registry says 2003-07-01: check the birth date",
            "MISMATCH [id_number:ID_CENTURY_DIGIT, date_of_birth:DOB_DIFFERENT]",
        ),
        (
            // Đặng Văn Đức's record with a mistyped ID that belongs to Nguyễn Thị Lan: nothing
            // of hers may be shown.
            rec("079185012345", "Đặng Văn Đức", "03/12/1990", M),
            "Does not match the population registry:\n\
             - ID number: name and birth date do not match the person registered under this number: the ID number is probably mistyped; check it against the person's card\n\
             - ID number: the 4th digit (1) says female born 1900–1999, but the record says male: check the ID number and the sex\n\
             - ID number: digits 5–6 (85) are the last two digits of the birth year, but the record's birth year is 1990: check the ID number and the birth year\n\
             - Name: 'Đặng Văn Đức' is not the name registered under this ID number: check the name and the ID number\n\
             - Date of birth: 1990-12-03 is not the birth date registered under this ID number: check the birth date and the ID number\n\
             - Sex: male is not the sex registered under this ID number: check the sex and the ID number",
            "MISMATCH [id_number:ID_ANOTHER_PERSON, id_number:ID_SEX_DIGIT, id_number:ID_YEAR_DIGITS, name:NAME_DIFFERENT, date_of_birth:DOB_DIFFERENT, sex:SEX_DIFFERENT]",
        ),
        (
            rec("07918501234", "Nguyễn Thị Lan", "1985", F),
            "Not found in the population registry: the ID number is not valid (the ID number has 11 digits; a CCCD has 12 and a CMND 9); it is probably mistyped: check it against the person's card.",
            "NOT_FOUND [ID_INVALID]",
        ),
        (
            rec("079l85012345", "Nguyễn Thị Lan", "1985", F),
            "Not found in the population registry: the ID number is not valid (the ID number has a character that is not a digit at position 4 (a letter O, I or l typed for a digit 0 or 1?)); it is probably mistyped: check it against the person's card.",
            "NOT_FOUND [ID_INVALID]",
        ),
        (
            rec("097185012345", "Nguyễn Thị Lan", "1985", F),
            "Not found in the population registry: the ID number is not valid (the first three digits (097) are not a province code (Circular 07/2016/TT-BCA, Annex 1)); it is probably mistyped: check it against the person's card.",
            "NOT_FOUND [ID_INVALID]",
        ),
        (
            rec("079085012345", "Nguyễn Thị Lan", "1985-04-12", F),
            "Not found in the population registry: the ID number disagrees with the record (the 4th digit (0) says male born 1900–1999, but the record says female); it is probably mistyped: check it against the person's card.",
            "NOT_FOUND [ID_INCONSISTENT]",
        ),
        (
            rec("079185999999", "Nguyễn Thị Lan", "1985-04-12", F),
            "Not found in the population registry: no person is registered under this ID number: check it against the person's card.",
            "NOT_FOUND [ID_NOT_REGISTERED]",
        ),
        (
            DoseIdentity {
                id_kind: IdKind::ForeignPassport,
                ..rec("c1234567", "SMITH John", "1970", M)
            },
            "Foreign passport: not in the national population registry; verify the passport in person (manual verification path).",
            "FOREIGN_PASSPORT",
        ),
    ]
}

#[test]
fn every_outcome_and_reason_text() {
    let registry = registry();
    let mut failures = Vec::new();
    for (record, ui, log) in cases() {
        let result = match_record(&record, &registry);
        let (got_ui, got_log) = (result.to_string(), result.redacted().to_string());
        if got_ui != ui || got_log != log {
            failures.push(format!(
                "record {:?}:\n  UI:  {got_ui}\n  log: {got_log}",
                record.full_name
            ));
        }
        // Debug is the log form.
        assert_eq!(format!("{result:?}"), got_log);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn logs_carry_no_personal_data() {
    let registry = registry();
    for (record, _, _) in cases() {
        let result = match_record(&record, &registry);
        let log = format!("{} {:?} {:?}", result.redacted(), result, record);
        for secret in [
            "Nguy", "Lan", "Đặng", "Hòa", "079", "0123", "1985", "1990", "female", "male",
        ] {
            assert!(!log.contains(secret), "{secret:?} in {log:?}");
        }
    }
}

#[test]
fn verified_carries_the_registry_identity() {
    let registry = registry();
    let r = match_record(&rec("079185012345", "nguyễn thị lan", "1985", F), &registry);
    let MatchResult::Verified { person, notes } = r else {
        panic!("{r}")
    };
    assert_eq!(person.full_name, "Nguyễn Thị Lan");
    assert_eq!(person.date_of_birth.to_string(), "1985-04-12");
    assert_eq!(notes.len(), 2);
}

#[test]
fn mismatch_lists_fields() {
    let registry = registry();
    let r = match_record(&rec("079185012345", "Nguyen Thi Lan", "1986", M), &registry);
    let MatchResult::Mismatch { fields } = r else {
        panic!("{r}")
    };
    let got: Vec<Field> = fields.iter().map(|f| f.field).collect();
    assert_eq!(
        got,
        [
            Field::IdNumber,
            Field::IdNumber,
            Field::Name,
            Field::DateOfBirth,
            Field::Sex
        ]
    );
}

#[test]
fn tone_mark_policy_can_require_confirmation() {
    let registry = registry();
    let strict = MatchPolicy {
        accept_tone_mark_placement: false,
    };
    let r = match_record_with(
        &rec("012345678", "Lê Thị Hoà", "1962-11-05", F),
        &registry,
        strict,
    );
    assert_eq!(
        r.to_string(),
        "Does not match the population registry:\n\
         - Name: the tone mark is on another vowel (record 'Lê Thị Hoà', registry 'Lê Thị Hòa'): confirm the spelling"
    );
    assert_eq!(
        r.redacted().to_string(),
        "MISMATCH [name:NAME_TONE_MARK_PLACEMENT]"
    );
}

#[test]
fn duplicate_ids_are_refused() {
    let mut r = registry();
    let err = r
        .insert(person("079185012345", "Someone Else", "1985-01-01", F))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "two registry persons share one CCCD number"
    );
    assert_eq!(r.len(), 5);
}

#[test]
fn report_for_the_api() {
    let registry = registry();
    let r = match_record(&rec("079185012345", "Nguyen Thi Lan", "1985", M), &registry).report();
    assert_eq!(r.outcome, "MISMATCH");
    let codes: Vec<(&str, &str)> = r.mismatches.iter().map(|l| (l.field, l.code)).collect();
    assert_eq!(
        codes,
        [
            ("id_number", "ID_SEX_DIGIT"),
            ("name", "NAME_DIACRITICS_ONLY"),
            ("sex", "SEX_DIFFERENT")
        ]
    );
    assert!(
        r.mismatches[1]
            .message
            .starts_with("Name: differs from the registered name only in diacritics")
    );
    assert!(r.notes.is_empty() && r.hint.is_none());
    let r = match_record(&rec("079185012345", "Nguyễn Thị Lan", "1985", F), &registry).report();
    assert_eq!(
        (r.outcome, r.notes.len(), r.notes[0].code),
        ("VERIFIED", 1, "DOB_YEAR_ONLY")
    );
    let r = match_record(&rec("079185999999", "Nguyễn Thị Lan", "1985", F), &registry).report();
    assert_eq!(
        (r.outcome, r.hint),
        ("NOT_FOUND", Some("ID_NOT_REGISTERED"))
    );
}
