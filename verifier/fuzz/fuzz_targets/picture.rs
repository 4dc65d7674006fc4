//! A picture of a QR code (PNG, JPEG or WebP) as a traveller's phone or a scanner gives it:
//! the declared-size check, then the bounded decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::qr::decode_image;

fuzz_target!(|data: &[u8]| {
    let _ = decode_image(data);
});
