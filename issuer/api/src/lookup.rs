//! `POST /lookup`: the public portal for people without a smartphone app.
//!
//! A person gives their full name, date of birth, sex, ID number and the date of their latest
//! dose, and gets the certificate of that latest dose back only if every detail matches what
//! the certificate carries (the registry's identity stored with the record). No bearer token.
//!
//! - **One answer for every miss.** An unknown ID number, a number that does not parse, a
//!   wrong name (diacritics must match; case, spacing and Unicode form need not), a wrong
//!   birth date, sex or dose date, an unparseable date, a person without a certificate: all
//!   get the same `404 {"code":"NOT_FOUND","message":"no certificate matches these details"}`
//!   with the same headers. Each runs the same single database query (a number that does not
//!   parse is looked up under a key that matches nothing) and every field is compared before
//!   the verdict, so the work does not depend on which detail was wrong.
//! - **One answer time.** A hit does work a miss does not (the audit write below), and a
//!   number with a certificate costs more to compare than one without: the time of the answer
//!   would tell who has a certificate. So every answer of this route (found, miss, refused,
//!   malformed) goes out no sooner than [`LookupLimits::min_answer_time`] (default 100 ms) plus
//!   a uniformly random jitter of up to [`LookupLimits::answer_jitter`] (default 20 ms) after
//!   the request body was read; the work itself is done before that wait, so the floor must
//!   exceed the slowest answer (`serve --lookup-min-answer-ms`). Measured with
//!   `issuer/scripts/lookup_timing.py` (see issuer/README.md).
//! - **Throttled.** Every attempt counts against the client address and against the ID
//!   number ([`crate::ratelimit`]), before anything is looked up, whether it would match or
//!   not: `429 RATE_LIMITED` with `Retry-After` (seconds) says nothing about the person.
//! - A body that is not JSON of the right shape is `422 INVALID_REQUEST`, as elsewhere: it
//!   reveals nothing about anyone.
//! - Responses carry `Cache-Control: no-store`.
//! - **On record.** Every certificate handed out is audited (`certificate.lookup`, with its
//!   UVCI only: nothing of what was typed, nor who asked) and committed before the answer
//!   goes out; if it cannot be recorded, nothing is handed out. Misses are not recorded
//!   (they are counted in `/metrics`, and throttled).
//!
//! The client address comes from [`ConnectInfo<SocketAddr>`]: the server must be run with
//! `app(state).into_make_service_with_connect_info::<SocketAddr>()`. Without it (in-process
//! tests with `oneshot`) every request shares one client bucket ([`ClientKey::Unknown`]).
//! With [`crate::ratelimit::LookupLimits::trust_forwarded_for`] the last `X-Forwarded-For`
//! entry is used instead (only behind a proxy that appends it).

use std::net::{IpAddr, SocketAddr};

use super::metrics::LookupOutcome;
use super::records::CertificateResponse;
use super::{ApiError, AppState};
#[cfg(doc)]
use crate::ratelimit::LookupLimits;
use crate::ratelimit::{ClientKey, Limited};
use crate::workflow::{self, lookup::LookupAnswer};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/lookup", post(lookup))
}

/// The body of `POST /lookup` ([`workflow::lookup::LookupRequest`]).
pub use crate::workflow::lookup::LookupRequest;

/// The message of every miss.
pub const NO_MATCH_MESSAGE: &str = "no certificate matches these details";

/// The client's rate-limit key (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Client(pub ClientKey);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.lookup_limiter.limits().trust_forwarded_for {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|last| last.trim().parse::<IpAddr>().ok());
            if let Some(ip) = forwarded {
                return Ok(Client(ClientKey::of(ip)));
            }
        }
        Ok(Client(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(ClientKey::Unknown, |ConnectInfo(addr)| {
                    ClientKey::of(addr.ip())
                }),
        ))
    }
}

/// `Cache-Control: no-store` on a public answer.
pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The one answer to every miss (also of the correction portal, `crate::corrections`).
pub(crate) fn no_match() -> Response {
    no_store(
        (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "code": "NOT_FOUND", "message": NO_MATCH_MESSAGE })),
        )
            .into_response(),
    )
}

/// `429 RATE_LIMITED` with `Retry-After` and `message`.
pub(crate) fn rate_limited(limited: Limited, message: &'static str) -> Response {
    let mut response = no_store(
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(serde_json::json!({
                "code": "RATE_LIMITED",
                "message": message,
            })),
        )
            .into_response(),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(limited.retry_after_secs),
    );
    response
}

/// `POST /lookup` (see the module documentation): [`answer`], sent no sooner than the
/// minimum answer time (plus jitter) after the request was read, whatever the answer.
async fn lookup(
    State(state): State<AppState>,
    Client(client): Client,
    body: Result<Json<LookupRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let deadline = state
        .lookup_limiter
        .answer_deadline(tokio::time::Instant::now());
    let answer = answer(&state, client, body).await;
    tokio::time::sleep_until(deadline).await;
    answer
}

/// The answer to a lookup, as soon as it is known (the audit record of a hit committed).
async fn answer(
    state: &AppState,
    client: ClientKey,
    body: Result<Json<LookupRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    // Names the field and what it accepts, never a submitted value.
    let Json(req) = body.map_err(|e| {
        super::records::json_rejection(&e, "lookup request", super::records::LOOKUP_FIELDS)
    })?;
    match workflow::lookup::lookup(
        &state.storage,
        &state.lookup_limiter,
        client,
        &req,
        state.now(),
    )
    .await?
    {
        LookupAnswer::Found(certificate) => {
            state.metrics.lookup_attempt(LookupOutcome::Found);
            Ok(no_store(
                Json(CertificateResponse::of(*certificate)?).into_response(),
            ))
        }
        LookupAnswer::NoMatch => {
            state.metrics.lookup_attempt(LookupOutcome::NotFound);
            Ok(no_match())
        }
        LookupAnswer::Limited(limited) => {
            state.metrics.lookup_attempt(LookupOutcome::RateLimited);
            Ok(rate_limited(limited, "too many lookups: try again later"))
        }
    }
}
