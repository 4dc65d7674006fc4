//! Base45 (RFC 9285), the QR-alphanumeric-friendly text encoding of HCERT (HCERT spec §3.4).
//!
//! Two bytes `a, b` become three characters `c, d, e` with `a * 256 + b = c + d * 45 + e * 45²`;
//! a final single byte becomes two characters. Decoding is strict: characters outside the
//! alphabet, a length of `3n + 1`, and triplets above 65535 (or pairs above 255) are errors.

/// The 45 characters, in value order (RFC 9285 §4).
const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Sentinel for "not a Base45 character" in [`DECODE`].
const INVALID: u8 = 0xff;

/// Character → value table (0..45, or [`INVALID`]).
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why Base45 text was refused. Offsets count bytes of the input text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base45Error {
    /// A byte that is not one of the 45 characters.
    #[error("invalid Base45 character {byte:#04x} at offset {offset}")]
    InvalidCharacter {
        /// The offending byte.
        byte: u8,
        /// Its position in the text.
        offset: usize,
    },
    /// The length is `3n + 1`, which no byte string encodes to.
    #[error("invalid Base45 length {len} (a length of 3n+1 cannot be decoded)")]
    InvalidLength {
        /// The text length.
        len: usize,
    },
    /// A group decodes to a value too large for its bytes (> 65535 for three characters,
    /// > 255 for a final pair).
    #[error("Base45 group at offset {offset} decodes to {value}, which is out of range")]
    Overflow {
        /// Offset of the group's first character.
        offset: usize,
        /// The decoded value.
        value: u32,
    },
}

/// The length of the Base45 text for `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    n / 2 * 3 + n % 2 * 2
}

/// Encodes bytes as Base45 text.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(encoded_len(data.len()));
    encode_into(data, &mut out);
    out
}

/// Appends the Base45 text of `data` to `out`.
pub fn encode_into(data: &[u8], out: &mut String) {
    out.reserve(encoded_len(data.len()));
    let push = |out: &mut String, v: u32| out.push(char::from(ALPHABET[(v % 45) as usize]));
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        let n = u32::from(pair[0]) << 8 | u32::from(pair[1]);
        push(out, n);
        push(out, n / 45);
        push(out, n / (45 * 45));
    }
    if let [last] = chunks.remainder() {
        let n = u32::from(*last);
        push(out, n);
        push(out, n / 45);
    }
}

/// Decodes Base45 text.
///
/// # Errors
/// [`Base45Error`] for a character outside the alphabet, a length of `3n + 1`, or a group whose
/// value does not fit its bytes.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base45Error> {
    let mut out = Vec::new();
    decode_into(text, &mut out)?;
    Ok(out)
}

/// Decodes Base45 text, appending to `out` (which is truncated back on error).
///
/// # Errors
/// As [`decode`].
pub fn decode_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), Base45Error> {
    if text.len() % 3 == 1 {
        return Err(Base45Error::InvalidLength { len: text.len() });
    }
    let start_len = out.len();
    out.reserve(text.len() / 3 * 2 + 1);
    let result = decode_groups(text, out);
    if result.is_err() {
        out.truncate(start_len);
    }
    result
}

fn decode_groups(text: &[u8], out: &mut Vec<u8>) -> Result<(), Base45Error> {
    // Values are below 45, so only INVALID (0xff) has the top bit set: one test per group
    // covers all three characters, and the offending one is located on the error path only.
    const _: () = assert!(INVALID & 0x80 != 0 && ALPHABET.len() <= 0x80);
    let invalid = |offset: usize| {
        let offset = (offset..text.len())
            .find(|&i| DECODE[usize::from(text[i])] == INVALID)
            .unwrap_or(offset);
        Base45Error::InvalidCharacter {
            byte: text[offset],
            offset,
        }
    };
    let start = out.len();
    let groups = text.chunks_exact(3);
    let tail = groups.remainder();
    out.resize(start + text.len() / 3 * 2 + usize::from(tail.len() == 2), 0);
    let (body, last) = out[start..].split_at_mut(text.len() / 3 * 2);
    for (g, (src, dst)) in groups.zip(body.chunks_exact_mut(2)).enumerate() {
        let [a, b, c] = [src[0], src[1], src[2]].map(|ch| DECODE[usize::from(ch)]);
        if (a | b | c) & 0x80 != 0 {
            return Err(invalid(g * 3));
        }
        let n = u32::from(a) + u32::from(b) * 45 + u32::from(c) * 45 * 45;
        if n > 0xffff {
            return Err(Base45Error::Overflow {
                offset: g * 3,
                value: n,
            });
        }
        dst.copy_from_slice(&[(n >> 8) as u8, n as u8]);
    }
    if let ([x, y], [byte]) = (tail, last) {
        let offset = text.len() - 2;
        let (a, b) = (DECODE[usize::from(*x)], DECODE[usize::from(*y)]);
        if (a | b) & 0x80 != 0 {
            return Err(invalid(offset));
        }
        let n = u32::from(a) + u32::from(b) * 45;
        if n > 0xff {
            return Err(Base45Error::Overflow { offset, value: n });
        }
        *byte = n as u8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9285 §4.3 examples plus edge cases.
    const TABLE: &[(&[u8], &str)] = &[
        (b"", ""),
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
        (&[0x00], "00"),
        (&[0xff], "U5"),
        (&[0xff, 0xff], "FGW"),
        (&[0x00, 0x00], "000"),
    ];

    #[test]
    fn rfc_vectors_both_ways() {
        for (bytes, text) in TABLE {
            assert_eq!(encode(bytes), *text, "encode {bytes:?}");
            assert_eq!(decode(text.as_bytes()).unwrap(), *bytes, "decode {text:?}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            decode(b"GGW"),
            Err(Base45Error::Overflow {
                offset: 0,
                value: 65536
            })
        );
        assert_eq!(
            decode(b"V5"),
            Err(Base45Error::Overflow {
                offset: 0,
                value: 256
            })
        );
        assert_eq!(decode(b"A"), Err(Base45Error::InvalidLength { len: 1 }));
        assert_eq!(decode(b"BB8A"), Err(Base45Error::InvalidLength { len: 4 }));
        assert_eq!(
            decode(b"BBa"),
            Err(Base45Error::InvalidCharacter {
                byte: b'a',
                offset: 2
            })
        );
        assert_eq!(
            decode("B\u{e9}".as_bytes()),
            Err(Base45Error::InvalidCharacter {
                byte: 0xc3,
                offset: 1
            })
        );
    }

    #[test]
    fn error_text_is_readable() {
        assert_eq!(
            decode(b"A").unwrap_err().to_string(),
            "invalid Base45 length 1 (a length of 3n+1 cannot be decoded)"
        );
    }

    #[test]
    fn decode_into_truncates_on_error() {
        let mut out = vec![1, 2, 3];
        assert!(decode_into(b"BB8BB~", &mut out).is_err());
        assert_eq!(out, [1, 2, 3]);
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let text = encode(&data);
            prop_assert_eq!(text.len(), encoded_len(data.len()));
            prop_assert_eq!(decode(text.as_bytes()).unwrap(), data);
        }

        #[test]
        fn arbitrary_text_never_panics(text in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(bytes) = decode(&text) {
                // Decoding is injective on valid text: re-encoding gives the same text.
                prop_assert_eq!(encode(&bytes).into_bytes(), text);
            }
        }
    }
}
