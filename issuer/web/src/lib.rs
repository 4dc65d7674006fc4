//! # vaxpass-issuer-web
//!
//! The issuer's web pages, server-rendered: the **clinic console** (`/clinic/…`: staff sign-in,
//! intake of a dose — typed, or filled from a photo of the CCCD card's QR code ([`cccd`]) —,
//! the registry match with each field's reason, confirmation, the certificate with its QR code
//! and its paper copy as a PDF ([`pdf`]), revocation, the clinic's records by status with a
//! search, the correction reports to review) and the **citizen portal** (`/`: the lookup of
//! one's certificate, its PDF; a correction report and its status). Vietnamese by default,
//! English by a switch; any other path is a 404 page. [`api_languages`] gives the JSON API's
//! errors a Vietnamese message when asked.
//!
//! ```no_run
//! # async fn f(state: vaxpass_issuer_api::AppState) {
//! use vaxpass_issuer_web::{WebConfig, router};
//! let app = vaxpass_issuer_api::app(state.clone()).merge(router(state, WebConfig::default()));
//! # let _ = app;
//! # }
//! ```
//!
//! ## Design
//! - **Templates: [maud].** The HTML is written in Rust macros checked at compile time
//!   (an unknown variable, an unclosed element or a missing text key does not build), every
//!   interpolation is escaped, and there are no template files to find at run time. It was
//!   chosen over askama for compile time on the project's 2-core machines: one small proc
//!   macro crate, no template parser run per file and no derive per page.
//! - **Texts:** one catalogue per language, `i18n/vi.txt` and `i18n/en.txt` (`key = text`),
//!   turned by `build.rs` into the struct [`i18n::Texts`] with a field per key: a key used in
//!   the code must exist, and the build fails when a key or a `{placeholder}` is in one
//!   language and not the other. The registry matcher's reason codes are keys too (a test
//!   checks that every code has a text). The language is the `lang` cookie (set by the
//!   switch, `/lang/{en|vi}`) or `?lang=`; Vietnamese otherwise.
//! - **No script.** Every form is a plain HTML form posted to the server (the CCCD photo as
//!   `multipart/form-data`); there is no JavaScript at all. Headers on every answer: `Content-Security-Policy: default-src 'self';
//!   script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self';
//!   frame-ancestors 'none'; base-uri 'none'`, `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`; every page `Cache-Control:
//!   no-store` (pages show personal data or carry form tokens). The one stylesheet is served
//!   under a name holding its hash ([`STYLESHEET_PATH`]) with `Cache-Control: public,
//!   max-age=31536000, immutable`.
//! - **Staff sign-in** ([`session`]): user name and password (Argon2id, [`accounts`]), a
//!   server-side session (only the SHA-256 of the cookie's random token is stored; cookie
//!   `HttpOnly; SameSite=Strict; Path=/`, `Secure` under TLS; idle and absolute expiry;
//!   sign-out revokes it), sign-in attempts limited per user name and per network
//!   ([`vaxpass_issuer_workflow::ratelimit`]).
//! - **CSRF:** every form carries a token, checked on every POST: the session's own token for
//!   signed-in pages, a random cookie token echoed in the form (double submit) for the
//!   anonymous forms (sign-in, lookup). A form without it is refused with a page that says
//!   so (403), before anything is done.
//! - **Use cases, not shortcuts:** the pages call the workflow crate
//!   ([`vaxpass_issuer_workflow::submission::parse`], [`vaxpass_issuer_workflow::submit`],
//!   [`vaxpass_issuer_workflow::confirm::confirm`], [`vaxpass_issuer_workflow::lookup::lookup`])
//!   exactly as the JSON API does, with the API's state ([`vaxpass_issuer_api::AppState`]):
//!   the same limits, registry, signer and audit trail.
//! - **No personal data in URLs or logs:** forms are POSTed, records are addressed by id, a
//!   correction is a form pre-filled from the stored record, and nothing here logs a field.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vaxpass_issuer_api::AppState;

pub mod accounts;
pub mod cccd;
mod clinic;
mod corrections;
mod forms;
pub mod i18n;
mod page;
pub mod pdf;
mod portal;
pub mod session;
mod vaccines;

pub use accounts::{AccountError, create_account, generate_password};

/// Settings of the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// Whether the cookies are `Secure` (the service speaks TLS).
    pub secure_cookies: bool,
    /// A session ends after this long without a request (default 30 minutes).
    pub session_idle_secs: i64,
    /// A session ends this long after sign-in, whatever its use (default 12 hours).
    pub session_lifetime_secs: i64,
    /// Sign-in attempts per user name: a burst, then one per this many seconds.
    pub sign_in_per_user: (u32, u32),
    /// Sign-in attempts per client network: a burst, then one per this many seconds.
    pub sign_in_per_network: (u32, u32),
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: false,
            session_idle_secs: 30 * 60,
            session_lifetime_secs: 12 * 3600,
            sign_in_per_user: (5, 180),
            sign_in_per_network: (30, 20),
        }
    }
}

/// The state of the pages: the API's state and the pages' own.
#[derive(Clone)]
pub(crate) struct WebState {
    pub(crate) app: AppState,
    pub(crate) config: Arc<WebConfig>,
    pub(crate) sign_in: Arc<session::SignInLimiter>,
}

/// The stylesheet.
const STYLESHEET: &str = include_str!("../static/style.css");

/// The path the stylesheet is served at: its name holds the first 16 hex digits of its
/// SHA-256, so that it can be cached for a year and a new version is a new URL.
pub static STYLESHEET_PATH: LazyLock<String> = LazyLock::new(|| {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(STYLESHEET.as_bytes());
    format!("/static/style-{}.css", &hex::encode(digest)[..16])
});

/// The pages' router (state applied), to merge beside the API's: `/` and `/lookup` (the
/// portal), `/clinic/…` (the console), `/lang/{code}` (the language switch) and the
/// stylesheet.
pub fn router(app: AppState, config: WebConfig) -> Router {
    let sign_in = Arc::new(session::SignInLimiter::new(
        &config,
        app.shared_limits.as_ref(),
    ));
    let state = WebState {
        app,
        config: Arc::new(config),
        sign_in,
    };
    Router::new()
        .merge(portal::router())
        .merge(clinic::router())
        .merge(corrections::router())
        .merge(session::router())
        .route("/lang/{code}", get(i18n::switch))
        .route(STYLESHEET_PATH.as_str(), get(stylesheet))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The Content-Security-Policy of every answer.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
    object-src 'none'";

/// The headers of every answer of the pages (see the crate documentation).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Any other path: the 404 page, in the request's language (the console's, when signed in).
async fn not_found(
    axum::extract::State(state): axum::extract::State<WebState>,
    lang: i18n::Lang,
    headers: axum::http::HeaderMap,
) -> Response {
    let session = session::current(&state, &headers).await.ok().flatten();
    page::not_found(lang, session.as_ref())
}

/// Whether a request's `Accept-Language` puts Vietnamese first (`vi`, `vi-VN`, by `q`).
pub fn prefers_vietnamese(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut best: Option<(f32, &str)> = None;
    for item in value.split(',').take(20) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if tag.is_empty() || q.is_nan() || q <= 0.0 {
            continue;
        }
        if best.is_none_or(|(b, _)| q > b) {
            best = Some((q, tag));
        }
    }
    best.is_some_and(|(_, tag)| {
        tag.split('-')
            .next()
            .is_some_and(|primary| primary.eq_ignore_ascii_case("vi"))
    })
}

/// The largest JSON error body rewritten by [`api_languages`] (the API's errors are a few
/// hundred bytes).
const MAX_API_ERROR_BYTES: usize = 16 * 1024;

/// Middleware for the JSON API (`/api/…`): when the request's `Accept-Language` puts
/// Vietnamese first, an error answer `{"code", "message"}` also gets `"message_vi"`, the
/// Vietnamese text of its `code` from the pages' catalogue (`api_…` keys); the English
/// `message` stays as it is. Every answer under `/api/` says `Vary: Accept-Language`.
/// `serve` layers it over the whole service.
pub async fn api_languages(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let vietnamese = api && prefers_vietnamese(request.headers());
    let mut response = next.run(request).await;
    if !api {
        return response;
    }
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept-language"));
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = axum::body::HttpBody::size_hint(response.body())
        .upper()
        .is_some_and(|n| n <= MAX_API_ERROR_BYTES as u64);
    if !vietnamese || !(status.is_client_error() || status.is_server_error()) || !json || !small {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_API_ERROR_BYTES).await else {
        // The size was checked above; a body that fails to read is a failed answer.
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, axum::body::Body::from(bytes)),
    };
    let text = value
        .get("code")
        .and_then(|c| c.as_str())
        .map(|code| format!("api_{}", code.to_ascii_lowercase()))
        .and_then(|key| i18n::VI.get(&key))
        .unwrap_or(i18n::VI.api_other);
    if let Some(obj) = value.as_object_mut() {
        obj.insert("message_vi".to_owned(), serde_json::Value::from(text));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(value.to_string()))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
        .into_response()
}
