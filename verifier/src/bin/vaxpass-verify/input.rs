//! Reading the certificate named on the command line.

use std::io::Read as _;

/// The most bytes read from a file or standard input: a picture of a QR code; the verifier's
/// own input limit applies after that.
const MAX_READ: u64 = 16 * 1024 * 1024;

/// Reads INPUT: an `HC1:` string as is, `-` (standard input), `@FILE`, or a picture file.
pub fn read_input(input: &str) -> Result<String, String> {
    if input == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(MAX_READ)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return bytes_to_text(bytes, "standard input");
    }
    if let Some(path) = input.strip_prefix('@') {
        return read_file(path);
    }
    if input.starts_with("HC1:") {
        return Ok(input.to_owned());
    }
    if std::path::Path::new(input).is_file() {
        return read_file(input);
    }
    Err(format!(
        "{input:?} is neither an HC1: string nor a file; pass the QR text, - for standard input, \
         @FILE for a file holding the text, or a PNG/JPEG picture"
    ))
}

fn read_file(path: &str) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_READ)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if bytes.starts_with(b"\x89PNG") || bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return vaxpass_verifier::qr::decode_image(&bytes).map_err(|e| format!("{path}: {e}"));
    }
    bytes_to_text(bytes, path)
}

fn bytes_to_text(bytes: Vec<u8>, what: &str) -> Result<String, String> {
    let text = String::from_utf8(bytes).map_err(|_| format!("{what} is not text"))?;
    // A file or a pipe usually ends with a newline; the QR text never has white space.
    Ok(text.trim().to_owned())
}
