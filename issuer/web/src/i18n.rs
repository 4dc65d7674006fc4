//! The two languages of the pages and their texts.
//!
//! The texts come from `i18n/vi.txt` and `i18n/en.txt`, made into [`Texts`] (a field per key)
//! by `build.rs`, which fails the build when the two catalogues do not have the same keys and
//! the same `{placeholders}`.

use axum::extract::{FromRequestParts, Path, RawQuery};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/texts.rs"));

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese (the default).
    #[default]
    Vi,
    /// English.
    En,
}

/// The cookie that keeps the chosen language.
pub const LANG_COOKIE: &str = "lang";

impl Lang {
    /// `vi` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The language of a code (`vi`, `en`).
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Its texts.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }

    /// The language of a request: `?lang=` first, then the [`LANG_COOKIE`], else Vietnamese.
    pub fn of(headers: &HeaderMap, query: Option<&str>) -> Lang {
        let from_query = query.and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == "lang")
                .and_then(|(_, v)| Lang::parse(v))
        });
        from_query
            .or_else(|| crate::session::cookie(headers, LANG_COOKIE).and_then(Lang::parse))
            .unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::of(&parts.headers, parts.uri.query()))
    }
}

/// `template` with each `{name}` replaced by its value.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A path of this site to go back to: starts with one `/`, printable ASCII, short; anything
/// else is `/` (no open redirect).
pub(crate) fn local_path(back: Option<&str>) -> &str {
    match back {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= 200
                && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            p
        }
        _ => "/",
    }
}

/// `GET /lang/{code}?back=/path`: keeps the language in a cookie and goes back to the page.
pub(crate) async fn switch(Path(code): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let back = query.as_deref().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "back"))
            .map(|(_, v)| v)
    });
    let location = local_path(back.as_deref()).to_owned();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
        lang.code()
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_have_every_key() {
        for key in KEYS {
            assert!(VI.get(key).is_some_and(|t| !t.is_empty()), "vi: {key}");
            assert!(EN.get(key).is_some_and(|t| !t.is_empty()), "en: {key}");
        }
        assert_eq!(VI.html_lang, "vi");
        assert_eq!(EN.html_lang, "en");
        assert_eq!(VI.full_name, "Họ và tên");
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(fill(VI.dose_of, &[("n", "2"), ("total", "3")]), "Mũi 2/3");
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/clinic/records")), "/clinic/records");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "", "x"] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}
