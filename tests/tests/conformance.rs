//! The public dgc-testdata conformance suite, run through the library's conformance runner.
//!
//! Every (file, EXPECTED* flag) pair of `../shared/conformance/dgc-testdata` is evaluated; the
//! only tolerated disagreements are the waivers in `conformance-waivers.txt`, each with its
//! reason. A waiver that no longer matches a disagreement fails the test too, so the list
//! shrinks as soon as it can.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use vaxpass_verifier::conformance::{self, Waivers};

fn testdata() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/dgc-testdata");
    dir.is_dir().then_some(dir)
}

#[test]
fn public_dgc_testdata_agrees() {
    let Some(dir) = testdata() else {
        eprintln!("SKIPPED: ../shared/conformance/dgc-testdata not found next to the checkout");
        return;
    };
    let waivers_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance-waivers.txt");
    let waivers = Waivers::parse(&std::fs::read_to_string(&waivers_path).unwrap()).unwrap();
    let report = conformance::run(&dir, &waivers).unwrap();

    let mut problems = Vec::new();
    for pair in report.results.iter().filter(|p| !p.passed()) {
        problems.push(format!(
            "{} {}: expected {}, got {} ({})",
            pair.file, pair.flag, pair.expected, pair.actual, pair.detail
        ));
    }
    for broken in &report.broken {
        problems.push(format!(
            "{}: not a test case: {}",
            broken.file, broken.error
        ));
    }
    for unused in &report.unused_waivers {
        problems.push(format!(
            "waiver `{unused}` matches no disagreement: remove it"
        ));
    }
    eprintln!(
        "dgc-testdata: {} pairs evaluated, {} waived, {}",
        report.results.len(),
        report.waived(),
        report
    );
    // Guard against a runner that silently evaluates nothing: the shared copy has 454 test
    // files and several thousand flags.
    assert!(
        report.results.len() > 3_000,
        "only {} pairs evaluated",
        report.results.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
