//! The revocation list the issuer publishes (issue 14), in the verifier's format
//! ([`vaxpass_verifier::revocation`]): a COSE_Sign1 by the trust-list signer over the list of
//! every revoked certificate that has not expired, each under the three EU hashes
//! (`SIGNATURE`, `UCI`, `COUNTRYCODEUCI`) — and the old signed instances of certificates
//! re-signed by `batch reissue`, under their `SIGNATURE` hash only — with a sequence taken from the database (strictly
//! increasing across restarts and processes), its issue and expiry times.
//!
//! - `GET /revocations`: the signed list (`application/cose`), `ETag` (its sequence) and
//!   `304 Not Modified` for a matching `If-None-Match`.
//! - `GET /revocations?since=N` with `Accept: application/vnd.vaxpass.revocation-delta+cbor`:
//!   the entries added and removed since list N ([`vaxpass_verifier::revocation::delta`];
//!   the verifier rebuilds the new signed list from its copy of N and verifies the
//!   signature), when N is one of the lists this process published recently (the last
//!   [`DELTA_HISTORY`], while what changed since stays under [`DELTA_MAX_ENTRIES`] entries);
//!   otherwise (N too old, unknown — another process's, or from before a restart — or no
//!   `Accept`) the full list. `since` = the current sequence answers `204 No Content`; a
//!   `since` that is not a number, `400`.
//! - `GET /revocations/gateway.json`: the same entries as EU gateway revocation batches
//!   ([`vaxpass_verifier::revocation::gateway::export`]), for upload.
//!
//! The list is rebuilt (and signed with a new sequence) when a revocation was committed since
//! the last build (the database counts them: any process's), and at least every
//! [`RevocationOptions::refresh`] (a timer keeps it fresh, and expired entries leave it). An
//! entry's group carries the certificate's expiry rounded up to the next UTC midnight, so that
//! the groups stay few (one per day, hash type, DSC and reason); after it the entry leaves the
//! list, fraud entries only when [`RevocationOptions::keep_fraud`] is off.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Mutex;
use vaxpass_keys::Signer;
use vaxpass_verifier::revocation::delta::{DELTA_CONTENT_TYPE, ListDiff, make_delta};
use vaxpass_verifier::revocation::gateway;
use vaxpass_verifier::revocation::{
    CertificateHashes, Group, HashType, ListHeader, Reason, RevocationList, RevocationListBuilder,
};
use vaxpass_verifier::{Limits, Timestamp};

use crate::storage::revocations::RevocationReason;
use crate::storage::{Storage, StorageError};

/// How the list is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationOptions {
    /// The issuer country (the list's and the entries').
    pub country: String,
    /// Lifetime of a signed list, seconds (its expiry is issue + lifetime).
    pub lifetime: i64,
    /// A list older than this is signed again.
    pub refresh: Duration,
    /// Keep fraud entries after their certificate expired.
    pub keep_fraud: bool,
}

impl Default for RevocationOptions {
    fn default() -> Self {
        RevocationOptions {
            country: "VN".into(),
            lifetime: vaxpass_verifier::revocation::DEFAULT_LIFETIME,
            refresh: Duration::from_secs(3600),
            keep_fraud: true,
        }
    }
}

/// Why the list could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored revoked certificate does not decode (its UVCI).
    #[error("the revoked certificate {uvci} does not decode: {error}")]
    Certificate {
        /// The certificate.
        uvci: String,
        /// Why.
        error: vaxpass_verifier::Error,
    },
    /// The list cannot hold the entries.
    #[error("revocation list: {0}")]
    List(#[from] vaxpass_verifier::revocation::RevocationError),
    /// Signing failed.
    #[error("signing the revocation list failed: {0}")]
    Sign(String),
    /// The gateway batches do not serialise.
    #[error("the gateway batches do not serialise: {0}")]
    Json(String),
}

/// A signed list, as served.
#[derive(Debug, Clone)]
pub struct Published {
    /// Its sequence.
    pub sequence: u64,
    /// The database's revocation count it was built from.
    pub changes: i64,
    /// Unix seconds.
    pub issued_at: i64,
    /// Its entries (three per revoked certificate).
    pub entries: usize,
    /// The COSE_Sign1.
    pub cose: Vec<u8>,
    /// The gateway batches, JSON.
    pub gateway_json: Vec<u8>,
    /// `"<sequence>"`.
    pub etag: String,
    /// Deltas to this list from earlier ones: `(base sequence, delta)`.
    pub deltas: Vec<(u64, Vec<u8>)>,
}

impl Published {
    /// The delta from list `since` to this one, if this process can offer it.
    pub fn delta_from(&self, since: u64) -> Option<&[u8]> {
        self.deltas
            .iter()
            .find(|(s, _)| *s == since)
            .map(|(_, d)| d.as_slice())
    }
}

/// How many earlier lists a delta can be asked against.
pub const DELTA_HISTORY: usize = 32;
/// The most entries (added and removed) the deltas from all earlier lists hold together: the
/// oldest base is dropped beyond it (its clients get the full list).
pub const DELTA_MAX_ENTRIES: usize = 2_000_000;

/// What the deltas are made from: the current list, and for each earlier one what changed
/// since.
#[derive(Default)]
struct History {
    current: Option<(u64, [u8; 32], RevocationList)>,
    bases: std::collections::VecDeque<(u64, [u8; 32], ListDiff)>,
}

impl History {
    /// Moves on to `list` (signed as `cose`); returns the deltas to it.
    fn advance(&mut self, list: RevocationList, cose: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let Ok(sha) = vaxpass_verifier::revocation::delta::payload_sha256(cose) else {
            *self = History::default();
            return Vec::new();
        };
        if let Some((seq, base_sha, previous)) = self.current.take() {
            let step = ListDiff::between(&previous, &list);
            for (_, _, diff) in &mut self.bases {
                *diff = diff.then(&step);
            }
            self.bases.push_back((seq, base_sha, step));
        }
        while self.bases.len() > DELTA_HISTORY
            || self.bases.iter().map(|(_, _, d)| d.len()).sum::<usize>() > DELTA_MAX_ENTRIES
        {
            self.bases.pop_front();
        }
        let deltas = self
            .bases
            .iter()
            .filter_map(|(seq, base_sha, diff)| {
                make_delta(*seq, base_sha, cose, &list, diff)
                    .ok()
                    .map(|d| (*seq, d))
            })
            .collect();
        self.current = Some((list.sequence, sha, list));
        deltas
    }
}

/// Builds, signs and caches the list.
pub struct RevocationPublisher {
    storage: Storage,
    signer: Arc<dyn Signer>,
    options: RevocationOptions,
    current: Mutex<Option<Arc<Published>>>,
    history: Mutex<History>,
}

impl std::fmt::Debug for RevocationPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationPublisher")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Seconds of a day.
const DAY: i64 = 86_400;

/// `t` rounded up to the next UTC midnight (itself when it is one).
fn next_midnight(t: i64) -> i64 {
    t.div_euclid(DAY) * DAY + if t.rem_euclid(DAY) == 0 { 0 } else { DAY }
}

fn reason_of(r: RevocationReason) -> Reason {
    match r {
        RevocationReason::Superseded => Reason::Superseded,
        RevocationReason::Error => Reason::Error,
        RevocationReason::Fraud => Reason::Fraud,
    }
}

impl RevocationPublisher {
    /// A publisher signing with `signer` (the trust-list signer).
    pub fn new(
        storage: Storage,
        signer: Arc<dyn Signer>,
        options: RevocationOptions,
    ) -> RevocationPublisher {
        RevocationPublisher {
            storage,
            signer,
            options,
            current: Mutex::new(None),
            history: Mutex::new(History::default()),
        }
    }

    /// The list to serve at `now` (Unix seconds): the cached one, or a new one when a
    /// revocation was committed since or it is older than [`RevocationOptions::refresh`].
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn current(&self, now: i64) -> Result<Arc<Published>, PublishError> {
        let (changes, _) = self.storage.revocation_list_state().await?;
        let mut current = self.current.lock().await;
        let refresh = i64::try_from(self.options.refresh.as_secs()).unwrap_or(i64::MAX);
        if let Some(p) = current.as_ref() {
            if p.changes == changes && now < p.issued_at.saturating_add(refresh) {
                return Ok(p.clone());
            }
        }
        let built = Arc::new(self.build(changes, now).await?);
        tracing::info!(
            sequence = built.sequence,
            entries = built.entries,
            "revocation list signed"
        );
        *current = Some(built.clone());
        Ok(built)
    }

    async fn build(&self, changes: i64, now: i64) -> Result<Published, PublishError> {
        let builder = entries(
            &self.storage,
            &self.options.country,
            self.options.keep_fraud,
            now,
        )
        .await?;
        let sequence = self.storage.next_revocation_sequence().await?;
        let header = ListHeader {
            issuer_country: self.options.country.clone(),
            sequence,
            issued_at: Timestamp::from_unix_seconds(now),
            expires_at: Timestamp::from_unix_seconds(now.saturating_add(self.options.lifetime)),
            signer_certificate_der: self.signer.certificate_der().to_vec(),
        };
        let at = Timestamp::from_unix_seconds(now);
        let list = builder.build(header, Some(at), self.options.keep_fraud);
        let cose = list
            .sign(self.signer.algorithm(), &self.signer.kid(), |tbs| {
                self.signer.sign(tbs)
            })
            .map_err(|e| PublishError::Sign(e.to_string()))?;
        let gateway_json = serde_json::to_vec_pretty(&gateway::export(&list, at))
            .map_err(|e| PublishError::Json(e.to_string()))?;
        let entries = list.len();
        let deltas = self.history.lock().await.advance(list, &cose);
        Ok(Published {
            sequence,
            changes,
            issued_at: now,
            entries,
            cose,
            gateway_json,
            etag: format!("\"{sequence}\""),
            deltas,
        })
    }
}

/// Every live revocation (see the module documentation) under its three hashes, grouped.
///
/// # Errors
/// [`PublishError::Storage`], [`PublishError::Certificate`], [`PublishError::List`].
async fn entries(
    storage: &Storage,
    country: &str,
    keep_fraud: bool,
    now: i64,
) -> Result<RevocationListBuilder, PublishError> {
    let revoked = storage.live_revocations(now, keep_fraud).await?;
    let mut builder = RevocationListBuilder::new();
    for r in &revoked {
        let signed = vaxpass_verifier::decode(&r.hc1, &Limits::default()).map_err(|error| {
            PublishError::Certificate {
                uvci: r.uvci.clone(),
                error,
            }
        })?;
        let hashes = CertificateHashes::of(&signed);
        for hash_type in HashType::ALL {
            let Some(hash) = hashes.get(hash_type) else {
                continue;
            };
            let group = Group {
                hash_type,
                country: country.to_owned(),
                kid: signed.kid(),
                expires_at: Timestamp::from_unix_seconds(next_midnight(r.exp)),
                reason: reason_of(r.reason),
            };
            builder.add(hash, &group)?;
        }
    }
    // Certificates re-signed by another DSC (`batch reissue`): their old signed instance, by
    // its signature only (the UCI still names the live, re-signed certificate).
    for r in storage.live_signature_revocations(now).await? {
        let signed = vaxpass_verifier::decode(&r.hc1, &Limits::default()).map_err(|error| {
            PublishError::Certificate {
                uvci: r.uvci.clone(),
                error,
            }
        })?;
        let Some(hash) = CertificateHashes::of(&signed).get(HashType::Signature) else {
            continue;
        };
        let group = Group {
            hash_type: HashType::Signature,
            country: country.to_owned(),
            kid: signed.kid(),
            expires_at: Timestamp::from_unix_seconds(next_midnight(r.exp)),
            reason: Reason::Superseded,
        };
        builder.add(hash, &group)?;
    }
    Ok(builder)
}

/// The EU gateway batches of every live revocation at `now`, without signing anything: what
/// `GET /revocations/gateway.json` serves (`vaxpass-issuer revocations export`).
///
/// # Errors
/// As [`RevocationPublisher::current`], signing aside.
pub async fn gateway_batches_at(
    storage: &Storage,
    country: &str,
    keep_fraud: bool,
    now: i64,
) -> Result<Vec<gateway::GatewayBatch>, PublishError> {
    let builder = entries(storage, country, keep_fraud, now).await?;
    let at = Timestamp::from_unix_seconds(now);
    let header = ListHeader {
        issuer_country: country.to_owned(),
        sequence: 0,
        issued_at: at,
        expires_at: at,
        signer_certificate_der: Vec::new(),
    };
    Ok(gateway::export(
        &builder.build(header, Some(at), keep_fraud),
        at,
    ))
}

/// The shared publisher and the clock it is asked with.
#[derive(Clone)]
struct Served {
    publisher: Arc<RevocationPublisher>,
}

/// `GET /revocations` and `GET /revocations/gateway.json`.
pub fn router(publisher: Arc<RevocationPublisher>) -> Router {
    Router::new()
        .route("/revocations", get(list))
        .route("/revocations/gateway.json", get(gateway_batches))
        .with_state(Served { publisher })
}

/// Re-signs the list every `every` (and so drops expired entries) until the task is aborted.
pub fn spawn_refresh(
    publisher: Arc<RevocationPublisher>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        loop {
            tick.tick().await;
            if let Err(e) = publisher.current(publisher.storage.clock().now()).await {
                tracing::error!(error = %e, "revocation list refresh failed");
            }
        }
    })
}

fn failed(e: &PublishError) -> Response {
    tracing::error!(error = %e, "revocation list unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
        "the revocation list cannot be built right now; retry shortly",
    )
        .into_response()
}

/// `?since=N`: `Ok(None)` without it, `Err` when it is not a number.
fn since(uri: &Uri) -> Result<Option<u64>, ()> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    match query
        .split('&')
        .find_map(|pair| pair.strip_prefix("since="))
    {
        None => Ok(None),
        Some(n) => n.parse().map(Some).map_err(|_| ()),
    }
}

async fn list(State(served): State<Served>, uri: Uri, headers: HeaderMap) -> Response {
    let Ok(since) = since(&uri) else {
        return (StatusCode::BAD_REQUEST, "since must be a sequence number\n").into_response();
    };
    let now = served.publisher.storage.clock().now();
    let published = match served.publisher.current(now).await {
        Ok(p) => p,
        Err(e) => return failed(&e),
    };
    let etag = HeaderValue::from_str(&published.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == published.etag));
    let cache = HeaderValue::from_static("public, max-age=60");
    let vary = HeaderValue::from_static("accept");
    if matches || since == Some(published.sequence) {
        let status = if matches {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::NO_CONTENT
        };
        return (
            status,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache),
                (header::VARY, vary),
            ],
        )
            .into_response();
    }
    let wants_delta = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(DELTA_CONTENT_TYPE));
    if let Some(delta) = since
        .filter(|_| wants_delta)
        .and_then(|n| published.delta_from(n))
    {
        return (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(DELTA_CONTENT_TYPE),
                ),
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache),
                (header::VARY, vary),
            ],
            delta.to_vec(),
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/cose"),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (header::VARY, vary),
        ],
        published.cose.clone(),
    )
        .into_response()
}

async fn gateway_batches(State(served): State<Served>) -> Response {
    let now = served.publisher.storage.clock().now();
    match served.publisher.current(now).await {
        Ok(p) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            p.gateway_json.clone(),
        )
            .into_response(),
        Err(e) => failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaxpass_verifier::revocation::RevocationHash;
    use vaxpass_verifier::revocation::delta::apply_delta;
    use vaxpass_verifier::{Algorithm, Kid};

    /// List `seq` revoking UCIs `0..n` (expiring in a day) and, when `fraud`, one more.
    fn list(seq: u64, n: u32, fraud: bool) -> (RevocationList, Vec<u8>) {
        let group = |reason| Group {
            hash_type: HashType::Uci,
            country: "VN".into(),
            kid: None,
            expires_at: Timestamp::from_unix_seconds(DAY),
            reason,
        };
        let mut b = RevocationListBuilder::new();
        for i in 0..n {
            b.add(
                RevocationHash::uci(&format!("U{i}")),
                &group(Reason::Superseded),
            )
            .unwrap();
        }
        if fraud {
            b.add(RevocationHash::uci("F"), &group(Reason::Fraud))
                .unwrap();
        }
        let header = ListHeader {
            issuer_country: "VN".into(),
            sequence: seq,
            issued_at: Timestamp::from_unix_seconds(0),
            expires_at: Timestamp::from_unix_seconds(DAY),
            signer_certificate_der: b"signer".to_vec(),
        };
        let l = b.build(header, None, false);
        // The signature's bytes only (the deltas carry them; nothing verifies them here).
        let kid = Kid::from_bytes(&[7; 8]).unwrap();
        let cose = l
            .sign::<std::convert::Infallible>(Algorithm::Es256, &kid, |tbs| {
                Ok(tbs.iter().take(64).copied().collect())
            })
            .unwrap();
        (l, cose)
    }

    #[test]
    fn deltas_from_every_recent_list_rebuild_the_current_one() {
        let mut h = History::default();
        let mut signed: Vec<(u64, Vec<u8>)> = Vec::new();
        // Entries added, one removed and added back, a fraud entry that comes and goes.
        for (seq, n, fraud) in [(1, 10, false), (2, 15, true), (3, 12, true), (4, 20, false)] {
            let (l, cose) = list(seq, n, fraud);
            let deltas = h.advance(l, &cose);
            // A delta from every earlier list, each rebuilding this one from it.
            assert_eq!(deltas.len(), signed.len(), "sequence {seq}");
            for (base, delta) in &deltas {
                let (_, base_signed) = signed.iter().find(|(s, _)| s == base).unwrap();
                let base_signed: &[u8] = base_signed;
                assert_eq!(
                    &apply_delta(base_signed, delta).unwrap(),
                    &cose,
                    "{base} -> {seq}"
                );
            }
            signed.push((seq, cose));
        }
        // History is bounded: only the last DELTA_HISTORY lists can be a base.
        for seq in 5..(6 + DELTA_HISTORY as u64) {
            let (l, cose) = list(seq, 20, false);
            h.advance(l, &cose);
        }
        assert_eq!(h.bases.len(), DELTA_HISTORY);
        let (l, cose) = list(100, 21, false);
        let deltas = h.advance(l, &cose);
        assert_eq!(deltas.len(), DELTA_HISTORY);
        assert!(deltas.iter().all(|(base, _)| *base > 4));
    }

    #[test]
    fn expiry_rounds_up_to_midnight() {
        assert_eq!(next_midnight(0), 0);
        assert_eq!(next_midnight(1), 86_400);
        assert_eq!(next_midnight(86_400), 86_400);
        assert_eq!(next_midnight(86_399), 86_400);
    }
}
