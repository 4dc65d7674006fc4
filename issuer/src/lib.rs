//! # vaxpass-issuer
//!
//! The issuer side of vaxpass, Viet Nam's EU DCC / HCERT vaccination passport: clinic dose
//! records are matched against the national population registry before anything is signed.
//! This release holds the pure matching core and the storage layer ([`storage`]: SQLite or
//! PostgreSQL, hash-chained audit log); the HTTP service builds on them.
//!
//! ```
//! use vaxpass_issuer::dates::{Date, PartialDate};
//! use vaxpass_issuer::identity::{IdKind, IdNumber, Sex};
//! use vaxpass_issuer::matching::{match_record, DoseIdentity, InMemoryRegistry, MatchResult, RegistryPerson};
//!
//! let mut registry = InMemoryRegistry::new();
//! registry.insert(RegistryPerson {
//!     id: IdNumber::parse_national("079185012345")?,
//!     full_name: "Nguyễn Thị Lan".into(),
//!     date_of_birth: Date::new(1985, 4, 12)?,
//!     sex: Sex::Female,
//! })?;
//!
//! // The clinic typed the number with spaces and knows only the birth year.
//! let record = DoseIdentity {
//!     id_number: "079 185 012 345".into(),
//!     id_kind: IdKind::National,
//!     full_name: "Nguyễn Thị Lan".into(),
//!     date_of_birth: PartialDate::parse("1985")?,
//!     sex: Sex::Female,
//! };
//! let result = match_record(&record, &registry);
//! assert!(result.is_verified());
//! assert_eq!(result.to_string(), "Verified against the population registry.\n\
//!     - Date of birth: the record has only the birth year; registry date 1985-04-12 will be used");
//! assert_eq!(result.redacted().to_string(), "VERIFIED [DOB_YEAR_ONLY]");
//!
//! // Typed without diacritics: a mismatch the clinic must correct.
//! let record = DoseIdentity { full_name: "Nguyen Thi Lan".into(), ..record };
//! let result = match_record(&record, &registry);
//! assert!(matches!(result, MatchResult::Mismatch { .. }));
//! assert_eq!(result.to_string(), "Does not match the population registry:\n\
//!     - Name: differs only in diacritics (record 'Nguyen Thi Lan', registry 'Nguyễn Thị Lan'): correct the spelling");
//! // That `Display` text is internal (it quotes the registry). The clinic API answers the
//! // report, which quotes no registry value (see `matching`):
//! let report = result.report();
//! assert_eq!(report.mismatches[0].code, "NAME_DIACRITICS_ONLY");
//! assert!(!report.mismatches[0].message.contains("Nguyễn"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modules
//! - [`identity`]: CCCD / CMND / passport numbers (Circular 07/2016/TT-BCA).
//! - [`names`]: Vietnamese name normalisation, comparison, ICAO 9303 transliteration.
//! - [`dates`]: full and partial birth dates.
//! - [`plausibility`]: clinical plausibility of a dose (dose numbers, dates), before storing
//!   and before signing.
//! - [`matching`]: the [`matching::Registry`] trait and [`matching::match_record`].
//! - [`registry`]: the registry sources (local table, remote HTTPS service) behind
//!   [`registry::PersonRegistry`], and re-matching of records stored while it was unavailable.
//! - [`registry_csv`]: the registry CSV reader and the synthetic registry generator.
//! - [`storage`]: SQLite (rusqlite) / PostgreSQL (sqlx) storage, the hash-chained audit log.
//! - [`api`]: the HTTP service (axum): `app(state) -> Router`.
//! - [`ratelimit`]: token buckets for the public lookup portal.
//! - [`server`]: the service as a process: keys, trust list, TLS, graceful shutdown.
//! - [`qr`]: QR images (PNG, SVG) of `HC1:` strings.
//! - [`batch`]: national-scale batch issuance (all cores, exactly once, resumable).
//! - [`rules`]: the acceptance rules, signed, at `/rules`.
//! - [`verify_page`]: the browser verifier's page at `/verify/`.
//!
//! ## Crate features
//! - `cli` (default): the `vaxpass-issuer` binary (`serve`, `registry generate|check|import`,
//!   `audit verify`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The domain lives in its own crate (no I/O); re-exported under its old paths.
pub use vaxpass_issuer_domain::{dates, identity, matching, names, plausibility};
// QR images belong to issuance (its own crate); re-exported under the old path.
/// The HTTP service: the `vaxpass-issuer-api` crate.
pub use vaxpass_issuer_api as api;
/// Batch issuance: the `vaxpass-issuer-batch` crate.
pub use vaxpass_issuer_batch as batch;
pub use vaxpass_issuer_issuance::qr;
/// The registry sources: the `vaxpass-issuer-registry` crate, under its old path.
pub use vaxpass_issuer_registry as registry;
/// The registry CSV reader and generator (`vaxpass_issuer_registry::csv`), under its old path.
pub use vaxpass_issuer_registry::csv as registry_csv;
/// The persistence stage: the `vaxpass-issuer-store` crate, under its old path.
pub use vaxpass_issuer_store as storage;
/// The use cases below the HTTP layer: the `vaxpass-issuer-workflow` crate.
pub use vaxpass_issuer_workflow as workflow;
/// The lookup portal's throttles (`vaxpass_issuer_workflow::ratelimit`), under their old path.
pub use vaxpass_issuer_workflow::ratelimit;

pub mod notices;
pub mod revocations;
pub mod rules;
pub mod server;
pub mod verify_page;
