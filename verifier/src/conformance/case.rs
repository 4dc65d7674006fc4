//! One dgc-testdata test file.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

/// An `EXPECTEDRESULTS` flag (definitions: dgc-testdata's README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Flag {
    /// `JSON` validates against the schema named in `TESTCTX.SCHEMA`.
    #[serde(rename = "EXPECTEDVALIDOBJECT")]
    ValidObject,
    /// The payload decoded from `COSE` (or `CBOR`) validates against the schema of its `ver`.
    #[serde(rename = "EXPECTEDSCHEMAVALIDATION")]
    SchemaValidation,
    /// CBOR encoded from `JSON` matches `CBOR` (as decoded structures).
    #[serde(rename = "EXPECTEDENCODE")]
    Encode,
    /// `CBOR` decodes and matches `JSON`; the payload of `COSE` matches `CBOR`.
    #[serde(rename = "EXPECTEDDECODE")]
    Decode,
    /// `COSE` verifies with the key of `TESTCTX.CERTIFICATE`.
    #[serde(rename = "EXPECTEDVERIFY")]
    Verify,
    /// `PREFIX` is `HC1:` followed by exactly `BASE45`.
    #[serde(rename = "EXPECTEDUNPREFIX")]
    Unprefix,
    /// The whole chain from `PREFIX` (or `2DCODE`) decodes to `JSON`.
    #[serde(rename = "EXPECTEDVALIDJSON")]
    ValidJson,
    /// `COMPRESSED` inflates to exactly `COSE`.
    #[serde(rename = "EXPECTEDCOMPRESSION")]
    Compression,
    /// `BASE45` decodes to exactly `COMPRESSED`.
    #[serde(rename = "EXPECTEDB45DECODE")]
    B45Decode,
    /// The picture in `2DCODE` decodes to exactly `PREFIX`.
    #[serde(rename = "EXPECTEDPICTUREDECODE")]
    PictureDecode,
    /// The certificate is valid at `TESTCTX.VALIDATIONCLOCK`.
    #[serde(rename = "EXPECTEDEXPIRATIONCHECK")]
    ExpirationCheck,
    /// The signer's extended key usage allows the payload's certificate type.
    #[serde(rename = "EXPECTEDKEYUSAGE")]
    KeyUsage,
}

impl Flag {
    /// Every flag, in the order results are reported.
    pub const ALL: [Flag; 12] = [
        Flag::ValidObject,
        Flag::SchemaValidation,
        Flag::Encode,
        Flag::Decode,
        Flag::Verify,
        Flag::Unprefix,
        Flag::ValidJson,
        Flag::Compression,
        Flag::B45Decode,
        Flag::PictureDecode,
        Flag::ExpirationCheck,
        Flag::KeyUsage,
    ];

    /// The key in `EXPECTEDRESULTS`.
    pub const fn name(self) -> &'static str {
        match self {
            Flag::ValidObject => "EXPECTEDVALIDOBJECT",
            Flag::SchemaValidation => "EXPECTEDSCHEMAVALIDATION",
            Flag::Encode => "EXPECTEDENCODE",
            Flag::Decode => "EXPECTEDDECODE",
            Flag::Verify => "EXPECTEDVERIFY",
            Flag::Unprefix => "EXPECTEDUNPREFIX",
            Flag::ValidJson => "EXPECTEDVALIDJSON",
            Flag::Compression => "EXPECTEDCOMPRESSION",
            Flag::B45Decode => "EXPECTEDB45DECODE",
            Flag::PictureDecode => "EXPECTEDPICTUREDECODE",
            Flag::ExpirationCheck => "EXPECTEDEXPIRATIONCHECK",
            Flag::KeyUsage => "EXPECTEDKEYUSAGE",
        }
    }

    /// The flag for a key of `EXPECTEDRESULTS`; `None` for keys that are not flags.
    pub fn from_name(name: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed test file. Missing fields are `None`; the flags that need them then fail with a
/// message saying which field was missing.
#[derive(Debug, Clone, Default)]
pub struct TestCase {
    /// `JSON`: the payload as JSON.
    pub json: Option<Value>,
    /// `CBOR`, hex-decoded.
    pub cbor: Option<Vec<u8>>,
    /// `COSE`, hex-decoded.
    pub cose: Option<Vec<u8>>,
    /// `COMPRESSED`, hex-decoded.
    pub compressed: Option<Vec<u8>>,
    /// `BASE45`.
    pub base45: Option<String>,
    /// `PREFIX`.
    pub prefix: Option<String>,
    /// `2DCODE`, base64-decoded PNG; or, when the file has none, the picture its country keeps
    /// in the `png/` folder beside `2DCode/` (see [`picture_file`](Self::picture_file)).
    pub picture: Option<Vec<u8>>,
    /// Where [`picture`](Self::picture) was read from, when it was not embedded: the path
    /// relative to the test folder.
    pub picture_file: Option<String>,
    /// `TESTCTX.SCHEMA`.
    pub schema: Option<String>,
    /// `TESTCTX.CERTIFICATE`, base64-decoded DER.
    pub certificate: Option<Vec<u8>>,
    /// `TESTCTX.VALIDATIONCLOCK`, as written.
    pub validation_clock: Option<String>,
    /// `TESTCTX.DESCRIPTION`.
    pub description: Option<String>,
    expected: Vec<(Flag, bool)>,
}

impl TestCase {
    /// Reads a test file.
    ///
    /// # Errors
    /// A message when the file is not JSON, has no `EXPECTEDRESULTS` object, or a field holds
    /// malformed hex or base64 (these are defects of the test file, not test failures).
    pub fn from_json(bytes: &[u8]) -> Result<TestCase, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let expected_results = doc
            .get("EXPECTEDRESULTS")
            .and_then(Value::as_object)
            .ok_or("no EXPECTEDRESULTS object")?;
        let expected = Flag::ALL
            .into_iter()
            .filter_map(|flag| {
                expected_results
                    .get(flag.name())
                    .and_then(Value::as_bool)
                    .map(|b| (flag, b))
            })
            .collect();
        let text = |key: &str| doc.get(key).and_then(Value::as_str).map(str::to_owned);
        let hex = |key: &str| -> Result<Option<Vec<u8>>, String> {
            text(key)
                .map(|h| decode_hex(&h).map_err(|e| format!("{key}: {e}")))
                .transpose()
        };
        let ctx = doc.get("TESTCTX");
        let ctx_text = |key: &str| {
            ctx.and_then(|c| c.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let b64 = |key: &str, value: Option<String>| -> Result<Option<Vec<u8>>, String> {
            value
                .map(|s| {
                    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
                    base64::engine::general_purpose::STANDARD
                        .decode(clean)
                        .map_err(|e| format!("{key}: not base64: {e}"))
                })
                .transpose()
        };
        Ok(TestCase {
            json: doc.get("JSON").cloned(),
            cbor: hex("CBOR")?,
            cose: hex("COSE")?,
            compressed: hex("COMPRESSED")?,
            base45: text("BASE45"),
            prefix: text("PREFIX"),
            // LV 1-3 spell the key `_2DCODE`; reading that spelling too keeps their pictures tested.
            picture: b64("2DCODE", text("2DCODE").or_else(|| text("_2DCODE")))?,
            picture_file: None,
            schema: ctx_text("SCHEMA"),
            certificate: b64("TESTCTX.CERTIFICATE", ctx_text("CERTIFICATE"))?,
            validation_clock: ctx_text("VALIDATIONCLOCK"),
            description: ctx_text("DESCRIPTION"),
            expected,
        })
    }

    /// The flags present in `EXPECTEDRESULTS`, with their expected values.
    pub fn flags(&self) -> impl Iterator<Item = (Flag, bool)> + '_ {
        self.expected.iter().copied()
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("not a hex digit: {:?}", char::from(c))),
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flags_and_ignores_non_flags() {
        let case = TestCase::from_json(
            br#"{"COSE":"d284","TESTCTX":{"VERSION":"1","CERTIFICATE":"AQID"},
                "EXPECTEDRESULTS":{"EXPECTEDVERIFY":false,"EXPTECTEDEXPIRED":true,"EXPECTEDRESULTS":true}}"#,
        )
        .unwrap();
        assert_eq!(
            case.flags().collect::<Vec<_>>(),
            vec![(Flag::Verify, false)]
        );
        assert_eq!(case.cose.as_deref(), Some(&[0xd2, 0x84][..]));
        assert_eq!(case.certificate.as_deref(), Some(&[1, 2, 3][..]));
        assert!(TestCase::from_json(b"{}").is_err());
        assert!(TestCase::from_json(br#"{"COSE":"d2x","EXPECTEDRESULTS":{}}"#).is_err());
        for flag in Flag::ALL {
            assert_eq!(Flag::from_name(flag.name()), Some(flag));
        }
    }
}
