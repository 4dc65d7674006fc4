//! Unit tests of the compiler and validator, one or more per keyword, and of the error texts.

use serde_json::{Value, json};

use super::*;

fn compile(schema: Value) -> Result<Validator, SchemaError> {
    Validator::compile("test", &schema.to_string(), Options::default())
}

fn v(schema: Value) -> Validator {
    compile(schema).unwrap()
}

/// The error text of validating `instance`, or "ok".
fn check(validator: &Validator, instance: Value) -> String {
    match validator.validate(&instance) {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_keywords_are_refused_at_compile_time() {
    for keyword in [
        "additionalProperties",
        "allOf",
        "not",
        "if",
        "minProperties",
        "$dynamicRef",
    ] {
        let err = compile(json!({"properties": {"a": {keyword: {}}}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "schema test cannot be compiled at /properties/a/{keyword}: unsupported keyword \"{keyword}\""
            )
        );
    }
    // Also inside an unused $defs entry.
    let err = compile(json!({"$defs": {"unused": {"uniqueItems": true}}})).unwrap_err();
    assert!(
        err.to_string().contains("/$defs/unused/uniqueItems"),
        "{err}"
    );
    // Annotations are fine.
    v(
        json!({"$schema": "x", "$id": "y", "$comment": "c", "title": "t", "description": "d",
             "examples": [1], "valueset-uri": "u"}),
    );
}

#[test]
fn malformed_schemas_are_refused() {
    let bad = [
        (json!({"type": "text"}), "/type: unknown type \"text\""),
        (json!({"type": []}), "/type: empty type array"),
        (
            json!({"required": "a"}),
            "/required: required must be an array",
        ),
        (
            json!({"maxLength": -1}),
            "/maxLength: must be a non-negative integer",
        ),
        (json!({"minimum": "1"}), "/minimum: must be a number"),
        (
            json!({"pattern": "(unclosed"}),
            "/pattern: pattern \"(unclosed\"",
        ),
        (
            json!({"pattern": "(?=look)"}),
            "/pattern: pattern \"(?=look)\"",
        ),
        (json!({"$ref": "other.json#/x"}), "only internal $refs"),
        (
            json!({"$ref": "#/$defs/missing"}),
            "at /$defs/missing: no such location",
        ),
        (json!({"$ref": "#anchor"}), "anchor $refs are not supported"),
        (json!({"oneOf": []}), "/oneOf: must be a non-empty array"),
        (
            json!({"format": "email"}),
            "/format: unsupported format \"email\"",
        ),
        (
            json!({"items": [{}]}),
            "/items: items must be a schema object",
        ),
        (
            json!({"properties": {"a": true}}),
            "/properties/a: boolean schemas are not supported",
        ),
    ];
    for (schema, want) in bad {
        let err = compile(schema.clone()).unwrap_err().to_string();
        assert!(err.contains(want), "{schema}: {err}");
    }
    assert!(
        Validator::compile("x", "{", Options::default())
            .unwrap_err()
            .to_string()
            .starts_with("schema x cannot be compiled at : not JSON")
    );
}

#[test]
fn refs_resolve_to_shared_nodes_and_may_recurse() {
    let schema = json!({
        "properties": {"a": {"$ref": "#/$defs/pos"}, "b": {"$ref": "#/$defs/pos"},
                       "tree": {"$ref": "#/$defs/tree"}},
        "$defs": {
            "pos": {"type": "integer", "minimum": 1},
            "tree": {"type": "object", "properties": {"kids": {"type": "array",
                     "items": {"$ref": "#/$defs/tree"}}, "n": {"$ref": "#/$defs/pos"}}},
            "a~b/c": {"type": "null"}
        },
        "$comment": "escaped ref below",
        "title": "t"
    });
    let val = v(schema);
    // Root + 3 properties + 3 defs + tree's 2 properties + items = 10 nodes; each $ref target
    // compiled once.
    assert_eq!(val.nodes.len(), 10);
    assert_eq!(check(&val, json!({"a": 1, "b": 2})), "ok");
    assert_eq!(
        check(&val, json!({"a": 1, "b": 0})),
        "/b: 0 is below the minimum 1 (schema test)"
    );
    let deep = json!({"tree": {"kids": [{"kids": [{"n": 0}]}]}});
    assert_eq!(
        check(&val, deep),
        "/tree/kids/0/kids/0/n: 0 is below the minimum 1 (schema test)"
    );
    // Pointer escapes (~0 ~1) and percent-encoding in a $ref.
    let val = v(json!({"$ref": "#/$defs/a~0b~1c", "$defs": {"a~b/c": {"type": "null"}}}));
    assert_eq!(check(&val, json!(null)), "ok");
    let val = v(json!({"$ref": "#/$defs/a%20b", "$defs": {"a b": {"type": "null"}}}));
    assert_eq!(
        check(&val, json!(1)),
        "(root): expected null, found number (schema test)"
    );
    // A $ref loop that never descends is stopped, not a stack overflow.
    let val = v(json!({"$ref": "#"}));
    assert_eq!(
        check(&val, json!(1)),
        "(root): the schema nests deeper than 64 levels here (schema test)"
    );
}

#[test]
fn type_keyword() {
    let val = v(json!({"type": "integer"}));
    assert_eq!(check(&val, json!(3)), "ok");
    assert_eq!(check(&val, json!(3.0)), "ok");
    assert_eq!(
        check(&val, json!(3.5)),
        "(root): expected integer, found number (schema test)"
    );
    assert_eq!(
        check(&val, json!("3")),
        "(root): expected integer, found string (schema test)"
    );
    let val = v(json!({"type": ["string", "null"]}));
    assert_eq!(check(&val, json!(null)), "ok");
    assert_eq!(check(&val, json!("")), "ok");
    assert_eq!(
        check(&val, json!([])),
        "(root): expected null or string, found array (schema test)"
    );
    let val = v(json!({"type": "number"}));
    assert_eq!(check(&val, json!(1)), "ok");
    assert_eq!(
        check(&val, json!(true)),
        "(root): expected number, found boolean (schema test)"
    );
    let val = v(json!({"type": ["object", "array", "boolean"]}));
    assert_eq!(check(&val, json!({})), "ok");
    assert_eq!(check(&val, json!([])), "ok");
    assert_eq!(check(&val, json!(false)), "ok");
}

#[test]
fn properties_and_required() {
    let val = v(json!({"type": "object", "required": ["a", "b"],
                       "properties": {"a": {"type": "string"}, "c": {"type": "string"}}}));
    assert_eq!(check(&val, json!({"a": "x", "b": 1, "extra": 2})), "ok");
    assert_eq!(
        check(&val, json!({"a": "x"})),
        "(root): the required member \"b\" is missing (schema test)"
    );
    // "a" is both required and a property (checked with one lookup).
    assert_eq!(
        check(&val, json!({"b": 1})),
        "(root): the required member \"a\" is missing (schema test)"
    );
    assert_eq!(
        check(&val, json!({"a": "x", "b": 1, "c": 2})),
        "/c: expected string, found number (schema test)"
    );
    // `required` and `properties` do not apply to non-objects.
    assert_eq!(
        check(&val, json!("x")),
        "(root): expected object, found string (schema test)"
    );
    let val = v(json!({"required": ["a"]}));
    assert_eq!(check(&val, json!([1])), "ok");
    // Keys with / and ~ are escaped in the pointer.
    let val = v(json!({"properties": {"a/b~": {"type": "string"}}}));
    assert_eq!(
        check(&val, json!({"a/b~": 1})),
        "/a~1b~0: expected string, found number (schema test)"
    );
}

#[test]
fn pattern_is_an_unanchored_ecma_regex() {
    let val = v(json!({"pattern": "[A-Z]{1,10}"}));
    assert_eq!(check(&val, json!("xxABxx")), "ok");
    assert_eq!(
        check(&val, json!("lower")),
        "(root): the string does not match the pattern [A-Z]{1,10} (schema test)"
    );
    assert_eq!(
        check(&val, json!(5)),
        "ok",
        "pattern applies to strings only"
    );
    // `\d` is ASCII only, as in ECMA-262 (the `regex` crate's `\d` is Unicode).
    let val = v(json!({"pattern": "^\\d+.\\d+.\\d+$"}));
    assert_eq!(check(&val, json!("1.3.0")), "ok");
    assert_ne!(check(&val, json!("١.٣.٠")), "ok");
    assert_ne!(
        check(&val, json!("1\n3.0")),
        "ok",
        "`.` does not match a line terminator"
    );
    let val = v(json!({"pattern": "^[\\d<]+$"}));
    assert_eq!(check(&val, json!("12<3")), "ok");
    assert_ne!(check(&val, json!("١")), "ok");
    let val = v(json!({"pattern": "^\\w\\D\\W\\.$"}));
    assert_eq!(check(&val, json!("_a .")), "ok");
    assert_ne!(check(&val, json!("é1 x")), "ok");
}

#[test]
fn lengths_count_unicode_scalar_values() {
    let val = v(json!({"minLength": 2, "maxLength": 3}));
    assert_eq!(check(&val, json!("Čeř")), "ok", "3 characters, 5 bytes");
    assert_eq!(
        check(&val, json!("Čeřk")),
        "(root): the string is longer than maxLength 3 (4 characters) (schema test)"
    );
    assert_eq!(
        check(&val, json!("Č")),
        "(root): the string is shorter than minLength 2 (schema test)"
    );
    assert_eq!(check(&val, json!("😀😀")), "ok");
    assert_eq!(
        check(&val, json!(12345)),
        "ok",
        "lengths apply to strings only"
    );
}

#[test]
fn minimum_and_maximum() {
    let val = v(json!({"minimum": 1, "maximum": 9}));
    assert_eq!(check(&val, json!(1)), "ok");
    assert_eq!(check(&val, json!(9)), "ok");
    assert_eq!(
        check(&val, json!(0)),
        "(root): 0 is below the minimum 1 (schema test)"
    );
    assert_eq!(
        check(&val, json!(9.5)),
        "(root): 9.5 is above the maximum 9 (schema test)"
    );
    assert_eq!(
        check(&val, json!(-3)),
        "(root): -3 is below the minimum 1 (schema test)"
    );
    assert_eq!(
        check(&val, json!("0")),
        "ok",
        "bounds apply to numbers only"
    );
}

#[test]
fn items_min_items_max_items() {
    let val = v(json!({"items": {"type": "integer"}, "minItems": 1, "maxItems": 2}));
    assert_eq!(check(&val, json!([1, 2])), "ok");
    assert_eq!(
        check(&val, json!([])),
        "(root): the array has 0 items, fewer than minItems 1 (schema test)"
    );
    assert_eq!(
        check(&val, json!([1, 2, 3])),
        "(root): the array has 3 items, more than maxItems 2 (schema test)"
    );
    assert_eq!(
        check(&val, json!([1, "x"])),
        "/1: expected integer, found string (schema test)"
    );
    assert_eq!(check(&val, json!({})), "ok");
}

#[test]
fn one_of_and_any_of() {
    let val = v(json!({"oneOf": [{"required": ["v"]}, {"required": ["t"]}]}));
    assert_eq!(check(&val, json!({"v": 1})), "ok");
    assert_eq!(
        check(&val, json!({"v": 1, "t": 1})),
        "(root): 2 of the 2 oneOf alternatives match, exactly one must (schema test)"
    );
    assert_eq!(
        check(&val, json!({})),
        "(root): 0 of the 2 oneOf alternatives match, exactly one must (schema test)"
    );
    let val = v(json!({"anyOf": [{"required": ["fnt"]}, {"required": ["gnt"]}]}));
    assert_eq!(check(&val, json!({"fnt": "A", "gnt": "B"})), "ok");
    assert_eq!(check(&val, json!({"gnt": "B"})), "ok");
    assert_eq!(
        check(&val, json!({"fn": "A"})),
        "(root): none of the 2 anyOf alternatives match (schema test)"
    );
}

#[test]
fn enum_and_const() {
    let val = v(json!({"enum": ["a", 1, null, [1, {"x": true}]]}));
    for ok in [json!("a"), json!(1.0), json!(null), json!([1, {"x": true}])] {
        assert_eq!(check(&val, ok), "ok");
    }
    assert_eq!(
        check(&val, json!("b")),
        "(root): the value is not one of the 4 allowed values (schema test)"
    );
    assert_ne!(check(&val, json!([1, {"x": true, "y": 1}])), "ok");
    let val = v(json!({"const": {"k": [1]}}));
    assert_eq!(check(&val, json!({"k": [1]})), "ok");
    assert_eq!(
        check(&val, json!({"k": [2]})),
        "(root): the value is not the required constant (schema test)"
    );
}

#[test]
fn formats_are_annotations_unless_asserted() {
    let schema =
        json!({"properties": {"d": {"format": "date"}, "t": {"format": "date-time"}}}).to_string();
    let lax = Validator::compile("test", &schema, Options::default()).unwrap();
    let strict =
        Validator::compile("test", &schema, Options::default().assert_formats(true)).unwrap();
    assert!(!lax.options().assert_formats && strict.options().assert_formats);
    let bad = json!({"d": "2021-02-29", "t": "2021-06-01T12:00:00"});
    assert_eq!(check(&lax, bad.clone()), "ok");
    assert_eq!(
        check(&strict, bad),
        "/d: the string is not a valid RFC 3339 date (schema test)"
    );
    assert_eq!(
        check(&strict, json!({"t": "2021-06-01T12:00:00"})),
        "/t: the string is not a valid RFC 3339 date-time (schema test)"
    );
    assert_eq!(
        check(
            &strict,
            json!({"d": "2020-02-29", "t": "2021-06-01T12:00:00Z"})
        ),
        "ok"
    );
    assert_eq!(
        check(&strict, json!({"d": 20200229})),
        "ok",
        "formats apply to strings only"
    );
}

#[test]
fn rfc3339_dates_and_date_times() {
    for ok in ["2021-06-01", "2000-02-29", "1900-12-31"] {
        assert!(is_rfc3339_date(ok), "{ok}");
    }
    for bad in [
        "2021-6-01",
        "2021-06-1",
        "1900-02-29",
        "2021-13-01",
        "2021-00-10",
        "2021-06-00",
        "2021-06-31",
        "2021-06-01T00:00:00Z",
        "２021-06-01",
        "",
        "1978-01-26T00:00:00",
    ] {
        assert!(!is_rfc3339_date(bad), "{bad}");
    }
    for ok in [
        "2021-06-01T12:00:00Z",
        "2021-06-01t12:00:00z",
        "2021-06-01T12:00:00.123456789Z",
        "2021-06-01T12:00:00+02:00",
        "2021-06-01T12:00:00-00:30",
        "2016-12-31T23:59:60Z",
        "2017-01-01T01:29:60+01:30",
    ] {
        assert!(is_rfc3339_date_time(ok), "{ok}");
    }
    for bad in [
        "2021-06-01T12:00:00",
        "2021-06-01T12:00Z",
        "2021-06-01 12:00:00Z",
        "2021-06-01T12:00:00+02",
        "2021-06-01T12:00:00+0200",
        "2021-06-01T24:00:00Z",
        "2021-06-01T12:60:00Z",
        "2021-06-01T12:00:00.Z",
        "2021-06-01T12:00:00+24:00",
        "2021-06-01T12:00:60Z",
        "2021-02-30T12:00:00Z",
        "2021-06-01T12:00:00Zjunk",
        "2021-06-01",
        "2021-06-01Té2:00:00Z",
    ] {
        assert!(!is_rfc3339_date_time(bad), "{bad}");
    }
}

#[test]
fn every_embedded_version_compiles_and_falls_back_to_1_3_0() {
    let set = SchemaSet::embedded().unwrap();
    assert_eq!(
        set.versions().collect::<Vec<_>>(),
        vaxpass_schemas::DCC_SCHEMA_VERSIONS.to_vec()
    );
    for version in vaxpass_schemas::DCC_SCHEMA_VERSIONS {
        assert_eq!(set.get(version).unwrap().version(), *version);
    }
    assert_eq!(
        set.validator_for(&json!({"ver": "1.0.0"})).version(),
        "1.0.0"
    );
    assert_eq!(
        set.validator_for(&json!({"ver": "9.9.9"})).version(),
        "1.3.0"
    );
    assert_eq!(set.validator_for(&json!({"ver": 1})).version(), "1.3.0");
    assert_eq!(set.validator_for(&json!({})).version(), "1.3.0");
    assert_eq!(
        set.validate_version("2.0.0", &json!({}))
            .unwrap_err()
            .to_string(),
        "no schema for DCC version \"2.0.0\""
    );
}

fn vaccination(ver: &str) -> Value {
    json!({
        "ver": ver,
        "nam": {"fn": "Musterfrau-Gößinger", "gn": "Gabriele", "fnt": "MUSTERFRAU<GOESSINGER", "gnt": "GABRIELE"},
        "dob": "1998-02-26",
        "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
               "dn": 1, "sd": 2, "dt": "2021-02-18", "co": "AT", "is": "Ministry of Health, Austria",
               "ci": "URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B"}]
    })
}

#[test]
fn dcc_payloads_and_error_texts() {
    let set = SchemaSet::embedded().unwrap();
    for version in vaxpass_schemas::DCC_SCHEMA_VERSIONS {
        set.validate(&vaccination(version)).unwrap();
    }
    // Exactly one of v/t/r, for every version, even where the schema does not say so.
    let mut two = vaccination("1.0.0");
    two["r"] = json!(null);
    assert_eq!(
        set.validate(&two).unwrap_err().to_string(),
        "the payload must hold exactly one of v, t, r; it holds 2"
    );
    let mut none = vaccination("1.2.1");
    none.as_object_mut().unwrap().remove("v");
    assert_eq!(
        set.validate(&none).unwrap_err(),
        SchemaError::NotExactlyOneGroup { found: 0 }
    );
    // Personal data is never echoed: a long name or a wrong dob shows only path and keyword.
    let mut long = vaccination("1.0.0");
    long["nam"]["fn"] = json!("Secretname".repeat(6));
    let e = set.validate(&long).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nam/fn: the string is longer than maxLength 50 (60 characters) (schema 1.0.0)"
    );
    assert_eq!(
        e,
        SchemaError::Invalid {
            version: "1.0.0".into(),
            pointer: "/nam/fn".into(),
            violation: Violation::MaxLength {
                limit: 50,
                actual: 60
            },
        }
    );
    set.validate(&{
        let mut p = long.clone();
        p["ver"] = json!("1.3.0");
        p
    })
    .unwrap();
    let mut dob = vaccination("1.3.0");
    dob["dob"] = json!("1878-02-26");
    let text = set.validate(&dob).unwrap_err().to_string();
    assert_eq!(
        text,
        "/dob: the string does not match the pattern ^((19|20)\\d\\d(-\\d\\d){0,2}){0,1}$ (schema 1.3.0)"
    );
    assert!(!text.contains("1878"));
    let mut dn = vaccination("1.3.3");
    dn["v"][0]["dn"] = json!("1");
    assert_eq!(
        set.validate(&dn).unwrap_err().to_string(),
        "/v/0/dn: expected integer, found string (schema 1.3.3)"
    );
    // 1.0.x limits doses to 9.
    let mut ten = vaccination("1.0.1");
    ten["v"][0]["sd"] = json!(10);
    assert_eq!(
        set.validate(&ten).unwrap_err().to_string(),
        "/v/0/sd: 10 is above the maximum 9 (schema 1.0.1)"
    );
    // Not an object at all.
    assert_eq!(
        set.validate(&json!([1])).unwrap_err().to_string(),
        "(root): expected object, found array (schema 1.3.0)"
    );
    assert!(set.get("1.3.0").unwrap().is_valid(&vaccination("1.3.0")));
}
