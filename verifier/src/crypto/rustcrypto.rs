//! The pure-Rust backend: `p256` for ES256, `rsa` for PS256.

use super::{KeyError, KeyFamily};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use signature::Verifier;

pub(super) enum Key {
    P256(p256::ecdsa::VerifyingKey),
    Rsa(rsa::pss::VerifyingKey<sha2::Sha256>),
}

/// Modulus size of a PKCS#1 RSAPublicKey.
pub(super) fn rsa_bits(pkcs1: &[u8]) -> Result<usize, KeyError> {
    rsa::RsaPublicKey::from_pkcs1_der(pkcs1)
        .map(|k| k.n().bits())
        .map_err(|_| KeyError::Invalid {
            family: KeyFamily::Rsa { bits: 0 },
        })
}

impl Key {
    /// `key_bits`: the SPKI bit string (SEC1 point, or PKCS#1 RSAPublicKey).
    pub(super) fn new(family: KeyFamily, key_bits: &[u8]) -> Result<Self, KeyError> {
        let invalid = KeyError::Invalid { family };
        match family {
            KeyFamily::EcP256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bits)
                .map(Key::P256)
                .map_err(|_| invalid),
            KeyFamily::Rsa { .. } => rsa::RsaPublicKey::from_pkcs1_der(key_bits)
                .map(|k| Key::Rsa(rsa::pss::VerifyingKey::new(k)))
                .map_err(|_| invalid),
            KeyFamily::EcP384 => Err(invalid),
        }
    }

    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Key::P256(k) => {
                p256::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| k.verify(msg, &sig).is_ok())
            }
            Key::Rsa(k) => {
                rsa::pss::Signature::try_from(sig).is_ok_and(|sig| k.verify(msg, &sig).is_ok())
            }
        }
    }
}
