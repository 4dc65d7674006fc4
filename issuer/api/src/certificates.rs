//! `GET /certificates/{uvci}` and its QR images, `GET /certificates/{uvci}/qr.png` and
//! `GET /certificates/{uvci}/qr.svg`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::records::CertificateResponse;
use super::{ApiError, AppState, Auth};
use crate::qr::{self, Ecc, QrOptions};
use crate::storage::{Certificate, Role, Staff};

/// Largest `scale` (pixels per module) of a QR image.
pub const MAX_QR_SCALE: u32 = 16;

/// This module's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/certificates/{uvci}", get(get_certificate))
        .route("/certificates/{uvci}/qr.png", get(get_qr_png))
        .route("/certificates/{uvci}/qr.svg", get(get_qr_svg))
}

/// The stored certificate, for the issuing clinic's staff or an admin; 404 for anyone else
/// (the same answer as for a missing certificate).
async fn load(state: &AppState, staff: &Staff, uvci: &str) -> Result<Certificate, ApiError> {
    let cert = state
        .storage
        .get_certificate(uvci)
        .await?
        .ok_or(ApiError::NotFound("certificate"))?;
    if staff.role != Role::Admin {
        let record = state
            .storage
            .get_dose_record(cert.dose_record_id)
            .await?
            .ok_or(ApiError::NotFound("certificate"))?;
        // Another clinic's certificate is the same 404 as a missing one.
        if record.clinic_id != staff.clinic_id {
            return Err(ApiError::NotFound("certificate"));
        }
    }
    Ok(cert)
}

/// `GET /certificates/{uvci}`: the certificate, for the issuing clinic's staff or an admin.
async fn get_certificate(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(uvci): Path<String>,
) -> Result<Json<CertificateResponse>, ApiError> {
    let cert = load(&state, &staff, &uvci).await?;
    Ok(Json(CertificateResponse::of(cert)?))
}

/// The query of the QR routes: `?ecc=L|M|Q|H&scale=1..=16` (defaults `Q` and 4). Kept as
/// text so that a bad value is this API's own 422, not a framework message.
#[derive(Debug, Default, Deserialize)]
struct QrQuery {
    ecc: Option<String>,
    scale: Option<String>,
}

impl QrQuery {
    fn options(&self) -> Result<QrOptions, ApiError> {
        let mut opts = QrOptions::default();
        if let Some(ecc) = &self.ecc {
            opts.ecc = Ecc::parse(ecc)
                .ok_or_else(|| ApiError::InvalidRequest("ecc must be L, M, Q or H".to_owned()))?;
        }
        if let Some(scale) = &self.scale {
            opts.module_px = scale
                .parse::<u32>()
                .ok()
                .filter(|s| (1..=MAX_QR_SCALE).contains(s))
                .ok_or_else(|| {
                    ApiError::InvalidRequest(format!(
                        "scale must be a whole number of pixels per module from 1 to {MAX_QR_SCALE}"
                    ))
                })?;
        }
        Ok(opts)
    }
}

fn qr_options(query: Result<Query<QrQuery>, QueryRejection>) -> Result<QrOptions, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::InvalidRequest("the query string must be ecc=L|M|Q|H and scale=1..16".to_owned())
    })?;
    query.options()
}

/// The headers of a QR image: it shows personal data, so no shared cache may keep it.
fn image_response(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn qr_failed(e: qr::QrError) -> ApiError {
    ApiError::Issue(format!("QR image: {e}"))
}

/// `GET /certificates/{uvci}/qr.png`: the certificate's `HC1:` text as a 1-bit PNG QR code
/// (same access as `GET /certificates/{uvci}`).
async fn get_qr_png(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(uvci): Path<String>,
    query: Result<Query<QrQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let opts = qr_options(query)?;
    let cert = load(&state, &staff, &uvci).await?;
    let png = qr::render_png(&cert.hc1, &opts).map_err(qr_failed)?;
    Ok(image_response("image/png", png))
}

/// `GET /certificates/{uvci}/qr.svg`: the same QR code as SVG.
async fn get_qr_svg(
    State(state): State<AppState>,
    Auth(staff): Auth,
    Path(uvci): Path<String>,
    query: Result<Query<QrQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let opts = qr_options(query)?;
    let cert = load(&state, &staff, &uvci).await?;
    let svg = qr::render_svg(&cert.hc1, &opts).map_err(qr_failed)?;
    Ok(image_response("image/svg+xml", svg))
}
