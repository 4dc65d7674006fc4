//! Our deflate on any input: the stream inflates back to the input, with our inflater and
//! with miniz_oxide's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::zlib;

fuzz_target!(|data: &[u8]| {
    let z = zlib::deflate(data);
    let ours = zlib::inflate(&z, data.len()).expect("our inflater refuses our deflate");
    assert_eq!(ours, data);
    let theirs = miniz_oxide::inflate::decompress_to_vec_zlib(&z)
        .expect("miniz_oxide refuses our deflate");
    assert_eq!(theirs, data);
});
