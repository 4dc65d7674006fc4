//! Key algorithms, software private keys, and the small trait every key that signs X.509
//! structures (certificates, CSRs) implements, whether it lives in a file or on a token.

use std::fmt;

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rand_core::OsRng;
use signature::{SignatureEncoding, Signer as _};
use spki::{AlgorithmIdentifierOwned, DecodePublicKey, SubjectPublicKeyInfoOwned};
use vaxpass_verifier::Algorithm;

use crate::signer::SignError;

/// `id-ecPublicKey` (RFC 5480).
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime256v1` / `secp256r1` (RFC 5480).
pub const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `rsaEncryption` (RFC 8017).
pub const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `ecdsa-with-SHA256` (RFC 5758).
pub const OID_ECDSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `sha256WithRSAEncryption` (RFC 8017): how RSA keys sign certificates and CSRs here.
pub const OID_SHA256_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// Why a key could not be generated, parsed or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The random generator or the key generator failed.
    #[error("key generation failed ({algorithm}): {reason}")]
    Generation {
        /// The requested algorithm.
        algorithm: KeyAlgorithm,
        /// What failed (never key material).
        reason: String,
    },
    /// A PKCS#8 structure holds no key we support.
    #[error("unsupported private key: {0} (expected EC P-256 or RSA 2048-4096)")]
    UnsupportedPrivateKey(String),
    /// A public key we do not support (wrong curve, RSA too short, other algorithm).
    #[error("unsupported public key: {0}")]
    UnsupportedPublicKey(String),
    /// The key does not fit the role it was offered for.
    #[error("a {found} key cannot be used here: {allowed}")]
    NotAllowed {
        /// The key's algorithm.
        found: KeyAlgorithm,
        /// What this role accepts.
        allowed: &'static str,
    },
    /// The private key and a certificate or CSR name different public keys.
    #[error("the private key does not belong to {what}")]
    Mismatch {
        /// Which certificate or request.
        what: String,
    },
}

/// The key algorithms and sizes vaxpass generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (signs HCERT with ES256).
    EcP256,
    /// RSA, 2048-bit modulus (signs HCERT with PS256).
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus.
    Rsa4096,
}

impl KeyAlgorithm {
    /// The short name used in files and on the command line (`p256`, `rsa2048`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcP256 => "p256",
            KeyAlgorithm::Rsa2048 => "rsa2048",
            KeyAlgorithm::Rsa3072 => "rsa3072",
            KeyAlgorithm::Rsa4096 => "rsa4096",
        }
    }

    /// Parses [`KeyAlgorithm::name`]; also accepts `es256` for P-256.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "p256" | "p-256" | "ec" | "es256" => Some(KeyAlgorithm::EcP256),
            "rsa2048" | "rsa-2048" => Some(KeyAlgorithm::Rsa2048),
            "rsa3072" | "rsa-3072" => Some(KeyAlgorithm::Rsa3072),
            "rsa4096" | "rsa-4096" => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        }
    }

    /// The HCERT (COSE) algorithm a key of this kind signs with.
    pub const fn hcert_algorithm(self) -> Algorithm {
        match self {
            KeyAlgorithm::EcP256 => Algorithm::Es256,
            _ => Algorithm::Ps256,
        }
    }

    /// The RSA modulus size, `None` for EC.
    pub const fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyAlgorithm::EcP256 => None,
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa3072 => Some(3072),
            KeyAlgorithm::Rsa4096 => Some(4096),
        }
    }

    fn from_rsa_bits(bits: usize) -> Option<Self> {
        match bits {
            2048 => Some(KeyAlgorithm::Rsa2048),
            3072 => Some(KeyAlgorithm::Rsa3072),
            4096 => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A public key of a kind vaxpass accepts, with its SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// EC P-256.
    EcP256(p256::PublicKey),
    /// RSA 2048, 3072 or 4096 bits.
    Rsa(rsa::RsaPublicKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.algorithm())
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedPublicKey`] for anything but P-256 and RSA 2048/3072/4096.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, KeyError> {
        let der = spki
            .to_der()
            .map_err(|e| KeyError::UnsupportedPublicKey(e.to_string()))?;
        Self::from_spki_der(&der)
    }

    /// Parses DER SubjectPublicKeyInfo bytes.
    ///
    /// # Errors
    /// As [`PublicKey::from_spki`].
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::UnsupportedPublicKey(e.to_string()))?;
        if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
            let curve: Option<ObjectIdentifier> = spki
                .algorithm
                .parameters
                .and_then(|p: AnyRef<'_>| p.decode_as().ok());
            if curve != Some(OID_P256) {
                return Err(KeyError::UnsupportedPublicKey(format!(
                    "EC curve {} (only P-256 / 1.2.840.10045.3.1.7)",
                    curve.map_or_else(|| "missing".to_owned(), |c| c.to_string())
                )));
            }
            p256::PublicKey::from_public_key_der(der)
                .map(PublicKey::EcP256)
                .map_err(|e| KeyError::UnsupportedPublicKey(format!("EC point: {e}")))
        } else if spki.algorithm.oid == OID_RSA_ENCRYPTION {
            let key = rsa::RsaPublicKey::from_public_key_der(der)
                .map_err(|e| KeyError::UnsupportedPublicKey(format!("RSA key: {e}")))?;
            let key = PublicKey::Rsa(key);
            // Checked here so every caller gets the size rule.
            key.checked_algorithm()?;
            Ok(key)
        } else {
            Err(KeyError::UnsupportedPublicKey(format!(
                "algorithm {}",
                spki.algorithm.oid
            )))
        }
    }

    fn checked_algorithm(&self) -> Result<KeyAlgorithm, KeyError> {
        match self {
            PublicKey::EcP256(_) => Ok(KeyAlgorithm::EcP256),
            PublicKey::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                let bits = k.n().bits();
                KeyAlgorithm::from_rsa_bits(bits).ok_or_else(|| {
                    KeyError::UnsupportedPublicKey(format!(
                        "RSA modulus of {bits} bits (2048, 3072 or 4096 expected)"
                    ))
                })
            }
        }
    }

    /// The key's algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.checked_algorithm() {
            Ok(a) => a,
            // Only reachable for RSA keys built outside `from_spki*`; reported as the smallest.
            Err(_) => KeyAlgorithm::Rsa2048,
        }
    }

    /// The DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedPublicKey`] if encoding fails.
    pub fn to_spki(&self) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
        let doc = match self {
            PublicKey::EcP256(k) => k.to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
        }
        .map_err(|e| KeyError::UnsupportedPublicKey(e.to_string()))?;
        SubjectPublicKeyInfoOwned::from_der(doc.as_bytes())
            .map_err(|e| KeyError::UnsupportedPublicKey(e.to_string()))
    }
}

/// The X.509 signature algorithm identifier a key of this kind uses for certificates and CSRs.
pub(crate) fn x509_signature_algorithm(alg: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    match alg {
        KeyAlgorithm::EcP256 => AlgorithmIdentifierOwned {
            oid: OID_ECDSA_WITH_SHA256,
            parameters: None,
        },
        _ => AlgorithmIdentifierOwned {
            oid: OID_SHA256_WITH_RSA,
            parameters: Some(der::asn1::Any::null()),
        },
    }
}

/// A key that can sign X.509 structures (certificates and PKCS#10 requests).
///
/// Implemented by software keys ([`PrivateKey`]) and by PKCS#11 token keys; the certificate
/// code only sees this trait, so a CSR for a token key is signed on the token.
///
/// EC keys sign with `ecdsa-with-SHA256` (DER `Ecdsa-Sig-Value`), RSA keys with
/// `sha256WithRSAEncryption` (PKCS#1 v1.5), the algorithms every X.509 stack accepts.
pub trait CertificateSigningKey {
    /// The public key.
    ///
    /// # Errors
    /// When the key's public half cannot be read (a token error) or is unsupported.
    fn public_key(&self) -> Result<PublicKey, crate::Error>;

    /// Signs `tbs` (the DER of a TBSCertificate or CertificationRequestInfo) and returns the
    /// bytes of the signature BIT STRING.
    ///
    /// # Errors
    /// [`SignError`] when the backend fails.
    fn sign_x509(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A software private key (P-256 or RSA).
///
/// `Debug` prints only the algorithm; the key material is zeroized on drop by the underlying
/// RustCrypto types.
#[derive(Clone)]
pub enum PrivateKey {
    /// EC P-256.
    EcP256(p256::SecretKey),
    /// RSA.
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.algorithm())
    }
}

impl PrivateKey {
    /// Generates a fresh key from the operating system's random generator.
    ///
    /// RSA keys are generated by AWS-LC when the `aws-lc` feature is on (much faster), otherwise
    /// by the `rsa` crate.
    ///
    /// # Errors
    /// [`KeyError::Generation`] if the generator fails.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let gen_err = |reason: String| KeyError::Generation { algorithm, reason };
        match algorithm.rsa_bits() {
            None => Ok(PrivateKey::EcP256(p256::SecretKey::random(&mut OsRng))),
            Some(bits) => {
                #[cfg(feature = "aws-lc")]
                {
                    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
                    use aws_lc_rs::rsa::{KeyPair, KeySize};
                    let size = match bits {
                        2048 => KeySize::Rsa2048,
                        3072 => KeySize::Rsa3072,
                        _ => KeySize::Rsa4096,
                    };
                    let pair = KeyPair::generate(size).map_err(|e| gen_err(e.to_string()))?;
                    let der: Pkcs8V1Der<'static> =
                        pair.as_der().map_err(|e| gen_err(e.to_string()))?;
                    let key = rsa::RsaPrivateKey::from_pkcs8_der(der.as_ref())
                        .map_err(|e| gen_err(e.to_string()))?;
                    Ok(PrivateKey::Rsa(Box::new(key)))
                }
                #[cfg(not(feature = "aws-lc"))]
                {
                    let key = rsa::RsaPrivateKey::new(&mut OsRng, bits)
                        .map_err(|e| gen_err(e.to_string()))?;
                    Ok(PrivateKey::Rsa(Box::new(key)))
                }
            }
        }
    }

    /// Parses an unencrypted PKCS#8 DER private key.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedPrivateKey`] (the message never contains key bytes).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = pkcs8::PrivateKeyInfo::try_from(der)
            .map_err(|_| KeyError::UnsupportedPrivateKey("not a PKCS#8 PrivateKeyInfo".into()))?;
        let oid = info.algorithm.oid;
        if oid == OID_EC_PUBLIC_KEY {
            p256::SecretKey::from_pkcs8_der(der)
                .map(PrivateKey::EcP256)
                .map_err(|_| {
                    KeyError::UnsupportedPrivateKey("EC key that is not a valid P-256 key".into())
                })
        } else if oid == OID_RSA_ENCRYPTION {
            let key = rsa::RsaPrivateKey::from_pkcs8_der(der)
                .map_err(|_| KeyError::UnsupportedPrivateKey("malformed RSA key".into()))?;
            let key = PrivateKey::Rsa(Box::new(key));
            key.public_key().checked_algorithm()?;
            Ok(key)
        } else {
            Err(KeyError::UnsupportedPrivateKey(format!("algorithm {oid}")))
        }
    }

    /// The PKCS#8 DER encoding (zeroized on drop).
    ///
    /// # Errors
    /// [`KeyError::UnsupportedPrivateKey`] if encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<pkcs8::SecretDocument, KeyError> {
        match self {
            PrivateKey::EcP256(k) => k.to_pkcs8_der(),
            PrivateKey::Rsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|_| KeyError::UnsupportedPrivateKey("PKCS#8 encoding failed".into()))
    }

    /// The algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public_key().algorithm()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::EcP256(k) => PublicKey::EcP256(k.public_key()),
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
        }
    }
}

impl CertificateSigningKey for PrivateKey {
    fn public_key(&self) -> Result<PublicKey, crate::Error> {
        Ok(PrivateKey::public_key(self))
    }

    fn sign_x509(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError> {
        match self {
            PrivateKey::EcP256(k) => {
                let sk = p256::ecdsa::SigningKey::from(k);
                let sig: p256::ecdsa::Signature = sk
                    .try_sign(tbs)
                    .map_err(|e| SignError::Backend(e.to_string()))?;
                Ok(sig.to_der().to_vec())
            }
            PrivateKey::Rsa(k) => {
                let sk = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(k.as_ref().clone());
                let sig = sk
                    .try_sign(tbs)
                    .map_err(|e| SignError::Backend(e.to_string()))?;
                Ok(sig.to_vec())
            }
        }
    }
}
