//! The crate's error type, built from one typed sub-enum per module.

use crate::cert::CertError;
use crate::key::KeyError;
use crate::manifest::ManifestError;
use crate::signer::SignError;
use crate::storage::StorageError;

/// Everything that can go wrong in `vaxpass-keys`.
///
/// No variant carries secret material: private keys, passphrases and PINs never reach an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Generating, parsing or matching a key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Reading or writing key, certificate or manifest files.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Building, parsing or checking a certificate or CSR.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// Making a signature.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The key directory manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A PKCS#11 token.
    #[cfg(feature = "pkcs11")]
    #[error(transparent)]
    Pkcs11(#[from] crate::pkcs11::Pkcs11Error),
}
