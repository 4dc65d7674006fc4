//! Posted forms (size-bounded, CSRF-checked before anything else) and the form widgets.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use vaxpass_issuer_store::accounts::Session;

use crate::WebState;
use crate::i18n::{Lang, Texts};
use crate::page::{self, FieldError, error_of};
use crate::session::{self, CSRF_COOKIE, cookie};

/// The largest form body read (the intake form is well under 2 KiB).
pub(crate) const MAX_FORM_BYTES: usize = 16 * 1024;

/// A posted form whose CSRF token was checked, with the session it came with (if any).
pub(crate) struct Posted<T> {
    pub(crate) form: T,
    pub(crate) session: Option<Session>,
    pub(crate) lang: Lang,
}

impl<T> Posted<T> {
    /// The form of a signed-in staff member with their session, or the way to the sign-in
    /// page.
    // The error is the answer itself, handed straight back by the handler (as the extractors'
    // rejections are): boxing it would only move the allocation.
    #[allow(clippy::result_large_err)]
    pub(crate) fn signed_in(self) -> Result<(T, Session, Lang), Response> {
        match self.session {
            Some(session) => Ok((self.form, session, self.lang)),
            None => Err(page::see_other("/clinic/sign-in")),
        }
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct Empty {}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Equal, in a time that depends on the lengths only.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl<T: DeserializeOwned + Send> FromRequest<WebState> for Posted<T> {
    type Rejection = Response;

    /// Reads at most [`MAX_FORM_BYTES`], then checks the `csrf` field against the session's
    /// token or the anonymous form cookie (either), then parses the form. A missing or wrong
    /// token is a 403 page and nothing else happens.
    async fn from_request(req: Request, state: &WebState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let lang = Lang::of(&parts.headers, parts.uri.query());
        let t = lang.texts();
        let bad_form =
            |status| page::message_page(lang, status, t.csrf_title, t.bad_form_text, None);
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| bad_form(StatusCode::PAYLOAD_TOO_LARGE))?;
        let session = session::current(state, &parts.headers)
            .await
            .map_err(|e| page::failed(lang, "SESSION", &e))?;
        let given = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
            .map(|c| c.csrf)
            .unwrap_or_default();
        let by_session = session
            .as_ref()
            .is_some_and(|s| same(&s.csrf_token, &given));
        let by_cookie =
            cookie(&parts.headers, CSRF_COOKIE).is_some_and(|c| c.len() >= 32 && same(c, &given));
        if given.is_empty() || !(by_session || by_cookie) {
            return Err(page::message_page(
                lang,
                StatusCode::FORBIDDEN,
                t.csrf_title,
                t.csrf_text,
                session.as_ref(),
            ));
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|_| bad_form(StatusCode::BAD_REQUEST))?;
        Ok(Posted {
            form,
            session,
            lang,
        })
    }
}

/// A text input with its label above, its hint and its error.
pub(crate) struct Text<'a> {
    pub(crate) id: &'static str,
    pub(crate) label: &'a str,
    pub(crate) hint: Option<&'a str>,
    pub(crate) value: &'a str,
    pub(crate) autocomplete: Option<&'a str>,
    pub(crate) input_type: &'a str,
    pub(crate) max_length: usize,
    pub(crate) width: &'a str,
}

impl<'a> Text<'a> {
    pub(crate) fn new(id: &'static str, label: &'a str, value: &'a str) -> Text<'a> {
        Text {
            id,
            label,
            hint: None,
            value,
            autocomplete: None,
            input_type: "text",
            max_length: 200,
            width: "w-full",
        }
    }

    pub(crate) fn render(&self, errors: &[FieldError]) -> Markup {
        let error = error_of(errors, self.id);
        let hint_id = format!("{}-hint", self.id);
        let error_id = format!("{}-error", self.id);
        let described = match (self.hint.is_some(), error.is_some()) {
            (true, true) => Some(format!("{hint_id} {error_id}")),
            (true, false) => Some(hint_id.clone()),
            (false, true) => Some(error_id.clone()),
            (false, false) => None,
        };
        html! {
            div.field.field-error[error.is_some()] {
                label for=(self.id) { (self.label) }
                @if let Some(h) = self.hint { p.hint id=(hint_id) { (h) } }
                @if let Some(e) = error { p.error-message id=(error_id) { (e) } }
                input id=(self.id) name=(self.id) type=(self.input_type) class=(self.width)
                    value=(self.value) maxlength=(self.max_length)
                    autocomplete=[self.autocomplete] spellcheck="false"
                    aria-describedby=[described] aria-invalid=[error.map(|_| "true")];
            }
        }
    }
}

/// A date as three inputs (day, month, year) in a fieldset; the ids are `{prefix}-day`,
/// `-month`, `-year`, and an error is linked to the day's.
pub(crate) fn date_fields(
    t: &Texts,
    prefix: &'static str,
    legend: &str,
    hint: Option<&str>,
    (day, month, year): (&str, &str, &str),
    errors: &[FieldError],
) -> Markup {
    let error = error_of(errors, prefix);
    let hint_id = format!("{prefix}-hint");
    let error_id = format!("{prefix}-error");
    let part = |name: &str, label: &str, value: &str, len: usize, class: &str| {
        let id = format!("{prefix}-{name}");
        html! {
            div.date-part {
                label for=(id) { (label) }
                input id=(id) name=(id) type="text" inputmode="numeric" class=(class)
                    value=(value) maxlength=(len) pattern="[0-9]*"
                    aria-invalid=[error.map(|_| "true")];
            }
        }
    };
    html! {
        div.field.field-error[error.is_some()] id=(prefix) tabindex="-1" {
            fieldset aria-describedby=[hint.map(|_| hint_id.clone())] {
                legend { (legend) }
                @if let Some(h) = hint { p.hint id=(hint_id) { (h) } }
                @if let Some(e) = error { p.error-message id=(error_id) { (e) } }
                div.date-row {
                    (part("day", t.day, day, 2, "w-2"))
                    (part("month", t.month, month, 2, "w-2"))
                    (part("year", t.year, year, 4, "w-4"))
                }
            }
        }
    }
}

/// Radio buttons in a fieldset.
pub(crate) fn radios(
    id: &'static str,
    legend: &str,
    options: &[(&str, &str)],
    selected: &str,
    errors: &[FieldError],
) -> Markup {
    let error = error_of(errors, id);
    html! {
        div.field.field-error[error.is_some()] id=(id) tabindex="-1" {
            fieldset {
                legend { (legend) }
                @if let Some(e) = error { p.error-message { (e) } }
                div.radios {
                    @for (value, label) in options {
                        @let input_id = format!("{id}-{value}");
                        div.radio {
                            input type="radio" id=(input_id) name=(id) value=(value)
                                checked[*value == selected];
                            label for=(input_id) { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// A date from three typed parts: `yyyy-mm-dd`, or with `partial`, `yyyy-mm` / `yyyy` when the
/// day (and month) are empty. `None` when it is not a date of that form (the calendar check is
/// the domain's, on the result).
pub(crate) fn join_date(day: &str, month: &str, year: &str, partial: bool) -> Option<String> {
    let num = |s: &str, max_len: usize| {
        let s = s.trim();
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let y = num(year, 4).filter(|_| year.trim().len() == 4)?;
    match (day.trim().is_empty(), month.trim().is_empty()) {
        (true, true) if partial => Some(format!("{y:04}")),
        (true, false) if partial => Some(format!("{y:04}-{:02}", num(month, 2)?)),
        (false, false) => Some(format!("{y:04}-{:02}-{:02}", num(month, 2)?, num(day, 2)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_joined() {
        assert_eq!(
            join_date("7", "3", "1985", false).as_deref(),
            Some("1985-03-07")
        );
        assert_eq!(join_date("", "3", "1985", true).as_deref(), Some("1985-03"));
        assert_eq!(join_date("", "", "1985", true).as_deref(), Some("1985"));
        assert_eq!(join_date("", "", "1985", false), None);
        assert_eq!(join_date("7", "", "1985", true), None);
        assert_eq!(join_date("7", "3", "85", false), None);
        assert_eq!(join_date("x", "3", "1985", false), None);
        assert_eq!(join_date("123", "3", "1985", false), None);
    }

    #[test]
    fn comparison() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
