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

#[cfg(test)]
mod tests {
    use super::*;

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
