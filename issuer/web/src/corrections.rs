//! Corrections and revocation on the pages, over [`vaxpass_issuer_workflow::corrections`]:
//!
//! - the citizen's report (`/corrections`): the certificate's UVCI and the birth date it
//!   carries, what is wrong and what it should be; the answer is the report's reference and
//!   its status token, shown once. Throttled and answered no sooner than the lookup's floor,
//!   like the lookup, with one message for every miss. The status page (`/corrections/status`)
//!   takes the reference and the token in a POSTed form: neither is ever in a URL.
//! - the clinic's reports (`/clinic/corrections`): the open ones with the record; one report
//!   with the record, the proposed change and what the registry says of the corrected
//!   identity; approve (amend, match again, re-issue) or reject with a reason. Another
//!   clinic's report is a 403 page.
//! - revocation of a certificate (error or fraud) from its page
//!   (`POST /clinic/records/{id}/revoke`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use vaxpass_issuer_api::issue;
use vaxpass_issuer_store::accounts::Session;
use vaxpass_issuer_store::corrections::{Correction, CorrectionKind, CorrectionStatus};
use vaxpass_issuer_store::revocations::RevocationReason;
use vaxpass_issuer_store::{Role, StorageError};
use vaxpass_issuer_workflow::WorkflowError;
use vaxpass_issuer_workflow::corrections::{
    self as flow, Approved, Closing, CorrectionError, CorrectionRequest, Holder, Proposed,
    ReportAnswer, Review,
};

use crate::WebState;
use crate::clinic::{code_text, entered, own_certificate, status_text};
use crate::forms::{Empty, Posted, Text, date_fields, join_date, radios};
use crate::i18n::{Lang, Texts, fill};
use crate::page::{
    self, Chrome, FieldError, error_of, error_summary, html_response, layout, message_summary,
    show_date,
};
use crate::session::{ClientOf, SignedIn, anonymous_page};

pub(crate) fn router() -> Router<WebState> {
    Router::new()
        .route("/corrections", get(report_page).post(report))
        .route("/corrections/status", get(status_page).post(status))
        .route("/clinic/corrections", get(list))
        .route("/clinic/corrections/{reference}", get(review))
        .route("/clinic/corrections/{reference}/photo", get(photo))
        .route("/clinic/corrections/{reference}/approve", post(approve))
        .route("/clinic/corrections/{reference}/reject", post(reject))
        .route("/clinic/records/{id}/revoke", post(revoke))
}

/// The kinds a citizen can report here (a dose never entered goes to the clinic directly).
const KINDS: [CorrectionKind; 5] = [
    CorrectionKind::Name,
    CorrectionKind::BirthDate,
    CorrectionKind::Sex,
    CorrectionKind::IdNumber,
    CorrectionKind::DoseDetails,
];

pub(crate) fn kind_text(t: &Texts, kind: CorrectionKind) -> &'static str {
    match kind {
        CorrectionKind::Name => t.corr_kind_name,
        CorrectionKind::BirthDate => t.corr_kind_birth_date,
        CorrectionKind::Sex => t.corr_kind_sex,
        CorrectionKind::IdNumber => t.corr_kind_id_number,
        CorrectionKind::DoseDetails => t.corr_kind_dose_details,
        CorrectionKind::MissingDose => t.corr_kind_missing_dose,
    }
}

fn corr_status_text(t: &Texts, status: CorrectionStatus) -> &'static str {
    match status {
        CorrectionStatus::Open => t.corr_status_open,
        CorrectionStatus::Approved => t.corr_status_approved,
        CorrectionStatus::Rejected => t.corr_status_rejected,
        CorrectionStatus::Escalated => t.corr_status_escalated,
    }
}

/// The citizen's report form as typed.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct ReportForm {
    uvci: String,
    #[serde(rename = "hdob-day")]
    hdob_day: String,
    #[serde(rename = "hdob-month")]
    hdob_month: String,
    #[serde(rename = "hdob-year")]
    hdob_year: String,
    kind: String,
    new_full_name: String,
    #[serde(rename = "ndob-day")]
    ndob_day: String,
    #[serde(rename = "ndob-month")]
    ndob_month: String,
    #[serde(rename = "ndob-year")]
    ndob_year: String,
    new_sex: String,
    new_id_number: String,
    #[serde(rename = "ndate-day")]
    ndate_day: String,
    #[serde(rename = "ndate-month")]
    ndate_month: String,
    #[serde(rename = "ndate-year")]
    ndate_year: String,
    new_dose_number: String,
    new_series_total: String,
    note: String,
    email: String,
}

impl ReportForm {
    /// The workflow's request, or the errors of what cannot make one.
    fn to_request(&self, t: &Texts) -> Result<CorrectionRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut err = |field, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            });
        };
        if self.uvci.trim().is_empty() {
            err("uvci", t.corr_err_uvci);
        }
        let hdob = join_date(&self.hdob_day, &self.hdob_month, &self.hdob_year, false);
        if hdob.is_none() {
            err("hdob", t.err_lookup_date_of_birth);
        }
        let kind = KINDS.into_iter().find(|k| k.as_str() == self.kind);
        let mut proposed = Proposed::default();
        match kind {
            None => err("kind", t.corr_err_kind),
            Some(CorrectionKind::Name) => {
                if self.new_full_name.trim().is_empty() {
                    err("new_full_name", t.err_full_name_required);
                }
                proposed.full_name = Some(self.new_full_name.trim().to_owned());
            }
            Some(CorrectionKind::BirthDate) => {
                match join_date(&self.ndob_day, &self.ndob_month, &self.ndob_year, true) {
                    Some(d) => proposed.date_of_birth = Some(d),
                    None => err("ndob", t.err_date_of_birth),
                }
            }
            Some(CorrectionKind::Sex) => {
                if !matches!(self.new_sex.as_str(), "M" | "F") {
                    err("new_sex", t.err_sex);
                }
                proposed.sex = Some(self.new_sex.clone());
            }
            Some(CorrectionKind::IdNumber) => {
                if self.new_id_number.trim().is_empty() {
                    err("new_id_number", t.err_id_number_required);
                }
                proposed.id_number = Some(self.new_id_number.trim().to_owned());
            }
            Some(_) => {
                let any_date = !(self.ndate_day.is_empty()
                    && self.ndate_month.is_empty()
                    && self.ndate_year.is_empty());
                if any_date {
                    match join_date(&self.ndate_day, &self.ndate_month, &self.ndate_year, false) {
                        Some(d) => proposed.date = Some(d),
                        None => err("ndate", t.err_vaccination_date),
                    }
                }
                let number = |s: &str| s.trim().parse::<u32>().ok();
                proposed.dose_number = number(&self.new_dose_number);
                proposed.series_total = number(&self.new_series_total);
                let typed_but_bad = (!self.new_dose_number.trim().is_empty()
                    && proposed.dose_number.is_none())
                    || (!self.new_series_total.trim().is_empty()
                        && proposed.series_total.is_none());
                if typed_but_bad {
                    err("new_dose_number", t.err_dose_number);
                } else if proposed.date.is_none()
                    && proposed.dose_number.is_none()
                    && proposed.series_total.is_none()
                    && !any_date
                {
                    err("ndate", t.corr_err_dose_details);
                }
            }
        }
        let (Some(kind), Some(hdob)) = (kind, hdob) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let email = self.email.trim();
        Ok(CorrectionRequest {
            kind: kind.as_str().to_owned(),
            holder: Holder::Certificate {
                uvci: self.uvci.trim().to_owned(),
                date_of_birth: hdob,
            },
            proposed,
            note: self.note.clone(),
            email: (!email.is_empty()).then(|| email.to_owned()),
            photo: None,
        })
    }
}

/// The field of a refusal by the workflow (its text names fields, never values).
fn refusal_field(t: &Texts, e: &CorrectionError) -> FieldError {
    let (field, message) = match e {
        CorrectionError::Invalid(m) if m.starts_with("email") => ("email", t.corr_err_email),
        CorrectionError::Invalid(m) if m.starts_with("note") => ("note", t.corr_err_note),
        CorrectionError::Invalid(m) if m.starts_with("holder") => ("uvci", t.corr_err_uvci),
        CorrectionError::Invalid(m) if m.contains("full_name") => {
            ("new_full_name", t.err_full_name_too_long)
        }
        CorrectionError::Invalid(m) if m.contains("date_of_birth") => ("ndob", t.err_date_of_birth),
        CorrectionError::Invalid(m) if m.contains("id_number") => {
            ("new_id_number", t.err_id_number_too_long)
        }
        CorrectionError::Invalid(m) if m.contains("dose") || m.contains("series") => {
            ("new_dose_number", t.err_dose_number)
        }
        CorrectionError::Invalid(m) if m.contains("date") => ("ndate", t.err_vaccination_date),
        _ => ("kind", t.corr_err_kind),
    };
    FieldError {
        field,
        message: message.to_owned(),
    }
}

/// The report page: the form as typed, its errors, and the one message of a miss.
fn report_form_page(
    state: &WebState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    form: &ReportForm,
    errors: &[FieldError],
    message: Option<&str>,
) -> Response {
    let t = lang.texts();
    let chrome = Chrome {
        lang,
        title: t.corr_title,
        path: "/corrections",
        session: None,
        error: !errors.is_empty() || message.is_some(),
    };
    let uvci = Text {
        hint: Some(t.corr_uvci_hint),
        max_length: 80,
        ..Text::new("uvci", t.cert_uvci, &form.uvci)
    };
    let new_name = Text {
        hint: Some(t.full_name_hint),
        max_length: 180,
        ..Text::new("new_full_name", t.corr_new_full_name, &form.new_full_name)
    };
    let new_id = Text {
        max_length: 20,
        width: "w-20ch",
        ..Text::new("new_id_number", t.corr_new_id_number, &form.new_id_number)
    };
    let email = Text {
        hint: Some(t.corr_email_hint),
        autocomplete: Some("email"),
        input_type: "email",
        max_length: 254,
        ..Text::new("email", t.corr_email, &form.email)
    };
    let kinds: Vec<(&str, &str)> = KINDS
        .iter()
        .map(|k| (k.as_str(), kind_text(t, *k)))
        .collect();
    let note_error = error_of(errors, "note");
    let dose_error = error_of(errors, "new_dose_number");
    let body = |csrf: &str| {
        html! {
            div.narrow {
                (error_summary(t, errors))
                (message_summary(t, message))
                h1 { (t.corr_title) }
                p.lead { (t.corr_intro) }
                form.stack method="post" action="/corrections" novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    h2 { (t.corr_section_certificate) }
                    (uvci.render(errors))
                    (date_fields(t, "hdob", t.corr_holder_dob, Some(t.corr_holder_dob_hint), (&form.hdob_day, &form.hdob_month, &form.hdob_year), errors))
                    h2 { (t.corr_section_change) }
                    (radios("kind", t.corr_kind, &kinds, &form.kind, errors))
                    p.hint { (t.corr_fill_hint) }
                    (new_name.render(errors))
                    (date_fields(t, "ndob", t.corr_new_dob, Some(t.date_of_birth_hint), (&form.ndob_day, &form.ndob_month, &form.ndob_year), errors))
                    (radios("new_sex", t.corr_new_sex, &[("M", t.sex_male), ("F", t.sex_female)], &form.new_sex, errors))
                    (new_id.render(errors))
                    (date_fields(t, "ndate", t.corr_new_dose_date, None, (&form.ndate_day, &form.ndate_month, &form.ndate_year), errors))
                    div.field.field-error[dose_error.is_some()] id="new_dose_number-group" {
                        fieldset {
                            legend { (t.corr_new_dose) }
                            @if let Some(e) = dose_error { p.error-message { (e) } }
                            div.date-row {
                                div.date-part {
                                    label for="new_dose_number" { (t.dose_number) }
                                    input id="new_dose_number" name="new_dose_number" type="text" inputmode="numeric"
                                        class="w-2" maxlength="1" value=(form.new_dose_number);
                                }
                                div.date-part {
                                    label for="new_series_total" { (t.series_total) }
                                    input id="new_series_total" name="new_series_total" type="text" inputmode="numeric"
                                        class="w-2" maxlength="1" value=(form.new_series_total);
                                }
                            }
                        }
                    }
                    div.field.field-error[note_error.is_some()] {
                        label for="note" { (t.corr_note) " (" (t.optional) ")" }
                        @if let Some(e) = note_error { p.error-message id="note-error" { (e) } }
                        textarea #note name="note" rows="3" maxlength="1000" class="w-full" { (form.note) }
                    }
                    (email.render(errors))
                    button.button type="submit" { (t.corr_submit) }
                }
                p { a href="/corrections/status" { (t.corr_status_link) } }
            }
        }
    };
    anonymous_page(state, headers, status, &chrome, body)
}

/// `GET /corrections`.
async fn report_page(State(state): State<WebState>, lang: Lang, headers: HeaderMap) -> Response {
    report_form_page(
        &state,
        &headers,
        lang,
        StatusCode::OK,
        &ReportForm::default(),
        &[],
        None,
    )
}

/// `POST /corrections`: the answer, no sooner than the lookup's answer-time floor.
async fn report(
    State(state): State<WebState>,
    ClientOf(client): ClientOf,
    headers: HeaderMap,
    posted: Posted<ReportForm>,
) -> Response {
    crate::portal::at_answer_floor(&state, report_answer(&state, client, &headers, posted)).await
}

async fn report_answer(
    state: &WebState,
    client: vaxpass_issuer_workflow::ratelimit::ClientKey,
    headers: &HeaderMap,
    posted: Posted<ReportForm>,
) -> Response {
    let Posted { form, lang, .. } = posted;
    let t = lang.texts();
    let refused = |errors: Vec<FieldError>, status| {
        report_form_page(state, headers, lang, status, &form, &errors, None)
    };
    let req = match form.to_request(t) {
        Ok(req) => req,
        Err(errors) => return refused(errors, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let app = &state.app;
    match flow::report(
        &app.storage,
        &app.lookup_limiter,
        app.config.corrections,
        client,
        &req,
        app.clock.now(),
    )
    .await
    {
        Ok(ReportAnswer::Filed(filed)) => {
            let chrome = Chrome {
                lang,
                title: t.corr_filed_title,
                path: "/corrections",
                session: None,
                error: false,
            };
            let body = html! {
                div.narrow {
                    div.panel.panel-ok role="status" {
                        h1 { (t.corr_filed_title) }
                        p { (t.corr_filed_text) }
                    }
                    dl.summary-list.corr-keys {
                        div { dt { (t.corr_reference) } dd.mono #reference { (filed.reference) } }
                        div { dt { (t.corr_token) } dd.mono #status-token { (filed.token) } }
                        div { dt { (t.status) } dd { (corr_status_text(t, filed.status)) } }
                    }
                    p.hint { (t.corr_keep_hint) }
                    p { a href="/corrections/status" { (t.corr_status_link) } }
                }
            };
            html_response(StatusCode::CREATED, layout(&chrome, body))
        }
        Ok(ReportAnswer::NoMatch) => report_form_page(
            state,
            headers,
            lang,
            StatusCode::NOT_FOUND,
            &form,
            &[],
            Some(t.corr_no_match),
        ),
        Ok(ReportAnswer::Limited(limited)) => {
            let minutes = limited.retry_after_secs.div_ceil(60).to_string();
            let message = fill(t.lookup_limited, &[("minutes", &minutes)]);
            let mut response = report_form_page(
                state,
                headers,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                &form,
                &[],
                Some(&message),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(limited.retry_after_secs),
            );
            response
        }
        Err(WorkflowError::Correction(e)) => {
            refused(vec![refusal_field(t, &e)], StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => page::failed(lang, "CORRECTION", &e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StatusForm {
    reference: String,
    token: String,
}

/// The status form, with the one message of an unknown reference or a wrong token.
fn status_form_page(
    state: &WebState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    form: &StatusForm,
    message: Option<&str>,
) -> Response {
    let t = lang.texts();
    let chrome = Chrome {
        lang,
        title: t.corr_status_title,
        path: "/corrections/status",
        session: None,
        error: message.is_some(),
    };
    let reference = Text {
        max_length: 64,
        width: "w-20ch",
        ..Text::new("reference", t.corr_reference, &form.reference)
    };
    let token = Text {
        max_length: 128,
        ..Text::new("token", t.corr_token, "")
    };
    let body = |csrf: &str| {
        html! {
            div.narrow {
                (message_summary(t, message))
                h1 { (t.corr_status_title) }
                form.stack method="post" action="/corrections/status" novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    (reference.render(&[]))
                    (token.render(&[]))
                    button.button type="submit" { (t.corr_status_submit) }
                }
            }
        }
    };
    anonymous_page(state, headers, status, &chrome, body)
}

/// `GET /corrections/status`.
async fn status_page(State(state): State<WebState>, lang: Lang, headers: HeaderMap) -> Response {
    status_form_page(
        &state,
        &headers,
        lang,
        StatusCode::OK,
        &StatusForm::default(),
        None,
    )
}

/// `POST /corrections/status`.
async fn status(
    State(state): State<WebState>,
    headers: HeaderMap,
    posted: Posted<StatusForm>,
) -> Response {
    let Posted { form, lang, .. } = posted;
    let t = lang.texts();
    let miss = |form: &StatusForm| {
        status_form_page(
            &state,
            &headers,
            lang,
            StatusCode::NOT_FOUND,
            form,
            Some(t.corr_status_unknown),
        )
    };
    if form.reference.len() > 64 || form.token.trim().is_empty() || form.token.len() > 128 {
        return miss(&form);
    }
    let c = match flow::status(&state.app.storage, &form.reference, &form.token).await {
        Ok(Some(c)) => c,
        Ok(None) => return miss(&form),
        Err(e) => return page::failed(lang, "CORRECTION_STATUS", &e),
    };
    let chrome = Chrome {
        lang,
        title: t.corr_status_title,
        path: "/corrections/status",
        session: None,
        error: false,
    };
    let body = html! {
        div.narrow {
            h1 { (t.corr_status_title) }
            dl.summary-list {
                div { dt { (t.corr_reference) } dd.mono { (c.reference) } }
                div { dt { (t.corr_kind) } dd { (kind_text(t, c.kind)) } }
                div { dt { (t.status) } dd #correction-status { span.tag { (corr_status_text(t, c.status)) } } }
                @if let Some(r) = &c.reason { div { dt { (t.corr_reason) } dd { (r) } } }
                @if let Some(u) = &c.new_uvci { div { dt { (t.corr_new_uvci) } dd.mono { (u) } } }
            }
            @if c.status == CorrectionStatus::Approved && c.new_uvci.is_some() {
                p { (t.corr_approved_hint) " " a href="/" { (t.portal_title) } }
            }
        }
    };
    html_response(StatusCode::OK, layout(&chrome, body))
}

/// The report `reference` if the signed-in staff member's clinic reviews it (an admin: any):
/// 404 or 403 pages otherwise.
async fn own_report(
    state: &WebState,
    lang: Lang,
    session: &Session,
    reference: &str,
) -> Result<Correction, Response> {
    if reference.len() > 64 {
        return Err(page::not_found(lang, Some(session)));
    }
    match state.app.storage.get_correction(reference).await {
        Ok(Some(c))
            if session.staff.role == Role::Admin || c.clinic_id == session.staff.clinic_id =>
        {
            Ok(c)
        }
        Ok(Some(_)) => Err(page::message_page(
            lang,
            StatusCode::FORBIDDEN,
            lang.texts().forbidden_title,
            lang.texts().corr_forbidden_text,
            Some(session),
        )),
        Ok(None) => Err(page::not_found(lang, Some(session))),
        Err(e) => Err(page::failed(lang, "CORRECTION", &e)),
    }
}

/// `GET /clinic/corrections`: the clinic's open reports.
async fn list(State(state): State<WebState>, SignedIn(session): SignedIn, lang: Lang) -> Response {
    let t = lang.texts();
    let reviews = match flow::pending(
        &state.app.storage,
        &*state.app.registry,
        session.staff,
        0,
        100,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return page::failed(lang, "CORRECTIONS", &e),
    };
    let chrome = Chrome {
        lang,
        title: t.corr_list_title,
        path: "/clinic/corrections",
        session: Some(&session),
        error: false,
    };
    let body = html! {
        h1 { (t.corr_list_title) }
        @if reviews.is_empty() {
            p { (t.corr_none) }
        } @else {
            div.table-wrap {
                table.records {
                    thead { tr {
                        th scope="col" { (t.corr_reference) }
                        th scope="col" { (t.corr_kind) }
                        th scope="col" { (t.col_name) }
                        th scope="col" { (t.corr_registry) }
                        th scope="col" { (t.col_status) }
                    } }
                    tbody {
                        @for r in &reviews {
                            tr {
                                td { a href={ "/clinic/corrections/" (r.correction.reference) } { (r.correction.reference) } }
                                td { (kind_text(t, r.correction.kind)) }
                                td { @if let Some(rec) = &r.record { (rec.identity.full_name) } }
                                td { @if r.registry_verified { (t.corr_registry_yes) } @else { (t.corr_registry_no) } }
                                td { span.tag { (corr_status_text(t, r.correction.status)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, layout(&chrome, body))
}

/// The proposed change, field by field: as recorded → as proposed.
fn proposed_change(t: &Texts, r: &Review) -> Markup {
    let p: Proposed = serde_json::from_str(&r.correction.proposed).unwrap_or_default();
    let rec = r.record.as_ref();
    let sex = |code: &str| {
        if code == "F" {
            t.sex_female
        } else {
            t.sex_male
        }
    };
    let dose = |n: u32, total: u32| {
        fill(
            t.dose_of,
            &[("n", &n.to_string()), ("total", &total.to_string())],
        )
    };
    let now =
        |f: &dyn Fn(&vaxpass_issuer_store::DoseRecord) -> String| rec.map(f).unwrap_or_default();
    let mut rows: Vec<(&str, String, String)> = Vec::new();
    if let Some(n) = &p.full_name {
        rows.push((
            t.full_name,
            now(&|r| r.identity.full_name.clone()),
            n.clone(),
        ));
    }
    if let Some(d) = &p.date_of_birth {
        let before = now(&|r| show_date(&r.identity.date_of_birth.to_string()));
        rows.push((t.date_of_birth, before, show_date(d)));
    }
    if let Some(code) = &p.sex {
        let before = now(&|r| sex(r.identity.sex.code()).to_owned());
        rows.push((t.sex, before, sex(code).to_owned()));
    }
    if let Some(n) = &p.id_number {
        rows.push((
            t.id_number,
            now(&|r| r.identity.id_number.clone()),
            n.clone(),
        ));
    }
    if let Some(d) = &p.date {
        let before = now(&|r| show_date(&r.vaccination.date.to_string()));
        rows.push((t.vaccination_date, before, show_date(d)));
    }
    if p.dose_number.is_some() || p.series_total.is_some() {
        let current = rec.map(|r| (r.vaccination.dose_number, r.vaccination.series_total));
        let n = p.dose_number.or(current.map(|c| c.0)).unwrap_or_default();
        let total = p.series_total.or(current.map(|c| c.1)).unwrap_or_default();
        let before = now(&|r| dose(r.vaccination.dose_number, r.vaccination.series_total));
        rows.push((t.dose_number, before, dose(n, total)));
    }
    html! {
        div.table-wrap {
            table.records.change {
                thead { tr {
                    th scope="col" { (t.corr_field) }
                    th scope="col" { (t.corr_now) }
                    th scope="col" { (t.corr_proposed) }
                } }
                tbody {
                    @for (label, before, after) in &rows {
                        tr { th scope="row" { (label) } td { (before) } td { strong { (after) } } }
                    }
                }
            }
        }
    }
}

/// One report's page: the record, the change, the registry's answer, the two decisions.
fn review_page(
    lang: Lang,
    session: &Session,
    r: &Review,
    errors: &[FieldError],
    status: StatusCode,
) -> Response {
    let t = lang.texts();
    let c = &r.correction;
    let title = fill(t.corr_review_title, &[("reference", &c.reference)]);
    let path = format!("/clinic/corrections/{}", c.reference);
    let chrome = Chrome {
        lang,
        title: &title,
        path: &path,
        session: Some(session),
        error: !errors.is_empty(),
    };
    let reason_error = error_of(errors, "reason");
    let pending = c.status.is_pending();
    let body = html! {
        (error_summary(t, errors))
        h1 { (title) }
        p {
            strong { (t.corr_kind) ": " } (kind_text(t, c.kind)) " · "
            strong { (t.status) ": " } span.tag { (corr_status_text(t, c.status)) }
        }
        div.columns {
            section {
                h2 { (t.corr_change_title) }
                (proposed_change(t, r))
                @if !c.note.is_empty() {
                    h3 { (t.corr_note) }
                    p.note { (c.note) }
                }
                @if c.photo_type.is_some() {
                    p { a href={ "/clinic/corrections/" (c.reference) "/photo" } { (t.corr_photo) } }
                }
            }
            section {
                h2 { (t.corr_registry_title) }
                @if r.registry_verified {
                    div.panel.panel-ok role="status" { p.panel-title { (t.corr_registry_yes_text) } }
                } @else {
                    div.panel.panel-warn role="status" {
                        p.panel-title { (t.corr_registry_no_text) }
                        @if let Some(report) = &r.registry {
                            ul.reasons {
                                @for line in &report.mismatches {
                                    li data-code=(line.code) { (code_text(t, "reason", line.code)) }
                                }
                            }
                            @if let Some(hint) = report.hint {
                                p.reasons data-code=(hint) { (code_text(t, "hint", hint)) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(rec) = &r.record {
            section {
                h2 { (fill(t.record_title, &[("id", &rec.id.to_string())])) }
                p { span.tag { (status_text(t, rec.status)) } " " a href={ "/clinic/records/" (rec.id) } { (t.corr_open_record) } }
                (entered(t, rec))
            }
        }
        @if pending {
            div.columns.decisions {
                section.check {
                    h2 { (t.corr_approve_title) }
                    p.hint { (t.corr_approve_hint) }
                    form method="post" action={ "/clinic/corrections/" (c.reference) "/approve" } {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        button.button type="submit" { (t.corr_approve) }
                    }
                }
                section.check {
                    h2 { (t.corr_reject_title) }
                    form method="post" action={ "/clinic/corrections/" (c.reference) "/reject" } novalidate {
                        input type="hidden" name="csrf" value=(session.csrf_token);
                        div.field.field-error[reason_error.is_some()] {
                            label for="reason" { (t.corr_reason) }
                            p.hint id="reason-hint" { (t.corr_reason_hint) }
                            @if let Some(e) = reason_error { p.error-message id="reason-error" { (e) } }
                            textarea #reason name="reason" rows="3" maxlength="500" class="w-full"
                                aria-describedby="reason-hint" aria-invalid=[reason_error.map(|_| "true")] {}
                        }
                        button.button.button-warning type="submit" { (t.corr_reject) }
                    }
                }
            }
        }
        p { a href="/clinic/corrections" { (t.corr_back_to_list) } }
    };
    html_response(status, layout(&chrome, body))
}

/// The review of report `c` (the workflow's, for its id).
async fn review_of(
    state: &WebState,
    session: &Session,
    c: &Correction,
) -> Result<Option<Review>, WorkflowError> {
    let found = flow::pending(
        &state.app.storage,
        &*state.app.registry,
        session.staff,
        c.id - 1,
        1,
    )
    .await?;
    Ok(found.into_iter().find(|r| r.correction.id == c.id))
}

/// A closed report's review: the record and the change, no registry question.
async fn closed_review(state: &WebState, c: Correction) -> Result<Review, StorageError> {
    let record = match c.dose_record_id {
        Some(id) => state.app.storage.get_dose_record(id).await?,
        None => None,
    };
    Ok(Review {
        correction: c,
        record,
        amended: None,
        registry: None,
        registry_verified: false,
    })
}

/// The page of report `c` with `errors`.
async fn show_review(
    state: &WebState,
    lang: Lang,
    session: &Session,
    c: Correction,
    errors: &[FieldError],
    status: StatusCode,
) -> Response {
    let review = if c.status.is_pending() {
        match review_of(state, session, &c).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => closed_review(state, c).await.map_err(WorkflowError::from),
            Err(e) => Err(e),
        }
    } else {
        closed_review(state, c).await.map_err(WorkflowError::from)
    };
    match review {
        Ok(r) => review_page(lang, session, &r, errors, status),
        Err(e) => page::failed(lang, "CORRECTION", &e),
    }
}

/// `GET /clinic/corrections/{reference}`.
async fn review(
    State(state): State<WebState>,
    SignedIn(session): SignedIn,
    lang: Lang,
    Path(reference): Path<String>,
) -> Response {
    let c = match own_report(&state, lang, &session, &reference).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    show_review(&state, lang, &session, c, &[], StatusCode::OK).await
}

/// `GET /clinic/corrections/{reference}/photo`: the citizen's photo, to the reviewing clinic.
async fn photo(
    State(state): State<WebState>,
    SignedIn(session): SignedIn,
    lang: Lang,
    Path(reference): Path<String>,
) -> Response {
    let c = match own_report(&state, lang, &session, &reference).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let Ok(Some((b64, media_type))) = state.app.storage.correction_photo(&c.reference).await else {
        return page::not_found(lang, Some(&session));
    };
    use base64::Engine as _;
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return page::not_found(lang, Some(&session));
    };
    let media_type = match media_type.as_str() {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/webp" => "image/webp",
        _ => return page::not_found(lang, Some(&session)),
    };
    ([(header::CONTENT_TYPE, media_type)], bytes).into_response()
}

/// What a decision answered, as a page.
fn decision_error(lang: Lang, session: &Session, e: WorkflowError) -> Response {
    let t = lang.texts();
    let message = |status, text: &str| {
        page::message_page(lang, status, t.corr_not_done_title, text, Some(session))
    };
    match e {
        WorkflowError::CorrectionMissing => page::not_found(lang, Some(session)),
        WorkflowError::NeedsAdmin => message(StatusCode::FORBIDDEN, t.corr_needs_admin),
        WorkflowError::NotConfirmed(_) => message(StatusCode::CONFLICT, t.corr_not_confirmed),
        WorkflowError::RegistryUnavailable(_) => {
            message(StatusCode::SERVICE_UNAVAILABLE, t.corr_registry_unavailable)
        }
        WorkflowError::Implausible(_) => {
            message(StatusCode::UNPROCESSABLE_ENTITY, t.corr_implausible)
        }
        WorkflowError::Storage(
            StorageError::CorrectionClosed { .. }
            | StorageError::Changed { .. }
            | StorageError::CertificateChanged { .. }
            | StorageError::NotVerified { .. },
        ) => message(StatusCode::CONFLICT, t.corr_changed),
        e => page::failed(lang, "CORRECTION", &e),
    }
}

/// `POST /clinic/corrections/{reference}/approve`: amend, match again, re-issue; on to the
/// new certificate.
async fn approve(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    posted: Posted<Empty>,
) -> Response {
    let (_, session, lang) = match posted.signed_in() {
        Ok(p) => p,
        Err(response) => return response,
    };
    let t = lang.texts();
    let c = match own_report(&state, lang, &session, &reference).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    match issue::approve_and_sign(&state.app, session.staff, &c.reference).await {
        Ok(Approved::Reissued { certificate, .. }) => page::see_other(&format!(
            "/clinic/records/{}/certificate",
            certificate.dose_record_id
        )),
        Ok(Approved::DoseToEnter { .. }) => page::message_page(
            lang,
            StatusCode::OK,
            t.corr_status_approved,
            t.corr_dose_to_enter,
            Some(&session),
        ),
        Err(e) => decision_error(lang, &session, e),
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ReasonForm {
    reason: String,
}

/// `POST /clinic/corrections/{reference}/reject`: with a reason, told to the citizen.
async fn reject(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    posted: Posted<ReasonForm>,
) -> Response {
    let (form, session, lang) = match posted.signed_in() {
        Ok(p) => p,
        Err(response) => return response,
    };
    let t = lang.texts();
    let c = match own_report(&state, lang, &session, &reference).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let reason = form.reason.trim();
    if reason.is_empty() || reason.chars().count() > flow::MAX_REASON_CHARS {
        let errors = [FieldError {
            field: "reason",
            message: t.corr_err_reason.to_owned(),
        }];
        return show_review(
            &state,
            lang,
            &session,
            c,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match flow::close(
        &state.app.storage,
        session.staff,
        &c.reference,
        Closing::Reject,
        reason,
    )
    .await
    {
        Ok(_) => page::message_page(
            lang,
            StatusCode::OK,
            t.corr_status_rejected,
            t.corr_rejected_text,
            Some(&session),
        ),
        Err(e) => decision_error(lang, &session, e),
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RevokeForm {
    reason: String,
}

/// The revocation form of a certificate's page.
pub(crate) fn revoke_form(t: &Texts, session: &Session, record_id: i64) -> Markup {
    html! {
        details.revoke.no-print {
            summary { (t.revoke_title) }
            p.hint { (t.revoke_hint) }
            form method="post" action={ "/clinic/records/" (record_id) "/revoke" } {
                input type="hidden" name="csrf" value=(session.csrf_token);
                (radios("reason", t.revoke_reason, &[("error", t.revoke_error), ("fraud", t.revoke_fraud)], "", &[]))
                button.button.button-warning type="submit" { (t.revoke_submit) }
            }
        }
    }
}

/// `POST /clinic/records/{id}/revoke`: the certificate revoked without replacement.
async fn revoke(
    State(state): State<WebState>,
    Path(id): Path<String>,
    posted: Posted<RevokeForm>,
) -> Response {
    let (form, session, lang) = match posted.signed_in() {
        Ok(p) => p,
        Err(response) => return response,
    };
    let t = lang.texts();
    let (_, c) = match own_certificate(&state, lang, &session, &id).await {
        Ok((r, Some(c))) => (r, c),
        Ok((_, None)) => return page::not_found(lang, Some(&session)),
        Err(response) => return response,
    };
    let reason = match RevocationReason::parse(&form.reason) {
        Some(r @ (RevocationReason::Error | RevocationReason::Fraud)) => r,
        _ => {
            return page::message_page(
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                t.revoke_title,
                t.revoke_choose_reason,
                Some(&session),
            );
        }
    };
    match flow::revoke(&state.app.storage, session.staff, &c.uvci, reason).await {
        Ok(_) => page::message_page(
            lang,
            StatusCode::OK,
            t.revoked_title,
            &fill(t.revoked_text, &[("uvci", &c.uvci)]),
            Some(&session),
        ),
        Err(WorkflowError::CertificateMissing) => page::forbidden(lang, Some(&session)),
        Err(e) => page::failed(lang, "REVOKE", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::VI;

    #[test]
    fn a_report_form_needs_the_field_of_its_kind() {
        let base = ReportForm {
            uvci: "URN:UVCI:01:VN:X".into(),
            hdob_day: "1".into(),
            hdob_month: "2".into(),
            hdob_year: "1990".into(),
            kind: "name".into(),
            ..ReportForm::default()
        };
        let errors = base.to_request(&VI).unwrap_err();
        assert_eq!(errors[0].field, "new_full_name");
        let named = ReportForm {
            new_full_name: " Trần Văn Đức ".into(),
            ..base.clone()
        };
        let req = named.to_request(&VI).unwrap();
        assert_eq!(req.kind, "name");
        assert_eq!(req.proposed.full_name.as_deref(), Some("Trần Văn Đức"));
        let unknown = ReportForm {
            kind: "missing_dose".into(),
            ..base.clone()
        };
        assert_eq!(unknown.to_request(&VI).unwrap_err()[0].field, "kind");
        let dose = ReportForm {
            kind: "dose_details".into(),
            ..base
        };
        assert_eq!(dose.to_request(&VI).unwrap_err()[0].field, "ndate");
    }
}
