//! The verifier's inflater reads back whatever miniz_oxide compresses, at every level: any
//! input, compressed by a standard deflater, inflates to itself (the issuer's own deflater is
//! checked the same way by the issuance crate's tests).
//!
//! Input: one byte choosing the compression level (0–10), then the data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::zlib;

fuzz_target!(|data: &[u8]| {
    let Some((&level, data)) = data.split_first() else {
        return;
    };
    let z = miniz_oxide::deflate::compress_to_vec_zlib(data, level % 11);
    let ours = zlib::inflate(&z, data.len()).expect("our inflater refuses miniz_oxide's deflate");
    assert_eq!(ours, data);
});
