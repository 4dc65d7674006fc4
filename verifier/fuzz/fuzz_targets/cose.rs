//! COSE_Sign1 + CWT claims from inflated bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::cose::CoseSign1;
use vaxpass_verifier::{Limits, SignedHcert};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(cose) = CoseSign1::parse(data, limits.max_depth) {
        let _ = (cose.alg(), cose.kid(), cose.tbs());
    }
    if let Ok(signed) = SignedHcert::from_cose(data.to_vec(), &limits) {
        let _ = (signed.kid(), signed.certificate_type(), signed.to_be_signed());
        let _ = signed.dangerous_unverified_payload();
    }
});
