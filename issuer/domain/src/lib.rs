//! The issuer's domain: identity document numbers (CCCD, CMND, passports), Vietnamese names,
//! partial birth dates, matching a dose record against a registry person, and the clinical
//! plausibility of a vaccination.
//!
//! Pure functions and plain types: no database, network, HTTP or clock. Everything above it
//! (registry sources, storage, issuance, the service) depends on this crate, never the reverse.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod dates;
pub mod identity;
pub mod matching;
pub mod names;
pub mod plausibility;
pub mod record;
