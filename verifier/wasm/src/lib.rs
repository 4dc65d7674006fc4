//! The vaxpass verifier for browsers and Node: the offline verifier (`vaxpass-verifier`)
//! compiled to WebAssembly and exported with wasm-bindgen, for a web page or a third-party web
//! app. Nothing leaves the device: lists are given as bytes the page fetched and cached, and
//! every check runs here.
//!
//! ```js
//! import init, { Verifier, decodeRgba } from "./vaxpass_verifier_wasm.js";
//! await init();
//! const v = new Verifier();
//! v.loadTrustList(trustListBytes, anchorPem, Date.now());   // → JSON of the list's report
//! v.loadRevocations(revocationBytes, anchorPem, Date.now()); // optional
//! v.loadSignedRules(ruleSetBytes, anchorPem, Date.now());  // optional: the issuer's GET /rules
//! const report = JSON.parse(v.check("HC1:…", Date.now()));   // as `vaxpass-verify check --format json`
//! const text = decodeRgba(imageData.data, imageData.width, imageData.height);
//! ```
//!
//! The report is the one of `vaxpass-verify check --format json`
//! (`vaxpass_verifier::report::CheckReport`): `valid`, `failure.code` (e.g. `KID_UNKNOWN`
//! when no trusted signer matches: "cannot decide"; `REVOCATION_UNKNOWN` when the revocation
//! list is too old), the holder and the signer. Errors are JavaScript `Error`s whose message
//! says what to do; a certificate that is not valid is not an error, it is a report.
//!
//! wasm32 has no clock: every call that judges time takes `Date.now()` (milliseconds).
//! The plain-Rust calls behind the exports are in [`session`], tested natively.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod session;

use session::Session;
use wasm_bindgen::prelude::*;

fn js(e: String) -> JsError {
    JsError::new(&e)
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// Run when the module starts: a panic (a defect: no input should cause one) is reported on
/// the console with its message and place, not only as the trap "unreachable".
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error(&format!("vaxpass verifier: internal error: {info}"));
    }));
}

// The JSON the calls return, as TypeScript types in the generated `.d.ts` (parse it with
// `JSON.parse(…) as CheckReport`). Kept next to the Rust types they describe
// (`vaxpass_verifier::report`, `session::RulesReport`); the Node test checks the names.
#[wasm_bindgen(typescript_custom_section)]
const REPORT_TYPES: &str = r#"
/** Why a certificate is not valid: `code` is stable (verifier/README.md, "Failure codes"). */
export interface Failure {
  /** e.g. `SIGNATURE`, `EXPIRED`, `REVOKED`; "cannot decide": `KID_UNKNOWN`, `REVOCATION_UNKNOWN`. */
  code: string;
  /** What went wrong, in English, with context. */
  message: string;
}
/** The holder's name (`nam`). */
export interface Holder {
  family_name: string | null;
  given_name: string | null;
  family_name_transliterated: string | null;
  given_name_transliterated: string | null;
}
/** The DSC whose key verified the signature. */
export interface SignerReport {
  country: string | null;
  not_before: string;
  not_after: string;
}
/** One validity rule and its outcome. */
export interface RuleLine {
  identifier: string;
  /** `Acceptance` or `Invalidation`. */
  type: string;
  country: string;
  version: string;
  outcome: "passed" | "failed" | "open";
  reason: string | null;
  description_en: string | null;
  description_vi: string | null;
}
/** A verified trust list (`loadTrustList`). */
export interface TrustListReport {
  source: string;
  issuer_country: string;
  sequence: number;
  issued_at: string;
  expires_at: string;
  age_seconds: number;
  stale: boolean;
  freshness: string;
  entries: number;
  unanchored_entries: number;
}
/** A verified revocation list (`loadRevocations`). */
export interface RevocationListReport {
  source: string;
  issuer_country: string;
  sequence: number;
  issued_at: string;
  expires_at: string;
  age_seconds: number;
  /** `expired`: beyond the grace period, the status of a certificate it does not name is unknown. */
  freshness: "fresh" | "stale" | "expired";
  freshness_text: string;
  entries: number;
}
/** The revocation part of a verdict. */
export interface RevocationReport {
  status: "NOT_REVOKED" | "REVOKED" | "REVOCATION_UNKNOWN";
  reason?: "superseded" | "error" | "fraud" | "unspecified";
  hash_type?: "SIGNATURE" | "UCI" | "COUNTRYCODEUCI";
  list: RevocationListReport;
}
/** A verified rule set (`loadSignedRules`). */
export interface RulesReport {
  country: string;
  sequence: number;
  issued_at: string;
  age_seconds: number;
  rules: number;
}
/**
 * The verdict of `check` / `checkPicture`: the JSON of `vaxpass-verify check --format json`.
 * Three states: `valid`; not valid (`failure.code`); cannot decide (`failure.code` is
 * `KID_UNKNOWN` or `REVOCATION_UNKNOWN`). Trust `payload`, `holder` and `date_of_birth` only
 * when `payload_verified`.
 */
export interface CheckReport {
  valid: boolean;
  failure: Failure | null;
  kid: string | null;
  algorithm: string | null;
  issuer_country: string | null;
  issued_at: string | null;
  expires_at: string | null;
  certificate_type: "vaccination" | "test" | "recovery" | null;
  holder: Holder | null;
  date_of_birth: string | null;
  /** The DCC payload as JSON (`nam`, `dob`, `v` / `t` / `r`, `ver`). */
  payload: Record<string, unknown> | null;
  payload_verified: boolean;
  signer: SignerReport | null;
  rules_country?: string;
  rules?: RuleLine[];
  checked_at: string;
  trust_list?: TrustListReport;
  revocation?: RevocationReport;
}
/** One flag of one conformance case (`conformanceCase`). */
export interface CaseResult {
  flag: string;
  expected: boolean;
  actual: boolean;
  detail: string;
}
"#;

/// A verifier session: the signers it trusts, the revocation list and the rules it applies.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct Verifier {
    session: Session,
}

#[wasm_bindgen]
impl Verifier {
    /// A verifier that trusts nobody yet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// Trusts the signer certificates (PEM, or one DER); returns how many were added.
    ///
    /// # Errors
    /// A certificate that cannot be used as a signer.
    #[wasm_bindgen(js_name = addSigners)]
    pub fn add_signers(&mut self, data: &[u8]) -> Result<usize, JsError> {
        self.session.add_signers(data).map_err(js)
    }

    /// Verifies a signed trust list against the pinned CSCA (PEM or DER) at `now_ms`, trusts
    /// its signers, and returns the list's report (JSON). A `cached_sequence` higher than the
    /// list's is a rollback and refused.
    ///
    /// # Errors
    /// Why the list is refused.
    #[wasm_bindgen(js_name = loadTrustList)]
    pub fn load_trust_list(
        &mut self,
        list: &[u8],
        anchor: &[u8],
        now_ms: f64,
        cached_sequence: Option<u64>,
    ) -> Result<String, JsError> {
        self.session
            .load_trust_list(list, anchor, now_ms, cached_sequence)
            .map_err(js)
    }

    /// Verifies a signed revocation list against the pinned CSCA and consults it from now on;
    /// returns the list's report (JSON).
    ///
    /// # Errors
    /// Why the list is refused.
    #[wasm_bindgen(js_name = loadRevocations)]
    pub fn load_revocations(
        &mut self,
        list: &[u8],
        anchor: &[u8],
        now_ms: f64,
        cached_sequence: Option<u64>,
    ) -> Result<String, JsError> {
        self.session
            .load_revocations(list, anchor, now_ms, cached_sequence)
            .map_err(js)
    }

    /// Verifies a signed rule set (the issuer's `GET /rules`) against the pinned CSCA, applies
    /// its rules (those of its country of arrival) from now on, and returns its report (JSON:
    /// `country`, `sequence`, `issued_at`, `age_seconds`, `rules`).
    ///
    /// # Errors
    /// Why the set is refused.
    #[wasm_bindgen(js_name = loadSignedRules)]
    pub fn load_signed_rules(
        &mut self,
        set: &[u8],
        anchor: &[u8],
        now_ms: f64,
        cached_sequence: Option<u64>,
    ) -> Result<String, JsError> {
        self.session
            .load_signed_rules(set, anchor, now_ms, cached_sequence)
            .map_err(js)
    }

    /// Applies the validity rules of `country` (a JSON array of EU rules) from now on;
    /// returns how many rules were read.
    ///
    /// # Errors
    /// Unreadable rules or a bad country code.
    #[wasm_bindgen(js_name = loadRules)]
    pub fn load_rules(&mut self, rules: &str, country: &str) -> Result<usize, JsError> {
        self.session.load_rules(rules, country).map_err(js)
    }

    /// Checks the text of a code (`HC1:…`) at `now_ms`; returns the report (JSON).
    ///
    /// # Errors
    /// A bad clock.
    pub fn check(&self, text: &str, now_ms: f64) -> Result<String, JsError> {
        let report = self.session.check_report(text, now_ms).map_err(js)?;
        session::to_json(&report).map_err(js)
    }

    /// What the page needs to verify the signature of `text` with WebCrypto
    /// (`crypto.subtle.verify`, native speed): `undefined` when the code does not decode or
    /// no trusted signer has its kid (`check` then says why).
    #[wasm_bindgen(js_name = signatureInput)]
    pub fn signature_input(&self, text: &str) -> Option<SignatureInput> {
        self.session.signature_input(text).map(SignatureInput)
    }

    /// As `check`, for a code whose signature the caller verified with WebCrypto: `signer` is
    /// the index of the key of `signatureInput(text)` that verified it over its `tbs`. Every
    /// other check (times, key usage, schema, value sets, rules, revocation) runs here. Call
    /// it only after `crypto.subtle.verify` returned true; otherwise call `check`.
    ///
    /// # Errors
    /// A bad clock.
    #[wasm_bindgen(js_name = checkWithVerifiedSignature)]
    pub fn check_with_verified_signature(
        &self,
        text: &str,
        now_ms: f64,
        signer: usize,
    ) -> Result<String, JsError> {
        let report = self
            .session
            .check_report_with_signature(text, now_ms, signer)
            .map_err(js)?;
        session::to_json(&report).map_err(js)
    }

    /// Checks the code in a picture (PNG, JPEG, WebP); returns the report (JSON), with failure
    /// `QR_IMAGE` when no code could be read.
    ///
    /// # Errors
    /// A bad clock.
    #[wasm_bindgen(js_name = checkPicture)]
    pub fn check_picture(&self, picture: &[u8], now_ms: f64) -> Result<String, JsError> {
        let report = self
            .session
            .check_picture_report(picture, now_ms)
            .map_err(js)?;
        session::to_json(&report).map_err(js)
    }
}

/// The signature of a code and the public keys that may have made it (`signatureInput`).
#[wasm_bindgen]
#[derive(Debug)]
pub struct SignatureInput(session::SignatureInput);

#[wasm_bindgen]
impl SignatureInput {
    /// `ES256` (WebCrypto: ECDSA P-256, SHA-256) or `PS256` (RSA-PSS, SHA-256, salt 32).
    #[wasm_bindgen(getter)]
    pub fn alg(&self) -> String {
        self.0.alg.to_owned()
    }

    /// The bytes signed (the COSE `Sig_structure`).
    #[wasm_bindgen(getter)]
    pub fn tbs(&self) -> Vec<u8> {
        self.0.tbs.clone()
    }

    /// The signature (ES256: `r ‖ s`, as WebCrypto takes it).
    #[wasm_bindgen(getter)]
    pub fn signature(&self) -> Vec<u8> {
        self.0.signature.clone()
    }

    /// How many keys may have made it.
    #[wasm_bindgen(getter, js_name = keyCount)]
    pub fn key_count(&self) -> usize {
        self.0.keys.len()
    }

    /// Key `index` as DER SubjectPublicKeyInfo (`importKey("spki", …)`).
    pub fn key(&self, index: usize) -> Option<Vec<u8>> {
        self.0.keys.get(index).cloned()
    }
}

/// The text of the QR or Aztec code in a picture (PNG, JPEG, WebP).
///
/// # Errors
/// Not a picture, too large, or no readable code.
#[wasm_bindgen(js_name = decodePicture)]
pub fn decode_picture(picture: &[u8]) -> Result<String, JsError> {
    vaxpass_verifier::qr::decode_image(picture).map_err(|e| JsError::new(&e.to_string()))
}

/// The text of the code in an RGBA camera frame (`ImageData.data`, `width`, `height`).
///
/// # Errors
/// A buffer of the wrong size, a frame too large, or no readable code.
#[wasm_bindgen(js_name = decodeRgba)]
pub fn decode_rgba(rgba: &[u8], width: u32, height: u32) -> Result<String, JsError> {
    session::decode_rgba(rgba, width, height).map_err(js)
}

/// Evaluates a dgc-testdata test file (JSON bytes) with this build; `picture` is the one from
/// the country's `png/` folder when the file embeds none. Returns a JSON array of
/// `{flag, expected, actual, detail}`.
///
/// # Errors
/// The file is not a test case.
#[wasm_bindgen(js_name = conformanceCase)]
pub fn conformance_case(json: &[u8], picture: Option<Vec<u8>>) -> Result<String, JsError> {
    let results = session::conformance_case(json, picture).map_err(js)?;
    session::to_json(&results).map_err(js)
}
