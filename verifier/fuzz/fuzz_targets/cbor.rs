//! The CBOR reader; whatever it accepts must re-encode to a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::cbor;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = cbor::decode(data, cbor::DEFAULT_MAX_DEPTH) {
        let once = cbor::encode(&value);
        let reparsed = cbor::decode(&once, cbor::DEFAULT_MAX_DEPTH)
            .expect("the writer's output must be readable");
        assert_eq!(cbor::encode(&reparsed), once, "re-encoding is not stable");
        let _ = vaxpass_verifier::model::cbor_to_json(&value);
    }
});
