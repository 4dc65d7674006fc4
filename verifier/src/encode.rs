//! The issuing direction: payload → CWT → COSE_Sign1 (signed by a closure) → zlib → Base45 →
//! `HC1:` text.
//!
//! [`encode_cose`] (CWT and COSE_Sign1, the codec's own writers) is always built. The rest
//! compresses, and the verifier has no compressor of its own: `armour`, `encode_hc1` and
//! `encode_dcc` are one-shot conveniences (tests, tools, third parties issuing a few
//! certificates) behind the feature `encode`, on miniz_oxide's level 9. The issuer's
//! high-volume path (a compressor kept per thread) is `vaxpass-issuer-issuance`.

#[cfg(any(test, feature = "encode"))]
use crate::hc1;
#[cfg(any(test, feature = "encode"))]
use crate::model::Dcc;
use crate::{Algorithm, Kid, Timestamp, cose, cwt};

/// The CWT claims an issuer sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssueClaims<'a> {
    /// Claim 1, the issuing country (ISO 3166 alpha-2).
    pub iss: Option<&'a str>,
    /// Claim 6, issued at.
    pub iat: Timestamp,
    /// Claim 4, expiry.
    pub exp: Timestamp,
}

/// Builds the signed COSE_Sign1 for a payload given as CBOR (copied verbatim into the claims).
/// `sign` receives the `Sig_structure` and must return an `alg` signature (ES256: raw `r || s`,
/// 64 bytes; PS256: RSASSA-PSS SHA-256, salt 32).
///
/// # Errors
/// Whatever `sign` returns.
pub fn encode_cose<E>(
    payload_cbor: &[u8],
    claims: &IssueClaims<'_>,
    alg: Algorithm,
    kid: &Kid,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    let cwt = cwt::encode(claims.iss, claims.iat, claims.exp, payload_cbor);
    cose::sign1(alg.cose_id(), kid.as_bytes(), &cwt, sign)
}

/// Compresses and armours a COSE_Sign1: zlib (miniz_oxide, level 9), Base45, `HC1:` prefix.
#[cfg(any(test, feature = "encode"))]
pub fn armour(cose_sign1: &[u8]) -> String {
    hc1::armour_zlib(&miniz_oxide::deflate::compress_to_vec_zlib(cose_sign1, 9))
}

/// Encodes a CBOR payload into an `HC1:` string.
///
/// # Errors
/// Whatever `sign` returns.
#[cfg(any(test, feature = "encode"))]
pub fn encode_hc1<E>(
    payload_cbor: &[u8],
    claims: &IssueClaims<'_>,
    alg: Algorithm,
    kid: &Kid,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, E> {
    encode_cose(payload_cbor, claims, alg, kid, sign).map(|c| armour(&c))
}

/// Encodes a typed payload into an `HC1:` string.
///
/// # Errors
/// Whatever `sign` returns.
#[cfg(any(test, feature = "encode"))]
pub fn encode_dcc<E>(
    dcc: &Dcc,
    claims: &IssueClaims<'_>,
    alg: Algorithm,
    kid: &Kid,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, E> {
    encode_hc1(&dcc.to_cbor(), claims, alg, kid, sign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CertificateType, Entries, Name, Recovery};
    use crate::{Limits, TrustStore, TrustedSigner, Verifier};
    use crate::{base45, testutil};
    use proptest::prelude::*;
    use std::convert::Infallible;

    const IAT: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);
    const EXP: Timestamp = Timestamp::from_unix_seconds(1_800_000_000);
    const NOW: Timestamp = Timestamp::from_unix_seconds(1_750_000_000);

    fn claims() -> IssueClaims<'static> {
        IssueClaims {
            iss: Some("VN"),
            iat: IAT,
            exp: EXP,
        }
    }

    fn vaccination() -> Dcc {
        serde_json::from_str(crate::model::tests::VACCINATION).unwrap()
    }

    #[test]
    fn es256_round_trip() {
        let (der, sk) = testutil::p256_cert(None);
        let kid = Kid::from_certificate_der(&der);
        let dcc = vaccination();
        let hc1 = encode_dcc(&dcc, &claims(), Algorithm::Es256, &kid, |tbs| {
            Ok::<_, Infallible>(testutil::es256_sign(&sk, tbs))
        })
        .unwrap();
        assert!(hc1.starts_with("HC1:"));
        let store = TrustStore::from_der_certificates([&der[..]]).unwrap();
        let mut verifier = Verifier::new(store);
        let verified = verifier.verify(&hc1, NOW).unwrap();
        assert_eq!(verified.dcc().unwrap(), dcc);
        assert_eq!(verified.certificate_type(), CertificateType::Vaccination);
        assert_eq!(verified.signer().kid(), kid);
        assert_eq!(verified.signed().issuer(), Some("VN"));
        assert_eq!(verified.signed().issued_at(), Some(IAT));
        assert_eq!(verified.signed().expires_at(), Some(EXP));
        // Times.
        let mut code = |at| verifier.verify(&hc1, at).map(|_| ()).unwrap_err().code();
        assert_eq!(code(Timestamp::from_unix_seconds(1_800_000_001)), "EXPIRED");
        assert_eq!(
            code(Timestamp::from_unix_seconds(1_699_999_999)),
            "NOT_YET_VALID"
        );
        // Unknown kid.
        let mut empty = Verifier::new(TrustStore::new());
        assert_eq!(empty.verify(&hc1, NOW).unwrap_err().code(), "KID_UNKNOWN");
    }

    #[test]
    fn ps256_round_trip_and_key_usage() {
        let (der, sk) = testutil::rsa_cert(Some(&["1.3.6.1.4.1.1847.2021.1.1"]));
        let kid = Kid::from_certificate_der(&der);
        let hc1 = encode_dcc(&vaccination(), &claims(), Algorithm::Ps256, &kid, |tbs| {
            Ok::<_, Infallible>(testutil::ps256_sign(sk, tbs))
        })
        .unwrap();
        let signer = TrustedSigner::from_der(&der).unwrap();
        let signed = crate::decode(&hc1, &Limits::default()).unwrap();
        signed.verify_signature_with(&signer).unwrap();
        signed.check_validity(&signer, NOW).unwrap();
        let err = signed.check_key_usage(&signer).unwrap_err();
        assert_eq!(err.code(), "KEY_USAGE");
        assert_eq!(
            err.to_string(),
            "the signer may sign test, not a vaccination certificate"
        );
        let store = TrustStore::from_der_certificates([&der[..]]).unwrap();
        assert_eq!(signed.verify(&store, NOW).unwrap_err().code(), "KEY_USAGE");
    }

    #[test]
    fn tampering_and_wrong_algorithm() {
        let (der, sk) = testutil::p256_cert(None);
        let kid = Kid::from_certificate_der(&der);
        let store = TrustStore::from_der_certificates([&der[..]]).unwrap();
        // Claims PS256 but the key is P-256.
        let hc1 = encode_dcc(&vaccination(), &claims(), Algorithm::Ps256, &kid, |tbs| {
            Ok::<_, Infallible>(testutil::es256_sign(&sk, tbs))
        })
        .unwrap();
        let err = crate::decode(&hc1, &Limits::default())
            .unwrap()
            .verify(&store, NOW)
            .unwrap_err();
        assert_eq!(err.code(), "ALGORITHM");
        assert_eq!(
            err.to_string(),
            "header algorithm PS256 does not match the signer's EC P-256 key"
        );
        // Signature over something else.
        let hc1 = encode_dcc(&vaccination(), &claims(), Algorithm::Es256, &kid, |_| {
            Ok::<_, Infallible>(testutil::es256_sign(&sk, b"other"))
        })
        .unwrap();
        let err = crate::decode(&hc1, &Limits::default())
            .unwrap()
            .verify(&store, NOW)
            .unwrap_err();
        assert_eq!(err.code(), "SIGNATURE");
        // A second signer under the same kid with a wrong key is skipped.
        let (_, other_sk) = testutil::p256_cert(None);
        let hc1 = encode_dcc(&vaccination(), &claims(), Algorithm::Es256, &kid, |tbs| {
            Ok::<_, Infallible>(testutil::es256_sign(&other_sk, tbs))
        })
        .unwrap();
        assert_eq!(
            Verifier::new(store).verify(&hc1, NOW).unwrap_err().code(),
            "SIGNATURE"
        );
    }

    #[test]
    fn decoding_failures_have_codes() {
        let mut v = Verifier::new(TrustStore::new());
        let code = |v: &mut Verifier, s: &str| v.decode(s).unwrap_err().code();
        assert_eq!(code(&mut v, &"A".repeat(2_000_000)), "INPUT_TOO_LARGE");
        assert_eq!(code(&mut v, "HC2:6BF"), "PREFIX");
        assert_eq!(code(&mut v, "HC1:6BFa"), "BASE45");
        assert_eq!(
            code(&mut v, &format!("HC1:{}", base45::encode(b"\xd2\x84"))),
            "COMPRESSION"
        );
        assert_eq!(code(&mut v, &armour(b"\x80")), "COSE");
        // COSE fine, claims not CBOR.
        let cose =
            cose::sign1::<Infallible>(-7, b"12345678", b"\xff", |_| Ok(vec![0; 64])).unwrap();
        assert_eq!(code(&mut v, &armour(&cose)), "CBOR");
        let cose =
            cose::sign1::<Infallible>(-7, b"12345678", b"\xa0", |_| Ok(vec![0; 64])).unwrap();
        assert_eq!(code(&mut v, &armour(&cose)), "PAYLOAD");
        // No kid.
        let mut w = crate::cbor::Writer::new();
        w.tag(18)
            .array(4)
            .bytes(b"\xa1\x01\x26")
            .map(0)
            .bytes(&cwt::encode(None, IAT, EXP, b"\xa0"))
            .bytes(&[0; 64]);
        let signed = v.decode(&armour(&w.into_bytes())).unwrap();
        assert_eq!(
            signed.verify(&TrustStore::new(), NOW).unwrap_err().code(),
            "KID_MISSING"
        );
    }

    #[test]
    fn recovery_model_round_trip() {
        let (der, sk) = testutil::p256_cert(Some(&["1.3.6.1.4.1.0.1847.2021.1.3"]));
        let kid = Kid::from_certificate_der(&der);
        let dcc = Dcc {
            ver: "1.3.0".into(),
            nam: Name {
                family_name_std: Some("TRAN".into()),
                ..Name::default()
            },
            dob: "1980".into(),
            entries: Entries::Recovery(vec![Recovery {
                tg: "840539006".into(),
                fr: "2021-05-01".into(),
                co: "VN".into(),
                is: "MoH".into(),
                df: "2021-05-11".into(),
                du: "2021-11-01".into(),
                ci: "URN:UVCI:01:VN:R1".into(),
            }]),
        };
        let hc1 = encode_dcc(&dcc, &claims(), Algorithm::Es256, &kid, |tbs| {
            Ok::<_, Infallible>(testutil::es256_sign(&sk, tbs))
        })
        .unwrap();
        let store = TrustStore::from_der_certificates([&der[..]]).unwrap();
        let verified = Verifier::new(store).verify(&hc1, NOW).unwrap();
        assert_eq!(verified.dcc().unwrap(), dcc);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn encode_decode_verify(
            family in "[A-Z<]{1,40}",
            given in proptest::option::of("\\PC{0,30}"),
            dn in 1u32..10,
            iat in 1_610_000_000i64..1_900_000_000,
            lifetime in 1i64..100_000_000,
            iss in proptest::option::of("[A-Z]{2}|\\PC{0,20}"),
        ) {
            static KEY: std::sync::OnceLock<(Vec<u8>, p256::ecdsa::SigningKey)> = std::sync::OnceLock::new();
            let (der, sk) = KEY.get_or_init(|| testutil::p256_cert(None));
            let kid = Kid::from_certificate_der(der);
            let mut dcc = vaccination();
            dcc.nam.family_name_std = Some(family);
            dcc.nam.given_name = given;
            if let Entries::Vaccination(v) = &mut dcc.entries { v[0].dn = dn; }
            let claims = IssueClaims {
                iss: iss.as_deref(),
                iat: Timestamp::from_unix_seconds(iat),
                exp: Timestamp::from_unix_seconds(iat + lifetime),
            };
            let hc1 = encode_dcc(&dcc, &claims, Algorithm::Es256, &kid, |tbs| {
                Ok::<_, Infallible>(testutil::es256_sign(sk, tbs))
            }).unwrap();
            let store = TrustStore::from_der_certificates([&der[..]]).unwrap();
            let verified = Verifier::new(store).verify(&hc1, Timestamp::from_unix_seconds(iat)).unwrap();
            prop_assert_eq!(verified.dcc().unwrap(), dcc);
            prop_assert_eq!(verified.signed().issuer(), claims.iss);
            prop_assert_eq!(verified.signed().expires_at(), Some(claims.exp));
        }

        #[test]
        fn random_input_never_panics(text in "HC1:[0-9A-Z $%*+./:-]{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut v = Verifier::new(TrustStore::new());
            let _ = v.verify(&text, NOW);
            let _ = crate::SignedHcert::from_cose(bytes.clone(), &Limits::default());
            // Random bytes behind a valid zlib + Base45 + prefix reach the COSE parser.
            let _ = v.verify(&armour(&bytes), NOW);
        }
    }
}
