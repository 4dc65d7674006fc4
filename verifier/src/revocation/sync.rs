//! Downloading the revocation list into the cache (feature `trust-list-sync`), as the trust
//! list is: `GET url` with `If-None-Match`; `304`/`204` keeps (and re-verifies) the cached
//! list; a `200` body is verified against the pinned anchor and the cached list's sequence
//! (rollback refused) before it replaces the cache atomically. A list already expired beyond
//! its grace period is refused at download: it could not vouch for anything.

use std::time::Duration;

use super::cache::RevocationCache;
use super::{Freshness, RevocationError, RevocationPolicy, VerifiedRevocationList, verify};
use crate::Timestamp;
use crate::trustlist::sync::{Fetched, SyncError, fetch_signed};

/// The media type of a signed revocation list.
pub const CONTENT_TYPE: &str = "application/cose";

/// Options of [`sync`].
#[derive(Clone, Debug)]
pub struct RevocationSyncOptions {
    /// Verification policy (grace period, size cap).
    pub policy: RevocationPolicy,
    /// Whole-request timeout. Default 60 s (a national list is large).
    pub timeout: Duration,
}

impl Default for RevocationSyncOptions {
    fn default() -> Self {
        RevocationSyncOptions {
            policy: RevocationPolicy::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// What a successful sync did.
#[derive(Debug)]
pub enum RevocationSyncOutcome {
    /// A new list was verified and stored.
    Updated {
        /// The previously cached sequence.
        previous: Option<u64>,
        /// The new list.
        list: Box<VerifiedRevocationList>,
    },
    /// The server says the cached list is current; the cache was re-verified.
    NotModified {
        /// The cached list.
        list: Box<VerifiedRevocationList>,
    },
}

impl RevocationSyncOutcome {
    /// The list now in the cache.
    pub fn list(&self) -> &VerifiedRevocationList {
        match self {
            Self::Updated { list, .. } | Self::NotModified { list } => list,
        }
    }
}

/// Downloads the revocation list at `url` into `cache` (see the module documentation).
///
/// # Errors
/// [`SyncError`]; the previous cache is then unchanged.
pub fn sync(
    url: &str,
    anchor_csca_der: &[u8],
    cache: &RevocationCache,
    now: Timestamp,
    opts: &RevocationSyncOptions,
) -> Result<RevocationSyncOutcome, SyncError> {
    let cached = cache.state(anchor_csca_der, now);
    let etag = cached.and_then(|_| cache.files().read_etag());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let fetched = fetch_signed(
        &agent,
        url,
        etag.as_deref(),
        Some(CONTENT_TYPE),
        "application/vnd.vaxpass.none",
        opts.policy.max_input,
    )?;
    match fetched {
        Fetched::NotModified if cached.is_some() => {
            let list = cache
                .load(anchor_csca_der, now, &opts.policy)
                .map_err(SyncError::NotModifiedButCache)?;
            Ok(RevocationSyncOutcome::NotModified {
                list: Box::new(list),
            })
        }
        Fetched::NotModified => Err(SyncError::Status {
            url: url.to_owned(),
            status: 304,
        }),
        Fetched::Body { body, etag, .. } => {
            let list = verify(&body, anchor_csca_der, now, cached.as_ref(), &opts.policy)?;
            if let Freshness::Expired { .. } = list.freshness(now) {
                return Err(SyncError::RevocationsRefused(RevocationError::Expired {
                    expires_at: list.list().expires_at,
                    now,
                }));
            }
            cache.files().store(&body, etag.as_deref())?;
            Ok(RevocationSyncOutcome::Updated {
                previous: cached.map(|c| c.sequence),
                list: Box::new(list),
            })
        }
    }
}
