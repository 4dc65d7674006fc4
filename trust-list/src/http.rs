//! Serving the signed list over HTTP (feature `server`): an axum [`Router`] the issuer merges
//! into its application, and that `vaxpass-trust-list serve` runs on its own.
//!
//! | request | answer |
//! |---|---|
//! | `GET /trust-list` | `200`, `Content-Type: application/cose`, the signed list |
//! | `GET /trust-list.json` | `200`, `Content-Type: application/json`, the JSON rendition (unsigned, for people) |
//! | either, `If-None-Match` matching the current ETag (or `*`) | `304 Not Modified`, no body |
//! | either, `?since=N` with N the current sequence | `204 No Content`: the client is current |
//! | `/trust-list?since=N` with another N, `Accept` the delta type | `200`, the delta from list N when N is recent (see below), else the full list |
//! | either, `?since=N` with another N | `200` with the full list |
//! | `?since=` not a number | `400` |
//! | `HEAD` | as `GET`, without a body |
//!
//! Every answer but 400 carries a strong `ETag` (`"` + the first 128 bits of SHA-256 of the
//! body, hex + `"`), `Cache-Control: public, max-age=<max_age>, no-transform` and
//! `X-Trust-List-Sequence: <sequence>`.
//!
//! **Delta form.** With `?since=N` and `Accept: application/vnd.vaxpass.trust-list-delta+cbor`,
//! a client holding list N (one of the last [`DELTA_HISTORY`] published) gets `200` with a delta
//! ([`vaxpass_verifier::trustlist::delta`]): unchanged entries are sent as indexes into list N,
//! new ones in full, plus the new list's metadata, protected header and signature. Applying it
//! rebuilds the new signed list byte for byte, which the client verifies as usual; the delta
//! itself needs no trust. Otherwise (no `Accept`, base too old, or a list the delta cannot
//! reproduce) the full list is the answer. `since` = the current sequence answers `204`. A
//! client whose `since` is higher than the server's sequence gets the full list, so that its
//! own verification reports the rollback loudly instead of a silent "no change". Answers carry
//! `Vary: Accept`.
//!
//! The served list can be replaced at run time ([`TrustListState::publish`]) without
//! restarting; requests in flight finish with the list they started with.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use sha2::{Digest, Sha256};
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::trustlist::delta::{DELTA_CONTENT_TYPE, make_delta};
use vaxpass_verifier::trustlist::{
    TrustList, TrustListPolicy, dangerous_decode_unverified, verify,
};

use crate::Error;

/// The COSE media type (RFC 9052 §11.2).
pub const COSE_CONTENT_TYPE: &str = "application/cose";
/// Default `max-age`, seconds.
pub const DEFAULT_MAX_AGE: u32 = 300;
/// The sequence header.
pub const SEQUENCE_HEADER: &str = "x-trust-list-sequence";

struct Representation {
    body: Bytes,
    etag: HeaderValue,
    content_type: HeaderValue,
}

impl Representation {
    fn new(body: Vec<u8>, content_type: &'static str) -> Self {
        let digest = Sha256::digest(&body);
        let tag = format!("\"{}\"", hex::encode(&digest[..16]));
        Representation {
            body: Bytes::from(body),
            // Hex in quotes: always a valid header value.
            etag: HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\"")),
            content_type: HeaderValue::from_static(content_type),
        }
    }
}

/// How many earlier lists a delta can be computed against.
pub const DELTA_HISTORY: usize = 8;

struct Published {
    list: TrustList,
    cose: Representation,
    json: Representation,
    sequence_header: HeaderValue,
    /// Earlier signed lists (oldest first), for deltas of later lists.
    history: Vec<(u64, Bytes)>,
    /// Deltas from earlier sequences to this list.
    deltas: Vec<(u64, Representation)>,
}

impl Published {
    fn new(signed: Vec<u8>, list: TrustList, history: Vec<(u64, Bytes)>) -> Result<Self, Error> {
        let json = serde_json::to_vec_pretty(&list.to_json())
            .map_err(|e| Error::Gateway(format!("JSON rendition: {e}")))?;
        let mut deltas = Vec::new();
        for (seq, base) in &history {
            if let Ok(Some(d)) = make_delta(base, &signed) {
                deltas.push((*seq, Representation::new(d, DELTA_CONTENT_TYPE)));
            }
        }
        Ok(Published {
            sequence_header: HeaderValue::from(list.sequence),
            list,
            cose: Representation::new(signed, COSE_CONTENT_TYPE),
            json: Representation::new(json, "application/json"),
            history,
            deltas,
        })
    }

    fn delta_from(&self, since: u64) -> Option<&Representation> {
        self.deltas
            .iter()
            .find(|(s, _)| *s == since)
            .map(|(_, r)| r)
    }
}

/// The list being served; cheap to clone (one shared, replaceable snapshot).
#[derive(Clone)]
pub struct TrustListState {
    current: Arc<RwLock<Arc<Published>>>,
    cache_control: HeaderValue,
}

impl std::fmt::Debug for TrustListState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustListState")
            .field("sequence", &self.sequence())
            .finish()
    }
}

impl TrustListState {
    /// Serves `signed` (a signed list this publisher made), with `max_age` seconds of caching.
    /// The list is decoded, not verified: use [`TrustListState::verified`] for a list from
    /// elsewhere.
    ///
    /// # Errors
    /// [`Error::List`] when the bytes are not a trust list.
    pub fn new(signed: Vec<u8>, max_age: u32) -> Result<Self, Error> {
        let list = dangerous_decode_unverified(&signed)?;
        Ok(TrustListState {
            current: Arc::new(RwLock::new(Arc::new(Published::new(
                signed,
                list,
                Vec::new(),
            )?))),
            cache_control: HeaderValue::from_str(&format!(
                "public, max-age={max_age}, no-transform"
            ))
            .unwrap_or(HeaderValue::from_static(
                "public, max-age=300, no-transform",
            )),
        })
    }

    /// As [`TrustListState::new`], verifying the list against the CSCA first.
    ///
    /// # Errors
    /// [`Error::List`].
    pub fn verified(
        signed: Vec<u8>,
        anchor_csca_der: &[u8],
        now: Timestamp,
        max_age: u32,
    ) -> Result<Self, Error> {
        verify(
            &signed,
            anchor_csca_der,
            now,
            None,
            &TrustListPolicy::default(),
        )?;
        Self::new(signed, max_age)
    }

    fn snapshot(&self) -> Arc<Published> {
        let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&guard)
    }

    /// Replaces the served list (a new signed list from the same publisher).
    ///
    /// # Errors
    /// [`Error::List`] when the bytes are not a trust list; [`Error::List`] with
    /// `Rollback` when its sequence is lower than the one being served.
    pub fn publish(&self, signed: Vec<u8>) -> Result<(), Error> {
        let list = dangerous_decode_unverified(&signed)?;
        let current = self.sequence();
        if list.sequence < current {
            return Err(Error::List(
                vaxpass_verifier::trustlist::TrustListError::Rollback {
                    cached: current,
                    received: list.sequence,
                },
            ));
        }
        let previous = self.snapshot();
        let mut history = previous.history.clone();
        history.push((previous.list.sequence, previous.cose.body.clone()));
        if history.len() > DELTA_HISTORY {
            history.remove(0);
        }
        let published = Arc::new(Published::new(signed, list, history)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = published;
        Ok(())
    }

    /// The sequence being served.
    pub fn sequence(&self) -> u64 {
        self.snapshot().list.sequence
    }

    /// The list being served.
    pub fn list(&self) -> TrustList {
        self.snapshot().list.clone()
    }
}

/// The router: `GET /trust-list` and `GET /trust-list.json` (see the module documentation).
/// Merge it into an application with `Router::merge`.
pub fn router(state: TrustListState) -> Router {
    Router::new()
        .route("/trust-list", get(get_cose))
        .route("/trust-list.json", get(get_json))
        .with_state(state)
}

async fn get_cose(
    State(s): State<TrustListState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let p = s.snapshot();
    respond(&s, &p, &p.cose, &method, &uri, &headers)
}

async fn get_json(
    State(s): State<TrustListState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let p = s.snapshot();
    respond(&s, &p, &p.json, &method, &uri, &headers)
}

/// `since` from the query: `Ok(None)` when absent, `Err` when not a number.
fn since(uri: &Uri) -> Result<Option<u64>, ()> {
    let Some(q) = uri.query() else {
        return Ok(None);
    };
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("since=") {
            return v.parse().map(Some).map_err(|_| ());
        }
    }
    Ok(None)
}

/// Weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag equal ignoring `W/`.
fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).as_bytes() == etag)
}

fn respond(
    s: &TrustListState,
    p: &Published,
    r: &Representation,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let Ok(since) = since(uri) else {
        let mut resp = Response::new(Body::from("since must be a sequence number\n"));
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        return resp;
    };
    // A client that accepts deltas and holds a recent list gets the delta instead.
    let wants_delta = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(DELTA_CONTENT_TYPE));
    let r = match since {
        Some(n) if wants_delta && n != p.list.sequence && r.content_type == COSE_CONTENT_TYPE => {
            p.delta_from(n).unwrap_or(r)
        }
        _ => r,
    };
    let status = if if_none_match(headers, &r.etag) {
        StatusCode::NOT_MODIFIED
    } else if since == Some(p.list.sequence) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    };
    let body = if status == StatusCode::OK && method != Method::HEAD {
        Body::from(r.body.clone())
    } else {
        Body::empty()
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::ETAG, r.etag.clone());
    h.insert(header::CACHE_CONTROL, s.cache_control.clone());
    h.insert(SEQUENCE_HEADER, p.sequence_header.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    if status == StatusCode::OK {
        h.insert(header::CONTENT_TYPE, r.content_type.clone());
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(r.body.len()));
    }
    resp
}

/// Re-signs with `publisher` every `every` (use at most a quarter of the list lifetime) and
/// serves the result. A failure is reported on stderr and the current list stays served; the
/// next attempt comes at the next tick. Returns the task (abort it to stop).
pub fn spawn_refresh(
    state: TrustListState,
    publisher: Arc<crate::publish::Publisher>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: the caller just published
        loop {
            tick.tick().await;
            let p = Arc::clone(&publisher);
            let signed = tokio::task::spawn_blocking(move || p.publish(Timestamp::now())).await;
            match signed {
                Ok(Ok((list, bytes))) => match state.publish(bytes) {
                    Ok(()) => eprintln!(
                        "trust list re-signed: sequence {}, expires {}",
                        list.sequence, list.expires_at
                    ),
                    Err(e) => eprintln!("trust list re-signed but not served: {e}"),
                },
                Ok(Err(e)) => eprintln!(
                    "re-signing the trust list failed: {e}; still serving sequence {}",
                    state.sequence()
                ),
                Err(e) => eprintln!("re-signing task failed: {e}"),
            }
        }
    })
}
