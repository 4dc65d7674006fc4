//! EU DCC data, embedded as text: the payload JSON schemas of every release from 1.0.0 to 1.3.3
//! and the value sets of `eu-dcc-valuesets` release 2.12.0. See `README.md` for what is pinned
//! where and how to update it.
//!
//! This crate only holds the text; parsing and validation live in `vaxpass-verifier`.
//!
//! ```
//! let schema = vaxpass_schemas::dcc_schema("1.3.0").unwrap();
//! assert!(schema.contains("\"$defs\""));
//! let countries = vaxpass_schemas::value_set("country-2-codes").unwrap();
//! assert!(countries.contains("\"VN\""));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The DCC schema versions embedded, in ascending order.
pub const DCC_SCHEMA_VERSIONS: &[&str] = &[
    "1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.2.1", "1.3.0", "1.3.1", "1.3.2", "1.3.3",
];

/// The newest embedded DCC schema version.
pub const LATEST_DCC_SCHEMA_VERSION: &str = "1.3.3";

/// The combined (self-contained) JSON schema of a DCC payload version, e.g. `"1.3.0"`;
/// `None` if that version is not embedded.
pub fn dcc_schema(version: &str) -> Option<&'static str> {
    Some(match version {
        "1.0.0" => include_str!("../dcc/1.0.0.json"),
        "1.0.1" => include_str!("../dcc/1.0.1.json"),
        "1.1.0" => include_str!("../dcc/1.1.0.json"),
        "1.2.0" => include_str!("../dcc/1.2.0.json"),
        "1.2.1" => include_str!("../dcc/1.2.1.json"),
        "1.3.0" => include_str!("../dcc/1.3.0.json"),
        "1.3.1" => include_str!("../dcc/1.3.1.json"),
        "1.3.2" => include_str!("../dcc/1.3.2.json"),
        "1.3.3" => include_str!("../dcc/1.3.3.json"),
        _ => return None,
    })
}

/// The release of `eu-dcc-valuesets` the value sets are taken from.
pub const VALUE_SETS_RELEASE: &str = "2.12.0";

/// Every embedded value set as `(valueSetId, JSON text)`. Each text is an object
/// `{valueSetId, valueSetDate, valueSetValues: {code: {...}}}`.
pub const VALUE_SETS: &[(&str, &str)] = &[
    (
        "country-2-codes",
        include_str!("../valuesets/country-2-codes.json"),
    ),
    (
        "disease-agent-targeted",
        include_str!("../valuesets/disease-agent-targeted.json"),
    ),
    (
        "covid-19-lab-test-manufacturer-and-name",
        include_str!("../valuesets/test-manf-example.json"),
    ),
    (
        "covid-19-lab-result",
        include_str!("../valuesets/test-result.json"),
    ),
    (
        "covid-19-lab-test-type",
        include_str!("../valuesets/test-type.json"),
    ),
    (
        "vaccines-covid-19-encoding-instructions",
        include_str!("../valuesets/vaccine-encoding-instructions.json"),
    ),
    (
        "vaccines-covid-19-auth-holders",
        include_str!("../valuesets/vaccine-mah-manf.json"),
    ),
    (
        "vaccines-covid-19-names",
        include_str!("../valuesets/vaccine-medicinal-product.json"),
    ),
    (
        "sct-vaccines-covid-19",
        include_str!("../valuesets/vaccine-prophylaxis.json"),
    ),
];

/// The first-authorisation table of COVID-19 vaccines (`vaccines/first-authorisation.json`):
/// for products of `vaccines-covid-19-names`, the earliest date each was authorised (EMA
/// conditional marketing authorisation or WHO Emergency Use Listing, whichever came first;
/// otherwise the first national authorisation), each with its source, and a `floor` for
/// products without an entry. Project data, not an upstream copy (see `README.md`).
///
/// Shape: `{"floor": "yyyy-mm-dd", "sources": {authority: text}, "products": {code: {"name",
/// "date": "yyyy-mm-dd", "authority"}}}`.
pub const VACCINE_FIRST_AUTHORISATION: &str = include_str!("../vaccines/first-authorisation.json");

/// The JSON text of the value set with this `valueSetId` (e.g. `"vaccines-covid-19-names"`);
/// `None` if it is not embedded.
pub fn value_set(id: &str) -> Option<&'static str> {
    VALUE_SETS
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, json)| *json)
}

/// Viet Nam's acceptance rules (arrival in Viet Nam, `rules/VN/`, see its README) as
/// `(rule id, rule JSON in the EU gateway format)`, in rule-id order: what the issuer signs
/// and publishes at `GET /rules`.
pub const VN_RULES: &[(&str, &str)] = &[
    (
        "GR-VN-0001",
        include_str!("../rules/VN/GR-VN-0001/rule.json"),
    ),
    (
        "RR-VN-0001",
        include_str!("../rules/VN/RR-VN-0001/rule.json"),
    ),
    (
        "RR-VN-0002",
        include_str!("../rules/VN/RR-VN-0002/rule.json"),
    ),
    (
        "TR-VN-0001",
        include_str!("../rules/VN/TR-VN-0001/rule.json"),
    ),
    (
        "TR-VN-0002",
        include_str!("../rules/VN/TR-VN-0002/rule.json"),
    ),
    (
        "TR-VN-0003",
        include_str!("../rules/VN/TR-VN-0003/rule.json"),
    ),
    (
        "TR-VN-0004",
        include_str!("../rules/VN/TR-VN-0004/rule.json"),
    ),
    (
        "VR-VN-0001",
        include_str!("../rules/VN/VR-VN-0001/rule.json"),
    ),
    (
        "VR-VN-0002",
        include_str!("../rules/VN/VR-VN-0002/rule.json"),
    ),
    (
        "VR-VN-0003",
        include_str!("../rules/VN/VR-VN-0003/rule.json"),
    ),
    (
        "VR-VN-0004",
        include_str!("../rules/VN/VR-VN-0004/rule.json"),
    ),
];

/// [`VN_RULES`] as one JSON array (the EU gateway's form of a rule set).
pub fn vn_rules_json() -> String {
    let mut out = String::from("[");
    for (i, (_, rule)) in VN_RULES.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(rule.trim());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_is_embedded_and_says_so() {
        for v in DCC_SCHEMA_VERSIONS {
            let text = dcc_schema(v).unwrap();
            assert!(
                text.contains(&format!("\"Schema version {v}\"")),
                "{v} has the wrong file"
            );
            // Self-contained: every $ref is internal.
            for (i, _) in text.match_indices("\"$ref\"") {
                let rest = text[i + 6..].trim_start_matches([':', ' ']);
                assert!(rest.starts_with("\"#/"), "{v}: external $ref");
            }
        }
        assert_eq!(DCC_SCHEMA_VERSIONS.last(), Some(&LATEST_DCC_SCHEMA_VERSION));
        assert!(dcc_schema("1.4.0").is_none());
    }

    #[test]
    fn value_set_ids_match_their_files() {
        for (id, text) in VALUE_SETS {
            assert!(
                text.contains(&format!("\"valueSetId\": \"{id}\"")),
                "{id} has the wrong file"
            );
            assert_eq!(value_set(id), Some(*text));
        }
        assert!(value_set("nope").is_none());
    }

    #[test]
    fn first_authorisation_table_is_well_formed() {
        let t = VACCINE_FIRST_AUTHORISATION;
        assert!(t.contains("\"floor\": \"2020-08-11\""));
        // Every product named is a code of the value set, and every authority has a source.
        let names = value_set("vaccines-covid-19-names").unwrap();
        for line in t.lines().filter(|l| l.contains("\"authority\"")) {
            let code = line.trim().split('"').nth(1).unwrap();
            assert!(
                names.contains(&format!("\"{code}\"")),
                "{code} is not in the value set"
            );
            let authority = line.rsplit("\"authority\": \"").next().unwrap();
            let authority = authority.split('"').next().unwrap();
            assert!(
                t.contains(&format!("\"{authority}\": \"")),
                "{authority} has no source"
            );
        }
    }

    #[test]
    fn the_vn_rules_are_one_json_array_of_every_rule() {
        let json = crate::vn_rules_json();
        assert!(json.starts_with("[{") && json.ends_with("}]"));
        for (id, _) in crate::VN_RULES {
            assert!(
                json.contains(&format!("\"Identifier\": \"{id}\""))
                    || json.contains(&format!("\"Identifier\":\"{id}\"")),
                "{id}"
            );
        }
        assert_eq!(crate::VN_RULES.len(), 11);
    }
}
