//! Decode and verify EU Digital COVID Certificates (HCERT).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithm;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod json_like;
pub mod kid;
#[cfg(feature = "qr-image")]
pub mod qr;
#[cfg(feature = "rules")]
pub mod rules;
pub mod time;

pub use algorithm::Algorithm;
pub use json_like::{JsonLike, Kind};
pub use kid::Kid;
pub use time::Timestamp;
