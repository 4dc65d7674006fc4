//! The trust list a verifier downloads: its CBOR payload, the unverified COSE envelope, and a
//! delta applied to a base (the input split at its first byte's position).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::trustlist::delta::apply_delta;
use vaxpass_verifier::trustlist::{TrustList, dangerous_decode_unverified};

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = TrustList::from_cbor(data) {
        // What decodes must encode and decode to the same list.
        let again = TrustList::from_cbor(&list.to_cbor()).expect("re-encoded trust list decodes");
        assert_eq!(again.to_cbor(), list.to_cbor());
    }
    let _ = dangerous_decode_unverified(data);
    if let Some((&first, rest)) = data.split_first() {
        let at = usize::from(first).min(rest.len());
        let (base, delta) = rest.split_at(at);
        let _ = apply_delta(base, delta);
    }
});
