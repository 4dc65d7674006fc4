//! The whole decoder from an `HC1:` string, then every way the unverified payload is read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::{JsonLike, Timestamp, TrustStore, Verifier, model};

fn walk(v: &impl JsonLike, depth: usize) {
    if depth > 32 {
        return;
    }
    let _ = (v.kind(), v.as_bool(), v.as_f64(), v.is_integer(), v.as_str());
    for i in 0..v.array_len().unwrap_or(0) {
        if let Some(item) = v.array_item(i) {
            walk(item, depth + 1);
        }
    }
    for key in v.object_keys().unwrap_or_default() {
        if let Some(member) = v.get(key) {
            walk(member, depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut verifier = Verifier::new(TrustStore::new());
    if let Ok(signed) = verifier.decode(text) {
        let payload = signed.dangerous_unverified_payload();
        walk(&payload, 0);
        let _ = model::Dcc::from_cbor(&payload);
        let _ = model::cbor_to_json(&payload);
        let _ = signed.verify(&TrustStore::new(), Timestamp::from_unix_seconds(1_650_000_000));
    }
});
