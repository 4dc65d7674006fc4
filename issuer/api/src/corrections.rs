//! Corrections and revocation (issue 14), over [`crate::workflow::corrections`]:
//!
//! - `POST /corrections` (public, no token): a citizen's report. Throttled with the lookup
//!   portal's limits and answered no sooner than its minimum answer time, like
//!   `POST /lookup`; every miss (no certificate matches the holder's details) is the same
//!   `404 NOT_FOUND`. The body is at most [`MAX_BODY_BYTES`]; a photo is at most 2 MiB of
//!   JPEG, PNG or WebP (by its magic bytes): `413 PHOTO_TOO_LARGE`, `415 PHOTO_TYPE`.
//!   `201 {reference, status_token, status}`.
//! - `GET /corrections/{reference}` (public) with the token in the `X-Status-Token` header
//!   (never in the URL): `{reference, kind, status, reason, new_uvci, …}`; an unknown
//!   reference and a wrong token are the same `404`.
//! - `GET /corrections` (clinic token): the clinic's pending reports, each with the record,
//!   the registry's answer for the corrected identity and the proposed values
//!   (`?after=ID&limit=N`); an admin also sees every clinic's escalated ones.
//!   `GET /corrections/{reference}/photo`: the photo, to the reviewing clinic only.
//! - `POST /corrections/{reference}/approve`: amend, re-match, re-issue in one transaction;
//!   the new certificate (`replaces` the old). `409 REGISTRY_NOT_CONFIRMED` when the registry
//!   does not confirm the corrected identity (nothing changed).
//! - `POST /corrections/{reference}/reject`, `.../escalate` with `{"reason": "..."}`.
//! - `POST /certificates/{uvci}/revoke` with `{"reason": "error" | "fraud"}`: by the issuing
//!   clinic or an admin.
//!
//! Another clinic's report or certificate is `404`, as a missing one. Nothing the citizen sent
//! is logged.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::lookup::{Client, no_match, no_store, rate_limited};
use super::records::CertificateResponse;
use super::{ApiError, AppState, Auth, issue};
use crate::storage::corrections::Correction;
use crate::storage::revocations::RevocationReason;
use crate::workflow::WorkflowError;
use crate::workflow::corrections::{
    self as flow, Approved, Closing, CorrectionError, CorrectionRequest, ReportAnswer, Review,
};

/// The largest body of `POST /corrections`: a 2 MiB photo in Base64 and the rest.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The header that carries a report's status token.
pub const STATUS_TOKEN_HEADER: &str = "x-status-token";

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/corrections",
            post(report)
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .get(list),
        )
        .route("/corrections/{reference}", get(status))
        .route("/corrections/{reference}/photo", get(photo))
        .route("/corrections/{reference}/approve", post(approve))
        .route("/corrections/{reference}/reject", post(reject))
        .route("/corrections/{reference}/escalate", post(escalate))
        .route("/certificates/{uvci}/revoke", post(revoke))
}

/// The API error of a correction use case's refusal.
pub(crate) fn api_error(e: WorkflowError) -> ApiError {
    let refused = |status, code, message: String| ApiError::Refused {
        status,
        code,
        message,
    };
    match e {
        WorkflowError::Correction(CorrectionError::Invalid(m)) => {
            ApiError::InvalidRequest(m.to_owned())
        }
        WorkflowError::Correction(e @ CorrectionError::PhotoTooLarge { .. }) => refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PHOTO_TOO_LARGE",
            e.to_string(),
        ),
        WorkflowError::Correction(e @ CorrectionError::PhotoType) => refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PHOTO_TYPE",
            e.to_string(),
        ),
        WorkflowError::CorrectionMissing => ApiError::NotFound("correction report"),
        WorkflowError::CertificateMissing => ApiError::NotFound("certificate"),
        WorkflowError::NeedsAdmin => ApiError::Forbidden,
        e @ WorkflowError::NotConfirmed(_) => refused(
            StatusCode::CONFLICT,
            "REGISTRY_NOT_CONFIRMED",
            e.to_string(),
        ),
        e @ WorkflowError::RegistryUnavailable(_) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "REGISTRY_UNAVAILABLE",
            e.to_string(),
        ),
        WorkflowError::Storage(e @ crate::storage::StorageError::Changed { .. }) => {
            refused(StatusCode::CONFLICT, "CHANGED", e.to_string())
        }
        other => other.into(),
    }
}

/// The fields of a report, for messages about a body that does not deserialise.
const REPORT_FIELDS: &str = "kind, holder {uvci, date_of_birth} or {full_name, date_of_birth, sex, id_number, last_dose_date}, proposed {…}, note, email, photo {base64}";

/// `POST /corrections`.
async fn report(
    State(state): State<AppState>,
    Client(client): Client,
    body: Result<Json<CorrectionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let deadline = state
        .lookup_limiter
        .answer_deadline(tokio::time::Instant::now());
    let answer = report_answer(&state, client, body).await;
    tokio::time::sleep_until(deadline).await;
    answer
}

async fn report_answer(
    state: &AppState,
    client: crate::ratelimit::ClientKey,
    body: Result<Json<CorrectionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::Refused {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "BODY_TOO_LARGE",
                message: format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            };
        }
        super::records::json_rejection(&e, "correction report", REPORT_FIELDS)
    })?;
    let answer = flow::report(
        &state.storage,
        &state.lookup_limiter,
        state.config.corrections,
        client,
        &req,
        state.now(),
    )
    .await
    .map_err(api_error)?;
    Ok(match answer {
        ReportAnswer::Filed(filed) => no_store(
            (
                StatusCode::CREATED,
                Json(serde_json::json!({
                    "reference": filed.reference,
                    "status_token": filed.token,
                    "status": filed.status.as_str(),
                })),
            )
                .into_response(),
        ),
        ReportAnswer::NoMatch => no_match(),
        ReportAnswer::Limited(limited) => {
            rate_limited(limited, "too many reports: try again later")
        }
    })
}

/// A report as its citizen sees it.
#[derive(Debug, Serialize)]
pub struct StatusResponse {
    /// The reference.
    pub reference: String,
    /// What is wrong.
    pub kind: &'static str,
    /// `open`, `approved`, `rejected`, `escalated`.
    pub status: &'static str,
    /// The reviewer's reason (rejected, escalated).
    pub reason: Option<String>,
    /// The corrected certificate (approved).
    pub new_uvci: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl StatusResponse {
    fn of(c: Correction) -> StatusResponse {
        StatusResponse {
            reference: c.reference,
            kind: c.kind.as_str(),
            status: c.status.as_str(),
            reason: c.reason,
            new_uvci: c.new_uvci,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `GET /corrections/{reference}` with `X-Status-Token`.
async fn status(
    State(state): State<AppState>,
    reference: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = headers
        .get(STATUS_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Ok(Path(reference)) = reference else {
        return Ok(no_match());
    };
    if token.is_empty() || reference.len() > 64 {
        return Ok(no_match());
    }
    match flow::status(&state.storage, &reference, token).await? {
        Some(c) => Ok(no_store(Json(StatusResponse::of(c)).into_response())),
        None => Ok(no_match()),
    }
}

/// `?after=ID&limit=N` of the clinic's list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

/// A report as its clinic reviews it.
#[derive(Debug, Serialize)]
pub struct ReviewResponse {
    /// The report's id (the `after` of the next page).
    pub id: i64,
    /// The reference.
    pub reference: String,
    /// What is wrong.
    pub kind: &'static str,
    /// `open` or `escalated`.
    pub status: &'static str,
    /// The certificate named.
    pub uvci: Option<String>,
    /// The dose record.
    pub dose_record_id: Option<i64>,
    /// The proposed values.
    pub proposed: serde_json::Value,
    /// The citizen's note.
    pub note: String,
    /// The photo's media type (fetch it at `.../photo`).
    pub photo_type: Option<String>,
    /// The record as it stands: identity and dose.
    pub record: Option<serde_json::Value>,
    /// The record as approval would make it.
    pub amended: Option<serde_json::Value>,
    /// The registry's answer for the amended identity (codes and messages).
    pub registry: Option<serde_json::Value>,
    /// Whether the registry confirms it (approval re-issues).
    pub registry_verified: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl ReviewResponse {
    fn of(r: Review) -> Result<ReviewResponse, ApiError> {
        let c = r.correction;
        let json = |v: Result<serde_json::Value, serde_json::Error>| {
            v.map_err(|_| ApiError::Internal("a correction review does not serialise"))
        };
        Ok(ReviewResponse {
            id: c.id,
            reference: c.reference,
            kind: c.kind.as_str(),
            status: c.status.as_str(),
            uvci: c.uvci,
            dose_record_id: c.dose_record_id,
            proposed: serde_json::from_str(&c.proposed)
                .map_err(|_| ApiError::Internal("stored proposed values"))?,
            note: c.note,
            photo_type: c.photo_type,
            record: r
                .record
                .map(|d| {
                    json(Ok(serde_json::json!({
                        "identity": d.identity,
                        "vaccination": d.vaccination,
                        "status": d.status.as_str(),
                    })))
                })
                .transpose()?,
            amended: r
                .amended
                .map(|a| json(serde_json::to_value(&a)))
                .transpose()?,
            registry: r
                .registry
                .map(|m| json(serde_json::to_value(&m)))
                .transpose()?,
            registry_verified: r.registry_verified,
            created_at: c.created_at,
        })
    }
}

/// `GET /corrections`: the clinic's pending reports.
async fn list(
    State(state): State<AppState>,
    Auth(staff): Auth,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<ReviewResponse>>, ApiError> {
    let bad_query =
        || ApiError::InvalidRequest("the query accepts after (an id) and limit (1 to 200)".into());
    let Query(q) = query.map_err(|_| bad_query())?;
    // Out of range is refused, not clamped: a client asking for 500 must not think it got all.
    if q.limit.is_some_and(|l| !(1..=200).contains(&l)) {
        return Err(bad_query());
    }
    let reviews = flow::pending(
        &state.storage,
        &*state.registry,
        staff,
        q.after.unwrap_or(0),
        q.limit.unwrap_or(50),
    )
    .await
    .map_err(api_error)?;
    Ok(Json(
        reviews
            .into_iter()
            .map(ReviewResponse::of)
            .collect::<Result<_, _>>()?,
    ))
}

/// `GET /corrections/{reference}/photo`: the reviewing clinic only.
async fn photo(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    let c = state
        .storage
        .get_correction(&reference)
        .await?
        .filter(|c| staff.role == crate::storage::Role::Admin || c.clinic_id == staff.clinic_id)
        .ok_or(ApiError::NotFound("correction report"))?;
    let (b64, media_type) = state
        .storage
        .correction_photo(&c.reference)
        .await?
        .ok_or(ApiError::NotFound("photo"))?;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| ApiError::Internal("stored photo"))?;
    let media_type =
        HeaderValue::from_str(&media_type).map_err(|_| ApiError::Internal("stored photo type"))?;
    Ok(([(header::CONTENT_TYPE, media_type)], bytes).into_response())
}

/// The answer of an approval.
#[derive(Debug, Serialize)]
pub struct ApproveResponse {
    /// `approved`.
    pub status: &'static str,
    /// The new certificate (none for a dose never entered: enter it as a dose record).
    pub certificate: Option<CertificateResponse>,
    /// The UVCI of the certificate it replaces (revoked, superseded).
    pub replaces: Option<String>,
}

/// `POST /corrections/{reference}/approve`.
async fn approve(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(reference): Path<String>,
) -> Result<Json<ApproveResponse>, ApiError> {
    let approved = issue::approve_and_sign(&state, staff, &reference)
        .await
        .map_err(api_error)?;
    // The citizen's email went to the outbox in the approval's transaction (`notices`).
    Ok(Json(match approved {
        Approved::Reissued {
            certificate,
            replaces,
            notice: _,
        } => ApproveResponse {
            status: "approved",
            certificate: Some(CertificateResponse::of(*certificate)?),
            replaces: Some(replaces),
        },
        Approved::DoseToEnter { notice: _ } => ApproveResponse {
            status: "approved",
            certificate: None,
            replaces: None,
        },
    }))
}

/// `{"reason": "..."}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

fn reason_of(body: Result<Json<ReasonBody>, JsonRejection>) -> Result<String, ApiError> {
    body.map(|Json(b)| b.reason)
        .map_err(|e| super::records::json_rejection(&e, "request", "reason"))
}

/// `POST /corrections/{reference}/reject`.
async fn reject(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(reference): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    close(&state, staff, &reference, body, Closing::Reject).await
}

/// `POST /corrections/{reference}/escalate`.
async fn escalate(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(reference): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    close(&state, staff, &reference, body, Closing::Escalate).await
}

async fn close(
    state: &AppState,
    staff: crate::storage::Staff,
    reference: &str,
    body: Result<Json<ReasonBody>, JsonRejection>,
    how: Closing,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reason = reason_of(body)?;
    let notice = flow::close(&state.storage, staff, reference, how, &reason)
        .await
        .map_err(api_error)?;
    Ok(Json(
        serde_json::json!({ "status": notice.status.as_str() }),
    ))
}

/// `POST /certificates/{uvci}/revoke`.
async fn revoke(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(uvci): Path<String>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reason = reason_of(body)?;
    let reason = RevocationReason::parse(&reason)
        .ok_or_else(|| ApiError::InvalidRequest("reason must be error or fraud".into()))?;
    let revoked = flow::revoke(&state.storage, staff, &uvci, reason)
        .await
        .map_err(api_error)?;
    Ok(Json(serde_json::json!({
        "uvci": revoked.revocation.uvci,
        "reason": revoked.revocation.reason.as_str(),
        "revoked_at": revoked.revocation.revoked_at,
        "newly_revoked": revoked.newly_revoked,
    })))
}
