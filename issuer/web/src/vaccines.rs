//! The vaccines the intake form offers: the eight of Viet Nam's campaign first (with their
//! marketing authorisation holder and vaccine type known), then every other product of the
//! eHealth Network value set, by name, with the holder and type chosen from their value sets.

use std::sync::LazyLock;

use vaxpass_verifier::valuesets::ids;

/// A vaccine of the campaign: product, holder and type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Campaign {
    /// `vaccines-covid-19-names`.
    pub(crate) mp: &'static str,
    /// `vaccines-covid-19-auth-holders`.
    pub(crate) ma: &'static str,
    /// `sct-vaccines-covid-19`.
    pub(crate) vp: &'static str,
    /// What the clinic knows it by.
    pub(crate) label: &'static str,
}

/// The eight vaccines of the campaign (rule VR-VN-0001 of `schemas/rules/VN`), by product name.
pub(crate) const CAMPAIGN: [Campaign; 8] = [
    Campaign {
        mp: "Abdala",
        ma: "CIGB",
        vp: "1162643001",
        label: "Abdala (CIGB)",
    },
    Campaign {
        mp: "BBIBP-CorV",
        ma: "ORG-100020693",
        vp: "1157024006",
        label: "BBIBP-CorV (Sinopharm, Vero Cell)",
    },
    Campaign {
        mp: "EU/1/20/1528",
        ma: "ORG-100030215",
        vp: "1119349007",
        label: "Comirnaty (Pfizer-BioNTech)",
    },
    Campaign {
        mp: "Covishield",
        ma: "ORG-100001981",
        vp: "29061000087103",
        label: "Covishield (AstraZeneca, Serum Institute of India)",
    },
    Campaign {
        mp: "EU/1/20/1525",
        ma: "ORG-100001417",
        vp: "29061000087103",
        label: "Jcovden (Janssen)",
    },
    Campaign {
        mp: "EU/1/20/1507",
        ma: "ORG-100031184",
        vp: "1119349007",
        label: "Spikevax (Moderna)",
    },
    Campaign {
        mp: "Sputnik-V",
        ma: "Gamaleya-Research-Institute",
        vp: "29061000087103",
        label: "Sputnik V (Gamaleya)",
    },
    Campaign {
        mp: "EU/1/21/1529",
        ma: "ORG-100001699",
        vp: "29061000087103",
        label: "Vaxzevria (AstraZeneca)",
    },
];

/// The campaign vaccine with this product code.
pub(crate) fn campaign(mp: &str) -> Option<&'static Campaign> {
    CAMPAIGN.iter().find(|c| c.mp == mp)
}

/// `(code, display)` of a value set, active codes only, by display name.
fn entries(id: &str) -> Vec<(String, String)> {
    let Some(json) = vaxpass_schemas::value_set(id) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = value
        .get("valueSetValues")
        .and_then(|v| v.as_object())
        .map(|values| {
            values
                .iter()
                .filter(|(_, v)| {
                    v.get("active").and_then(serde_json::Value::as_bool) != Some(false)
                })
                .map(|(code, v)| {
                    let display = v
                        .get("display")
                        .and_then(|d| d.as_str())
                        .unwrap_or(code)
                        .to_owned();
                    (code.clone(), display)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(_, display)| display.to_lowercase());
    out
}

/// Every other product (not of the campaign), by name.
pub(crate) static OTHER_PRODUCTS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    entries(ids::VACCINE_MEDICINAL_PRODUCT)
        .into_iter()
        .filter(|(code, _)| campaign(code).is_none())
        .collect()
});

/// Every marketing authorisation holder, by name.
pub(crate) static HOLDERS: LazyLock<Vec<(String, String)>> =
    LazyLock::new(|| entries(ids::VACCINE_MAH_MANF));

/// Every vaccine type, by name.
pub(crate) static TYPES: LazyLock<Vec<(String, String)>> =
    LazyLock::new(|| entries(ids::VACCINE_PROPHYLAXIS));

/// The display name of a product code (campaign label first).
pub(crate) fn product_name(mp: &str) -> String {
    if let Some(c) = campaign(mp) {
        return c.label.to_owned();
    }
    OTHER_PRODUCTS
        .iter()
        .find(|(code, _)| code == mp)
        .map_or_else(|| mp.to_owned(), |(_, name)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaxpass_verifier::valuesets::ValueSets;

    #[test]
    fn campaign_codes_are_in_the_value_sets() {
        let sets = ValueSets::shared().unwrap_or_else(|e| panic!("{e}"));
        for c in CAMPAIGN {
            for (set, code) in [
                (ids::VACCINE_MEDICINAL_PRODUCT, c.mp),
                (ids::VACCINE_MAH_MANF, c.ma),
                (ids::VACCINE_PROPHYLAXIS, c.vp),
            ] {
                assert!(
                    sets.get(set).is_some_and(|s| s.contains(code)),
                    "{set} {code}"
                );
            }
        }
        let labels: Vec<&str> = CAMPAIGN.iter().map(|c| c.label).collect();
        let mut sorted = labels.clone();
        sorted.sort();
        assert_eq!(labels, sorted, "by product name");
        assert!(OTHER_PRODUCTS.len() >= 25);
        assert!(!OTHER_PRODUCTS.iter().any(|(c, _)| c == "EU/1/20/1528"));
        assert!(HOLDERS.len() >= 30 && TYPES.len() >= 7);
    }
}
