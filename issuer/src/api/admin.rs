//! Administration: `POST /admin/clinics`, `POST /admin/clinics/{id}/tokens`. Admin tokens
//! only (403 `FORBIDDEN` for staff tokens). Both write their audit entry (`clinic.create`,
//! `staff_token.create`) in the same transaction as the change, with the admin token as actor.

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
use crate::storage::{Actor, Role, Staff, StorageError};

/// Longest clinic name, in characters.
pub const MAX_CLINIC_NAME_CHARS: usize = 200;

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/clinics", post(create_clinic))
        .route("/admin/clinics/{id}/tokens", post(create_token))
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

/// The body of `POST /admin/clinics/{id}/tokens`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewToken {
    /// `staff` or `admin`.
    pub role: String,
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
    let (secret, token_id) = state
        .storage
        .create_staff_token(clinic_id, role, &Actor::Staff(staff.token_id))
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
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
