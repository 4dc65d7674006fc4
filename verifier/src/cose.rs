//! COSE_Sign1 (RFC 9052 §4.2) as HCERT uses it (HCERT spec §3.3).
//!
//! ```cddl
//! COSE_Sign1_Tagged = #6.18(COSE_Sign1)
//! COSE_Sign1 = [
//!     protected   : bstr .cbor header_map / bstr .size 0,
//!     unprotected : header_map,
//!     payload     : bstr,            ; HCERT never uses a detached payload
//!     signature   : bstr
//! ]
//! ```
//!
//! Accepted wrappings: tag 18, no tag, and tag 61 (CWT) around tag 18. The protected header
//! bytes are kept verbatim: the signature covers them, so they are never re-encoded.

use crate::cbor::{self, CborError, Value, Writer};

/// COSE header label of the algorithm.
pub const LABEL_ALG: i64 = 1;
/// COSE header label of the key identifier.
pub const LABEL_KID: i64 = 4;
/// CBOR tag of COSE_Sign1.
pub const TAG_COSE_SIGN1: u64 = 18;
/// CBOR tag of a CWT.
pub const TAG_CWT: u64 = 61;

/// Why bytes are not a COSE_Sign1 HCERT can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoseError {
    /// The outer structure is not CBOR.
    #[error("COSE_Sign1 is not well-formed CBOR: {0}")]
    Cbor(CborError),
    /// The protected header bytes are not a CBOR map.
    #[error("protected header: {0}")]
    ProtectedHeader(CborError),
    /// The structure is not a four-element array (after tags 61 / 18).
    #[error("not a COSE_Sign1 ({0})")]
    Structure(&'static str),
    /// A header parameter has the wrong type or occurs twice.
    #[error("header parameter {label}: {problem}")]
    Header {
        /// The label.
        label: i64,
        /// What is wrong.
        problem: &'static str,
    },
}

/// The two header parameters HCERT reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header<'a> {
    /// Label 1: the COSE algorithm identifier.
    pub alg: Option<i64>,
    /// Label 4: the key identifier.
    pub kid: Option<&'a [u8]>,
}

/// A parsed COSE_Sign1, borrowing from its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoseSign1<'a> {
    /// The protected header as signed: the content of the first byte string, verbatim.
    pub protected_bytes: &'a [u8],
    /// Parameters from the protected header.
    pub protected: Header<'a>,
    /// Parameters from the unprotected header.
    pub unprotected: Header<'a>,
    /// The payload (for HCERT, the CWT claims map).
    pub payload: &'a [u8],
    /// The signature.
    pub signature: &'a [u8],
}

impl<'a> CoseSign1<'a> {
    /// Parses a COSE_Sign1 (tag 18, untagged, or tag 61 around tag 18).
    ///
    /// # Errors
    /// [`CoseError`] when the bytes are not CBOR, not a 4-element array of the right types, or a
    /// header holds `alg`/`kid` of the wrong type or twice.
    pub fn parse(bytes: &'a [u8], max_depth: usize) -> Result<Self, CoseError> {
        let top = cbor::decode(bytes, max_depth).map_err(CoseError::Cbor)?;
        let array = match &top {
            Value::Tag(TAG_CWT, inner) => match &**inner {
                Value::Tag(TAG_COSE_SIGN1, inner) => &**inner,
                _ => return Err(CoseError::Structure("tag 61 does not wrap tag 18")),
            },
            Value::Tag(TAG_COSE_SIGN1, inner) => &**inner,
            Value::Tag(_, _) => return Err(CoseError::Structure("unexpected CBOR tag")),
            other => other,
        };
        let [protected, unprotected, payload, signature] = array
            .as_array()
            .ok_or(CoseError::Structure("not an array"))?
        else {
            return Err(CoseError::Structure("array does not have 4 elements"));
        };
        let protected_bytes = protected.as_bytes().ok_or(CoseError::Structure(
            "protected header is not a byte string",
        ))?;
        let protected = if protected_bytes.is_empty() {
            Header::default()
        } else {
            let map =
                cbor::decode(protected_bytes, max_depth).map_err(CoseError::ProtectedHeader)?;
            if map.as_map().is_none() {
                return Err(CoseError::Structure("protected header is not a map"));
            }
            header(&map)?
        };
        if unprotected.as_map().is_none() {
            return Err(CoseError::Structure("unprotected header is not a map"));
        }
        let unprotected = header(unprotected)?;
        let payload = match payload {
            Value::Bytes(b) => *b,
            Value::Null => return Err(CoseError::Structure("detached payload")),
            _ => return Err(CoseError::Structure("payload is not a byte string")),
        };
        let signature = signature
            .as_bytes()
            .ok_or(CoseError::Structure("signature is not a byte string"))?;
        Ok(CoseSign1 {
            protected_bytes,
            protected,
            unprotected,
            payload,
            signature,
        })
    }

    /// The algorithm: protected header first, else unprotected.
    pub fn alg(&self) -> Option<i64> {
        self.protected.alg.or(self.unprotected.alg)
    }

    /// The key identifier: protected header first, else unprotected (an empty kid counts as
    /// absent).
    pub fn kid(&self) -> Option<&'a [u8]> {
        self.protected
            .kid
            .filter(|k| !k.is_empty())
            .or(self.unprotected.kid.filter(|k| !k.is_empty()))
    }

    /// The bytes the signature covers (RFC 9052 §4.4), with empty external AAD:
    /// `Sig_structure = ["Signature1", protected, h'', payload]`.
    pub fn tbs(&self) -> Vec<u8> {
        sig_structure(self.protected_bytes, self.payload)
    }
}

fn header<'a>(map: &Value<'a>) -> Result<Header<'a>, CoseError> {
    for label in [LABEL_ALG, LABEL_KID] {
        if map.has_duplicate_int_key(label) {
            return Err(CoseError::Header {
                label,
                problem: "occurs twice",
            });
        }
    }
    let alg = match map.get_int(LABEL_ALG) {
        None => None,
        Some(v) => Some(v.as_i64().ok_or(CoseError::Header {
            label: LABEL_ALG,
            problem: "not an integer",
        })?),
    };
    let kid = match map.get_int(LABEL_KID) {
        None => None,
        Some(v) => Some(v.as_bytes().ok_or(CoseError::Header {
            label: LABEL_KID,
            problem: "not a byte string",
        })?),
    };
    Ok(Header { alg, kid })
}

/// `Sig_structure` for COSE_Sign1 with empty external AAD.
pub fn sig_structure(protected_bytes: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.array(4)
        .text("Signature1")
        .bytes(protected_bytes)
        .bytes(&[])
        .bytes(payload);
    w.into_bytes()
}

/// The protected header HCERT issuers write: `{1: alg, 4: kid}`.
pub fn protected_header(alg: i64, kid: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.map(2).int(LABEL_ALG).int(alg).int(LABEL_KID).bytes(kid);
    w.into_bytes()
}

/// Builds a tagged COSE_Sign1 with protected header `{1: alg, 4: kid}` and an empty unprotected
/// header; `sign` receives the `Sig_structure` and returns the signature.
///
/// # Errors
/// Whatever `sign` returns.
pub fn sign1<E>(
    alg: i64,
    kid: &[u8],
    payload: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, E> {
    let protected = protected_header(alg, kid);
    let signature = sign(&sig_structure(&protected, payload))?;
    let mut w = Writer::new();
    w.tag(TAG_COSE_SIGN1)
        .array(4)
        .bytes(&protected)
        .map(0)
        .bytes(payload)
        .bytes(&signature);
    Ok(w.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(hex_text: &str) -> Result<CoseSign1<'static>, CoseError> {
        let bytes: &'static [u8] = Box::leak(hex::decode(hex_text).unwrap().into_boxed_slice());
        CoseSign1::parse(bytes, 16)
    }

    #[test]
    fn build_then_parse() {
        const PROTECTED: &str = "a2012604480102030405060708"; // {1: -7, 4: h'0102030405060708'}
        const TBS: &str = "846a5369676e6174757265314da2012604480102030405060708" /* Signature1, protected */;
        let cose = sign1::<()>(-7, &[1, 2, 3, 4, 5, 6, 7, 8], b"\xa0", |tbs| {
            assert_eq!(hex::encode(tbs), format!("{TBS}4041a0")); // h'' external_aad, payload h'a0'
            Ok(vec![0xaa; 64])
        })
        .unwrap();
        assert_eq!(
            hex::encode(&cose),
            format!("d2844d{PROTECTED}a041a05840{}", "aa".repeat(64))
        );
        let parsed = CoseSign1::parse(&cose, 16).unwrap();
        assert_eq!(parsed.alg(), Some(-7));
        assert_eq!(parsed.kid(), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
        assert_eq!(parsed.payload, b"\xa0");
        assert_eq!(parsed.signature, &[0xaa; 64][..]);
        assert_eq!(hex::encode(parsed.protected_bytes), PROTECTED);
        assert_eq!(hex::encode(parsed.tbs()), format!("{TBS}4041a0"));
    }

    #[test]
    fn wrappings_and_headers() {
        // Untagged, protected {1: -7}, unprotected {4: h'01'}, payload h'a0', signature h'00'.
        let p = parse("8443a10126a104410141a04100").unwrap();
        assert_eq!((p.alg(), p.kid()), (Some(-7), Some(&[1u8][..])));
        // Tag 61 around tag 18.
        assert!(parse("d83dd28443a10126a104410141a04100").is_ok());
        // Tag 61 around an untagged array is refused.
        assert_eq!(
            parse("d83d8443a10126a104410141a04100"),
            Err(CoseError::Structure("tag 61 does not wrap tag 18"))
        );
        // Empty protected header: alg and kid from the unprotected one (common/CO20).
        let p = parse("d28440a2012604410241a04100").unwrap();
        assert_eq!((p.alg(), p.kid()), (Some(-7), Some(&[2u8][..])));
        assert_eq!(p.protected_bytes, b"");
        // Protected kid wins over unprotected (common/CO21).
        let p = parse(
            "d28446a201260441 01a104410241a04100"
                .replace(' ', "")
                .as_str(),
        )
        .unwrap();
        assert_eq!(p.kid(), Some(&[1u8][..]));
        // Wrong shapes.
        assert_eq!(
            parse("d2834041a04100"),
            Err(CoseError::Structure("array does not have 4 elements"))
        );
        assert_eq!(
            parse("d28440a0f64100"),
            Err(CoseError::Structure("detached payload"))
        );
        assert!(matches!(parse("d28443a10126"), Err(CoseError::Cbor(_))));
        assert_eq!(
            parse("d28444a1016141a041a04100"),
            Err(CoseError::Header {
                label: 1,
                problem: "not an integer"
            })
        );
        assert_eq!(
            parse("d28440a1040141a04100"),
            Err(CoseError::Header {
                label: 4,
                problem: "not a byte string"
            })
        );
        assert_eq!(
            parse("d28445a201260126a041a04100"),
            Err(CoseError::Header {
                label: 1,
                problem: "occurs twice"
            })
        );
        assert!(matches!(
            parse("d28442a101a041a04100"),
            Err(CoseError::ProtectedHeader(_))
        ));
    }
}
