//! Value sets: the code lists of the coded DCC fields (eHealth Network "Value Sets for Digital
//! COVID Certificates"), from `eu-dcc-valuesets` release 2.12.0 as embedded in
//! `vaxpass-schemas`.
//!
//! [`ValueSets::check`] checks the coded fields of a payload:
//!
//! | group | field | value set |
//! |---|---|---|
//! | `v[]` | `tg`, `vp`, `mp`, `ma`, `co` | `disease-agent-targeted`, `sct-vaccines-covid-19`, `vaccines-covid-19-names`, `vaccines-covid-19-auth-holders`, `country-2-codes` |
//! | `t[]` | `tg`, `tt`, `tr`, `co` | `disease-agent-targeted`, `covid-19-lab-test-type`, `covid-19-lab-result`, `country-2-codes` |
//! | `r[]` | `tg`, `co` | `disease-agent-targeted`, `country-2-codes` |
//!
//! Codes marked `"active": false` are accepted: they are deprecated, but older certificates
//! carry them (e.g. `vp` `J07BX03`). A test's `ma` (device) is only compared with the upstream
//! *example* snapshot `covid-19-lab-test-manufacturer-and-name`; the official list is
//! maintained elsewhere, so an unknown device is a [`ValueSetWarning`], never an error.
//!
//! Run the schema check first: a coded field that is missing or not a string is the schema's to
//! report and is skipped here.
//!
//! ```
//! use vaxpass_verifier::valuesets::ValueSets;
//! let sets = ValueSets::embedded()?;
//! let payload = serde_json::json!({"ver": "1.3.0", "r": [{"tg": "840539006", "co": "XX"}]});
//! let err = sets.check(&payload).unwrap_err();
//! assert_eq!(err.to_string(), r#"/r/0/co: code "XX" is not in value set country-2-codes"#);
//! assert!(sets.codes("vaccines-covid-19-names").any(|c| c == "EU/1/20/1528"));
//! # Ok::<(), vaxpass_verifier::valuesets::ValueSetError>(())
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::json_like::JsonLike;

/// Value-set ids (`valueSetId`) of the coded fields.
pub mod ids {
    /// Disease or agent targeted (`tg`).
    pub const DISEASE_AGENT_TARGETED: &str = "disease-agent-targeted";
    /// Vaccine or prophylaxis (`v[].vp`).
    pub const VACCINE_PROPHYLAXIS: &str = "sct-vaccines-covid-19";
    /// Vaccine medicinal product (`v[].mp`).
    pub const VACCINE_MEDICINAL_PRODUCT: &str = "vaccines-covid-19-names";
    /// Vaccine marketing authorisation holder or manufacturer (`v[].ma`).
    pub const VACCINE_MAH_MANF: &str = "vaccines-covid-19-auth-holders";
    /// Country of vaccination or test (`co`).
    pub const COUNTRY: &str = "country-2-codes";
    /// Test type (`t[].tt`).
    pub const TEST_TYPE: &str = "covid-19-lab-test-type";
    /// Test result (`t[].tr`).
    pub const TEST_RESULT: &str = "covid-19-lab-result";
    /// Rapid antigen test device (`t[].ma`); only an example snapshot is embedded.
    pub const TEST_MANF: &str = "covid-19-lab-test-manufacturer-and-name";
    /// Recommended `mp`/`ma`/`vp` combinations (Annex A); keyed by product name.
    pub const VACCINE_ENCODING_INSTRUCTIONS: &str = "vaccines-covid-19-encoding-instructions";
}

/// `co` values that are not countries but that the DCC schema admits for `co` ("ISO 3166
/// alpha-2 where possible", pattern `[A-Z]{1,10}`): certificates issued by international
/// organisations. The schema's own valid test payloads use `UNHCR`.
const INTERNATIONAL_ISSUERS: [&str; 1] = ["UNHCR"];

/// Codes quoted in messages are cut to this many characters.
const MAX_QUOTED_CHARS: usize = 40;

/// The fields [`ValueSets::check`] enforces: (group, field, value set).
const ENFORCED: [(&str, &str, &str); 11] = [
    ("v", "tg", ids::DISEASE_AGENT_TARGETED),
    ("v", "vp", ids::VACCINE_PROPHYLAXIS),
    ("v", "mp", ids::VACCINE_MEDICINAL_PRODUCT),
    ("v", "ma", ids::VACCINE_MAH_MANF),
    ("v", "co", ids::COUNTRY),
    ("t", "tg", ids::DISEASE_AGENT_TARGETED),
    ("t", "tt", ids::TEST_TYPE),
    ("t", "tr", ids::TEST_RESULT),
    ("t", "co", ids::COUNTRY),
    ("r", "tg", ids::DISEASE_AGENT_TARGETED),
    ("r", "co", ids::COUNTRY),
];

/// A value-set problem: a file that cannot be read, or a code that is not in its value set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueSetError {
    /// A value-set file is not `{valueSetId, valueSetDate, valueSetValues: {code: {...}}}`.
    #[error("value-set file #{index} cannot be read: {reason}")]
    Parse {
        /// Position of the file in the input.
        index: usize,
        /// The JSON error.
        reason: String,
    },
    /// Two files have the same `valueSetId`.
    #[error("value set {0} is given twice")]
    Duplicate(String),
    /// A value set the checks need is not among the files.
    #[error("value set {0} is missing")]
    Missing(&'static str),
    /// A coded field holds a code that is not in its value set.
    #[error("{path}: code {code:?} is not in value set {value_set}")]
    UnknownCode {
        /// JSON pointer of the field, e.g. `/v/0/mp`.
        path: String,
        /// The value set's id.
        value_set: &'static str,
        /// The code (cut to 40 characters; codes are not personal data).
        code: String,
    },
}

/// Something worth telling a person that does not make a certificate invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueSetWarning {
    /// A test device (`t[].ma`) that is not in the embedded example snapshot.
    #[error(
        "{path}: test device {code:?} is not in the embedded example list {}; the official list is maintained elsewhere",
        ids::TEST_MANF
    )]
    UnknownTestDevice {
        /// JSON pointer of the field, e.g. `/t/0/ma`.
        path: String,
        /// The code (cut to 40 characters).
        code: String,
    },
    /// A code that is in its value set but deprecated (`"active": false`).
    #[error("{path}: code {code:?} of value set {value_set} is deprecated")]
    InactiveCode {
        /// JSON pointer of the field.
        path: String,
        /// The value set's id.
        value_set: &'static str,
        /// The code (cut to 40 characters).
        code: String,
    },
}

/// One value set: its id, date and codes.
#[derive(Debug, Clone)]
pub struct ValueSet {
    id: String,
    date: String,
    /// Sorted by code, with the `active` flag (absent = active).
    codes: Vec<(Box<str>, bool)>,
}

impl ValueSet {
    /// The `valueSetId`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `valueSetDate` (as written upstream, `YYYY-MM-DD`).
    pub fn date(&self) -> &str {
        &self.date
    }

    /// Whether the code is in the set (active or not).
    pub fn contains(&self, code: &str) -> bool {
        self.find(code).is_some()
    }

    /// `Some(active)` if the code is in the set.
    pub fn is_active(&self, code: &str) -> Option<bool> {
        self.find(code).map(|i| self.codes[i].1)
    }

    /// All codes, active or not, in ascending order.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.codes.iter().map(|(c, _)| &**c)
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the set has no codes.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    fn find(&self, code: &str) -> Option<usize> {
        self.codes.binary_search_by(|(c, _)| (**c).cmp(code)).ok()
    }
}

#[derive(Deserialize)]
struct File {
    #[serde(rename = "valueSetId")]
    id: String,
    #[serde(rename = "valueSetDate")]
    date: String,
    #[serde(rename = "valueSetValues")]
    values: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default = "active_by_default")]
    active: bool,
}

fn active_by_default() -> bool {
    true
}

/// All value sets, parsed once; the lookups of [`ValueSets::check`] are binary searches.
#[derive(Debug, Clone)]
pub struct ValueSets {
    sets: Vec<ValueSet>,
    /// Index into `sets` of each [`ENFORCED`] entry's value set.
    enforced: [usize; ENFORCED.len()],
    test_manf: Option<usize>,
}

impl ValueSets {
    /// Parses the value sets embedded in `vaxpass-schemas` (release
    /// [`vaxpass_schemas::VALUE_SETS_RELEASE`]).
    ///
    /// # Errors
    /// [`ValueSetError`] if an embedded file cannot be parsed (a bug caught by the tests).
    pub fn embedded() -> Result<Self, ValueSetError> {
        Self::from_json(vaxpass_schemas::VALUE_SETS.iter().map(|(_, json)| *json))
    }

    /// The embedded value sets, parsed once per process on first use.
    ///
    /// # Errors
    /// As [`ValueSets::embedded`] (the embedded files parse; a test pins that).
    pub fn shared() -> Result<&'static Self, ValueSetError> {
        static SHARED: std::sync::OnceLock<Result<ValueSets, ValueSetError>> =
            std::sync::OnceLock::new();
        SHARED
            .get_or_init(Self::embedded)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parses value-set files in the upstream format (for instance a newer release fetched from
    /// a gateway). Every value set named in the module docs' table must be present; the test
    /// device list is optional.
    ///
    /// # Errors
    /// [`ValueSetError::Parse`], [`ValueSetError::Duplicate`] or [`ValueSetError::Missing`].
    pub fn from_json<'a>(files: impl IntoIterator<Item = &'a str>) -> Result<Self, ValueSetError> {
        let mut sets: Vec<ValueSet> = Vec::new();
        for (index, text) in files.into_iter().enumerate() {
            let file: File = serde_json::from_str(text).map_err(|e| ValueSetError::Parse {
                index,
                reason: e.to_string(),
            })?;
            if sets.iter().any(|s| s.id == file.id) {
                return Err(ValueSetError::Duplicate(file.id));
            }
            sets.push(ValueSet {
                id: file.id,
                date: file.date,
                // A BTreeMap iterates in ascending key order: the Vec is sorted.
                codes: file
                    .values
                    .into_iter()
                    .map(|(code, e)| (code.into_boxed_str(), e.active))
                    .collect(),
            });
        }
        let position = |id: &'static str| sets.iter().position(|s| s.id == id);
        let mut enforced = [0; ENFORCED.len()];
        for (slot, (_, _, id)) in enforced.iter_mut().zip(ENFORCED) {
            *slot = position(id).ok_or(ValueSetError::Missing(id))?;
        }
        let test_manf = position(ids::TEST_MANF);
        Ok(ValueSets {
            sets,
            enforced,
            test_manf,
        })
    }

    /// The value set with this id.
    pub fn get(&self, value_set_id: &str) -> Option<&ValueSet> {
        self.sets.iter().find(|s| s.id == value_set_id)
    }

    /// All value sets, in input order.
    pub fn iter(&self) -> impl Iterator<Item = &ValueSet> {
        self.sets.iter()
    }

    /// The codes of a value set (active or not, ascending); empty if there is no such set.
    pub fn codes(&self, value_set_id: &str) -> impl Iterator<Item = &str> {
        self.get(value_set_id).into_iter().flat_map(ValueSet::codes)
    }

    /// The `{valueSetId: [codes]}` object that CertLogic rules read as `external.valueSets`
    /// (all codes, active or not).
    pub fn to_certlogic_value_sets(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .sets
            .iter()
            .map(|s| {
                let codes = s.codes().map(serde_json::Value::from).collect();
                (s.id.clone(), serde_json::Value::Array(codes))
            })
            .collect();
        serde_json::Value::Object(map)
    }

    /// Checks the coded fields of a payload (see the module docs). Does not allocate unless a
    /// code is unknown.
    ///
    /// # Errors
    /// [`ValueSetError::UnknownCode`] for the first code not in its value set.
    pub fn check<J: JsonLike>(&self, payload: &J) -> Result<(), ValueSetError> {
        let mut result = Ok(());
        self.each_code(payload, |group, i, field, value_set, set, code| {
            let organisation = field == "co" && INTERNATIONAL_ISSUERS.contains(&code);
            if set.find(code).is_none() && !organisation {
                result = Err(ValueSetError::UnknownCode {
                    path: format!("/{group}/{i}/{field}"),
                    value_set,
                    code: cut(code),
                });
                return false;
            }
            true
        });
        result
    }

    /// Warnings about a payload's codes: test devices not in the example snapshot, and
    /// deprecated codes. Empty (no allocation) when there is nothing to say.
    pub fn warnings<J: JsonLike>(&self, payload: &J) -> Vec<ValueSetWarning> {
        let mut out = Vec::new();
        self.each_code(payload, |group, i, field, value_set, set, code| {
            if set.is_active(code) == Some(false) {
                out.push(ValueSetWarning::InactiveCode {
                    path: format!("/{group}/{i}/{field}"),
                    value_set,
                    code: cut(code),
                });
            }
            true
        });
        if let Some(entries) = payload.get("t") {
            for i in 0..entries.array_len().unwrap_or(0) {
                let Some(code) = entries
                    .array_item(i)
                    .and_then(|e| e.get("ma"))
                    .and_then(J::as_str)
                    // NAAT tests have no device; some issuers write "" instead of leaving it out.
                    .filter(|c| !c.is_empty())
                else {
                    continue;
                };
                let known = self
                    .test_manf
                    .map(|s| &self.sets[s])
                    .and_then(|s| s.is_active(code));
                match known {
                    None => out.push(ValueSetWarning::UnknownTestDevice {
                        path: format!("/t/{i}/ma"),
                        code: cut(code),
                    }),
                    Some(false) => out.push(ValueSetWarning::InactiveCode {
                        path: format!("/t/{i}/ma"),
                        value_set: ids::TEST_MANF,
                        code: cut(code),
                    }),
                    Some(true) => {}
                }
            }
        }
        out
    }

    /// Calls `f(group, index, field, value-set id, value set, code)` for every enforced coded
    /// field that holds a string (groups v, t, r; entries in order; fields in table order),
    /// until `f` returns `false`.
    fn each_code<'p, J: JsonLike>(
        &self,
        payload: &'p J,
        mut f: impl FnMut(&'static str, usize, &'static str, &'static str, &ValueSet, &'p str) -> bool,
    ) {
        // One lookup per group present; ENFORCED lists each group's rows together.
        for group in ["v", "t", "r"] {
            let Some(entries) = payload.get(group) else {
                continue;
            };
            for i in 0..entries.array_len().unwrap_or(0) {
                let Some(entry) = entries.array_item(i) else {
                    continue;
                };
                for (k, (g, field, id)) in ENFORCED.iter().enumerate() {
                    if *g != group {
                        continue;
                    }
                    if let Some(code) = entry.get(field).and_then(J::as_str) {
                        if !f(group, i, field, id, &self.sets[self.enforced[k]], code) {
                            return;
                        }
                    }
                }
            }
        }
    }
}

fn cut(code: &str) -> String {
    let mut chars = code.chars();
    let mut out: String = chars.by_ref().take(MAX_QUOTED_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    use super::*;

    fn sets() -> ValueSets {
        ValueSets::embedded().unwrap()
    }

    fn vaccination() -> Value {
        json!({
            "ver": "1.3.0", "nam": {"fnt": "DOE"}, "dob": "1990",
            "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528",
                   "ma": "ORG-100030215", "dn": 1, "sd": 2, "dt": "2021-06-01", "co": "VN",
                   "is": "Ministry of Health", "ci": "URN:UVCI:01:VN:1"}]
        })
    }

    fn test_payload(ma: Option<&str>) -> Value {
        let mut p = json!({
            "ver": "1.3.0", "nam": {"fnt": "DOE"}, "dob": "1990",
            "t": [{"tg": "840539006", "tt": "LP217198-3", "sc": "2021-06-01T10:00:00Z",
                   "tr": "260415000", "co": "DE", "is": "RKI", "ci": "URN:UVCI:01:DE:1"}]
        });
        if let Some(ma) = ma {
            p["t"][0]["ma"] = json!(ma);
        }
        p
    }

    #[test]
    fn embedded_sets_parse_with_their_sizes() {
        let s = sets();
        let sizes: Vec<(&str, usize)> = s.iter().map(|v| (v.id(), v.len())).collect();
        assert_eq!(
            sizes,
            [
                ("country-2-codes", 250),
                ("disease-agent-targeted", 1),
                ("covid-19-lab-test-manufacturer-and-name", 88),
                ("covid-19-lab-result", 2),
                ("covid-19-lab-test-type", 2),
                ("vaccines-covid-19-encoding-instructions", 39),
                ("vaccines-covid-19-auth-holders", 31),
                ("vaccines-covid-19-names", 39),
                ("sct-vaccines-covid-19", 9),
            ]
        );
        let vp = s.get(ids::VACCINE_PROPHYLAXIS).unwrap();
        assert_eq!(vp.date(), "2023-01-25");
        assert_eq!(vp.is_active("J07BX03"), Some(false));
        assert_eq!(vp.is_active("1119349007"), Some(true));
        assert_eq!(vp.is_active("nope"), None);
        assert!(!vp.is_empty());
        let codes: Vec<&str> = s.codes(ids::TEST_RESULT).collect();
        assert_eq!(codes, ["260373001", "260415000"]);
        assert_eq!(s.codes("no-such-set").count(), 0);
    }

    #[test]
    fn certlogic_map_lists_every_code() {
        let s = sets();
        let map = s.to_certlogic_value_sets();
        let obj = map.as_object().unwrap();
        assert_eq!(obj.len(), vaxpass_schemas::VALUE_SETS.len());
        assert_eq!(
            map["covid-19-lab-test-type"],
            json!(["LP217198-3", "LP6464-4"])
        );
        assert!(
            map["sct-vaccines-covid-19"]
                .as_array()
                .unwrap()
                .contains(&json!("J07BX03"))
        );
        assert_eq!(map["country-2-codes"].as_array().unwrap().len(), 250);
    }

    #[test]
    fn valid_payloads_pass_and_invented_codes_fail_clearly() {
        let s = sets();
        s.check(&vaccination()).unwrap();
        assert!(s.warnings(&vaccination()).is_empty());
        let mut p = vaccination();
        p["v"][0]["mp"] = json!("EU/1/99/9999");
        let e = s.check(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/v/0/mp: code \"EU/1/99/9999\" is not in value set vaccines-covid-19-names"
        );
        assert_eq!(
            e,
            ValueSetError::UnknownCode {
                path: "/v/0/mp".into(),
                value_set: ids::VACCINE_MEDICINAL_PRODUCT,
                code: "EU/1/99/9999".into()
            }
        );
        for (field, code, set) in [
            ("tg", "12345", "disease-agent-targeted"),
            ("vp", "1234", "sct-vaccines-covid-19"),
            ("ma", "ORG-1", "vaccines-covid-19-auth-holders"),
            ("co", "vn", "country-2-codes"),
        ] {
            let mut p = vaccination();
            p["v"][0][field] = json!(code);
            assert_eq!(
                s.check(&p).unwrap_err().to_string(),
                format!("/v/0/{field}: code \"{code}\" is not in value set {set}")
            );
        }
        // Long codes are cut.
        let mut p = vaccination();
        p["v"][0]["mp"] = json!("X".repeat(100));
        assert_eq!(
            s.check(&p).unwrap_err().to_string(),
            format!(
                "/v/0/mp: code \"{}…\" is not in value set vaccines-covid-19-names",
                "X".repeat(40)
            )
        );
        // Missing or mistyped fields are the schema's to report.
        let mut p = vaccination();
        p["v"][0]["mp"] = json!(5);
        p["v"][0].as_object_mut().unwrap().remove("ma");
        s.check(&p).unwrap();
        // Tests and recoveries.
        s.check(&test_payload(None)).unwrap();
        let mut t = test_payload(None);
        t["t"][0]["tr"] = json!("positive");
        assert_eq!(
            s.check(&t).unwrap_err().to_string(),
            "/t/0/tr: code \"positive\" is not in value set covid-19-lab-result"
        );
        let mut t = test_payload(None);
        t["t"][0]["tt"] = json!("PCR");
        assert!(s.check(&t).is_err());
        let r = json!({"r": [{"tg": "840539006", "co": "XK"}, {"tg": "840539006", "co": "ZZ"}]});
        assert_eq!(
            s.check(&r).unwrap_err().to_string(),
            "/r/1/co: code \"ZZ\" is not in value set country-2-codes"
        );
    }

    #[test]
    fn inactive_codes_pass_with_a_warning() {
        let s = sets();
        let mut p = vaccination();
        p["v"][0]["vp"] = json!("J07BX03");
        p["v"][0]["mp"] = json!("VLA2001");
        s.check(&p).unwrap();
        let w: Vec<String> = s.warnings(&p).iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            [
                "/v/0/vp: code \"J07BX03\" of value set sct-vaccines-covid-19 is deprecated",
                "/v/0/mp: code \"VLA2001\" of value set vaccines-covid-19-names is deprecated",
            ]
        );
    }

    #[test]
    fn unknown_test_devices_are_warnings_not_errors() {
        let s = sets();
        let p = test_payload(Some("9999"));
        s.check(&p).unwrap();
        assert_eq!(
            s.warnings(&p),
            [ValueSetWarning::UnknownTestDevice {
                path: "/t/0/ma".into(),
                code: "9999".into()
            }]
        );
        assert_eq!(
            s.warnings(&p)[0].to_string(),
            "/t/0/ma: test device \"9999\" is not in the embedded example list \
             covid-19-lab-test-manufacturer-and-name; the official list is maintained elsewhere"
        );
        assert!(s.warnings(&test_payload(Some("1232"))).is_empty());
        // 1065 is in the snapshot but inactive.
        assert_eq!(s.warnings(&test_payload(Some("1065"))).len(), 1);
    }

    #[test]
    fn from_json_refuses_bad_input() {
        let files: Vec<&str> = vaxpass_schemas::VALUE_SETS
            .iter()
            .map(|(_, j)| *j)
            .collect();
        assert!(matches!(
            ValueSets::from_json(files[1..].iter().copied()),
            Err(ValueSetError::Missing("country-2-codes"))
        ));
        let mut twice = files.clone();
        twice.push(files[0]);
        assert_eq!(
            ValueSets::from_json(twice).unwrap_err().to_string(),
            "value set country-2-codes is given twice"
        );
        let e = ValueSets::from_json(["{}"]).unwrap_err().to_string();
        assert!(
            e.starts_with("value-set file #0 cannot be read: missing field"),
            "{e}"
        );
        // The test-device list is optional.
        let without: Vec<&str> = files
            .iter()
            .copied()
            .filter(|j| !j.contains(ids::TEST_MANF))
            .collect();
        let s = ValueSets::from_json(without).unwrap();
        assert_eq!(s.warnings(&test_payload(Some("1232"))).len(), 1);
    }

    fn conformance_dir() -> Option<PathBuf> {
        let dir = std::env::var_os("VAXPASS_CONFORMANCE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/work/shared/conformance"));
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!(
                "SKIPPED: conformance data not found at {} (set VAXPASS_CONFORMANCE)",
                dir.display()
            );
            None
        }
    }

    fn json_in(dir: &Path) -> Vec<(PathBuf, Value)> {
        let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
                (p, v)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn eu_dcc_schema_examples_pass() {
        let Some(dir) = conformance_dir() else { return };
        let s = sets();
        let mut n = 0;
        for sub in ["examples/vaccination", "examples/test", "examples/recovery"] {
            for (p, payload) in json_in(&dir.join("eu-dcc-schema").join(sub)) {
                if let Err(e) = s.check(&payload) {
                    panic!("{}: {e}", p.display());
                }
                n += 1;
            }
        }
        assert_eq!(n, 27);
        // The schema's own valid test payloads pass too, including the four whose `co` is
        // "UNHCR" (an international organisation, not in country-2-codes 2.12.0).
        let mut valid = 0;
        for (p, payload) in json_in(&dir.join("eu-dcc-schema/test/valid")) {
            if let Err(e) = s.check(&payload) {
                panic!("{}: {e}", p.display());
            }
            valid += 1;
        }
        assert_eq!(valid, 13);
    }

    /// Informational: the value-set check on dgc-testdata payloads that are schema-valid by
    /// their flags. Prints every refusal; asserts only that the count does not grow unnoticed.
    #[test]
    fn dgc_testdata_payloads_against_value_sets() {
        let Some(dir) = conformance_dir() else { return };
        let s = sets();
        let mut stack = vec![dir.join("dgc-testdata")];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "json")
                    && p.to_string_lossy().contains("/2DCode/raw/")
                {
                    files.push(p);
                }
            }
        }
        files.sort();
        let (mut checked, mut refused, mut warned) = (0, 0, 0);
        for p in files {
            let case: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let flags = &case["EXPECTEDRESULTS"];
            let Some(payload) = case.get("JSON") else {
                continue;
            };
            if flags.get("EXPECTEDSCHEMAVALIDATION") != Some(&json!(true)) {
                continue;
            }
            checked += 1;
            let rel = p.strip_prefix(&dir).unwrap().display().to_string();
            if let Err(e) = s.check(payload) {
                refused += 1;
                println!("VALUESET {rel}: {e}");
            }
            for w in s.warnings(payload) {
                warned += 1;
                println!("WARNING {rel}: {w}");
            }
        }
        println!(
            "SUMMARY value sets on dgc-testdata: {checked} checked, {refused} refused, {warned} warnings"
        );
        assert!(checked > 300);
    }
}
