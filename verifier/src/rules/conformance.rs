//! Runners for the public CertLogic test suites and for rule tests in the
//! `dgc-business-rules-testdata` layout, returning a [`SuiteReport`] (for the test suite of this
//! crate, and for `vaxpass-verify rules test DIR` / `rules certlogic-suite DIR`).

use super::certlogic::{self, Limits};
use super::datetime::DateTime;
use super::rule::Rule;
use super::validate;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// The outcome of running a suite: counts and one line per disagreement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SuiteReport {
    /// Checks that agreed with the expectation.
    pub passed: usize,
    /// Checks that disagreed.
    pub failed: usize,
    /// Checks not run (`"directive": "skip"`).
    pub skipped: usize,
    /// One human-readable line per disagreement (`failed` lines).
    pub disagreements: Vec<String>,
}

impl SuiteReport {
    fn pass(&mut self) {
        self.passed += 1;
    }

    fn fail(&mut self, line: String) {
        self.failed += 1;
        self.disagreements.push(line);
    }

    /// Whether every check agreed.
    pub fn all_agree(&self) -> bool {
        self.failed == 0
    }

    fn merge(&mut self, other: SuiteReport) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.disagreements.extend(other.disagreements);
    }
}

impl fmt::Display for SuiteReport {
    /// Every disagreement on its own line, then `N passed, M failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.disagreements {
            writeln!(f, "{line}")?;
        }
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, " ({} skipped)", self.skipped)?;
        }
        Ok(())
    }
}

/// Why a suite could not be run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// A folder or file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    let io = |source| SuiteError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Reads a JSON file; a file that cannot be read or parsed is one disagreement.
fn read_json(path: &Path, report: &mut SuiteReport) -> Option<Value> {
    match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => Some(v),
        Err(e) => {
            report.fail(format!("{}: unreadable: {e}", path.display()));
            None
        }
    }
}

fn skipped(v: &Value) -> bool {
    v.get("directive").and_then(Value::as_str) == Some("skip")
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        s.chars().take(117).collect::<String>() + "..."
    } else {
        s
    }
}

/// Runs every `*.json` file of a CertLogic evaluator test-suite folder (`testSuite/`):
/// evaluates each assertion's expression (or its case's) on its data and compares the result
/// deeply with `expected`. `"directive": "skip"` is honoured at suite, case and assertion level
/// (counted as skipped); `"only"` is ignored, so that everything else still runs.
///
/// # Errors
/// [`SuiteError::Io`] when the folder cannot be read.
pub fn run_certlogic_suite(dir: &Path) -> Result<SuiteReport, SuiteError> {
    let mut report = SuiteReport::default();
    for path in json_files(dir)? {
        let Some(suite) = read_json(&path, &mut report) else {
            continue;
        };
        let file = file_name(&path);
        let suite_skipped = skipped(&suite);
        let cases = suite.get("cases").and_then(Value::as_array);
        for case in cases.into_iter().flatten() {
            let case_skipped = suite_skipped || skipped(case);
            let case_name = case.get("name").and_then(Value::as_str).unwrap_or("");
            let assertions = case.get("assertions").and_then(Value::as_array);
            for (i, assertion) in assertions.into_iter().flatten().enumerate() {
                if case_skipped || skipped(assertion) {
                    report.skipped += 1;
                    continue;
                }
                let Some(expr) = assertion
                    .get("certLogicExpression")
                    .or_else(|| case.get("certLogicExpression"))
                else {
                    report.fail(format!("{file}: {case_name} #{i}: no expression"));
                    continue;
                };
                let data = assertion.get("data").unwrap_or(&Value::Null);
                let expected = assertion.get("expected").unwrap_or(&Value::Null);
                match certlogic::evaluate(expr, data) {
                    Ok(actual) if actual == *expected => report.pass(),
                    Ok(actual) => report.fail(format!(
                        "{file}: {case_name} #{i}: {} on {} gave {}, expected {}",
                        short(expr),
                        short(data),
                        short(&actual),
                        short(expected)
                    )),
                    Err(e) => report.fail(format!(
                        "{file}: {case_name} #{i}: {} on {}: error {e}, expected {}",
                        short(expr),
                        short(data),
                        short(expected)
                    )),
                }
            }
        }
    }
    Ok(report)
}

/// Runs every `*.json` file of a CertLogic validation test-suite folder
/// (`validation-testSuite/`): validates each case's expression and compares the issues (each
/// sub-expression and message) with the expected list.
///
/// # Errors
/// [`SuiteError::Io`] when the folder cannot be read.
pub fn run_validation_suite(dir: &Path) -> Result<SuiteReport, SuiteError> {
    let mut report = SuiteReport::default();
    for path in json_files(dir)? {
        let Some(suite) = read_json(&path, &mut report) else {
            continue;
        };
        let file = file_name(&path);
        let suite_skipped = skipped(&suite);
        let cases = suite.get("cases").and_then(Value::as_array);
        for (i, case) in cases.into_iter().flatten().enumerate() {
            if suite_skipped || skipped(case) {
                report.skipped += 1;
                continue;
            }
            let expr = case.get("certLogicExpression").unwrap_or(&Value::Null);
            let expected: Vec<(Value, String)> = case
                .get("issues")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|i| {
                    (
                        i.get("expr").cloned().unwrap_or(Value::Null),
                        i.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    )
                })
                .collect();
            let actual: Vec<(Value, String)> = validate::validate(expr)
                .into_iter()
                .map(|i| (i.expr, i.message))
                .collect();
            if actual == expected {
                report.pass();
            } else {
                report.fail(format!(
                    "{file}: case #{i} {}: issues {:?}, expected {:?}",
                    short(expr),
                    actual.iter().map(|(_, m)| m).collect::<Vec<_>>(),
                    expected.iter().map(|(_, m)| m).collect::<Vec<_>>()
                ));
            }
        }
    }
    Ok(report)
}

/// Runs rule tests in the `dgc-business-rules-testdata` layout: below `dir` (recursively),
/// every folder with a `rule.json` and a `tests/` folder; each `tests/*.json` is one test
/// `{ name, payload, external, expected }`. The rule's logic is evaluated on
/// `{ "payload": payload (null if absent), "external": external }` and must give `expected`
/// without error; if `external.validationClock` is present it must lie in
/// `[ValidFrom, ValidTo)` of the rule. Each test is one check.
///
/// # Errors
/// [`SuiteError::Io`] when `dir` cannot be read.
pub fn run_rule_tests(dir: &Path) -> Result<SuiteReport, SuiteError> {
    let mut report = SuiteReport::default();
    let mut rule_dirs = Vec::new();
    find_rule_dirs(dir, &mut rule_dirs, 0).map_err(|source| SuiteError::Io {
        path: dir.to_owned(),
        source,
    })?;
    rule_dirs.sort();
    for rule_dir in rule_dirs {
        report.merge(run_one_rule(dir, &rule_dir));
    }
    Ok(report)
}

fn find_rule_dirs(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> std::io::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    if dir.join("rule.json").is_file() && dir.join("tests").is_dir() {
        out.push(dir.to_owned());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            find_rule_dirs(&entry.path(), out, depth + 1)?;
        }
    }
    Ok(())
}

fn run_one_rule(root: &Path, rule_dir: &Path) -> SuiteReport {
    let mut report = SuiteReport::default();
    let label = rule_dir
        .strip_prefix(root)
        .unwrap_or(rule_dir)
        .display()
        .to_string();
    let rule = match Rule::from_file(&rule_dir.join("rule.json")) {
        Ok(r) => r,
        Err(e) => {
            report.fail(format!("{label}: {e}"));
            return report;
        }
    };
    let validity = rule.validity().ok().map(|(from, to)| {
        (
            from.unix_seconds().saturating_mul(1000),
            to.unix_seconds().saturating_mul(1000),
        )
    });
    let tests = match json_files(&rule_dir.join("tests")) {
        Ok(t) => t,
        Err(e) => {
            report.fail(format!("{label}: {e}"));
            return report;
        }
    };
    for path in tests {
        let Some(test) = read_json(&path, &mut report) else {
            continue;
        };
        let name = format!(
            "{label}/{} ({})",
            file_name(&path),
            test.get("name").and_then(Value::as_str).unwrap_or("")
        );
        let external = test.get("external").cloned().unwrap_or(Value::Null);
        if let Some(clock) = external.get("validationClock") {
            let clock_ms = clock
                .as_str()
                .and_then(DateTime::parse)
                .map(DateTime::unix_millis);
            match (clock_ms, validity) {
                (Some(c), Some((from, to))) if from <= c && c < to => {}
                _ => {
                    report.fail(format!(
                        "{name}: validationClock {clock} is not within [{}, {}) of the rule",
                        rule.valid_from, rule.valid_to
                    ));
                    continue;
                }
            }
        }
        let mut data = Map::new();
        data.insert(
            "payload".into(),
            test.get("payload").cloned().unwrap_or(Value::Null),
        );
        data.insert("external".into(), external);
        let data = Value::Object(data);
        let expected = test.get("expected").unwrap_or(&Value::Null);
        match certlogic::evaluate_with_limits(&rule.logic, &data, Limits::default()) {
            Ok(actual) if actual == *expected => report.pass(),
            Ok(actual) => report.fail(format!(
                "{name}: gave {}, expected {}",
                short(&actual),
                short(expected)
            )),
            Err(e) => report.fail(format!("{name}: error {e}, expected {}", short(expected))),
        }
    }
    report
}
