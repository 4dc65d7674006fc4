//! DCC payload schema validation: a compiled validator for the subset of JSON Schema 2020-12
//! that the EU DCC schemas (releases 1.0.0 to 1.3.3) use.
//!
//! A schema is compiled once ([`Validator::compile`], or [`SchemaSet::embedded`] for every
//! embedded release): regexes are built, `$ref`s are resolved to node indices, and every keyword
//! is checked. A keyword the compiler does not implement is refused, so a new schema release
//! cannot be validated less strictly than it says without anybody noticing.
//!
//! Supported assertions: `type` (a name or an array of names, including `integer`),
//! `properties`, `required`, `$ref` (internal, `#...` JSON pointers), `$defs`, `pattern`
//! (unanchored ECMA-262 regexes, with `\d`, `\w` and `.` read as ECMA-262 reads them),
//! `minLength`/`maxLength` (in Unicode scalar values), `minimum`/`maximum`, `items`,
//! `minItems`/`maxItems`, `oneOf`, `anyOf`, `enum`, `const` and `format` (`date` and
//! `date-time`, asserted only with [`Options::assert_formats`]; other format names are refused,
//! like unknown keywords).
//! Ignored annotations: `$schema`, `$id`, `$comment`, `title`, `description`, `examples`,
//! `valueset-uri`.
//!
//! Validation walks any [`JsonLike`] tree (a decoded CBOR payload as well as a
//! `serde_json::Value`) and does not allocate unless it fails.
//!
//! ```
//! use vaxpass_verifier::schema::SchemaSet;
//! let schemas = SchemaSet::embedded()?;
//! let payload = serde_json::json!({
//!     "ver": "1.3.0",
//!     "nam": {"fnt": "MUSTERMANN"},
//!     "dob": "1964-08",
//!     "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528",
//!            "ma": "ORG-100030215", "dn": 0, "sd": 2, "dt": "2021-06-01",
//!            "co": "AT", "is": "Ministry of Health", "ci": "URN:UVCI:01:AT:1234"}]
//! });
//! let err = schemas.validate(&payload).unwrap_err();
//! assert_eq!(err.to_string(), "/v/0/dn: 0 is below the minimum 1 (schema 1.3.0)");
//! # Ok::<(), vaxpass_verifier::schema::SchemaError>(())
//! ```

use std::collections::HashMap;

use crate::json_like::{JsonLike, Kind};
use crate::time::days_in_month;

/// The schema version used for a payload whose `ver` is missing, not a string, or names a
/// version that is not embedded. This is what the upstream dgc-testdata checker does.
pub const FALLBACK_VERSION: &str = "1.3.0";

/// Nesting limit of `$ref`/`oneOf`/`anyOf`/`properties`/`items` while validating; guards against
/// a schema whose `$ref`s loop without descending into the instance.
const MAX_DEPTH: usize = 64;

/// Values quoted in error messages are cut to this many characters.
const MAX_QUOTED_CHARS: usize = 20;

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a schema could not be compiled, or why a payload is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The schema text is not JSON, or uses something the compiler does not implement.
    #[error("schema {version} cannot be compiled at {location}: {reason}")]
    Compile {
        /// The schema version (or the name given to [`Validator::compile`]).
        version: String,
        /// JSON pointer into the schema document (empty = the root).
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// [`SchemaSet::validate_version`] was asked for a version that is not embedded.
    #[error("no schema for DCC version {0:?}")]
    UnknownVersion(String),
    /// The payload does not hold exactly one of `v`, `t` and `r` (a member that is present
    /// counts, even if it is `null`).
    #[error("the payload must hold exactly one of v, t, r; it holds {found}")]
    NotExactlyOneGroup {
        /// How many of the three it holds.
        found: usize,
    },
    /// The payload violates the schema.
    #[error("{}: {violation} (schema {version})", display_pointer(.pointer))]
    Invalid {
        /// The schema version validated against.
        version: String,
        /// RFC 6901 JSON pointer to the failing value (empty = the whole payload).
        pointer: String,
        /// What failed.
        violation: Violation,
    },
}

fn display_pointer(p: &str) -> &str {
    if p.is_empty() { "(root)" } else { p }
}

/// A failed schema assertion. The text never quotes a string value of the payload (names and
/// dates of birth are personal data); numbers are quoted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// `type`.
    #[error("expected {expected}, found {found}")]
    Type {
        /// The allowed types, e.g. `"string"` or `"string or null"`.
        expected: String,
        /// The type found (`"number"`, `"string"`, ...; `"other"` for CBOR-only items).
        found: &'static str,
    },
    /// `required`.
    #[error("the required member {0:?} is missing")]
    Required(String),
    /// `pattern`.
    #[error("the string does not match the pattern {0}")]
    Pattern(String),
    /// `minLength`.
    #[error("the string is shorter than minLength {limit}")]
    MinLength {
        /// The limit.
        limit: u64,
    },
    /// `maxLength`.
    #[error("the string is longer than maxLength {limit} ({actual} characters)")]
    MaxLength {
        /// The limit.
        limit: u64,
        /// The string's length in Unicode scalar values.
        actual: u64,
    },
    /// `minimum`.
    #[error("{actual} is below the minimum {limit}")]
    Minimum {
        /// The limit.
        limit: f64,
        /// The value.
        actual: f64,
    },
    /// `maximum`.
    #[error("{actual} is above the maximum {limit}")]
    Maximum {
        /// The limit.
        limit: f64,
        /// The value.
        actual: f64,
    },
    /// `minItems`.
    #[error("the array has {actual} items, fewer than minItems {limit}")]
    MinItems {
        /// The limit.
        limit: u64,
        /// The number of items.
        actual: u64,
    },
    /// `maxItems`.
    #[error("the array has {actual} items, more than maxItems {limit}")]
    MaxItems {
        /// The limit.
        limit: u64,
        /// The number of items.
        actual: u64,
    },
    /// `oneOf`: not exactly one alternative matches.
    #[error("{matched} of the {of} oneOf alternatives match, exactly one must")]
    OneOf {
        /// How many matched.
        matched: usize,
        /// How many there are.
        of: usize,
    },
    /// `anyOf`: no alternative matches.
    #[error("none of the {of} anyOf alternatives match")]
    AnyOf {
        /// How many there are.
        of: usize,
    },
    /// `enum`.
    #[error("the value is not one of the {of} allowed values")]
    Enum {
        /// How many values are allowed.
        of: usize,
    },
    /// `const`.
    #[error("the value is not the required constant")]
    Const,
    /// `format` (only with [`Options::assert_formats`]).
    #[error("the string is not a valid RFC 3339 {0}")]
    Format(&'static str),
    /// The schema nests deeper than the validator allows (a `$ref` loop).
    #[error("the schema nests deeper than {MAX_DEPTH} levels here")]
    TooDeep,
}

// ---------------------------------------------------------------------------------------------
// Compiled form

/// Validator options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Assert `format: date` (RFC 3339 `full-date`) and `format: date-time` (RFC 3339
    /// `date-time`: seconds required, offset `Z` or `±hh:mm`). JSON Schema 2020-12 treats
    /// `format` as an annotation by default, and so does this crate (`false`): several
    /// countries' real certificates carry `YYYY-MM-DDThh:mm:ss` dates or `+hh`/`+hhmm`
    /// offsets, and the upstream schema's own valid test cases include the latter.
    pub assert_formats: bool,
}

impl Options {
    /// The default options with `assert_formats` set.
    pub fn assert_formats(mut self, yes: bool) -> Self {
        self.assert_formats = yes;
        self
    }
}

type NodeId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Date,
    DateTime,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Date => "date",
            Format::DateTime => "date-time",
        }
    }
}

// Bits of a type set.
const T_NULL: u8 = 1;
const T_BOOLEAN: u8 = 2;
const T_OBJECT: u8 = 4;
const T_ARRAY: u8 = 8;
const T_NUMBER: u8 = 16;
const T_STRING: u8 = 32;
const T_INTEGER: u8 = 64;
const TYPE_NAMES: [(u8, &str); 7] = [
    (T_NULL, "null"),
    (T_BOOLEAN, "boolean"),
    (T_OBJECT, "object"),
    (T_ARRAY, "array"),
    (T_NUMBER, "number"),
    (T_STRING, "string"),
    (T_INTEGER, "integer"),
];

#[derive(Debug, Default)]
struct Node {
    types: Option<u8>,
    /// `properties`, each with whether it is also `required` (one lookup serves both).
    properties: Vec<(Box<str>, NodeId, bool)>,
    /// `required` names that are not in `properties`.
    required: Vec<Box<str>>,
    reference: Option<NodeId>,
    pattern: Option<(regex::Regex, Box<str>)>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    items: Option<NodeId>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    one_of: Vec<NodeId>,
    any_of: Vec<NodeId>,
    enumeration: Option<Vec<serde_json::Value>>,
    constant: Option<serde_json::Value>,
    format: Option<Format>,
}

/// One compiled schema.
#[derive(Debug)]
pub struct Validator {
    version: String,
    nodes: Vec<Node>,
    options: Options,
}

/// Keywords that carry no assertion.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "valueset-uri",
];

struct Compiler<'d> {
    version: &'d str,
    doc: &'d serde_json::Value,
    nodes: Vec<Node>,
    /// JSON pointer (into `doc`) -> node, for `$ref`s and to compile each subschema once.
    by_pointer: HashMap<String, NodeId>,
}

impl<'d> Compiler<'d> {
    fn error(&self, location: &str, reason: impl Into<String>) -> SchemaError {
        SchemaError::Compile {
            version: self.version.to_owned(),
            location: location.to_owned(),
            reason: reason.into(),
        }
    }

    /// Compiles the subschema at `pointer` (once), returning its node.
    fn compile_at(&mut self, pointer: &str) -> Result<NodeId, SchemaError> {
        if let Some(&id) = self.by_pointer.get(pointer) {
            return Ok(id);
        }
        let doc = self.doc;
        let schema = doc
            .pointer(pointer)
            .ok_or_else(|| self.error(pointer, "no such location"))?;
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.by_pointer.insert(pointer.to_owned(), id);
        let node = self.compile_node(pointer, schema)?;
        self.nodes[id] = node;
        Ok(id)
    }

    fn compile_node(
        &mut self,
        pointer: &str,
        schema: &'d serde_json::Value,
    ) -> Result<Node, SchemaError> {
        let obj = match schema {
            serde_json::Value::Object(o) => o,
            serde_json::Value::Bool(_) => {
                return Err(self.error(pointer, "boolean schemas are not supported"));
            }
            _ => return Err(self.error(pointer, "a schema must be an object")),
        };
        let mut node = Node::default();
        for (key, value) in obj {
            let here = format!("{pointer}/{}", escape_pointer_segment(key));
            match key.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "type" => node.types = Some(self.type_set(&here, value)?),
                "properties" => {
                    let members = value
                        .as_object()
                        .ok_or_else(|| self.error(&here, "properties must be an object"))?;
                    for name in members.keys() {
                        let child =
                            self.compile_at(&format!("{here}/{}", escape_pointer_segment(name)))?;
                        node.properties.push((name.as_str().into(), child, false));
                    }
                }
                "required" => {
                    let names = value
                        .as_array()
                        .ok_or_else(|| self.error(&here, "required must be an array"))?;
                    for n in names {
                        let n = n
                            .as_str()
                            .ok_or_else(|| self.error(&here, "required must hold strings only"))?;
                        node.required.push(n.into());
                    }
                }
                "$ref" => {
                    let target = value
                        .as_str()
                        .ok_or_else(|| self.error(&here, "$ref must be a string"))?;
                    let fragment = target.strip_prefix('#').ok_or_else(|| {
                        self.error(
                            &here,
                            format!("only internal $refs (#...) are supported, not {target:?}"),
                        )
                    })?;
                    let fragment = percent_decode(fragment)
                        .ok_or_else(|| self.error(&here, "bad percent-encoding in $ref"))?;
                    if !fragment.is_empty() && !fragment.starts_with('/') {
                        return Err(self.error(&here, "anchor $refs are not supported"));
                    }
                    node.reference = Some(self.compile_at(&fragment)?);
                }
                "$defs" => {
                    let defs = value
                        .as_object()
                        .ok_or_else(|| self.error(&here, "$defs must be an object"))?;
                    // Compiled even when unused, so that every keyword is checked.
                    for name in defs.keys() {
                        self.compile_at(&format!("{here}/{}", escape_pointer_segment(name)))?;
                    }
                }
                "pattern" => {
                    let p = value
                        .as_str()
                        .ok_or_else(|| self.error(&here, "pattern must be a string"))?;
                    let re = regex::Regex::new(&ecma_to_rust_regex(p))
                        .map_err(|e| self.error(&here, format!("pattern {p:?}: {e}")))?;
                    node.pattern = Some((re, p.into()));
                }
                "minLength" => node.min_length = Some(self.count(&here, value)?),
                "maxLength" => node.max_length = Some(self.count(&here, value)?),
                "minItems" => node.min_items = Some(self.count(&here, value)?),
                "maxItems" => node.max_items = Some(self.count(&here, value)?),
                "minimum" => node.minimum = Some(self.number(&here, value)?),
                "maximum" => node.maximum = Some(self.number(&here, value)?),
                "items" => {
                    if !value.is_object() {
                        return Err(self.error(&here, "items must be a schema object"));
                    }
                    node.items = Some(self.compile_at(&here)?);
                }
                "oneOf" | "anyOf" => {
                    let list = value
                        .as_array()
                        .filter(|l| !l.is_empty())
                        .ok_or_else(|| self.error(&here, "must be a non-empty array"))?;
                    let mut ids = Vec::with_capacity(list.len());
                    for i in 0..list.len() {
                        ids.push(self.compile_at(&format!("{here}/{i}"))?);
                    }
                    if key == "oneOf" {
                        node.one_of = ids;
                    } else {
                        node.any_of = ids;
                    }
                }
                "enum" => {
                    let list = value
                        .as_array()
                        .ok_or_else(|| self.error(&here, "enum must be an array"))?;
                    node.enumeration = Some(list.clone());
                }
                "const" => node.constant = Some(value.clone()),
                "format" => {
                    node.format = match value.as_str() {
                        Some("date") => Some(Format::Date),
                        Some("date-time") => Some(Format::DateTime),
                        // Refused rather than silently ignored, as unknown keywords are.
                        Some(other) => {
                            return Err(self.error(&here, format!("unsupported format {other:?}")));
                        }
                        None => return Err(self.error(&here, "format must be a string")),
                    }
                }
                other => {
                    return Err(self.error(&here, format!("unsupported keyword {other:?}")));
                }
            }
        }
        // Fold `required` into `properties` where both name the member.
        node.required.retain(
            |name| match node.properties.iter_mut().find(|(p, _, _)| p == name) {
                Some((_, _, required)) => {
                    *required = true;
                    false
                }
                None => true,
            },
        );
        Ok(node)
    }

    fn type_set(&self, here: &str, value: &serde_json::Value) -> Result<u8, SchemaError> {
        let one = |v: &serde_json::Value| -> Result<u8, SchemaError> {
            let name = v
                .as_str()
                .ok_or_else(|| self.error(here, "type names must be strings"))?;
            TYPE_NAMES
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(bit, _)| *bit)
                .ok_or_else(|| self.error(here, format!("unknown type {name:?}")))
        };
        match value {
            serde_json::Value::Array(list) if !list.is_empty() => {
                list.iter().try_fold(0, |acc, v| Ok(acc | one(v)?))
            }
            serde_json::Value::Array(_) => Err(self.error(here, "empty type array")),
            v => one(v),
        }
    }

    fn count(&self, here: &str, value: &serde_json::Value) -> Result<u64, SchemaError> {
        value
            .as_u64()
            .ok_or_else(|| self.error(here, "must be a non-negative integer"))
    }

    fn number(&self, here: &str, value: &serde_json::Value) -> Result<f64, SchemaError> {
        value
            .as_f64()
            .ok_or_else(|| self.error(here, "must be a number"))
    }
}

fn escape_pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Decodes `%XX` escapes in a URI fragment.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Rewrites the parts of an ECMA-262 pattern whose meaning differs in the `regex` crate:
/// `\d`, `\D`, `\w`, `\W` are ASCII-only in ECMA-262 (Unicode-aware in `regex`), and `.` does not
/// match any ECMA-262 line terminator. Everything else is passed through; what `regex` cannot
/// parse (look-around, back-references) is refused when the schema is compiled.
fn ecma_to_rust_regex(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let mut in_class = false;
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('d') => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                Some('w') => out.push_str(if in_class {
                    "A-Za-z0-9_"
                } else {
                    "[A-Za-z0-9_]"
                }),
                Some('D') if !in_class => out.push_str("[^0-9]"),
                Some('W') if !in_class => out.push_str("[^A-Za-z0-9_]"),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading `]` or `^]` is literal in `regex` but closes an empty class in
                // ECMA-262; neither occurs in the DCC schemas, so it is passed as is.
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '.' if !in_class => out.push_str("[^\\n\\r\\u{2028}\\u{2029}]"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Validation

/// A path segment of the instance, kept on the stack and turned into a pointer only on failure.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// What failed, borrowing from the schema: nothing is allocated for a failure that is only
/// looked at by `oneOf`/`anyOf` and then dropped.
enum Why<'a> {
    Type { set: u8, found: Kind },
    Required(&'a str),
    Pattern(&'a str),
    Other(Violation),
}

impl Why<'_> {
    fn into_violation(self) -> Violation {
        match self {
            Why::Type { set, found } => Violation::Type {
                expected: type_set_name(set),
                found: kind_name(found),
            },
            Why::Required(name) => Violation::Required(name.to_owned()),
            Why::Pattern(source) => Violation::Pattern(source.to_owned()),
            Why::Other(v) => v,
        }
    }
}

/// A failure on its way up: the segments are collected innermost first (allocating only when a
/// failure happens below the root).
struct Failure<'a> {
    rev_path: Vec<Seg<'a>>,
    why: Why<'a>,
}

impl<'a> Failure<'a> {
    fn at(violation: Violation) -> Self {
        Self::because(Why::Other(violation))
    }
    fn because(why: Why<'a>) -> Self {
        Failure {
            rev_path: Vec::new(),
            why,
        }
    }
    fn within(mut self, seg: Seg<'a>) -> Self {
        self.rev_path.push(seg);
        self
    }
    fn pointer(&self) -> String {
        let mut p = String::new();
        for seg in self.rev_path.iter().rev() {
            p.push('/');
            match seg {
                Seg::Key(k) => {
                    let k: String = k.chars().take(MAX_QUOTED_CHARS).collect();
                    p.push_str(&escape_pointer_segment(&k));
                }
                Seg::Index(i) => p.push_str(&i.to_string()),
            }
        }
        p
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Null => "null",
        Kind::Bool => "boolean",
        Kind::Number => "number",
        Kind::String => "string",
        Kind::Array => "array",
        Kind::Object => "object",
        Kind::Other => "other",
    }
}

fn type_set_name(set: u8) -> String {
    let names: Vec<&str> = TYPE_NAMES
        .iter()
        .filter(|(bit, _)| set & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join(" or ")
}

impl Validator {
    /// Compiles a schema document. `version` names it in errors.
    ///
    /// # Errors
    /// [`SchemaError::Compile`] if the text is not JSON, a `$ref` is external or dangling, a
    /// pattern is not a valid regex, or a keyword is neither a supported assertion nor a known
    /// annotation.
    pub fn compile(
        version: &str,
        schema_json: &str,
        options: Options,
    ) -> Result<Self, SchemaError> {
        let doc: serde_json::Value =
            serde_json::from_str(schema_json).map_err(|e| SchemaError::Compile {
                version: version.to_owned(),
                location: String::new(),
                reason: format!("not JSON: {e}"),
            })?;
        let mut c = Compiler {
            version,
            doc: &doc,
            nodes: Vec::new(),
            by_pointer: HashMap::new(),
        };
        let root = c.compile_at("")?;
        debug_assert_eq!(root, 0);
        Ok(Validator {
            version: version.to_owned(),
            nodes: c.nodes,
            options,
        })
    }

    /// The version (name) this schema was compiled under.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The options this validator was compiled with.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Validates an instance (schema only; the exactly-one-of-v/t/r rule is
    /// [`SchemaSet`]'s).
    ///
    /// # Errors
    /// [`SchemaError::Invalid`] with the first violation found.
    pub fn validate<J: JsonLike>(&self, instance: &J) -> Result<(), SchemaError> {
        self.check(0, instance, 0)
            .map_err(|f| SchemaError::Invalid {
                version: self.version.clone(),
                pointer: f.pointer(),
                violation: f.why.into_violation(),
            })
    }

    /// Whether the instance is valid (no error is built).
    pub fn is_valid<J: JsonLike>(&self, instance: &J) -> bool {
        self.check(0, instance, 0).is_ok()
    }

    fn check<'a, J: JsonLike>(
        &'a self,
        id: NodeId,
        inst: &'a J,
        depth: usize,
    ) -> Result<(), Failure<'a>> {
        if depth > MAX_DEPTH {
            return Err(Failure::at(Violation::TooDeep));
        }
        let node = &self.nodes[id];
        let kind = inst.kind();

        if let Some(set) = node.types {
            let ok = match kind {
                Kind::Null => set & T_NULL != 0,
                Kind::Bool => set & T_BOOLEAN != 0,
                Kind::Object => set & T_OBJECT != 0,
                Kind::Array => set & T_ARRAY != 0,
                Kind::String => set & T_STRING != 0,
                Kind::Number => set & T_NUMBER != 0 || (set & T_INTEGER != 0 && inst.is_integer()),
                Kind::Other => false,
            };
            if !ok {
                return Err(Failure::because(Why::Type { set, found: kind }));
            }
        }

        if let Some(target) = node.reference {
            self.check(target, inst, depth + 1)?;
        }

        match kind {
            Kind::Object => {
                for name in &node.required {
                    if inst.get(name).is_none() {
                        return Err(Failure::because(Why::Required(name)));
                    }
                }
                for (name, child, required) in &node.properties {
                    match inst.get(name) {
                        Some(value) => self
                            .check(*child, value, depth + 1)
                            .map_err(|f| f.within(Seg::Key(name)))?,
                        None if *required => {
                            return Err(Failure::because(Why::Required(name)));
                        }
                        None => {}
                    }
                }
            }
            Kind::Array => {
                let len = inst.array_len().unwrap_or(0);
                if let Some(limit) = node.min_items {
                    if (len as u64) < limit {
                        return Err(Failure::at(Violation::MinItems {
                            limit,
                            actual: len as u64,
                        }));
                    }
                }
                if let Some(limit) = node.max_items {
                    if len as u64 > limit {
                        return Err(Failure::at(Violation::MaxItems {
                            limit,
                            actual: len as u64,
                        }));
                    }
                }
                if let Some(items) = node.items {
                    for i in 0..len {
                        if let Some(item) = inst.array_item(i) {
                            self.check(items, item, depth + 1)
                                .map_err(|f| f.within(Seg::Index(i)))?;
                        }
                    }
                }
            }
            Kind::String => {
                let s = inst.as_str().unwrap_or("");
                if node.min_length.is_some() || node.max_length.is_some() {
                    // Byte length bounds the character count from above: count only if needed.
                    let bytes = s.len() as u64;
                    if let Some(limit) = node.max_length {
                        if bytes > limit {
                            let actual = s.chars().count() as u64;
                            if actual > limit {
                                return Err(Failure::at(Violation::MaxLength { limit, actual }));
                            }
                        }
                    }
                    if let Some(limit) = node.min_length {
                        if (s.chars().count() as u64) < limit {
                            return Err(Failure::at(Violation::MinLength { limit }));
                        }
                    }
                }
                if let Some((re, source)) = &node.pattern {
                    if !re.is_match(s) {
                        return Err(Failure::because(Why::Pattern(source)));
                    }
                }
                if let (Some(format), true) = (node.format, self.options.assert_formats) {
                    let ok = match format {
                        Format::Date => is_rfc3339_date(s),
                        Format::DateTime => is_rfc3339_date_time(s),
                    };
                    if !ok {
                        return Err(Failure::at(Violation::Format(format.name())));
                    }
                }
            }
            Kind::Number => {
                let n = inst.as_f64().unwrap_or(f64::NAN);
                if let Some(limit) = node.minimum {
                    if n.is_nan() || n < limit {
                        return Err(Failure::at(Violation::Minimum { limit, actual: n }));
                    }
                }
                if let Some(limit) = node.maximum {
                    if n.is_nan() || n > limit {
                        return Err(Failure::at(Violation::Maximum { limit, actual: n }));
                    }
                }
            }
            Kind::Null | Kind::Bool | Kind::Other => {}
        }

        if let Some(values) = &node.enumeration {
            if !values.iter().any(|v| json_equals(v, inst)) {
                return Err(Failure::at(Violation::Enum { of: values.len() }));
            }
        }
        if let Some(value) = &node.constant {
            if !json_equals(value, inst) {
                return Err(Failure::at(Violation::Const));
            }
        }

        if !node.any_of.is_empty()
            && !node
                .any_of
                .iter()
                .any(|&alt| self.check(alt, inst, depth + 1).is_ok())
        {
            return Err(Failure::at(Violation::AnyOf {
                of: node.any_of.len(),
            }));
        }
        if !node.one_of.is_empty() {
            let matched = node
                .one_of
                .iter()
                .filter(|&&alt| self.check(alt, inst, depth + 1).is_ok())
                .count();
            if matched != 1 {
                return Err(Failure::at(Violation::OneOf {
                    matched,
                    of: node.one_of.len(),
                }));
            }
        }
        Ok(())
    }
}

/// JSON equality between a schema value and an instance (numbers compared as `f64`).
fn json_equals<J: JsonLike>(expected: &serde_json::Value, inst: &J) -> bool {
    use serde_json::Value as V;
    match (expected, inst.kind()) {
        (V::Null, Kind::Null) => true,
        (V::Bool(b), Kind::Bool) => inst.as_bool() == Some(*b),
        (V::Number(n), Kind::Number) => n.as_f64().is_some() && n.as_f64() == inst.as_f64(),
        (V::String(s), Kind::String) => inst.as_str() == Some(s.as_str()),
        (V::Array(items), Kind::Array) => {
            inst.array_len() == Some(items.len())
                && items
                    .iter()
                    .enumerate()
                    .all(|(i, e)| inst.array_item(i).is_some_and(|x| json_equals(e, x)))
        }
        (V::Object(members), Kind::Object) => {
            inst.object_keys().is_some_and(|k| k.len() == members.len())
                && members
                    .iter()
                    .all(|(k, e)| inst.get(k).is_some_and(|x| json_equals(e, x)))
        }
        _ => false,
    }
}

fn two_digits(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(c - b'0')),
        _ => None,
    }
}

/// RFC 3339 `full-date`: `YYYY-MM-DD`, a day that exists.
fn is_rfc3339_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !b[..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let year =
        i64::from(two_digits(&b[0..2]).unwrap_or(0) * 100 + two_digits(&b[2..4]).unwrap_or(0));
    match (two_digits(&b[5..7]), two_digits(&b[8..10])) {
        (Some(m), Some(d)) => (1..=12).contains(&m) && d >= 1 && d <= days_in_month(year, m),
        _ => false,
    }
}

/// RFC 3339 `date-time`: `full-date T hh:mm:ss[.frac] (Z | ±hh:mm)`; `T` and `Z` may be lower
/// case. A leap second (`:60`) is accepted only at 23:59 UTC.
fn is_rfc3339_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_char_boundary(10) || !is_rfc3339_date(&s[..10]) {
        return false;
    }
    if !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let (Some(h), Some(m), Some(sec)) = (
        two_digits(&b[11..13]),
        two_digits(&b[14..16]),
        two_digits(&b[17..19]),
    ) else {
        return false;
    };
    if h > 23 || m > 59 || sec > 60 {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    let offset_minutes: i64 = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            match (two_digits(&[*h1, *h2]), two_digits(&[*m1, *m2])) {
                (Some(oh), Some(om)) if oh <= 23 && om <= 59 => {
                    let o = i64::from(oh * 60 + om);
                    if *sign == b'-' { -o } else { o }
                }
                _ => return false,
            }
        }
        _ => return false,
    };
    if sec == 60 {
        let utc = (i64::from(h * 60 + m) - offset_minutes).rem_euclid(24 * 60);
        return utc == 23 * 60 + 59;
    }
    true
}

// ---------------------------------------------------------------------------------------------
// The set of embedded schemas

/// Compiled validators for every embedded DCC schema version
/// ([`vaxpass_schemas::DCC_SCHEMA_VERSIONS`]).
#[derive(Debug)]
pub struct SchemaSet {
    /// Sorted by version, as in `DCC_SCHEMA_VERSIONS`.
    validators: Vec<Validator>,
    fallback: usize,
}

impl SchemaSet {
    /// Compiles every embedded schema version with the default [`Options`] (formats not
    /// asserted).
    ///
    /// # Errors
    /// [`SchemaError::Compile`] if an embedded schema cannot be compiled (a bug caught by the
    /// tests).
    pub fn embedded() -> Result<Self, SchemaError> {
        Self::embedded_with(Options::default())
    }

    /// The embedded schemas with default options, compiled once per process on first use.
    ///
    /// # Errors
    /// As [`SchemaSet::embedded`] (the embedded schemas compile; a test pins that).
    pub fn shared() -> Result<&'static Self, SchemaError> {
        static SHARED: std::sync::OnceLock<Result<SchemaSet, SchemaError>> =
            std::sync::OnceLock::new();
        SHARED
            .get_or_init(Self::embedded)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Compiles every embedded schema version with these options.
    ///
    /// # Errors
    /// As [`SchemaSet::embedded`].
    pub fn embedded_with(options: Options) -> Result<Self, SchemaError> {
        let mut validators = Vec::with_capacity(vaxpass_schemas::DCC_SCHEMA_VERSIONS.len());
        for version in vaxpass_schemas::DCC_SCHEMA_VERSIONS {
            let text = vaxpass_schemas::dcc_schema(version)
                .ok_or_else(|| SchemaError::UnknownVersion((*version).to_owned()))?;
            validators.push(Validator::compile(version, text, options)?);
        }
        let fallback = validators
            .iter()
            .position(|v| v.version == FALLBACK_VERSION)
            .ok_or_else(|| SchemaError::UnknownVersion(FALLBACK_VERSION.to_owned()))?;
        Ok(SchemaSet {
            validators,
            fallback,
        })
    }

    /// The compiled versions, ascending.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.validators.iter().map(|v| v.version.as_str())
    }

    /// The validator of one version, if embedded.
    pub fn get(&self, version: &str) -> Option<&Validator> {
        self.validators.iter().find(|v| v.version == version)
    }

    /// The validator used for a payload: that of its own `ver`, or of [`FALLBACK_VERSION`]
    /// (1.3.0) when `ver` is missing, not a string or not an embedded version.
    pub fn validator_for<J: JsonLike>(&self, payload: &J) -> &Validator {
        payload
            .get("ver")
            .and_then(J::as_str)
            .and_then(|v| self.get(v))
            .unwrap_or(&self.validators[self.fallback])
    }

    /// Validates a DCC payload against the schema of its own `ver` (see
    /// [`SchemaSet::validator_for`]), after checking that it holds exactly one of `v`, `t`, `r`
    /// (required by every version, although only 1.3.0+ says so in the schema).
    ///
    /// # Errors
    /// [`SchemaError::NotExactlyOneGroup`] or [`SchemaError::Invalid`].
    pub fn validate<J: JsonLike>(&self, payload: &J) -> Result<(), SchemaError> {
        let validator = self.validator_for(payload);
        exactly_one_group(payload)?;
        validator.validate(payload)
    }

    /// Validates a DCC payload against the schema of a given version (and the exactly-one-of
    /// v/t/r rule).
    ///
    /// # Errors
    /// [`SchemaError::UnknownVersion`] if that version is not embedded, otherwise as
    /// [`SchemaSet::validate`].
    pub fn validate_version<J: JsonLike>(
        &self,
        version: &str,
        payload: &J,
    ) -> Result<(), SchemaError> {
        let validator = self.get(version).ok_or_else(|| {
            SchemaError::UnknownVersion(version.chars().take(MAX_QUOTED_CHARS).collect())
        })?;
        exactly_one_group(payload)?;
        validator.validate(payload)
    }
}

/// The exactly-one-of-v/t/r rule. Not applied to a non-object (the schema's `type` reports it).
fn exactly_one_group<J: JsonLike>(payload: &J) -> Result<(), SchemaError> {
    if payload.kind() != Kind::Object {
        return Ok(());
    }
    let found = ["v", "t", "r"]
        .iter()
        .filter(|k| payload.get(k).is_some())
        .count();
    if found == 1 {
        Ok(())
    } else {
        Err(SchemaError::NotExactlyOneGroup { found })
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod conformance_tests;
