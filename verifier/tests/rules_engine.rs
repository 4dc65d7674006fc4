//! Rule sets: selection, evaluation of the Vietnamese rule set on typical certificates, gateway
//! constraints of the VN rules, robustness of the evaluator on arbitrary input, and its cost.
#![cfg(feature = "rules")]
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::Path;
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::rules::{
    self, CertificateType, External, Limits, Rule, RuleOutcome, RuleSet, validate,
};

fn vn_rules() -> RuleSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/rules");
    let set = RuleSet::load_dir(&dir).unwrap();
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    set
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn vaccination(mp: &str, dn: u32, sd: u32, dt: &str) -> Value {
    json!({
        "ver": "1.3.0",
        "nam": {"fn": "Trần", "fnt": "TRAN", "gn": "Minh", "gnt": "MINH"},
        "dob": "1990-01-01",
        "v": [{"tg": "840539006", "vp": "1119349007", "mp": mp, "ma": "ORG-100030215",
               "dn": dn, "sd": sd, "dt": dt, "co": "VN", "is": "Bộ Y tế",
               "ci": "URN:UVCI:01:VN:ABC123#X"}]
    })
}

/// Runs the VN rules as `vaxpass-verify check --rules schemas/rules --country VN` will.
fn check(payload: &Value, clock: &str) -> Vec<(String, RuleOutcome)> {
    let set = vn_rules();
    let external = External {
        validation_clock: ts(clock),
        country_code: "VN".into(),
        exp: Some(ts("2022-09-01T00:00:00Z")),
        iat: Some(ts("2021-09-01T00:00:00Z")),
    };
    set.check(payload, "VN", &external, &json!({}))
        .into_iter()
        .map(|r| (r.rule.identifier.clone(), r.outcome))
        .collect()
}

fn failed(results: &[(String, RuleOutcome)]) -> Vec<&str> {
    results
        .iter()
        .filter(|(_, o)| *o != RuleOutcome::Passed)
        .map(|(id, _)| id.as_str())
        .collect()
}

#[test]
fn vn_rules_on_typical_vaccination_certificates() {
    let clock = "2021-10-01T09:30:00Z";
    // Complete series, last dose 20 days ago: every rule passes.
    let r = check(&vaccination("EU/1/20/1528", 2, 2, "2021-09-11"), clock);
    let ids: Vec<&str> = r.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "GR-VN-0001",
            "VR-VN-0001",
            "VR-VN-0002",
            "VR-VN-0003",
            "VR-VN-0004"
        ]
    );
    assert!(failed(&r).is_empty(), "{r:?}");
    // Five days after the last dose.
    let r = check(&vaccination("EU/1/20/1528", 2, 2, "2021-09-26"), clock);
    assert_eq!(failed(&r), ["VR-VN-0003"]);
    // First dose of two (20 days ago).
    let r = check(&vaccination("EU/1/21/1529", 1, 2, "2021-09-11"), clock);
    assert_eq!(failed(&r), ["VR-VN-0002"]);
    // A vaccine not used in Viet Nam's campaign.
    let r = check(&vaccination("CoronaVac", 2, 2, "2021-09-11"), clock);
    assert_eq!(failed(&r), ["VR-VN-0001"]);
    // Malformed dose date: the rule is open, not passed.
    let r = check(&vaccination("EU/1/20/1528", 2, 2, "2021-09-31"), clock);
    let open: Vec<&(String, RuleOutcome)> = r
        .iter()
        .filter(|(_, o)| matches!(o, RuleOutcome::Open(_)))
        .collect();
    assert_eq!(open.len(), 2, "{r:?}");
}

#[test]
fn vn_rules_have_english_and_vietnamese_descriptions_and_meet_gateway_constraints() {
    let set = vn_rules();
    assert_eq!(set.rules().len(), 11);
    for rule in set.rules() {
        assert_eq!(rule.country, "VN");
        assert!(rule.description("en").is_some());
        let vi = rule.description("vi").unwrap();
        assert!(!vi.is_ascii(), "{vi}");
        let violations: Vec<String> = rule
            .gateway_violations()
            .into_iter()
            // The identifiers follow the upstream convention NNNN (as every EU and national rule
            // does); the schema copy's pattern `[1-9]\d*` would forbid the leading zeros.
            .filter(|v| !v.contains("leading zero"))
            .collect();
        assert!(violations.is_empty(), "{}: {violations:?}", rule.identifier);
    }
}

fn rule(id: &str, ty: &str, country: &str, ct: &str, version: &str, from: &str, to: &str) -> Rule {
    serde_json::from_value(json!({
        "Identifier": id, "Type": ty, "Country": country, "Version": version,
        "SchemaVersion": "1.3.0", "Engine": "CERTLOGIC", "EngineVersion": "1.3.3",
        "CertificateType": ct,
        "Description": [{"lang": "en", "desc": format!("{id} version {version} for tests")}],
        "ValidFrom": from, "ValidTo": to, "AffectedFields": ["v"],
        "Logic": {"if": [true, true, {"var": "payload.v"}]}
    }))
    .unwrap()
}

#[test]
fn selection_by_country_type_validity_and_latest_version() {
    let (a, i) = ("Acceptance", "Invalidation");
    let (from, to) = ("2021-06-01T00:00:00Z", "2030-01-01T00:00:00Z");
    let set = RuleSet::from_rules(vec![
        rule("GR-VN-0001", a, "VN", "General", "1.0.0", from, to),
        rule("VR-VN-0001", a, "VN", "Vaccination", "1.0.0", from, to),
        rule(
            "VR-VN-0001",
            a,
            "VN",
            "Vaccination",
            "1.10.0",
            "2022-01-01T00:00:00+07:00",
            to,
        ),
        rule(
            "VR-VN-0001",
            a,
            "VN",
            "Vaccination",
            "1.9.0",
            "2021-12-01T00:00:00Z",
            to,
        ),
        rule("TR-VN-0001", a, "VN", "Test", "1.0.0", from, to),
        rule(
            "VR-VN-0002",
            a,
            "VN",
            "Vaccination",
            "1.0.0",
            from,
            "2021-12-01T00:00:00Z",
        ),
        rule("VR-DE-0001", a, "DE", "Vaccination", "1.0.0", from, to),
        rule("IR-DE-0001", i, "DE", "Vaccination", "1.0.0", from, to),
        rule("IR-VN-0001", i, "VN", "Vaccination", "1.0.0", from, to),
    ]);
    let pick = |arrival, issuer, ct, clock| -> Vec<String> {
        set.applicable(arrival, issuer, ct, ts(clock))
            .into_iter()
            .map(|r| format!("{}@{}", r.identifier, r.version))
            .collect()
    };
    let v = CertificateType::Vaccination;
    assert_eq!(
        pick("VN", "DE", v, "2021-11-01T00:00:00Z"),
        [
            "GR-VN-0001@1.0.0",
            "IR-DE-0001@1.0.0",
            "VR-VN-0001@1.0.0",
            "VR-VN-0002@1.0.0"
        ]
    );
    // 1.9.0 is valid from 1 December; 1.10.0 (newer by semver, not by text) from 1 January
    // (17:00 UTC on 31 December); VR-VN-0002 has expired (ValidTo is exclusive).
    assert_eq!(
        pick("VN", "DE", v, "2021-12-01T00:00:00Z"),
        ["GR-VN-0001@1.0.0", "IR-DE-0001@1.0.0", "VR-VN-0001@1.9.0"]
    );
    assert_eq!(
        pick("VN", "VN", v, "2021-12-31T17:00:00Z"),
        ["GR-VN-0001@1.0.0", "IR-VN-0001@1.0.0", "VR-VN-0001@1.10.0"]
    );
    assert_eq!(
        pick("VN", "VN", CertificateType::Test, "2022-06-01T00:00:00Z"),
        ["GR-VN-0001@1.0.0", "TR-VN-0001@1.0.0"]
    );
    assert!(pick("VN", "VN", v, "2021-05-31T23:59:59Z").is_empty());
    assert!(pick("FR", "FR", v, "2022-06-01T00:00:00Z").is_empty());
}

#[test]
fn invalid_logic_is_reported_open() {
    let mut bad = rule(
        "VR-VN-0009",
        "Acceptance",
        "VN",
        "Vaccination",
        "1.0.0",
        "2021-06-01T00:00:00Z",
        "2030-01-01T00:00:00Z",
    );
    bad.logic = json!({"if": [{"var": "payload.v.0"}, true, false, true]});
    let set = RuleSet::from_rules(vec![bad]);
    let external = External {
        validation_clock: ts("2022-01-01T00:00:00Z"),
        country_code: "VN".into(),
        exp: None,
        iat: None,
    };
    let payload = vaccination("EU/1/20/1528", 2, 2, "2021-09-11");
    let reports = set.check(&payload, "VN", &external, &json!({}));
    assert_eq!(reports.len(), 1);
    let RuleOutcome::Open(reason) = &reports[0].outcome else {
        panic!("{:?}", reports[0].outcome)
    };
    assert!(reason.contains("exactly 3 operands"), "{reason}");
}

#[test]
fn value_sets_and_external_fields_reach_the_logic() {
    let logic = json!({"and": [
        {"in": [{"var": "payload.v.0.mp"}, {"var": "external.valueSets.vaccines-covid-19-names"}]},
        {"===": [{"var": "external.countryCode"}, "VN"]},
        {"before": [{"plusTime": [{"var": "external.iat"}, 0, "day"]},
                    {"plusTime": [{"var": "external.exp"}, 0, "day"]}]}
    ]});
    let mut r = rule(
        "VR-VN-0009",
        "Acceptance",
        "VN",
        "Vaccination",
        "1.0.0",
        "2021-06-01T00:00:00Z",
        "2030-01-01T00:00:00Z",
    );
    r.logic = logic;
    let set = RuleSet::from_rules(vec![r]);
    let external = External {
        validation_clock: ts("2022-01-01T00:00:00Z"),
        country_code: "VN".into(),
        exp: Some(ts("2022-09-01T00:00:00Z")),
        iat: Some(ts("2021-09-01T00:00:00Z")),
    };
    let payload = vaccination("EU/1/20/1528", 2, 2, "2021-09-11");
    let with = json!({"vaccines-covid-19-names": ["EU/1/20/1528"]});
    let without = json!({"vaccines-covid-19-names": ["EU/1/20/1507"]});
    assert_eq!(
        set.check(&payload, "VN", &external, &with)[0].outcome,
        RuleOutcome::Passed
    );
    assert_eq!(
        set.check(&payload, "VN", &external, &without)[0].outcome,
        RuleOutcome::Failed
    );
}

#[test]
fn value_sets_from_the_shared_folder() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/eu-dcc-valuesets");
    if !dir.is_dir() {
        eprintln!("SKIPPED: {} not found", dir.display());
        return;
    }
    let vs = rules::value_sets_from_dir(&dir).unwrap();
    let names = vs["vaccines-covid-19-names"].as_array().unwrap();
    assert!(names.contains(&json!("Covishield")));
    assert_eq!(vs["covid-19-lab-result"].as_array().unwrap().len(), 2);
}

/// Arbitrary JSON, biased towards CertLogic-looking shapes.
fn arb_json() -> impl Strategy<Value = Value> {
    let ops = prop::sample::select(vec![
        "var",
        "if",
        "===",
        "and",
        "!",
        "<",
        ">",
        "<=",
        ">=",
        "in",
        "+",
        "after",
        "before",
        "not-after",
        "not-before",
        "plusTime",
        "reduce",
        "extractFromUVCI",
        "dccDateOfBirth",
        "or",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-3i64..40).prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "",
            "x",
            "x.0",
            "current",
            "accumulator.0",
            "day",
            "hour",
            "month",
            "year",
            "2021-06-01",
            "2021",
            "2021-02",
            "2021-06-01T12:00:00+07:00",
            "2021-13-45",
            "URN:UVCI:01:VN:1/2#3",
            "payload.v.0.dt",
            "1.1",
            "9999-12-31T23:59:59.999-23:59",
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(6, 64, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            (ops.clone(), prop::collection::vec(inner.clone(), 0..5))
                .prop_map(|(op, args)| json!({ op: args })),
            (ops.clone(), inner.clone()).prop_map(|(op, arg)| json!({ op: arg })),
            prop::collection::btree_map("[a-z]{0,2}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn evaluation_and_validation_never_panic(expr in arb_json(), data in arb_json()) {
        let limits = Limits { max_depth: 64, max_steps: 10_000 };
        let result = rules::evaluate_with_limits(&expr, &data, limits);
        let issues = validate(&expr);
        // A valid expression never fails with a structural error.
        if issues.is_empty() {
            if let Err(e) = &result {
                prop_assert!(
                    !matches!(e, rules::CertLogicError::UnknownOperator(_)
                        | rules::CertLogicError::Arity { .. }),
                    "validator accepted {expr} but evaluation said {e}"
                );
            }
        }
    }
}
