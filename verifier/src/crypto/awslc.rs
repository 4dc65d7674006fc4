//! The AWS-LC backend (feature `aws-lc`).

use super::{KeyError, KeyFamily};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey, RSA_PSS_2048_8192_SHA256};

pub(super) struct Key(ParsedPublicKey);

impl Key {
    /// `key_bits`: the SPKI bit string (SEC1 point, or PKCS#1 RSAPublicKey).
    pub(super) fn new(family: KeyFamily, key_bits: &[u8]) -> Result<Self, KeyError> {
        let alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match family {
            KeyFamily::EcP256 => &ECDSA_P256_SHA256_FIXED,
            KeyFamily::Rsa { .. } => &RSA_PSS_2048_8192_SHA256,
            KeyFamily::EcP384 => return Err(KeyError::Invalid { family }),
        };
        ParsedPublicKey::new(alg, key_bits)
            .map(Key)
            .map_err(|_| KeyError::Invalid { family })
    }

    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.0.verify_sig(msg, sig).is_ok()
    }
}
