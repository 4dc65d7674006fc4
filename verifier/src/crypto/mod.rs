//! Signature verification behind a small backend choice.
//!
//! A [`PreparedKey`] is built once per trusted signer (SPKI parsed, curve point decoded, RSA
//! modulus checked) and then verifies many signatures. Two backends:
//! - [`Backend::RustCrypto`] (`p256`, `rsa`): pure Rust, always built, works on `wasm32`;
//! - [`Backend::AwsLc`] (feature `aws-lc`): AWS-LC through `aws-lc-rs`, faster; the default
//!   when the feature is on.
//!
//! HCERT allows ES256 (EC P-256, raw `r || s` signature of 64 bytes) and PS256 (RSASSA-PSS,
//! SHA-256, MGF1/SHA-256, salt 32, RSA ≥ 2048 bits) (HCERT spec §3.3.2). The header `alg` must
//! match the key type: an EC P-384 key under `alg` -7 (as in dgc-testdata ES 401-403) is an
//! [`SignatureError::AlgorithmMismatch`], never verified as ES384.

#[cfg(feature = "aws-lc")]
mod awslc;
mod rustcrypto;

use crate::Algorithm;
use der::Decode;
use std::fmt;

/// The kind of public key in a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFamily {
    /// EC on P-256 (the ES256 curve).
    EcP256,
    /// EC on P-384 (not an HCERT key; kept so the mismatch can be reported).
    EcP384,
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
}

impl KeyFamily {
    /// The HCERT algorithm this key can verify, if any.
    pub fn algorithm(self) -> Option<Algorithm> {
        match self {
            KeyFamily::EcP256 => Some(Algorithm::Es256),
            KeyFamily::Rsa { .. } => Some(Algorithm::Ps256),
            KeyFamily::EcP384 => None,
        }
    }
}

impl fmt::Display for KeyFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFamily::EcP256 => f.write_str("EC P-256"),
            KeyFamily::EcP384 => f.write_str("EC P-384"),
            KeyFamily::Rsa { bits } => write!(f, "RSA-{bits}"),
        }
    }
}

/// Which implementation verifies signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// Pure-Rust `p256` / `rsa`.
    RustCrypto,
    /// AWS-LC (feature `aws-lc`).
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

impl Default for Backend {
    /// AWS-LC when built with feature `aws-lc`, else RustCrypto.
    fn default() -> Self {
        #[cfg(feature = "aws-lc")]
        return Backend::AwsLc;
        #[cfg(not(feature = "aws-lc"))]
        return Backend::RustCrypto;
    }
}

/// Why a public key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The SubjectPublicKeyInfo is not valid DER.
    #[error("public key info is not valid DER: {0}")]
    Der(String),
    /// Neither id-ecPublicKey nor rsaEncryption, or an EC curve other than P-256 / P-384.
    #[error("unsupported public key type {0}")]
    Unsupported(String),
    /// RSA below 2048 bits.
    #[error("RSA key of {bits} bits is too small (at least 2048 required)")]
    RsaTooSmall {
        /// Modulus size.
        bits: usize,
    },
    /// The key bytes are malformed for their type.
    #[error("invalid {family} public key")]
    Invalid {
        /// The declared key type.
        family: KeyFamily,
    },
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The header algorithm cannot be used with this key.
    #[error("algorithm {alg} does not match the signer's {key} key")]
    AlgorithmMismatch {
        /// The header algorithm.
        alg: Algorithm,
        /// The signer's key.
        key: KeyFamily,
    },
    /// The signature has the wrong length for the algorithm and key.
    #[error("{alg} signature is {len} bytes, expected {expected}")]
    Length {
        /// The algorithm.
        alg: Algorithm,
        /// The length found.
        len: usize,
        /// The length required.
        expected: usize,
    },
    /// The signature does not match the message and key.
    #[error("{alg} signature does not verify")]
    Invalid {
        /// The algorithm.
        alg: Algorithm,
    },
}

/// A public key parsed once, ready to verify signatures.
pub struct PreparedKey {
    family: KeyFamily,
    inner: Inner,
    /// The SubjectPublicKeyInfo it was made from (for a caller that verifies elsewhere).
    spki: Vec<u8>,
}

enum Inner {
    /// A key HCERT cannot use (P-384): every verification is an algorithm mismatch.
    Unusable,
    RustCrypto(rustcrypto::Key),
    #[cfg(feature = "aws-lc")]
    AwsLc(awslc::Key),
}

impl fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.inner {
            Inner::Unusable => "none",
            Inner::RustCrypto(_) => "RustCrypto",
            #[cfg(feature = "aws-lc")]
            Inner::AwsLc(_) => "AWS-LC",
        };
        f.debug_struct("PreparedKey")
            .field("family", &self.family)
            .field("backend", &backend)
            .finish()
    }
}

const OID_EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA_ENCRYPTION: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_P256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.34");

impl PreparedKey {
    /// Parses a DER SubjectPublicKeyInfo (EC P-256, RSA ≥ 2048; EC P-384 is accepted but can
    /// verify nothing, so that its use is reported as an algorithm mismatch).
    ///
    /// # Errors
    /// [`KeyError`] for malformed DER, another key type, or RSA below 2048 bits.
    pub fn from_spki_der(spki_der: &[u8], backend: Backend) -> Result<Self, KeyError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|e| KeyError::Der(e.to_string()))?;
        let key_bits = spki.subject_public_key.as_bytes().ok_or(KeyError::Der(
            "public key bit string has unused bits".into(),
        ))?;
        let family = if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
            match spki.algorithm.parameters_oid() {
                Ok(OID_P256) => KeyFamily::EcP256,
                Ok(OID_P384) => KeyFamily::EcP384,
                Ok(other) => return Err(KeyError::Unsupported(format!("EC curve {other}"))),
                Err(_) => return Err(KeyError::Unsupported("EC key without a named curve".into())),
            }
        } else if spki.algorithm.oid == OID_RSA_ENCRYPTION {
            let bits = rustcrypto::rsa_bits(key_bits)?;
            if bits < 2048 {
                return Err(KeyError::RsaTooSmall { bits });
            }
            KeyFamily::Rsa { bits }
        } else {
            return Err(KeyError::Unsupported(spki.algorithm.oid.to_string()));
        };
        let inner = match (family, backend) {
            (KeyFamily::EcP384, _) => Inner::Unusable,
            (_, Backend::RustCrypto) => Inner::RustCrypto(rustcrypto::Key::new(family, key_bits)?),
            #[cfg(feature = "aws-lc")]
            (_, Backend::AwsLc) => Inner::AwsLc(awslc::Key::new(family, key_bits)?),
        };
        Ok(PreparedKey {
            family,
            inner,
            spki: spki_der.to_vec(),
        })
    }

    /// The DER SubjectPublicKeyInfo the key was made from (what WebCrypto's `importKey`
    /// takes as `"spki"`).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The key type.
    pub fn family(&self) -> KeyFamily {
        self.family
    }

    /// Verifies `sig` over `msg` with `alg`.
    ///
    /// # Errors
    /// [`SignatureError::AlgorithmMismatch`] when `alg` does not fit the key type,
    /// [`SignatureError::Length`] for a signature of the wrong size (ES256 needs exactly 64
    /// bytes, PS256 the modulus size), [`SignatureError::Invalid`] when it does not verify.
    pub fn verify(&self, alg: Algorithm, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        if self.family.algorithm() != Some(alg) {
            return Err(SignatureError::AlgorithmMismatch {
                alg,
                key: self.family,
            });
        }
        let expected = match self.family {
            KeyFamily::Rsa { bits } => bits.div_ceil(8),
            _ => 64,
        };
        if sig.len() != expected {
            return Err(SignatureError::Length {
                alg,
                len: sig.len(),
                expected,
            });
        }
        let ok = match &self.inner {
            Inner::Unusable => false,
            Inner::RustCrypto(k) => k.verify(msg, sig),
            #[cfg(feature = "aws-lc")]
            Inner::AwsLc(k) => k.verify(msg, sig),
        };
        if ok {
            Ok(())
        } else {
            Err(SignatureError::Invalid { alg })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;

    fn backends() -> Vec<Backend> {
        vec![
            Backend::RustCrypto,
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc,
        ]
    }

    #[test]
    fn es256_both_backends() {
        let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let spki = sk.verifying_key().to_public_key_der().unwrap();
        let sig: p256::ecdsa::Signature = sk.sign(b"message");
        let sig = sig.to_bytes();
        for backend in backends() {
            let key = PreparedKey::from_spki_der(spki.as_bytes(), backend).unwrap();
            assert_eq!(key.family(), KeyFamily::EcP256);
            assert_eq!(key.verify(Algorithm::Es256, b"message", &sig), Ok(()));
            assert_eq!(
                key.verify(Algorithm::Es256, b"messagE", &sig),
                Err(SignatureError::Invalid {
                    alg: Algorithm::Es256
                })
            );
            assert_eq!(
                key.verify(Algorithm::Es256, b"message", &sig[..3]),
                Err(SignatureError::Length {
                    alg: Algorithm::Es256,
                    len: 3,
                    expected: 64
                })
            );
            assert_eq!(
                key.verify(Algorithm::Ps256, b"message", &sig),
                Err(SignatureError::AlgorithmMismatch {
                    alg: Algorithm::Ps256,
                    key: KeyFamily::EcP256
                })
            );
            // r = 0 is not a valid signature, and must not panic.
            assert!(key.verify(Algorithm::Es256, b"message", &[0; 64]).is_err());
            assert!(
                key.verify(Algorithm::Es256, b"message", &[0xff; 64])
                    .is_err()
            );
        }
    }

    #[test]
    fn ps256_both_backends() {
        use rsa::pkcs8::EncodePublicKey as _;
        let sk = crate::testutil::rsa_key();
        let spki = sk.to_public_key().to_public_key_der().unwrap();
        let sig = crate::testutil::ps256_sign(sk, b"message");
        for backend in backends() {
            let key = PreparedKey::from_spki_der(spki.as_bytes(), backend).unwrap();
            assert_eq!(key.family(), KeyFamily::Rsa { bits: 2048 });
            assert_eq!(key.verify(Algorithm::Ps256, b"message", &sig), Ok(()));
            assert!(key.verify(Algorithm::Ps256, b"other", &sig).is_err());
            assert!(matches!(
                key.verify(Algorithm::Es256, b"message", &sig),
                Err(SignatureError::AlgorithmMismatch { .. })
            ));
        }
    }

    #[test]
    fn small_rsa_and_garbage_refused() {
        use rsa::pkcs8::EncodePublicKey as _;
        // A 1024-bit public key (modulus of 2^1023 + 1 is enough for the size check).
        let mut n = vec![0u8; 128];
        n[0] = 0x80;
        n[127] = 1;
        let pk = rsa::RsaPublicKey::new_unchecked(
            rsa::BigUint::from_bytes_be(&n),
            rsa::BigUint::from(65537u32),
        );
        let spki = pk.to_public_key_der().unwrap();
        assert_eq!(
            PreparedKey::from_spki_der(spki.as_bytes(), Backend::RustCrypto).unwrap_err(),
            KeyError::RsaTooSmall { bits: 1024 }
        );
        assert!(matches!(
            PreparedKey::from_spki_der(b"\x30\x00", Backend::default()),
            Err(KeyError::Der(_))
        ));
    }
}
