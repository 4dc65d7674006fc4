//! Validity rules (feature `rules`): a CertLogic 1.3.3 engine, rules in the EU DCC gateway
//! format, rule sets with selection, and runners for the public conformance suites.
//!
//! ```
//! use serde_json::json;
//! use vaxpass_verifier::rules::{evaluate, validate};
//!
//! let logic = json!({"if": [{"var": "payload.v.0"},
//!     {">=": [{"var": "payload.v.0.dn"}, {"var": "payload.v.0.sd"}]}, true]});
//! assert!(validate(&logic).is_empty());
//! let data = json!({"payload": {"v": [{"dn": 1, "sd": 2}]}, "external": {}});
//! assert_eq!(evaluate(&logic, &data), Ok(json!(false)));
//! ```
//!
//! Modules:
//! * [`certlogic`]: [`evaluate`], [`evaluate_with_limits`], [`evaluate_rule_logic`] on borrowed
//!   [`RuleData`], typed [`CertLogicError`]s, bounded by [`Limits`];
//! * [`validate()`]: static validation, [`Issue`]s;
//! * [`datetime`]: CertLogic date-times ([`DateTime`]);
//! * [`rule`]: [`Rule`], [`RuleSet`] (load, [`RuleSet::applicable`], [`RuleSet::check`]),
//!   [`RuleOutcome`];
//! * [`conformance`]: [`run_certlogic_suite`], [`run_validation_suite`], [`run_rule_tests`];
//! * [`signed`]: a rule set signed by the trust-list signer, as the issuer publishes it.

pub mod certlogic;
pub mod conformance;
pub mod datetime;
pub mod rule;
pub mod signed;
pub mod validate;

pub use certlogic::{
    CertLogicError, Limits, RuleData, evaluate, evaluate_boolean, evaluate_rule_logic,
    evaluate_with_limits,
};
pub use conformance::{
    SuiteError, SuiteReport, run_certlogic_suite, run_rule_tests, run_validation_suite,
};
pub use datetime::{DateTime, TimeUnit};
pub use rule::{
    CertificateType, Description, External, LoadProblem, Rule, RuleError, RuleOutcome, RuleReport,
    RuleSet, RuleType, Semver, value_sets_from_dir,
};
pub use validate::{Issue, validate};
