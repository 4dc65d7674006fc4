//! A rule set signed like the trust list and the revocation list: a COSE_Sign1 by the
//! trust-list signer (which must chain to the pinned CSCA) over the rules of one country of
//! arrival, as the issuer publishes them at `GET /rules` for the browser verifier.
//!
//! The EU gateway distributes rules over TLS as a JSON array; a verifier that caches them for
//! offline use needs to know later that the copy it holds came from the issuing country and
//! has not been swapped for a laxer one: hence the signature, the sequence (a lower one than
//! the copy held is a rollback) and the issue time (the age a page shows).
//!
//! ```cddl
//! signed-rule-set = #6.18([
//!     protected   : bstr .cbor { 1 => -7 / -37, 4 => bstr .size 8 },  ; alg, kid of the signer
//!     unprotected : {},
//!     payload     : bstr .cbor rule-set,
//!     signature   : bstr
//! ])
//! rule-set = {
//!     1 => 1,        ; format version
//!     2 => tstr,     ; the country the rules are for (ISO 3166 alpha-2)
//!     3 => uint,     ; sequence: strictly increasing with every set signed
//!     4 => int,      ; issued at, Unix seconds
//!     5 => bstr,     ; the signer certificate, DER (the trust-list signer)
//!     6 => tstr,     ; the rules: a JSON array of rules in the EU gateway format
//! }
//! ```
//!
//! Rules carry their own validity period (`ValidFrom`, `ValidTo`), so a set does not expire:
//! an old set is reported by its age, and its rules stop applying when their period ends.

use crate::cbor::{self, Value, Writer};
use crate::cose::{self, CoseSign1};
use crate::crypto::{Backend, PreparedKey};
use crate::trustlist::{Fields, ParsedCertificate, TrustListError, check_list_signer};
use crate::{Algorithm, Kid, Timestamp};

use super::rule::{Rule, RuleSet};

/// The format version (payload key 1).
pub const FORMAT_VERSION: u64 = 1;
/// Largest signed set accepted, bytes (the EU gateway's rule sets are a few MB).
pub const MAX_SIGNED_RULES: usize = 16 * 1024 * 1024;
/// How far in the future `issued_at` may lie (clock skew), seconds.
pub const MAX_CLOCK_SKEW: i64 = 300;
const MAX_DEPTH: usize = 8;

/// Why a signed rule set is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignedRulesError {
    /// Larger than [`MAX_SIGNED_RULES`].
    #[error("the signed rule set is {0} bytes, more than the {MAX_SIGNED_RULES} accepted")]
    TooLarge(usize),
    /// Not a COSE_Sign1 of a rule set.
    #[error("the signed rule set is not readable: {0}")]
    Format(String),
    /// The header algorithm is missing or unknown.
    #[error("the rule set's signature algorithm {0:?} is not ES256 or PS256")]
    Algorithm(Option<i64>),
    /// The header kid does not name the signer certificate in the payload.
    #[error("the rule set's kid does not match its signer certificate")]
    KidMismatch,
    /// The signature does not verify.
    #[error("the rule set's signature does not verify: {0}")]
    Signature(String),
    /// The signer may not sign lists for the pinned CSCA.
    #[error("the rule set's signer: {0}")]
    Signer(TrustListError),
    /// Issued in the future (beyond the clock skew).
    #[error("the rule set was issued at {issued_at}, after the clock ({now})")]
    NotYetValid {
        /// Issued at.
        issued_at: Timestamp,
        /// The clock.
        now: Timestamp,
    },
    /// Older than the set already accepted.
    #[error("rollback refused: rule set sequence {received} is lower than the {held} already held")]
    Rollback {
        /// The sequence held.
        held: u64,
        /// The sequence received.
        received: u64,
    },
    /// The rules are not readable.
    #[error("the rules in the set are not readable: {0}")]
    Rules(String),
}

/// The fields of a rule set besides its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetHeader {
    /// The country of arrival the rules are for.
    pub country: String,
    /// Strictly increasing with every set signed.
    pub sequence: u64,
    /// When it was signed.
    pub issued_at: Timestamp,
    /// The signer certificate, DER.
    pub signer_certificate_der: Vec<u8>,
}

/// The payload CBOR of a set of `rules_json` (a JSON array of rules).
pub fn to_cbor(header: &RuleSetHeader, rules_json: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.map(6);
    w.int(1).value(&Value::Unsigned(FORMAT_VERSION));
    w.int(2).text(&header.country);
    w.int(3).value(&Value::Unsigned(header.sequence));
    w.int(4).int(header.issued_at.unix_seconds());
    w.int(5).bytes(&header.signer_certificate_der);
    w.int(6).text(rules_json);
    w.into_bytes()
}

/// Signs a set: a tagged COSE_Sign1 with protected header `{1: alg, 4: kid}` of the signer
/// certificate; `sign` receives the `Sig_structure`.
///
/// # Errors
/// Whatever `sign` returns.
pub fn sign<E>(
    header: &RuleSetHeader,
    rules_json: &str,
    alg: Algorithm,
    kid: &Kid,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    cose::sign1(
        alg.cose_id(),
        kid.as_bytes(),
        &to_cbor(header, rules_json),
        sign,
    )
}

/// A set whose signature, signer and sequence checked out, with its rules read.
#[derive(Debug)]
pub struct VerifiedRules {
    /// Its header.
    pub header: RuleSetHeader,
    /// Its rules.
    pub rules: RuleSet,
    /// How many rules it holds.
    pub count: usize,
}

fn format(e: TrustListError) -> SignedRulesError {
    match e {
        TrustListError::Format(m) => SignedRulesError::Format(m),
        other => SignedRulesError::Format(other.to_string()),
    }
}

/// Verifies a signed rule set at `now` against the pinned CSCA `anchor_csca_der`; `held`: the
/// sequence of the set accepted before (a lower one is refused).
///
/// # Errors
/// [`SignedRulesError`]: the first failing check.
pub fn verify(
    bytes: &[u8],
    anchor_csca_der: &[u8],
    now: Timestamp,
    held: Option<u64>,
) -> Result<VerifiedRules, SignedRulesError> {
    if bytes.len() > MAX_SIGNED_RULES {
        return Err(SignedRulesError::TooLarge(bytes.len()));
    }
    let cose =
        CoseSign1::parse(bytes, MAX_DEPTH).map_err(|e| SignedRulesError::Format(e.to_string()))?;
    let top = cbor::decode(cose.payload, MAX_DEPTH)
        .map_err(|e| SignedRulesError::Format(e.to_string()))?;
    let map = Fields::new(&top, "rule set", &[1, 2, 3, 4, 5, 6]).map_err(format)?;
    let version = map.uint(1).map_err(format)?;
    if version != FORMAT_VERSION {
        return Err(SignedRulesError::Format(format!(
            "format version {version} is not supported (expected {FORMAT_VERSION})"
        )));
    }
    let header = RuleSetHeader {
        country: map.text(2).map_err(format)?.to_owned(),
        sequence: map.uint(3).map_err(format)?,
        issued_at: map.ts(4).map_err(format)?,
        signer_certificate_der: map.bytes(5).map_err(format)?.to_vec(),
    };
    let rules_json = map.text(6).map_err(format)?;

    // 1. Signed by the certificate it carries, which may sign lists for the anchor.
    let alg_id = cose.protected.alg;
    let alg = alg_id
        .and_then(Algorithm::from_cose_id)
        .ok_or(SignedRulesError::Algorithm(alg_id))?;
    if cose.protected.kid
        != Some(Kid::from_certificate_der(&header.signer_certificate_der).as_bytes())
    {
        return Err(SignedRulesError::KidMismatch);
    }
    let signer_err = |e: String| SignedRulesError::Signer(TrustListError::SignerCertificate(e));
    let signer = ParsedCertificate::parse(&header.signer_certificate_der, "signer certificate")
        .map_err(|e| signer_err(e.to_string()))?;
    let spki = signer.spki_der().map_err(|e| signer_err(e.to_string()))?;
    let key = PreparedKey::from_spki_der(&spki, Backend::default())
        .map_err(|e| signer_err(e.to_string()))?;
    key.verify(alg, &cose.tbs(), cose.signature)
        .map_err(|e| SignedRulesError::Signature(e.to_string()))?;
    check_list_signer(&signer, anchor_csca_der, now).map_err(SignedRulesError::Signer)?;

    // 2. Not from the future; 3. not older than the set held.
    if header.issued_at.unix_seconds() > now.unix_seconds().saturating_add(MAX_CLOCK_SKEW) {
        return Err(SignedRulesError::NotYetValid {
            issued_at: header.issued_at,
            now,
        });
    }
    if let Some(held) = held {
        if header.sequence < held {
            return Err(SignedRulesError::Rollback {
                held,
                received: header.sequence,
            });
        }
    }

    // 4. The rules themselves.
    let rules: Vec<Rule> =
        serde_json::from_str(rules_json).map_err(|e| SignedRulesError::Rules(e.to_string()))?;
    let count = rules.len();
    Ok(VerifiedRules {
        header,
        rules: RuleSet::from_rules(rules),
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;
    use crate::trustlist::tests::{DAY, T0, pki, ts};

    #[test]
    fn a_signed_set_verifies_and_a_changed_one_does_not() {
        let p = pki();
        let now = ts(T0 + 60);
        let header = RuleSetHeader {
            country: "VN".into(),
            sequence: 7,
            issued_at: ts(T0),
            signer_certificate_der: p.signer.clone(),
        };
        let kid = Kid::from_certificate_der(&p.signer);
        let signed_with = |rules: &str| {
            sign::<std::convert::Infallible>(&header, rules, Algorithm::Es256, &kid, |tbs| {
                Ok(testutil::es256_sign(&p.signer_key, tbs))
            })
            .unwrap()
        };
        let signed = signed_with("[]");
        let ok = verify(&signed, &p.csca, now, Some(7)).unwrap();
        assert_eq!(ok.header, header);
        assert_eq!(ok.count, 0);

        assert!(matches!(
            verify(&signed, &p.csca, now, Some(8)),
            Err(SignedRulesError::Rollback {
                held: 8,
                received: 7
            })
        ));
        // One bit of the rules changed: the signature no longer verifies.
        let mut changed = signed.clone();
        // The rules' text: a CBOR text string of two bytes (0x62), "[]".
        let at = changed.windows(3).position(|w| w == b"\x62[]").unwrap();
        changed[at + 1] = b'{';
        assert!(matches!(
            verify(&changed, &p.csca, now, None),
            Err(SignedRulesError::Signature(_))
        ));
        // Another country's CSCA.
        assert!(matches!(
            verify(&signed, &pki().csca, now, None),
            Err(SignedRulesError::Signer(_))
        ));
        assert!(matches!(
            verify(&signed, &p.csca, ts(T0 - 3600), None),
            Err(SignedRulesError::NotYetValid { .. })
        ));
        assert!(verify(&signed, &p.csca, ts(T0 + 3000 * DAY), None).is_err());
        assert!(matches!(
            verify(&signed_with("{"), &p.csca, now, None),
            Err(SignedRulesError::Rules(_))
        ));
        assert!(matches!(
            verify(b"not cbor", &p.csca, now, None),
            Err(SignedRulesError::Format(_))
        ));
    }
}
