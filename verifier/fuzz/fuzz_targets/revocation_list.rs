//! The revocation list's CBOR payload (what `revocations sync` decodes after the signature
//! check) and the EU gateway's revocation batch JSON (what an import reads).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::revocation::RevocationList;
use vaxpass_verifier::revocation::gateway::GatewayBatch;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = RevocationList::from_cbor(data) {
        let again =
            RevocationList::from_cbor(&list.to_cbor()).expect("re-encoded revocation list decodes");
        assert_eq!(again.to_cbor(), list.to_cbor());
    }
    if let Ok(batch) = GatewayBatch::parse(data) {
        let _ = batch.check();
    }
});
