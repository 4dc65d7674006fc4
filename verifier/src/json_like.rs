//! A read-only view of a JSON-shaped tree, so that schema validation, value-set checks and rules
//! run on a decoded CBOR payload directly, without converting it to JSON first.

/// The JSON type of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `null` (CBOR null or undefined).
    Null,
    /// `true` / `false`.
    Bool,
    /// A number (integer or float).
    Number,
    /// A text string (CBOR text, also a tag-0 date-time text).
    String,
    /// An array.
    Array,
    /// An object (a CBOR map with text keys).
    Object,
    /// Something JSON has no type for (CBOR byte strings, maps with non-text keys, other tags).
    Other,
}

/// A JSON-shaped tree node. Implemented for [`serde_json::Value`] here and for the decoded CBOR
/// payload tree in the codec.
pub trait JsonLike {
    /// The node's type.
    fn kind(&self) -> Kind;
    /// The boolean, if this is one.
    fn as_bool(&self) -> Option<bool>;
    /// The number as `f64`, if this is a number.
    fn as_f64(&self) -> Option<f64>;
    /// Whether this is a number with no fractional part (JSON Schema's `integer`).
    fn is_integer(&self) -> bool;
    /// The text, if this is a string.
    fn as_str(&self) -> Option<&str>;
    /// Number of items, if this is an array.
    fn array_len(&self) -> Option<usize>;
    /// Item `i`, if this is an array with that many items.
    fn array_item(&self, i: usize) -> Option<&Self>;
    /// The member named `key`, if this is an object that has it.
    fn get(&self, key: &str) -> Option<&Self>;
    /// The member names, if this is an object (in wire order).
    fn object_keys(&self) -> Option<Vec<&str>>;
}

impl JsonLike for serde_json::Value {
    fn kind(&self) -> Kind {
        match self {
            serde_json::Value::Null => Kind::Null,
            serde_json::Value::Bool(_) => Kind::Bool,
            serde_json::Value::Number(_) => Kind::Number,
            serde_json::Value::String(_) => Kind::String,
            serde_json::Value::Array(_) => Kind::Array,
            serde_json::Value::Object(_) => Kind::Object,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        self.as_bool()
    }
    fn as_f64(&self) -> Option<f64> {
        self.as_f64()
    }
    fn is_integer(&self) -> bool {
        match self {
            serde_json::Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }
    fn as_str(&self) -> Option<&str> {
        self.as_str()
    }
    fn array_len(&self) -> Option<usize> {
        self.as_array().map(Vec::len)
    }
    fn array_item(&self, i: usize) -> Option<&Self> {
        self.as_array().and_then(|a| a.get(i))
    }
    fn get(&self, key: &str) -> Option<&Self> {
        self.as_object().and_then(|o| o.get(key))
    }
    fn object_keys(&self) -> Option<Vec<&str>> {
        self.as_object()
            .map(|o| o.keys().map(String::as_str).collect())
    }
}
