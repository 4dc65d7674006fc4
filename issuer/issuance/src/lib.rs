//! # vaxpass-issuer-issuance
//!
//! Everything that turns a registry-verified dose into a signed certificate, without I/O: the
//! DCC payload, the UVCI ([`uvci`]), the CWT and COSE_Sign1 signed through a
//! [`vaxpass_keys::Signer`], zlib ([`deflate`]) and Base45 ([`encode`]), self-verification with
//! the verifier crate ([`IssueContext`]), and the certificate's QR image ([`qr`]). Typed
//! errors ([`IssueError`]); no database, HTTP or async runtime: the service and batch
//! issuance store what this crate returns.
//!
//! ```
//! use std::sync::Arc;
//! use vaxpass_issuer_domain::dates::Date;
//! use vaxpass_issuer_domain::identity::{IdNumber, Sex};
//! use vaxpass_issuer_domain::matching::RegistryPerson;
//! use vaxpass_issuer_domain::record::Vaccination;
//! use vaxpass_issuer_issuance::{IssueContext, IssueSettings};
//! use vaxpass_keys::dev::{DevOptions, dev_init};
//! use vaxpass_keys::manifest::{Manifest, Secrets};
//! use vaxpass_keys::{CertificateType, Signer};
//! use vaxpass_verifier::{Timestamp, Verifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A development PKI and its vaccination signer.
//! let start = Timestamp::parse("2026-01-01")?;
//! let now = Timestamp::parse("2026-06-01")?;
//! let dir = tempfile::tempdir()?;
//! let init = dev_init(dir.path(), &DevOptions::new(start))?;
//! let manifest = Manifest::load(&init.manifest_path)?;
//! let signer: Arc<dyn Signer> = Arc::from(manifest.current_signer(
//!     dir.path(),
//!     CertificateType::Vaccination,
//!     now,
//!     &Secrets::default(),
//! )?);
//! let ctx = IssueContext::new(signer, IssueSettings::default())?;
//!
//! // The registry's identity and the clinic's dose.
//! let person = RegistryPerson {
//!     id: IdNumber::parse_national("079185012345")?,
//!     full_name: "Nguyễn Thị Lan".into(),
//!     date_of_birth: Date::new(1985, 4, 12)?,
//!     sex: Sex::Female,
//! };
//! let dose = Vaccination {
//!     prophylaxis: "1119349007".into(),
//!     product: "EU/1/20/1528".into(),
//!     manufacturer: "ORG-100030215".into(),
//!     dose_number: 1,
//!     series_total: 2,
//!     date: Date::new(2026, 5, 20)?,
//! };
//! let cert = ctx.issue(&person, &dose, now.unix_seconds())?;
//! assert!(cert.hc1.starts_with("HC1:"));
//!
//! // Anyone holding the signer's certificate verifies it.
//! let verified = Verifier::new(ctx.self_check.clone()).verify(&cert.hc1, now)?;
//! assert_eq!(verified.dcc()?.nam.family_name_std.as_deref(), Some("NGUYEN"));
//! # Ok(())
//! # }
//! ```
//!
//! The QR image of a certificate: [`qr::render_png`], [`qr::render_svg`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod deflate;
pub mod encode;
mod issue;
pub mod qr;
pub mod uvci;

pub use issue::{
    IssueContext, IssueError, IssueSettings, IssuedCertificate, JsonError, StageTimes,
    TARGET_COVID_19,
};
pub use uvci::{luhn36_check, new_uvci, uvci_check_ok};
