//! A minimal, strict CBOR (RFC 8949) reader producing a borrowed tree, and a small writer.
//!
//! The reader is what an attacker reaches after inflating, so it is bounded everywhere:
//! nesting depth is counted (default 16, recursion never goes deeper than the limit), declared
//! lengths are checked against the remaining input before anything is allocated, and trailing
//! bytes are an error. Definite and indefinite-length arrays and maps are read (dgc-testdata uses
//! `0xbf ... 0xff` maps); indefinite-length byte and text strings are refused, since they cannot
//! be borrowed. Every error carries the byte offset where it was found.

use crate::json_like::{JsonLike, Kind};
use std::fmt;

/// Maximum nesting depth by default (a DCC payload needs 4).
pub const DEFAULT_MAX_DEPTH: usize = 16;

/// A CBOR data item borrowing its strings from the input.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// Major type 0: an unsigned integer.
    Unsigned(u64),
    /// Major type 1: the negative integer `-1 - n`, holding `n`.
    Negative(u64),
    /// Major type 2: a byte string.
    Bytes(&'a [u8]),
    /// Major type 3: a text string (checked UTF-8).
    Text(&'a str),
    /// Major type 4: an array.
    Array(Vec<Value<'a>>),
    /// Major type 5: a map, as pairs in wire order.
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// Major type 6: a tag number and the tagged item.
    Tag(u64, Box<Value<'a>>),
    /// `false` / `true`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`.
    Undefined,
    /// Another simple value.
    Simple(u8),
    /// A half, single or double precision float.
    Float(f64),
}

/// What is wrong, without the position.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CborErrorKind {
    /// The input ends inside an item.
    UnexpectedEnd,
    /// A declared length is larger than the remaining input.
    LengthTooLarge(u64),
    /// Nesting is deeper than the limit.
    TooDeep(usize),
    /// Bytes remain after the top-level item.
    TrailingBytes(usize),
    /// A text string is not UTF-8.
    InvalidUtf8,
    /// Additional information 28-30 (reserved).
    ReservedAdditionalInfo(u8),
    /// An indefinite-length byte or text string (not supported).
    IndefiniteString,
    /// A "break" (0xff) outside an indefinite-length container.
    UnexpectedBreak,
    /// A two-byte simple value below 32 (not well-formed).
    BadSimple(u8),
    /// An indefinite-length map ended after a key without its value.
    MapKeyWithoutValue,
}

/// A CBOR decoding error at a byte offset of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at CBOR byte {offset}")]
pub struct CborError {
    /// Offset of the item (or byte) at fault.
    pub offset: usize,
    /// What is wrong.
    pub kind: CborErrorKind,
}

impl fmt::Display for CborErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd => f.write_str("unexpected end of input"),
            Self::LengthTooLarge(n) => write!(f, "declared length {n} exceeds the remaining input"),
            Self::TooDeep(max) => write!(f, "nesting deeper than {max}"),
            Self::TrailingBytes(n) => write!(f, "{n} trailing bytes after the item"),
            Self::InvalidUtf8 => f.write_str("text string is not UTF-8"),
            Self::ReservedAdditionalInfo(ai) => write!(f, "reserved additional information {ai}"),
            Self::IndefiniteString => f.write_str("indefinite-length string (not supported)"),
            Self::UnexpectedBreak => f.write_str("unexpected break"),
            Self::BadSimple(v) => write!(f, "two-byte simple value {v} below 32"),
            Self::MapKeyWithoutValue => f.write_str("map key without a value"),
        }
    }
}

/// Decodes exactly one CBOR item filling all of `input`, with nesting at most `max_depth`.
///
/// # Errors
/// [`CborError`] for malformed input, nesting deeper than `max_depth`, a declared length larger
/// than the remaining input, or trailing bytes.
pub fn decode(input: &[u8], max_depth: usize) -> Result<Value<'_>, CborError> {
    let mut reader = Reader {
        input,
        pos: 0,
        max_depth,
    };
    let value = reader.item(0)?;
    if reader.pos != input.len() {
        return Err(CborError {
            offset: reader.pos,
            kind: CborErrorKind::TrailingBytes(input.len() - reader.pos),
        });
    }
    Ok(value)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    max_depth: usize,
}

/// The head of an item: major type, and argument (`None` for indefinite length).
struct Head {
    major: u8,
    ai: u8,
    arg: Option<u64>,
}

impl<'a> Reader<'a> {
    fn err(&self, offset: usize, kind: CborErrorKind) -> CborError {
        CborError { offset, kind }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| self.err(self.pos, CborErrorKind::UnexpectedEnd))?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn head(&mut self) -> Result<Head, CborError> {
        let start = self.pos;
        let b = self.take(1)?[0];
        let (major, ai) = (b >> 5, b & 0x1f);
        let arg = match ai {
            0..=23 => Some(u64::from(ai)),
            24 => Some(u64::from(self.take(1)?[0])),
            25 => Some(u64::from(u16::from_be_bytes([
                self.take(1)?[0],
                self.take(1)?[0],
            ]))),
            26 => {
                let s = self.take(4)?;
                Some(u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
            }
            27 => {
                let s = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                Some(u64::from_be_bytes(a))
            }
            31 => None,
            _ => return Err(self.err(start, CborErrorKind::ReservedAdditionalInfo(ai))),
        };
        Ok(Head { major, ai, arg })
    }

    /// Checks that `count` items of at least `min_size` bytes each can fit in what remains.
    fn check_len(&self, start: usize, count: u64, min_size: u64) -> Result<usize, CborError> {
        match count.checked_mul(min_size) {
            Some(need) if need <= self.remaining() as u64 => Ok(count as usize),
            _ => Err(self.err(start, CborErrorKind::LengthTooLarge(count))),
        }
    }

    fn at_break(&self) -> bool {
        self.input.get(self.pos) == Some(&0xff)
    }

    fn item(&mut self, depth: usize) -> Result<Value<'a>, CborError> {
        let start = self.pos;
        let head = self.head()?;
        let nested = |r: &Self| -> Result<usize, CborError> {
            if depth >= r.max_depth {
                Err(r.err(start, CborErrorKind::TooDeep(r.max_depth)))
            } else {
                Ok(depth + 1)
            }
        };
        match (head.major, head.arg) {
            (0, Some(n)) => Ok(Value::Unsigned(n)),
            (1, Some(n)) => Ok(Value::Negative(n)),
            (2 | 3, None) => Err(self.err(start, CborErrorKind::IndefiniteString)),
            (2, Some(n)) => {
                let len = self.check_len(start, n, 1)?;
                Ok(Value::Bytes(self.take(len)?))
            }
            (3, Some(n)) => {
                let len = self.check_len(start, n, 1)?;
                let bytes = self.take(len)?;
                std::str::from_utf8(bytes)
                    .map(Value::Text)
                    .map_err(|_| self.err(start, CborErrorKind::InvalidUtf8))
            }
            (4, arg) => {
                let depth = nested(self)?;
                let mut items;
                match arg {
                    Some(n) => {
                        let len = self.check_len(start, n, 1)?;
                        items = Vec::with_capacity(len);
                        for _ in 0..len {
                            items.push(self.item(depth)?);
                        }
                    }
                    None => {
                        items = Vec::new();
                        while !self.at_break() {
                            items.push(self.item(depth)?);
                        }
                        self.pos += 1;
                    }
                }
                Ok(Value::Array(items))
            }
            (5, arg) => {
                let depth = nested(self)?;
                let mut pairs;
                match arg {
                    Some(n) => {
                        let len = self.check_len(start, n, 2)?;
                        pairs = Vec::with_capacity(len);
                        for _ in 0..len {
                            let k = self.item(depth)?;
                            let v = self.item(depth)?;
                            pairs.push((k, v));
                        }
                    }
                    None => {
                        pairs = Vec::new();
                        while !self.at_break() {
                            let k = self.item(depth)?;
                            if self.at_break() {
                                return Err(self.err(self.pos, CborErrorKind::MapKeyWithoutValue));
                            }
                            let v = self.item(depth)?;
                            pairs.push((k, v));
                        }
                        self.pos += 1;
                    }
                }
                Ok(Value::Map(pairs))
            }
            (6, Some(tag)) => {
                let depth = nested(self)?;
                Ok(Value::Tag(tag, Box::new(self.item(depth)?)))
            }
            (7, arg) => match (head.ai, arg) {
                (20, _) => Ok(Value::Bool(false)),
                (21, _) => Ok(Value::Bool(true)),
                (22, _) => Ok(Value::Null),
                (23, _) => Ok(Value::Undefined),
                (0..=19, Some(v)) => Ok(Value::Simple(v as u8)),
                (24, Some(v)) if v < 32 => Err(self.err(start, CborErrorKind::BadSimple(v as u8))),
                (24, Some(v)) => Ok(Value::Simple(v as u8)),
                (25, Some(bits)) => Ok(Value::Float(f16_to_f64(bits as u16))),
                (26, Some(bits)) => Ok(Value::Float(f64::from(f32::from_bits(bits as u32)))),
                (27, Some(bits)) => Ok(Value::Float(f64::from_bits(bits))),
                _ => Err(self.err(start, CborErrorKind::UnexpectedBreak)),
            },
            // Majors 0, 1 and 6 with additional information 31.
            _ => Err(self.err(start, CborErrorKind::ReservedAdditionalInfo(head.ai))),
        }
    }
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let mant = f64::from(bits & 0x3ff);
    sign * match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1024.0 + mant) * 2f64.powi(exp - 25),
    }
}

impl<'a> Value<'a> {
    /// The integer, if this is one that fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Unsigned(n) => i64::try_from(n).ok(),
            Value::Negative(n) => i64::try_from(n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    /// The text, if this is a text string (or a tag-0 date-time text).
    pub fn as_text(&self) -> Option<&'a str> {
        match self {
            Value::Text(s) => Some(s),
            Value::Tag(0, inner) => inner.as_text(),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The pairs, if this is a map.
    pub fn as_map(&self) -> Option<&[(Value<'a>, Value<'a>)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value under an integer key of a map (the first, if the key repeats).
    pub fn get_int(&self, key: i64) -> Option<&Value<'a>> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_i64() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value under a text key of a map (the first, if the key repeats).
    pub fn get_text(&self, key: &str) -> Option<&Value<'a>> {
        self.as_map()?
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if *t == key))
            .map(|(_, v)| v)
    }

    /// Whether an integer key occurs more than once in this map.
    pub fn has_duplicate_int_key(&self, key: i64) -> bool {
        self.as_map()
            .is_some_and(|m| m.iter().filter(|(k, _)| k.as_i64() == Some(key)).count() > 1)
    }
}

impl JsonLike for Value<'_> {
    fn kind(&self) -> Kind {
        match self {
            Value::Unsigned(_) | Value::Negative(_) | Value::Float(_) => Kind::Number,
            Value::Text(_) => Kind::String,
            Value::Tag(0, inner) if matches!(**inner, Value::Text(_)) => Kind::String,
            Value::Tag(1, inner)
                if matches!(
                    **inner,
                    Value::Unsigned(_) | Value::Negative(_) | Value::Float(_)
                ) =>
            {
                Kind::Number
            }
            Value::Array(_) => Kind::Array,
            Value::Map(m) if m.iter().all(|(k, _)| matches!(k, Value::Text(_))) => Kind::Object,
            Value::Bool(_) => Kind::Bool,
            Value::Null | Value::Undefined => Kind::Null,
            _ => Kind::Other,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Unsigned(n) => Some(*n as f64),
            Value::Negative(n) => Some(-1.0 - *n as f64),
            Value::Float(f) => Some(*f),
            Value::Tag(1, inner) => inner.as_f64(),
            _ => None,
        }
    }
    fn is_integer(&self) -> bool {
        match self {
            Value::Unsigned(_) | Value::Negative(_) => true,
            Value::Float(f) => f.is_finite() && f.fract() == 0.0,
            Value::Tag(1, inner) => inner.is_integer(),
            _ => false,
        }
    }
    fn as_str(&self) -> Option<&str> {
        self.as_text()
    }
    fn array_len(&self) -> Option<usize> {
        self.as_array().map(<[_]>::len)
    }
    fn array_item(&self, i: usize) -> Option<&Self> {
        self.as_array()?.get(i)
    }
    fn get(&self, key: &str) -> Option<&Self> {
        if self.kind() != Kind::Object {
            return None;
        }
        self.get_text(key)
    }
    fn object_keys(&self) -> Option<Vec<&str>> {
        if self.kind() != Kind::Object {
            return None;
        }
        self.as_map()
            .map(|m| m.iter().filter_map(|(k, _)| k.as_text()).collect())
    }
}

/// A CBOR writer: definite lengths, shortest integer heads.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn head(&mut self, major: u8, n: u64) -> &mut Self {
        let m = major << 5;
        if n < 24 {
            self.buf.push(m | n as u8);
        } else if n <= 0xff {
            self.buf.extend_from_slice(&[m | 24, n as u8]);
        } else if n <= 0xffff {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
        self
    }

    /// An integer.
    pub fn int(&mut self, n: i64) -> &mut Self {
        if n >= 0 {
            self.head(0, n as u64)
        } else {
            self.head(1, !(n as u64))
        }
    }

    /// A byte string.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(2, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }

    /// A text string.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.head(3, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// An array header for `len` items (write the items next).
    pub fn array(&mut self, len: usize) -> &mut Self {
        self.head(4, len as u64)
    }

    /// A map header for `len` pairs (write key, value, key, value ... next).
    pub fn map(&mut self, len: usize) -> &mut Self {
        self.head(5, len as u64)
    }

    /// A tag header (write the tagged item next).
    pub fn tag(&mut self, tag: u64) -> &mut Self {
        self.head(6, tag)
    }

    /// `true` / `false`.
    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.buf.push(if b { 0xf5 } else { 0xf4 });
        self
    }

    /// `null`.
    pub fn null(&mut self) -> &mut Self {
        self.buf.push(0xf6);
        self
    }

    /// A float, always as a double (callers that want integers write [`Writer::int`]).
    pub fn float(&mut self, f: f64) -> &mut Self {
        self.buf.push(0xfb);
        self.buf.extend_from_slice(&f.to_bits().to_be_bytes());
        self
    }

    /// Already-encoded CBOR, copied verbatim.
    pub fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(encoded);
        self
    }

    /// Any value (definite lengths).
    pub fn value(&mut self, v: &Value<'_>) -> &mut Self {
        match v {
            Value::Unsigned(n) => self.head(0, *n),
            Value::Negative(n) => self.head(1, *n),
            Value::Bytes(b) => self.bytes(b),
            Value::Text(t) => self.text(t),
            Value::Array(a) => {
                self.array(a.len());
                for item in a {
                    self.value(item);
                }
                self
            }
            Value::Map(m) => {
                self.map(m.len());
                for (k, item) in m {
                    self.value(k).value(item);
                }
                self
            }
            Value::Tag(t, inner) => self.tag(*t).value(inner),
            Value::Bool(b) => self.bool(*b),
            Value::Null => self.null(),
            Value::Undefined => {
                self.buf.push(0xf7);
                self
            }
            Value::Simple(s) if *s < 24 => {
                self.buf.push(0xe0 | s);
                self
            }
            Value::Simple(s) => {
                self.buf.extend_from_slice(&[0xf8, *s]);
                self
            }
            Value::Float(f) => self.float(*f),
        }
    }
}

/// Encodes a value (definite lengths, shortest heads).
pub fn encode(v: &Value<'_>) -> Vec<u8> {
    let mut w = Writer::new();
    w.value(v);
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(hex_text: &str) -> Result<Value<'static>, CborError> {
        let bytes: &'static [u8] = Box::leak(hex::decode(hex_text).unwrap().into_boxed_slice());
        decode(bytes, DEFAULT_MAX_DEPTH)
    }

    fn err(hex_text: &str) -> (usize, CborErrorKind) {
        let e = d(hex_text).unwrap_err();
        (e.offset, e.kind)
    }

    #[test]
    fn rfc8949_appendix_a() {
        use Value::*;
        let table: &[(&str, Value<'static>)] = &[
            ("00", Unsigned(0)),
            ("17", Unsigned(23)),
            ("1818", Unsigned(24)),
            ("1903e8", Unsigned(1000)),
            ("1a000f4240", Unsigned(1_000_000)),
            ("1bffffffffffffffff", Unsigned(u64::MAX)),
            ("20", Negative(0)),
            ("3903e7", Negative(999)),
            ("f90000", Float(0.0)),
            ("f93c00", Float(1.0)),
            ("f97bff", Float(65504.0)),
            ("f90001", Float(5.960464477539063e-8)),
            ("fa47c35000", Float(100000.0)),
            ("fb3ff199999999999a", Float(1.1)),
            ("f4", Bool(false)),
            ("f5", Bool(true)),
            ("f6", Null),
            ("f7", Undefined),
            ("f0", Simple(16)),
            ("f8ff", Simple(255)),
            ("40", Bytes(b"")),
            ("4401020304", Bytes(&[1, 2, 3, 4])),
            ("6449455446", Text("IETF")),
            ("62c3bc", Text("\u{fc}")),
            ("80", Array(vec![])),
            (
                "83010203",
                Array(vec![Unsigned(1), Unsigned(2), Unsigned(3)]),
            ),
            ("9f0102ff", Array(vec![Unsigned(1), Unsigned(2)])),
            (
                "a201020304",
                Map(vec![(Unsigned(1), Unsigned(2)), (Unsigned(3), Unsigned(4))]),
            ),
            ("bf6161f5ff", Map(vec![(Text("a"), Bool(true))])),
            (
                "c074323031332d30332d32315432303a30343a30305a",
                Tag(0, Box::new(Text("2013-03-21T20:04:00Z"))),
            ),
            ("c11a514b67b0", Tag(1, Box::new(Unsigned(1363896240)))),
        ];
        for (hex_text, want) in table {
            let got = d(hex_text).unwrap();
            assert_eq!(&got, want, "{hex_text}");
            // Round trip through the writer where the encoding is already shortest/definite.
            if !hex_text.starts_with("9f")
                && !hex_text.starts_with("bf")
                && !hex_text.starts_with("f9")
                && !hex_text.starts_with("fa")
            {
                assert_eq!(hex::encode(encode(&got)), *hex_text);
            }
        }
        assert_eq!(d("3bffffffffffffffff").unwrap().as_i64(), None);
        assert_eq!(d("3903e7").unwrap().as_i64(), Some(-1000));
    }

    #[test]
    fn strictness_with_offsets() {
        assert_eq!(err(""), (0, CborErrorKind::UnexpectedEnd));
        assert_eq!(err("0001"), (1, CborErrorKind::TrailingBytes(1)));
        assert_eq!(err("1c"), (0, CborErrorKind::ReservedAdditionalInfo(28)));
        assert_eq!(err("5f4100ff"), (0, CborErrorKind::IndefiniteString));
        assert_eq!(err("ff"), (0, CborErrorKind::UnexpectedBreak));
        assert_eq!(err("8201ff"), (2, CborErrorKind::UnexpectedBreak));
        assert_eq!(err("f818"), (0, CborErrorKind::BadSimple(24)));
        assert_eq!(err("62c328"), (0, CborErrorKind::InvalidUtf8));
        assert_eq!(err("bf01ff"), (2, CborErrorKind::MapKeyWithoutValue));
        assert_eq!(err("9f01"), (2, CborErrorKind::UnexpectedEnd));
        assert_eq!(err("1f"), (0, CborErrorKind::ReservedAdditionalInfo(31)));
        // Huge declared lengths are refused before allocating.
        assert_eq!(
            err("5bffffffffffffffff"),
            (0, CborErrorKind::LengthTooLarge(u64::MAX))
        );
        assert_eq!(
            err("9a7fffffff"),
            (0, CborErrorKind::LengthTooLarge(0x7fff_ffff))
        );
        assert_eq!(err("a30102"), (0, CborErrorKind::LengthTooLarge(3)));
        assert_eq!(
            d("0001").unwrap_err().to_string(),
            "1 trailing bytes after the item at CBOR byte 1"
        );
    }

    #[test]
    fn depth_limit_without_stack_overflow() {
        let mut deep = vec![0x81u8; 100_000];
        deep.push(0x00);
        let e = decode(&deep, DEFAULT_MAX_DEPTH).unwrap_err();
        assert_eq!(e.kind, CborErrorKind::TooDeep(16));
        assert_eq!(e.offset, 16);
        let mut indefinite = vec![0x9fu8; 100_000];
        indefinite.extend(std::iter::repeat_n(0xff, 100_000));
        assert!(decode(&indefinite, DEFAULT_MAX_DEPTH).is_err());
        let tags = [0xc1u8; 100_000];
        assert!(decode(&tags, DEFAULT_MAX_DEPTH).is_err());
        // Exactly at the limit is fine.
        let mut ok = vec![0x81u8; 16];
        ok.push(0);
        assert!(decode(&ok, 16).is_ok());
    }

    #[test]
    fn json_like_view() {
        // {"a": [1, -2, 1.5], "d": 0("2021-01-01T00:00:00Z"), 1: 2}
        let v = d("a2616184012120f93e006164c074323032312d30312d30315430303a30303a30305a").unwrap();
        assert_eq!(v.kind(), Kind::Object);
        assert_eq!(v.object_keys().unwrap(), ["a", "d"]);
        let a = JsonLike::get(&v, "a").unwrap();
        assert_eq!(a.array_len(), Some(4));
        assert_eq!(a.array_item(1).unwrap().as_f64(), Some(-2.0));
        assert!(a.array_item(1).unwrap().is_integer());
        assert!(!a.array_item(3).unwrap().is_integer());
        let date = JsonLike::get(&v, "d").unwrap();
        assert_eq!(date.kind(), Kind::String);
        assert_eq!(date.as_str(), Some("2021-01-01T00:00:00Z"));
        let int_keys = d("a10102").unwrap();
        assert_eq!(int_keys.kind(), Kind::Other);
        assert_eq!(d("40").unwrap().kind(), Kind::Other);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(v) = decode(&bytes, DEFAULT_MAX_DEPTH) {
                // Whatever parses re-encodes to something that parses to the same tree.
                let again = encode(&v);
                let reparsed = decode(&again, DEFAULT_MAX_DEPTH).unwrap();
                prop_assert_eq!(encode(&reparsed), again);
            }
        }
    }
}
