//! Signer certificates: DER, and the PEM-or-DER loader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::crypto::Backend;
use vaxpass_verifier::{TrustStore, TrustedSigner};

fuzz_target!(|data: &[u8]| {
    if let Ok(signer) = TrustedSigner::from_der_with(data, Backend::RustCrypto) {
        let _ = (signer.kid(), signer.country(), signer.key_usage().types());
        let _ = signer.key().verify(vaxpass_verifier::Algorithm::Es256, b"m", &[1; 64]);
    }
    let _ = TrustStore::new().add_pem_or_der(data, "fuzz");
});
