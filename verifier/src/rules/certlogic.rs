//! The CertLogic evaluator (specification 1.3.3).
//!
//! [`evaluate`] takes an expression and a data context and returns a JSON value, or a typed
//! [`CertLogicError`] naming the offending operation. It never panics, and its work is bounded by
//! [`Limits`]: nesting depth of the expression, and a budget of evaluation steps (each operation,
//! each `reduce` iteration and each value copied into a `reduce` accumulator costs steps).
//!
//! Choices where the specification leaves room, made the strict way:
//! * an `if` guard that is neither truthy nor falsy (a non-integer number, a date-time) is an
//!   error, as for `!` and `and`;
//! * `===` and `in` compare JSON values structurally (the specification only promises reliable
//!   results for strings and integers), and date-times by instant;
//! * `in` on a right-hand side that is not an array (also `null`) is an error;
//! * `plusTime` amounts and units, and the `extractFromUVCI` index, must be literals;
//! * the operand counts are checked exactly (`if` 3, `!` 1, `===`/`in`/`+` 2, `and` ≥ 2,
//!   comparisons 2 or 3, `plusTime`/`reduce` 3, `extractFromUVCI` 2, `dccDateOfBirth` 1);
//! * inside a `reduce` lambda the data context is `{ "current", "accumulator" }` only (the
//!   optional `data` key of the specification is not provided).
//!
//! A date-time result turns into its JSON string form `YYYY-MM-DDThh:mm:ss.sssZ` only when it
//! leaves the evaluator.

use super::datetime::{DateTime, TimeUnit};
use serde_json::{Map, Number, Value};

/// Bounds on the work one evaluation may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting depth of operations and arrays in the expression (default 64).
    pub max_depth: usize,
    /// Maximum number of evaluation steps (default 100,000).
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_steps: 100_000,
        }
    }
}

/// Deepest value a `reduce` accumulator may grow to (keeps copying and dropping it shallow).
const MAX_VALUE_DEPTH: usize = 128;

/// Why an expression could not be evaluated. The `op` fields name the CertLogic operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertLogicError {
    /// Not a CertLogic expression at all (a `null` or non-integer literal, an object without
    /// exactly one key, an operation whose operands are not an array, a malformed `var`).
    #[error("invalid CertLogic expression: {0}")]
    InvalidExpression(String),
    /// An operation that CertLogic does not have.
    #[error("unrecognised operator: {0:?}")]
    UnknownOperator(String),
    /// The wrong number of operands.
    #[error("{op:?} needs {expected} operand(s), but has {found}")]
    Arity {
        /// The operation.
        op: &'static str,
        /// How many it needs, e.g. `"2 or 3"`.
        expected: &'static str,
        /// How many it has.
        found: usize,
    },
    /// An operand (after evaluation, or a literal operand) of the wrong type.
    #[error("{op:?}: {message}")]
    Type {
        /// The operation.
        op: &'static str,
        /// What is wrong, with the offending value.
        message: String,
    },
    /// A value that is neither truthy nor falsy where a truth value is needed.
    #[error("{op:?}: operand is neither truthy nor falsy: {value}")]
    NeitherTruthyNorFalsy {
        /// The operation (`if`, `and`, `!`).
        op: &'static str,
        /// The value, shortened.
        value: String,
    },
    /// A string that is not a date(-time) in one of the allowed formats.
    #[error("{op:?}: not a date(-time) in an allowed format: {input:?}")]
    InvalidDateTime {
        /// `plusTime` or `dccDateOfBirth`.
        op: &'static str,
        /// The text, shortened.
        input: String,
    },
    /// An arithmetic result outside the representable range.
    #[error("{op:?}: result out of range")]
    OutOfRange {
        /// The operation (`+`, `plusTime`).
        op: &'static str,
    },
    /// The expression nests deeper than [`Limits::max_depth`].
    #[error("expression nests deeper than {limit} levels")]
    DepthLimit {
        /// The limit.
        limit: usize,
    },
    /// The evaluation needed more than [`Limits::max_steps`] steps, or a `reduce` accumulator
    /// grew too deep.
    #[error("evaluation exceeded its budget of {limit} steps")]
    StepLimit {
        /// The limit.
        limit: u64,
    },
}

/// Evaluates a CertLogic expression on a data context, with the default [`Limits`].
///
/// # Errors
/// [`CertLogicError`] for an invalid expression, a type mismatch found during evaluation, or
/// exhausted limits.
pub fn evaluate(expr: &Value, data: &Value) -> Result<Value, CertLogicError> {
    evaluate_with_limits(expr, data, Limits::default())
}

/// Evaluates a CertLogic expression on a data context within the given limits.
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_with_limits(
    expr: &Value,
    data: &Value,
    limits: Limits,
) -> Result<Value, CertLogicError> {
    let mut ev = Evaluator { limits, steps: 0 };
    Ok(ev.eval(expr, &Ctx::Data(data), 0)?.into_json())
}

/// Evaluates an expression expected to give a boolean: `Ok(Some(b))` for `true`/`false`,
/// `Ok(None)` for any other result (which is then not copied out of the data).
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_boolean(
    expr: &Value,
    data: &Value,
    limits: Limits,
) -> Result<Option<bool>, CertLogicError> {
    let mut ev = Evaluator { limits, steps: 0 };
    Ok(match ev.eval(expr, &Ctx::Data(data), 0)?.kind() {
        Kind::Bool(b) => Some(b),
        _ => None,
    })
}

/// The data context of a validation rule, `{ "payload": …, "external": … }`, given by
/// reference so that nothing is copied per certificate. When `value_sets` is given, it is what
/// `external.valueSets` refers to (so the value sets can be kept apart from the per-certificate
/// `external` fields); otherwise `external.valueSets` is looked up inside `external`.
#[derive(Clone, Copy, Debug)]
pub struct RuleData<'a> {
    /// The DCC payload (`null` if absent).
    pub payload: &'a Value,
    /// `validationClock`, `countryCode`, `exp`, `iat`, and possibly `valueSets`.
    pub external: &'a Value,
    /// The value sets: id → array of codes.
    pub value_sets: Option<&'a Value>,
}

/// Evaluates a rule's logic on a [`RuleData`]: `Ok(Some(b))` for a boolean result, `Ok(None)`
/// for any other result.
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_rule_logic(
    expr: &Value,
    data: RuleData<'_>,
    limits: Limits,
) -> Result<Option<bool>, CertLogicError> {
    let mut ev = Evaluator { limits, steps: 0 };
    Ok(match ev.eval(expr, &Ctx::Rule(data), 0)?.kind() {
        Kind::Bool(b) => Some(b),
        _ => None,
    })
}

/// An intermediate value: borrowed from the expression or the data wherever possible.
#[derive(Clone, Debug)]
enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'a str),
    Ref(&'a Value),
    Owned(Value),
    /// An evaluated array literal (its items may be date-times).
    List(Vec<Val<'a>>),
    DateTime(DateTime),
}

/// A uniform view of a [`Val`] for the operations.
#[derive(Clone, Copy)]
enum Kind<'v> {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an integer.
    Num(f64),
    Str(&'v str),
    Array(Items<'v>),
    Object(&'v Map<String, Value>),
    DateTime(DateTime),
}

#[derive(Clone, Copy)]
enum Items<'v> {
    Json(&'v [Value]),
    Vals(&'v [Val<'v>]),
}

impl<'v> Items<'v> {
    fn len(self) -> usize {
        match self {
            Items::Json(s) => s.len(),
            Items::Vals(s) => s.len(),
        }
    }

    fn kind(self, i: usize) -> Option<Kind<'v>> {
        match self {
            Items::Json(s) => s.get(i).map(json_kind),
            Items::Vals(s) => s.get(i).map(Val::kind),
        }
    }

    /// Item `i` as a value borrowing from the array.
    fn val(self, i: usize) -> Option<Val<'v>> {
        match self {
            Items::Json(s) => s.get(i).map(Val::Ref),
            Items::Vals(s) => s.get(i).map(Val::borrowed),
        }
    }
}

/// The integer value of a JSON number, if it is one (as JavaScript's `Number.isInteger`, within
/// the safe-integer range for non-`i64` representations).
fn int_of(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0).then_some(f as i64)
}

fn json_kind(v: &Value) -> Kind<'_> {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(b) => Kind::Bool(*b),
        Value::Number(n) => {
            int_of(n).map_or_else(|| Kind::Num(n.as_f64().unwrap_or(f64::NAN)), Kind::Int)
        }
        Value::String(s) => Kind::Str(s),
        Value::Array(a) => Kind::Array(Items::Json(a)),
        Value::Object(o) => Kind::Object(o),
    }
}

impl Kind<'_> {
    /// `Some(true)` if truthy, `Some(false)` if falsy, `None` if neither (CertLogic 1.3.3,
    /// "Truthy and falsy values").
    fn truthiness(self) -> Option<bool> {
        match self {
            Kind::Null => Some(false),
            Kind::Bool(b) => Some(b),
            Kind::Int(i) => Some(i != 0),
            Kind::Str(s) => Some(!s.is_empty()),
            Kind::Array(a) => Some(a.len() > 0),
            Kind::Object(o) => Some(!o.is_empty()),
            Kind::Num(_) | Kind::DateTime(_) => None,
        }
    }

    fn strict_eq(self, other: Kind<'_>) -> bool {
        match (self, other) {
            (Kind::Null, Kind::Null) => true,
            (Kind::Bool(a), Kind::Bool(b)) => a == b,
            (Kind::Int(a), Kind::Int(b)) => a == b,
            (Kind::Num(a), Kind::Num(b)) => a == b,
            (Kind::Str(a), Kind::Str(b)) => a == b,
            (Kind::DateTime(a), Kind::DateTime(b)) => a == b,
            (Kind::Object(a), Kind::Object(b)) => a == b,
            (Kind::Array(a), Kind::Array(b)) => {
                a.len() == b.len()
                    && (0..a.len()).all(|i| match (a.kind(i), b.kind(i)) {
                        (Some(x), Some(y)) => x.strict_eq(y),
                        _ => false,
                    })
            }
            _ => false,
        }
    }
}

impl<'a> Val<'a> {
    fn kind(&self) -> Kind<'_> {
        match self {
            Val::Null => Kind::Null,
            Val::Bool(b) => Kind::Bool(*b),
            Val::Int(i) => Kind::Int(*i),
            Val::Str(s) => Kind::Str(s),
            Val::Ref(v) => json_kind(v),
            Val::Owned(v) => json_kind(v),
            Val::List(items) => Kind::Array(Items::Vals(items)),
            Val::DateTime(d) => Kind::DateTime(*d),
        }
    }

    /// A cheap copy borrowing from `self`.
    fn borrowed(&self) -> Val<'_> {
        match self {
            Val::Owned(v) => Val::Ref(v),
            Val::List(items) => Val::List(items.iter().map(Val::borrowed).collect()),
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(*b),
            Val::Int(i) => Val::Int(*i),
            Val::Str(s) => Val::Str(s),
            Val::Ref(v) => Val::Ref(v),
            Val::DateTime(d) => Val::DateTime(*d),
        }
    }

    fn into_json(self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(b),
            Val::Int(i) => Value::from(i),
            Val::Str(s) => Value::String(s.to_owned()),
            Val::Ref(v) => v.clone(),
            Val::Owned(v) => v,
            Val::List(items) => Value::Array(items.into_iter().map(Val::into_json).collect()),
            Val::DateTime(d) => Value::String(d.to_string()),
        }
    }

    fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(b),
            Val::Int(i) => Val::Int(i),
            Val::Str(s) => Val::Owned(Value::String(s.to_owned())),
            Val::Ref(v) => Val::Owned(v.clone()),
            Val::Owned(v) => Val::Owned(v),
            Val::List(items) if items.iter().any(Val::has_date_time) => {
                Val::List(items.into_iter().map(Val::into_owned).collect())
            }
            Val::List(items) => Val::Owned(Val::List(items).into_json()),
            Val::DateTime(d) => Val::DateTime(d),
        }
    }

    fn has_date_time(&self) -> bool {
        match self {
            Val::DateTime(_) => true,
            Val::List(items) => items.iter().any(Val::has_date_time),
            _ => false,
        }
    }

    /// Drills into the value along a `var` path.
    fn drill<'p>(&self, mut path: impl Iterator<Item = &'p str>) -> Val<'_> {
        let Some(fragment) = path.next() else {
            return self.borrowed();
        };
        match self {
            Val::Ref(v) => drill_json(v, fragment, path),
            Val::Owned(v) => drill_json(v, fragment, path),
            Val::List(items) => match fragment.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(item) => item.drill(path),
                None => Val::Null,
            },
            _ => Val::Null,
        }
    }

    /// A short description for error messages.
    fn describe(&self) -> String {
        let s = self.borrowed().into_json().to_string();
        if s.chars().count() > 60 {
            let mut t: String = s.chars().take(57).collect();
            t.push_str("...");
            t
        } else {
            s
        }
    }
}

fn drill_path<'v, 'p>(v: &'v Value, mut path: impl Iterator<Item = &'p str>) -> Val<'v> {
    match path.next() {
        Some(first) => drill_json(v, first, path),
        None => Val::Ref(v),
    }
}

fn drill_json<'v, 'p>(
    mut v: &'v Value,
    first: &'p str,
    rest: impl Iterator<Item = &'p str>,
) -> Val<'v> {
    for fragment in std::iter::once(first).chain(rest) {
        let next = match v {
            Value::Object(o) => o.get(fragment),
            Value::Array(a) => fragment.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return Val::Null,
        }
    }
    Val::Ref(v)
}

/// The data context: the caller's data, or the `{ current, accumulator }` of a `reduce` lambda.
enum Ctx<'a> {
    Data(&'a Value),
    Rule(RuleData<'a>),
    Lambda {
        current: &'a Val<'a>,
        accumulator: &'a Val<'a>,
    },
}

struct Evaluator {
    limits: Limits,
    steps: u64,
}

/// The known operations, as `&'static str` for error values.
const OPS: [&str; 19] = [
    "if",
    "===",
    "and",
    "!",
    "<",
    ">",
    "<=",
    ">=",
    "in",
    "+",
    "after",
    "before",
    "not-after",
    "not-before",
    "plusTime",
    "reduce",
    "extractFromUVCI",
    "dccDateOfBirth",
    "var",
];

/// Whether an array literal holds only literals (so it evaluates to itself, without copying).
fn is_plain_literal(items: &[Value], depth: usize) -> bool {
    depth < MAX_VALUE_DEPTH
        && items.iter().all(|v| match v {
            Value::Bool(_) | Value::String(_) => true,
            Value::Number(n) => int_of(n).is_some(),
            Value::Array(a) => is_plain_literal(a, depth + 1),
            Value::Null | Value::Object(_) => false,
        })
}

fn arity(
    op: &'static str,
    args: &[Value],
    ok: bool,
    expected: &'static str,
) -> Result<(), CertLogicError> {
    if ok {
        Ok(())
    } else {
        Err(CertLogicError::Arity {
            op,
            expected,
            found: args.len(),
        })
    }
}

fn type_error(op: &'static str, message: String) -> CertLogicError {
    CertLogicError::Type { op, message }
}

impl Evaluator {
    fn step(&mut self, n: u64) -> Result<(), CertLogicError> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.limits.max_steps {
            Err(CertLogicError::StepLimit {
                limit: self.limits.max_steps,
            })
        } else {
            Ok(())
        }
    }

    fn eval<'a>(
        &mut self,
        expr: &'a Value,
        ctx: &Ctx<'a>,
        depth: usize,
    ) -> Result<Val<'a>, CertLogicError> {
        self.step(1)?;
        if depth > self.limits.max_depth {
            return Err(CertLogicError::DepthLimit {
                limit: self.limits.max_depth,
            });
        }
        match expr {
            Value::Null => Err(CertLogicError::InvalidExpression(
                "null is not a CertLogic literal".into(),
            )),
            Value::Bool(b) => Ok(Val::Bool(*b)),
            Value::Number(n) => int_of(n).map(Val::Int).ok_or_else(|| {
                CertLogicError::InvalidExpression(format!("{n} is a non-integer number"))
            }),
            Value::String(s) => Ok(Val::Str(s)),
            Value::Array(items) => {
                if is_plain_literal(items, depth) {
                    Ok(Val::Ref(expr))
                } else {
                    items
                        .iter()
                        .map(|item| self.eval(item, ctx, depth + 1))
                        .collect::<Result<_, _>>()
                        .map(Val::List)
                }
            }
            Value::Object(map) => self.eval_operation(map, ctx, depth),
        }
    }

    fn eval_operation<'a>(
        &mut self,
        map: &'a Map<String, Value>,
        ctx: &Ctx<'a>,
        depth: usize,
    ) -> Result<Val<'a>, CertLogicError> {
        let mut entries = map.iter();
        let (Some((op_name, operand)), None) = (entries.next(), entries.next()) else {
            return Err(CertLogicError::InvalidExpression(format!(
                "expression object must have exactly one key, but it has {}",
                map.len()
            )));
        };
        let Some(op) = OPS.iter().copied().find(|o| *o == op_name) else {
            return Err(CertLogicError::UnknownOperator(op_name.clone()));
        };
        if op == "var" {
            return var(operand, ctx);
        }
        let args = match operand {
            Value::Array(args) if !args.is_empty() => args.as_slice(),
            _ => {
                return Err(CertLogicError::InvalidExpression(format!(
                    "operation not of the form {{ \"{op}\": [ <values...> ] }}"
                )));
            }
        };
        let d = depth + 1;
        match op {
            "if" => {
                arity(op, args, args.len() == 3, "3")?;
                let guard = self.eval(&args[0], ctx, d)?;
                match guard.kind().truthiness() {
                    Some(true) => self.eval(&args[1], ctx, d),
                    Some(false) => self.eval(&args[2], ctx, d),
                    None => Err(CertLogicError::NeitherTruthyNorFalsy {
                        op,
                        value: guard.describe(),
                    }),
                }
            }
            "and" => {
                arity(op, args, args.len() >= 2, "at least 2")?;
                let mut last = Val::Null;
                for arg in args {
                    let v = self.eval(arg, ctx, d)?;
                    match v.kind().truthiness() {
                        Some(true) => last = v,
                        Some(false) => return Ok(v),
                        None => {
                            return Err(CertLogicError::NeitherTruthyNorFalsy {
                                op,
                                value: v.describe(),
                            });
                        }
                    }
                }
                Ok(last)
            }
            "!" => {
                arity(op, args, args.len() == 1, "1")?;
                let v = self.eval(&args[0], ctx, d)?;
                match v.kind().truthiness() {
                    Some(t) => Ok(Val::Bool(!t)),
                    None => Err(CertLogicError::NeitherTruthyNorFalsy {
                        op,
                        value: v.describe(),
                    }),
                }
            }
            "===" => {
                arity(op, args, args.len() == 2, "2")?;
                let l = self.eval(&args[0], ctx, d)?;
                let r = self.eval(&args[1], ctx, d)?;
                Ok(Val::Bool(l.kind().strict_eq(r.kind())))
            }
            "in" => {
                arity(op, args, args.len() == 2, "2")?;
                let l = self.eval(&args[0], ctx, d)?;
                let r = self.eval(&args[1], ctx, d)?;
                let Kind::Array(items) = r.kind() else {
                    return Err(type_error(
                        op,
                        format!("right-hand side must be an array, not {}", r.describe()),
                    ));
                };
                let needle = l.kind();
                Ok(Val::Bool((0..items.len()).any(|i| {
                    items.kind(i).is_some_and(|k| needle.strict_eq(k))
                })))
            }
            "+" => {
                arity(op, args, args.len() == 2, "2")?;
                let l = self.eval(&args[0], ctx, d)?;
                let r = self.eval(&args[1], ctx, d)?;
                match (l.kind(), r.kind()) {
                    (Kind::Int(a), Kind::Int(b)) => a
                        .checked_add(b)
                        .map(Val::Int)
                        .ok_or(CertLogicError::OutOfRange { op }),
                    _ => Err(type_error(
                        op,
                        format!(
                            "operands must be integers, not {} and {}",
                            l.describe(),
                            r.describe()
                        ),
                    )),
                }
            }
            "<" | ">" | "<=" | ">=" | "after" | "before" | "not-after" | "not-before" => {
                arity(op, args, args.len() == 2 || args.len() == 3, "2 or 3")?;
                let mut vals = [Val::Null, Val::Null, Val::Null];
                for (slot, arg) in vals.iter_mut().zip(args) {
                    *slot = self.eval(arg, ctx, d)?;
                }
                let dates = matches!(op, "after" | "before" | "not-after" | "not-before");
                let mut keys = [0i64; 3];
                for (key, v) in keys.iter_mut().zip(&vals[..args.len()]) {
                    *key = match (dates, v.kind()) {
                        (false, Kind::Int(i)) => i,
                        (true, Kind::DateTime(t)) => t.unix_millis(),
                        _ => {
                            let what = if dates { "date-times" } else { "integers" };
                            return Err(type_error(
                                op,
                                format!("operands must be {what}, not {}", v.describe()),
                            ));
                        }
                    };
                }
                let cmp = |a: i64, b: i64| match op {
                    "<" | "before" => a < b,
                    ">" | "after" => a > b,
                    "<=" | "not-after" => a <= b,
                    _ => a >= b,
                };
                let result = cmp(keys[0], keys[1]) && (args.len() == 2 || cmp(keys[1], keys[2]));
                Ok(Val::Bool(result))
            }
            "plusTime" => {
                arity(op, args, args.len() == 3, "3")?;
                let amount = match &args[1] {
                    Value::Number(n) => int_of(n),
                    _ => None,
                }
                .ok_or_else(|| {
                    type_error(
                        op,
                        format!("amount must be an integer literal, not {}", args[1]),
                    )
                })?;
                let unit = args[2]
                    .as_str()
                    .and_then(TimeUnit::from_name)
                    .ok_or_else(|| {
                        type_error(
                            op,
                            format!(
                                "time unit must be \"year\", \"month\", \"day\" or \"hour\", not {}",
                                args[2]
                            ),
                        )
                    })?;
                let v = self.eval(&args[0], ctx, d)?;
                let Kind::Str(s) = v.kind() else {
                    return Err(type_error(
                        op,
                        format!("date-time operand must be a string, not {}", v.describe()),
                    ));
                };
                let t = DateTime::parse(s).ok_or_else(|| CertLogicError::InvalidDateTime {
                    op,
                    input: s.chars().take(40).collect(),
                })?;
                t.plus(amount, unit)
                    .map(Val::DateTime)
                    .ok_or(CertLogicError::OutOfRange { op })
            }
            "dccDateOfBirth" => {
                arity(op, args, args.len() == 1, "1")?;
                let v = self.eval(&args[0], ctx, d)?;
                let Kind::Str(s) = v.kind() else {
                    return Err(type_error(
                        op,
                        format!("operand must be a string, not {}", v.describe()),
                    ));
                };
                DateTime::parse_date_of_birth(s)
                    .map(Val::DateTime)
                    .ok_or_else(|| CertLogicError::InvalidDateTime {
                        op,
                        input: s.chars().take(40).collect(),
                    })
            }
            "extractFromUVCI" => {
                arity(op, args, args.len() == 2, "2")?;
                let index = match &args[1] {
                    Value::Number(n) => int_of(n),
                    _ => None,
                }
                .ok_or_else(|| {
                    type_error(
                        op,
                        format!("index must be an integer literal, not {}", args[1]),
                    )
                })?;
                let v = self.eval(&args[0], ctx, d)?;
                match v {
                    Val::Null => Ok(Val::Null),
                    Val::Str(s) => Ok(extract_from_uvci(s, index).map_or(Val::Null, Val::Str)),
                    Val::Ref(Value::Null) => Ok(Val::Null),
                    Val::Ref(Value::String(s)) => {
                        Ok(extract_from_uvci(s, index).map_or(Val::Null, Val::Str))
                    }
                    Val::Owned(Value::Null) => Ok(Val::Null),
                    Val::Owned(Value::String(s)) => Ok(extract_from_uvci(&s, index)
                        .map_or(Val::Null, |f| Val::Owned(Value::String(f.to_owned())))),
                    other => Err(type_error(
                        op,
                        format!("operand must be a string or null, not {}", other.describe()),
                    )),
                }
            }
            "reduce" => {
                arity(op, args, args.len() == 3, "3")?;
                let operand = self.eval(&args[0], ctx, d)?;
                let initial = self.eval(&args[2], ctx, d)?;
                let items = match operand.kind() {
                    Kind::Null => return Ok(initial),
                    Kind::Array(items) => items,
                    _ => {
                        return Err(type_error(
                            op,
                            format!(
                                "operand must be an array or null, not {}",
                                operand.describe()
                            ),
                        ));
                    }
                };
                let lambda = &args[1];
                let mut acc: Val<'a> = initial;
                for i in 0..items.len() {
                    let Some(current) = items.val(i) else { break };
                    let next = {
                        let lambda_ctx = Ctx::Lambda {
                            current: &current,
                            accumulator: &acc,
                        };
                        let result = self.eval(lambda, &lambda_ctx, d)?;
                        let size =
                            value_size(&result.kind(), 0).ok_or(CertLogicError::StepLimit {
                                limit: self.limits.max_steps,
                            })?;
                        self.step(size)?;
                        result.into_owned()
                    };
                    acc = next;
                }
                Ok(acc)
            }
            _ => Err(CertLogicError::UnknownOperator(op.to_owned())),
        }
    }
}

/// The number of nodes of a value, or `None` if it nests deeper than [`MAX_VALUE_DEPTH`].
fn value_size(kind: &Kind<'_>, depth: usize) -> Option<u64> {
    if depth > MAX_VALUE_DEPTH {
        return None;
    }
    match kind {
        Kind::Array(items) => (0..items.len()).try_fold(1u64, |acc, i| {
            let k = items.kind(i)?;
            Some(acc.saturating_add(value_size(&k, depth + 1)?))
        }),
        Kind::Object(map) => map.values().try_fold(1u64, |acc, v| {
            Some(acc.saturating_add(value_size(&json_kind(v), depth + 1)?))
        }),
        _ => Some(1),
    }
}

fn var<'a>(operand: &'a Value, ctx: &Ctx<'a>) -> Result<Val<'a>, CertLogicError> {
    let Value::String(path) = operand else {
        return Err(CertLogicError::InvalidExpression(
            "not of the form { \"var\": \"<path>\" }".into(),
        ));
    };
    match ctx {
        Ctx::Data(data) => {
            if path.is_empty() {
                return Ok(Val::Ref(data));
            }
            let mut fragments = path.split('.');
            let first = fragments.next().unwrap_or_default();
            Ok(drill_json(data, first, fragments))
        }
        Ctx::Rule(data) => {
            let mut fragments = path.split('.').peekable();
            Ok(match fragments.next() {
                Some("") if path.is_empty() => {
                    let mut external = data.external.clone();
                    if let (Some(vs), Value::Object(map)) = (data.value_sets, &mut external) {
                        map.insert("valueSets".into(), vs.clone());
                    }
                    let mut map = Map::new();
                    map.insert("payload".into(), data.payload.clone());
                    map.insert("external".into(), external);
                    Val::Owned(Value::Object(map))
                }
                Some("payload") => drill_path(data.payload, fragments),
                Some("external") => match (fragments.peek(), data.value_sets) {
                    (Some(&"valueSets"), Some(vs)) => {
                        fragments.next();
                        drill_path(vs, fragments)
                    }
                    _ => drill_path(data.external, fragments),
                },
                _ => Val::Null,
            })
        }
        Ctx::Lambda {
            current,
            accumulator,
        } => {
            if path.is_empty() {
                let mut map = Map::new();
                map.insert("current".into(), current.borrowed().into_json());
                map.insert("accumulator".into(), accumulator.borrowed().into_json());
                return Ok(Val::Owned(Value::Object(map)));
            }
            let mut fragments = path.split('.');
            Ok(match fragments.next() {
                Some("current") => current.drill(fragments),
                Some("accumulator") => accumulator.drill(fragments),
                _ => Val::Null,
            })
        }
    }
}

/// `extractFromUVCI`: the fragment `index` of the UCI split on `/`, `#` and `:`, after an
/// optional `URN:UVCI:` prefix.
fn extract_from_uvci(uci: &str, index: i64) -> Option<&str> {
    let index = usize::try_from(index).ok()?;
    let body = uci.strip_prefix("URN:UVCI:").unwrap_or(uci);
    body.split(['/', '#', ':']).nth(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(expr: Value, data: Value) -> Result<Value, CertLogicError> {
        evaluate(&expr, &data)
    }

    #[test]
    fn date_time_results_print_in_utc_with_milliseconds() {
        let r = ev(
            json!({"plusTime": ["2021-06-01T02:00:00+02:00", 1, "day"]}),
            json!(null),
        );
        assert_eq!(r, Ok(json!("2021-06-02T00:00:00.000Z")));
        let r = ev(json!({"dccDateOfBirth": ["1990-02"]}), json!(null));
        assert_eq!(r, Ok(json!("1990-02-28T00:00:00.000Z")));
        let r = ev(json!([{"plusTime": ["2021", 0, "day"]}]), json!(null));
        assert_eq!(r, Ok(json!(["2021-12-31T00:00:00.000Z"])));
    }

    #[test]
    fn errors_name_the_operation() {
        let e = ev(json!({"plusTime": [{"var": "x"}, 1, "day"]}), json!({})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"plusTime\": date-time operand must be a string, not null"
        );
        let e = ev(json!({"plusTime": ["2021-02-30", 1, "day"]}), json!({})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"plusTime\": not a date(-time) in an allowed format: \"2021-02-30\""
        );
        let e = ev(json!({"if": [true, 1]}), json!({})).unwrap_err();
        assert_eq!(e.to_string(), "\"if\" needs 3 operand(s), but has 2");
        let e = ev(json!({"in": ["a", null]}), json!({})).unwrap_err();
        assert!(matches!(e, CertLogicError::InvalidExpression(_)));
        let e = ev(json!({"in": ["a", {"var": "x"}]}), json!({})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"in\": right-hand side must be an array, not null"
        );
        let e = ev(json!({"!": [{"plusTime": ["2021", 0, "day"]}]}), json!({})).unwrap_err();
        assert!(matches!(
            e,
            CertLogicError::NeitherTruthyNorFalsy { op: "!", .. }
        ));
        let e = ev(json!({"<": [1, "2"]}), json!({})).unwrap_err();
        assert!(matches!(e, CertLogicError::Type { op: "<", .. }));
        let e = ev(json!({"+": [i64::MAX, 1]}), json!({})).unwrap_err();
        assert_eq!(e, CertLogicError::OutOfRange { op: "+" });
        let e = ev(json!({"all": [1]}), json!({})).unwrap_err();
        assert_eq!(e.to_string(), "unrecognised operator: \"all\"");
    }

    #[test]
    fn reduce_sees_current_and_accumulator() {
        let r = ev(
            json!({"reduce": [{"var": "xs"}, {"+": [{"var": "accumulator"}, {"var": "current.n"}]}, 0]}),
            json!({"xs": [{"n": 1}, {"n": 2}, {"n": 39}]}),
        );
        assert_eq!(r, Ok(json!(42)));
        let r = ev(
            json!({"reduce": [[1, 2], [{"var": "current"}, {"var": "accumulator"}], []]}),
            json!(null),
        );
        assert_eq!(r, Ok(json!([2, [1, []]])));
        let r = ev(
            json!({"reduce": [{"var": "xs"}, {"var": ""}, 0]}),
            json!({"xs": ["a"]}),
        );
        assert_eq!(r, Ok(json!({"current": "a", "accumulator": 0})));
    }

    #[test]
    fn work_is_bounded() {
        // Deep nesting.
        let mut e = json!(true);
        for _ in 0..200 {
            e = json!({"!": [e]});
        }
        assert_eq!(
            ev(e, json!(null)),
            Err(CertLogicError::DepthLimit { limit: 64 })
        );
        // A long reduce.
        let xs: Vec<i64> = (0..200_000).collect();
        let r = ev(
            json!({"reduce": [{"var": "xs"}, {"+": [{"var": "accumulator"}, 1]}, 0]}),
            json!({ "xs": xs }),
        );
        assert_eq!(r, Err(CertLogicError::StepLimit { limit: 100_000 }));
        // An accumulator that nests one level deeper per item.
        let r = ev(
            json!({"reduce": [{"var": "xs"}, [{"var": "accumulator"}], []]}),
            json!({ "xs": (0..1000).collect::<Vec<i64>>() }),
        );
        assert!(matches!(r, Err(CertLogicError::StepLimit { .. })));
        // An accumulator that doubles per item.
        let r = ev(
            json!({"reduce": [{"var": "xs"}, [{"var": "accumulator"}, {"var": "accumulator"}], [1]]}),
            json!({ "xs": (0..64).collect::<Vec<i64>>() }),
        );
        assert!(matches!(r, Err(CertLogicError::StepLimit { .. })));
    }
}
