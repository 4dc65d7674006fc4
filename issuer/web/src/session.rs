//! Staff sign-in and sessions: the cookies, the signed-in extractor, the sign-in limits, and
//! the sign-in and sign-out pages.
//!
//! - The session cookie [`SESSION_COOKIE`] holds 32 random bytes (hex); the store keeps only
//!   their SHA-256 ([`vaxpass_issuer_store::accounts`]). `HttpOnly; SameSite=Strict; Path=/`,
//!   `Secure` when the service speaks TLS; no `Max-Age` (it ends with the browser), and the
//!   server ends it after [`WebConfig::session_idle_secs`] without use or
//!   [`WebConfig::session_lifetime_secs`] after sign-in, whichever comes first.
//! - Sign-in attempts count against the user name and against the client's network before
//!   the password is checked (`SignInLimiter`); an unknown user name costs the same Argon2id
//!   check as a known one, and every failure gets the same message.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use vaxpass_issuer_api::lookup::Client;
use vaxpass_issuer_store::StorageError;
use vaxpass_issuer_store::accounts::Session;
use vaxpass_issuer_workflow::ratelimit::{ClientKey, Limited, Limiter, Rate};

use crate::forms::{Empty, Posted, Text};
use crate::i18n::{Lang, fill};
use crate::page::{self, Chrome, FieldError, error_summary, html_response, layout};
use crate::{WebConfig, WebState};

/// The session cookie.
pub const SESSION_COOKIE: &str = "vaxpass_session";
/// The cookie of the anonymous forms' CSRF token (double submit).
pub const CSRF_COOKIE: &str = "vaxpass_csrf";
/// A session's last use is written again when it is older than this (seconds): the idle
/// expiry is exact to within this, at one write per this long per active session.
const TOUCH_AFTER_SECS: i64 = 60;

pub(crate) fn router() -> Router<WebState> {
    Router::new()
        .route("/clinic/sign-in", get(sign_in_page).post(sign_in))
        .route("/clinic/sign-out", axum::routing::post(sign_out))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// 32 random bytes as hex.
pub(crate) fn random_token() -> String {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// A `Set-Cookie` value for this site's cookies.
fn set_cookie(config: &WebConfig, name: &str, value: &str, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if config.secure_cookies {
        c.push_str("; Secure");
    }
    c
}

/// The anonymous forms' CSRF token: the request's cookie if it has a good one, else a new one
/// with the `Set-Cookie` to send.
pub(crate) fn anonymous_csrf(
    state: &WebState,
    headers: &HeaderMap,
) -> (String, Option<HeaderValue>) {
    match cookie(headers, CSRF_COOKIE) {
        Some(c) if c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (c.to_owned(), None)
        }
        _ => {
            let token = random_token();
            let header =
                HeaderValue::from_str(&set_cookie(&state.config, CSRF_COOKIE, &token, None)).ok();
            (token, header)
        }
    }
}

/// An anonymous form's page with `status`: `body` gets the form's CSRF token, and the answer
/// sets its cookie when the request had none.
pub(crate) fn anonymous_page(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    chrome: &Chrome<'_>,
    body: impl FnOnce(&str) -> maud::Markup,
) -> Response {
    let (csrf, set) = anonymous_csrf(state, headers);
    let mut response = html_response(status, layout(chrome, body(&csrf)));
    if let Some(v) = set {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The live session of the request's cookie, if any; records its use when the last one is
/// older than a minute.
///
/// # Errors
/// [`StorageError`] when the database fails.
pub(crate) async fn current(
    state: &WebState,
    headers: &HeaderMap,
) -> Result<Option<Session>, StorageError> {
    let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| t.len() == 64) else {
        return Ok(None);
    };
    let storage = &state.app.storage;
    let Some(session) = storage
        .session(token, state.config.session_idle_secs)
        .await?
    else {
        return Ok(None);
    };
    if state.app.clock.now() - session.last_seen_at >= TOUCH_AFTER_SECS {
        storage.touch_session(session.id).await?;
    }
    Ok(Some(session))
}

/// A signed-in staff member; otherwise the request goes to the sign-in page.
pub(crate) struct SignedIn(pub(crate) Session);

impl FromRequestParts<WebState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let lang = Lang::of(&parts.headers, parts.uri.query());
        match current(state, &parts.headers).await {
            Ok(Some(s)) => Ok(SignedIn(s)),
            Ok(None) => Err(page::see_other("/clinic/sign-in")),
            Err(e) => Err(page::failed(lang, "SESSION", &e)),
        }
    }
}

/// The client's rate-limit key, as the API's lookup reads it.
pub(crate) struct ClientOf(pub(crate) ClientKey);

impl FromRequestParts<WebState> for ClientOf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let Client(key) = Client::from_request_parts(parts, &state.app).await?;
        Ok(ClientOf(key))
    }
}

/// Sign-in attempts: per user name and per client network.
pub(crate) struct SignInLimiter {
    per_user: Limiter<String>,
    per_network: Limiter<ClientKey>,
}

impl SignInLimiter {
    /// The limits of `config`, in the database's shared buckets when `shared` (several
    /// replicas on one PostgreSQL database), else in this process.
    pub(crate) fn new(
        config: &WebConfig,
        shared: Option<&vaxpass_issuer_store::ratelimit::SharedBuckets>,
    ) -> SignInLimiter {
        let (user_burst, user_every) = config.sign_in_per_user;
        let (net_burst, net_every) = config.sign_in_per_network;
        let mut per_user = Limiter::new(Rate::new(user_burst, 1, user_every), 100_000);
        let mut per_network = Limiter::new(Rate::new(net_burst, 1, net_every), 100_000);
        if let Some(shared) = shared {
            per_user = per_user.shared(shared.clone(), "sign_in.user");
            per_network = per_network.shared(shared.clone(), "sign_in.network");
        }
        SignInLimiter {
            per_user,
            per_network,
        }
    }

    /// Takes one attempt for the network, then for the user name.
    async fn check(&self, client: ClientKey, username: &str, now: i64) -> Result<(), Limited> {
        self.per_network.take(&client.network(), now).await?;
        self.per_user.take(&username.to_owned(), now).await
    }
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The sign-in page, with the user name typed and an error, if any.
fn sign_in_form(
    state: &WebState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    username: &str,
    error: Option<String>,
) -> Response {
    let t = lang.texts();
    let errors: Vec<FieldError> = error
        .into_iter()
        .map(|message| FieldError {
            field: "username",
            message,
        })
        .collect();
    let chrome = Chrome {
        lang,
        title: t.sign_in_title,
        path: "/clinic/sign-in",
        session: None,
        error: !errors.is_empty(),
    };
    let user = Text {
        autocomplete: Some("username"),
        max_length: 64,
        ..Text::new("username", t.username, username)
    };
    let password = Text {
        autocomplete: Some("current-password"),
        input_type: "password",
        max_length: 256,
        ..Text::new("password", t.password, "")
    };
    let body = |csrf: &str| {
        html! {
            div.narrow {
                (error_summary(t, &errors))
                h1 { (t.sign_in_title) }
                p.lead { (t.sign_in_intro) }
                form method="post" action="/clinic/sign-in" novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    (user.render(&errors))
                    (password.render(&[]))
                    button.button type="submit" { (t.sign_in) }
                }
            }
        }
    };
    anonymous_page(state, headers, status, &chrome, body)
}

/// `GET /clinic/sign-in`.
async fn sign_in_page(State(state): State<WebState>, lang: Lang, headers: HeaderMap) -> Response {
    match current(&state, &headers).await {
        Ok(Some(_)) => page::see_other("/clinic"),
        Ok(None) => sign_in_form(&state, &headers, lang, StatusCode::OK, "", None),
        Err(e) => page::failed(lang, "SESSION", &e),
    }
}

/// `POST /clinic/sign-in`: limits, then the password, then a new session.
async fn sign_in(
    State(state): State<WebState>,
    ClientOf(client): ClientOf,
    headers: HeaderMap,
    posted: Posted<SignInForm>,
) -> Response {
    let Posted { form, lang, .. } = posted;
    let t = lang.texts();
    let now = state.app.clock.now();
    let username = crate::accounts::normalise_username(&form.username);
    // The limiter's key: the user name as stored, or what was typed, cut to the longest user
    // name (the limiter's memory stays bounded whatever is posted).
    let key = username.clone().unwrap_or_else(|| {
        form.username
            .trim()
            .to_lowercase()
            .chars()
            .take(crate::accounts::MAX_USERNAME_CHARS)
            .collect()
    });
    if let Err(limited) = state.sign_in.check(client, &key, now).await {
        let minutes = limited.retry_after_secs.div_ceil(60).to_string();
        let message = fill(t.sign_in_limited, &[("minutes", &minutes)]);
        return sign_in_form(
            &state,
            &headers,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            &form.username,
            Some(message),
        );
    }
    let credentials = match &username {
        Some(name) => match state.app.storage.credentials(name).await {
            Ok(c) => c,
            Err(e) => return page::failed(lang, "SIGN_IN", &e),
        },
        None => None,
    };
    let hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let password = form.password;
    let verified = tokio::task::spawn_blocking(move || {
        crate::accounts::verify_password(&password, hash.as_deref())
    })
    .await
    .unwrap_or(false);
    let account = credentials
        .map(|c| c.account)
        .filter(|a| verified && a.disabled_at.is_none());
    let Some(account) = account else {
        return sign_in_form(
            &state,
            &headers,
            lang,
            StatusCode::UNAUTHORIZED,
            &form.username,
            Some(t.sign_in_failed.to_owned()),
        );
    };
    let token = random_token();
    if let Err(e) = state
        .app
        .storage
        .create_session(account.id, &token, state.config.session_lifetime_secs)
        .await
    {
        return page::failed(lang, "SIGN_IN", &e);
    }
    let mut response = page::see_other("/clinic");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&state.config, SESSION_COOKIE, &token, None)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /clinic/sign-out`: ends the session and clears the cookie.
async fn sign_out(
    State(state): State<WebState>,
    headers: HeaderMap,
    posted: Posted<Empty>,
) -> Response {
    let Posted { lang, .. } = posted;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = state.app.storage.revoke_session(token).await {
            return page::failed(lang, "SIGN_OUT", &e);
        }
    }
    let mut response = page::see_other("/clinic/sign-in");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&state.config, SESSION_COOKIE, "", Some(0))) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        let plain = WebConfig::default();
        let tls = WebConfig {
            secure_cookies: true,
            ..WebConfig::default()
        };
        assert_eq!(
            set_cookie(&plain, SESSION_COOKIE, "ab", None),
            "vaxpass_session=ab; Path=/; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            set_cookie(&tls, SESSION_COOKIE, "", Some(0)),
            "vaxpass_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("lang=en; vaxpass_session=x1; other=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("x1"));
        assert_eq!(cookie(&headers, "lang"), Some("en"));
        assert_eq!(cookie(&headers, "vaxpass"), None);
    }
}
