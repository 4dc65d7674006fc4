//! Small hard pictures (written by `scripts/qr-corpus/regression_files.py`): each must decode to
//! the certificate's text. The old reader (rqrr) failed on every one of them.
#![cfg(feature = "qr-image")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vaxpass_verifier::qr::decode_image;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/qr/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn expected() -> String {
    String::from_utf8(data("expected.txt"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn reads_an_aztec_code() {
    assert_eq!(decode_image(&data("aztec.png")).unwrap(), expected());
}

#[test]
fn reads_a_code_without_quiet_zone_at_one_pixel_a_module() {
    assert_eq!(decode_image(&data("quiet0-px1.png")).unwrap(), expected());
}

#[test]
fn reads_inverted_colours() {
    assert_eq!(decode_image(&data("inverted.png")).unwrap(), expected());
}

#[test]
fn reads_dark_modules_on_a_transparent_background() {
    assert_eq!(
        decode_image(&data("rgba-transparent.png")).unwrap(),
        expected()
    );
}

#[test]
fn reads_inverted_colours_without_quiet_zone() {
    assert_eq!(
        decode_image(&data("inverted-quiet0.png")).unwrap(),
        expected()
    );
}

#[test]
fn prefers_the_hc1_code_when_a_picture_holds_two() {
    assert_eq!(
        decode_image(&data("two-codes-link-first.png")).unwrap(),
        expected()
    );
}
