//! The dgc-testdata conformance runner (feature `conformance`).
//!
//! A test case is one JSON file below a `2DCode/raw/` (or `Raw/`) folder, in the format of the
//! public `dgc-testdata` repository: the same certificate at every stage of the pipeline
//! (`JSON`, `CBOR`, `COSE`, `COMPRESSED`, `BASE45`, `PREFIX`, `2DCODE`), a test context
//! (`TESTCTX`: schema version, signer certificate, validation clock) and `EXPECTEDRESULTS`, a set
//! of boolean flags. Every flag present is evaluated with this crate's own stages; an absent flag
//! means "not tested". One (file, flag) pair is one result.
//!
//! A case without an embedded `2DCODE` picture is checked against the picture its country keeps
//! in a `png/` folder beside `2DCode/` (or inside it), matched by name: the same stem, or a stem
//! that contains the other as whole `-`/`_`/`.`/space-separated words (`BG-1.png` for `1.json`,
//! `1_DE.png` for `1.json`, `VAC_1.png` for `VAC_1_v2.json`), when exactly one picture matches.
//! A `EXPECTEDPICTUREDECODE` flag with no picture anywhere is listed in [`Report::not_tested`],
//! neither passed nor failed.
//!
//! Known-wrong upstream expectations are waived through a [`Waivers`] list kept in the project,
//! each entry with its reason; a waived pair that disagrees is reported as waived, not failed.

mod case;
mod evaluate;

pub use case::{Flag, TestCase};
pub use evaluate::evaluate;

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The result of evaluating one flag of one test case.
#[derive(Debug, Clone, Serialize)]
pub struct PairResult {
    /// The test file, relative to the folder that was run.
    pub file: String,
    /// The flag, e.g. `EXPECTEDVERIFY`.
    pub flag: Flag,
    /// What the file expects.
    pub expected: bool,
    /// What this crate found.
    pub actual: bool,
    /// Why the step succeeded or failed (the error of the failing stage, or "ok").
    pub detail: String,
    /// The waiver's reason, when this pair disagrees and a waiver covers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waived: Option<String>,
    /// The picture taken from the `png/` folder for this case, relative to the folder that
    /// was run (absent when the case embeds its picture or has none): another runner of the
    /// same suite (the wasm build's) reads the same file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
}

impl PairResult {
    /// Whether the crate agrees with the expectation.
    pub fn agrees(&self) -> bool {
        self.expected == self.actual
    }
    /// Whether this pair counts as passed: it agrees, or it disagrees under a waiver.
    pub fn passed(&self) -> bool {
        self.agrees() || self.waived.is_some()
    }
}

/// A test file that could not be read as a test case at all.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenFile {
    /// The file, relative to the folder that was run.
    pub file: String,
    /// Why it could not be read.
    pub error: String,
}

/// Everything a run found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Every evaluated (file, flag) pair, in file order.
    pub results: Vec<PairResult>,
    /// Files that are not test cases (unreadable JSON, no `EXPECTEDRESULTS`).
    pub broken: Vec<BrokenFile>,
    /// Waivers that matched no disagreeing pair: candidates for removal.
    pub unused_waivers: Vec<String>,
    /// (file, flag) pairs that could not be evaluated for want of input (a picture flag
    /// without an embedded picture nor one in the `png/` folder): neither passed nor failed.
    pub not_tested: Vec<String>,
}

impl Report {
    /// Pairs that agree, or disagree under a waiver.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }
    /// Pairs that disagree without a waiver, plus broken files.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed()).count() + self.broken.len()
    }
    /// Pairs that disagree under a waiver.
    pub fn waived(&self) -> usize {
        self.results
            .iter()
            .filter(|r| !r.agrees() && r.waived.is_some())
            .count()
    }
    /// Whether every pair agrees (waivers aside) and every file could be read.
    pub fn all_passed(&self) -> bool {
        self.failed() == 0
    }
}

impl fmt::Display for Report {
    /// The closing summary line, `N passed, M failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Errors that stop a run before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The folder could not be read.
    #[error("cannot read test folder {path}: {source}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The folder holds no test case at all (a wrong path is the usual cause).
    #[error("no test cases (**/2DCode/raw/*.json) below {0}")]
    Empty(PathBuf),
    /// A waiver line could not be parsed.
    #[error("waiver list line {line}: {message}")]
    Waiver {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Known-wrong upstream expectations, one per line: `PATTERN FLAG REASON…`.
///
/// `PATTERN` is a path relative to the test folder; `*` matches any run of characters within
/// one path segment (so `NL/2DCode/raw/*.json` is every NL case). `FLAG` is a flag name or `*`.
/// Blank lines and lines starting with `#` are ignored.
#[derive(Debug, Default, Clone)]
pub struct Waivers {
    entries: Vec<Waiver>,
}

#[derive(Debug, Clone)]
struct Waiver {
    pattern: String,
    flag: Option<Flag>,
    reason: String,
}

impl Waivers {
    /// Parses a waiver list.
    ///
    /// # Errors
    /// [`RunError::Waiver`] for a line without a reason or with an unknown flag.
    pub fn parse(text: &str) -> Result<Self, RunError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: &str| RunError::Waiver {
                line: i + 1,
                message: message.into(),
            };
            let mut parts = line.splitn(3, char::is_whitespace);
            let pattern = parts.next().ok_or_else(|| err("missing pattern"))?;
            let flag = parts.next().ok_or_else(|| err("missing flag"))?;
            let reason = parts.next().map(str::trim).unwrap_or_default();
            if reason.is_empty() {
                return Err(err("every waiver needs a reason"));
            }
            let flag = match flag {
                "*" => None,
                name => Some(Flag::from_name(name).ok_or_else(|| err("unknown flag"))?),
            };
            entries.push(Waiver {
                pattern: pattern.into(),
                flag,
                reason: reason.into(),
            });
        }
        Ok(Waivers { entries })
    }

    fn find(&self, file: &str, flag: Flag) -> Option<usize> {
        self.entries
            .iter()
            .position(|w| w.flag.is_none_or(|f| f == flag) && pattern_matches(&w.pattern, file))
    }
}

fn pattern_matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    pat.len() == segs.len() && pat.iter().zip(&segs).all(|(p, s)| segment_matches(p, s))
}

fn segment_matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.len() >= head.len()
                && text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| {
                    text.is_char_boundary(head.len() + i)
                        && segment_matches(tail, &text[head.len() + i..])
                })
        }
    }
}

/// Every test file below `dir`: `**/2DCode/raw/*.json` (also `Raw`), sorted.
///
/// # Errors
/// [`RunError::Io`] when a folder cannot be read.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, RunError> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|source| RunError::Io {
            path: folder.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| RunError::Io {
                path: folder.clone(),
                source,
            })?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|source| RunError::Io {
                path: path.clone(),
                source,
            })?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && is_test_file(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn is_test_file(path: &Path) -> bool {
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .map(str::to_owned)
    };
    let parent = path.parent();
    path.extension().is_some_and(|e| e == "json")
        && name(parent).is_some_and(|n| n.eq_ignore_ascii_case("raw"))
        && name(parent.and_then(Path::parent)).is_some_and(|n| n == "2DCode")
}

/// Runs every test case below `dir`.
///
/// # Errors
/// [`RunError`] when the folder cannot be read or holds no test case. Problems with single
/// files are reported in [`Report::broken`], not as errors.
pub fn run(dir: &Path, waivers: &Waivers) -> Result<Report, RunError> {
    let files = discover(dir)?;
    if files.is_empty() {
        return Err(RunError::Empty(dir.to_path_buf()));
    }
    let mut report = Report::default();
    let mut used = vec![false; waivers.entries.len()];
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let case = match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| TestCase::from_json(&bytes))
            .and_then(|case| with_side_picture(case, &path, dir))
        {
            Ok(case) => case,
            Err(error) => {
                report.broken.push(BrokenFile { file: rel, error });
                continue;
            }
        };
        for (flag, expected) in case.flags() {
            if flag == Flag::PictureDecode && case.picture.is_none() {
                report.not_tested.push(format!("{rel} {flag}: no picture"));
                continue;
            }
            let (actual, detail) = match evaluate::evaluate(&case, flag) {
                Ok(()) => (true, "ok".to_owned()),
                Err(why) => (false, why),
            };
            let mut waived = None;
            if actual != expected {
                if let Some(i) = waivers.find(&rel, flag) {
                    used[i] = true;
                    waived = Some(waivers.entries[i].reason.clone());
                }
            }
            report.results.push(PairResult {
                file: rel.clone(),
                flag,
                expected,
                actual,
                detail,
                waived,
                picture: case.picture_file.clone(),
            });
        }
    }
    report.unused_waivers = waivers
        .entries
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(w, _)| format!("{} {}", w.pattern, w.flag.map_or("*", Flag::name)))
        .collect();
    Ok(report)
}

/// Fills [`TestCase::picture`] from the `png/` folder when the file embeds no picture.
fn with_side_picture(mut case: TestCase, path: &Path, root: &Path) -> Result<TestCase, String> {
    if case.picture.is_some() {
        return Ok(case);
    }
    let Some(found) = side_picture(path) else {
        return Ok(case);
    };
    let size = std::fs::metadata(&found).map_err(|e| e.to_string())?.len();
    let rel = found
        .strip_prefix(root)
        .unwrap_or(&found)
        .to_string_lossy()
        .replace('\\', "/");
    if size > crate::qr::MAX_IMAGE_BYTES as u64 {
        return Err(format!(
            "picture {rel} is {size} bytes, more than the {} accepted",
            crate::qr::MAX_IMAGE_BYTES
        ));
    }
    case.picture = Some(std::fs::read(&found).map_err(|e| format!("picture {rel}: {e}"))?);
    case.picture_file = Some(rel);
    Ok(case)
}

/// The picture kept for the test file `path` (`…/2DCode/raw/NAME.json`) in `…/png/` or
/// `…/2DCode/png/`, matched by name (see the module docs).
pub fn side_picture(path: &Path) -> Option<PathBuf> {
    let stem = path.file_stem()?.to_str()?;
    let code_dir = path.parent()?.parent()?;
    let folders = [code_dir.parent()?.join("png"), code_dir.join("png")];
    let mut pictures = Vec::new();
    for folder in &folders {
        let Ok(entries) = std::fs::read_dir(folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            let is_picture = p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["png", "jpg", "jpeg", "webp"]
                    .iter()
                    .any(|x| e.eq_ignore_ascii_case(x))
            });
            if is_picture && p.is_file() {
                pictures.push(p);
            }
        }
    }
    pictures.sort();
    let stem_of = |p: &PathBuf| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_owned)
            .unwrap_or_default()
    };
    if let Some(exact) = pictures
        .iter()
        .find(|p| stem_of(p).eq_ignore_ascii_case(stem))
    {
        return Some(exact.clone());
    }
    let mut matches = pictures.iter().filter(|p| names_match(stem, &stem_of(p)));
    match (matches.next(), matches.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

/// Whether one name's words appear, in order and side by side, among the other's.
fn names_match(a: &str, b: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(['-', '_', '.', ' '])
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let (a, b) = (words(a), words(b));
    let contains = |long: &[String], short: &[String]| {
        !short.is_empty() && long.windows(short.len()).any(|w| w == short)
    };
    contains(&a, &b) || contains(&b, &a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_pictures_are_matched_by_name() {
        assert!(names_match("1", "BG-1"));
        assert!(names_match("1", "1_DE"));
        assert!(names_match("VAC_1_v2", "VAC_1"));
        assert!(!names_match("1", "11"));
        assert!(!names_match("1", "BG-11"));
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("XX/2DCode/raw");
        std::fs::create_dir_all(&raw).unwrap();
        std::fs::create_dir_all(dir.path().join("XX/png")).unwrap();
        for name in [
            "XX-1.png",
            "XX-11.png",
            "2.png",
            "3-a.png",
            "3-b.png",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join("XX/png").join(name), b"x").unwrap();
        }
        let pic =
            |json: &str| side_picture(&raw.join(json)).map(|p| p.file_name().unwrap().to_owned());
        assert_eq!(pic("1.json").unwrap(), "XX-1.png");
        assert_eq!(pic("11.json").unwrap(), "XX-11.png");
        assert_eq!(pic("2.json").unwrap(), "2.png");
        assert_eq!(pic("3.json"), None, "ambiguous: two pictures match");
        assert_eq!(pic("4.json"), None);
    }

    /// A case without `2DCODE` takes its picture from `png/`; without any picture, its picture
    /// flag is "not tested".
    #[test]
    fn a_case_without_2dcode_uses_the_png_folder_or_is_not_tested() {
        let data =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/dgc-testdata");
        let (Ok(at), Ok(b1)) = (
            std::fs::read(data.join("AT/2DCode/raw/1.json")),
            std::fs::read(data.join("common/2DCode/raw/B1.json")),
        ) else {
            eprintln!(
                "SKIPPED: public conformance data not found at {}",
                data.display()
            );
            return;
        };
        let png = std::fs::read(data.join("AT/png/1.png")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut doc: serde_json::Value = serde_json::from_slice(&at).unwrap();
        doc.as_object_mut().unwrap().remove("2DCODE");
        doc["EXPECTEDRESULTS"] = serde_json::json!({"EXPECTEDPICTUREDECODE": true});
        for (country, picture) in [("YY", Some("YY_1_vaccination.png")), ("ZZ", None)] {
            let raw = dir.path().join(country).join("2DCode/raw");
            std::fs::create_dir_all(&raw).unwrap();
            std::fs::write(raw.join("1.json"), doc.to_string()).unwrap();
            if let Some(name) = picture {
                std::fs::create_dir_all(dir.path().join(country).join("png")).unwrap();
                std::fs::write(dir.path().join(country).join("png").join(name), &png).unwrap();
            }
        }
        let report = run(dir.path(), &Waivers::default()).unwrap();
        assert_eq!(report.results.len(), 1, "{report:?}");
        assert_eq!(report.results[0].file, "YY/2DCode/raw/1.json");
        assert!(report.results[0].passed(), "{:?}", report.results[0]);
        assert_eq!(
            report.not_tested,
            vec!["ZZ/2DCode/raw/1.json EXPECTEDPICTUREDECODE: no picture".to_owned()]
        );
        assert_eq!(report.failed(), 0);
        // The real B1 case has no picture anywhere: not tested, not failed.
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("common/2DCode/raw");
        std::fs::create_dir_all(&raw).unwrap();
        std::fs::write(raw.join("B1.json"), b1).unwrap();
        let report = run(dir.path(), &Waivers::default()).unwrap();
        assert!(
            report
                .not_tested
                .iter()
                .any(|n| n.contains("EXPECTEDPICTUREDECODE"))
        );
        assert!(!report.results.iter().any(|r| r.flag == Flag::PictureDecode));
    }

    #[test]
    fn waiver_patterns() {
        assert!(pattern_matches(
            "NL/2DCode/raw/*.json",
            "NL/2DCode/raw/101.json"
        ));
        assert!(!pattern_matches(
            "NL/2DCode/raw/*.json",
            "NL/x/2DCode/raw/101.json"
        ));
        assert!(pattern_matches(
            "ES/2DCode/raw/40*.json",
            "ES/2DCode/raw/401.json"
        ));
        assert!(!pattern_matches(
            "ES/2DCode/raw/40*.json",
            "ES/2DCode/raw/501.json"
        ));
        assert!(pattern_matches(
            "common/2DCode/raw/CO5.json",
            "common/2DCode/raw/CO5.json"
        ));
        let w =
            Waivers::parse("# c\n\nNL/* * why\nES/2DCode/raw/401.json EXPECTEDVERIFY P-384 key\n")
                .unwrap();
        assert_eq!(w.entries.len(), 2);
        assert!(Waivers::parse("NL/* EXPECTEDVERIFY").is_err());
        assert!(Waivers::parse("NL/* EXPECTEDNOTHING reason").is_err());
    }
}
