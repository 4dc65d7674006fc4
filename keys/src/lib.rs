//! The vaxpass signing PKI: country signing CA (CSCA), document signer certificates (DSC) and the
//! trust-list signer; key storage; the [`Signer`] trait with software and PKCS#11 backends; the
//! key directory manifest that drives rotation.
//!
//! ```
//! use vaxpass_keys::{cert, profile::*, key::*, signer::*};
//! use vaxpass_verifier::Timestamp;
//!
//! # fn main() -> Result<(), vaxpass_keys::Error> {
//! let now = Timestamp::from_unix_seconds(1_767_225_600); // 2026-01-01
//! // Offline CSCA.
//! let csca_key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
//! let csca = cert::issue_csca(
//!     &csca_key,
//!     &CscaProfile::new(DistinguishedName::new("VN", "Ministry of Health", "VN CSCA"), now),
//! )?;
//! // The DSC key is generated where it lives; only its CSR travels to the CSCA.
//! let dsc_key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
//! let csr = cert::create_csr(&dsc_key, &DistinguishedName::new("VN", "Ministry of Health", "DSC 1"))?;
//! // The CSCA checks the proof of possession and chooses the profile.
//! let verified = cert::VerifiedCsr::verify(&csr)?;
//! let dsc = cert::issue_dsc(&csca, &csca_key, &verified,
//!     &DscProfile::new(&[CertType::Vaccination, CertType::Test], now))?;
//! // Sign a COSE Sig_structure.
//! let signer = SoftwareSigner::new(&dsc_key, dsc)?;
//! let sig = signer.sign(b"Sig_structure bytes")?;
//! assert_eq!(sig.len(), 64);
//! verify_cose_signature(signer.certificate_der(), b"Sig_structure bytes", &sig)?;
//! # Ok(()) }
//! ```
//!
//! # Crate features
//! - `aws-lc`: AWS-LC signing (the fast path) and fast RSA key generation. RustCrypto is always
//!   built and used otherwise.
//! - `pkcs11`: keys on a PKCS#11 token (`cryptoki`), tested against SoftHSM2.
//! - `cli`: the `vaxpass-keys` binary (implies both).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cert;
pub mod dev;
mod error;
pub mod key;
pub mod manifest;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod profile;
pub mod signer;
pub mod storage;

pub use error::Error;
pub use key::{CertificateSigningKey, KeyAlgorithm, PrivateKey, PublicKey};
pub use profile::{CertType, DistinguishedName};
pub use signer::{SignError, Signer, SoftwareBackend, SoftwareSigner};
pub use storage::Passphrase;
