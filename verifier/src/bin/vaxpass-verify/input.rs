//! Reading the certificate named on the command line.

use std::io::Read as _;

/// The most bytes read from a file or standard input: a picture of a QR code; the verifier's
/// own input limit applies after that.
const MAX_READ: u64 = 16 * 1024 * 1024;

/// Why INPUT gave no certificate text.
#[derive(Debug)]
pub enum InputError {
    /// Usage or I/O: nothing was read (exit status 2).
    Io(String),
    /// A picture was read but holds no readable QR code (exit status 1, code `QR_IMAGE`).
    Qr(String),
}

/// Reads INPUT: an `HC1:` string as is, `-` (standard input), `@FILE`, or a picture file.
pub fn read_input(input: &str) -> Result<String, InputError> {
    if input == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(MAX_READ)
            .read_to_end(&mut bytes)
            .map_err(|e| InputError::Io(format!("cannot read standard input: {e}")))?;
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
    Err(InputError::Io(format!(
        "{input:?} is neither an HC1: string nor a file; pass the QR text, - for standard input, \
         @FILE for a file holding the text, or a PNG/JPEG picture"
    )))
}

fn read_file(path: &str) -> Result<String, InputError> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::Io(format!("cannot open {path}: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_READ)
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::Io(format!("cannot read {path}: {e}")))?;
    if bytes.starts_with(b"\x89PNG") || bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return vaxpass_verifier::qr::decode_image(&bytes)
            .map(|text| text.trim().to_owned())
            .map_err(|e| InputError::Qr(format!("{path}: {e}")));
    }
    bytes_to_text(bytes, path)
}

fn bytes_to_text(bytes: Vec<u8>, what: &str) -> Result<String, InputError> {
    let text = String::from_utf8(bytes).map_err(|_| {
        InputError::Io(format!(
            "{what} is neither text nor a PNG/JPEG picture; pass the QR text or a picture of it"
        ))
    })?;
    // A file or a pipe usually ends with a newline; the QR text never has white space.
    Ok(text.trim().to_owned())
}
