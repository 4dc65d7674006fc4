//! The issuing encoder: payload CBOR → CWT → COSE_Sign1 (signed by a closure) → zlib →
//! Base45 → `HC1:` text, with the compressor kept between certificates.
//!
//! The CWT and COSE writers are the verifier's ([`vaxpass_verifier::encode::encode_cose`]: one
//! codec for both directions); the compressor is this crate's [`Deflater`], kept between
//! certificates. The text is byte for byte that of the verifier's one-shot `encode_hc1`
//! (feature `encode`), which makes a new compressor for every certificate.

use vaxpass_verifier::encode::{IssueClaims, encode_cose};
use vaxpass_verifier::{Algorithm, Kid, hc1};

use crate::deflate::Deflater;

/// Reusable issuing state for one thread: a [`Deflater`] and its output buffer, so that
/// encoding many certificates allocates the compressor once. [`Encoder::armour`] of the same
/// COSE_Sign1 always gives the same text, whatever the encoder encoded before, and the same as
/// the verifier's `encode::armour`.
#[derive(Debug, Default)]
pub struct Encoder {
    deflater: Deflater,
    z: Vec<u8>,
}

impl Encoder {
    /// A new encoder (its buffers are allocated on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Compresses and armours a COSE_Sign1: zlib, Base45, `HC1:` prefix.
    pub fn armour(&mut self, cose_sign1: &[u8]) -> String {
        self.z.clear();
        self.deflater.deflate_into(cose_sign1, &mut self.z);
        hc1::armour_zlib(&self.z)
    }

    /// Encodes a CBOR payload into an `HC1:` string. `sign` receives the `Sig_structure` and
    /// must return an `alg` signature (ES256: raw `r || s`, 64 bytes; PS256: RSASSA-PSS
    /// SHA-256, salt 32).
    ///
    /// # Errors
    /// Whatever `sign` returns.
    pub fn encode_hc1<E>(
        &mut self,
        payload_cbor: &[u8],
        claims: &IssueClaims<'_>,
        alg: Algorithm,
        kid: &Kid,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<String, E> {
        encode_cose(payload_cbor, claims, alg, kid, sign).map(|c| self.armour(&c))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::convert::Infallible;
    use vaxpass_verifier::{Limits, Timestamp, base45, zlib};

    fn claims() -> IssueClaims<'static> {
        IssueClaims {
            iss: Some("VN"),
            iat: Timestamp::from_unix_seconds(1_700_000_000),
            exp: Timestamp::from_unix_seconds(1_800_000_000),
        }
    }

    #[test]
    fn armour_is_hc1_base45_zlib_of_the_cose() {
        let mut encoder = Encoder::new();
        let cose = b"\xd2\x84\x43\xa1\x01\x26\xa0\x41\xa0\x40".repeat(3);
        let text = encoder.armour(&cose);
        let z = base45::decode(text.strip_prefix("HC1:").unwrap().as_bytes()).unwrap();
        assert_eq!(&z[..2], &[0x78, 0xDA]);
        assert_eq!(zlib::inflate(&z, 1024).unwrap(), cose);
        // Reuse gives the same text, after other inputs of other sizes.
        assert_ne!(encoder.armour(&[7u8; 5000]), text);
        assert_eq!(encoder.armour(&cose), text);
        assert_eq!(Encoder::new().armour(&cose), text);
    }

    #[test]
    fn encoded_certificate_decodes_to_its_cose() {
        let kid = Kid::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let fixed = |_: &[u8]| Ok::<_, Infallible>(vec![7u8; 64]);
        let payload = b"\xa1\x61v\x80";
        let hc1 = Encoder::new()
            .encode_hc1(payload, &claims(), Algorithm::Es256, &kid, fixed)
            .unwrap();
        let cose = encode_cose(payload, &claims(), Algorithm::Es256, &kid, fixed).unwrap();
        let signed = vaxpass_verifier::decode(&hc1, &Limits::default()).unwrap();
        assert_eq!(signed.kid(), Some(kid));
        assert_eq!(signed.issuer(), Some("VN"));
        assert_eq!(Encoder::new().armour(&cose), hc1);
    }

    #[test]
    fn encoder_matches_the_verifiers_one_shot_encoder() {
        let kid = Kid::from_bytes(&[8, 7, 6, 5, 4, 3, 2, 1]).unwrap();
        let mut encoder = Encoder::new();
        for payload in [&b"\xa1\x61v\x80"[..], &[0x61; 300], b"\xa0"] {
            // A fixed "signature": both paths must give the same text.
            let fixed = |_: &[u8]| Ok::<_, Infallible>(vec![7u8; 64]);
            let ours = encoder
                .encode_hc1(payload, &claims(), Algorithm::Es256, &kid, fixed)
                .unwrap();
            let theirs = vaxpass_verifier::encode::encode_hc1(
                payload,
                &claims(),
                Algorithm::Es256,
                &kid,
                fixed,
            )
            .unwrap();
            assert_eq!(ours, theirs);
            assert_eq!(
                encoder.armour(payload),
                vaxpass_verifier::encode::armour(payload)
            );
        }
    }
}
