//! The page shell (header, navigation, language switch, footer), the error summary and the
//! error pages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use vaxpass_issuer_store::accounts::Session;

use crate::STYLESHEET_PATH;
use crate::i18n::{Lang, Texts, fill};

/// What the shell of a page needs.
pub(crate) struct Chrome<'a> {
    pub(crate) lang: Lang,
    /// The page's own title (the `<title>` adds the site's name).
    pub(crate) title: &'a str,
    /// This page's path, where the language switch comes back to.
    pub(crate) path: &'a str,
    /// The signed-in staff member, if any: the console's navigation and the sign-out form.
    pub(crate) session: Option<&'a Session>,
    /// The page shows validation errors: the title starts with the error word.
    pub(crate) error: bool,
}

/// A whole page around `main`.
pub(crate) fn layout(c: &Chrome<'_>, main: Markup) -> Markup {
    let t = c.lang.texts();
    let title = if c.error {
        format!("{}: {} – {}", t.error_title_prefix, c.title, t.site_name)
    } else {
        format!("{} – {}", c.title, t.site_name)
    };
    let switch = format!(
        "/lang/{}?back={}",
        t.other_language_code,
        serde_urlencoded::to_string([("", c.path)])
            .map(|s| s.trim_start_matches('=').to_owned())
            .unwrap_or_default()
    );
    let home = if c.session.is_some() { "/clinic" } else { "/" };
    html! {
        (DOCTYPE)
        html lang=(t.html_lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href=(STYLESHEET_PATH.as_str());
                // No favicon request (it would be a 404 on every page).
                link rel="icon" href="data:,";
            }
            body {
                a.skip href="#main" { (t.skip_to_content) }
                header.site-header {
                    div.wrap.header-row {
                        a.brand href=(home) {
                            span.brand-mark aria-hidden="true" { "✚" }
                            span.brand-text {
                                span.brand-name { (t.site_name) }
                                span.brand-ministry { (t.ministry) }
                            }
                        }
                        nav.lang-switch aria-label=(t.language_label) {
                            a href=(switch) hreflang=(t.other_language_code) lang=(t.other_language_code) {
                                (t.other_language)
                            }
                        }
                    }
                }
                @if let Some(s) = c.session {
                    nav.console-nav aria-label=(t.clinic_console) {
                        div.wrap.console-row {
                            a href="/clinic/records/new" aria-current=[(c.path == "/clinic/records/new").then_some("page")] { (t.nav_new_record) }
                            a href="/clinic/records" aria-current=[(c.path == "/clinic/records").then_some("page")] { (t.nav_records) }
                            a href="/clinic/corrections" aria-current=[(c.path == "/clinic/corrections").then_some("page")] { (t.nav_corrections) }
                            span.account { (fill(t.signed_in_as, &[("user", &s.username)])) }
                            form.sign-out method="post" action="/clinic/sign-out" {
                                input type="hidden" name="csrf" value=(s.csrf_token);
                                button.link-button type="submit" { (t.sign_out) }
                            }
                        }
                    }
                }
                main #main .wrap tabindex="-1" { (main) }
                footer.site-footer {
                    div.wrap { p { (t.footer_text) } }
                }
            }
        }
    }
}

/// A field's validation error: the input's id and the message.
#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

/// The error summary at the top of a form: each error links to its field.
pub(crate) fn error_summary(t: &Texts, errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            // `autofocus`: the summary takes focus without any script, so it is read first.
            div.error-summary role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus {
                h2 #error-summary-title { (t.error_summary_title) }
                ul {
                    @for e in errors {
                        li { a href={ "#" (e.field) } { (e.message) } }
                    }
                }
            }
        }
    }
}

/// The one message of a form that is not about a field (a lookup that found nothing, a
/// limit), first on the page like the error summary.
pub(crate) fn message_summary(t: &Texts, message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            div.error-summary #form-message role="alert" tabindex="-1" autofocus {
                h2 { (t.error_summary_title) }
                p { (m) }
            }
        }
    }
}

/// The message of `field`'s error, if it has one.
pub(crate) fn error_of<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

/// A page as an HTML answer with `status`.
pub(crate) fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A page that says what went wrong and where to go from here.
pub(crate) fn message_page(
    lang: Lang,
    status: StatusCode,
    title: &str,
    text: &str,
    session: Option<&Session>,
) -> Response {
    let t = lang.texts();
    let home = if session.is_some() { "/clinic" } else { "/" };
    let chrome = Chrome {
        lang,
        title,
        path: "/",
        session,
        error: false,
    };
    html_response(
        status,
        layout(
            &chrome,
            html! {
                h1 { (title) }
                p.lead { (text) }
                p { a href=(home) { (t.back_home) } }
            },
        ),
    )
}

/// 403: a record of another clinic.
pub(crate) fn forbidden(lang: Lang, session: Option<&Session>) -> Response {
    let t = lang.texts();
    message_page(
        lang,
        StatusCode::FORBIDDEN,
        t.forbidden_title,
        t.forbidden_text,
        session,
    )
}

/// 404.
pub(crate) fn not_found(lang: Lang, session: Option<&Session>) -> Response {
    let t = lang.texts();
    message_page(
        lang,
        StatusCode::NOT_FOUND,
        t.not_found_title,
        t.not_found_text,
        session,
    )
}

/// 500 or 503: the text is fixed; what failed is logged (without personal data).
pub(crate) fn failed(lang: Lang, code: &'static str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(code, error = %error, "page failed");
    let t = lang.texts();
    message_page(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        t.error_title,
        t.error_text,
        None,
    )
}

/// `303 See Other` to `location` (a path of this site).
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// A date `yyyy-mm-dd` (or `yyyy-mm`, `yyyy`) as people write it here: `dd/mm/yyyy`.
pub(crate) fn show_date(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match parts.as_slice() {
        [y, m, d] => format!("{d}/{m}/{y}"),
        [y, m] => format!("{m}/{y}"),
        _ => iso.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_shown_day_first() {
        assert_eq!(show_date("1985-03-27"), "27/03/1985");
        assert_eq!(show_date("1985-03"), "03/1985");
        assert_eq!(show_date("1985"), "1985");
    }
}
