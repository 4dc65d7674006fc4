//! Downloading the revocation list into the cache (feature `trust-list-sync`), as the trust
//! list is: `GET url?since=<cached sequence>` with `If-None-Match` and, when a list is cached,
//! `Accept: application/vnd.vaxpass.revocation-delta+cbor, application/cose`.
//!
//! - `304`/`204`: the cached list is current; it is re-verified and kept;
//! - `200` with a delta ([`super::delta`]): applied to the cached list, and the rebuilt list
//!   verified as a downloaded one (signature under the pinned anchor, rollback refused); a
//!   delta that does not fit or whose rebuilt list does not verify is replaced by a full
//!   download;
//! - `200` with a full list: verified against the pinned anchor and the cached list's
//!   sequence (rollback refused).
//!
//! Only then does the verified list replace the cache, atomically (the cache always holds a
//! full signed list). A list already expired beyond its grace period is refused at download:
//! it could not vouch for anything. Any failure leaves the previous cache untouched.

use std::time::Duration;

use super::cache::RevocationCache;
use super::delta::{DELTA_CONTENT_TYPE, apply_delta};
use super::{Freshness, RevocationError, RevocationPolicy, VerifiedRevocationList, verify};
use crate::Timestamp;
use crate::trustlist::sync::{Fetched, SyncError, fetch_signed, with_since};

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
        /// Whether it came as a delta against the cached list.
        delta: bool,
        /// Bytes of the answer that brought it (the delta's or the full list's).
        transferred: usize,
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
    let request_url = match cached {
        Some(c) => with_since(url, c.sequence),
        None => url.to_owned(),
    };
    let accept = format!("{DELTA_CONTENT_TYPE}, {CONTENT_TYPE}");
    let fetched = fetch_signed(
        &agent,
        &request_url,
        etag.as_deref(),
        Some(if cached.is_some() {
            &accept
        } else {
            CONTENT_TYPE
        }),
        DELTA_CONTENT_TYPE,
        opts.policy.max_input,
    )?;
    let (body, etag, delta) = match fetched {
        Fetched::NotModified if cached.is_some() => {
            let list = cache
                .load(anchor_csca_der, now, &opts.policy)
                .map_err(SyncError::NotModifiedButCache)?;
            return Ok(RevocationSyncOutcome::NotModified {
                list: Box::new(list),
            });
        }
        Fetched::NotModified => {
            return Err(SyncError::Status {
                url: request_url,
                status: 304,
            });
        }
        Fetched::Body { body, etag, delta } => (body, etag, delta),
    };
    let transferred = body.len();
    let from_delta = if delta {
        // The delta rebuilds the new signed list from the cached one; it is verified as a
        // downloaded list would be.
        cache
            .files()
            .read_list()
            .ok()
            .flatten()
            .and_then(|base| apply_delta(&base, &body).ok())
            .and_then(|signed| {
                verify(&signed, anchor_csca_der, now, cached.as_ref(), &opts.policy)
                    .ok()
                    .map(|list| (signed, list))
            })
    } else {
        None
    };
    let (signed, list, etag, delta, transferred) = match from_delta {
        Some((signed, list)) => (signed, list, etag, true, transferred),
        None => {
            // A full list: as downloaded, or instead of a delta that did not fit.
            let (body, etag) = if delta {
                match fetch_signed(
                    &agent,
                    url,
                    None,
                    Some(CONTENT_TYPE),
                    DELTA_CONTENT_TYPE,
                    opts.policy.max_input,
                )? {
                    Fetched::Body {
                        body, etag, delta, ..
                    } if !delta => (body, etag),
                    _ => {
                        return Err(SyncError::Status {
                            url: url.to_owned(),
                            status: 304,
                        });
                    }
                }
            } else {
                (body, etag)
            };
            let list = verify(&body, anchor_csca_der, now, cached.as_ref(), &opts.policy)?;
            let n = body.len();
            (body, list, etag, false, n)
        }
    };
    if let Freshness::Expired { .. } = list.freshness(now) {
        return Err(SyncError::RevocationsRefused(RevocationError::Expired {
            expires_at: list.list().expires_at,
            now,
        }));
    }
    cache.files().store(&signed, etag.as_deref())?;
    Ok(RevocationSyncOutcome::Updated {
        previous: cached.map(|c| c.sequence),
        delta,
        transferred,
        list: Box::new(list),
    })
}
