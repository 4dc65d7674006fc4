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
//! - `POST /api/v1/admin/clinics`, `POST /api/v1/admin/clinics/{id}/tokens`: clinics and
//!   their tokens, admin tokens only ([`admin`]).
//! - `GET /api/v1/certificates/{uvci}`: a stored certificate ([`certificates`]); its QR code
//!   at `.../qr.png` and `.../qr.svg` (`?ecc=L|M|Q|H&scale=1..16`).
//! - `GET /metrics`: Prometheus metrics, no token ([`metrics`]; firewall it).
//! - `GET /openapi.json`: the OpenAPI 3.1 description of this API ([`OPENAPI_JSON`]).
//!
//! Every other `/api/v1` route needs `Authorization: Bearer <staff token>` (401
//! `UNAUTHENTICATED`).
//! Nothing personal is logged: only 5xx errors are, with their code and a text free of
//! personal data.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use vaxpass_keys::Signer;
use vaxpass_verifier::{Timestamp, TrustStore};

use crate::storage::{RecordStatus, Staff, Storage, StorageError};

pub mod admin;
pub mod bulk;
pub mod certificates;
pub mod issue;
pub mod lookup;
pub mod metrics;
pub mod records;

/// Unix seconds "now"; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Issuing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The DCC `is` field (certificate issuer), e.g. `Ministry of Health of Viet Nam`.
    pub issuer_text: String,
    /// The DCC `co` field and CWT `iss` claim (ISO 3166 alpha-2): `VN`.
    pub country: String,
    /// Certificate validity in days (the CWT `exp` is never beyond the DSC's notAfter).
    pub validity_days: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            issuer_text: "Ministry of Health of Viet Nam".to_owned(),
            country: "VN".to_owned(),
            validity_days: 365,
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
    /// A state with the system clock.
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
        Ok(AppState {
            storage: storage.clone(),
            signer,
            self_check: Arc::new(store),
            dsc_not_after,
            config: Arc::new(config),
            clock: Arc::new(|| Timestamp::now().unix_seconds()),
            lookup_limiter: crate::ratelimit::LookupLimiter::default(),
            registry: Arc::new(crate::registry::RegistrySource::Local(storage)),
            metrics: Arc::new(metrics::Metrics::new()),
        })
    }

    /// Replaces the clock (Unix seconds).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> AppState {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces the lookup portal's rate limits (default: [`crate::ratelimit::LookupLimits::default`]).
    #[must_use]
    pub fn with_lookup_limits(mut self, limits: crate::ratelimit::LookupLimits) -> AppState {
        self.lookup_limiter = crate::ratelimit::LookupLimiter::new(limits);
        self
    }

    /// Replaces the population registry (e.g. the remote registry service).
    #[must_use]
    pub fn with_registry(mut self, registry: crate::registry::RegistrySource) -> AppState {
        self.registry = Arc::new(registry);
        self
    }

    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// The service's router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi))
        .nest(
            "/api/v1",
            Router::new()
                .merge(records::router())
                .merge(certificates::router())
                .merge(lookup::router())
                .merge(bulk::router())
                .merge(admin::router()),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// The OpenAPI 3.1 description of this API, served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

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
    /// No, or an unknown or revoked, bearer token.
    #[error("a valid bearer token is required")]
    Unauthenticated,
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
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotVerified { status, .. } => ApiError::NotVerified(status),
            StorageError::NotFound { what, .. } => ApiError::NotFound(what),
            StorageError::IdempotencyConflict { .. } => ApiError::IdempotencyConflict,
            StorageError::Issue(inner) => ApiError::Issue(inner.to_string()),
            other => ApiError::Storage(other),
        }
    }
}

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest(_)
            | ApiError::UnknownCode { .. }
            | ApiError::FieldTooLong { .. }
            | ApiError::Implausible(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotVerified(_) | ApiError::IdempotencyConflict => StatusCode::CONFLICT,
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Issue(_) | ApiError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::InvalidRequest(_) => "INVALID_REQUEST",
            ApiError::UnknownCode { .. } => "UNKNOWN_VACCINE_CODE",
            ApiError::FieldTooLong { .. } => "FIELD_TOO_LONG",
            ApiError::Implausible(_) => "IMPLAUSIBLE_VACCINATION",
            ApiError::NotVerified(_) => "NOT_VERIFIED",
            ApiError::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ApiError::NotReady(_) => "NOT_READY",
            ApiError::Issue(_) => "ISSUE_FAILED",
            ApiError::Storage(_) => "INTERNAL",
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
                _ => "internal error; the request was not completed".to_owned(),
            }
        } else {
            self.to_string()
        };
        let body = serde_json::json!({ "code": self.code(), "message": message });
        (status, Json(body)).into_response()
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
            None => Err(ApiError::Unauthenticated),
        }
    }
}
