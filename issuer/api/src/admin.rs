//! Administration, admin tokens only (403 `FORBIDDEN` for staff tokens):
//!
//! - `POST /admin/clinics`: a clinic.
//! - `POST /admin/clinics/{id}/tokens`: a token, shown once, expiring after
//!   [`super::Config::token_lifetime_days`] (default 90; `expires_in_days` asks for fewer).
//! - `GET /admin/clinics/{id}/tokens`: the clinic's tokens, metadata only (never a secret or
//!   its hash), with their state (`active`, `expired`, `revoked`).
//! - `POST /admin/tokens/{id}/revoke`: refused from the next request on in this process
//!   (the authentication cache entry is dropped), in other processes sharing the database
//!   within [`crate::storage::AUTH_CACHE_TTL`]. Repeating it changes nothing.
//! - `POST /admin/tokens/{id}/rotate`: a new secret for the same clinic and role; the old
//!   token is revoked at once, or with `{"grace_secs": n}` (at most 7 days) keeps working
//!   for `n` seconds so the clinic can deploy the new one. 409 `TOKEN_REVOKED` for a revoked or
//!   expired token.
//!
//! Every change writes its audit entry (`clinic.create`, `staff_token.create`,
//! `staff_token.revoke`, `staff_token.rotate`) in the same transaction, with the admin token
//! as actor. Tokens that existed before expiry was introduced (migration 0005) have no expiry
//! and keep working until revoked or rotated.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::records::json_rejection;
use super::{ApiError, AppState, Auth};
use crate::identity::province_name;
use crate::storage::{Actor, MAX_ROTATION_GRACE_SECS, Role, Staff, StorageError, TokenInfo};

/// Longest clinic name, in characters.
pub const MAX_CLINIC_NAME_CHARS: usize = 200;

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/clinics", post(create_clinic))
        .route(
            "/admin/clinics/{id}/tokens",
            post(create_token).get(list_tokens),
        )
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/admin/tokens/{id}/rotate", post(rotate_token))
}

/// The body of `POST /admin/clinics`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewClinic {
    /// The clinic's name (1 to [`MAX_CLINIC_NAME_CHARS`] characters).
    pub name: String,
    /// Its province code (Circular 07/2016/TT-BCA, Annex 1: `1` Hà Nội … `96` Cà Mau).
    pub province: u16,
}

/// The answer of `POST /admin/clinics`.
#[derive(Debug, Clone, Serialize)]
pub struct ClinicCreated {
    /// The new clinic's id.
    pub id: i64,
    /// Its name as stored (trimmed).
    pub name: String,
    /// Its province code.
    pub province: u16,
}

fn staff_role() -> String {
    "staff".to_owned()
}

/// The body of `POST /admin/clinics/{id}/tokens`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewToken {
    /// `staff` or `admin` (default: `staff`, the lesser).
    #[serde(default = "staff_role")]
    pub role: String,
    /// Days until the token expires: 1 to the configured lifetime (default: the lifetime).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The body of `POST /admin/tokens/{id}/rotate` (optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateToken {
    /// Seconds the old token keeps working (0 to 604,800; default 0: revoked at once).
    #[serde(default)]
    pub grace_secs: i64,
    /// Days until the new token expires, as for a new token.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The answer of `POST /admin/tokens/{id}/rotate`: the new secret, shown this once.
#[derive(Clone, Serialize)]
pub struct TokenRotated {
    /// The new token's metadata.
    pub new: TokenInfo,
    /// The new bearer token.
    pub token: String,
    /// The old token as it is now.
    pub old: TokenInfo,
}

impl std::fmt::Debug for TokenRotated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRotated")
            .field("new", &self.new)
            .field("old", &self.old)
            .finish_non_exhaustive()
    }
}

/// The answer of `POST /admin/clinics/{id}/tokens`: the token is shown this once.
#[derive(Clone, Serialize)]
pub struct TokenCreated {
    /// The token's id (the actor in the audit log).
    pub token_id: i64,
    /// The clinic.
    pub clinic_id: i64,
    /// `staff` or `admin`.
    pub role: String,
    /// The bearer token. Only its SHA-256 is stored: it cannot be shown again.
    pub token: String,
    /// Unix seconds; `null`: no expiry (token lifetime 0).
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for TokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCreated")
            .field("token_id", &self.token_id)
            .field("clinic_id", &self.clinic_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn require_admin(staff: Staff) -> Result<Staff, ApiError> {
    if staff.role == Role::Admin {
        Ok(staff)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// `POST /admin/clinics`: 201 with the clinic's id.
async fn create_clinic(
    State(state): State<AppState>,
    Auth(staff): Auth,
    body: Result<Json<NewClinic>, JsonRejection>,
) -> Result<(StatusCode, Json<ClinicCreated>), ApiError> {
    let staff = require_admin(staff)?;
    let Json(req) = body.map_err(|e| {
        json_rejection(
            &e,
            "clinic",
            "name (text), province (a province code, 1 to 96)",
        )
    })?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > MAX_CLINIC_NAME_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "name must be 1 to {MAX_CLINIC_NAME_CHARS} characters"
        )));
    }
    if province_name(req.province).is_none() {
        return Err(ApiError::InvalidRequest(
            "province must be a province code of Circular 07/2016/TT-BCA, Annex 1 (1 to 96)"
                .to_owned(),
        ));
    }
    let id = state
        .storage
        .create_clinic(name, req.province, &Actor::Staff(staff.token_id))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ClinicCreated {
            id,
            name: name.to_owned(),
            province: req.province,
        }),
    ))
}

/// `POST /admin/clinics/{id}/tokens`: 201 with the token (`Cache-Control: no-store`); 404 for
/// an unknown clinic.
async fn create_token(
    State(state): State<AppState>,
    Auth(staff): Auth,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<NewToken>, JsonRejection>,
) -> Result<Response, ApiError> {
    let staff = require_admin(staff)?;
    let Ok(Path(clinic_id)) = id else {
        return Err(ApiError::NotFound("clinic"));
    };
    let Json(req) =
        body.map_err(|e| json_rejection(&e, "token request", "role (\"staff\" or \"admin\")"))?;
    let role = match req.role.as_str() {
        "staff" => Role::Staff,
        "admin" => Role::Admin,
        _ => {
            return Err(ApiError::InvalidRequest(
                "role must be \"staff\" or \"admin\"".to_owned(),
            ));
        }
    };
    let expires_at = expiry(&state, req.expires_in_days)?;
    let (secret, token_id) = state
        .storage
        .create_staff_token_until(clinic_id, role, expires_at, &Actor::Staff(staff.token_id))
        .await
        .map_err(|e| match e {
            StorageError::UnknownClinic(_) => ApiError::NotFound("clinic"),
            other => other.into(),
        })?;
    let body = TokenCreated {
        token_id,
        clinic_id,
        role: req.role,
        token: secret.expose().to_owned(),
        expires_at,
    };
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// The expiry of a new token: `now + days` (default and most: the configured lifetime; a
/// lifetime of 0 means no expiry and allows any 1 to 3,650 days).
fn expiry(state: &AppState, days: Option<u32>) -> Result<Option<i64>, ApiError> {
    let lifetime = state.config.token_lifetime_days;
    let most = if lifetime == 0 { 3_650 } else { lifetime };
    let days = match days {
        None if lifetime == 0 => return Ok(None),
        None => lifetime,
        Some(d) if (1..=most).contains(&d) => d,
        Some(_) => {
            return Err(ApiError::InvalidRequest(format!(
                "expires_in_days must be a whole number of days from 1 to {most}"
            )));
        }
    };
    Ok(Some(state.now().saturating_add(i64::from(days) * 86_400)))
}

fn token_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    match id {
        Ok(Path(id)) => Ok(id),
        Err(_) => Err(ApiError::NotFound("staff token")),
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /admin/clinics/{id}/tokens`: the clinic's tokens (metadata only); 404 for an unknown
/// clinic.
async fn list_tokens(
    State(state): State<AppState>,
    Auth(staff): Auth,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_admin(staff)?;
    let Ok(Path(clinic_id)) = id else {
        return Err(ApiError::NotFound("clinic"));
    };
    let tokens = state
        .storage
        .list_tokens(clinic_id)
        .await
        .map_err(|e| match e {
            StorageError::UnknownClinic(_) => ApiError::NotFound("clinic"),
            other => other.into(),
        })?;
    Ok(Json(
        serde_json::json!({ "clinic_id": clinic_id, "tokens": tokens }),
    ))
}

/// `POST /admin/tokens/{id}/revoke`: 200 with the token's metadata; 404 for an unknown token.
async fn revoke_token(
    State(state): State<AppState>,
    Auth(staff): Auth,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<TokenInfo>, ApiError> {
    let staff = require_admin(staff)?;
    let id = token_id(id)?;
    let info = state
        .storage
        .revoke_token(id, &Actor::Staff(staff.token_id))
        .await?;
    Ok(Json(info))
}

/// `POST /admin/tokens/{id}/rotate`: 201 with the new token (shown once) and both tokens'
/// metadata; 404 for an unknown token, 409 `TOKEN_REVOKED` for a revoked or expired one.
async fn rotate_token(
    State(state): State<AppState>,
    Auth(staff): Auth,
    id: Result<Path<i64>, PathRejection>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let staff = require_admin(staff)?;
    let id = token_id(id)?;
    let req: RotateToken = if body.iter().all(u8::is_ascii_whitespace) {
        RotateToken::default()
    } else {
        serde_json::from_slice(&body).map_err(|_| {
            ApiError::InvalidRequest(
                "the body must be empty or {\"grace_secs\": 0..604800, \"expires_in_days\": days}"
                    .to_owned(),
            )
        })?
    };
    if !(0..=MAX_ROTATION_GRACE_SECS).contains(&req.grace_secs) {
        return Err(ApiError::InvalidRequest(format!(
            "grace_secs must be from 0 to {MAX_ROTATION_GRACE_SECS}"
        )));
    }
    let expires_at = expiry(&state, req.expires_in_days)?;
    let rotated = state
        .storage
        .rotate_token(
            id,
            expires_at,
            req.grace_secs,
            &Actor::Staff(staff.token_id),
        )
        .await?;
    let body = TokenRotated {
        token: rotated.secret.expose().to_owned(),
        new: rotated.new,
        old: rotated.old,
    };
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}
