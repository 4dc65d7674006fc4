//! CWT claims (RFC 8392) as HCERT uses them (HCERT spec §3.3.1, §5).
//!
//! ```cddl
//! CWT_claims = {
//!     ? 1 => tstr,                 ; iss: issuing country (free text in some data sets)
//!     ? 4 => int / float,          ; exp: expiry, seconds since the epoch
//!     ? 6 => int / float,          ; iat: issued at
//!     -260 => { 1 => DCC_payload } ; hcert: the EU DCC payload (a map)
//!     * int => any
//! }
//! ```
//! Floats for `exp`/`iat` occur in real data (ES, HU) and are rounded down to whole seconds.

use crate::Timestamp;
use crate::cbor::{self, CborError, Value, Writer};

/// Claim key of the issuer.
pub const CLAIM_ISS: i64 = 1;
/// Claim key of the expiry.
pub const CLAIM_EXP: i64 = 4;
/// Claim key of the issue time.
pub const CLAIM_IAT: i64 = 6;
/// Claim key of the health certificate container.
pub const CLAIM_HCERT: i64 = -260;
/// Key of the EU DCC payload inside the `hcert` map.
pub const HCERT_EU_DCC: i64 = 1;

/// Why a COSE payload is not HCERT claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CwtError {
    /// The payload is not well-formed CBOR.
    #[error("CWT claims are not well-formed CBOR: {0}")]
    Cbor(CborError),
    /// The payload is not a CBOR map.
    #[error("CWT claims are not a map")]
    NotAMap,
    /// A claim has the wrong type, an impossible value, or occurs twice.
    #[error("CWT claim {key}: {problem}")]
    Claim {
        /// The claim key.
        key: i64,
        /// What is wrong.
        problem: &'static str,
    },
    /// No `-260 => {1 => payload}`, or the payload is not a map.
    #[error("CWT has no HCERT payload (claim -260, key 1): {0}")]
    MissingHcert(&'static str),
}

/// The claims, borrowing from the COSE payload bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims<'a> {
    /// Claim 1, the issuer.
    pub iss: Option<&'a str>,
    /// Claim 6, issued at.
    pub iat: Option<Timestamp>,
    /// Claim 4, expiry.
    pub exp: Option<Timestamp>,
    /// Claim -260 key 1: the DCC payload map.
    pub payload: Value<'a>,
}

impl<'a> Claims<'a> {
    /// Parses the CWT claims map of an HCERT.
    ///
    /// # Errors
    /// [`CwtError`] for malformed CBOR, a claim of the wrong type, or a missing HCERT payload.
    pub fn parse(bytes: &'a [u8], max_depth: usize) -> Result<Self, CwtError> {
        let map = cbor::decode(bytes, max_depth).map_err(CwtError::Cbor)?;
        let Value::Map(pairs) = map else {
            return Err(CwtError::NotAMap);
        };
        let (mut iss, mut iat, mut exp, mut hcert) = (None, None, None, None);
        for (key, value) in pairs {
            let Some(key) = key.as_i64() else { continue };
            let dup = CwtError::Claim {
                key,
                problem: "occurs twice",
            };
            match key {
                CLAIM_ISS => {
                    let text = value.as_text().ok_or(CwtError::Claim {
                        key,
                        problem: "not a text string",
                    })?;
                    if iss.replace(text).is_some() {
                        return Err(dup);
                    }
                }
                CLAIM_EXP | CLAIM_IAT => {
                    let t = time(key, &value)?;
                    let slot = if key == CLAIM_EXP { &mut exp } else { &mut iat };
                    if slot.replace(t).is_some() {
                        return Err(dup);
                    }
                }
                CLAIM_HCERT if hcert.replace(value).is_some() => return Err(dup),
                _ => {}
            }
        }
        let Some(Value::Map(hcert)) = hcert else {
            return Err(CwtError::MissingHcert(if hcert.is_some() {
                "claim -260 is not a map"
            } else {
                "no claim -260"
            }));
        };
        let mut payload = None;
        for (key, value) in hcert {
            if key.as_i64() == Some(HCERT_EU_DCC) && payload.replace(value).is_some() {
                return Err(CwtError::MissingHcert("key 1 occurs twice"));
            }
        }
        let payload = match payload {
            Some(p @ Value::Map(_)) => p,
            Some(_) => return Err(CwtError::MissingHcert("the payload is not a map")),
            None => return Err(CwtError::MissingHcert("no key 1 in claim -260")),
        };
        Ok(Claims {
            iss,
            iat,
            exp,
            payload,
        })
    }
}

fn time(key: i64, value: &Value<'_>) -> Result<Timestamp, CwtError> {
    let bad = |problem| CwtError::Claim { key, problem };
    let inner = match value {
        Value::Tag(1, inner) => inner,
        v => v,
    };
    match inner {
        Value::Float(f) if f.is_finite() && f.abs() < 1e15 => {
            // In range: |f| < 1e15 fits i64 exactly after flooring.
            Ok(Timestamp::from_unix_seconds(f.floor() as i64))
        }
        Value::Float(_) => Err(bad("time out of range")),
        v => v
            .as_i64()
            .map(Timestamp::from_unix_seconds)
            .ok_or(bad("not a number of seconds")),
    }
}

/// Encodes claims `{1: iss, 4: exp, 6: iat, -260: {1: payload}}` with integer times, the
/// payload given as encoded CBOR (copied verbatim).
pub fn encode(iss: Option<&str>, iat: Timestamp, exp: Timestamp, payload_cbor: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.map(3 + usize::from(iss.is_some()));
    if let Some(iss) = iss {
        w.int(CLAIM_ISS).text(iss);
    }
    w.int(CLAIM_EXP).int(exp.unix_seconds());
    w.int(CLAIM_IAT).int(iat.unix_seconds());
    w.int(CLAIM_HCERT)
        .map(1)
        .int(HCERT_EU_DCC)
        .raw(payload_cbor);
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(hex_text: &str) -> Result<Claims<'static>, CwtError> {
        let bytes: &'static [u8] = Box::leak(hex::decode(hex_text).unwrap().into_boxed_slice());
        Claims::parse(bytes, 16)
    }

    #[test]
    fn round_trip() {
        let bytes = encode(
            Some("AT"),
            Timestamp::from_unix_seconds(1_600_000_000),
            Timestamp::from_unix_seconds(1_700_000_000),
            &[0xa1, 0x61, 0x76, 0x80], // {"v": []}
        );
        // a4, 01 "AT", 04 1a6553f100, 06 1a5f5e1000, 390103 a1 01 {"v": []}
        assert_eq!(
            hex::encode(&bytes),
            "a401624154041a6553f100061a5f5e1000390103a101a1617680"
        );
        let c = Claims::parse(&bytes, 16).unwrap();
        assert_eq!(c.iss, Some("AT"));
        assert_eq!(c.iat, Some(Timestamp::from_unix_seconds(1_600_000_000)));
        assert_eq!(c.exp, Some(Timestamp::from_unix_seconds(1_700_000_000)));
        assert_eq!(
            c.payload,
            Value::Map(vec![(Value::Text("v"), Value::Array(vec![]))])
        );
    }

    #[test]
    fn float_times_and_errors() {
        // {4: 1.7e9 as double, -260: {1: {}}}
        let c = parse("a204fb41d954fc40000000390103a101a0").unwrap();
        assert_eq!(c.exp, Some(Timestamp::from_unix_seconds(1_700_000_000)));
        assert_eq!(c.iat, None);
        assert_eq!(parse("80"), Err(CwtError::NotAMap));
        assert_eq!(
            parse("a1390103a0"),
            Err(CwtError::MissingHcert("no key 1 in claim -260"))
        );
        assert_eq!(parse("a0"), Err(CwtError::MissingHcert("no claim -260")));
        assert_eq!(
            parse("a204010402"),
            Err(CwtError::Claim {
                key: 4,
                problem: "occurs twice"
            })
        );
        assert_eq!(
            parse("a10401f5").unwrap_err(),
            CwtError::Cbor(CborError {
                offset: 3,
                kind: cbor::CborErrorKind::TrailingBytes(1)
            })
        );
        assert_eq!(
            parse("a104f97c00"),
            Err(CwtError::Claim {
                key: 4,
                problem: "time out of range"
            })
        );
        assert_eq!(
            parse("a10101"),
            Err(CwtError::Claim {
                key: 1,
                problem: "not a text string"
            })
        );
    }
}
