//! Human output for a border officer: the verdict first, then who, what, issued by / valid
//! until, and for a failure what it means and what to do. Plain text, no colour.

use crate::report::{CheckReport, DecodeReport, Decoded, Failure, RuleLine};
use serde_json::Value;
use std::fmt::Write as _;

/// For each failure code: a short reason (after `NOT VALID — `), what it means, what to do
/// (the table of verifier/README.md).
fn explain(code: &str) -> (&'static str, &'static str, &'static str) {
    match code {
        "INPUT_TOO_LARGE" => (
            "input too large",
            "the text is longer than any QR code can hold",
            "not a QR payload; check the input",
        ),
        "QR_IMAGE" => (
            "no readable QR code",
            "no QR code could be read from the picture",
            "take a sharper, well-lit picture of the whole code, or scan it and pass the text",
        ),
        "PREFIX" => (
            "not an EU DCC",
            "the text does not start with HC1:",
            "not an EU DCC (or white space around it: trim first)",
        ),
        "BASE45" => (
            "damaged code",
            "the text is not valid Base45",
            "the text was damaged when scanned or copied; scan again",
        ),
        "COMPRESSION" => (
            "damaged code",
            "the compressed data is broken or too large",
            "damaged or hostile input; scan again",
        ),
        "COSE" => (
            "damaged code",
            "the signed envelope (COSE_Sign1) is malformed",
            "damaged or not an HCERT; scan again",
        ),
        "CBOR" => (
            "damaged code",
            "the certificate claims (CWT) are malformed",
            "damaged or not an HCERT; scan again",
        ),
        "PAYLOAD" => (
            "malformed certificate",
            "no DCC payload, not exactly one of vaccination/test/recovery, or no issue/expiry date",
            "issuer error: the holder must ask the issuer for a new certificate",
        ),
        "KID_MISSING" => (
            "no signer key id",
            "the certificate does not say which key signed it",
            "issuer error: the holder must ask the issuer for a new certificate",
        ),
        "REVOKED" => (
            "revoked",
            "the issuing country revoked this certificate",
            "do not accept; a superseded certificate has a corrected replacement the holder can fetch",
        ),
        "REVOCATION_UNKNOWN" => (
            "cannot decide: revocation status unknown",
            "the revocation list expired beyond its grace period, so it cannot vouch that this certificate was not revoked since",
            "sync the revocation list (vaxpass-verify revocations sync), then check again",
        ),
        "KID_UNKNOWN" => (
            "unknown signer",
            "no trusted signer has the key id of this certificate",
            "update the trust list; if it is current, this is not a genuine certificate",
        ),
        "ALGORITHM" => (
            "wrong signature algorithm",
            "the signature algorithm is missing, not allowed, or does not fit the signer's key",
            "issuer error or forgery: do not accept",
        ),
        "SIGNATURE" => (
            "signature does not verify",
            "the certificate was not signed by the trusted signer: forged or altered",
            "do not accept",
        ),
        "NOT_YET_VALID" => (
            "not yet valid",
            "the certificate was issued after the validation time",
            "check the clock of this device",
        ),
        "EXPIRED" => (
            "certificate expired",
            "the validation time is after the certificate's expiry",
            "the holder needs a new certificate",
        ),
        "DSC_NOT_YET_VALID" => (
            "signer not yet valid",
            "the signer certificate was not yet valid when it signed, or is not yet valid now",
            "issuer error, or check the clock of this device",
        ),
        "DSC_EXPIRED" => (
            "signer expired",
            "the signer certificate has expired",
            "the holder needs a re-issued certificate",
        ),
        "KEY_USAGE" => (
            "signer not allowed for this type",
            "the signer may not sign this type of certificate",
            "issuer error or misuse of a signer: do not accept",
        ),
        "SCHEMA" => (
            "malformed content",
            "the content does not match the DCC schema of its version",
            "issuer error: the holder must ask the issuer for a new certificate",
        ),
        "VALUE_SET" => (
            "unknown code in content",
            "a coded value (vaccine, test, country…) is not in its value set",
            "issuer error, or update the value sets (a newer release of vaxpass)",
        ),
        "RULE_FAILED" => (
            "rule not met",
            "the certificate is genuine but does not meet the entry rules listed below",
            "do not accept for entry; the holder needs a certificate that meets the rules",
        ),
        _ => ("failed", "", ""),
    }
}

/// A label column of fixed width.
fn line(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{:<14}{value}", format!("{label}:"));
}

fn holder_line(d: &Decoded) -> Option<String> {
    let h = d.holder.as_ref()?;
    let printed = [h.family_name.as_deref(), h.given_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let std = [
        h.family_name_transliterated.as_deref(),
        h.given_name_transliterated.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    Some(match (printed.is_empty(), std.is_empty()) {
        (false, false) => format!("{printed} ({std})"),
        (false, true) => printed,
        (true, _) => std,
    })
}

/// The display name of a code in a value set (e.g. `EU/1/20/1528` → `Comirnaty`), else the code.
fn display(value_set: &str, code: &str) -> String {
    vaxpass_schemas::value_set(value_set)
        .and_then(|json| serde_json::from_str::<Value>(json).ok())
        .and_then(|v| {
            v.pointer(&format!(
                "/valueSetValues/{}",
                code.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(|e| e.get("display"))
            .and_then(Value::as_str)
            .map(str::to_owned)
        })
        .unwrap_or_else(|| code.to_owned())
}

/// What the certificate states, e.g. `vaccination 2/2, Comirnaty, 2021-06-01 (VN)`.
fn what_line(d: &Decoded) -> Option<String> {
    let p = d.payload.as_ref()?;
    let s = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
    let n = |e: &Value, k: &str| {
        e.get(k)
            .and_then(Value::as_u64)
            .map_or_else(|| "?".to_owned(), |n| n.to_string())
    };
    let ty = d.certificate_type.as_deref()?;
    let entry = p.get(ty.get(..1)?)?.get(0)?;
    Some(match ty {
        "vaccination" => format!(
            "vaccination {}/{}, {}, {} ({})",
            n(entry, "dn"),
            n(entry, "sd"),
            display("vaccines-covid-19-names", &s(entry, "mp")),
            s(entry, "dt"),
            s(entry, "co"),
        ),
        "test" => format!(
            "test, {}, {}, sample taken {} ({})",
            display("covid-19-lab-test-type", &s(entry, "tt")),
            display("covid-19-lab-result", &s(entry, "tr")),
            s(entry, "sc"),
            s(entry, "co"),
        ),
        _ => format!(
            "recovery, first positive test {}, valid {} to {} ({})",
            s(entry, "fr"),
            s(entry, "df"),
            s(entry, "du"),
            s(entry, "co"),
        ),
    })
}

/// Who, what, issued by, valid until; `mark` follows each value that is not verified.
fn describe(out: &mut String, d: &Decoded, mark: &str) {
    if let Some(h) = holder_line(d) {
        line(out, "Holder", &format!("{h}{mark}"));
    }
    if let Some(dob) = &d.date_of_birth {
        line(out, "Born", &format!("{dob}{mark}"));
    }
    if let Some(what) = what_line(d) {
        line(out, "Certificate", &format!("{what}{mark}"));
    } else if let Some(ty) = &d.certificate_type {
        line(out, "Certificate", &format!("{ty}{mark}"));
    }
    if d.issuer_country.is_some() || d.issued_at.is_some() {
        let by = d.issuer_country.as_deref().unwrap_or("?");
        let at = d.issued_at.as_deref().unwrap_or("?");
        line(out, "Issued", &format!("by {by} on {at}{mark}"));
    }
    if let Some(exp) = &d.expires_at {
        line(out, "Valid until", &format!("{exp}{mark}"));
    }
}

fn failure_lines(out: &mut String, f: &Failure) {
    let (_, meaning, todo) = explain(f.code);
    line(out, "Reason", &format!("{} ({})", f.message, f.code));
    if !meaning.is_empty() {
        line(out, "Meaning", meaning);
        line(out, "What to do", todo);
    }
}

fn rule_lines(out: &mut String, rules: &[RuleLine]) {
    for r in rules {
        let outcome = match r.outcome {
            "failed" => "FAILED",
            "open" => "OPEN",
            other => other,
        };
        let en = r
            .description_en
            .as_deref()
            .unwrap_or("(no English description)");
        let _ = writeln!(out, "  {outcome:<7}{} {en}", r.identifier);
        if let Some(vi) = &r.description_vi {
            let _ = writeln!(out, "  {:<7}{} {vi}", "", " ".repeat(r.identifier.len()));
        }
        if let Some(reason) = &r.reason {
            let _ = writeln!(
                out,
                "  {:<7}{} not evaluated: {reason}",
                "",
                " ".repeat(r.identifier.len())
            );
        }
    }
}

/// The text of a `check` report.
pub fn check(r: &CheckReport) -> String {
    let mut out = String::new();
    match &r.failure {
        None => out.push_str("VALID\n"),
        Some(f) if f.code == crate::revocations::UNKNOWN => {
            let _ = writeln!(out, "CANNOT DECIDE — {}", explain(f.code).0);
        }
        Some(f) => {
            let _ = writeln!(out, "NOT VALID — {}", explain(f.code).0);
        }
    }
    let mark = if r.payload_verified || r.decoded.payload.is_none() {
        ""
    } else {
        " [not verified]"
    };
    describe(&mut out, &r.decoded, mark);
    if let Some(f) = &r.failure {
        failure_lines(&mut out, f);
    }
    if let Some(s) = &r.signer {
        let country = s
            .country
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        line(
            &mut out,
            "Signed by",
            &format!(
                "key {}{country}, valid {} to {}",
                r.decoded.kid.as_deref().unwrap_or("?"),
                s.not_before,
                s.not_after
            ),
        );
    }
    if let (Some(rules), Some(cc)) = (&r.rules, &r.rules_country) {
        if !r.payload_verified {
            let _ = writeln!(
                out,
                "Rules ({cc}): not evaluated, the certificate did not verify"
            );
        } else if rules.is_empty() {
            let _ = writeln!(out, "Rules ({cc}): none apply to this certificate");
        } else {
            let count = |o: &str| rules.iter().filter(|l| l.outcome == o).count();
            let _ = writeln!(
                out,
                "Rules ({cc}): {} passed, {} failed, {} open",
                count("passed"),
                count("failed"),
                count("open")
            );
            rule_lines(&mut out, rules);
        }
    }
    line(&mut out, "Checked at", &r.checked_at);
    if let Some(list) = &r.trust_list {
        line(&mut out, "Trust list", &list.human());
    }
    if let Some(rev) = &r.revocation {
        let status = match (rev.status, rev.reason) {
            ("REVOKED", Some(reason)) => format!("REVOKED ({reason})"),
            ("REVOCATION_UNKNOWN", _) => "UNKNOWN".to_owned(),
            _ => "not revoked".to_owned(),
        };
        line(
            &mut out,
            "Revocation",
            &format!("{status}; {}", rev.list.human()),
        );
    }
    out
}

/// The text of a `decode` report.
pub fn decode(r: &DecodeReport) -> String {
    let mut out = String::from("UNVERIFIED — signature not checked\n");
    if let Some(f) = &r.failure {
        let _ = writeln!(out, "NOT DECODED — {}", explain(f.code).0);
        failure_lines(&mut out, f);
        return out;
    }
    describe(&mut out, &r.decoded, "");
    if let Some(kid) = &r.decoded.kid {
        line(
            &mut out,
            "Key id",
            &format!(
                "{kid} ({})",
                r.decoded.algorithm.as_deref().unwrap_or("no algorithm")
            ),
        );
    }
    if let Some(p) = &r.decoded.payload {
        out.push_str("Payload:\n");
        out.push_str(&serde_json::to_string_pretty(p).unwrap_or_default());
        out.push('\n');
    }
    out
}
