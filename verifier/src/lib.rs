//! Decode and verify EU Digital COVID Certificates (HCERT / EU DCC), and encode them.
//!
//! The pipeline is a chain of stages, each a module with its own error type:
//!
//! ```text
//! "HC1:..." --hc1--> Base45 --base45--> zlib --zlib--> COSE_Sign1 --cose--> CWT claims --cwt-->
//!     SignedHcert (unverified) --verify(trust store, clock)--> VerifiedHcert
//! ```
//!
//! ```
//! use vaxpass_verifier::{Algorithm, Kid, Timestamp, TrustStore, Verifier};
//! use vaxpass_verifier::encode::{encode_hc1, IssueClaims};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Issuing: any payload CBOR, signed by a closure (here a dummy signature).
//! let kid = Kid::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8]).ok_or("kid")?;
//! let claims = IssueClaims {
//!     iss: Some("VN"),
//!     iat: Timestamp::parse("2021-06-01")?,
//!     exp: Timestamp::parse("2022-06-01")?,
//! };
//! let hc1 = encode_hc1(b"\xa1\x61v\x80", &claims, Algorithm::Es256, &kid, |_tbs| {
//!     Ok::<_, std::convert::Infallible>(vec![0; 64])
//! })?;
//!
//! // Verifying: with an empty trust store the kid is unknown.
//! let mut verifier = Verifier::new(TrustStore::new());
//! let signed = verifier.decode(&hc1)?;
//! assert_eq!(signed.kid(), Some(kid));
//! let err = verifier.verify(&hc1, Timestamp::parse("2021-07-01")?).unwrap_err();
//! assert_eq!(err.code(), "KID_UNKNOWN");
//! # Ok(())
//! # }
//! ```
//!
//! # Crate features
//! - `aws-lc`: verify signatures with AWS-LC (faster); without it, RustCrypto (`p256`, `rsa`)
//!   is used, which also builds for `wasm32`.
//! - `qr-image`: read the QR or Aztec code of a certificate from a PNG, JPEG or WebP picture
//!   or a grey camera frame (module `qr`; ZXing's readers through `rxing`; builds for `wasm32`).
//! - `encode`: the one-shot issuing functions `encode::{armour, encode_hc1, encode_dcc}`
//!   (zlib by miniz_oxide; the example above uses them). Verification needs none of it.
//! - `conformance`, `cli`: the conformance runner and the CLI.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithm;
pub mod base45;
pub mod cbor;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cose;
pub mod crypto;
pub mod cwt;
pub mod encode;
pub mod error;
pub mod hc1;
pub mod json_like;
pub mod kid;
pub mod model;
#[cfg(feature = "qr-image")]
pub mod qr;
#[cfg(feature = "report")]
pub mod report;
pub mod revocation;
#[cfg(feature = "rules")]
pub mod rules;
pub mod schema;
pub mod time;
pub mod trust;
pub mod trustlist;
pub mod valuesets;
pub mod verify;
pub mod zlib;

#[cfg(test)]
mod testutil;

pub use algorithm::Algorithm;
pub use error::Error;
pub use json_like::{JsonLike, Kind};
pub use kid::Kid;
pub use model::{CertificateType, Dcc};
pub use time::Timestamp;
pub use trust::{KeyUsage, TrustStore, TrustedSigner};
pub use verify::{Limits, SignedHcert, VerifiedHcert, Verifier, decode};
