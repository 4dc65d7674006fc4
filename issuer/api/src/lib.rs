//! # vaxpass-issuer-api
//!
//! The issuer's HTTP service: `app(state) -> Router`.
//!
//! Routes (JSON; errors are `{"code": "...", "message": "..."}` with a stable `code`):
//! - `GET /healthz`: 200 while the process runs.
//! - `GET /readyz`: 200 when the database answers, else 503 `NOT_READY`.
//! - `POST /api/v1/dose-records`: submit a dose record ([`records`]).
//! - `POST /api/v1/dose-records/{id}/confirm`: confirm a verified record and issue its
//!   certificate ([`records`], [`issue`]).
//! - `GET /api/v1/certificates/{uvci}`: a stored certificate ([`certificates`]).
//! - `POST /api/v1/dose-records:bulk`: many dose records, NDJSON or CSV ([`bulk`]).
//! - `POST /api/v1/lookup`: the public portal: a person's latest certificate by their details,
//!   rate limited, no token ([`lookup`]).
//! - `POST /api/v1/corrections` (public, throttled like the lookup), `GET
//!   /api/v1/corrections/{reference}` (public, with `X-Status-Token`), and for clinics `GET
//!   /api/v1/corrections`, `.../{reference}/photo`, `.../{reference}/approve|reject|escalate`,
//!   `POST /api/v1/certificates/{uvci}/revoke`: corrections and revocation ([`corrections`]).
//! - `POST /api/v1/admin/clinics`, `POST|GET /api/v1/admin/clinics/{id}/tokens`,
//!   `POST /api/v1/admin/tokens/{id}/revoke`, `POST /api/v1/admin/tokens/{id}/rotate`:
//!   clinics and their tokens (expiry, rotation, revocation), admin tokens only ([`admin`]).
//! - `GET /api/v1/certificates/{uvci}`: a stored certificate ([`certificates`]); its QR code
//!   at `.../qr.png` and `.../qr.svg` (`?ecc=L|M|Q|H&scale=1..16`).
//! - `GET /metrics`: Prometheus metrics, admin token only ([`metrics`]); `serve
//!   --metrics-listen ADDR` serves them without a token on a separate address.
//! - `GET /openapi.json`: the OpenAPI 3.1 description of this API ([`OPENAPI_JSON`]).
//!
//! Every other `/api/v1` route needs `Authorization: Bearer <staff token>` (401
//! `UNAUTHENTICATED` with `WWW-Authenticate: Bearer`, RFC 6750; `error="invalid_token"` when a
//! token was given but is unknown, expired or revoked). Submissions are rate limited per
//! token (429 `RATE_LIMITED` with `Retry-After`, [`limits`]). Another clinic's record or
//! certificate is 404, the same answer as a missing one.
//!
//! Every answer carries `X-Content-Type-Options: nosniff`, every `/api/v1` answer
//! `Cache-Control: no-store`; every `/api/v1` error is `{"code", "message"}` JSON, including
//! unknown routes (404), wrong methods (405) and malformed paths (400).
//! Nothing personal is logged: only 5xx errors are, with their code and a text free of
//! personal data.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use vaxpass_keys::Signer;
use vaxpass_verifier::{Timestamp, TrustStore};

use crate::storage::{RecordStatus, Staff, Storage, StorageError};

// The stages below, under the names the issuer has always used for them.
use vaxpass_issuer_domain::{identity, plausibility};
use vaxpass_issuer_issuance::qr;
use vaxpass_issuer_registry as registry;
use vaxpass_issuer_registry::csv as registry_csv;
use vaxpass_issuer_store as storage;
use vaxpass_issuer_workflow as workflow;
use vaxpass_issuer_workflow::ratelimit;

pub mod admin;
pub mod bulk;
pub mod certificates;
pub mod corrections;
pub mod issue;
pub mod limits;
pub mod lookup;
pub mod metrics;
pub mod records;

/// Unix seconds "now": the service's one clock, shared with the storage.
pub use vaxpass_issuer_domain::clock::Clock;

/// Default lifetime of tokens created through the admin API: 90 days.
pub const DEFAULT_TOKEN_LIFETIME_DAYS: u32 = 90;

/// Issuing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The DCC `is` field (certificate issuer), e.g. `Ministry of Health of Viet Nam`.
    pub issuer_text: String,
    /// The DCC `co` field and CWT `iss` claim (ISO 3166 alpha-2): `VN`.
    pub country: String,
    /// Certificate validity in days (the CWT `exp` is never beyond the DSC's notAfter).
    pub validity_days: i64,
    /// Lifetime of tokens created or rotated through the admin API, in days (default 90);
    /// 0: no expiry. A request may ask for a shorter one (`expires_in_days`).
    pub token_lifetime_days: u32,
    /// Per-token submission limits ([`limits`]).
    pub submit_limits: limits::SubmitLimits,
    /// The limit of corrections per record ([`corrections`]).
    pub corrections: crate::workflow::corrections::CorrectionPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer_text: "Ministry of Health of Viet Nam".to_owned(),
            country: "VN".to_owned(),
            validity_days: 365,
            token_lifetime_days: DEFAULT_TOKEN_LIFETIME_DAYS,
            submit_limits: limits::SubmitLimits::default(),
            corrections: crate::workflow::corrections::CorrectionPolicy::default(),
        }
    }
}

/// The one state every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database (records, certificates, registry, tokens).
    pub storage: Storage,
    /// The current DSC's signer.
    pub signer: Arc<dyn Signer>,
    /// A trust store holding exactly the signer's certificate: every certificate is verified
    /// with it before it is stored or returned.
    pub self_check: Arc<TrustStore>,
    /// The signer certificate's notAfter.
    pub dsc_not_after: Timestamp,
    /// Issuing settings.
    pub config: Arc<Config>,
    /// The clock.
    pub clock: Clock,
    /// The lookup portal's rate limits ([`lookup`]).
    pub lookup_limiter: crate::ratelimit::LookupLimiter,
    /// The population registry records are matched against (default: the local table).
    pub registry: Arc<crate::registry::RegistrySource>,
    /// Request and issuing counters, served at `GET /metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Per-token submission limits ([`limits`]): `check(token_id, n, now)` before storing
    /// `n` records.
    pub submit_limiter: limits::SubmitLimiter,
    /// The rate limits' buckets in the database, when every limiter shares them with the
    /// other processes on it ([`AppState::with_shared_limits`]); `None`: in this process.
    pub shared_limits: Option<vaxpass_issuer_store::ratelimit::SharedBuckets>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("storage", &self.storage)
            .field("signer", &self.signer)
            .field("config", &self.config)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state reading the storage's clock (the system clock unless the storage was given
    /// another one).
    ///
    /// # Errors
    /// The signer's certificate cannot be parsed as a DSC.
    pub fn new(
        storage: Storage,
        signer: Arc<dyn Signer>,
        config: Config,
    ) -> Result<AppState, vaxpass_verifier::trust::CertificateError> {
        let trusted = vaxpass_verifier::TrustedSigner::from_der(signer.certificate_der())?;
        let dsc_not_after = trusted.not_after();
        let mut store = TrustStore::new();
        store.add(trusted);
        let submit_limiter = limits::SubmitLimiter::new(config.submit_limits);
        Ok(AppState {
            storage: storage.clone(),
            signer,
            self_check: Arc::new(store),
            dsc_not_after,
            config: Arc::new(config),
            clock: storage.clock(),
            lookup_limiter: crate::ratelimit::LookupLimiter::default(),
            submit_limiter,
            registry: Arc::new(crate::registry::RegistrySource::Local(storage)),
            metrics: Arc::new(metrics::Metrics::new()),
            shared_limits: None,
        })
    }

    /// Replaces the clock (Unix seconds) of the service: this state's, its storage's and the
    /// local registry's, so that every timestamp comes from one clock.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> AppState {
        let clock = Clock::from_fn(clock);
        self.storage = self.storage.with_service_clock(clock.clone());
        if let crate::registry::RegistrySource::Local(local) = &*self.registry {
            let local = local.clone().with_service_clock(clock.clone());
            self.registry = Arc::new(crate::registry::RegistrySource::Local(local));
        }
        self.clock = clock;
        self
    }

    /// Replaces the lookup portal's rate limits (default: [`crate::ratelimit::LookupLimits::default`]).
    #[must_use]
    pub fn with_lookup_limits(mut self, limits: crate::ratelimit::LookupLimits) -> AppState {
        self.lookup_limiter = crate::ratelimit::LookupLimiter::new(limits);
        if let Some(shared) = &self.shared_limits {
            self.lookup_limiter = self.lookup_limiter.with_shared(shared);
        }
        self
    }

    /// Replaces the per-token submission limits (default: [`Config::submit_limits`]).
    #[must_use]
    pub fn with_submit_limits(mut self, limits: limits::SubmitLimits) -> AppState {
        self.submit_limiter = limits::SubmitLimiter::new(limits);
        if let Some(shared) = &self.shared_limits {
            self.submit_limiter = self.submit_limiter.shared(shared.clone());
        }
        self
    }

    /// Keeps every rate limit (lookup, corrections, submissions, the web console's sign-in)
    /// in the database's shared buckets, so that the replicas on one PostgreSQL database
    /// limit together as one process would ([`vaxpass_issuer_store::ratelimit`]). Call it
    /// after the limits are set ([`AppState::with_lookup_limits`]).
    #[must_use]
    pub fn with_shared_limits(
        mut self,
        shared: vaxpass_issuer_store::ratelimit::SharedBuckets,
    ) -> AppState {
        self.lookup_limiter = self.lookup_limiter.with_shared(&shared);
        self.submit_limiter = self.submit_limiter.shared(shared.clone());
        self.shared_limits = Some(shared);
        self
    }

    /// Replaces the population registry (e.g. the remote registry service).
    #[must_use]
    pub fn with_registry(mut self, registry: crate::registry::RegistrySource) -> AppState {
        self.registry = Arc::new(registry);
        self
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// The service's router.
///
/// Every answer carries `X-Content-Type-Options: nosniff`; every answer under `/api/v1` (and
/// `/metrics`) also `Cache-Control: no-store`, errors and QR images included. Nothing under
/// `/api/v1` answers anything but this API's JSON error on failure: framework rejections
/// (path, query, body), unknown routes (404 `NOT_FOUND`) and wrong methods (405
/// `METHOD_NOT_ALLOWED`, with `Allow`) are rewritten by [`json_errors`].
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(metrics::metrics_admin).layer(axum::middleware::map_response(no_store)),
        )
        .route("/openapi.json", get(openapi))
        .nest(
            "/api/v1",
            Router::new()
                .merge(records::router())
                .merge(certificates::router())
                .merge(lookup::router())
                .merge(corrections::router())
                .merge(bulk::router())
                .merge(admin::router())
                .fallback(api_not_found)
                .layer(axum::middleware::from_fn(json_errors))
                .layer(axum::middleware::map_response(no_store)),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::map_response(nosniff))
        .with_state(state)
}

/// `Cache-Control: no-store` unless the handler set a policy that already says `no-store`.
async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let has_no_store = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store"));
    if !has_no_store {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `X-Content-Type-Options: nosniff` on every answer.
async fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The fallback of `/api/v1`: JSON 404.
async fn api_not_found() -> ApiError {
    ApiError::NotFound("route")
}

/// Rewrites every error answer under `/api/v1` that is not this API's JSON (axum's
/// `text/plain` rejections of a path, query or body; its empty 405) into the API's JSON error
/// for that status. The framework's text is dropped: it may quote the request.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (code, message) = framework_error(status);
    if status.is_server_error() {
        tracing::error!(
            code,
            status = status.as_u16(),
            "request failed in the framework"
        );
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The code and text of a framework error answer, by status.
fn framework_error(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => (
            "INVALID_REQUEST",
            "the request is malformed: path segments and the query must be valid UTF-8 and percent-encoding",
        ),
        StatusCode::NOT_FOUND => ("NOT_FOUND", "route not found"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            "this method is not allowed on this route; the Allow header lists the methods that are",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("BODY_TOO_LARGE", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "UNSUPPORTED_MEDIA_TYPE",
            "the Content-Type is not accepted by this route (JSON: application/json)",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => (
            "INVALID_REQUEST",
            "the request body does not have the fields and types this route accepts",
        ),
        s if s.is_server_error() => ("INTERNAL", "internal error; the request was not completed"),
        _ => ("INVALID_REQUEST", "the request was refused"),
    }
}

/// The OpenAPI 3.1 description of this API, served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .storage
        .ping()
        .await
        .map_err(|e| ApiError::NotReady(e.to_string()))?;
    Ok(Json(serde_json::json!({ "status": "ready" })))
}

/// Every error a handler returns; [`IntoResponse`] maps it to a status and a stable code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No bearer token (`WWW-Authenticate: Bearer realm="vaxpass"`).
    #[error("a valid bearer token is required")]
    Unauthenticated,
    /// A bearer token was given but is unknown, expired or revoked (`WWW-Authenticate` with
    /// `error="invalid_token"`, RFC 6750 §3.1).
    #[error("the bearer token is unknown, expired or revoked")]
    InvalidToken,
    /// Too many submissions from this token ([`limits`]); `Retry-After` says when to retry.
    #[error(
        "too many dose records submitted with this token; retry after {retry_after_secs} s (one request holds at most {burst} records)"
    )]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
        /// The most records one request may hold.
        burst: u64,
    },
    /// The token is revoked or expired and cannot be rotated.
    #[error("the token is revoked or expired and cannot be rotated; create a new token")]
    TokenRevoked,
    /// The token's clinic may not act on this resource.
    #[error("this token may not act on this resource")]
    Forbidden,
    /// No such resource.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is malformed (the message never quotes submitted values).
    #[error("{0}")]
    InvalidRequest(String),
    /// A vaccine code is not in its value set.
    #[error("{field} is not a code of the value set {set}")]
    UnknownCode {
        /// The request field (`vaccine.mp`, …).
        field: &'static str,
        /// The value set id.
        set: &'static str,
    },
    // Validation of dose records (issue 12: lengths, plausibility).
    /// A field is longer than its limit (the value is not quoted).
    #[error("{field} is too long: {limit}")]
    FieldTooLong {
        /// The request field (`full_name`, `id_number`).
        field: &'static str,
        /// What is accepted.
        limit: &'static str,
    },
    /// The dose is not clinically plausible ([`crate::plausibility`]).
    #[error("{0}")]
    Implausible(crate::plausibility::Implausible),
    /// The record is not verified against the registry.
    #[error(
        "the dose record's status is '{0}': only a record verified against the population registry can be confirmed"
    )]
    NotVerified(RecordStatus),
    /// The idempotency key was used for a different record.
    #[error("the Idempotency-Key was already used by this clinic for a different record")]
    IdempotencyConflict,
    /// The database does not answer.
    #[error("not ready: {0}")]
    NotReady(String),
    /// Building, signing or self-verifying a certificate failed.
    #[error("issuing failed: {0}")]
    Issue(String),
    /// The database failed.
    #[error("storage failed: {0}")]
    Storage(StorageError),
    /// The database is busy or cannot be reached for a moment (`Retry-After: 1`).
    #[error("the database is busy or unreachable: {0}")]
    Unavailable(StorageError),
    /// A refusal with its own status and code (corrections and revocation: a report closed
    /// meanwhile, the registry not confirming a correction, a photo refused). The message
    /// quotes no submitted value.
    #[error("{message}")]
    Refused {
        /// The status code.
        status: StatusCode,
        /// The stable code.
        code: &'static str,
        /// The text.
        message: String,
    },
    /// A defect inside the service (a stored value that does not read back, the embedded
    /// value sets that do not load): what failed, for the log.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<crate::workflow::SubmissionError> for ApiError {
    fn from(e: crate::workflow::SubmissionError) -> Self {
        use crate::workflow::SubmissionError as E;
        match e {
            E::Invalid(message) => ApiError::InvalidRequest(message.to_owned()),
            E::FieldTooLong { field, limit } => ApiError::FieldTooLong { field, limit },
            E::UnknownCode { field, set } => ApiError::UnknownCode { field, set },
            E::Implausible(i) => ApiError::Implausible(i),
            E::ValueSets(_) => ApiError::Internal("the embedded vaccine value sets do not load"),
            // A refusal added later: its text quotes no submitted value.
            other => ApiError::InvalidRequest(other.to_string()),
        }
    }
}

impl From<crate::workflow::WorkflowError> for ApiError {
    fn from(e: crate::workflow::WorkflowError) -> Self {
        use crate::workflow::WorkflowError as E;
        match e {
            E::Submission(e) => e.into(),
            E::RecordMissing => ApiError::NotFound("dose record"),
            E::Implausible(i) => ApiError::Implausible(i),
            E::Storage(e) => e.into(),
            e @ (E::Correction(_)
            | E::CorrectionMissing
            | E::NeedsAdmin
            | E::NotConfirmed(_)
            | E::RegistryUnavailable(_)
            | E::CertificateMissing) => corrections::api_error(e),
            _ => ApiError::Internal("a use case failed in a way this API version does not know"),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotVerified { status, .. } => ApiError::NotVerified(status),
            StorageError::NotFound { what, .. } => ApiError::NotFound(what),
            StorageError::IdempotencyConflict { .. } => ApiError::IdempotencyConflict,
            StorageError::TokenRevoked(_) => ApiError::TokenRevoked,
            e @ (StorageError::Busy(_) | StorageError::Unavailable(_)) => ApiError::Unavailable(e),
            StorageError::Issue(inner) => ApiError::Issue(inner.to_string()),
            e @ (StorageError::CorrectionClosed { .. }
            | StorageError::CertificateChanged { .. }) => ApiError::Refused {
                status: StatusCode::CONFLICT,
                code: "CHANGED",
                message: e.to_string(),
            },
            other => ApiError::Storage(other),
        }
    }
}

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TokenRevoked => StatusCode::CONFLICT,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest(_)
            | ApiError::UnknownCode { .. }
            | ApiError::FieldTooLong { .. }
            | ApiError::Implausible(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotVerified(_) | ApiError::IdempotencyConflict => StatusCode::CONFLICT,
            ApiError::NotReady(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Issue(_) | ApiError::Storage(_) | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Refused { status, .. } => *status,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated | ApiError::InvalidToken => "UNAUTHENTICATED",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::TokenRevoked => "TOKEN_REVOKED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::InvalidRequest(_) => "INVALID_REQUEST",
            ApiError::UnknownCode { .. } => "UNKNOWN_VACCINE_CODE",
            ApiError::FieldTooLong { .. } => "FIELD_TOO_LONG",
            ApiError::Implausible(_) => "IMPLAUSIBLE_VACCINATION",
            ApiError::NotVerified(_) => "NOT_VERIFIED",
            ApiError::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ApiError::NotReady(_) => "NOT_READY",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::Issue(_) => "ISSUE_FAILED",
            ApiError::Storage(_) | ApiError::Internal(_) => "INTERNAL",
            ApiError::Refused { code, .. } => code,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            // The texts of storage and issuing errors carry no personal data, but they are
            // internals: logged, never sent.
            tracing::error!(code = self.code(), error = %self, "request failed");
            match self {
                ApiError::NotReady(_) => "the service is not ready".to_owned(),
                ApiError::Unavailable(_) => {
                    "the database is busy or unreachable for a moment; retry shortly".to_owned()
                }
                _ => "internal error; the request was not completed".to_owned(),
            }
        } else {
            self.to_string()
        };
        let body = serde_json::json!({ "code": self.code(), "message": message });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthenticated => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"vaxpass\""),
                );
            }
            ApiError::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"vaxpass\", error=\"invalid_token\", error_description=\"the token is unknown, expired or revoked\"",
                    ),
                );
            }
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1u32));
            }
            _ => {}
        }
        response
    }
}

/// An authenticated staff member: `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Copy)]
pub struct Auth(pub Staff);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthenticated)?;
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        match state.storage.authenticate(token).await? {
            Some(staff) => Ok(Auth(staff)),
            None => Err(ApiError::InvalidToken),
        }
    }
}
