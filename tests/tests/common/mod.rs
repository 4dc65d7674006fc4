//! Helpers shared by the cross-crate tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

/// The `vaxpass-verify` binary next to this test's executable: cargo builds it for
/// `cargo test --workspace --all-features`. `None` when it is not there (e.g. `cargo test -p
/// vaxpass-tests` alone); callers then check through the library and say so.
pub fn vaxpass_verify() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?; // target/<profile>/deps/<test> -> target/<profile>
    let bin = dir.join(format!("vaxpass-verify{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

/// Runs `vaxpass-verify <args> --format json`; returns the JSON report (`None` without the
/// binary). Asserts that the exit status agrees with the report's verdict.
pub fn verify_json(args: &[&std::ffi::OsStr]) -> Option<serde_json::Value> {
    let out = Command::new(vaxpass_verify()?)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let valid = report["valid"].as_bool().unwrap();
    let undecided = report["failure"]["code"] == "REVOCATION_UNKNOWN";
    let expected = match (valid, undecided) {
        (true, _) => 0,
        (false, true) => 3,
        (false, false) => 1,
    };
    assert_eq!(out.status.code(), Some(expected), "{report}");
    Some(report)
}
pub mod issuer;
