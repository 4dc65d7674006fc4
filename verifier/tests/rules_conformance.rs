//! The public CertLogic test suites, the business-rule tests of several countries and the
//! Vietnamese rule set, run through the library's runners (`vaxpass_verifier::rules`).
#![cfg(feature = "rules")]

use std::path::{Path, PathBuf};
use vaxpass_verifier::rules::{self, SuiteReport};

/// `None` (with a message) when the shared conformance folder is absent. It is looked up as
/// `../shared/conformance` next to the checkout (a worktree sits one level deeper).
fn folder(rel: &str) -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../shared/conformance").join(rel),
        manifest.join("../../../shared/conformance").join(rel),
    ];
    let found = candidates.into_iter().find(|p| p.is_dir());
    if found.is_none() {
        eprintln!("SKIPPED: conformance folder {rel} not found (expected ../shared/conformance)");
    }
    found
}

fn assert_all_agree(what: &str, report: &SuiteReport) {
    println!("{what}:\n{report}");
    assert!(
        report.all_agree(),
        "{what}: {} disagreement(s)",
        report.failed
    );
}

#[test]
fn certlogic_evaluator_test_suite() {
    let Some(dir) = folder("certlogic/testSuite") else {
        return;
    };
    let report = rules::run_certlogic_suite(&dir).unwrap();
    assert_all_agree("CertLogic testSuite", &report);
    assert_eq!(report.passed, 218, "active assertions");
    assert_eq!(report.skipped, 14, "skipped assertions");
}

#[test]
fn certlogic_validation_test_suite() {
    let Some(dir) = folder("certlogic/validation-testSuite") else {
        return;
    };
    let report = rules::run_validation_suite(&dir).unwrap();
    assert_all_agree("CertLogic validation-testSuite", &report);
    assert_eq!(report.passed, 23);
}

#[test]
fn business_rule_tests() {
    let Some(dir) = folder("business-rules") else {
        return;
    };
    let report = rules::run_rule_tests(&dir).unwrap();
    assert_all_agree("business-rules", &report);
    assert_eq!(report.passed, 924);
}

#[test]
fn business_rules_load_and_validate() {
    let Some(dir) = folder("business-rules") else {
        return;
    };
    let set = rules::RuleSet::load_dir(&dir).unwrap();
    // 136 rules with tests, plus 7 of the 8 MT rule files (TR-MT-0001.json is not valid JSON).
    assert_eq!(set.rules().len(), 143);
    let problems: Vec<String> = set
        .problems()
        .iter()
        .map(|p| p.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(problems, ["TR-MT-0001.json"]);
    let invalid: Vec<(&str, &str)> = set
        .invalid_rules()
        .map(|(r, m)| (r.identifier.as_str(), m))
        .collect();
    for (id, m) in &invalid {
        println!("{id}: {m}");
    }
    // VR-MT-0005 has an `if` with four operands.
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].0, "VR-MT-0005");
}

#[test]
fn vietnamese_rule_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/rules/VN");
    let report = rules::run_rule_tests(&dir).unwrap();
    assert_all_agree("schemas/rules/VN", &report);
    assert!(report.passed >= 40, "only {} VN rule tests", report.passed);
}
