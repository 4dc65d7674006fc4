//! The report of `check` and `decode`: one type per command, serialised as is for
//! `--format json` and rendered for people by `human.rs`.

use serde::Serialize;
use serde_json::Value;
use vaxpass_verifier::rules::{RuleOutcome, RuleReport};
use vaxpass_verifier::{SignedHcert, Timestamp, TrustedSigner};

/// Code of a picture in which no QR code could be read.
pub const QR_IMAGE: &str = "QR_IMAGE";
/// Code of a certificate that verified but failed a validity rule.
pub const RULE_FAILED: &str = "RULE_FAILED";

/// Why a certificate is not valid: a stable code and a message for people.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// One of the codes in verifier/README.md ("Failure codes").
    pub code: &'static str,
    /// What went wrong, with context.
    pub message: String,
}

/// The holder's name (`nam`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Holder {
    /// `fn`.
    pub family_name: Option<String>,
    /// `gn`.
    pub given_name: Option<String>,
    /// `fnt`.
    pub family_name_transliterated: Option<String>,
    /// `gnt`.
    pub given_name_transliterated: Option<String>,
}

/// What was decoded from the certificate (all `null` when decoding failed).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Decoded {
    /// The kid, base64.
    pub kid: Option<String>,
    /// The header algorithm (`ES256`, `PS256`), or the COSE id if HCERT does not allow it.
    pub algorithm: Option<String>,
    /// CWT `iss`.
    pub issuer_country: Option<String>,
    /// CWT `iat`, RFC 3339.
    pub issued_at: Option<String>,
    /// CWT `exp`, RFC 3339.
    pub expires_at: Option<String>,
    /// `vaccination`, `test` or `recovery`.
    pub certificate_type: Option<String>,
    /// The holder's name.
    pub holder: Option<Holder>,
    /// `dob`.
    pub date_of_birth: Option<String>,
    /// The payload as JSON.
    pub payload: Option<Value>,
}

impl Decoded {
    /// Everything readable from a decoded, not (yet) verified certificate.
    pub fn from_signed(signed: &SignedHcert) -> Self {
        let payload =
            vaxpass_verifier::model::cbor_to_json(&signed.dangerous_unverified_payload()).ok();
        Self::new(signed, payload)
    }

    /// The envelope of `signed` with a payload taken from elsewhere (a verified certificate).
    pub fn new(signed: &SignedHcert, payload: Option<Value>) -> Self {
        let text = |p: &Value, ptr: &str| p.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
        let holder = payload.as_ref().and_then(|p| {
            p.get("nam").map(|_| Holder {
                family_name: text(p, "/nam/fn"),
                given_name: text(p, "/nam/gn"),
                family_name_transliterated: text(p, "/nam/fnt"),
                given_name_transliterated: text(p, "/nam/gnt"),
            })
        });
        Decoded {
            kid: signed.kid().map(|k| k.to_base64()),
            algorithm: signed.alg_id().map(|id| match signed.algorithm() {
                Some(alg) => alg.name().to_owned(),
                None => id.to_string(),
            }),
            issuer_country: signed.issuer().map(str::to_owned),
            issued_at: signed.issued_at().map(|t| t.to_string()),
            expires_at: signed.expires_at().map(|t| t.to_string()),
            certificate_type: signed.certificate_type().map(|t| t.to_string()),
            holder,
            date_of_birth: payload.as_ref().and_then(|p| text(p, "/dob")),
            payload,
        }
    }
}

/// The trusted signer whose key verified the signature.
#[derive(Debug, Clone, Serialize)]
pub struct Signer {
    /// Subject country (`C`) of the DSC.
    pub country: Option<String>,
    /// DSC notBefore, RFC 3339.
    pub not_before: String,
    /// DSC notAfter, RFC 3339.
    pub not_after: String,
}

impl Signer {
    /// The report of a trusted signer.
    pub fn new(signer: &TrustedSigner) -> Self {
        Signer {
            country: signer.country().map(str::to_owned),
            not_before: signer.not_before().to_string(),
            not_after: signer.not_after().to_string(),
        }
    }
}

/// One evaluated validity rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleLine {
    /// `Identifier`, e.g. `VR-VN-0003`.
    pub identifier: String,
    /// `Acceptance` or `Invalidation`.
    #[serde(rename = "type")]
    pub rule_type: String,
    /// The rule's country.
    pub country: String,
    /// The rule's version.
    pub version: String,
    /// `passed`, `failed` or `open`.
    pub outcome: &'static str,
    /// Why an open rule could not be evaluated (`null` otherwise).
    pub reason: Option<String>,
    /// English description.
    pub description_en: Option<String>,
    /// Vietnamese description, where the rule has one.
    pub description_vi: Option<String>,
}

impl RuleLine {
    /// The report line of one rule result.
    pub fn new(r: &RuleReport<'_>) -> Self {
        let (outcome, reason) = match &r.outcome {
            RuleOutcome::Passed => ("passed", None),
            RuleOutcome::Failed => ("failed", None),
            RuleOutcome::Open(reason) => ("open", Some(reason.clone())),
        };
        RuleLine {
            identifier: r.rule.identifier.clone(),
            rule_type: format!("{:?}", r.rule.rule_type),
            country: r.rule.country.clone(),
            version: r.rule.version.clone(),
            outcome,
            reason,
            description_en: r.description_en().map(str::to_owned),
            description_vi: r.description_vi().map(str::to_owned),
        }
    }
}

/// The result of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The verdict: the certificate verified and no rule failed.
    pub valid: bool,
    /// Why not valid (`null` when valid).
    pub failure: Option<Failure>,
    /// What was decoded (from the verified certificate when `payload_verified`).
    #[serde(flatten)]
    pub decoded: Decoded,
    /// Whether every check of the certificate passed (signature, times, key usage, schema,
    /// value sets), so that the payload above can be trusted. `false`: it is shown for
    /// diagnosis only; anyone can write anything there.
    pub payload_verified: bool,
    /// The signer whose key verified the signature (`null` when none did).
    pub signer: Option<Signer>,
    /// Country of arrival whose rules were applied (`null` without `--rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules_country: Option<String>,
    /// The applicable rules and their outcomes (only with `--rules`; empty when the
    /// certificate did not verify, since rules are not evaluated on unverified data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleLine>>,
    /// The validation time, RFC 3339.
    pub checked_at: String,
    /// The trust list the signers came from: sequence, age, and whether it is stale (only
    /// with `--trust-list` or `--cache`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_list: Option<crate::trust_list::TrustListReport>,
    /// The certificate's revocation status and the list's sequence and age (only with
    /// `--revocations`, and only for a certificate that verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<crate::revocations::RevocationReport>,
}

impl CheckReport {
    /// A report of a certificate that failed before anything was decoded.
    pub fn undecoded(
        failure: Failure,
        checked_at: Timestamp,
        rules_country: Option<&str>,
        trust_list: Option<crate::trust_list::TrustListReport>,
    ) -> Self {
        CheckReport {
            valid: false,
            failure: Some(failure),
            decoded: Decoded::default(),
            payload_verified: false,
            signer: None,
            rules_country: rules_country.map(str::to_owned),
            rules: rules_country.map(|_| Vec::new()),
            checked_at: checked_at.to_string(),
            trust_list,
            revocation: None,
        }
    }
}

/// The result of `decode`.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeReport {
    /// Always `false`: `decode` never checks the signature.
    pub verified: bool,
    /// Why decoding failed (`null` when it succeeded).
    pub failure: Option<Failure>,
    /// What was decoded.
    #[serde(flatten)]
    pub decoded: Decoded,
}
