//! The citizen portal (`/`): the lookup form and the certificate it finds.
//!
//! It runs the workflow's lookup ([`vaxpass_issuer_workflow::lookup::lookup`]) with the API's
//! limiter and the same answer-time floor as `POST /api/v1/lookup`: every answer (found, any
//! miss, limited) goes out no sooner than the floor plus jitter after the form was read, and
//! every miss is the same page with the same message. The certificate page embeds its QR PNG
//! as a `data:` URL for the download, so nothing about the person is ever in a URL.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use maud::html;
use serde::Deserialize;
use vaxpass_issuer_issuance::qr::{self, QrOptions};
use vaxpass_issuer_workflow::lookup::{LookupAnswer, LookupRequest};

use crate::WebState;
use crate::clinic::{Holder, certificate_block};
use crate::forms::{Posted, Text, date_fields, join_date, radios};
use crate::i18n::{Lang, fill};
use crate::page::{
    self, Chrome, FieldError, error_summary, html_response, layout, message_summary,
};
use crate::session::{ClientOf, anonymous_page};

pub(crate) fn router() -> Router<WebState> {
    Router::new()
        .route("/", get(form_page))
        .route("/lookup", post(lookup))
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct LookupForm {
    full_name: String,
    #[serde(rename = "dob-day")]
    dob_day: String,
    #[serde(rename = "dob-month")]
    dob_month: String,
    #[serde(rename = "dob-year")]
    dob_year: String,
    sex: String,
    id_number: String,
    #[serde(rename = "last-day")]
    last_day: String,
    #[serde(rename = "last-month")]
    last_month: String,
    #[serde(rename = "last-year")]
    last_year: String,
}

/// The lookup page: the form as typed, the field errors, and the one message of a miss.
fn lookup_page(
    state: &WebState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    form: &LookupForm,
    errors: &[FieldError],
    message: Option<&str>,
) -> Response {
    let t = lang.texts();
    let chrome = Chrome {
        lang,
        title: t.portal_title,
        path: "/",
        session: None,
        error: !errors.is_empty() || message.is_some(),
    };
    let full_name = Text {
        hint: Some(t.full_name_hint),
        autocomplete: Some("name"),
        max_length: 180,
        ..Text::new("full_name", t.full_name, &form.full_name)
    };
    let id_number = Text {
        max_length: 20,
        width: "w-20ch",
        ..Text::new("id_number", t.lookup_id_number, &form.id_number)
    };
    let body = |csrf: &str| {
        html! {
            div.narrow {
                (error_summary(t, errors))
                (message_summary(t, message))
                h1 { (t.portal_title) }
                p.lead { (t.portal_intro) }
                form.stack method="post" action="/lookup" novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    (full_name.render(errors))
                    (date_fields(t, "dob", t.date_of_birth, None, (&form.dob_day, &form.dob_month, &form.dob_year), errors))
                    (radios("sex", t.sex, &[("M", t.sex_male), ("F", t.sex_female)], &form.sex, errors))
                    (id_number.render(errors))
                    (date_fields(t, "last", t.last_dose_date, None, (&form.last_day, &form.last_month, &form.last_year), errors))
                    button.button type="submit" { (t.lookup_submit) }
                }
                p { a href="/corrections" { (t.corr_portal_link) } }
                p.staff-link { a href="/clinic/sign-in" { (t.staff_link) } }
            }
        }
    };
    anonymous_page(state, headers, status, &chrome, body)
}

/// `GET /`.
async fn form_page(State(state): State<WebState>, lang: Lang, headers: HeaderMap) -> Response {
    lookup_page(
        &state,
        &headers,
        lang,
        StatusCode::OK,
        &LookupForm::default(),
        &[],
        None,
    )
}

/// `POST /lookup`: the answer, no sooner than the lookup's answer-time floor.
async fn lookup(
    State(state): State<WebState>,
    ClientOf(client): ClientOf,
    headers: HeaderMap,
    posted: Posted<LookupForm>,
) -> Response {
    at_answer_floor(&state, answer(&state, client, &headers, posted)).await
}

/// `answer`, sent no sooner than the lookup's answer-time floor (plus jitter) after now: the
/// portal's forms that identify a person answer a hit and every miss in the same time.
pub(crate) async fn at_answer_floor(
    state: &WebState,
    answer: impl std::future::Future<Output = Response>,
) -> Response {
    let deadline = state
        .app
        .lookup_limiter
        .answer_deadline(tokio::time::Instant::now());
    let answer = answer.await;
    tokio::time::sleep_until(deadline).await;
    answer
}

async fn answer(
    state: &WebState,
    client: vaxpass_issuer_workflow::ratelimit::ClientKey,
    headers: &HeaderMap,
    posted: Posted<LookupForm>,
) -> Response {
    let Posted { form, lang, .. } = posted;
    let t = lang.texts();
    // Only what the person can fix by looking at the form: a date that is not a date. Every
    // other miss is the one message below.
    let dob = join_date(&form.dob_day, &form.dob_month, &form.dob_year, false);
    let last = join_date(&form.last_day, &form.last_month, &form.last_year, false);
    let mut errors = Vec::new();
    if dob.is_none() {
        errors.push(FieldError {
            field: "dob",
            message: t.err_lookup_date_of_birth.to_owned(),
        });
    }
    if last.is_none() {
        errors.push(FieldError {
            field: "last",
            message: t.err_lookup_last_dose.to_owned(),
        });
    }
    let (Some(dob), Some(last)) = (dob, last) else {
        return lookup_page(
            state,
            headers,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
            None,
        );
    };
    let req = LookupRequest {
        full_name: form.full_name.clone(),
        date_of_birth: dob,
        sex: form.sex.clone(),
        id_number: form.id_number.clone(),
        last_dose_date: last,
    };
    let app = &state.app;
    match vaxpass_issuer_workflow::lookup::lookup(
        &app.storage,
        &app.lookup_limiter,
        client,
        &req,
        app.clock.now(),
    )
    .await
    {
        Ok(LookupAnswer::Found(c)) => {
            app.metrics
                .lookup_attempt(vaxpass_issuer_api::metrics::LookupOutcome::Found);
            found(lang, &c)
        }
        Ok(LookupAnswer::NoMatch) => {
            app.metrics
                .lookup_attempt(vaxpass_issuer_api::metrics::LookupOutcome::NotFound);
            lookup_page(
                state,
                headers,
                lang,
                StatusCode::NOT_FOUND,
                &form,
                &[],
                Some(t.lookup_no_match),
            )
        }
        Ok(LookupAnswer::Limited(limited)) => {
            app.metrics
                .lookup_attempt(vaxpass_issuer_api::metrics::LookupOutcome::RateLimited);
            let minutes = limited.retry_after_secs.div_ceil(60).to_string();
            let message = fill(t.lookup_limited, &[("minutes", &minutes)]);
            let mut response = lookup_page(
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
                axum::http::HeaderValue::from(limited.retry_after_secs),
            );
            response
        }
        Err(e) => page::failed(lang, "LOOKUP", &e),
    }
}

/// The certificate found: a large QR, the holder, and the PNG to download.
fn found(lang: Lang, c: &vaxpass_issuer_store::Certificate) -> Response {
    let t = lang.texts();
    let png = match qr::render_png(
        &c.hc1,
        &QrOptions {
            module_px: 8,
            ..QrOptions::default()
        },
    ) {
        Ok(png) => png,
        Err(e) => return page::failed(lang, "QR", &e),
    };
    let data_url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    );
    let holder = Holder::of(c);
    let pdf = match crate::clinic::paper_pdf(c, &holder) {
        Ok(pdf) => pdf,
        Err(e) => return page::failed(lang, "PDF", &e),
    };
    let pdf_url = format!(
        "data:application/pdf;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(pdf)
    );
    let chrome = Chrome {
        lang,
        title: t.portal_cert_title,
        path: "/",
        session: None,
        error: false,
    };
    let download = html! {
        a.button href=(pdf_url) download="vaxpass.pdf" { (t.download_pdf) }
        " "
        a.button.button-secondary href=(data_url) download="vaxpass.png" { (t.download_png) }
        p.hint { (t.print_hint) }
    };
    let body = html! {
        h1.no-print { (t.portal_cert_title) }
        p.lead.no-print { (t.portal_cert_intro) }
        div.portal-cert { (certificate_block(t, c, &holder, download)) }
        p.no-print { a href="/" { (t.new_lookup) } " · " a href="/corrections" { (t.corr_portal_link) } }
    };
    html_response(StatusCode::OK, layout(&chrome, body))
}
