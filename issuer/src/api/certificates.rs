//! `GET /certificates/{uvci}`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use super::records::CertificateResponse;
use super::{ApiError, AppState, Auth};
use crate::storage::Role;

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/certificates/{uvci}", get(get_certificate))
}

/// `GET /certificates/{uvci}`: the certificate, for the issuing clinic's staff or an admin.
async fn get_certificate(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(uvci): Path<String>,
) -> Result<Json<CertificateResponse>, ApiError> {
    let cert = state
        .storage
        .get_certificate(&uvci)
        .await?
        .ok_or(ApiError::NotFound("certificate"))?;
    if staff.role != Role::Admin {
        let record = state
            .storage
            .get_dose_record(cert.dose_record_id)
            .await?
            .ok_or(ApiError::NotFound("certificate"))?;
        if record.clinic_id != staff.clinic_id {
            return Err(ApiError::Forbidden);
        }
    }
    Ok(Json(CertificateResponse::of(cert)?))
}
