//! Static validation of CertLogic expressions, before any evaluation.
//!
//! [`validate`] lists every issue found in an expression; an empty list means the expression is
//! well-formed CertLogic 1.3.3. The messages of the cases in the specification's
//! validation test suite are reproduced exactly. Beyond the structure (one key per operation
//! object, operand arrays, known operators, `var` paths), the operand counts of each operation
//! and the literal operands that can be checked statically (`plusTime` amount and unit,
//! `extractFromUVCI` index, literal operands of comparisons and `in`) are checked.

use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// Maximum nesting depth the validator accepts (the evaluator's default limit).
pub const MAX_DEPTH: usize = 64;

/// One problem in an expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// The offending sub-expression.
    pub expr: Value,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut e = self.expr.to_string();
        if e.chars().count() > 80 {
            e = e.chars().take(77).collect::<String>() + "...";
        }
        write!(f, "{} (in {e})", self.message)
    }
}

/// Validates an expression; returns every issue found (none = valid).
pub fn validate(expr: &Value) -> Vec<Issue> {
    let mut issues = Vec::new();
    check(expr, 0, &mut issues);
    issues
}

fn issue(issues: &mut Vec<Issue>, expr: &Value, message: impl Into<String>) {
    issues.push(Issue {
        expr: expr.clone(),
        message: message.into(),
    });
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.as_i64().is_some()
                || n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9e15)
        }
        _ => false,
    }
}

/// Whether a `var` path has a valid format: `""`, or non-empty fragments separated by `.`.
fn valid_path(path: &str) -> bool {
    path.is_empty()
        || path
            .split('.')
            .all(|f| !f.is_empty() && !f.chars().any(char::is_whitespace))
}

/// Literal operands (not operations, not arrays) whose type is known statically.
fn literal_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::Bool(_) => Some("a boolean"),
        Value::String(_) => Some("a string"),
        Value::Number(_) => Some("an integer"),
        Value::Array(_) => Some("an array"),
        _ => None,
    }
}

fn check(expr: &Value, depth: usize, issues: &mut Vec<Issue>) {
    if depth > MAX_DEPTH {
        issue(
            issues,
            expr,
            format!("expression nests deeper than {MAX_DEPTH} levels"),
        );
        return;
    }
    match expr {
        Value::Null => issue(issues, expr, "invalid CertLogic expression"),
        Value::Number(n) if !is_integer(expr) => {
            issue(issues, expr, format!("{n} is a non-integer number"));
        }
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        Value::Array(items) => {
            for item in items {
                check(item, depth + 1, issues);
            }
        }
        Value::Object(map) => {
            if map.len() != 1 {
                issue(
                    issues,
                    expr,
                    format!(
                        "expression object must have exactly one key, but it has {}",
                        map.len()
                    ),
                );
                return;
            }
            let Some((op, operand)) = map.iter().next() else {
                return;
            };
            if op == "var" {
                match operand {
                    Value::String(path) if valid_path(path) => {}
                    Value::String(path) => issue(
                        issues,
                        expr,
                        format!("data access path doesn't have a valid format: {path}"),
                    ),
                    _ => issue(issues, expr, "not of the form { \"var\": \"<path>\" }"),
                }
                return;
            }
            let Value::Array(args) = operand else {
                issue(
                    issues,
                    expr,
                    "operation not of the form { \"<operator>\": [ <values...> ] }",
                );
                return;
            };
            check_operation(expr, op, args, depth, issues);
        }
    }
}

fn check_operation(expr: &Value, op: &str, args: &[Value], depth: usize, issues: &mut Vec<Issue>) {
    let n = args.len();
    let count_ok = match op {
        "if" | "plusTime" | "reduce" => n == 3,
        "===" | "in" | "+" | "extractFromUVCI" => n == 2,
        "!" | "dccDateOfBirth" => n == 1,
        "and" => n >= 2,
        "<" | ">" | "<=" | ">=" | "after" | "before" | "not-after" | "not-before" => {
            n == 2 || n == 3
        }
        _ => {
            issue(issues, expr, format!("unrecognised operator: \"{op}\""));
            return;
        }
    };
    if !count_ok {
        let expected = match op {
            "if" | "plusTime" | "reduce" => "exactly 3",
            "===" | "in" | "+" | "extractFromUVCI" => "exactly 2",
            "!" | "dccDateOfBirth" => "exactly 1",
            "and" => "at least 2",
            _ => "2 or 3",
        };
        issue(
            issues,
            expr,
            format!("a \"{op}\" operation must have {expected} operands, but it has {n}"),
        );
    }
    // Operands that are evaluated (all but the literal slots of plusTime and extractFromUVCI).
    let evaluated = match op {
        "plusTime" | "extractFromUVCI" => &args[..n.min(1)],
        _ => args,
    };
    for arg in evaluated {
        check(arg, depth + 1, issues);
    }
    match op {
        "plusTime" => {
            if let Some(amount) = args.get(1).filter(|a| !is_integer(a)) {
                issue(
                    issues,
                    expr,
                    format!(
                        "the amount of a \"plusTime\" operation must be an integer literal, not {amount}"
                    ),
                );
            }
            if let Some(unit) = args
                .get(2)
                .filter(|u| !matches!(u.as_str(), Some("year" | "month" | "day" | "hour")))
            {
                issue(
                    issues,
                    expr,
                    format!(
                        "the time unit of a \"plusTime\" operation must be \"year\", \"month\", \"day\" or \"hour\", not {unit}"
                    ),
                );
            }
            if let Some(t) = args
                .first()
                .and_then(literal_type)
                .filter(|t| *t != "a string")
            {
                issue(
                    issues,
                    expr,
                    format!(
                        "the date-time operand of a \"plusTime\" operation must be a string, not {t}"
                    ),
                );
            }
        }
        "extractFromUVCI" => {
            if let Some(index) = args.get(1).filter(|a| !is_integer(a)) {
                issue(
                    issues,
                    expr,
                    format!(
                        "the index of an \"extractFromUVCI\" operation must be an integer literal, not {index}"
                    ),
                );
            }
            if let Some(t) = args
                .first()
                .and_then(literal_type)
                .filter(|t| *t != "a string")
            {
                issue(
                    issues,
                    expr,
                    format!(
                        "the operand of an \"extractFromUVCI\" operation must be a string or null, not {t}"
                    ),
                );
            }
        }
        "dccDateOfBirth" => {
            if let Some(t) = args
                .first()
                .and_then(literal_type)
                .filter(|t| *t != "a string")
            {
                issue(
                    issues,
                    expr,
                    format!(
                        "the operand of a \"dccDateOfBirth\" operation must be a string, not {t}"
                    ),
                );
            }
        }
        "in" => {
            if let Some(t) = args
                .get(1)
                .and_then(literal_type)
                .filter(|t| *t != "an array")
            {
                issue(
                    issues,
                    expr,
                    format!("the right-hand side of an \"in\" operation must be an array, not {t}"),
                );
            }
        }
        "<" | ">" | "<=" | ">=" | "+" => {
            for t in args
                .iter()
                .filter_map(literal_type)
                .filter(|t| *t != "an integer")
            {
                issue(
                    issues,
                    expr,
                    format!("all operands of a \"{op}\" operation must be integers, not {t}"),
                );
            }
        }
        "after" | "before" | "not-after" | "not-before" => {
            for t in args.iter().filter_map(literal_type) {
                issue(
                    issues,
                    expr,
                    format!(
                        "all operands of a \"{op}\" operation must be date-times (from plusTime or dccDateOfBirth), not {t}"
                    ),
                );
            }
        }
        "reduce" => {
            if let Some(t) = args
                .first()
                .and_then(literal_type)
                .filter(|t| *t != "an array")
            {
                issue(
                    issues,
                    expr,
                    format!("the operand of a \"reduce\" operation must be an array, not {t}"),
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(e: Value) -> Vec<String> {
        validate(&e).into_iter().map(|i| i.message).collect()
    }

    #[test]
    fn finds_operand_problems() {
        assert!(messages(json!({"if": [{"var": "payload.v.0"}, {"in": [{"var": "payload.v.0.mp"}, ["a"]]}, true]})).is_empty());
        assert_eq!(
            messages(json!({"if": [true, true, false, true]})),
            ["a \"if\" operation must have exactly 3 operands, but it has 4"]
        );
        assert_eq!(
            messages(json!({"plusTime": [{"var": "x"}, "1", "week"]})).len(),
            2
        );
        assert_eq!(
            messages(json!({"in": ["a", "abc"]})),
            ["the right-hand side of an \"in\" operation must be an array, not a string"]
        );
        assert_eq!(
            messages(json!({"after": ["2021-01-01", {"plusTime": ["2021", 0, "day"]}]})).len(),
            1
        );
        assert_eq!(messages(json!({"and": [null, 1.5]})).len(), 2);
        let mut deep = json!(true);
        for _ in 0..100 {
            deep = json!({"!": [deep]});
        }
        assert_eq!(messages(deep).len(), 1);
    }
}
