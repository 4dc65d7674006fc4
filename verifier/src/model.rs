//! The DCC payload as typed data (EU DCC JSON schema 1.3.0), for display and issuing.
//!
//! Verification never needs this: checks run on the CBOR tree through [`crate::JsonLike`].
//! Conversion from CBOR is lenient about fields this model does not know (they are dropped);
//! tag-0 date-times become strings and whole-number floats become integers.

use crate::cbor::{Value, Writer};
use serde::{Deserialize, Serialize};

/// The three kinds of certificate (HCERT payload keys `v`, `t`, `r`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CertificateType {
    /// `v`: vaccination.
    Vaccination,
    /// `t`: test.
    Test,
    /// `r`: recovery.
    Recovery,
}

impl CertificateType {
    /// All three, in the order `v`, `t`, `r`.
    pub const ALL: [CertificateType; 3] = [Self::Vaccination, Self::Test, Self::Recovery];

    /// The payload key (`v`, `t`, `r`).
    pub const fn key(self) -> &'static str {
        match self {
            Self::Vaccination => "v",
            Self::Test => "t",
            Self::Recovery => "r",
        }
    }

    /// The HCERT extended-key-usage OID that lets a DSC sign this type (HCERT spec §5.1.1):
    /// `1.3.6.1.4.1.1847.2021.1.1` test, `.2` vaccination, `.3` recovery.
    pub const fn eku_oid(self) -> const_oid::ObjectIdentifier {
        match self {
            Self::Test => const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.1847.2021.1.1"),
            Self::Vaccination => {
                const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.1847.2021.1.2")
            }
            Self::Recovery => const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.1847.2021.1.3"),
        }
    }

    /// The type an extended-key-usage OID allows: [`CertificateType::eku_oid`], or the
    /// `1.3.6.1.4.1.0.1847.2021.1.x` spelling some countries' DSCs carry; `None` otherwise.
    pub fn from_eku_oid(oid: &const_oid::ObjectIdentifier) -> Option<Self> {
        const VARIANT: [const_oid::ObjectIdentifier; 3] = [
            const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.0.1847.2021.1.1"),
            const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.0.1847.2021.1.2"),
            const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.0.1847.2021.1.3"),
        ];
        Self::ALL
            .into_iter()
            .find(|t| t.eku_oid() == *oid || VARIANT[t.oid_arc()] == *oid)
    }

    const fn oid_arc(self) -> usize {
        match self {
            Self::Test => 0,
            Self::Vaccination => 1,
            Self::Recovery => 2,
        }
    }

    /// Parses a payload key or a name: `v`/`vaccination`, `t`/`test`, `r`/`recovery` (any case).
    pub fn from_key(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v" | "vaccination" => Some(Self::Vaccination),
            "t" | "test" => Some(Self::Test),
            "r" | "recovery" => Some(Self::Recovery),
            _ => None,
        }
    }

    /// The type of a decoded payload: the one of `v`/`t`/`r` present with a non-null value.
    /// `None` when none or several are present.
    pub fn of_payload(payload: &impl crate::JsonLike) -> Option<Self> {
        let mut found = None;
        for t in Self::ALL {
            if payload
                .get(t.key())
                .is_some_and(|v| v.kind() != crate::Kind::Null)
                && found.replace(t).is_some()
            {
                return None;
            }
        }
        found
    }
}

impl std::fmt::Display for CertificateType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Vaccination => "vaccination",
            Self::Test => "test",
            Self::Recovery => "recovery",
        })
    }
}

/// `nam`: the holder's name.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Name {
    /// `fn`: family name as printed.
    #[serde(rename = "fn", default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// `fnt`: family name, ICAO 9303 transliterated.
    #[serde(rename = "fnt", default, skip_serializing_if = "Option::is_none")]
    pub family_name_std: Option<String>,
    /// `gn`: given name as printed.
    #[serde(rename = "gn", default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `gnt`: given name, transliterated.
    #[serde(rename = "gnt", default, skip_serializing_if = "Option::is_none")]
    pub given_name_std: Option<String>,
}

/// One `v` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vaccination {
    /// `tg`: disease targeted.
    pub tg: String,
    /// `vp`: vaccine or prophylaxis.
    pub vp: String,
    /// `mp`: medicinal product.
    pub mp: String,
    /// `ma`: marketing authorisation holder or manufacturer.
    pub ma: String,
    /// `dn`: dose number.
    pub dn: u32,
    /// `sd`: total series of doses.
    pub sd: u32,
    /// `dt`: date of vaccination.
    pub dt: String,
    /// `co`: country of vaccination.
    pub co: String,
    /// `is`: certificate issuer.
    pub is: String,
    /// `ci`: unique certificate identifier.
    pub ci: String,
}

/// One `t` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Test {
    /// `tg`: disease targeted.
    pub tg: String,
    /// `tt`: type of test.
    pub tt: String,
    /// `nm`: NAA test name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nm: Option<String>,
    /// `ma`: RAT test device identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ma: Option<String>,
    /// `sc`: date-time of sample collection.
    pub sc: String,
    /// `dr`: date-time of the result (schema 1.0.x only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr: Option<String>,
    /// `tr`: test result.
    pub tr: String,
    /// `tc`: testing centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tc: Option<String>,
    /// `co`: country of the test.
    pub co: String,
    /// `is`: certificate issuer.
    pub is: String,
    /// `ci`: unique certificate identifier.
    pub ci: String,
}

/// One `r` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// `tg`: disease recovered from.
    pub tg: String,
    /// `fr`: date of the first positive test.
    pub fr: String,
    /// `co`: country of the test.
    pub co: String,
    /// `is`: certificate issuer.
    pub is: String,
    /// `df`: valid from.
    pub df: String,
    /// `du`: valid until.
    pub du: String,
    /// `ci`: unique certificate identifier.
    pub ci: String,
}

/// The entries: exactly one of `v`, `t`, `r`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entries {
    /// `v`.
    Vaccination(Vec<Vaccination>),
    /// `t`.
    Test(Vec<Test>),
    /// `r`.
    Recovery(Vec<Recovery>),
}

impl Entries {
    /// The certificate type.
    pub fn certificate_type(&self) -> CertificateType {
        match self {
            Entries::Vaccination(_) => CertificateType::Vaccination,
            Entries::Test(_) => CertificateType::Test,
            Entries::Recovery(_) => CertificateType::Recovery,
        }
    }
}

/// A DCC payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDcc", into = "RawDcc")]
pub struct Dcc {
    /// `ver`: schema version.
    pub ver: String,
    /// `nam`: the holder's name.
    pub nam: Name,
    /// `dob`: date of birth (`YYYY-MM-DD`, `YYYY-MM`, `YYYY` or empty).
    pub dob: String,
    /// The `v`, `t` or `r` entries.
    pub entries: Entries,
}

#[derive(Serialize, Deserialize)]
struct RawDcc {
    ver: String,
    nam: Name,
    dob: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<Vec<Vaccination>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<Vec<Test>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<Vec<Recovery>>,
}

impl TryFrom<RawDcc> for Dcc {
    type Error = String;
    fn try_from(raw: RawDcc) -> Result<Self, String> {
        let entries = match (raw.v, raw.t, raw.r) {
            (Some(v), None, None) => Entries::Vaccination(v),
            (None, Some(t), None) => Entries::Test(t),
            (None, None, Some(r)) => Entries::Recovery(r),
            _ => return Err("the payload must hold exactly one of v, t, r".into()),
        };
        Ok(Dcc {
            ver: raw.ver,
            nam: raw.nam,
            dob: raw.dob,
            entries,
        })
    }
}

impl From<Dcc> for RawDcc {
    fn from(d: Dcc) -> Self {
        let (mut v, mut t, mut r) = (None, None, None);
        match d.entries {
            Entries::Vaccination(e) => v = Some(e),
            Entries::Test(e) => t = Some(e),
            Entries::Recovery(e) => r = Some(e),
        }
        RawDcc {
            ver: d.ver,
            nam: d.nam,
            dob: d.dob,
            v,
            t,
            r,
        }
    }
}

/// Why a payload does not fit the model.
#[derive(Debug, thiserror::Error)]
#[error("payload does not fit the DCC model: {0}")]
pub struct ModelError(String);

impl Dcc {
    /// The certificate type.
    pub fn certificate_type(&self) -> CertificateType {
        self.entries.certificate_type()
    }

    /// Reads a decoded CBOR payload (extra fields are ignored).
    ///
    /// # Errors
    /// [`ModelError`] when required fields are missing or have the wrong type, or the payload
    /// does not hold exactly one of `v`/`t`/`r`.
    pub fn from_cbor(value: &Value<'_>) -> Result<Self, ModelError> {
        let json = cbor_to_json(value).map_err(|e| ModelError(e.to_string()))?;
        serde_json::from_value(json).map_err(|e| ModelError(e.to_string()))
    }

    /// The payload as CBOR: definite lengths, shortest integers, keys in `serde_json`'s map
    /// order (deterministic), absent optional fields left out.
    pub fn to_cbor(&self) -> Vec<u8> {
        // Serialising these plain structs cannot fail: all keys are strings, no maps with
        // non-string keys, no custom serialisers that error.
        let json = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        json_to_cbor(&json)
    }
}

/// Converts a CBOR tree to JSON: tag-0 date-times and other tags unwrap to their content,
/// whole-number floats become integers, byte strings and non-text map keys are refused.
///
/// # Errors
/// A message naming the first value JSON cannot hold.
pub fn cbor_to_json(value: &Value<'_>) -> Result<serde_json::Value, ModelError> {
    use serde_json::Value as J;
    Ok(match value {
        Value::Unsigned(n) => J::from(*n),
        Value::Negative(n) => i64::try_from(*n)
            .map(|n| J::from(-1 - n))
            .map_err(|_| ModelError("integer out of range".into()))?,
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => J::from(*f as i64),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .ok_or_else(|| ModelError("non-finite float".into()))?,
        Value::Text(t) => J::from(*t),
        Value::Bytes(_) => return Err(ModelError("byte string".into())),
        Value::Tag(_, inner) => cbor_to_json(inner)?,
        Value::Array(items) => J::Array(items.iter().map(cbor_to_json).collect::<Result<_, _>>()?),
        Value::Map(pairs) => {
            let mut obj = serde_json::Map::new();
            for (k, v) in pairs {
                let key = k
                    .as_text()
                    .ok_or_else(|| ModelError("map key is not text".into()))?;
                obj.insert(key.to_owned(), cbor_to_json(v)?);
            }
            J::Object(obj)
        }
        Value::Bool(b) => J::Bool(*b),
        Value::Null | Value::Undefined => J::Null,
        Value::Simple(s) => return Err(ModelError(format!("simple value {s}"))),
    })
}

/// Converts JSON to CBOR (integers stay integers, other numbers become doubles).
pub fn json_to_cbor(json: &serde_json::Value) -> Vec<u8> {
    fn write(w: &mut Writer, json: &serde_json::Value) {
        use serde_json::Value as J;
        match json {
            J::Null => {
                w.null();
            }
            J::Bool(b) => {
                w.bool(*b);
            }
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    w.int(i);
                } else if let Some(u) = n.as_u64() {
                    w.value(&Value::Unsigned(u));
                } else {
                    w.float(n.as_f64().unwrap_or(f64::NAN));
                }
            }
            J::String(s) => {
                w.text(s);
            }
            J::Array(a) => {
                w.array(a.len());
                for item in a {
                    write(w, item);
                }
            }
            J::Object(o) => {
                w.map(o.len());
                for (k, v) in o {
                    w.text(k);
                    write(w, v);
                }
            }
        }
    }
    let mut w = Writer::new();
    write(&mut w, json);
    w.into_bytes()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const VACCINATION: &str = r#"{"ver":"1.3.0","nam":{"fn":"Nguyễn","fnt":"NGUYEN","gn":"Văn An","gnt":"VAN<AN"},"dob":"1990-01-31","v":[{"tg":"840539006","vp":"1119349007","mp":"EU/1/20/1528","ma":"ORG-100030215","dn":2,"sd":2,"dt":"2021-06-01","co":"VN","is":"Ministry of Health","ci":"URN:UVCI:01:VN:1234567890#A"}]}"#;

    #[test]
    fn json_cbor_model_round_trip() {
        let dcc: Dcc = serde_json::from_str(VACCINATION).unwrap();
        assert_eq!(dcc.certificate_type(), CertificateType::Vaccination);
        let cbor = dcc.to_cbor();
        let value = crate::cbor::decode(&cbor, 16).unwrap();
        assert_eq!(
            CertificateType::of_payload(&value),
            Some(CertificateType::Vaccination)
        );
        let back = Dcc::from_cbor(&value).unwrap();
        assert_eq!(back, dcc);
        let json: serde_json::Value = serde_json::to_value(&back).unwrap();
        let original: serde_json::Value = serde_json::from_str(VACCINATION).unwrap();
        assert_eq!(json, original);
    }

    #[test]
    fn tag0_dates_floats_and_nulls() {
        // {"ver":"1.0.0","nam":{"fnt":"A"},"dob":"2000","v":null,"t":[{... "sc": 0("..."), "dn"...}]}
        let json = serde_json::json!({
            "ver": "1.0.0", "nam": {"fnt": "A"}, "dob": "2000", "v": null,
            "t": [{"tg": "840539006", "tt": "LP6464-4", "sc": "X", "tr": "260415000",
                   "co": "HU", "is": "X", "ci": "X", "extra": 1}]
        });
        let mut cbor = json_to_cbor(&json);
        // Replace the text "X" of sc by tag 0 around the same text: simplest via a Value edit.
        let mut value = crate::cbor::decode(&cbor, 16).unwrap().clone();
        if let Value::Map(pairs) = &mut value {
            for (k, v) in pairs.iter_mut() {
                if k.as_text() == Some("t") {
                    if let Value::Array(items) = v {
                        if let Value::Map(entry) = &mut items[0] {
                            for (ek, ev) in entry.iter_mut() {
                                if ek.as_text() == Some("sc") {
                                    *ev = Value::Tag(
                                        0,
                                        Box::new(Value::Text("2021-05-01T10:00:00Z")),
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        cbor = crate::cbor::encode(&value);
        let value = crate::cbor::decode(&cbor, 16).unwrap();
        assert_eq!(
            CertificateType::of_payload(&value),
            Some(CertificateType::Test)
        );
        let dcc = Dcc::from_cbor(&value).unwrap();
        let Entries::Test(t) = &dcc.entries else {
            panic!("not a test")
        };
        assert_eq!(t[0].sc, "2021-05-01T10:00:00Z");
        assert!(Dcc::from_cbor(&Value::Map(vec![])).is_err());
    }

    #[test]
    fn exactly_one_type() {
        let two = serde_json::json!({"ver": "1.3.0", "nam": {}, "dob": "", "v": [], "r": []});
        assert_eq!(CertificateType::of_payload(&two), None);
        assert!(serde_json::from_value::<Dcc>(two).is_err());
    }
}
