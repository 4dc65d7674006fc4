//! The [`Signer`] trait the issuer and the trust list sign with, and its software backends.
//!
//! A signer turns the bytes it is given (the COSE `Sig_structure`) into COSE signature bytes:
//! - ES256: ECDSA P-256 / SHA-256, raw `r || s`, exactly 64 bytes (RFC 9053 §2.1);
//! - PS256: RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt length 32 (RFC 8230 §2).

use std::fmt;

use vaxpass_verifier::{Algorithm, Kid};

use crate::Error;
use crate::cert::CertificateInfo;
use crate::key::{KeyError, PrivateKey};

/// Why a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The cryptographic backend failed (the message never contains key material).
    #[error("signing failed: {0}")]
    Backend(String),
    /// The backend returned a signature of the wrong shape.
    #[error("signing backend returned a {got}-byte signature, expected {expected}")]
    BadLength {
        /// What came back.
        got: usize,
        /// What HCERT needs.
        expected: usize,
    },
}

/// Something that signs HCERTs (or trust lists) with one DSC.
///
/// `Debug` is required so signers can sit in logged structures; implementations print the
/// algorithm, kid and backend, never key material.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The COSE algorithm of the signatures.
    fn algorithm(&self) -> Algorithm;
    /// The key identifier of the signer certificate.
    fn kid(&self) -> Kid;
    /// The DER signer certificate.
    fn certificate_der(&self) -> &[u8];
    /// Signs `tbs` and returns the COSE signature bytes (see the module documentation).
    ///
    /// # Errors
    /// [`SignError`] when the backend fails.
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError>;
}

impl<S: Signer + ?Sized> Signer for Box<S> {
    fn algorithm(&self) -> Algorithm {
        (**self).algorithm()
    }
    fn kid(&self) -> Kid {
        (**self).kid()
    }
    fn certificate_der(&self) -> &[u8] {
        (**self).certificate_der()
    }
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError> {
        (**self).sign(tbs)
    }
}

impl<S: Signer + ?Sized> Signer for std::sync::Arc<S> {
    fn algorithm(&self) -> Algorithm {
        (**self).algorithm()
    }
    fn kid(&self) -> Kid {
        (**self).kid()
    }
    fn certificate_der(&self) -> &[u8] {
        (**self).certificate_der()
    }
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError> {
        (**self).sign(tbs)
    }
}

/// Which implementation a [`SoftwareSigner`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SoftwareBackend {
    /// AWS-LC (feature `aws-lc`): the fast path.
    AwsLc,
    /// RustCrypto (`p256`, `rsa`): pure Rust, always available.
    RustCrypto,
}

impl SoftwareBackend {
    /// The fastest backend compiled in.
    pub const fn best() -> Self {
        if cfg!(feature = "aws-lc") {
            SoftwareBackend::AwsLc
        } else {
            SoftwareBackend::RustCrypto
        }
    }
}

enum Engine {
    #[cfg(feature = "aws-lc")]
    AwsEc(aws_lc_rs::signature::EcdsaKeyPair),
    #[cfg(feature = "aws-lc")]
    AwsRsa(aws_lc_rs::signature::RsaKeyPair),
    RustEc(p256::ecdsa::SigningKey),
    RustRsa(Box<rsa::pss::SigningKey<sha2::Sha256>>),
}

/// A signer whose private key is in memory (loaded from a key file).
pub struct SoftwareSigner {
    engine: Engine,
    backend: SoftwareBackend,
    algorithm: Algorithm,
    kid: Kid,
    certificate: Vec<u8>,
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("backend", &self.backend)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SoftwareSigner {
    /// A signer for `key` and its DSC (DER), using the fastest backend compiled in.
    ///
    /// # Errors
    /// [`KeyError::Mismatch`] if the certificate certifies another key,
    /// [`crate::cert::CertError`] if it does not parse, [`KeyError::NotAllowed`] for a key
    /// HCERT does not allow (RSA 4096 is accepted; RSA below 2048 never parses).
    pub fn new(key: &PrivateKey, certificate_der: Vec<u8>) -> Result<Self, Error> {
        Self::with_backend(key, certificate_der, SoftwareBackend::best())
    }

    /// As [`SoftwareSigner::new`] with an explicit backend (benchmarks, cross-checks).
    /// `AwsLc` without the `aws-lc` feature falls back to RustCrypto.
    ///
    /// # Errors
    /// As [`SoftwareSigner::new`].
    pub fn with_backend(
        key: &PrivateKey,
        certificate_der: Vec<u8>,
        backend: SoftwareBackend,
    ) -> Result<Self, Error> {
        let info = CertificateInfo::parse(&certificate_der)?;
        if info.public_key != key.public_key() {
            return Err(KeyError::Mismatch {
                what: format!("certificate {}", info.subject_text()),
            }
            .into());
        }
        let algorithm = key.algorithm().hcert_algorithm();
        let (engine, backend) = make_engine(key, backend)?;
        Ok(SoftwareSigner {
            engine,
            backend,
            algorithm,
            kid: info.kid,
            certificate: certificate_der,
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> SoftwareBackend {
        self.backend
    }
}

fn make_engine(
    key: &PrivateKey,
    backend: SoftwareBackend,
) -> Result<(Engine, SoftwareBackend), Error> {
    #[cfg(feature = "aws-lc")]
    if backend == SoftwareBackend::AwsLc {
        let der = key.to_pkcs8_der()?;
        let rejected = |e: aws_lc_rs::error::KeyRejected| {
            KeyError::UnsupportedPrivateKey(format!("AWS-LC rejected the key: {e}"))
        };
        let engine = match key {
            PrivateKey::EcP256(_) => Engine::AwsEc(
                aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der.as_bytes(),
                )
                .map_err(rejected)?,
            ),
            PrivateKey::Rsa(_) => Engine::AwsRsa(
                aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(rejected)?,
            ),
        };
        return Ok((engine, SoftwareBackend::AwsLc));
    }
    let _ = backend;
    let engine = match key {
        PrivateKey::EcP256(k) => Engine::RustEc(p256::ecdsa::SigningKey::from(k)),
        PrivateKey::Rsa(k) => {
            // `new` uses a salt as long as the digest: 32 bytes for SHA-256, as PS256 requires.
            Engine::RustRsa(Box::new(rsa::pss::SigningKey::<sha2::Sha256>::new(
                k.as_ref().clone(),
            )))
        }
    };
    Ok((engine, SoftwareBackend::RustCrypto))
}

impl Signer for SoftwareSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn kid(&self) -> Kid {
        self.kid
    }

    fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, SignError> {
        let backend = |e: &dyn fmt::Display| SignError::Backend(e.to_string());
        let sig = match &self.engine {
            #[cfg(feature = "aws-lc")]
            Engine::AwsEc(pair) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(&rng, tbs)
                    .map_err(|e| backend(&e))?
                    .as_ref()
                    .to_vec()
            }
            #[cfg(feature = "aws-lc")]
            Engine::AwsRsa(pair) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(&aws_lc_rs::signature::RSA_PSS_SHA256, &rng, tbs, &mut out)
                    .map_err(|e| backend(&e))?;
                out
            }
            Engine::RustEc(sk) => {
                use signature::Signer as _;
                let sig: p256::ecdsa::Signature = sk.try_sign(tbs).map_err(|e| backend(&e))?;
                sig.to_bytes().to_vec()
            }
            Engine::RustRsa(sk) => {
                use signature::{RandomizedSigner as _, SignatureEncoding as _};
                sk.try_sign_with_rng(&mut rand_core::OsRng, tbs)
                    .map_err(|e| backend(&e))?
                    .to_vec()
            }
        };
        if self.algorithm == Algorithm::Es256 && sig.len() != 64 {
            return Err(SignError::BadLength {
                got: sig.len(),
                expected: 64,
            });
        }
        Ok(sig)
    }
}

/// Verifies a COSE signature (ES256 raw `r || s` or PS256) with a certificate's public key,
/// using RustCrypto. Used by the tests and by callers who check a fresh signature before
/// handing it out.
///
/// # Errors
/// [`crate::cert::CertError::BadSignature`].
pub fn verify_cose_signature(
    certificate_der: &[u8],
    tbs: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    use signature::Verifier as _;
    let info = CertificateInfo::parse(certificate_der)?;
    let bad = crate::cert::CertError::BadSignature {
        what: "COSE signature",
    };
    match &info.public_key {
        crate::key::PublicKey::EcP256(k) => {
            let vk = p256::ecdsa::VerifyingKey::from(k);
            let sig = p256::ecdsa::Signature::from_slice(signature).map_err(|_| bad.clone())?;
            vk.verify(tbs, &sig).map_err(|_| bad)?;
        }
        crate::key::PublicKey::Rsa(k) => {
            let vk = rsa::pss::VerifyingKey::<sha2::Sha256>::new(k.clone());
            let sig = rsa::pss::Signature::try_from(signature).map_err(|_| bad.clone())?;
            vk.verify(tbs, &sig).map_err(|_| bad)?;
        }
    }
    Ok(())
}
