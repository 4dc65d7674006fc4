//! Evaluating one flag of one test case with this crate's own stages.
//!
//! `Ok(())` means the step the flag names succeeded, `Err(why)` that it failed (the caller
//! compares that with the expectation). Where a file lacks an intermediate field, it is rebuilt
//! from the previous stage with the library (e.g. `COSE` from `BASE45`), never taken on trust.

use super::{Flag, TestCase};
use crate::cbor::{self, Value};
use crate::crypto::Backend;
use crate::model::{cbor_to_json, json_to_cbor};
use crate::schema::SchemaSet;
use crate::trust::TrustedSigner;
use crate::verify::{Limits, SignedHcert};
use crate::{Error, Timestamp, base45, hc1, zlib};
use serde_json::Value as Json;

/// CWT claim key of the HCERT container (`-260`), and the DCC's key inside it (`1`).
const CLAIM_HCERT: i64 = -260;
const HCERT_DCC: i64 = 1;

/// Evaluates the step `flag` names on `case`: `Ok(())` when it succeeds, `Err` with the
/// failing stage's error otherwise (what [`run`](super::run) compares with the expectation).
///
/// # Errors
/// The step failed: why, for people.
pub fn evaluate(case: &TestCase, flag: Flag) -> Result<(), String> {
    let limits = Limits::default();
    match flag {
        Flag::ValidObject => {
            let json = case.json.as_ref().ok_or("no JSON")?;
            let version = case.schema.as_deref().ok_or("no TESTCTX.SCHEMA")?;
            schemas()?
                .validate_version(version, json)
                .map_err(|e| e.to_string())
        }
        Flag::SchemaValidation => {
            let bytes = payload_source(case, &limits)?;
            let payload = payload_of(&bytes, &limits)?;
            schemas()?.validate(&payload).map_err(|e| e.to_string())
        }
        Flag::Encode => {
            let json = case.json.as_ref().ok_or("no JSON")?;
            let expected = reference_payload(case, &limits)?;
            let encoded = json_to_cbor(json);
            let ours =
                cbor::decode(&encoded, limits.max_depth).map_err(|e| format!("our CBOR: {e}"))?;
            same_json(&to_json(&ours)?, &expected, "")
        }
        Flag::Decode => {
            let json = case.json.as_ref().ok_or("no JSON")?;
            let reference = reference_payload(case, &limits)?;
            same_json(&reference, json, "").map_err(|e| format!("CBOR vs JSON: {e}"))?;
            if case.cbor.is_some() && has_cose(case) {
                let signed = signed(case, &limits)?;
                let from_cose = to_json(&signed.dangerous_unverified_payload())?;
                same_json(&from_cose, &reference, "")
                    .map_err(|e| format!("COSE payload vs CBOR: {e}"))?;
            }
            Ok(())
        }
        Flag::Verify => {
            let signer = signer(case)?;
            let signed = signed(case, &limits)?;
            let verdict = signed.verify_signature_with(&signer).map_err(coded);
            // With a second backend built in, both must reach the same verdict on every case.
            let pure = TrustedSigner::from_der_with(signer.certificate_der(), Backend::RustCrypto)
                .map_err(|e| format!("signer certificate: {e}"))?;
            let pure_verdict = signed.verify_signature_with(&pure).map_err(coded);
            if pure_verdict.is_ok() != verdict.is_ok() {
                return Err(format!(
                    "signature backends disagree: default {verdict:?}, RustCrypto {pure_verdict:?}"
                ));
            }
            verdict
        }
        Flag::Unprefix => {
            let prefixed = case.prefix.as_deref().ok_or("no PREFIX")?;
            let rest = hc1::strip_prefix(prefixed).map_err(|e| e.to_string())?;
            match case.base45.as_deref() {
                Some(b45) if b45 != rest => Err("the text after HC1: differs from BASE45".into()),
                _ => Ok(()),
            }
        }
        Flag::ValidJson => {
            let json = case.json.as_ref().ok_or("no JSON")?;
            let text = match (&case.prefix, &case.picture) {
                (Some(prefix), _) => prefix.clone(),
                (None, Some(picture)) => {
                    crate::qr::decode_image(picture).map_err(|e| e.to_string())?
                }
                (None, None) => return Err("neither PREFIX nor 2DCODE".into()),
            };
            let signed = crate::verify::decode(&text, &limits).map_err(coded)?;
            same_json(&to_json(&signed.dangerous_unverified_payload())?, json, "")
        }
        Flag::Compression => {
            let compressed = compressed(case)?;
            let cose =
                zlib::inflate(&compressed, limits.max_inflated).map_err(|e| e.to_string())?;
            match &case.cose {
                Some(expected) if *expected != cose => Err("inflates, but not to COSE".into()),
                _ => Ok(()),
            }
        }
        Flag::B45Decode => {
            let text = case.base45.as_deref().ok_or("no BASE45")?;
            let bytes = base45::decode(text.as_bytes()).map_err(|e| e.to_string())?;
            match &case.compressed {
                Some(expected) if *expected != bytes => {
                    Err("decodes, but not to COMPRESSED".into())
                }
                _ => Ok(()),
            }
        }
        Flag::PictureDecode => {
            let picture = case.picture.as_deref().ok_or("no 2DCODE picture")?;
            let prefix = case.prefix.as_deref().ok_or("no PREFIX")?;
            let text = crate::qr::decode_image(picture).map_err(|e| e.to_string())?;
            if text == prefix {
                Ok(())
            } else {
                Err("the picture decodes to another text than PREFIX".into())
            }
        }
        Flag::ExpirationCheck => {
            let signer = signer(case)?;
            let clock = case
                .validation_clock
                .as_deref()
                .ok_or("no TESTCTX.VALIDATIONCLOCK")?;
            let clock = Timestamp::parse(clock).map_err(|e| e.to_string())?;
            signed(case, &limits)?
                .check_validity(&signer, clock)
                .map_err(coded)
        }
        Flag::KeyUsage => {
            let signer = signer(case)?;
            let signed = signed(case, &limits)?;
            signed.verify_signature_with(&signer).map_err(coded)?;
            signed.check_key_usage(&signer).map_err(coded)
        }
    }
}

fn coded(e: Error) -> String {
    format!("{}: {e}", e.code())
}

fn schemas() -> Result<&'static SchemaSet, String> {
    SchemaSet::shared().map_err(|e| format!("embedded schemas: {e}"))
}

fn signer(case: &TestCase) -> Result<TrustedSigner, String> {
    let der = case
        .certificate
        .as_deref()
        .ok_or("no TESTCTX.CERTIFICATE")?;
    TrustedSigner::from_der(der).map_err(|e| format!("signer certificate: {e}"))
}

/// `COMPRESSED`, else rebuilt from `BASE45`.
fn compressed(case: &TestCase) -> Result<Vec<u8>, String> {
    if let Some(z) = &case.compressed {
        return Ok(z.clone());
    }
    let text = case
        .base45
        .as_deref()
        .ok_or("neither COMPRESSED nor BASE45")?;
    base45::decode(text.as_bytes()).map_err(|e| format!("BASE45: {e}"))
}

/// `COSE`, else rebuilt by inflating [`compressed`].
fn cose(case: &TestCase, limits: &Limits) -> Result<Vec<u8>, String> {
    if let Some(cose) = &case.cose {
        return Ok(cose.clone());
    }
    zlib::inflate(&compressed(case)?, limits.max_inflated).map_err(|e| format!("COMPRESSED: {e}"))
}

fn signed(case: &TestCase, limits: &Limits) -> Result<SignedHcert, String> {
    SignedHcert::from_cose(cose(case, limits)?, limits).map_err(coded)
}

fn has_cose(case: &TestCase) -> bool {
    case.cose.is_some() || case.compressed.is_some() || case.base45.is_some()
}

/// The payload of `CBOR` as JSON; when a file has no `CBOR` (PT), the payload decoded from its
/// COSE (rebuilt from the earlier stages if need be).
fn reference_payload(case: &TestCase, limits: &Limits) -> Result<Json, String> {
    match &case.cbor {
        Some(bytes) => {
            let value = cbor::decode(bytes, limits.max_depth).map_err(|e| format!("CBOR: {e}"))?;
            to_json(dcc_of(&value))
        }
        None => to_json(&signed(case, limits)?.dangerous_unverified_payload()),
    }
}

/// The CBOR bytes the payload is read from: the COSE payload's claims when there is a COSE (or a
/// stage it can be rebuilt from), else the `CBOR` field.
fn payload_source(case: &TestCase, limits: &Limits) -> Result<Vec<u8>, String> {
    if has_cose(case) {
        let signed = signed(case, limits)?;
        return Ok(cbor::encode(&signed.dangerous_unverified_payload()));
    }
    case.cbor
        .clone()
        .ok_or_else(|| "no COSE and no CBOR".into())
}

fn payload_of<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Value<'a>, String> {
    let value = cbor::decode(bytes, limits.max_depth).map_err(|e| format!("CBOR: {e}"))?;
    Ok(dcc_of(&value).clone())
}

/// The DCC payload inside a CBOR value that is either the payload itself or a whole CWT claims
/// map (`{..., -260: {1: payload}}`); the files hold both forms.
fn dcc_of<'v, 'a>(value: &'v Value<'a>) -> &'v Value<'a> {
    value
        .get_int(CLAIM_HCERT)
        .and_then(|hcert| hcert.get_int(HCERT_DCC))
        .unwrap_or(value)
}

fn to_json(value: &Value<'_>) -> Result<Json, String> {
    cbor_to_json(value).map_err(|e| e.to_string())
}

/// Structural equality of two payloads as the test-data format defines it: key order does not
/// matter, numbers compare by value, date-times compare as instants.
fn same_json(a: &Json, b: &Json, path: &str) -> Result<(), String> {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let here = format!("{path}/{key}");
                match (x.get(key), y.get(key)) {
                    (Some(u), Some(v)) => same_json(u, v, &here)?,
                    _ => return Err(format!("{here}: present on one side only")),
                }
            }
            Ok(())
        }
        (Json::Array(x), Json::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (u, v))| same_json(u, v, &format!("{path}/{i}"))),
        (Json::Number(x), Json::Number(y)) if x.as_f64() == y.as_f64() => Ok(()),
        (Json::String(x), Json::String(y)) if x == y || same_instant(x, y) => Ok(()),
        _ if a == b => Ok(()),
        _ => Err(format!(
            "{}: values differ",
            if path.is_empty() { "(root)" } else { path }
        )),
    }
}

fn same_instant(a: &str, b: &str) -> bool {
    a.contains('T')
        && b.contains('T')
        && matches!((Timestamp::parse(a), Timestamp::parse(b)), (Ok(x), Ok(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_rules() {
        let a: Json = serde_json::json!({"a": 1, "t": "2021-05-29T19:21:13Z", "l": [1, 2]});
        let b: Json = serde_json::json!({"l": [1, 2], "t": "2021-05-29T21:21:13+02:00", "a": 1.0});
        assert_eq!(same_json(&a, &b, ""), Ok(()));
        let c: Json = serde_json::json!({"a": 1, "t": "2021-05-29T19:21:14Z", "l": [1, 2]});
        assert_eq!(same_json(&a, &c, ""), Err("/t: values differ".into()));
        let d: Json = serde_json::json!({"a": 1, "t": "2021-05-29T19:21:13Z"});
        assert_eq!(
            same_json(&a, &d, ""),
            Err("/l: present on one side only".into())
        );
        // Plain dates are not instants: "2021-05-29" and "2021-05-29T00:00:00Z" differ.
        assert!(
            same_json(
                &Json::from("2021-05-29"),
                &Json::from("2021-05-29T00:00:00Z"),
                ""
            )
            .is_err()
        );
    }
}
