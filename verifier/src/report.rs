//! The verdict of a check as data: what `vaxpass-verify check --format json` prints, what the
//! browser verifier returns, what an embedding app can show. [`Checker`] decodes, verifies at
//! its clock, evaluates the rules of a country of arrival and consults a revocation list, and
//! returns a [`CheckReport`]; [`decode_report`] decodes without verifying.
//!
//! Every step is the library's own (`decode`, `SignedHcert::verify`, `RuleSet::check`,
//! `RevocationStore::status`); this module only assembles their answers in one serialisable
//! shape, so the command-line tool and the wasm build cannot drift apart.
//!
//! ```
//! use vaxpass_verifier::report::Checker;
//! use vaxpass_verifier::{Timestamp, TrustStore};
//!
//! let store = TrustStore::new();
//! let checker = Checker::new(&store, Timestamp::from_unix_seconds(1_700_000_000));
//! let report = checker.check("HC1:not a certificate").unwrap();
//! assert!(!report.valid);
//! assert_eq!(report.failure.unwrap().code, "BASE45");
//! ```

use serde::Serialize;
use serde_json::Value;

use crate::revocation::{CertificateHashes, RevocationStatus, RevocationStore};
use crate::rules::{External, RuleOutcome, RuleReport, RuleSet};
use crate::trustlist::{VerifiedTrustList, human_duration};
use crate::valuesets::ValueSets;
use std::sync::Arc;

use crate::{Limits, SignedHcert, Timestamp, TrustStore, TrustedSigner};

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

impl Failure {
    /// The failure of a library error: its stable code and its message.
    pub fn of(e: &crate::Error) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
        }
    }
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
        let payload = crate::model::cbor_to_json(&signed.dangerous_unverified_payload()).ok();
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
    pub trust_list: Option<TrustListReport>,
    /// The certificate's revocation status and the list's sequence and age (only with
    /// `--revocations`, and only for a certificate that verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationReport>,
}

impl CheckReport {
    /// A report of a certificate that failed before anything was decoded.
    pub fn undecoded(
        failure: Failure,
        checked_at: Timestamp,
        rules_country: Option<&str>,
        trust_list: Option<TrustListReport>,
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

/// Failure code of a revoked certificate.
pub const REVOKED: &str = "REVOKED";
/// Failure code of "cannot decide": the revocation list expired beyond its grace period.
pub const REVOCATION_UNKNOWN: &str = "REVOCATION_UNKNOWN";

/// What the verdict says about the trust list the signers came from.
#[derive(Debug, Clone, Serialize)]
pub struct TrustListReport {
    /// The file, cache directory or URL.
    pub source: String,
    /// Issuer country.
    pub issuer_country: String,
    /// Sequence number.
    pub sequence: u64,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Seconds since issue.
    pub age_seconds: i64,
    /// Whether the list is expired but within the grace period.
    pub stale: bool,
    /// `fresh (expires in …)` or `STALE (expired … ago; sync the trust list)`.
    pub freshness: String,
    /// Number of trusted signers.
    pub entries: usize,
    /// Entries imported without a CSCA check.
    pub unanchored_entries: usize,
}

impl TrustListReport {
    /// The report of a verified list read from `source`.
    pub fn new(source: &str, v: &VerifiedTrustList) -> Self {
        let l = v.list();
        TrustListReport {
            source: source.to_owned(),
            issuer_country: l.issuer_country.clone(),
            sequence: l.sequence,
            issued_at: l.issued_at.to_string(),
            expires_at: l.expires_at.to_string(),
            age_seconds: v.age(),
            stale: v.freshness().is_stale(),
            freshness: v.freshness().to_string(),
            entries: l.entries.len(),
            unanchored_entries: l.unanchored_count(),
        }
    }

    /// One line for people.
    pub fn human(&self) -> String {
        let mut s = format!(
            "trust list {} sequence {} from {}: issued {} ({} ago), {}, {} signers",
            self.issuer_country,
            self.sequence,
            self.source,
            self.issued_at,
            human_duration(self.age_seconds),
            self.freshness,
            self.entries
        );
        if self.unanchored_entries > 0 {
            s.push_str(&format!(
                "; WARNING: {} imported without a CSCA check",
                self.unanchored_entries
            ));
        }
        s
    }
}

/// The state of a revocation list: in `revocations status`, `sync` and a verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationListReport {
    /// The cache directory or URL.
    pub source: String,
    /// Issuer country.
    pub issuer_country: String,
    /// Sequence number.
    pub sequence: u64,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Seconds since issue.
    pub age_seconds: i64,
    /// `fresh`, `stale` or `expired` (beyond the grace period: status unknown).
    pub freshness: &'static str,
    /// For people.
    pub freshness_text: String,
    /// Revoked entries.
    pub entries: usize,
}

impl RevocationListReport {
    /// The report of the list in `store`, read from `source`, as of `now`.
    pub fn new(source: &str, store: &RevocationStore, now: Timestamp) -> Self {
        let l = store.list();
        let freshness = store.freshness(now);
        RevocationListReport {
            source: source.to_owned(),
            issuer_country: l.issuer_country.clone(),
            sequence: l.sequence,
            issued_at: l.issued_at.to_string(),
            expires_at: l.expires_at.to_string(),
            age_seconds: store.age(now),
            freshness: freshness.name(),
            freshness_text: freshness.to_string(),
            entries: l.len(),
        }
    }

    /// One line for people.
    pub fn human(&self) -> String {
        format!(
            "revocation list {} sequence {} from {}: issued {} ({} ago), {}, {} entries",
            self.issuer_country,
            self.sequence,
            self.source,
            self.issued_at,
            human_duration(self.age_seconds),
            self.freshness_text,
            self.entries
        )
    }
}

/// The revocation part of a verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationReport {
    /// `NOT_REVOKED`, `REVOKED` or `REVOCATION_UNKNOWN`.
    pub status: &'static str,
    /// `superseded`, `error`, `fraud`, `unspecified` (only when revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The hash that matched (only when revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_type: Option<&'static str>,
    /// The list consulted.
    pub list: RevocationListReport,
}

/// The revocation status of a verified certificate in `store`.
pub fn revocation_status(
    store: &RevocationStore,
    list: &RevocationListReport,
    signed: &SignedHcert,
    now: Timestamp,
) -> RevocationReport {
    let status = store.status(&CertificateHashes::of(signed), signed.kid(), now);
    let (reason, hash_type) = match &status {
        RevocationStatus::Revoked {
            reason, hash_type, ..
        } => (Some(reason.name()), Some(hash_type.gateway_name())),
        _ => (None, None),
    };
    RevocationReport {
        status: status.code(),
        reason,
        hash_type,
        list: list.clone(),
    }
}

/// The embedded value sets could not be read (a build defect, not a verdict).
#[derive(Debug, thiserror::Error)]
#[error("the embedded value sets cannot be read: {0}")]
pub struct ValueSetsUnreadable(String);

/// What a check needs besides the certificate: trusted signers, a clock, and optionally the
/// rules of a country of arrival, the trust list's report and a revocation list.
#[derive(Clone, Copy)]
pub struct Checker<'a> {
    store: &'a TrustStore,
    at: Timestamp,
    rules: Option<(&'a RuleSet, &'a str)>,
    trust_list: Option<&'a TrustListReport>,
    revocations: Option<(&'a RevocationStore, &'a RevocationListReport)>,
}

impl std::fmt::Debug for Checker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("at", &self.at)
            .field("rules_country", &self.rules.map(|(_, cc)| cc))
            .field("revocations", &self.revocations.map(|(_, r)| r.sequence))
            .finish_non_exhaustive()
    }
}

impl<'a> Checker<'a> {
    /// Checks against the signers of `store`, as of `at`.
    pub fn new(store: &'a TrustStore, at: Timestamp) -> Self {
        Checker {
            store,
            at,
            rules: None,
            trust_list: None,
            revocations: None,
        }
    }

    /// Also evaluates the validity rules of `country` (ISO 3166 alpha-2) from `set`.
    pub fn with_rules(mut self, set: &'a RuleSet, country: &'a str) -> Self {
        self.rules = Some((set, country));
        self
    }

    /// Names, in every report, the trust list the signers came from.
    pub fn with_trust_list(mut self, report: &'a TrustListReport) -> Self {
        self.trust_list = Some(report);
        self
    }

    /// Also consults a revocation list: a revoked certificate is not valid, and a list past
    /// its grace period turns "valid" into [`REVOCATION_UNKNOWN`].
    pub fn with_revocations(
        mut self,
        store: &'a RevocationStore,
        report: &'a RevocationListReport,
    ) -> Self {
        self.revocations = Some((store, report));
        self
    }

    /// The validation time.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// A report of a certificate that failed before anything was decoded (e.g. no code found
    /// in a picture).
    pub fn undecoded(&self, failure: Failure) -> CheckReport {
        CheckReport::undecoded(
            failure,
            self.at,
            self.rules.map(|(_, cc)| cc),
            self.trust_list.cloned(),
        )
    }

    /// Decodes `text` (`HC1:…`), verifies it at the clock, evaluates the rules and consults
    /// the revocation list.
    ///
    /// # Errors
    /// Only when the embedded value sets cannot be read; every finding about the certificate
    /// is in the report.
    pub fn check(&self, text: &str) -> Result<CheckReport, ValueSetsUnreadable> {
        self.check_found(text, |signed| signed.find_signer(self.store))
    }

    /// As [`Checker::check`], with the signature verified by the caller (the browser's
    /// WebCrypto): `signer` is the index, among [`SignedHcert::candidate_signers`] of this
    /// store, of the signer whose key verified the signature over
    /// [`SignedHcert::to_be_signed`]. Every other check runs here. A caller that did not
    /// verify the signature makes a forgery pass: use [`Checker::check`] when in doubt.
    ///
    /// # Errors
    /// As [`Checker::check`].
    pub fn check_with_signature_checked_by(
        &self,
        text: &str,
        signer: usize,
    ) -> Result<CheckReport, ValueSetsUnreadable> {
        self.check_found(text, |signed| {
            let (_, candidates) = signed.candidate_signers(self.store)?;
            match (candidates.get(signer), signed.kid()) {
                (Some(s), _) => Ok(Arc::clone(s)),
                (None, Some(kid)) => Err(crate::Error::KidUnknown(kid)),
                (None, None) => Err(crate::Error::KidMissing),
            }
        })
    }

    /// [`Checker::check`] with the signer found by `find` (whose key verified the signature):
    /// the signature is verified once.
    fn check_found(
        &self,
        text: &str,
        find: impl FnOnce(&SignedHcert) -> Result<Arc<TrustedSigner>, crate::Error>,
    ) -> Result<CheckReport, ValueSetsUnreadable> {
        let country = self.rules.map(|(_, cc)| cc);
        let signed = match crate::decode(text, &Limits::default()) {
            Ok(signed) => signed,
            Err(e) => return Ok(self.undecoded(Failure::of(&e))),
        };
        // The signer is shown whenever its key verified the signature, even if a later check
        // (times, key usage, content) failed.
        let found = find(&signed);
        let signer = found.as_ref().ok().cloned();
        let mut report = CheckReport {
            valid: false,
            failure: None,
            decoded: Decoded::default(),
            payload_verified: false,
            signer: signer.as_deref().map(Signer::new),
            rules_country: country.map(str::to_owned),
            rules: country.map(|_| Vec::new()),
            checked_at: self.at.to_string(),
            trust_list: self.trust_list.cloned(),
            revocation: None,
        };
        let verified =
            match found.and_then(|s| signed.clone().verify_with_signature_checked_by(s, self.at)) {
                Ok(verified) => verified,
                Err(e) => {
                    report.decoded = Decoded::from_signed(&signed);
                    report.failure = Some(Failure::of(&e));
                    return Ok(report);
                }
            };
        let payload = verified.payload_json().ok();
        report.decoded = Decoded::new(verified.signed(), payload.clone());
        report.payload_verified = true;
        report.signer = Some(Signer::new(verified.signer()));
        if let (Some((set, cc)), Some(payload)) = (self.rules, &payload) {
            let value_sets = ValueSets::shared()
                .map_err(|e| ValueSetsUnreadable(e.to_string()))?
                .to_certlogic_value_sets();
            let signed = verified.signed();
            let external = External {
                validation_clock: self.at,
                country_code: cc.to_owned(),
                exp: signed.expires_at(),
                iat: signed.issued_at(),
            };
            let results = set.check(
                payload,
                signed.issuer().unwrap_or_default(),
                &external,
                &value_sets,
            );
            let failed: Vec<_> = results
                .iter()
                .filter(|r| r.outcome == RuleOutcome::Failed)
                .collect();
            if let Some(first) = failed.first() {
                let ids: Vec<&str> = failed.iter().map(|r| r.rule.identifier.as_str()).collect();
                let message = if failed.len() == 1 {
                    format!(
                        "rule {} failed: {}",
                        ids[0],
                        first.description_en().unwrap_or("(no description)")
                    )
                } else {
                    format!("rules {} failed", ids.join(", "))
                };
                report.failure = Some(Failure {
                    code: RULE_FAILED,
                    message,
                });
            }
            report.rules = Some(results.iter().map(RuleLine::new).collect());
        }
        if let Some((store, list)) = self.revocations {
            let rev = revocation_status(store, list, verified.signed(), self.at);
            // Revoked outranks every other finding; unknown only replaces "valid".
            match rev.status {
                REVOKED => {
                    report.failure = Some(Failure {
                        code: REVOKED,
                        message: format!(
                            "revoked by the issuing country (reason: {}; matched by its {} hash)",
                            rev.reason.unwrap_or("unspecified"),
                            rev.hash_type.unwrap_or("?")
                        ),
                    });
                }
                REVOCATION_UNKNOWN if report.failure.is_none() => {
                    report.failure = Some(Failure {
                        code: REVOCATION_UNKNOWN,
                        message: format!(
                            "revocation status unknown: the revocation list (sequence {}) is {}",
                            rev.list.sequence, rev.list.freshness_text
                        ),
                    });
                }
                _ => {}
            }
            report.revocation = Some(rev);
        }
        report.valid = report.failure.is_none();
        Ok(report)
    }
}

/// Decodes `text` without verifying it: the report of `vaxpass-verify decode`.
pub fn decode_report(text: &str) -> DecodeReport {
    let (decoded, failure) = match crate::decode(text, &Limits::default()) {
        Ok(signed) => (Decoded::from_signed(&signed), None),
        Err(e) => (Decoded::default(), Some(Failure::of(&e))),
    };
    DecodeReport {
        verified: false,
        failure,
        decoded,
    }
}
