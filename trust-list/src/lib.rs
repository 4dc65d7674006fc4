//! The publisher side of vaxpass trust lists: build a national list from the key directory,
//! sign it with the trust-list signer, number it, export and import the EU DCC gateway JSON
//! form, and serve it over HTTP.
//!
//! The format itself (CBOR in COSE_Sign1, CDDL), its verification against a pinned CSCA and the
//! verifier's offline cache live in the verifier crate, [`vaxpass_verifier::trustlist`], so that
//! a verifier needs neither this crate nor the keys crate.
//!
//! ```no_run
//! use std::path::Path;
//! use vaxpass_keys::manifest::{Manifest, Secrets};
//! use vaxpass_trust_list::publish::{self, BuildOptions, SequenceFile};
//! use vaxpass_verifier::Timestamp;
//!
//! # fn main() -> Result<(), vaxpass_trust_list::Error> {
//! let dir = Path::new("keys");
//! let manifest = Manifest::load(&dir.join("keys.toml"))?;
//! let now = Timestamp::now();
//! // Publishable DSCs (pending, current, retired until publish_until).
//! let entries = publish::national_entries(&manifest, dir, now)?;
//! let signer = publish::open_trust_list_signer(&manifest, dir, &Secrets::default())?;
//! let sequence = SequenceFile::in_dir(dir).next()?; // last + 1, persisted
//! let list = publish::assemble(&manifest.country, entries, sequence, now, &BuildOptions::default(), &*signer);
//! let signed = publish::sign(&list, &*signer)?;
//! std::fs::write("trust-list.cose", &signed).ok();
//! # Ok(()) }
//! ```
//!
//! # Crate features
//! - `server`: [`http::router`], the axum router serving `GET /trust-list` (COSE) and
//!   `GET /trust-list.json` with ETag / `If-None-Match` → 304, `Cache-Control` and `?since=`.
//! - `cli`: the `vaxpass-trust-list` binary (`build`, `sign`, `show`, `export`, `serve`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod gateway;
#[cfg(feature = "server")]
pub mod http;
pub mod publish;

use std::path::PathBuf;

pub use vaxpass_verifier::trustlist::{
    Entry, EntryAnchor, TrustList, TrustListError, TrustListPolicy, VerifiedTrustList,
};

/// Everything that can go wrong in the publisher.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Keys, certificates and the key directory manifest.
    #[error(transparent)]
    Keys(#[from] vaxpass_keys::Error),
    /// Signing the list.
    #[error("signing the trust list: {0}")]
    Sign(#[from] vaxpass_keys::SignError),
    /// A certificate that cannot be listed.
    #[error("{path}: {error}")]
    Certificate {
        /// Where it came from.
        path: PathBuf,
        /// Why.
        error: vaxpass_verifier::trust::CertificateError,
    },
    /// Reading or writing a file.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key directory has no trust-list signer.
    #[error(
        "the key directory has no trust-list signer ([trust_list_signer] in keys.toml; `vaxpass-keys dev-init` makes one)"
    )]
    NoSigner,
    /// The signer's key is on a PKCS#11 token, which this build cannot open.
    #[error(
        "the trust-list signer key is on a PKCS#11 token; build vaxpass-keys with feature pkcs11"
    )]
    NoPkcs11,
    /// The sequence state file is unusable.
    #[error("sequence file {path}: {reason}")]
    Sequence {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A trust list that does not decode or verify.
    #[error(transparent)]
    List(#[from] TrustListError),
    /// EU gateway JSON that does not parse.
    #[error("EU gateway trust list: {0}")]
    Gateway(String),
}
