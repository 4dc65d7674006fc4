//! The verifier's state and calls in plain Rust (no JavaScript types), so that they are tested
//! natively; `lib.rs` exports them to JavaScript.

use serde::Serialize;
use vaxpass_verifier::conformance::{Flag, TestCase, evaluate};
use vaxpass_verifier::report::{
    CheckReport, Checker, Failure, QR_IMAGE, RevocationListReport, TrustListReport,
};
use vaxpass_verifier::revocation::{self, RevocationPolicy, RevocationStore};
use vaxpass_verifier::rules::{Rule, RuleSet, signed};
use vaxpass_verifier::trust::certificates_der;
use vaxpass_verifier::trustlist::{self, TrustListPolicy};
use vaxpass_verifier::{Limits, Timestamp, TrustStore, qr};

/// Largest rule set accepted as JSON text, bytes (the EU gateway's rule sets are a few MB).
pub const MAX_RULES_JSON: usize = 16 * 1024 * 1024;
/// Largest conformance test file accepted, bytes.
pub const MAX_CASE_JSON: usize = 4 * 1024 * 1024;

/// A clock given by JavaScript (`Date.now()`, milliseconds since the Unix epoch), as the
/// verifier's [`Timestamp`]. wasm32 has no clock of its own: every call takes one.
///
/// # Errors
/// When `ms` is not a finite number inside the years 0–9999.
pub fn timestamp(ms: f64) -> Result<Timestamp, String> {
    // Year 0 to year 9999, in milliseconds.
    const RANGE: std::ops::RangeInclusive<f64> = -62_167_219_200_000.0..=253_402_300_799_000.0;
    if !ms.is_finite() || !RANGE.contains(&ms) {
        return Err(format!(
            "the clock {ms} is not a time in milliseconds since 1970 (give Date.now())"
        ));
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(Timestamp::from_unix_seconds((ms / 1000.0).floor() as i64))
}

/// A pinned anchor as DER, from PEM (its first `CERTIFICATE` block) or DER.
///
/// # Errors
/// A damaged PEM text, or one without a certificate.
pub fn certificate_der(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut ders = certificates_der(data).map_err(|e| format!("the anchor: {e}"))?;
    Ok(ders.swap_remove(0))
}

/// Refuses a list older than the one the page accepted last.
fn not_rolled_back(what: &str, sequence: u64, seen: Option<u64>) -> Result<(), String> {
    match seen {
        Some(seen) if sequence < seen => Err(format!(
            "{what} refused: sequence {sequence} is older than the {seen} already accepted (rollback)"
        )),
        _ => Ok(()),
    }
}

/// What a page holds between calls: the trusted signers and where they came from, the
/// revocation list, the rules of the country of arrival.
#[derive(Default)]
pub struct Session {
    store: TrustStore,
    trust_list: Option<TrustListReport>,
    revocations: Option<(RevocationStore, RevocationListReport)>,
    rules: Option<(RuleSet, String)>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("signers", &self.store.len())
            .field("trust_list", &self.trust_list.as_ref().map(|t| t.sequence))
            .field(
                "revocations",
                &self.revocations.as_ref().map(|r| r.1.sequence),
            )
            .field("rules_country", &self.rules.as_ref().map(|r| &r.1))
            .finish()
    }
}

impl Session {
    /// A session that trusts nobody yet.
    pub fn new() -> Self {
        Session::default()
    }

    /// Trusts the signer certificates (DSC) in `data`: PEM (every `CERTIFICATE` block) or one
    /// DER certificate. Returns how many were added.
    ///
    /// # Errors
    /// A certificate that cannot be used as a signer.
    pub fn add_signers(&mut self, data: &[u8]) -> Result<usize, String> {
        self.store
            .add_pem_or_der(data, "the signer certificates")
            .map_err(|e| e.to_string())
    }

    /// Verifies a signed trust list (`GET /trust-list`) against the pinned CSCA `anchor`
    /// (PEM or DER) as of `now_ms`, trusts its signers, and returns the list's report as JSON
    /// (sequence, age, freshness). `cached_sequence`: the sequence of the list the page
    /// accepted last; a lower one is refused (rollback).
    ///
    /// # Errors
    /// Why the list is refused, for people.
    pub fn load_trust_list(
        &mut self,
        list: &[u8],
        anchor: &[u8],
        now_ms: f64,
        cached_sequence: Option<u64>,
    ) -> Result<String, String> {
        let now = timestamp(now_ms)?;
        let anchor = certificate_der(anchor)?;
        let verified = trustlist::verify(list, &anchor, now, None, &TrustListPolicy::default())
            .map_err(|e| format!("trust list refused: {e}"))?;
        not_rolled_back("trust list", verified.list().sequence, cached_sequence)?;
        self.store.merge(verified.to_trust_store());
        let report = TrustListReport::new("trust list", &verified);
        let json = to_json(&report)?;
        self.trust_list = Some(report);
        Ok(json)
    }

    /// Verifies a signed revocation list (`GET /revocations`) against the pinned CSCA and
    /// consults it in every later check; returns the list's report as JSON.
    ///
    /// # Errors
    /// Why the list is refused, for people.
    pub fn load_revocations(
        &mut self,
        list: &[u8],
        anchor: &[u8],
        now_ms: f64,
        cached_sequence: Option<u64>,
    ) -> Result<String, String> {
        let now = timestamp(now_ms)?;
        let anchor = certificate_der(anchor)?;
        let verified = revocation::verify(list, &anchor, now, None, &RevocationPolicy::default())
            .map_err(|e| format!("revocation list refused: {e}"))?;
        let store = verified.into_store();
        not_rolled_back("revocation list", store.list().sequence, cached_sequence)?;
        let report = RevocationListReport::new("revocation list", &store, now);
        let json = to_json(&report)?;
        self.revocations = Some((store, report));
        Ok(json)
    }

    /// Evaluates the validity rules of `country` (ISO 3166 alpha-2, capitals) from `rules`, a
    /// JSON array of EU rule objects, in every later check. Returns how many rules were read.
    ///
    /// # Errors
    /// An unreadable rule set, a rule that is not valid CertLogic, or a bad country code.
    pub fn load_rules(&mut self, rules: &str, country: &str) -> Result<usize, String> {
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "country {country:?}: give an ISO 3166 alpha-2 code in capitals, e.g. VN"
            ));
        }
        if rules.len() > MAX_RULES_JSON {
            return Err(format!(
                "the rule set is {} bytes, more than the {MAX_RULES_JSON} accepted",
                rules.len()
            ));
        }
        let list: Vec<Rule> =
            serde_json::from_str(rules).map_err(|e| format!("the rules are not readable: {e}"))?;
        let n = list.len();
        self.rules = Some((RuleSet::from_rules(list), country.to_owned()));
        Ok(n)
    }

    /// Verifies a signed rule set (`GET /rules`: the rules of the country of arrival, signed
    /// by the trust-list signer) against the pinned CSCA, applies its rules from now on, and
    /// returns its report as JSON ([`RulesReport`]). A `cached_sequence` higher than the set's
    /// is a rollback and refused.
    ///
    /// # Errors
    /// Why the set is refused, for people.
    pub fn load_signed_rules(
        &mut self,
        set: &[u8],
        anchor: &[u8],
        now_ms: f64,
        cached_sequence: Option<u64>,
    ) -> Result<String, String> {
        let now = timestamp(now_ms)?;
        let anchor = certificate_der(anchor)?;
        let verified = signed::verify(set, &anchor, now, cached_sequence)
            .map_err(|e| format!("rule set refused: {e}"))?;
        let h = &verified.header;
        let report = RulesReport {
            country: h.country.clone(),
            sequence: h.sequence,
            issued_at: h.issued_at.to_string(),
            age_seconds: now
                .unix_seconds()
                .saturating_sub(h.issued_at.unix_seconds()),
            rules: verified.count,
        };
        let json = to_json(&report)?;
        self.rules = Some((verified.rules, verified.header.country));
        Ok(json)
    }

    fn checker(&self, now: Timestamp) -> Checker<'_> {
        let mut checker = Checker::new(&self.store, now);
        if let Some((set, cc)) = &self.rules {
            checker = checker.with_rules(set, cc);
        }
        if let Some(list) = &self.trust_list {
            checker = checker.with_trust_list(list);
        }
        if let Some((store, report)) = &self.revocations {
            checker = checker.with_revocations(store, report);
        }
        checker
    }

    /// Checks the text of a code (`HC1:…`) as of `now_ms`: the report of
    /// `vaxpass-verify check --format json`, as a value.
    ///
    /// # Errors
    /// A bad clock, or the embedded value sets unreadable (a build defect).
    pub fn check_report(&self, text: &str, now_ms: f64) -> Result<CheckReport, String> {
        let now = timestamp(now_ms)?;
        self.checker(now).check(text).map_err(|e| e.to_string())
    }

    /// What a caller needs to verify the signature of `text` itself (the browser's WebCrypto,
    /// at native speed): the algorithm, the `Sig_structure`, the signature and the public
    /// keys (SubjectPublicKeyInfo) of the trusted signers of its kid, in order. `None` when
    /// it does not decode or no trusted signer has its kid: [`check_report`](Self::check_report)
    /// then says why.
    pub fn signature_input(&self, text: &str) -> Option<SignatureInput> {
        let signed = vaxpass_verifier::decode(text, &Limits::default()).ok()?;
        let (alg, signers) = signed.candidate_signers(&self.store).ok()?;
        Some(SignatureInput {
            alg: alg.name(),
            tbs: signed.to_be_signed(),
            signature: signed.signature().to_vec(),
            keys: signers
                .iter()
                .map(|s| s.key().spki_der().to_vec())
                .collect(),
        })
    }

    /// As [`check_report`](Self::check_report), with the signature verified by the caller:
    /// `signer` is the index in [`SignatureInput::keys`] of the key that verified it. Every
    /// other check runs here.
    ///
    /// # Errors
    /// As [`check_report`](Self::check_report).
    pub fn check_report_with_signature(
        &self,
        text: &str,
        now_ms: f64,
        signer: usize,
    ) -> Result<CheckReport, String> {
        let now = timestamp(now_ms)?;
        self.checker(now)
            .check_with_signature_checked_by(text, signer)
            .map_err(|e| e.to_string())
    }

    /// As [`check_report`](Self::check_report), for a picture (PNG, JPEG, WebP) of the code:
    /// a picture without a readable code is a report with failure `QR_IMAGE`.
    ///
    /// # Errors
    /// As [`check_report`](Self::check_report).
    pub fn check_picture_report(&self, picture: &[u8], now_ms: f64) -> Result<CheckReport, String> {
        match qr::decode_image(picture) {
            Ok(text) => self.check_report(&text, now_ms),
            Err(e) => Ok(self.checker(timestamp(now_ms)?).undecoded(Failure {
                code: QR_IMAGE,
                message: e.to_string(),
            })),
        }
    }
}

/// The signature of a code and the keys that may have made it ([`Session::signature_input`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput {
    /// `ES256` or `PS256`.
    pub alg: &'static str,
    /// The COSE `Sig_structure`: the bytes signed.
    pub tbs: Vec<u8>,
    /// The signature (ES256: `r ‖ s`, 64 bytes, as WebCrypto's ECDSA takes it).
    pub signature: Vec<u8>,
    /// The DER SubjectPublicKeyInfo of each trusted signer of the code's kid.
    pub keys: Vec<Vec<u8>>,
}

/// What [`Session::load_signed_rules`] returns (as JSON).
#[derive(Debug, Serialize)]
pub struct RulesReport {
    /// The country of arrival the rules are for.
    pub country: String,
    /// The set's sequence.
    pub sequence: u64,
    /// When it was signed, RFC 3339.
    pub issued_at: String,
    /// Seconds since then.
    pub age_seconds: i64,
    /// How many rules it holds.
    pub rules: usize,
}

/// `value` as JSON text.
///
/// # Errors
/// Never for the report types (no maps with non-text keys); kept typed anyway.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| format!("cannot write the report: {e}"))
}

/// The text of the code in an RGBA frame (`ImageData.data` of a canvas: 4 bytes per pixel,
/// row by row), composited over white and converted to grey (ITU-R BT.601 weights).
///
/// # Errors
/// A buffer whose size is not `width × height × 4`, a frame past the decoder's pixel limit,
/// or no readable code.
pub fn decode_rgba(rgba: &[u8], width: u32, height: u32) -> Result<String, String> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > qr::MAX_IMAGE_PIXELS {
        return Err(format!(
            "the frame has {pixels} pixels, more than the {} accepted",
            qr::MAX_IMAGE_PIXELS
        ));
    }
    if rgba.len() as u64 != pixels * 4 {
        return Err(format!(
            "an RGBA frame of {width}×{height} holds {} bytes, not {}",
            pixels * 4,
            rgba.len()
        ));
    }
    let luma: Vec<u8> = rgba
        .chunks_exact(4)
        .map(|p| {
            let grey = (77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])) >> 8;
            let alpha = u32::from(p[3]);
            // Over white: transparent pixels are the background, not black.
            let over_white = (grey * alpha + 255 * (255 - alpha)) / 255;
            u8::try_from(over_white).unwrap_or(u8::MAX)
        })
        .collect();
    qr::decode_luma(&luma, width, height).map_err(|e| e.to_string())
}

/// One flag of one conformance test case, as the wasm build evaluated it.
#[derive(Debug, Serialize)]
pub struct CaseResult {
    /// The flag, e.g. `EXPECTEDVERIFY`.
    pub flag: Flag,
    /// What the file expects.
    pub expected: bool,
    /// What the verifier found.
    pub actual: bool,
    /// Why the step failed, or "ok".
    pub detail: String,
}

/// Evaluates every flag of a dgc-testdata test file (its JSON bytes) with this build, the
/// picture given when the file has none of its own (the country's `png/` folder). A picture
/// flag without any picture is left out (not tested), as the native runner does.
///
/// # Errors
/// The file is not a test case (the native runner lists it as broken).
pub fn conformance_case(json: &[u8], picture: Option<Vec<u8>>) -> Result<Vec<CaseResult>, String> {
    if json.len() > MAX_CASE_JSON {
        return Err(format!(
            "the test file is {} bytes, more than the {MAX_CASE_JSON} accepted",
            json.len()
        ));
    }
    let mut case = TestCase::from_json(json)?;
    if case.picture.is_none() {
        case.picture = picture;
    }
    let mut results = Vec::new();
    for (flag, expected) in case.flags() {
        if flag == Flag::PictureDecode && case.picture.is_none() {
            continue;
        }
        let (actual, detail) = match evaluate(&case, flag) {
            Ok(()) => (true, "ok".to_owned()),
            Err(why) => (false, why),
        };
        results.push(CaseResult {
            flag,
            expected,
            actual,
            detail,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_clock_must_be_a_time() {
        assert_eq!(
            timestamp(1_700_000_000_999.0).unwrap(),
            Timestamp::from_unix_seconds(1_700_000_000)
        );
        assert!(timestamp(f64::NAN).is_err());
        assert!(timestamp(f64::INFINITY).is_err());
        assert!(timestamp(1e300).is_err());
    }

    #[test]
    fn an_rgba_frame_must_have_its_size() {
        let err = decode_rgba(&[0; 15], 2, 2).unwrap_err();
        assert!(err.contains("16"), "{err}");
        let err = decode_rgba(&[], 100_000, 100_000).unwrap_err();
        assert!(err.contains("more than"), "{err}");
    }

    #[test]
    fn a_session_without_signers_says_why_a_certificate_is_not_valid() {
        let session = Session::new();
        let report = session.check_report("HC1:NOT BASE45", 1.7e12).unwrap();
        assert!(!report.valid);
        assert!(report.failure.is_some());
        let report = session
            .check_picture_report(b"not a picture", 1.7e12)
            .unwrap();
        assert_eq!(report.failure.unwrap().code, QR_IMAGE);
    }

    #[test]
    fn no_signature_input_without_a_code_or_a_signer() {
        let session = Session::new();
        assert_eq!(session.signature_input("HC1:NOT BASE45"), None);
        let report = session
            .check_report_with_signature("HC1:NOT BASE45", 1.7e12, 0)
            .unwrap();
        assert!(!report.valid);
    }

    #[test]
    fn an_older_list_is_a_rollback() {
        assert!(not_rolled_back("trust list", 4, Some(5)).is_err());
        assert!(not_rolled_back("trust list", 5, Some(5)).is_ok());
        assert!(not_rolled_back("trust list", 1, None).is_ok());
    }

    #[test]
    fn rules_need_a_country_code_and_json() {
        let mut session = Session::new();
        assert!(session.load_rules("[]", "vn").is_err());
        assert!(session.load_rules("{", "VN").is_err());
        assert_eq!(session.load_rules("[]", "VN").unwrap(), 0);
    }
}
