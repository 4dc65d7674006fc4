//! The acceptance rules the issuer publishes for verifiers: Viet Nam's rule set
//! (`vaxpass_schemas::VN_RULES`), signed by the trust-list signer in the verifier's format
//! ([`vaxpass_verifier::rules::signed`]), so that a verifier that keeps it offline (the
//! browser verifier at `/verify/`) can check later where its copy came from.
//!
//! - `GET /rules`: the signed set (`application/cose`), `ETag` (its sequence).
//! - `GET /rules.json`: the same rules as a plain JSON array (the EU gateway's form), for
//!   clients that fetch rules over TLS only.
//!
//! The sequence is the signing time in Unix seconds: it grows across restarts without any
//! state, as long as the clock does. The set is signed again once a day, so that its age tells
//! a verifier how long ago it last heard from the issuer.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vaxpass_keys::Signer;
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::rules::signed::{self, RuleSetHeader};

/// A signed set older than this is signed again, seconds.
pub const RESIGN_AFTER: i64 = 86_400;

/// Signs and caches the rule set.
pub struct RulesPublisher {
    signer: Arc<dyn Signer>,
    country: String,
    rules_json: String,
    current: Mutex<Option<(i64, Arc<Vec<u8>>)>>,
}

impl std::fmt::Debug for RulesPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesPublisher")
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}

impl RulesPublisher {
    /// The publisher of the rules for arrival in `country`, signed by `signer` (the trust-list
    /// signer); `None` for a country whose rules this build does not hold (only `VN`).
    pub fn new(country: &str, signer: Arc<dyn Signer>) -> Option<RulesPublisher> {
        (country == "VN").then(|| RulesPublisher {
            signer,
            country: country.to_owned(),
            rules_json: vaxpass_schemas::vn_rules_json(),
            current: Mutex::new(None),
        })
    }

    /// The signed set to serve at `now` (Unix seconds): the one kept, or a new one when none
    /// is or it is older than [`RESIGN_AFTER`]. Returns its sequence and bytes.
    ///
    /// # Errors
    /// Signing failed (the reason).
    pub fn current(&self, now: i64) -> Result<(i64, Arc<Vec<u8>>), String> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, bytes)) = current.as_ref() {
            if now < at.saturating_add(RESIGN_AFTER) {
                return Ok((*at, bytes.clone()));
            }
        }
        let header = RuleSetHeader {
            country: self.country.clone(),
            sequence: u64::try_from(now).unwrap_or(0),
            issued_at: Timestamp::from_unix_seconds(now),
            signer_certificate_der: self.signer.certificate_der().to_vec(),
        };
        let bytes = signed::sign(
            &header,
            &self.rules_json,
            self.signer.algorithm(),
            &self.signer.kid(),
            |tbs| self.signer.sign(tbs),
        )
        .map_err(|e| e.to_string())?;
        let bytes = Arc::new(bytes);
        tracing::info!(sequence = now, "rule set signed");
        *current = Some((now, bytes.clone()));
        Ok((now, bytes))
    }
}

/// `GET /rules` and `GET /rules.json`.
pub fn router(publisher: Arc<RulesPublisher>) -> Router {
    Router::new()
        .route("/rules", get(signed_set))
        .route("/rules.json", get(plain))
        .with_state(publisher)
}

async fn signed_set(State(publisher): State<Arc<RulesPublisher>>) -> Response {
    match publisher.current(Timestamp::now().unix_seconds()) {
        Ok((sequence, bytes)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/cose"),
                ),
                (
                    header::ETAG,
                    HeaderValue::from_str(&format!("\"{sequence}\""))
                        .unwrap_or(HeaderValue::from_static("\"\"")),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            bytes.as_ref().clone(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the rule set cannot be signed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the rule set cannot be signed right now; retry shortly",
            )
                .into_response()
        }
    }
}

async fn plain(State(publisher): State<Arc<RulesPublisher>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        publisher.rules_json.clone(),
    )
        .into_response()
}
