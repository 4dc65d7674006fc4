//! Downloading a trust list into the cache (feature `trust-list-sync`): a blocking HTTP(S)
//! client (`ureq` over rustls), no async runtime.
//!
//! [`sync`]:
//! 1. reads the cached list's state (sequence, content hash) and entity tag;
//! 2. `GET url?since=<cached sequence>` with `If-None-Match: <cached ETag>` and
//!    `Accept: application/vnd.vaxpass.trust-list-delta+cbor, application/cose`;
//! 3. `304 Not Modified` / `204 No Content`: the cache is current; it is re-verified and kept;
//! 4. `200`: the body (at most [`TrustListPolicy::max_input`] bytes) is verified against the
//!    pinned anchor and the cached state (rollback refused); only then is the cache replaced,
//!    atomically. A delta answer is first applied to the cached list
//!    ([`super::delta::apply_delta`]) and the rebuilt list verified the same way; a delta that
//!    does not fit is replaced by a full download;
//! 5. any failure leaves the previous cache untouched, and the error says why.

use std::time::Duration;

use super::cache::{Cache, CacheError};
use super::{TrustListError, TrustListPolicy, VerifiedTrustList, verify};
use crate::Timestamp;

/// Options of [`sync`].
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Verification policy (grace period, size cap).
    pub policy: TrustListPolicy,
    /// Whole-request timeout. Default 30 s.
    pub timeout: Duration,
    /// Add `since=<cached sequence>` to the URL. Default `true`.
    pub send_since: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            policy: TrustListPolicy::default(),
            timeout: Duration::from_secs(30),
            send_since: true,
        }
    }
}

/// What a successful sync did.
#[derive(Debug)]
pub enum SyncOutcome {
    /// A new list was verified and stored.
    Updated {
        /// The previously cached sequence.
        previous: Option<u64>,
        /// Whether it came as a delta against the cached list.
        delta: bool,
        /// The new list.
        list: Box<VerifiedTrustList>,
    },
    /// The server says the cached list is current (304 or 204); the cache was re-verified.
    NotModified {
        /// The cached list.
        list: Box<VerifiedTrustList>,
    },
}

impl SyncOutcome {
    /// The list now in the cache.
    pub fn list(&self) -> &VerifiedTrustList {
        match self {
            SyncOutcome::Updated { list, .. } | SyncOutcome::NotModified { list } => list,
        }
    }
}

/// Why a sync failed. The previous cache is always kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The request failed (connection, TLS, timeout, body too large).
    #[error("downloading {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an unexpected status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The downloaded list was refused.
    #[error("downloaded trust list refused: {0}")]
    Refused(#[from] TrustListError),
    /// The downloaded revocation list was refused.
    #[error("downloaded revocation list refused: {0}")]
    RevocationsRefused(#[from] crate::revocation::RevocationError),
    /// The server said "not modified" but the cache is unusable.
    #[error("server reports no change, but {0}")]
    NotModifiedButCache(CacheError),
    /// Storing the new list failed.
    #[error("{0}")]
    Cache(#[from] CacheError),
}

pub(crate) fn with_since(url: &str, since: u64) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}since={since}")
}

/// Downloads the list at `url` into `cache`, verifying it against the pinned
/// `anchor_csca_der` at `now` (see the module documentation).
///
/// # Errors
/// [`SyncError`]; the previous cache is then unchanged.
pub fn sync(
    url: &str,
    anchor_csca_der: &[u8],
    cache: &Cache,
    now: Timestamp,
    opts: &SyncOptions,
) -> Result<SyncOutcome, SyncError> {
    let cached = cache.state(anchor_csca_der, now);
    let etag = cached.and_then(|_| cache.read_etag());
    let request_url = match cached {
        Some(c) if opts.send_since => with_since(url, c.sequence),
        _ => url.to_owned(),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let fetched = fetch(
        &agent,
        &request_url,
        etag.as_deref(),
        cached.is_some(),
        opts,
    )?;
    let (body, new_etag, is_delta) = match fetched {
        Fetched::NotModified if cached.is_some() => {
            let list = cache
                .load(anchor_csca_der, now, &opts.policy)
                .map_err(SyncError::NotModifiedButCache)?;
            return Ok(SyncOutcome::NotModified {
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
    let (signed, new_etag) = if is_delta {
        let rebuilt = cache
            .read_list()?
            .ok_or_else(|| SyncError::Http {
                url: request_url.clone(),
                reason: "a delta came but no list is cached".into(),
            })
            .and_then(|base| Ok(super::delta::apply_delta(&base, &body)?));
        match rebuilt {
            // The ETag of a delta answer is not the full list's: none is kept.
            Ok(bytes) => (bytes, None),
            Err(_) => {
                // A delta that does not fit the cached list: fetch the full list instead.
                match fetch(&agent, url, None, false, opts)? {
                    Fetched::Body { body, etag, .. } => (body, etag),
                    Fetched::NotModified => {
                        return Err(SyncError::Status {
                            url: url.to_owned(),
                            status: 304,
                        });
                    }
                }
            }
        }
    } else {
        (body, new_etag)
    };
    let list = verify(&signed, anchor_csca_der, now, cached.as_ref(), &opts.policy)?;
    cache.store(&signed, new_etag.as_deref())?;
    Ok(SyncOutcome::Updated {
        previous: cached.map(|c| c.sequence),
        delta: is_delta,
        list: Box::new(list),
    })
}

pub(crate) enum Fetched {
    NotModified,
    Body {
        body: Vec<u8>,
        etag: Option<String>,
        delta: bool,
    },
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    etag: Option<&str>,
    accept_delta: bool,
    opts: &SyncOptions,
) -> Result<Fetched, SyncError> {
    let accept =
        accept_delta.then(|| format!("{}, application/cose", super::delta::DELTA_CONTENT_TYPE));
    fetch_signed(
        agent,
        url,
        etag,
        accept.as_deref(),
        super::delta::DELTA_CONTENT_TYPE,
        opts.policy.max_input,
    )
}

/// One GET of a signed list: `If-None-Match` when an ETag is given, `Accept: accept` when
/// given; a body whose content type starts with `delta_type` is flagged as a delta. At most
/// `max_input` bytes are read.
pub(crate) fn fetch_signed(
    agent: &ureq::Agent,
    url: &str,
    etag: Option<&str>,
    accept: Option<&str>,
    delta_type: &str,
    max_input: usize,
) -> Result<Fetched, SyncError> {
    let mut req = agent.get(url);
    if let Some(tag) = etag {
        req = req.header("If-None-Match", tag);
    }
    if let Some(accept) = accept {
        req = req.header("Accept", accept);
    }
    let http = |e: ureq::Error| SyncError::Http {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    let mut resp = req.call().map_err(http)?;
    let status = resp.status().as_u16();
    match status {
        304 | 204 => return Ok(Fetched::NotModified),
        200 => {}
        _ => {
            return Err(SyncError::Status {
                url: url.to_owned(),
                status,
            });
        }
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let etag = header("etag");
    let delta = header("content-type").is_some_and(|t| t.starts_with(delta_type));
    let limit = u64::try_from(max_input).unwrap_or(u64::MAX);
    let body = resp
        .body_mut()
        .with_config()
        .limit(limit.saturating_add(1))
        .read_to_vec()
        .map_err(http)?;
    Ok(Fetched::Body { body, etag, delta })
}
