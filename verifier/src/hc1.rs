//! The `HC1:` context identifier in front of the Base45 text (HCERT spec §3.4, §4).

/// The context identifier of an EU DCC.
pub const PREFIX: &str = "HC1:";

/// The text does not start with `HC1:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing the HC1: prefix (the text starts with {found:?})")]
pub struct PrefixError {
    /// The first characters of the text (at most 8).
    pub found: String,
}

/// Strips the `HC1:` prefix. Strict: case-sensitive, no whitespace allowed around it (trimming
/// is the caller's business, e.g. the CLI's).
///
/// # Errors
/// [`PrefixError`] when the text does not start with exactly `HC1:`.
pub fn strip_prefix(text: &str) -> Result<&str, PrefixError> {
    text.strip_prefix(PREFIX).ok_or_else(|| PrefixError {
        found: text.chars().take(8).collect(),
    })
}

/// The `HC1:` text of a zlib stream: the prefix, then the stream in Base45 (the last two
/// steps of encoding; compressing is the caller's).
pub fn armour_zlib(zlib: &[u8]) -> String {
    let mut out = String::with_capacity(PREFIX.len() + crate::base45::encoded_len(zlib.len()));
    out.push_str(PREFIX);
    crate::base45::encode_into(zlib, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armour_zlib_is_prefix_then_base45() {
        let text = armour_zlib(b"\x78\xda\x01\x02");
        assert_eq!(
            crate::base45::decode(strip_prefix(&text).unwrap().as_bytes()).unwrap(),
            b"\x78\xda\x01\x02"
        );
        assert_eq!(armour_zlib(b""), "HC1:");
        assert_eq!(
            armour_zlib(b"AB"),
            format!("HC1:{}", crate::base45::encode(b"AB"))
        );
    }

    #[test]
    fn strict_prefix() {
        assert_eq!(strip_prefix("HC1:6BF"), Ok("6BF"));
        assert_eq!(strip_prefix("HC1:"), Ok(""));
        for bad in ["hc1:6BF", " HC1:6BF", "HC2:6BF", "HC1", "", "6BFOXN"] {
            assert!(strip_prefix(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            strip_prefix("LT1:6BFOXNSSDSSSSSSSS")
                .unwrap_err()
                .to_string(),
            "missing the HC1: prefix (the text starts with \"LT1:6BFO\")"
        );
    }
}
