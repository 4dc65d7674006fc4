//! Public conformance data: eu-dcc-schema's examples and test payloads, and the schema flags of
//! dgc-testdata. Read from `shared/conformance/` at test time; skipped (with a message) when
//! that folder is absent.

use std::path::{Path, PathBuf};

use super::{Options, SchemaSet};

/// Where the conformance data lives (overridable with `VAXPASS_CONFORMANCE`).
fn conformance_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VAXPASS_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    let fixed = PathBuf::from("/work/shared/conformance");
    if fixed.is_dir() {
        return Some(fixed);
    }
    eprintln!(
        "SKIPPED: conformance data not found at {} (set VAXPASS_CONFORMANCE)",
        dir.display()
    );
    None
}

/// Every `*.json` file below `dir`, sorted.
pub(crate) fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn eu_dcc_schema_examples_and_test_payloads() {
    let Some(dir) = conformance_dir() else { return };
    let dir = dir.join("eu-dcc-schema");
    for assert_formats in [false, true] {
        let set =
            SchemaSet::embedded_with(Options::default().assert_formats(assert_formats)).unwrap();
        let mut valid = json_files(&dir.join("examples"));
        valid.extend(json_files(&dir.join("test/valid")));
        let invalid = json_files(&dir.join("test/invalid"));
        assert_eq!(valid.len(), 27 + 13);
        assert_eq!(invalid.len(), 6);
        for p in &valid {
            let name = p.file_stem().unwrap().to_string_lossy();
            let payload = read_json(p);
            // Against the payload's own `ver` and against the newest schema.
            for r in [
                set.validate(&payload),
                set.validate_version("1.3.3", &payload),
            ] {
                if assert_formats && name.starts_with("T-rat-dates") && name != "T-rat-dates3" {
                    // `sc` offsets `+hh` / `+hhmm` are not RFC 3339.
                    let e = r.unwrap_err().to_string();
                    assert_eq!(
                        e,
                        "/t/0/sc: the string is not a valid RFC 3339 date-time (schema 1.3.3)"
                    );
                } else if let Err(e) = r {
                    panic!("{} (assert_formats={assert_formats}): {e}", p.display());
                }
            }
        }
        for p in &invalid {
            let payload = read_json(p);
            let e = set
                .validate_version("1.3.3", &payload)
                .expect_err(&p.display().to_string());
            println!("{}: {e}", p.file_name().unwrap().to_string_lossy());
            set.validate(&payload).expect_err(&p.display().to_string());
        }
    }
}
