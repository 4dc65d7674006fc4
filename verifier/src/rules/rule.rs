//! Validation rules in the EU DCC gateway format, rule sets loaded from folders, selection of the
//! rules that apply to a certificate, and evaluation to passed / failed / open.

use super::certlogic::{self, Limits, RuleData};
use super::validate::{self, Issue};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// `Acceptance` (rules of the country of arrival) or `Invalidation` (rules of the issuing country).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuleType {
    /// Rules a country of arrival sets for certificates it accepts.
    Acceptance,
    /// Rules an issuing country sets to invalidate its own certificates.
    Invalidation,
}

/// The certificate type a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CertificateType {
    /// Every certificate.
    General,
    /// Vaccination certificates (`v`).
    Vaccination,
    /// Test certificates (`t`).
    Test,
    /// Recovery certificates (`r`).
    Recovery,
}

impl CertificateType {
    /// The type of a DCC payload: the one of `v`, `t`, `r` that is a non-empty array
    /// (`None` if there is not exactly one).
    pub fn of_payload(payload: &Value) -> Option<Self> {
        let present = |k: &str| {
            payload
                .get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        match (present("v"), present("t"), present("r")) {
            (true, false, false) => Some(CertificateType::Vaccination),
            (false, true, false) => Some(CertificateType::Test),
            (false, false, true) => Some(CertificateType::Recovery),
            _ => None,
        }
    }
}

/// A description of a rule in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// ISO 639-1 language code (`en`, `vi`, …).
    pub lang: String,
    /// The text.
    pub desc: String,
}

/// A validation rule as published on the EU DCC gateway (`validation-rule.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    /// `GR|VR|TR|RR|IR-<CC>-NNNN`.
    pub identifier: String,
    /// Acceptance or invalidation.
    #[serde(rename = "Type")]
    pub rule_type: RuleType,
    /// ISO 3166 alpha-2 code of the country that owns the rule.
    pub country: String,
    /// Optional region within the country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Semantic version of the rule.
    pub version: String,
    /// DCC schema version the rule was written for.
    pub schema_version: String,
    /// `CERTLOGIC`.
    pub engine: String,
    /// Version of the engine.
    pub engine_version: String,
    /// Certificate type the rule applies to.
    pub certificate_type: CertificateType,
    /// Human-readable descriptions; one is in English.
    pub description: Vec<Description>,
    /// Start of validity (ISO 8601 with offset).
    pub valid_from: String,
    /// End of validity, exclusive.
    pub valid_to: String,
    /// Payload fields the rule reads.
    pub affected_fields: Vec<String>,
    /// The CertLogic expression.
    pub logic: Value,
}

/// Why a rule file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a rule in the gateway JSON format.
    #[error("{path} is not a rule in the gateway format: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// `ValidFrom` or `ValidTo` is not an ISO 8601 date-time.
    #[error("rule {identifier}: invalid {field}: {value:?}")]
    Validity {
        /// The rule.
        identifier: String,
        /// `ValidFrom` or `ValidTo`.
        field: &'static str,
        /// The text.
        value: String,
    },
}

/// The result of evaluating one rule on one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "lowercase")]
pub enum RuleOutcome {
    /// The logic evaluated to `true`.
    Passed,
    /// The logic evaluated to `false`.
    Failed,
    /// The rule could not be evaluated (invalid logic, evaluation error, or a non-boolean
    /// result); the reason says which.
    Open(String),
}

impl fmt::Display for RuleOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOutcome::Passed => f.write_str("passed"),
            RuleOutcome::Failed => f.write_str("failed"),
            RuleOutcome::Open(reason) => write!(f, "open ({reason})"),
        }
    }
}

/// A semantic version `MAJOR.MINOR.PATCH` (any suffix is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Semver(pub u64, pub u64, pub u64);

impl Semver {
    /// Parses the leading `MAJOR.MINOR.PATCH` of a version string.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let patch = rest[..end].parse().ok()?;
        Some(Semver(major, minor, patch))
    }
}

impl Rule {
    /// Parses a rule from its JSON text.
    ///
    /// # Errors
    /// [`RuleError::Json`] (with an empty path) when the text is not a rule.
    pub fn from_json(text: &str) -> Result<Self, RuleError> {
        serde_json::from_str(text).map_err(|source| RuleError::Json {
            path: PathBuf::new(),
            source,
        })
    }

    /// Reads a rule file.
    ///
    /// # Errors
    /// [`RuleError::Io`] or [`RuleError::Json`].
    pub fn from_file(path: &Path) -> Result<Self, RuleError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuleError::Io {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| RuleError::Json {
            path: path.to_owned(),
            source,
        })
    }

    /// `[ValidFrom, ValidTo)` as instants.
    ///
    /// # Errors
    /// [`RuleError::Validity`] when either is not an ISO 8601 date-time.
    pub fn validity(&self) -> Result<(Timestamp, Timestamp), RuleError> {
        let parse = |field, value: &str| {
            Timestamp::parse(value).map_err(|_| RuleError::Validity {
                identifier: self.identifier.clone(),
                field,
                value: value.to_owned(),
            })
        };
        Ok((
            parse("ValidFrom", &self.valid_from)?,
            parse("ValidTo", &self.valid_to)?,
        ))
    }

    /// Whether `ValidFrom <= clock < ValidTo` (false if either bound is unreadable).
    pub fn is_valid_at(&self, clock: Timestamp) -> bool {
        self.validity()
            .is_ok_and(|(from, to)| from <= clock && clock < to)
    }

    /// The rule's version, if it is semantic.
    pub fn semver(&self) -> Option<Semver> {
        Semver::parse(&self.version)
    }

    /// The description in a language, if the rule has one.
    pub fn description(&self, lang: &str) -> Option<&str> {
        self.description
            .iter()
            .find(|d| d.lang == lang)
            .map(|d| d.desc.as_str())
    }

    /// Issues of the rule's logic found by static validation (none = valid).
    pub fn logic_issues(&self) -> Vec<Issue> {
        validate::validate(&self.logic)
    }

    /// Evaluates the logic (without validating it first) on a data context
    /// `{ "payload": …, "external": … }`.
    pub fn evaluate(&self, data: &Value) -> RuleOutcome {
        outcome(certlogic::evaluate_boolean(
            &self.logic,
            data,
            Limits::default(),
        ))
    }

    /// Evaluates the logic (without validating it first) on borrowed rule data.
    pub fn evaluate_data(&self, data: RuleData<'_>) -> RuleOutcome {
        outcome(certlogic::evaluate_rule_logic(
            &self.logic,
            data,
            Limits::default(),
        ))
    }

    /// Violations of the gateway upload constraints that can be checked offline
    /// (`validation-rule.schema.json` and `Gateway-constraints.adoc`, except those that depend
    /// on the upload time or the uploader): one message per violation.
    pub fn gateway_violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let id: Vec<&str> = self.identifier.split('-').collect();
        let is_upper2 = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase());
        match id.as_slice() {
            [prefix, cc, number]
                if ["GR", "VR", "TR", "RR", "IR"].contains(prefix)
                    && is_upper2(cc)
                    && !number.is_empty()
                    && number.bytes().all(|b| b.is_ascii_digit()) =>
            {
                if number.starts_with('0') {
                    v.push(format!(
                        "Identifier {}: the schema pattern `^(GR|VR|TR|RR|IR)-[A-Z]{{2}}-[1-9]\\d*$` \
                         allows no leading zero",
                        self.identifier
                    ));
                }
                let expected = match (self.rule_type, self.certificate_type) {
                    (RuleType::Invalidation, _) => "IR",
                    (_, CertificateType::General) => "GR",
                    (_, CertificateType::Vaccination) => "VR",
                    (_, CertificateType::Test) => "TR",
                    (_, CertificateType::Recovery) => "RR",
                };
                if *prefix != expected {
                    v.push(format!(
                        "Identifier must start with {expected} for this rule"
                    ));
                }
                if *cc != self.country {
                    v.push("country code in Identifier does not match Country".into());
                }
            }
            _ => v.push(format!("Identifier {:?} is malformed", self.identifier)),
        }
        if !is_upper2(&self.country) {
            v.push(format!(
                "Country {:?} is not two capital letters",
                self.country
            ));
        }
        for (field, value) in [
            ("Version", &self.version),
            ("SchemaVersion", &self.schema_version),
            ("EngineVersion", &self.engine_version),
        ] {
            if Semver::parse(value).is_none() {
                v.push(format!("{field} {value:?} is not a semantic version"));
            }
        }
        if self.engine != "CERTLOGIC" {
            v.push(format!("Engine {:?} is not CERTLOGIC", self.engine));
        }
        if self.description.is_empty() {
            v.push("Description is empty".into());
        }
        for d in &self.description {
            let lang_ok = {
                let b = d.lang.as_bytes();
                let low = |s: &[u8]| s.len() == 2 && s.iter().all(u8::is_ascii_lowercase);
                low(b) || (b.len() == 5 && low(&b[..2]) && b[2] == b'-' && low(&b[3..]))
            };
            if !lang_ok {
                v.push(format!("Description language {:?} is malformed", d.lang));
            }
            if d.desc.chars().count() < 20 {
                v.push(format!(
                    "Description ({}) is shorter than 20 characters",
                    d.lang
                ));
            }
        }
        if self.description("en").is_none() {
            v.push("Description has no English (en) entry".into());
        }
        let stamp_ok = |s: &str| {
            let b = s.as_bytes();
            let tail_ok = match &b.get(19..) {
                Some([b'Z']) => true,
                Some([b'+' | b'-', h1, h2, b':', m1, m2]) => {
                    [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                }
                _ => false,
            };
            tail_ok && Timestamp::parse(s).is_ok() && b.get(10) == Some(&b'T')
        };
        for (field, value) in [("ValidFrom", &self.valid_from), ("ValidTo", &self.valid_to)] {
            if !stamp_ok(value) {
                v.push(format!(
                    "{field} {value:?} is not an ISO 8601 timestamp without milliseconds and with an offset"
                ));
            }
        }
        if let Ok((from, to)) = self.validity() {
            if to.unix_seconds() - from.unix_seconds() < 72 * 3600 {
                v.push("validity must be at least 72 hours".into());
            }
        }
        if self.affected_fields.is_empty() {
            v.push("AffectedFields is empty".into());
        }
        if self.logic.as_object().is_none_or(|o| o.is_empty()) {
            v.push("Logic must be a non-empty object".into());
        }
        for issue in self.logic_issues() {
            v.push(format!("Logic: {issue}"));
        }
        v
    }
}

fn outcome(r: Result<Option<bool>, certlogic::CertLogicError>) -> RuleOutcome {
    match r {
        Ok(Some(true)) => RuleOutcome::Passed,
        Ok(Some(false)) => RuleOutcome::Failed,
        Ok(None) => RuleOutcome::Open("the rule did not evaluate to true or false".into()),
        Err(e) => RuleOutcome::Open(format!("evaluation error: {e}")),
    }
}

/// The `external` parameters of a rule evaluation.
#[derive(Debug, Clone)]
pub struct External {
    /// The moment of validation.
    pub validation_clock: Timestamp,
    /// The country of arrival (ISO 3166 alpha-2).
    pub country_code: String,
    /// Expiry of the certificate (CWT `exp`).
    pub exp: Option<Timestamp>,
    /// Issuance of the certificate (CWT `iat`).
    pub iat: Option<Timestamp>,
}

impl External {
    /// The JSON object `{ validationClock, countryCode, exp, iat }` (without `valueSets`, which
    /// are passed apart), date-times in RFC 3339 UTC.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert(
            "validationClock".into(),
            Value::String(self.validation_clock.to_string()),
        );
        map.insert(
            "countryCode".into(),
            Value::String(self.country_code.clone()),
        );
        if let Some(exp) = self.exp {
            map.insert("exp".into(), Value::String(exp.to_string()));
        }
        if let Some(iat) = self.iat {
            map.insert("iat".into(), Value::String(iat.to_string()));
        }
        Value::Object(map)
    }
}

/// The result of one rule for one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport<'r> {
    /// The rule.
    pub rule: &'r Rule,
    /// Passed, failed or open.
    pub outcome: RuleOutcome,
}

impl RuleReport<'_> {
    /// The English description.
    pub fn description_en(&self) -> Option<&str> {
        self.rule.description("en")
    }

    /// The Vietnamese description, where the rule has one.
    pub fn description_vi(&self) -> Option<&str> {
        self.rule.description("vi")
    }
}

/// A rule file that could not be used.
#[derive(Debug)]
pub struct LoadProblem {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: RuleError,
}

/// A set of rules, e.g. all rule files below a folder.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// `[ValidFrom, ValidTo)` of each rule, parsed once (`None` if unreadable: never valid).
    validity: Vec<Option<(Timestamp, Timestamp)>>,
    /// The first validation issue of each rule whose logic is invalid, by index.
    invalid: HashMap<usize, String>,
    problems: Vec<LoadProblem>,
}

/// Whether a file name is a rule file: `rule.json`, or `<RULE-ID>.json` as in the MT folder.
fn is_rule_file(name: &str) -> bool {
    if name == "rule.json" {
        return true;
    }
    let Some(stem) = name.strip_suffix(".json") else {
        return false;
    };
    let parts: Vec<&str> = stem.split('-').collect();
    matches!(parts.as_slice(), [p, cc, n]
        if ["GR", "VR", "TR", "RR", "IR"].contains(p)
            && cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase())
            && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl RuleSet {
    /// A rule set of the given rules (their logic is validated now).
    pub fn from_rules(rules: Vec<Rule>) -> Self {
        let mut set = RuleSet::default();
        for rule in rules {
            set.push(rule);
        }
        set
    }

    fn push(&mut self, rule: Rule) {
        if let Some(first) = rule.logic_issues().into_iter().next() {
            self.invalid
                .insert(self.rules.len(), format!("invalid CertLogic: {first}"));
        }
        self.validity.push(rule.validity().ok());
        self.rules.push(rule);
    }

    /// Loads every rule file below `dir` (recursively): files named `rule.json`, and files named
    /// `<RULE-ID>.json`; `tests` folders are not searched. Files that cannot be read or parsed
    /// are listed in [`RuleSet::problems`] instead of failing the whole load. Files are read in
    /// path order.
    ///
    /// # Errors
    /// [`RuleError::Io`] when `dir` itself cannot be read.
    pub fn load_dir(dir: &Path) -> Result<Self, RuleError> {
        let mut files = Vec::new();
        collect_rule_files(dir, &mut files, 0).map_err(|source| RuleError::Io {
            path: dir.to_owned(),
            source,
        })?;
        files.sort();
        let mut set = RuleSet::default();
        for path in files {
            match Rule::from_file(&path) {
                Ok(rule) => set.push(rule),
                Err(error) => set.problems.push(LoadProblem { path, error }),
            }
        }
        Ok(set)
    }

    /// All rules, in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Files that could not be loaded.
    pub fn problems(&self) -> &[LoadProblem] {
        &self.problems
    }

    /// Rules whose logic fails static validation, with the first issue.
    pub fn invalid_rules(&self) -> impl Iterator<Item = (&Rule, &str)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| self.invalid.get(&i).map(|m| (r, m.as_str())))
    }

    fn applicable_indices(
        &self,
        country_of_arrival: &str,
        issuing_country: &str,
        certificate_type: CertificateType,
        clock: Timestamp,
    ) -> Vec<usize> {
        let candidates = self.rules.iter().enumerate().filter(|(i, r)| {
            let country_ok = match r.rule_type {
                RuleType::Acceptance => r.country == country_of_arrival,
                RuleType::Invalidation => r.country == issuing_country,
            };
            country_ok
                && (r.certificate_type == CertificateType::General
                    || r.certificate_type == certificate_type)
                && self.validity[*i].is_some_and(|(from, to)| from <= clock && clock < to)
        });
        // The latest version per identifier (and type: an identifier is unique per country).
        let mut latest: HashMap<(&str, RuleType), usize> = HashMap::new();
        for (i, r) in candidates {
            let key = (r.identifier.as_str(), r.rule_type);
            match latest.get(&key) {
                Some(&j) if compare_versions(&self.rules[j], r) != Ordering::Less => {}
                _ => {
                    latest.insert(key, i);
                }
            }
        }
        let mut out: Vec<usize> = latest.into_values().collect();
        out.sort_by(|&a, &b| {
            self.rules[a]
                .identifier
                .cmp(&self.rules[b].identifier)
                .then(a.cmp(&b))
        });
        out
    }

    /// The rules that apply to a certificate: the acceptance rules of the country of arrival and
    /// the invalidation rules of the issuing country, for the certificate's type (`General`
    /// rules always), valid at `clock` (`ValidFrom <= clock < ValidTo`), and of those only the
    /// latest `Version` (semantic-version order) of each `Identifier`. Sorted by identifier.
    pub fn applicable(
        &self,
        country_of_arrival: &str,
        issuing_country: &str,
        certificate_type: CertificateType,
        clock: Timestamp,
    ) -> Vec<&Rule> {
        self.applicable_indices(country_of_arrival, issuing_country, certificate_type, clock)
            .into_iter()
            .map(|i| &self.rules[i])
            .collect()
    }

    /// Selects the applicable rules (see [`RuleSet::applicable`]; the country of arrival is
    /// `external.country_code`, the clock `external.validation_clock`) and evaluates each on
    /// `{ payload, external: { validationClock, valueSets, countryCode, exp, iat } }`.
    /// A rule whose logic failed validation is reported open without being evaluated. If the
    /// payload's type cannot be told (not exactly one of `v`/`t`/`r`), only `General` rules apply.
    pub fn check<'r>(
        &'r self,
        payload: &Value,
        issuing_country: &str,
        external: &External,
        value_sets: &Value,
    ) -> Vec<RuleReport<'r>> {
        let certificate_type =
            CertificateType::of_payload(payload).unwrap_or(CertificateType::General);
        let external_json = external.to_json();
        let data = RuleData {
            payload,
            external: &external_json,
            value_sets: Some(value_sets),
        };
        self.applicable_indices(
            &external.country_code,
            issuing_country,
            certificate_type,
            external.validation_clock,
        )
        .into_iter()
        .map(|i| {
            let rule = &self.rules[i];
            let outcome = match self.invalid.get(&i) {
                Some(reason) => RuleOutcome::Open(reason.clone()),
                None => rule.evaluate_data(data),
            };
            RuleReport { rule, outcome }
        })
        .collect()
    }
}

fn compare_versions(a: &Rule, b: &Rule) -> Ordering {
    match (a.semver(), b.semver()) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.version.cmp(&b.version),
    }
}

fn collect_rule_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> std::io::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if name != "tests" {
                collect_rule_files(&path, out, depth + 1)?;
            }
        } else if is_rule_file(&name) {
            out.push(path);
        }
    }
    Ok(())
}

/// Builds the `external.valueSets` map (value-set id → array of codes) from a folder of value-set
/// files in the `eu-dcc-valuesets` format (`{ valueSetId, valueSetValues: { code: … } }`).
/// Files that are not value sets are skipped.
///
/// # Errors
/// The I/O error when the folder cannot be read.
pub fn value_sets_from_dir(dir: &Path) -> std::io::Result<Value> {
    let mut map = Map::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let (Some(id), Some(values)) = (
            v.get("valueSetId").and_then(Value::as_str),
            v.get("valueSetValues").and_then(Value::as_object),
        ) {
            let codes = values.keys().cloned().map(Value::String).collect();
            map.insert(id.to_owned(), Value::Array(codes));
        }
    }
    Ok(Value::Object(map))
}
