//! Decode and verify EU Digital COVID Certificates (HCERT).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithm;
pub mod json_like;
pub mod kid;
pub mod schema;
pub mod time;
pub mod valuesets;

pub use algorithm::Algorithm;
pub use json_like::{JsonLike, Kind};
pub use kid::Kid;
pub use time::Timestamp;
