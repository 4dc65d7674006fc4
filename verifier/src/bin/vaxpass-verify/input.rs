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

/// Reads INPUT: an `HC1:` string as is, `-` (standard input), `@FILE`, a picture file, or
/// other barcode text (such as `HC2:…`, judged as standard input would be).
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
    // Barcode content with another prefix (`HC2:…`, `LT1:…`) gets the verdict standard input
    // would give it (`PREFIX`), not a usage error; anything else is taken for a missing file.
    if looks_like_barcode_text(input) {
        return Ok(input.to_owned());
    }
    Err(InputError::Io(format!(
        "{input:?} is neither an HC1: string nor a file; pass the QR text, - for standard input, \
         @FILE for a file holding the text, or a PNG/JPEG picture"
    )))
}

/// Plainly the text of a barcode rather than a path: a prefix of 1 to 8 capital letters or
/// digits and a colon, then at least one character, all of the Base45 alphabet (capitals,
/// digits, space and `$%*+-./:`; no lowercase, no `\\`). Base45 has `/`, so real barcode text
/// usually holds one: such text is still taken for a path when the folder it would name
/// exists (`HC2:X/Y.PNG` with a folder `HC2:X`).
fn looks_like_barcode_text(input: &str) -> bool {
    let Some((prefix, rest)) = input.split_once(':') else {
        return false;
    };
    let base45 = |c: char| c.is_ascii_digit() || c.is_ascii_uppercase() || " $%*+-./:".contains(c);
    let shaped = (1..=8).contains(&prefix.len())
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !rest.is_empty()
        && rest.chars().all(base45);
    shaped
        && match input.rsplit_once('/') {
            None => true,
            Some((dir, _)) => dir.is_empty() || !std::path::Path::new(dir).is_dir(),
        }
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

#[cfg(test)]
mod tests {
    use super::looks_like_barcode_text;

    #[test]
    fn barcode_text_or_path() {
        assert!(looks_like_barcode_text("HC2:6BFOXN%TS3DH"));
        assert!(looks_like_barcode_text("LT1:NCF:ABC"));
        assert!(!looks_like_barcode_text("HC2:"));
        assert!(!looks_like_barcode_text("qr/HC2:6BF.png"));
        assert!(looks_like_barcode_text("HC2:6BF/X"));
        assert!(!looks_like_barcode_text("HC2:6BF/x"));
        assert!(!looks_like_barcode_text("C:\\certs\\x.png"));
        assert!(!looks_like_barcode_text("missing.png"));
        assert!(!looks_like_barcode_text("hc2:abc"));
    }
}
