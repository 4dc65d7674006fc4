//! `POST /dose-records` and `POST /dose-records/{id}/confirm`.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use rand_core::{OsRng, RngCore};
use serde::Serialize;

use super::{ApiError, AppState, Auth, issue};
use crate::storage::{NewDoseRecord, Staff};
use crate::workflow::{self, Disposition, Outcome, REGISTRY_UNAVAILABLE};

pub use crate::workflow::submission::{MAX_FULL_NAME_CHARS, MAX_ID_NUMBER_CHARS};
pub use crate::workflow::{SubmitRequest, VaccineIn};

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dose-records", post(submit))
        .route("/dose-records/{id}/confirm", post(confirm))
}

/// The answer of `POST /dose-records`.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitResponse {
    /// The record's id.
    pub id: i64,
    /// Its status (`verified`, `mismatch`, `not_found`, `manual_review`, `issued`, …).
    pub status: String,
    /// The matching report.
    pub outcome: serde_json::Value,
}

/// The answer of `POST /dose-records/{id}/confirm` (and of a certificate lookup).
#[derive(Debug, Clone, Serialize)]
pub struct CertificateResponse {
    /// The UVCI.
    pub uvci: String,
    /// The `HC1:` string.
    pub hc1: String,
    /// The HCERT payload.
    pub payload: serde_json::Value,
    /// CWT issued-at, Unix seconds.
    pub iat: i64,
    /// CWT expiry, Unix seconds.
    pub exp: i64,
}

impl CertificateResponse {
    pub(crate) fn of(c: crate::storage::Certificate) -> Result<Self, ApiError> {
        let payload = serde_json::from_str(&c.payload)
            .map_err(|_| ApiError::Internal("stored certificate payload"))?;
        Ok(CertificateResponse {
            uvci: c.uvci,
            hc1: c.hc1,
            payload,
            iat: c.iat,
            exp: c.exp,
        })
    }
}

/// The fields of a dose record, for messages about a body that does not deserialise.
const DOSE_RECORD_FIELDS: &str = "id_number, id_kind (\"national\" or \"foreign_passport\", optional), full_name, date_of_birth, sex, vaccine {mp, ma, vp}, dose_number, series_total, date";

/// The fields of a lookup request (`POST /lookup`).
pub(crate) const LOOKUP_FIELDS: &str =
    "full_name, date_of_birth, sex, id_number, last_dose_date (all text)";

/// The 422 answer to a JSON body that could not be read as a `what` (`dose record`, `lookup
/// request`, …) whose fields are `fields`. It names the field (its JSON path, from
/// `serde_path_to_error`, which axum's `Json` uses), what the field accepts, and the line and
/// column; it never quotes a submitted value (a value may be personal data): serde's texts
/// quote values (`invalid type: string "…"`, ``unknown variant `…` ``), so only the part our
/// own types wrote (what is expected) is kept.
pub(crate) fn json_rejection(rejection: &JsonRejection, what: &str, fields: &str) -> ApiError {
    use std::error::Error as _;
    let shape = format!("the body must be a JSON {what} with the fields {fields}");
    let mut source = rejection.source();
    let mut path_error = None;
    let mut json_error = None;
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            path_error = Some(e);
            break;
        }
        if let Some(e) = e.downcast_ref::<serde_json::Error>() {
            json_error = Some(e);
            break;
        }
        source = e.source();
    }
    let message = match (rejection, path_error, json_error) {
        (JsonRejection::MissingJsonContentType(_), _, _) => {
            "the Content-Type must be application/json".to_owned()
        }
        (_, Some(e), _) => describe(e.path(), e.inner(), &shape),
        (_, None, Some(e)) => format!(
            "the body is not valid JSON (line {}, column {}): {shape}",
            e.line(),
            e.column()
        ),
        (JsonRejection::JsonSyntaxError(_), None, None) => {
            format!("the body is not valid JSON: {shape}")
        }
        _ => format!("the body could not be read: {shape}"),
    };
    invalid(&message)
}

/// The message of a deserialisation error at `path` (see [`json_rejection`]).
fn describe(path: &serde_path_to_error::Path, e: &serde_json::Error, shape: &str) -> String {
    use serde_json::error::Category;
    let at = format!("line {}, column {}", e.line(), e.column());
    if !matches!(e.classify(), Category::Data) {
        return format!("the body is not valid JSON ({at}): {shape}");
    }
    let text = e.to_string();
    // serde_json appends " at line L column C"; the position is given separately.
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(t, _)| t);
    let parent = path.to_string();
    let parent = if parent == "." { String::new() } else { parent };
    let join = |field: &str| {
        if parent.is_empty() {
            field.to_owned()
        } else {
            format!("{parent}.{field}")
        }
    };
    // `missing field `x``: the name is one of our fields, not submitted text.
    if let Some(field) = text
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return format!("the field `{}` is missing ({at}): {shape}", join(field));
    }
    let field = if parent.is_empty() {
        "the body".to_owned()
    } else {
        format!("the field `{parent}`")
    };
    // `unknown variant `v`, expected one of `a`, `b``, `invalid type: string "v", expected
    // u32`, `invalid value: integer `-1`, expected u32`: only what follows the last
    // ", expected " is ours.
    let expected = text
        .rsplit_once(", expected ")
        .map(|(_, exp)| plain_expected(exp));
    match expected {
        Some(exp) => format!("{field} must be {exp} ({at}): {shape}"),
        None => format!("{field} is not valid ({at}): {shape}"),
    }
}

/// serde's name of an expected type in words for people.
fn plain_expected(exp: &str) -> String {
    match exp {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "a string" => "text (a JSON string)".to_owned(),
        "a boolean" => "true or false".to_owned(),
        e if e.starts_with("struct ") => "a JSON object".to_owned(),
        e => e.to_owned(),
    }
}

fn invalid(msg: &str) -> ApiError {
    ApiError::InvalidRequest(msg.to_owned())
}

/// `POST /dose-records`: stores the record (clinic from the token; `Idempotency-Key` makes
/// retries safe), matches it against the registry and stores the outcome. 201 for a new
/// record; 200 with the stored outcome for a retry with the same key and body; 429 when the
/// token's submission limit is spent ([`super::limits`]).
async fn submit(
    State(state): State<AppState>,
    Auth(staff): Auth,
    headers: HeaderMap,
    body: Result<Json<SubmitRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmitResponse>), ApiError> {
    super::limits::check_submissions(&state, &staff, 1).await?;
    let Json(req) = body.map_err(|e| json_rejection(&e, "dose record", DOSE_RECORD_FIELDS))?;
    let record = workflow::submission::parse(req, staff.clinic_id)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| invalid("Idempotency-Key must be 1 to 200 visible characters"))?;
            k.to_owned()
        }
        None => {
            let mut raw = [0u8; 16];
            OsRng.fill_bytes(&mut raw);
            format!("auto-{}", hex::encode(raw))
        }
    };
    let (response, status) = submit_one(&state, staff, &record, &key).await?;
    Ok((status, Json(response)))
}

/// Stores one parsed record under `key` (the clinic's idempotency key), matches it against
/// the registry and stores the outcome ([`workflow::submit`]): the core of
/// `POST /dose-records`, shared with the bulk upload. Returns the answer and its status: 201
/// for a new record, 200 for a retry with the same key and content, 202 when the registry could
/// not be asked (the record is stored, `received`, and re-matched later). Everything it stores
/// is committed when it returns.
pub(crate) async fn submit_one(
    state: &AppState,
    staff: Staff,
    record: &NewDoseRecord,
    key: &str,
) -> Result<(SubmitResponse, StatusCode), ApiError> {
    let submitted = workflow::submit(
        &state.storage,
        &*state.registry,
        staff,
        record,
        key,
        state.now(),
    )
    .await?;
    let outcome = match submitted.outcome {
        Outcome::Matched(report) => {
            state.metrics.record_submitted(submitted.status);
            serde_json::to_value(report).map_err(|_| ApiError::Internal("match report"))?
        }
        Outcome::Deferred => unavailable_outcome(),
        Outcome::Stored(report) => report
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(serde_json::Value::Null),
    };
    let status = match submitted.disposition {
        Disposition::Created => StatusCode::CREATED,
        Disposition::Replayed => StatusCode::OK,
        Disposition::Deferred => StatusCode::ACCEPTED,
    };
    let body = SubmitResponse {
        id: submitted.id,
        status: submitted.status.to_string(),
        outcome,
    };
    Ok((body, status))
}

/// The outcome body of a record left `received` because the registry could not answer.
fn unavailable_outcome() -> serde_json::Value {
    serde_json::json!({
        "outcome": REGISTRY_UNAVAILABLE,
        "message": "The population registry could not be asked now. The record is stored and \
                    will be matched when the registry answers; submitting it again with the same \
                    Idempotency-Key retries the match.",
    })
}

/// `POST /dose-records/{id}/confirm`: only the record's clinic (another clinic's record is
/// 404, as a missing one); only a verified record (409 `NOT_VERIFIED`); a verified record
/// whose dose is not plausible (any more) is refused with 422 `IMPLAUSIBLE_VACCINATION`
/// ([`plausibility`]); idempotent (a second confirmation returns the same certificate).
async fn confirm(
    State(state): State<AppState>,
    Auth(staff): Auth,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<CertificateResponse>, ApiError> {
    let Ok(Path(id)) = id else {
        return Err(ApiError::NotFound("dose record"));
    };
    let issued = issue::confirm_and_sign(&state, staff, id).await;
    let issued = match issued {
        Ok(issued) => Ok(issued),
        Err(workflow::WorkflowError::Storage(e)) => Err(e),
        Err(e) => return Err(e.into()),
    };
    state.metrics.observe_confirm(&issued);
    let issued = issued?;
    Ok(Json(CertificateResponse::of(issued.certificate)?))
}
