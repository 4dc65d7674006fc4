//! The pipeline as types: `&str` → [`SignedHcert`] (decoded, unverified) → [`VerifiedHcert`].

use crate::cbor::Value;
use crate::cose::CoseSign1;
use crate::cwt::Claims;
use crate::error::{AlgorithmError, Error, PayloadError};
use crate::model::{CertificateType, Dcc, ModelError};
use crate::trust::{TrustStore, TrustedSigner};
use crate::zlib::Inflater;
use crate::{Algorithm, Kid, Timestamp, base45, hc1};
use std::ops::Range;
use std::sync::Arc;

/// Bounds on what an attacker can make the decoder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest accepted HC1 text, in bytes (default 8 KiB; a QR code holds at most 4,296
    /// alphanumeric characters).
    pub max_input: usize,
    /// Largest inflated COSE_Sign1 (default 64 KiB), enforced while inflating.
    pub max_inflated: usize,
    /// Deepest CBOR nesting (default 16).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input: 8 * 1024,
            max_inflated: 64 * 1024,
            max_depth: crate::cbor::DEFAULT_MAX_DEPTH,
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_input`].
    pub fn with_max_input(mut self, n: usize) -> Self {
        self.max_input = n;
        self
    }
    /// Sets [`Limits::max_inflated`].
    pub fn with_max_inflated(mut self, n: usize) -> Self {
        self.max_inflated = n;
        self
    }
    /// Sets [`Limits::max_depth`].
    pub fn with_max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }
}

/// A decoded HCERT whose signature has **not** been checked.
///
/// Owns the inflated COSE_Sign1 bytes. Headers and claims are readable for diagnostics; the
/// payload only through [`SignedHcert::dangerous_unverified_payload`].
#[derive(Clone, Debug)]
pub struct SignedHcert {
    cose: Vec<u8>,
    protected: Range<usize>,
    payload: Range<usize>,
    signature: Range<usize>,
    alg: Option<i64>,
    kid: Option<Kid>,
    iss: Option<String>,
    iat: Option<Timestamp>,
    exp: Option<Timestamp>,
    certificate_type: Option<CertificateType>,
    max_depth: usize,
}

fn range_of(base: &[u8], sub: &[u8]) -> Range<usize> {
    // `sub` is a subslice of `base` (the parsers only borrow from their input).
    let start = (sub.as_ptr() as usize).saturating_sub(base.as_ptr() as usize);
    start..start + sub.len()
}

/// Decodes an `HC1:` string with a fresh inflater.
///
/// # Errors
/// `INPUT_TOO_LARGE`, `PREFIX`, `BASE45`, `COMPRESSION`, `COSE`, `CBOR` or `PAYLOAD`
/// (see [`Error::code`]).
pub fn decode(hc1_text: &str, limits: &Limits) -> Result<SignedHcert, Error> {
    let mut buf = Vec::new();
    decode_with(hc1_text, limits, &mut Inflater::new(), &mut buf)
}

fn decode_with(
    hc1_text: &str,
    limits: &Limits,
    inflater: &mut Inflater,
    b45: &mut Vec<u8>,
) -> Result<SignedHcert, Error> {
    let cose = inflate_hc1(hc1_text, limits, inflater, b45)?;
    SignedHcert::from_cose(cose.to_vec(), limits)
}

/// Prefix, Base45 and zlib: the COSE_Sign1 bytes, borrowing the inflater's buffer.
fn inflate_hc1<'i>(
    hc1_text: &str,
    limits: &Limits,
    inflater: &'i mut Inflater,
    b45: &mut Vec<u8>,
) -> Result<&'i [u8], Error> {
    if hc1_text.len() > limits.max_input {
        return Err(Error::InputTooLarge {
            len: hc1_text.len(),
            max: limits.max_input,
        });
    }
    let text = hc1::strip_prefix(hc1_text)?;
    b45.clear();
    base45::decode_into(text.as_bytes(), b45)?;
    Ok(inflater.inflate(b45, limits.max_inflated)?)
}

/// A parsed COSE_Sign1 with HCERT claims, borrowing from the COSE bytes.
struct Parsed<'a> {
    protected: &'a [u8],
    payload: &'a [u8],
    signature: &'a [u8],
    alg: Option<i64>,
    kid: Option<Kid>,
    claims: Claims<'a>,
}

impl<'a> Parsed<'a> {
    fn parse(cose: &'a [u8], limits: &Limits) -> Result<Self, Error> {
        let parsed = CoseSign1::parse(cose, limits.max_depth)?;
        let kid = match parsed.kid() {
            None => None,
            Some(raw) => Some(Kid::from_bytes(raw).ok_or(crate::cose::CoseError::Header {
                label: crate::cose::LABEL_KID,
                problem: "longer than 32 bytes",
            })?),
        };
        let claims = Claims::parse(parsed.payload, limits.max_depth)?;
        Ok(Parsed {
            protected: parsed.protected_bytes,
            payload: parsed.payload,
            signature: parsed.signature,
            alg: parsed.alg(),
            kid,
            claims,
        })
    }

    /// The unverified certificate owning `owned`, a copy of the bytes `cose` this was parsed
    /// from (`self` borrows `cose`; the ranges are the same in the copy).
    fn to_signed(&self, cose: &[u8], owned: Vec<u8>, limits: &Limits) -> SignedHcert {
        SignedHcert {
            protected: range_of(cose, self.protected),
            payload: range_of(cose, self.payload),
            signature: range_of(cose, self.signature),
            alg: self.alg,
            kid: self.kid,
            iss: self.claims.iss.map(str::to_owned),
            iat: self.claims.iat,
            exp: self.claims.exp,
            certificate_type: CertificateType::of_payload(&self.claims.payload),
            max_depth: limits.max_depth,
            cose: owned,
        }
    }
}

/// Appends the CBOR head of a byte string of `len` bytes, in the shortest form (as
/// [`crate::cbor::Writer`] writes it).
fn push_bstr_head(buf: &mut Vec<u8>, len: usize) {
    const MAJOR_BYTES: u8 = 0x40;
    let len = len as u64;
    if len < 24 {
        buf.push(MAJOR_BYTES | len as u8);
    } else if let Ok(n) = u8::try_from(len) {
        buf.extend_from_slice(&[MAJOR_BYTES | 24, n]);
    } else if let Ok(n) = u16::try_from(len) {
        buf.push(MAJOR_BYTES | 25);
        buf.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(len) {
        buf.push(MAJOR_BYTES | 26);
        buf.extend_from_slice(&n.to_be_bytes());
    } else {
        buf.push(MAJOR_BYTES | 27);
        buf.extend_from_slice(&len.to_be_bytes());
    }
}

/// Writes `Sig_structure = ["Signature1", protected, h'', payload]` (RFC 9052 §4.4) into `buf`,
/// replacing its content: the same bytes as [`crate::cose::sig_structure`], without allocating
/// once `buf` has grown to size.
fn sig_structure_into(buf: &mut Vec<u8>, protected: &[u8], payload: &[u8]) {
    buf.clear();
    buf.reserve(16 + protected.len() + payload.len());
    // array(4), text(10) "Signature1"
    buf.extend_from_slice(b"\x84\x6aSignature1");
    push_bstr_head(buf, protected.len());
    buf.extend_from_slice(protected);
    buf.push(0x40); // external_aad: h''
    push_bstr_head(buf, payload.len());
    buf.extend_from_slice(payload);
}

impl SignedHcert {
    /// Parses an (already inflated) COSE_Sign1 holding HCERT claims.
    ///
    /// # Errors
    /// `COSE` for a malformed COSE_Sign1 or headers (including a kid over 32 bytes), `CBOR`
    /// for malformed claims, `PAYLOAD` for claims without an HCERT payload.
    pub fn from_cose(cose: Vec<u8>, limits: &Limits) -> Result<Self, Error> {
        let signed = {
            let parsed = Parsed::parse(&cose, limits)?;
            parsed.to_signed(&cose, Vec::new(), limits)
        };
        Ok(SignedHcert { cose, ..signed })
    }

    /// The COSE_Sign1 bytes.
    pub fn cose_bytes(&self) -> &[u8] {
        &self.cose
    }
    /// The COSE signature (what revocation's `SIGNATURE` hash covers).
    pub fn signature(&self) -> &[u8] {
        &self.cose[self.signature.clone()]
    }
    /// The kid (protected header first, else unprotected).
    pub fn kid(&self) -> Option<Kid> {
        self.kid
    }
    /// The COSE algorithm identifier (protected header first, else unprotected).
    pub fn alg_id(&self) -> Option<i64> {
        self.alg
    }
    /// The algorithm, if it is one HCERT allows.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.alg.and_then(Algorithm::from_cose_id)
    }
    /// Claim `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.iss.as_deref()
    }
    /// Claim `iat`.
    pub fn issued_at(&self) -> Option<Timestamp> {
        self.iat
    }
    /// Claim `exp`.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.exp
    }
    /// The payload's type (`None` unless exactly one of `v`/`t`/`r` is present and not null).
    pub fn certificate_type(&self) -> Option<CertificateType> {
        self.certificate_type
    }

    fn claims(&self) -> Claims<'_> {
        match Claims::parse(&self.cose[self.payload.clone()], self.max_depth) {
            Ok(c) => c,
            // Unreachable: the same bytes parsed with the same depth in `from_cose`.
            Err(_) => Claims {
                iss: None,
                iat: None,
                exp: None,
                payload: Value::Null,
            },
        }
    }

    /// The payload, **unverified**: anyone can produce any content here. For diagnostics only.
    pub fn dangerous_unverified_payload(&self) -> Value<'_> {
        self.claims().payload
    }

    /// The bytes the signature covers.
    pub fn to_be_signed(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.to_be_signed_into(&mut buf);
        buf
    }

    /// Writes the bytes the signature covers into `buf` (replacing its content).
    fn to_be_signed_into(&self, buf: &mut Vec<u8>) {
        sig_structure_into(
            buf,
            &self.cose[self.protected.clone()],
            &self.cose[self.payload.clone()],
        );
    }

    fn allowed_algorithm(&self) -> Result<Algorithm, Error> {
        let id = self.alg.ok_or(AlgorithmError::Missing)?;
        Ok(Algorithm::from_cose_id(id).ok_or(AlgorithmError::NotAllowed(id))?)
    }

    /// Checks the signature with one given signer, ignoring any trust store: the kid must be
    /// present and equal the signer's, the algorithm allowed and fitting the key, the signature
    /// valid.
    ///
    /// # Errors
    /// `KID_MISSING`, `KID_UNKNOWN` (kid differs from the signer's), `ALGORITHM`, `SIGNATURE`.
    pub fn verify_signature_with(&self, signer: &TrustedSigner) -> Result<(), Error> {
        let kid = self.kid.ok_or(Error::KidMissing)?;
        if kid != signer.kid() {
            return Err(Error::KidUnknown(kid));
        }
        let alg = self.allowed_algorithm()?;
        Ok(signer.key().verify(
            alg,
            &self.to_be_signed(),
            &self.cose[self.signature.clone()],
        )?)
    }

    /// Finds the trusted signer whose key verifies the signature.
    ///
    /// # Errors
    /// `KID_MISSING`, `KID_UNKNOWN`, `ALGORITHM` (not allowed, or no signer with this kid has
    /// a matching key), `SIGNATURE` (no signer with this kid and a matching key verifies).
    pub fn find_signer(&self, store: &TrustStore) -> Result<Arc<TrustedSigner>, Error> {
        self.find_signer_with(store, &mut Vec::new())
    }

    /// [`SignedHcert::find_signer`] with a reusable buffer for the Sig_structure.
    fn find_signer_with(
        &self,
        store: &TrustStore,
        tbs: &mut Vec<u8>,
    ) -> Result<Arc<TrustedSigner>, Error> {
        let kid = self.kid.ok_or(Error::KidMissing)?;
        let signers = store.signers(&kid);
        if signers.is_empty() {
            return Err(Error::KidUnknown(kid));
        }
        let alg = self.allowed_algorithm()?;
        self.to_be_signed_into(tbs);
        let sig = &self.cose[self.signature.clone()];
        let mut last = None;
        for signer in signers {
            match signer.key().verify(alg, tbs, sig) {
                Ok(()) => return Ok(Arc::clone(signer)),
                // Prefer reporting a signature failure over an algorithm mismatch.
                Err(e) => {
                    let e = Error::from(e);
                    if !matches!(last, Some(Error::Signature(_))) {
                        last = Some(e);
                    }
                }
            }
        }
        Err(last.unwrap_or(Error::KidUnknown(kid)))
    }

    /// The signers of `store` that may have made the signature, for a caller that verifies it
    /// with other means (the browser's WebCrypto): those of the certificate's kid, in the
    /// order [`SignedHcert::find_signer`] tries them, with the algorithm to verify with.
    /// Verify the signature over [`SignedHcert::to_be_signed`] with a signer's key, then give
    /// that signer to [`SignedHcert::verify_with_signature_checked_by`].
    ///
    /// # Errors
    /// `KID_MISSING`, `KID_UNKNOWN`, `ALGORITHM` (not an algorithm HCERT allows).
    pub fn candidate_signers<'s>(
        &self,
        store: &'s TrustStore,
    ) -> Result<(Algorithm, &'s [Arc<TrustedSigner>]), Error> {
        let kid = self.kid.ok_or(Error::KidMissing)?;
        let signers = store.signers(&kid);
        if signers.is_empty() {
            return Err(Error::KidUnknown(kid));
        }
        Ok((self.allowed_algorithm()?, signers))
    }

    /// Every check after the signature (times, key usage, content), for a certificate whose
    /// signature the caller verified with `signer`'s key over [`SignedHcert::to_be_signed`]
    /// (see [`SignedHcert::candidate_signers`]). The kid and the algorithm are checked against
    /// the signer again; the signature itself is not: a caller that did not verify it makes a
    /// forgery pass.
    ///
    /// # Errors
    /// `KID_MISSING`, `KID_UNKNOWN` (another signer's kid), `ALGORITHM` (the signer's key does
    /// not fit the algorithm), then as [`SignedHcert::check`].
    pub fn verify_with_signature_checked_by(
        self,
        signer: Arc<TrustedSigner>,
        now: Timestamp,
    ) -> Result<VerifiedHcert, Error> {
        let kid = self.kid.ok_or(Error::KidMissing)?;
        if kid != signer.kid() {
            return Err(Error::KidUnknown(kid));
        }
        let alg = self.allowed_algorithm()?;
        if signer.key().family().algorithm() != Some(alg) {
            return Err(Error::Algorithm(AlgorithmError::KeyMismatch {
                alg,
                key: signer.key().family(),
            }));
        }
        self.check_validity(&signer, now)?;
        self.check_key_usage(&signer)?;
        self.check_content()?;
        self.into_verified(signer)
    }

    /// Checks the times: `iat ≤ clock ≤ exp`, DSC notBefore ≤ iat, and the DSC valid at the
    /// clock (HCERT spec §3.3.1, §5.1).
    ///
    /// # Errors
    /// `PAYLOAD` (no `iat`/`exp`), `NOT_YET_VALID`, `EXPIRED`, `DSC_NOT_YET_VALID`,
    /// `DSC_EXPIRED`.
    pub fn check_validity(&self, signer: &TrustedSigner, now: Timestamp) -> Result<(), Error> {
        let iat = self.iat.ok_or(PayloadError::MissingClaim("iat"))?;
        let exp = self.exp.ok_or(PayloadError::MissingClaim("exp"))?;
        if iat > now {
            return Err(Error::NotYetValid { iat, now });
        }
        if now > exp {
            return Err(Error::Expired { exp, now });
        }
        if signer.not_before() > iat {
            return Err(Error::DscNotYetValid {
                not_before: signer.not_before(),
                at: iat,
            });
        }
        if signer.not_before() > now {
            return Err(Error::DscNotYetValid {
                not_before: signer.not_before(),
                at: now,
            });
        }
        if now > signer.not_after() {
            return Err(Error::DscExpired {
                not_after: signer.not_after(),
                at: now,
            });
        }
        Ok(())
    }

    /// Checks that the signer may sign this payload's type.
    ///
    /// # Errors
    /// `PAYLOAD` (not exactly one of `v`/`t`/`r`), `KEY_USAGE`.
    pub fn check_key_usage(&self, signer: &TrustedSigner) -> Result<(), Error> {
        let required = self.certificate_type.ok_or(PayloadError::CertificateType)?;
        let allowed = signer.key_usage();
        if allowed.allows(required) {
            Ok(())
        } else {
            Err(Error::KeyUsage { required, allowed })
        }
    }

    /// Checks the payload's content: the schema of its own `ver` (1.3.0 when unknown), then the
    /// value sets of its coded fields. Says nothing about authenticity.
    ///
    /// # Errors
    /// `SCHEMA`, `VALUE_SET`.
    pub fn check_content(&self) -> Result<(), Error> {
        check_payload_content(&self.claims().payload)
    }

    /// Runs every check and returns the signer. Order: kid, algorithm, signature, times, key
    /// usage, schema of the payload's own `ver`, value sets.
    ///
    /// # Errors
    /// The first failing check (see [`Error::code`]).
    pub fn check(&self, store: &TrustStore, now: Timestamp) -> Result<Arc<TrustedSigner>, Error> {
        self.check_with(store, now, None, &mut Vec::new())
    }

    /// [`SignedHcert::check`] with the payload when the caller has it parsed already (`None`:
    /// parse it from the COSE bytes) and a reusable buffer for the Sig_structure.
    fn check_with(
        &self,
        store: &TrustStore,
        now: Timestamp,
        payload: Option<&Value<'_>>,
        tbs: &mut Vec<u8>,
    ) -> Result<Arc<TrustedSigner>, Error> {
        let signer = self.find_signer_with(store, tbs)?;
        self.check_validity(&signer, now)?;
        self.check_key_usage(&signer)?;
        match payload {
            Some(payload) => check_payload_content(payload)?,
            None => self.check_content()?,
        }
        Ok(signer)
    }

    /// Runs every check; the verified certificate gives access to the payload.
    ///
    /// # Errors
    /// As [`SignedHcert::check`].
    pub fn verify(self, store: &TrustStore, now: Timestamp) -> Result<VerifiedHcert, Error> {
        let signer = self.check(store, now)?;
        self.into_verified(signer)
    }

    fn into_verified(self, signer: Arc<TrustedSigner>) -> Result<VerifiedHcert, Error> {
        let certificate_type = self.certificate_type.ok_or(PayloadError::CertificateType)?;
        Ok(VerifiedHcert {
            signed: self,
            signer,
            certificate_type,
        })
    }
}

/// The schema of the payload's own `ver`, then the value sets (see
/// [`SignedHcert::check_content`]).
fn check_payload_content(payload: &Value<'_>) -> Result<(), Error> {
    crate::schema::SchemaSet::shared()?.validate(payload)?;
    crate::valuesets::ValueSets::shared()?.check(payload)?;
    Ok(())
}

/// An HCERT whose signature, times and key usage checked out.
#[derive(Clone, Debug)]
pub struct VerifiedHcert {
    signed: SignedHcert,
    signer: Arc<TrustedSigner>,
    certificate_type: CertificateType,
}

impl VerifiedHcert {
    /// The payload (a CBOR map borrowing from this value).
    pub fn payload(&self) -> Value<'_> {
        self.signed.claims().payload
    }
    /// The payload as typed data.
    ///
    /// # Errors
    /// [`ModelError`] when the payload does not fit the model (missing fields, wrong types).
    pub fn dcc(&self) -> Result<Dcc, ModelError> {
        Dcc::from_cbor(&self.payload())
    }
    /// The payload as JSON (tag-0 date-times as strings).
    ///
    /// # Errors
    /// [`ModelError`] for CBOR that JSON cannot hold (byte strings, non-text keys).
    pub fn payload_json(&self) -> Result<serde_json::Value, ModelError> {
        crate::model::cbor_to_json(&self.payload())
    }
    /// The signer that verified it.
    pub fn signer(&self) -> &TrustedSigner {
        &self.signer
    }
    /// The certificate type.
    pub fn certificate_type(&self) -> CertificateType {
        self.certificate_type
    }
    /// The decoded envelope (headers, claims).
    pub fn signed(&self) -> &SignedHcert {
        &self.signed
    }
}

/// The hot path: a trust store, limits, and reusable buffers.
///
/// Methods take `&mut self` because the inflater state and buffers are reused; use one
/// `Verifier` per thread (the trust store is shared through an [`Arc`]).
#[derive(Debug)]
pub struct Verifier {
    store: Arc<TrustStore>,
    limits: Limits,
    inflater: Inflater,
    b45: Vec<u8>,
    tbs: Vec<u8>,
}

impl Verifier {
    /// A verifier with default [`Limits`].
    pub fn new(store: impl Into<Arc<TrustStore>>) -> Self {
        Self::with_limits(store, Limits::default())
    }

    /// A verifier with the given limits.
    pub fn with_limits(store: impl Into<Arc<TrustStore>>, limits: Limits) -> Self {
        Verifier {
            store: store.into(),
            limits,
            inflater: Inflater::new(),
            b45: Vec::new(),
            tbs: Vec::new(),
        }
    }

    /// The trust store.
    pub fn trust_store(&self) -> &Arc<TrustStore> {
        &self.store
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes without verifying.
    ///
    /// # Errors
    /// As [`decode`].
    pub fn decode(&mut self, hc1_text: &str) -> Result<SignedHcert, Error> {
        decode_with(hc1_text, &self.limits, &mut self.inflater, &mut self.b45)
    }

    /// Decodes and verifies at `now`.
    ///
    /// # Errors
    /// The first failure, decoding or check (see [`Error::code`]).
    pub fn verify(&mut self, hc1_text: &str, now: Timestamp) -> Result<VerifiedHcert, Error> {
        // The same steps as `self.decode(hc1_text)?.verify(..)`, but the claims are parsed once:
        // the checks read the payload tree that decoding built (borrowing the inflater's buffer).
        let cose = inflate_hc1(hc1_text, &self.limits, &mut self.inflater, &mut self.b45)?;
        let parsed = Parsed::parse(cose, &self.limits)?;
        let signed = parsed.to_signed(cose, cose.to_vec(), &self.limits);
        let signer = signed.check_with(
            &self.store,
            now,
            Some(&parsed.claims.payload),
            &mut self.tbs,
        )?;
        signed.into_verified(signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::armour;

    #[test]
    fn bounds_hold_through_the_pipeline() {
        // 200 MiB of zeros compress to ~200 KiB; allow the long text to reach the inflater.
        let bomb = crate::testutil::zlib_bomb(200);
        let text = format!("HC1:{}", base45::encode(&bomb));
        let mut v =
            Verifier::with_limits(TrustStore::new(), Limits::default().with_max_input(1 << 21));
        let err = v.decode(&text).unwrap_err();
        assert_eq!(err.code(), "COMPRESSION");
        assert_eq!(
            err.to_string(),
            "inflated data exceeds the limit of 65536 bytes"
        );
        // (How fast: the `bounds/` benchmarks in benches/verify.rs.)
        // The same text under default limits is refused before any work.
        let err = Verifier::new(TrustStore::new()).decode(&text).unwrap_err();
        assert_eq!(err.code(), "INPUT_TOO_LARGE");

        // 100,000 nested arrays as the COSE, and as the claims (inflated limit raised so that
        // the CBOR reader, not the inflater, is what refuses them).
        let mut v = Verifier::with_limits(
            TrustStore::new(),
            Limits::default().with_max_inflated(1 << 20),
        );
        let mut deep = vec![0x81u8; 100_000];
        deep.push(0);
        let err = v.decode(&armour(&deep)).unwrap_err();
        assert_eq!(err.code(), "COSE");
        let cose = crate::cose::sign1::<()>(-7, b"kid", &deep, |_| Ok(vec![0; 64])).unwrap();
        let err = v.decode(&armour(&cose)).unwrap_err();
        assert_eq!(err.code(), "CBOR");
        assert!(err.to_string().contains("nesting deeper than 16"), "{err}");
    }

    #[test]
    fn sig_structure_into_matches_the_writer() {
        let mut buf = vec![1, 2, 3];
        for (p, n) in [(0, 0), (13, 23), (24, 255), (256, 300), (70_000, 65_535)] {
            let (protected, payload) = (vec![0xa5; p], vec![0x5a; n]);
            sig_structure_into(&mut buf, &protected, &payload);
            assert_eq!(
                buf,
                crate::cose::sig_structure(&protected, &payload),
                "{p} {n}"
            );
        }
    }

    #[test]
    fn unverified_payload_is_reachable_only_by_its_dangerous_name() {
        let claims = crate::cwt::encode(
            Some("VN"),
            Timestamp::from_unix_seconds(1),
            Timestamp::from_unix_seconds(2),
            b"\xa1\x61t\x80",
        );
        let cose = crate::cose::sign1::<()>(-7, b"kid", &claims, |_| Ok(vec![0; 64])).unwrap();
        let signed = SignedHcert::from_cose(cose, &Limits::default()).unwrap();
        assert_eq!(signed.certificate_type(), Some(CertificateType::Test));
        assert_eq!(signed.issuer(), Some("VN"));
        assert_eq!(signed.kid(), Kid::from_bytes(b"kid"));
        assert_eq!(signed.algorithm(), Some(Algorithm::Es256));
        assert_eq!(
            signed.dangerous_unverified_payload(),
            Value::Map(vec![(Value::Text("t"), Value::Array(vec![]))])
        );
    }
}
