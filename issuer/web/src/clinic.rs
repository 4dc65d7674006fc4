//! The clinic console: intake → the registry match with each field's reason → confirm → the
//! certificate; the clinic's records by status.
//!
//! Every page is the signed-in clinic's own: a record of another clinic is a 403 page, a
//! record that does not exist a 404 page. Records are addressed by id only; a correction is
//! the intake form filled from the stored record, so no personal data is ever in a URL.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use vaxpass_issuer_api::{ApiError, issue, limits};
use vaxpass_issuer_domain::identity::IdKind;
use vaxpass_issuer_domain::plausibility::Implausible;
use vaxpass_issuer_issuance::qr::{self, QrOptions};
use vaxpass_issuer_store::accounts::Session;
use vaxpass_issuer_store::{Certificate, DoseRecord, RecordStatus, StorageError};
use vaxpass_issuer_workflow::{
    self as workflow, SubmissionError, SubmitRequest, VaccineIn, WorkflowError,
};

use crate::WebState;
use crate::forms::{Empty, Posted, Text, date_fields, join_date, radios};
use crate::i18n::{Lang, Texts, fill};
use crate::page::{
    self, Chrome, FieldError, error_of, error_summary, html_response, layout, show_date,
};
use crate::session::{SignedIn, random_token};
use crate::vaccines::{self, CAMPAIGN, HOLDERS, OTHER_PRODUCTS, TYPES};

/// The largest photo of a CCCD card's QR code accepted (a phone's JPEG is 2 to 5 MiB).
pub(crate) const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

/// Records per page of the list.
const PAGE_SIZE: u32 = 25;

pub(crate) fn router() -> Router<WebState> {
    Router::new()
        .route("/clinic", get(home))
        .route("/clinic/records", get(list).post(submit))
        .route("/clinic/records/search", post(search))
        .route("/clinic/records/new", get(new_record))
        .route(
            "/clinic/records/cccd",
            post(cccd_photo).layer(axum::extract::DefaultBodyLimit::max(
                MAX_PHOTO_BYTES + 64 * 1024,
            )),
        )
        .route("/clinic/records/{id}", get(record))
        .route("/clinic/records/{id}/confirm", post(confirm))
        .route("/clinic/records/{id}/certificate", get(certificate))
        .route("/clinic/records/{id}/qr.png", get(qr_png))
        .route("/clinic/records/{id}/certificate.pdf", get(certificate_pdf))
}

async fn home(SignedIn(_): SignedIn) -> Response {
    page::see_other("/clinic/records/new")
}

/// The intake form as typed (every field text, so that a refused form comes back as typed).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct IntakeForm {
    key: String,
    id_kind: String,
    id_number: String,
    full_name: String,
    #[serde(rename = "dob-day")]
    dob_day: String,
    #[serde(rename = "dob-month")]
    dob_month: String,
    #[serde(rename = "dob-year")]
    dob_year: String,
    sex: String,
    vaccine: String,
    #[serde(rename = "vaccine-ma")]
    vaccine_ma: String,
    #[serde(rename = "vaccine-vp")]
    vaccine_vp: String,
    dose_number: String,
    series_total: String,
    #[serde(rename = "date-day")]
    date_day: String,
    #[serde(rename = "date-month")]
    date_month: String,
    #[serde(rename = "date-year")]
    date_year: String,
}

impl IntakeForm {
    /// A blank form with a fresh idempotency key.
    fn blank() -> IntakeForm {
        IntakeForm {
            key: format!("web-{}", random_token()),
            id_kind: "national".to_owned(),
            dose_number: "1".to_owned(),
            series_total: "2".to_owned(),
            ..IntakeForm::default()
        }
    }

    /// The form filled from a stored record, for its correction (a new key: a new record).
    fn of_record(r: &DoseRecord) -> IntakeForm {
        let dob = r.identity.date_of_birth.to_string();
        let mut dob = dob.split('-');
        let (y, m, d) = (dob.next(), dob.next(), dob.next());
        let date = r.vaccination.date.to_string();
        let mut date = date.split('-');
        let (dy, dm, dd) = (date.next(), date.next(), date.next());
        let own = |s: Option<&str>| s.unwrap_or_default().to_owned();
        let campaign = vaccines::campaign(&r.vaccination.product).is_some();
        IntakeForm {
            id_kind: match r.identity.id_kind {
                IdKind::ForeignPassport => "foreign_passport",
                _ => "national",
            }
            .to_owned(),
            id_number: r.identity.id_number.clone(),
            full_name: r.identity.full_name.clone(),
            dob_day: own(d),
            dob_month: own(m),
            dob_year: own(y),
            sex: r.identity.sex.code().to_owned(),
            vaccine: r.vaccination.product.clone(),
            vaccine_ma: if campaign {
                String::new()
            } else {
                r.vaccination.manufacturer.clone()
            },
            vaccine_vp: if campaign {
                String::new()
            } else {
                r.vaccination.prophylaxis.clone()
            },
            dose_number: r.vaccination.dose_number.to_string(),
            series_total: r.vaccination.series_total.to_string(),
            date_day: own(dd),
            date_month: own(dm),
            date_year: own(dy),
            ..IntakeForm::blank()
        }
    }

    /// The submission, or the errors of the fields that cannot make one.
    fn to_request(&self, t: &Texts) -> Result<SubmitRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut err = |field, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            });
        };
        if self.id_number.trim().is_empty() {
            err("id_number", t.err_id_number_required);
        }
        if self.full_name.trim().is_empty() {
            err("full_name", t.err_full_name_required);
        }
        let dob = join_date(&self.dob_day, &self.dob_month, &self.dob_year, true);
        if dob.is_none() {
            err("dob", t.err_date_of_birth);
        }
        if !matches!(self.sex.as_str(), "M" | "F") {
            err("sex", t.err_sex);
        }
        let vaccine = match vaccines::campaign(&self.vaccine) {
            Some(c) => Some(VaccineIn {
                mp: c.mp.to_owned(),
                ma: c.ma.to_owned(),
                vp: c.vp.to_owned(),
            }),
            None if self.vaccine.is_empty() => {
                err("vaccine", t.err_vaccine);
                None
            }
            None if self.vaccine_ma.is_empty() || self.vaccine_vp.is_empty() => {
                err("vaccine", t.err_vaccine_other);
                None
            }
            None => Some(VaccineIn {
                mp: self.vaccine.clone(),
                ma: self.vaccine_ma.clone(),
                vp: self.vaccine_vp.clone(),
            }),
        };
        let dose_number = self.dose_number.trim().parse::<u32>().ok();
        let series_total = self.series_total.trim().parse::<u32>().ok();
        if dose_number.is_none() || series_total.is_none() {
            err("dose_number", t.err_dose_number);
        }
        let date = join_date(&self.date_day, &self.date_month, &self.date_year, false);
        if date.is_none() {
            err("date", t.err_vaccination_date);
        }
        match (dob, vaccine, dose_number, series_total, date) {
            (Some(dob), Some(vaccine), Some(dose_number), Some(series_total), Some(date))
                if errors.is_empty() =>
            {
                Ok(SubmitRequest {
                    id_number: self.id_number.clone(),
                    id_kind: if self.id_kind == "foreign_passport" {
                        IdKind::ForeignPassport
                    } else {
                        IdKind::National
                    },
                    full_name: self.full_name.clone(),
                    date_of_birth: dob,
                    sex: self.sex.clone(),
                    vaccine,
                    dose_number,
                    series_total,
                    date,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The field error of a refused submission (its text is the page's language, never the
/// submitted value).
fn submission_error(t: &Texts, e: &SubmissionError) -> Option<FieldError> {
    let (field, message) = match e {
        SubmissionError::Invalid(m) if m.starts_with("date_of_birth") => {
            ("dob", t.err_date_of_birth.to_owned())
        }
        SubmissionError::Invalid(m) if m.starts_with("sex") => ("sex", t.err_sex.to_owned()),
        SubmissionError::Invalid(m) if m.starts_with("date") => {
            ("date", t.err_vaccination_date.to_owned())
        }
        SubmissionError::Invalid(_) => ("id_number", t.err_id_number_required.to_owned()),
        SubmissionError::FieldTooLong {
            field: "id_number", ..
        } => ("id_number", t.err_id_number_too_long.to_owned()),
        SubmissionError::FieldTooLong { .. } => ("full_name", t.err_full_name_too_long.to_owned()),
        SubmissionError::UnknownCode { .. } => ("vaccine", t.err_vaccine.to_owned()),
        SubmissionError::Implausible(i) => return Some(implausible(t, i)),
        _ => return None,
    };
    Some(FieldError { field, message })
}

fn implausible(t: &Texts, i: &Implausible) -> FieldError {
    let (field, message) = match i {
        Implausible::DoseOutOfRange { .. } => ("dose_number", t.err_dose_number.to_owned()),
        Implausible::TooManyBoosters => ("dose_number", t.err_too_many_boosters.to_owned()),
        Implausible::InTheFuture { .. } => ("date", t.err_date_future.to_owned()),
        Implausible::BeforeBirth => ("date", t.err_date_before_birth.to_owned()),
        Implausible::BeforeFirstAuthorisation { first, .. } => (
            "date",
            fill(
                t.err_date_before_authorisation,
                &[("first", &show_date(&first.to_string()))],
            ),
        ),
        _ => ("date", t.err_vaccination_date.to_owned()),
    };
    FieldError { field, message }
}

/// The intake form (blank, as typed with its errors, or filled for a correction).
fn intake_fields(
    lang: Lang,
    session: &Session,
    form: &IntakeForm,
    errors: &[FieldError],
    submit_label: &str,
) -> Markup {
    let t = lang.texts();
    let id_number = Text {
        hint: Some(t.id_number_hint),
        max_length: 20,
        width: "w-20ch",
        ..Text::new("id_number", t.id_number, &form.id_number)
    };
    let full_name = Text {
        hint: Some(t.full_name_hint),
        max_length: 180,
        ..Text::new("full_name", t.full_name, &form.full_name)
    };
    let vaccine_error = error_of(errors, "vaccine");
    let dose_error = error_of(errors, "dose_number");
    html! {
        form.stack method="post" action="/clinic/records" novalidate {
            input type="hidden" name="csrf" value=(session.csrf_token);
            input type="hidden" name="key" value=(form.key);
            h2 { (t.section_person) }
            (radios("id_kind", t.id_kind, &[("national", t.id_kind_national), ("foreign_passport", t.id_kind_passport)], &form.id_kind, errors))
            (id_number.render(errors))
            (full_name.render(errors))
            (date_fields(t, "dob", t.date_of_birth, Some(t.date_of_birth_hint), (&form.dob_day, &form.dob_month, &form.dob_year), errors))
            (radios("sex", t.sex, &[("M", t.sex_male), ("F", t.sex_female)], &form.sex, errors))
            h2 { (t.section_dose) }
            div.field.field-error[vaccine_error.is_some()] {
                label for="vaccine" { (t.vaccine) }
                p.hint id="vaccine-hint" { (t.vaccine_hint) }
                @if let Some(e) = vaccine_error { p.error-message id="vaccine-error" { (e) } }
                select id="vaccine" name="vaccine" class="w-full" aria-describedby="vaccine-hint"
                    aria-invalid=[vaccine_error.map(|_| "true")] {
                    option value="" { (t.choose) }
                    optgroup label=(t.vaccine_campaign) {
                        @for c in &CAMPAIGN {
                            option value=(c.mp) selected[form.vaccine == c.mp] { (c.label) }
                        }
                    }
                    optgroup label=(t.vaccine_other) {
                        @for (code, name) in OTHER_PRODUCTS.iter() {
                            option value=(code) selected[&form.vaccine == code] { (name) }
                        }
                    }
                }
            }
            details.other-vaccine open[!form.vaccine_ma.is_empty() || !form.vaccine_vp.is_empty()] {
                summary { (t.vaccine_other_details) }
                p.hint { (t.vaccine_other_hint) }
                div.field {
                    label for="vaccine-ma" { (t.manufacturer) }
                    select id="vaccine-ma" name="vaccine-ma" class="w-full" {
                        option value="" { (t.choose) }
                        @for (code, name) in HOLDERS.iter() {
                            option value=(code) selected[&form.vaccine_ma == code] { (name) }
                        }
                    }
                }
                div.field {
                    label for="vaccine-vp" { (t.prophylaxis) }
                    select id="vaccine-vp" name="vaccine-vp" class="w-full" {
                        option value="" { (t.choose) }
                        @for (code, name) in TYPES.iter() {
                            option value=(code) selected[&form.vaccine_vp == code] { (name) }
                        }
                    }
                }
            }
            div.field.field-error[dose_error.is_some()] id="dose_number-group" {
                fieldset aria-describedby="dose-hint" {
                    legend { (t.dose_number) " / " (t.series_total) }
                    p.hint id="dose-hint" { (t.dose_hint) }
                    @if let Some(e) = dose_error { p.error-message { (e) } }
                    div.date-row {
                        div.date-part {
                            label for="dose_number" { (t.dose_number) }
                            input id="dose_number" name="dose_number" type="text" inputmode="numeric"
                                class="w-2" maxlength="1" value=(form.dose_number)
                                aria-invalid=[dose_error.map(|_| "true")];
                        }
                        div.date-part {
                            label for="series_total" { (t.series_total) }
                            input id="series_total" name="series_total" type="text" inputmode="numeric"
                                class="w-2" maxlength="1" value=(form.series_total);
                        }
                    }
                }
            }
            (date_fields(t, "date", t.vaccination_date, None, (&form.date_day, &form.date_month, &form.date_year), errors))
            button.button type="submit" { (submit_label) }
        }
    }
}

/// The intake page.
fn intake_page(
    lang: Lang,
    session: &Session,
    form: &IntakeForm,
    errors: &[FieldError],
    status: StatusCode,
) -> Response {
    intake_page_with(lang, session, form, errors, status, None, None)
}

/// The form that reads a photo of the CCCD card's QR code, with its error, if any.
fn cccd_form(t: &Texts, session: &Session, error: Option<&str>) -> Markup {
    html! {
        section.cccd-upload aria-labelledby="cccd-title" {
            h2 #cccd-title { (t.cccd_title) }
            form method="post" action="/clinic/records/cccd" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(session.csrf_token);
                div.field.field-error[error.is_some()] {
                    label for="photo" { (t.cccd_photo) }
                    p.hint id="photo-hint" { (t.cccd_hint) }
                    @if let Some(e) = error { p.error-message id="photo-error" { (e) } }
                    input id="photo" name="photo" type="file" accept="image/png,image/jpeg,image/webp"
                        aria-describedby={ "photo-hint" @if error.is_some() { " photo-error" } }
                        aria-invalid=[error.map(|_| "true")];
                }
                button.button.button-secondary type="submit" { (t.cccd_read) }
            }
        }
    }
}

/// What was read from a card, to check against the card.
fn cccd_read(t: &Texts, card: &crate::cccd::CccdCard) -> Markup {
    let show = |d: &vaxpass_issuer_domain::dates::Date| show_date(&d.to_string());
    html! {
        div.panel.panel-info.cccd-read role="status" {
            p.panel-title { (t.cccd_read_title) }
            dl.summary-list {
                div { dt { (t.cccd_number) } dd #read-cccd { (card.cccd) } }
                @if let Some(old) = &card.old_cmnd { div { dt { (t.cccd_old_id) } dd { (old) } } }
                div { dt { (t.full_name) } dd #read-name { (card.full_name) } }
                div { dt { (t.date_of_birth) } dd { (show(&card.date_of_birth)) } }
                div { dt { (t.sex) } dd { (sex_text(t, card.sex)) } }
                @if !card.address.is_empty() { div { dt { (t.cccd_address) } dd { (card.address) } } }
                @if let Some(d) = &card.issued { div { dt { (t.cccd_issued) } dd { (show(d)) } } }
            }
            p.hint { (t.cccd_not_proof) }
        }
    }
}

/// The intake page, with what a card's QR code said, or why it could not be read.
fn intake_page_with(
    lang: Lang,
    session: &Session,
    form: &IntakeForm,
    errors: &[FieldError],
    status: StatusCode,
    card: Option<&crate::cccd::CccdCard>,
    photo_error: Option<&str>,
) -> Response {
    let t = lang.texts();
    let chrome = Chrome {
        lang,
        title: t.intake_title,
        path: "/clinic/records/new",
        session: Some(session),
        error: !errors.is_empty(),
    };
    let body = html! {
        div.narrow {
            (error_summary(t, errors))
            h1 { (t.intake_title) }
            (cccd_form(t, session, photo_error))
            @if let Some(card) = card { (cccd_read(t, card)) }
            (intake_fields(lang, session, form, errors, t.submit_record))
        }
    };
    html_response(status, layout(&chrome, body))
}

/// `GET /clinic/records/new`.
async fn new_record(SignedIn(session): SignedIn, lang: Lang) -> Response {
    intake_page(lang, &session, &IntakeForm::blank(), &[], StatusCode::OK)
}

/// `POST /clinic/records/cccd` (multipart: `csrf`, then `photo`): the photo of a CCCD card's
/// QR code, decoded here by the verifier's picture reader, read as a card's text, and shown
/// with the intake form filled from it. The CSRF token is checked before the photo is read;
/// the photo is bounded ([`MAX_PHOTO_BYTES`]), must say it is a PNG, JPEG or WebP picture and
/// start like one. Nothing read is stored or logged.
async fn cccd_photo(
    State(state): State<WebState>,
    lang: Lang,
    headers: axum::http::HeaderMap,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let t = lang.texts();
    let session = match crate::session::current(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return page::see_other("/clinic/sign-in"),
        Err(e) => return page::failed(lang, "SESSION", &e),
    };
    let refused = || {
        page::message_page(
            lang,
            StatusCode::FORBIDDEN,
            t.csrf_title,
            t.csrf_text,
            Some(&session),
        )
    };
    let bad_form =
        |status| page::message_page(lang, status, t.csrf_title, t.bad_form_text, Some(&session));
    let Ok(mut multipart) = multipart else {
        return bad_form(StatusCode::BAD_REQUEST);
    };
    let mut csrf_ok = false;
    let mut photo: Option<Vec<u8>> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return intake_photo_error(lang, &session, t.cccd_too_large);
            }
            Err(_) => return bad_form(StatusCode::BAD_REQUEST),
        };
        match field.name() {
            Some("csrf") => {
                let Ok(text) = field.text().await else {
                    return bad_form(StatusCode::BAD_REQUEST);
                };
                csrf_ok = !text.is_empty() && crate::forms::same(&session.csrf_token, &text);
            }
            Some("photo") => {
                // The token comes first in the form: no photo is read without it.
                if !csrf_ok {
                    return refused();
                }
                let declared = field.content_type().unwrap_or_default().to_owned();
                let mut field = field;
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if bytes.len() + chunk.len() > MAX_PHOTO_BYTES {
                                return intake_photo_error(lang, &session, t.cccd_too_large);
                            }
                            bytes.extend_from_slice(&chunk);
                        }
                        Ok(None) => break,
                        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                            return intake_photo_error(lang, &session, t.cccd_too_large);
                        }
                        Err(_) => return bad_form(StatusCode::BAD_REQUEST),
                    }
                }
                if bytes.is_empty() {
                    return intake_photo_error(lang, &session, t.cccd_no_photo);
                }
                let sniffed = workflow::corrections::image_type(&bytes);
                if sniffed.is_none()
                    || sniffed != Some(declared.as_str())
                        && !declared.is_empty()
                        && declared != "application/octet-stream"
                {
                    return intake_photo_error(lang, &session, t.cccd_not_picture);
                }
                photo = Some(bytes);
            }
            _ => {}
        }
    }
    if !csrf_ok {
        return refused();
    }
    let Some(photo) = photo else {
        return intake_photo_error(lang, &session, t.cccd_no_photo);
    };
    let decoded =
        tokio::task::spawn_blocking(move || vaxpass_verifier::qr::decode_image(&photo)).await;
    let text = match decoded {
        Ok(Ok(text)) => text,
        Ok(Err(
            vaxpass_verifier::qr::QrError::TooLarge { .. }
            | vaxpass_verifier::qr::QrError::TooManyPixels { .. },
        )) => return intake_photo_error(lang, &session, t.cccd_too_large),
        Ok(Err(vaxpass_verifier::qr::QrError::Image(_))) => {
            return intake_photo_error(lang, &session, t.cccd_not_picture);
        }
        Ok(Err(_)) => return intake_photo_error(lang, &session, t.cccd_no_code),
        Err(e) => return page::failed(lang, "CCCD", &e),
    };
    let card = match crate::cccd::parse(&text) {
        Ok(card) => card,
        Err(_) => return intake_photo_error(lang, &session, t.cccd_not_card),
    };
    let dob = card.date_of_birth;
    let form = IntakeForm {
        id_kind: "national".to_owned(),
        id_number: card.cccd.clone(),
        full_name: card.full_name.clone(),
        dob_day: format!("{:02}", dob.day()),
        dob_month: format!("{:02}", dob.month()),
        dob_year: format!("{:04}", dob.year()),
        sex: card.sex.to_owned(),
        ..IntakeForm::blank()
    };
    intake_page_with(
        lang,
        &session,
        &form,
        &[],
        StatusCode::OK,
        Some(&card),
        None,
    )
}

/// The blank intake page with why the photo could not be read.
fn intake_photo_error(lang: Lang, session: &Session, message: &str) -> Response {
    intake_page_with(
        lang,
        session,
        &IntakeForm::blank(),
        &[],
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        Some(message),
    )
}

/// `POST /clinic/records`: the workflow's checks, the rate limit, then the submission and
/// its registry match; on to the record's page.
async fn submit(State(state): State<WebState>, posted: Posted<IntakeForm>) -> Response {
    let (form, session, lang) = match posted.signed_in() {
        Ok(p) => p,
        Err(response) => return response,
    };
    let t = lang.texts();
    let staff = session.staff;
    let refused =
        |errors: Vec<FieldError>, status| intake_page(lang, &session, &form, &errors, status);
    let req = match form.to_request(t) {
        Ok(req) => req,
        Err(errors) => return refused(errors, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let record = match workflow::submission::parse(req, staff.clinic_id) {
        Ok(r) => r,
        Err(e) => {
            return match submission_error(t, &e) {
                Some(err) => refused(vec![err], StatusCode::UNPROCESSABLE_ENTITY),
                None => page::failed(lang, "SUBMISSION", &e),
            };
        }
    };
    if let Err(ApiError::RateLimited {
        retry_after_secs, ..
    }) = limits::check_submissions(&state.app, &staff, 1).await
    {
        let message = fill(
            t.err_rate_limited,
            &[("seconds", &retry_after_secs.to_string())],
        );
        return refused(
            vec![FieldError {
                field: "id_number",
                message,
            }],
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let key =
        if (1..=200).contains(&form.key.len()) && form.key.bytes().all(|b| b.is_ascii_graphic()) {
            form.key.clone()
        } else {
            format!("web-{}", random_token())
        };
    let submitted = workflow::submit(
        &state.app.storage,
        &*state.app.registry,
        staff,
        &record,
        &key,
        state.app.clock.now(),
    )
    .await;
    match submitted {
        Ok(s) => {
            state.app.metrics.record_submitted(s.status);
            page::see_other(&format!("/clinic/records/{}", s.id))
        }
        Err(WorkflowError::Submission(e)) => match submission_error(t, &e) {
            Some(err) => refused(vec![err], StatusCode::UNPROCESSABLE_ENTITY),
            None => page::failed(lang, "SUBMISSION", &e),
        },
        Err(WorkflowError::Storage(StorageError::IdempotencyConflict { .. })) => refused(
            vec![FieldError {
                field: "id_number",
                message: t.err_idempotency.to_owned(),
            }],
            StatusCode::CONFLICT,
        ),
        Err(e) => page::failed(lang, "SUBMISSION", &e),
    }
}

/// The stored match report (the JSON the matcher wrote: codes, no registry value).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Report {
    outcome: String,
    mismatches: Vec<Line>,
    notes: Vec<Line>,
    hint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Line {
    field: String,
    code: String,
}

/// The label of a report line's field.
fn field_label<'a>(t: &'a Texts, field: &str) -> &'a str {
    match field {
        "id_number" => t.id_number,
        "name" => t.full_name,
        "date_of_birth" => t.date_of_birth,
        "sex" => t.sex,
        _ => t.what_to_do,
    }
}

/// The text of a reason (`reason_…`), a note (`note_…`) or a hint (`hint_…`) code.
pub(crate) fn code_text(t: &Texts, prefix: &str, code: &str) -> &'static str {
    t.get(&format!("{prefix}_{}", code.to_ascii_lowercase()))
        .unwrap_or(t.reason_unknown)
}

pub(crate) fn status_text(t: &Texts, status: RecordStatus) -> &'static str {
    match status {
        RecordStatus::Received => t.status_received,
        RecordStatus::Verified => t.status_verified,
        RecordStatus::Mismatch => t.status_mismatch,
        RecordStatus::NotFound => t.status_not_found,
        RecordStatus::ManualReview => t.status_manual_review,
        RecordStatus::Confirmed => t.status_confirmed,
        RecordStatus::Issued => t.status_issued,
    }
}

fn sex_text(t: &Texts, code: &str) -> &'static str {
    if code == "F" {
        t.sex_female
    } else {
        t.sex_male
    }
}

/// The record, if it is the clinic's: 404 or 403 pages otherwise.
pub(crate) async fn own_record(
    state: &WebState,
    lang: Lang,
    session: &Session,
    id: &str,
) -> Result<DoseRecord, Response> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(page::not_found(lang, Some(session)));
    };
    match state.app.storage.get_dose_record(id).await {
        Ok(Some(r)) if r.clinic_id == session.staff.clinic_id => Ok(r),
        Ok(Some(_)) => Err(page::forbidden(lang, Some(session))),
        Ok(None) => Err(page::not_found(lang, Some(session))),
        Err(e) => Err(page::failed(lang, "RECORD", &e)),
    }
}

/// The clinic's record (as [`own_record`]) and its certificate, if issued.
pub(crate) async fn own_certificate(
    state: &WebState,
    lang: Lang,
    session: &Session,
    id: &str,
) -> Result<(DoseRecord, Option<Certificate>), Response> {
    let r = own_record(state, lang, session, id).await?;
    match state.app.storage.certificate_for_record(r.id).await {
        Ok(c) => Ok((r, c)),
        Err(e) => Err(page::failed(lang, "CERTIFICATE", &e)),
    }
}

/// The identity and dose as typed.
pub(crate) fn entered(t: &Texts, r: &DoseRecord) -> Markup {
    html! {
        dl.summary-list {
            div { dt { (t.id_number) } dd { (r.identity.id_number) } }
            div { dt { (t.full_name) } dd { (r.identity.full_name) } }
            div { dt { (t.date_of_birth) } dd { (show_date(&r.identity.date_of_birth.to_string())) } }
            div { dt { (t.sex) } dd { (sex_text(t, r.identity.sex.code())) } }
            div { dt { (t.vaccine) } dd { (vaccines::product_name(&r.vaccination.product)) } }
            div { dt { (t.dose_number) } dd { (fill(t.dose_of, &[("n", &r.vaccination.dose_number.to_string()), ("total", &r.vaccination.series_total.to_string())])) } }
            div { dt { (t.vaccination_date) } dd { (show_date(&r.vaccination.date.to_string())) } }
        }
    }
}

/// `GET /clinic/records/{id}`: the match result and what to do next.
async fn record(
    State(state): State<WebState>,
    SignedIn(session): SignedIn,
    lang: Lang,
    Path(id): Path<String>,
) -> Response {
    let t = lang.texts();
    let r = match own_record(&state, lang, &session, &id).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let report: Report = r
        .match_report
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let title = fill(t.record_title, &[("id", &r.id.to_string())]);
    let path = format!("/clinic/records/{}", r.id);
    let chrome = Chrome {
        lang,
        title: &title,
        path: &path,
        session: Some(&session),
        error: false,
    };
    let (panel_class, headline) = match (r.status, report.outcome.as_str()) {
        (RecordStatus::Received, _) => ("panel panel-info", t.outcome_deferred),
        (RecordStatus::Verified | RecordStatus::Confirmed | RecordStatus::Issued, _) => {
            ("panel panel-ok", t.outcome_verified)
        }
        (RecordStatus::Mismatch, _) => ("panel panel-warn", t.outcome_mismatch),
        (RecordStatus::NotFound, _) => ("panel panel-warn", t.outcome_not_found),
        (RecordStatus::ManualReview, _) => ("panel panel-info", t.outcome_foreign_passport),
    };
    let correctable = matches!(r.status, RecordStatus::Mismatch | RecordStatus::NotFound);
    let body = html! {
        h1 { (title) }
        p { strong { (t.status) ": " } span.tag { (status_text(t, r.status)) } }
        div class=(panel_class) role="status" {
            p.panel-title { (headline) }
            @if !report.mismatches.is_empty() {
                h2.h3 { (t.what_to_do) }
                ul.reasons {
                    @for line in &report.mismatches {
                        li data-code=(line.code) {
                            strong { (field_label(t, &line.field)) ": " }
                            (code_text(t, "reason", &line.code))
                        }
                    }
                }
            }
            @if let Some(hint) = &report.hint {
                p.reasons data-code=(hint) { (code_text(t, "hint", hint)) }
            }
            @if !report.notes.is_empty() {
                h2.h3 { (t.match_notes) }
                ul.reasons {
                    @for line in &report.notes {
                        li data-code=(line.code) { (code_text(t, "note", &line.code)) }
                    }
                }
            }
        }
        div.columns {
            section {
                h2 { (t.you_entered) }
                (entered(t, &r))
            }
            @if r.status == RecordStatus::Verified {
                @if let Some(p) = &r.registry_person {
                    section.check {
                        h2 { (t.check_answers_title) }
                        p { (t.will_carry) ":" }
                        dl.summary-list {
                            div { dt { (t.full_name) } dd { (p.full_name) } }
                            div { dt { (t.date_of_birth) } dd { (show_date(&p.date_of_birth.to_string())) } }
                            div { dt { (t.sex) } dd { (sex_text(t, p.sex.code())) } }
                        }
                        p.hint { (t.check_answers_hint) }
                        form method="post" action={ "/clinic/records/" (r.id) "/confirm" } {
                            input type="hidden" name="csrf" value=(session.csrf_token);
                            button.button type="submit" { (t.confirm) }
                        }
                    }
                }
            }
            @if r.status == RecordStatus::Issued {
                section {
                    p { a.button href={ "/clinic/records/" (r.id) "/certificate" } { (t.view_certificate) } }
                }
            }
        }
        @if correctable {
            section.correction {
                h2 { (t.correct_title) }
                (intake_fields(lang, &session, &IntakeForm::of_record(&r), &[], t.submit_record))
            }
        }
    };
    html_response(StatusCode::OK, layout(&chrome, body))
}

/// `POST /clinic/records/{id}/confirm`: the workflow's confirmation (signing on the blocking
/// pool), then the certificate.
async fn confirm(
    State(state): State<WebState>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let (_, session, lang) = match posted.signed_in() {
        Ok(p) => p,
        Err(response) => return response,
    };
    let t = lang.texts();
    let r = match own_record(&state, lang, &session, &id).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let issued = issue::confirm_and_sign(&state.app, session.staff, r.id).await;
    match issued {
        Ok(_) => page::see_other(&format!("/clinic/records/{}/certificate", r.id)),
        Err(WorkflowError::Storage(StorageError::NotVerified { .. })) => page::message_page(
            lang,
            StatusCode::CONFLICT,
            t.status_mismatch,
            t.not_verified_text,
            Some(&session),
        ),
        Err(WorkflowError::Implausible(i)) => {
            let e = implausible(t, &i);
            page::message_page(
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                t.not_verified_text,
                &e.message,
                Some(&session),
            )
        }
        Err(WorkflowError::RecordMissing) => page::not_found(lang, Some(&session)),
        Err(e) => page::failed(lang, "CONFIRM", &e),
    }
}

/// The certificate's holder and dose, read from its payload.
#[derive(Debug, Default)]
pub(crate) struct Holder {
    pub(crate) name: String,
    pub(crate) transliterated: String,
    pub(crate) date_of_birth: String,
    pub(crate) product: String,
    pub(crate) dose: (u64, u64),
    pub(crate) date: String,
    pub(crate) issuer: String,
    pub(crate) country: String,
}

impl Holder {
    pub(crate) fn of(c: &Certificate) -> Holder {
        let p: serde_json::Value = serde_json::from_str(&c.payload).unwrap_or_default();
        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let v = &p["v"][0];
        let name = format!("{} {}", s(&p["nam"]["fn"]), s(&p["nam"]["gn"]))
            .trim()
            .to_owned();
        // The ICAO 9303 form uses `<` between names; people read a space.
        let transliterated = format!("{} {}", s(&p["nam"]["fnt"]), s(&p["nam"]["gnt"]))
            .replace('<', " ")
            .trim()
            .to_owned();
        Holder {
            name,
            transliterated,
            date_of_birth: s(&p["dob"]),
            product: vaccines::product_name(&s(&v["mp"])),
            dose: (v["dn"].as_u64().unwrap_or(0), v["sd"].as_u64().unwrap_or(0)),
            date: s(&v["dt"]),
            issuer: s(&v["is"]),
            country: s(&v["co"]),
        }
    }
}

/// The end of a certificate's validity, `dd/mm/yyyy`.
fn valid_until(c: &Certificate) -> String {
    let t = vaxpass_verifier::Timestamp::from_unix_seconds(c.exp).to_string();
    show_date(t.get(..10).unwrap_or_default())
}

/// The PDF of a certificate's paper copy.
pub(crate) fn paper_pdf(c: &Certificate, holder: &Holder) -> Result<Vec<u8>, crate::pdf::PdfError> {
    let dob = show_date(&holder.date_of_birth);
    let date = show_date(&holder.date);
    let until = valid_until(c);
    crate::pdf::render(&crate::pdf::PaperCertificate {
        holder: &holder.name,
        transliterated: &holder.transliterated,
        date_of_birth: &dob,
        vaccine: &holder.product,
        dose: holder.dose,
        vaccination_date: &date,
        country: &holder.country,
        issuer: &holder.issuer,
        valid_until: &until,
        uvci: &c.uvci,
        hc1: &c.hc1,
    })
}

/// A PDF as an attachment named `file`.
pub(crate) fn pdf_download(lang: Lang, c: &Certificate, holder: &Holder, file: &str) -> Response {
    match paper_pdf(c, holder) {
        Ok(pdf) => {
            let mut response = pdf.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => page::failed(lang, "PDF", &e),
    }
}

/// `GET /clinic/records/{id}/certificate.pdf`: the paper certificate.
async fn certificate_pdf(
    State(state): State<WebState>,
    SignedIn(session): SignedIn,
    lang: Lang,
    Path(id): Path<String>,
) -> Response {
    let (r, c) = match own_certificate(&state, lang, &session, &id).await {
        Ok((r, Some(c))) => (r, c),
        Ok((_, None)) => return page::not_found(lang, Some(&session)),
        Err(response) => return response,
    };
    pdf_download(lang, &c, &Holder::of(&c), &format!("vaxpass-{}.pdf", r.id))
}

/// The certificate block: QR, holder data, UVCI, HC1 text (shared with the portal).
pub(crate) fn certificate_block(
    t: &Texts,
    c: &Certificate,
    holder: &Holder,
    download: Markup,
) -> Markup {
    let svg = qr::render_svg(
        &c.hc1,
        &QrOptions {
            module_px: 6,
            ..QrOptions::default()
        },
    )
    .unwrap_or_default();
    let label = fill(t.cert_qr_label, &[("name", &holder.name)]);
    let valid_until = valid_until(c);
    html! {
        article.certificate aria-labelledby="cert-title" {
            div.cert-head {
                p.cert-kicker { (t.ministry) }
                h2 #cert-title { (t.site_name) }
            }
            div.cert-body {
                figure.qr role="img" aria-label=(label) {
                    (PreEscaped(svg))
                }
                dl.summary-list.cert-data {
                    div { dt { (t.cert_holder) } dd { strong { (holder.name) } br; span.muted { (holder.transliterated) } } }
                    div { dt { (t.date_of_birth) } dd { (show_date(&holder.date_of_birth)) } }
                    div { dt { (t.vaccine) } dd { (holder.product) } }
                    div { dt { (t.dose_number) } dd { (fill(t.dose_of, &[("n", &holder.dose.0.to_string()), ("total", &holder.dose.1.to_string())])) } }
                    div { dt { (t.vaccination_date) } dd { (show_date(&holder.date)) } }
                    div { dt { (t.cert_issuer) } dd { (holder.issuer) } }
                    div { dt { (t.cert_valid_until) } dd { (valid_until) } }
                    div { dt { (t.cert_uvci) } dd.mono { (c.uvci) } }
                }
            }
            div.cert-actions.no-print { (download) }
            details.hc1 {
                summary { (t.cert_hc1) }
                p.hint id="hc1-hint" { (t.cert_hc1_hint) }
                label.visually-hidden for="hc1" { (t.cert_hc1) }
                textarea #hc1 readonly rows="6" aria-describedby="hc1-hint" spellcheck="false" { (c.hc1) }
            }
        }
    }
}

/// `GET /clinic/records/{id}/certificate`.
async fn certificate(
    State(state): State<WebState>,
    SignedIn(session): SignedIn,
    lang: Lang,
    Path(id): Path<String>,
) -> Response {
    let t = lang.texts();
    let (r, c) = match own_certificate(&state, lang, &session, &id).await {
        Ok((r, Some(c))) => (r, c),
        Ok((r, None)) => return page::see_other(&format!("/clinic/records/{}", r.id)),
        Err(response) => return response,
    };
    let holder = Holder::of(&c);
    let path = format!("/clinic/records/{}/certificate", r.id);
    let chrome = Chrome {
        lang,
        title: t.issued_title,
        path: &path,
        session: Some(&session),
        error: false,
    };
    let download = html! {
        a.button href={ "/clinic/records/" (r.id) "/certificate.pdf" } download={ "vaxpass-" (r.id) ".pdf" } { (t.download_pdf) }
        " "
        a.button.button-secondary href={ "/clinic/records/" (r.id) "/qr.png" } download={ "vaxpass-" (r.id) ".png" } { (t.download_png) }
        p.hint { (t.print_hint) }
    };
    let body = html! {
        h1.no-print { (t.issued_title) }
        (certificate_block(t, &c, &holder, download))
        (crate::corrections::revoke_form(t, &session, r.id))
    };
    html_response(StatusCode::OK, layout(&chrome, body))
}

/// `GET /clinic/records/{id}/qr.png`: the QR code as a PNG download.
async fn qr_png(
    State(state): State<WebState>,
    SignedIn(session): SignedIn,
    lang: Lang,
    Path(id): Path<String>,
    RawQuery(_): RawQuery,
) -> Response {
    let (r, c) = match own_certificate(&state, lang, &session, &id).await {
        Ok((r, Some(c))) => (r, c),
        Ok((_, None)) => return page::not_found(lang, Some(&session)),
        Err(response) => return response,
    };
    png_download(lang, &c, &format!("vaxpass-{}.png", r.id))
}

/// A certificate's QR code as a PNG attachment.
pub(crate) fn png_download(lang: Lang, c: &Certificate, file: &str) -> Response {
    match qr::render_png(
        &c.hc1,
        &QrOptions {
            module_px: 8,
            ..QrOptions::default()
        },
    ) {
        Ok(png) => {
            let mut response = png.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => page::failed(lang, "QR", &e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    status: String,
    before: Option<i64>,
}

/// The statuses the list filters by, in the order of the tabs.
const FILTERS: [RecordStatus; 6] = [
    RecordStatus::Verified,
    RecordStatus::Mismatch,
    RecordStatus::NotFound,
    RecordStatus::Received,
    RecordStatus::ManualReview,
    RecordStatus::Issued,
];

/// The most records one search looks through (newest first) before it shows what it found
/// and offers to look further.
const SEARCH_SCAN: usize = 5_000;

/// `GET /clinic/records?status=&before=`: the clinic's records, newest first, by status.
async fn list(
    State(state): State<WebState>,
    SignedIn(session): SignedIn,
    lang: Lang,
    RawQuery(query): RawQuery,
) -> Response {
    let q: ListQuery = query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let status = FILTERS.into_iter().find(|s| s.as_str() == q.status);
    let records = match state
        .app
        .storage
        .records_by_status(session.staff.clinic_id, status, q.before, PAGE_SIZE + 1)
        .await
    {
        Ok(r) => r,
        Err(e) => return page::failed(lang, "RECORDS", &e),
    };
    let more = records.len() > PAGE_SIZE as usize;
    let shown = &records[..records.len().min(PAGE_SIZE as usize)];
    let next = more.then(|| shown.last().map(|r| r.id)).flatten();
    records_page(
        lang,
        &session,
        status,
        None,
        shown,
        q.before.is_some(),
        next,
        false,
    )
}

/// The search form of the records list (POSTed: a name is personal data, never in a URL).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SearchForm {
    q: String,
    status: String,
    before: Option<i64>,
}

/// Whether `r` is what `q` looks for: its ID number contains the digits typed, or its name
/// contains the words typed, with or without diacritics and whatever the case.
fn record_matches(r: &DoseRecord, needle: &str) -> bool {
    let id_like = needle.bytes().all(|b| b.is_ascii_alphanumeric());
    if id_like && r.identity.id_number.to_ascii_lowercase().contains(needle) {
        return true;
    }
    vaxpass_issuer_domain::names::strip_diacritics(&r.identity.full_name).contains(needle)
}

/// `POST /clinic/records/search`: the clinic's records whose name or ID number holds the text
/// typed, newest first, a page at a time (at most [`SEARCH_SCAN`] records looked through per
/// page).
async fn search(State(state): State<WebState>, posted: Posted<SearchForm>) -> Response {
    let (form, session, lang) = match posted.signed_in() {
        Ok(p) => p,
        Err(response) => return response,
    };
    let status = FILTERS.into_iter().find(|s| s.as_str() == form.status);
    let typed: String = form.q.chars().take(100).collect();
    let needle = vaxpass_issuer_domain::names::strip_diacritics(&typed);
    if needle.is_empty() {
        return page::see_other(&match status {
            Some(s) => format!("/clinic/records?status={}", s.as_str()),
            None => "/clinic/records".to_owned(),
        });
    }
    let limit = PAGE_SIZE as usize;
    let mut found = Vec::new();
    let mut cursor = form.before;
    let mut scanned = 0;
    let mut exhausted = false;
    'scan: while scanned < SEARCH_SCAN {
        let batch = match state
            .app
            .storage
            .records_by_status(session.staff.clinic_id, status, cursor, 200)
            .await
        {
            Ok(b) => b,
            Err(e) => return page::failed(lang, "RECORDS", &e),
        };
        let full = batch.len() == 200;
        for r in batch {
            scanned += 1;
            cursor = Some(r.id);
            if record_matches(&r, &needle) {
                found.push(r);
                if found.len() > limit {
                    break 'scan;
                }
            }
        }
        if !full {
            exhausted = true;
            break;
        }
    }
    let next = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|r| r.id)
    } else if exhausted {
        None
    } else {
        cursor
    };
    records_page(
        lang,
        &session,
        status,
        Some(&typed),
        &found,
        form.before.is_some(),
        next,
        true,
    )
}

/// The list page: the status tabs, the search form, the records, the pager.
#[allow(clippy::too_many_arguments)]
fn records_page(
    lang: Lang,
    session: &Session,
    status: Option<RecordStatus>,
    query: Option<&str>,
    shown: &[DoseRecord],
    paged: bool,
    next: Option<i64>,
    searched: bool,
) -> Response {
    let t = lang.texts();
    let status_param = status.map_or(String::new(), |s| format!("status={}&", s.as_str()));
    let status_value = status.map_or("", RecordStatus::as_str);
    let chrome = Chrome {
        lang,
        title: t.records_title,
        path: "/clinic/records",
        session: Some(session),
        error: false,
    };
    let body = html! {
        h1 { (t.records_title) }
        nav.filters aria-label=(t.filter_label) {
            ul {
                li { a href="/clinic/records" aria-current=[status.is_none().then_some("page")] { (t.filter_all) } }
                @for s in FILTERS {
                    li { a href={ "/clinic/records?status=" (s.as_str()) } aria-current=[(status == Some(s)).then_some("page")] { (status_text(t, s)) } }
                }
            }
        }
        form.search method="post" action="/clinic/records/search" role="search" {
            input type="hidden" name="csrf" value=(session.csrf_token);
            input type="hidden" name="status" value=(status_value);
            label for="q" { (t.search_label) }
            div.search-row {
                input #q name="q" type="search" class="w-full" maxlength="100" value=(query.unwrap_or_default())
                    spellcheck="false" autocomplete="off" aria-describedby="q-hint";
                button.button type="submit" { (t.search_submit) }
            }
            p.hint #q-hint { (t.search_hint) }
        }
        @if searched {
            p #search-summary role="status" { (fill(t.search_found, &[("n", &shown.len().to_string())])) }
        }
        @if shown.is_empty() {
            p { (t.no_records) }
        } @else {
            div.table-wrap {
                table.records {
                    thead { tr {
                        th scope="col" { (t.col_id) }
                        th scope="col" { (t.col_name) }
                        th scope="col" { (t.col_dose) }
                        th scope="col" { (t.col_date) }
                        th scope="col" { (t.col_status) }
                    } }
                    tbody {
                        @for r in shown {
                            tr {
                                td { a href={ "/clinic/records/" (r.id) } { (r.id) } }
                                td { (r.identity.full_name) }
                                td { (r.vaccination.dose_number) "/" (r.vaccination.series_total) }
                                td { (show_date(&r.vaccination.date.to_string())) }
                                td { span.tag { (status_text(t, r.status)) } }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label=(t.records_nav_label) {
            @if paged {
                a href={ "/clinic/records?" (status_param) } { "← " (t.newest) }
            }
            @if let Some(before) = next {
                @if let Some(q) = query {
                    form.pager-form method="post" action="/clinic/records/search" {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        input type="hidden" name="status" value=(status_value);
                        input type="hidden" name="q" value=(q);
                        input type="hidden" name="before" value=(before);
                        button.link-button type="submit" { (t.older) " →" }
                    }
                } @else {
                    a href={ "/clinic/records?" (status_param) "before=" (before) } { (t.older) " →" }
                }
            }
        }
    };
    html_response(StatusCode::OK, layout(&chrome, body))
}
