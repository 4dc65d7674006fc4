//! Reading the QR code of a certificate from a PNG or JPEG picture (feature `qr-image`).
//!
//! The picture is decoded with bounded dimensions and memory, turned to greyscale and searched
//! for QR codes. The text of the first code that decodes is returned; an HCERT QR code holds
//! `HC1:` followed by Base45, in alphanumeric mode.

use std::io::Cursor;

/// Largest picture file accepted (a phone photo of a QR code is well below this).
pub const MAX_IMAGE_BYTES: usize = 16 * 1024 * 1024;
/// Largest width or height accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8_000;

/// Why no certificate text could be read from a picture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The file is larger than [`MAX_IMAGE_BYTES`].
    #[error("picture is {size} bytes, more than the {max} accepted")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a PNG or JPEG picture that could be decoded within the limits.
    #[error("not a readable PNG or JPEG picture: {0}")]
    Image(String),
    /// The picture holds no QR code that could be found.
    #[error("no QR code found in the picture")]
    NoCode,
    /// A QR code was found but could not be decoded (damaged, or not a text code).
    #[error("a QR code was found but could not be read: {0}")]
    Unreadable(String),
}

/// Decodes the first readable QR code in a PNG or JPEG picture.
///
/// # Errors
/// [`QrError`] when the picture is too large, is not a picture, or holds no readable QR code.
pub fn decode_image(bytes: &[u8]) -> Result<String, QrError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(QrError::TooLarge {
            size: bytes.len(),
            max: MAX_IMAGE_BYTES,
        });
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| QrError::Image(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| QrError::Image(e.to_string()))?;
    decode_luma(&picture.to_luma8())
}

fn decode_luma(luma: &image::GrayImage) -> Result<String, QrError> {
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        // x < w and y < h hold: rqrr only asks for pixels inside the size it was given.
        luma.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    let mut last_error = None;
    for grid in &grids {
        match grid.decode() {
            Ok((_, text)) => return Ok(text),
            Err(e) => last_error = Some(e),
        }
    }
    match last_error {
        Some(e) => Err(QrError::Unreadable(e.to_string())),
        None => Err(QrError::NoCode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_pictures_and_oversized_input() {
        assert!(matches!(
            decode_image(b"HC1:NCFOXN"),
            Err(QrError::Image(_))
        ));
        let big = vec![0u8; MAX_IMAGE_BYTES + 1];
        assert!(matches!(decode_image(&big), Err(QrError::TooLarge { .. })));
    }

    #[test]
    fn blank_picture_has_no_code() {
        let blank = image::GrayImage::from_pixel(64, 64, image::Luma([255]));
        let mut png = Vec::new();
        blank
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(matches!(decode_image(&png), Err(QrError::NoCode)));
    }

    #[test]
    fn reads_a_public_test_picture() {
        use base64::Engine as _;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/conformance/dgc-testdata/AT/2DCode/raw/1.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipped: public conformance data not found at {path}");
            return;
        };
        let case: serde_json::Value = serde_json::from_str(&text).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(case["2DCODE"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            decode_image(&png).unwrap(),
            case["PREFIX"].as_str().unwrap()
        );
    }
}
