//! Runs the library's own stages against every dgc-testdata case and compares with the
//! `EXPECTED*` flags (an absent flag means "not tested").
//!
//! Data: `/work/shared/conformance/dgc-testdata/**/2DCode/raw/*.json`, or the folder named by
//! `VAXPASS_DGC_TESTDATA`. Skipped with a message when absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vaxpass_verifier::crypto::Backend;
use vaxpass_verifier::{Limits, SignedHcert, Timestamp, TrustedSigner, base45, hc1, zlib};

/// (file suffix, flag) pairs where the library deliberately disagrees with the data.
const WAIVED: &[(&str, &str, &str)] = &[
    (
        "ES/2DCode/raw/401.json",
        "EXPECTEDVERIFY",
        "P-384 DSC under alg -7 (ES256): refused as ALGORITHM, upstream expects true",
    ),
    (
        "ES/2DCode/raw/402.json",
        "EXPECTEDVERIFY",
        "P-384 DSC under alg -7 (ES256): refused as ALGORITHM, upstream expects true",
    ),
    (
        "ES/2DCode/raw/403.json",
        "EXPECTEDVERIFY",
        "P-384 DSC under alg -7 (ES256): refused as ALGORITHM, upstream expects true",
    ),
];

fn data_dir() -> PathBuf {
    std::env::var_os("VAXPASS_DGC_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/conformance/dgc-testdata"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "json")
            && path.parent().is_some_and(|p| p.ends_with("2DCode/raw"))
        {
            out.push(path);
        }
    }
}

fn hex_field(case: &serde_json::Value, key: &str) -> Option<Result<Vec<u8>, String>> {
    case.get(key)
        .and_then(|v| v.as_str())
        .map(|s| hex::decode(s.trim()).map_err(|e| format!("{key} is not hex: {e}")))
}

/// `COMPRESSED`, else the Base45 decoding of `BASE45` (via the library's own stage).
fn compressed(case: &serde_json::Value) -> Option<Result<Vec<u8>, String>> {
    hex_field(case, "COMPRESSED").or_else(|| {
        let b45 = case.get("BASE45")?.as_str()?;
        Some(base45::decode(b45.as_bytes()).map_err(|e| format!("[BASE45] {e}")))
    })
}

/// `COSE`, else the inflation of [`compressed`] (via the library's own stage).
fn cose(case: &serde_json::Value) -> Option<Result<Vec<u8>, String>> {
    hex_field(case, "COSE").or_else(|| {
        compressed(case).map(|z| {
            zlib::inflate(&z?, Limits::default().max_inflated)
                .map_err(|e| format!("[COMPRESSION] {e}"))
        })
    })
}

/// Outcome of one flag: Ok(()) = the step succeeded, Err(reason) = it failed.
type Outcome = Result<(), String>;

fn evaluate(case: &serde_json::Value, flag: &str) -> Option<Outcome> {
    let text = |k: &str| case.get(k).and_then(|v| v.as_str());
    let ctx = case.get("TESTCTX")?;
    let limits = Limits::default();
    let signer = || -> Result<TrustedSigner, String> {
        use base64::Engine;
        let b64 = ctx
            .get("CERTIFICATE")
            .and_then(|v| v.as_str())
            .ok_or("no TESTCTX.CERTIFICATE")?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("certificate base64: {e}"))?;
        TrustedSigner::from_der(&der).map_err(|e| format!("[certificate] {e}"))
    };
    let signed = || -> Result<SignedHcert, String> {
        let cose = cose(case).ok_or("no COSE")??;
        SignedHcert::from_cose(cose, &limits).map_err(|e| format!("[{}] {e}", e.code()))
    };
    let code = |e: vaxpass_verifier::Error| format!("[{}] {e}", e.code());
    Some(match flag {
        "EXPECTEDUNPREFIX" => {
            let prefixed = text("PREFIX")?;
            hc1::strip_prefix(prefixed)
                .map_err(|e| e.to_string())
                .and_then(|rest| match text("BASE45") {
                    Some(b45) if b45 != rest => Err("text after HC1: differs from BASE45".into()),
                    _ => Ok(()),
                })
        }
        "EXPECTEDB45DECODE" => {
            let b45 = text("BASE45")?;
            base45::decode(b45.as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|bytes| match hex_field(case, "COMPRESSED") {
                    Some(Ok(z)) if z != bytes => Err("decodes, but not to COMPRESSED".into()),
                    _ => Ok(()),
                })
        }
        "EXPECTEDCOMPRESSION" => {
            let z = match compressed(case)? {
                Ok(z) => z,
                Err(e) => return Some(Err(e)),
            };
            zlib::inflate(&z, limits.max_inflated)
                .map_err(|e| e.to_string())
                .and_then(|cose| match hex_field(case, "COSE") {
                    Some(Ok(c)) if c != cose => Err("inflates, but not to COSE".into()),
                    _ => Ok(()),
                })
        }
        "EXPECTEDVERIFY" => {
            let _ = cose(case)?;
            (|| {
                let signer = signer()?;
                let signed = signed()?;
                let outcome = signed.verify_signature_with(&signer).map_err(code);
                // Both backends must reach the same verdict (RustCrypto is the default
                // without the `aws-lc` feature, so this only adds a check with it).
                let pure =
                    TrustedSigner::from_der_with(signer.certificate_der(), Backend::RustCrypto)
                        .map_err(|e| e.to_string())
                        .and_then(|s| signed.verify_signature_with(&s).map_err(code));
                if pure.is_ok() != outcome.is_ok() {
                    return Err(format!(
                        "backends disagree: default {outcome:?}, RustCrypto {pure:?}"
                    ));
                }
                outcome
            })()
        }
        "EXPECTEDEXPIRATIONCHECK" => {
            let _ = cose(case)?;
            (|| {
                let signer = signer()?;
                let clock = ctx
                    .get("VALIDATIONCLOCK")
                    .and_then(|v| v.as_str())
                    .ok_or("no VALIDATIONCLOCK")?;
                let clock = Timestamp::parse(clock).map_err(|e| e.to_string())?;
                signed()?.check_validity(&signer, clock).map_err(code)
            })()
        }
        "EXPECTEDKEYUSAGE" => {
            let _ = cose(case)?;
            (|| {
                let signer = signer()?;
                let signed = signed()?;
                signed.verify_signature_with(&signer).map_err(code)?;
                signed.check_key_usage(&signer).map_err(code)
            })()
        }
        // Not an upstream flag: the whole chain `PREFIX` -> SignedHcert through the public
        // decoder, expected to succeed unless a decoding flag says otherwise.
        "CHAIN" => {
            let prefixed = text("PREFIX")?;
            vaxpass_verifier::decode(prefixed, &limits)
                .map(|_| ())
                .map_err(code)
        }
        _ => return None,
    })
}

/// The expectation for [`evaluate`]'s `CHAIN` pseudo-flag.
fn chain_expected(case: &serde_json::Value) -> Option<bool> {
    case.get("PREFIX")?;
    let results = case.get("EXPECTEDRESULTS")?;
    let flags: Vec<bool> = [
        "EXPECTEDUNPREFIX",
        "EXPECTEDB45DECODE",
        "EXPECTEDCOMPRESSION",
        "EXPECTEDDECODE",
    ]
    .iter()
    .filter_map(|f| results.get(f).and_then(|v| v.as_bool()))
    .collect();
    // Only where at least one decoding step is under test (common/CBO2 tests VERIFY only).
    (!flags.is_empty()).then(|| flags.iter().all(|f| *f))
}

#[test]
fn dgc_testdata_flags() {
    let root = data_dir();
    if !root.is_dir() {
        eprintln!("SKIPPED: dgc-testdata not found at {}", root.display());
        return;
    }
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no test files under {}", root.display());
    let verbose = std::env::var_os("VAXPASS_CONFORMANCE_VERBOSE").is_some();
    const FLAGS: [&str; 7] = [
        "EXPECTEDVERIFY",
        "EXPECTEDEXPIRATIONCHECK",
        "EXPECTEDKEYUSAGE",
        "EXPECTEDB45DECODE",
        "EXPECTEDCOMPRESSION",
        "EXPECTEDUNPREFIX",
        "CHAIN",
    ];
    // flag -> (agree, disagree, waived, not evaluable)
    let mut stats: BTreeMap<&str, [usize; 4]> = FLAGS.iter().map(|f| (*f, [0; 4])).collect();
    let mut unexpected = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let case: serde_json::Value = match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                unexpected.push(format!("{rel}: unreadable: {e}"));
                continue;
            }
        };
        for flag in FLAGS {
            let expected = if flag == "CHAIN" {
                chain_expected(&case)
            } else {
                case.get("EXPECTEDRESULTS")
                    .and_then(|r| r.get(flag))
                    .and_then(|v| v.as_bool())
            };
            let Some(expected) = expected else {
                continue;
            };
            let s = stats.get_mut(flag).expect("flag listed");
            let Some(outcome) = evaluate(&case, flag) else {
                s[3] += 1;
                continue;
            };
            if outcome.is_ok() == expected {
                if let (true, Err(e)) = (verbose, &outcome) {
                    eprintln!("AGREE {rel}: {flag} expected false, library failed: {e}");
                }
                s[0] += 1;
                continue;
            }
            let detail = match &outcome {
                Ok(()) => "succeeded".to_string(),
                Err(e) => format!("failed: {e}"),
            };
            let line = format!("{rel}: {flag} expected {expected}, library {detail}");
            if let Some((_, _, why)) = WAIVED
                .iter()
                .find(|(file, f, _)| rel.ends_with(file) && *f == flag)
            {
                s[2] += 1;
                eprintln!("WAIVED {line} ({why})");
            } else {
                s[1] += 1;
                eprintln!("DISAGREE {line}");
                unexpected.push(line);
            }
        }
    }
    eprintln!("dgc-testdata: {} files", files.len());
    eprintln!(
        "{:<26} {:>6} {:>9} {:>7} {:>14}",
        "flag", "agree", "disagree", "waived", "not evaluable"
    );
    for (flag, [a, d, w, n]) in &stats {
        eprintln!("{flag:<26} {a:>6} {d:>9} {w:>7} {n:>14}");
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected disagreements:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
