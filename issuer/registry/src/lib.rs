//! # vaxpass-issuer-registry
//!
//! The population registry the service matches dose records against, behind one async trait
//! with two sources:
//!
//! - **local**: the `registry_persons` table of the issuer's own database, loaded from a CSV
//!   extract ([`Storage::import_registry`], looked up with [`Storage::find_person`]);
//! - **remote**: the ministry's registry verification service over HTTPS
//!   ([`remote::RemoteRegistry`]; its request/response contract, timeouts, retries and circuit
//!   breaker are described in [`remote`]).
//!
//! The domain's [`matching`] keeps the pure, synchronous [`matching::Registry`] trait that
//! [`matching::match_record`] grades against; this crate does the I/O before it: one
//! [`PersonRegistry::lookup`] per record, then `match_record` over the one person found
//! ([`matching::LookedUp`]). [`csv`] reads the registry's CSV extract and writes a synthetic
//! one.
//!
//! # Why an enum beside the trait
//! [`PersonRegistry`] is an `async fn`-in-trait (Rust 2024, no `async_trait` macro), implemented
//! by [`Storage`], [`remote::RemoteRegistry`] and [`RegistrySource`]. Such a trait is not
//! object-safe, so the service state holds the closed enum [`RegistrySource`] (`Local` or
//! `Remote`) rather than a `dyn`: dispatch is a `match`, with no boxed future per lookup and
//! nothing to declare `Send` by hand. A third source is a third variant.
//!
//! # When the registry cannot answer
//! A lookup fails with a [`RegistryError`]; what happens to the record then (stored
//! `received` with the outcome [`REGISTRY_UNAVAILABLE`], matched again later) is the intake
//! use case's (`vaxpass_issuer::workflow::intake`, above this crate).
//!
//! No error text of this module carries personal data: ID numbers travel only in request
//! bodies, never in URLs, logs or messages.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

#[cfg(doc)]
use vaxpass_issuer_domain::matching;

use vaxpass_issuer_domain::identity::IdNumber;
use vaxpass_issuer_domain::matching::RegistryPerson;
use vaxpass_issuer_store::{Storage, StorageError};

pub mod csv;
pub mod remote;

pub use remote::{RemoteRegistry, RemoteRegistryConfig};

/// The outcome code of a record stored while the registry could not be asked.
pub use vaxpass_issuer_domain::record::REGISTRY_UNAVAILABLE;

/// Why a registry lookup failed. The texts carry no personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The circuit breaker is open after repeated failures: the request was not sent.
    #[error(
        "the population registry is unavailable (circuit open after repeated failures); \
         the request was not sent"
    )]
    Unavailable,
    /// The registry did not answer within the attempt timeout or the total deadline.
    #[error("the population registry did not answer in time")]
    Timeout,
    /// The registry answered with a server error (5xx) or 429 on every attempt.
    #[error("the population registry answered HTTP {0} on every attempt")]
    Status(u16),
    /// The answer breaks the contract: a refused request (4xx), a body that is not the
    /// contract's JSON, too large, or about another person.
    #[error("the population registry's answer breaks the contract: {0}")]
    Protocol(String),
    /// The TLS handshake failed (untrusted or expired certificate, name mismatch, client
    /// certificate refused).
    #[error("TLS with the population registry failed: {0}")]
    Tls(String),
    /// The connection failed (refused, reset, name not resolved).
    #[error("cannot reach the population registry: {0}")]
    Transport(String),
    /// The local registry table could not be read.
    #[error("the local registry table: {0}")]
    Storage(#[from] StorageError),
}

impl RegistryError {
    /// A stable code for logs and audit entries.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Unavailable => "CIRCUIT_OPEN",
            RegistryError::Timeout => "TIMEOUT",
            RegistryError::Status(_) => "STATUS",
            RegistryError::Protocol(_) => "PROTOCOL",
            RegistryError::Tls(_) => "TLS",
            RegistryError::Transport(_) => "TRANSPORT",
            RegistryError::Storage(_) => "STORAGE",
        }
    }
}

/// Lookup of one person by ID number, asynchronously (database or network).
pub trait PersonRegistry: Send + Sync {
    /// The person registered under `id`, if any (`Ok(None)`: not registered).
    ///
    /// # Errors
    /// [`RegistryError`]: the registry could not give an answer.
    fn lookup(
        &self,
        id: &IdNumber,
    ) -> impl Future<Output = Result<Option<RegistryPerson>, RegistryError>> + Send;
}

impl PersonRegistry for Storage {
    async fn lookup(&self, id: &IdNumber) -> Result<Option<RegistryPerson>, RegistryError> {
        Ok(self.find_person(id).await?)
    }
}

/// The registry the service uses: the local table or the remote service.
#[derive(Clone)]
#[non_exhaustive]
pub enum RegistrySource {
    /// The `registry_persons` table of the issuer's database.
    Local(Storage),
    /// The remote registry verification service.
    Remote(RemoteRegistry),
}

impl RegistrySource {
    /// `local` or `remote`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistrySource::Local(_) => "local",
            RegistrySource::Remote(_) => "remote",
        }
    }
}

impl fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrySource::Local(s) => f.debug_tuple("Local").field(s).finish(),
            RegistrySource::Remote(r) => f.debug_tuple("Remote").field(r).finish(),
        }
    }
}

impl PersonRegistry for RegistrySource {
    async fn lookup(&self, id: &IdNumber) -> Result<Option<RegistryPerson>, RegistryError> {
        match self {
            RegistrySource::Local(s) => s.lookup(id).await,
            RegistrySource::Remote(r) => r.lookup(id).await,
        }
    }
}

/// A registry held in memory (the local table loaded once, for a file import): a lookup is a
/// hash-map read.
impl PersonRegistry for vaxpass_issuer_domain::matching::InMemoryRegistry {
    async fn lookup(&self, id: &IdNumber) -> Result<Option<RegistryPerson>, RegistryError> {
        Ok(vaxpass_issuer_domain::matching::Registry::find(self, id))
    }
}
