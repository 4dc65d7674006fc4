//! The web pages in process (`vaxpass_issuer_web::router` merged with the API, as `serve`
//! mounts them): real SQLite files (and PostgreSQL when `VAXPASS_TEST_POSTGRES_URL` is set,
//! a database per test), real Argon2id passwords, real signatures checked by the verifier
//! library, and a small cookie jar standing in for the browser. The browser itself is
//! `web_browser.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use vaxpass_issuer::api::{AppState, Config, app};
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::storage::{Actor, Role, Storage};
use vaxpass_issuer_web::{WebConfig, create_account};
use vaxpass_keys::Signer;
use vaxpass_verifier::{Timestamp, TrustStore, Verifier};

const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;
const PASSWORD: &str = "mật khẩu thử nghiệm 2026";

/// A browser stand-in: the router and a cookie jar.
struct Browser {
    app: Router,
    cookies: HashMap<String, String>,
}

/// An answer: status, headers, body text.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `value` of the first hidden input named `name`.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_owned()
    }

    /// The text of the `<textarea id="hc1">`.
    fn hc1(&self) -> String {
        let start = self.body.find("HC1:").expect("an HC1 string on the page");
        let end = self.body[start..].find('<').unwrap();
        self.body[start..start + end].to_owned()
    }
}

impl Browser {
    fn new(app: Router) -> Browser {
        Browser {
            app,
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: Request<Body>) -> Page {
        let (status, headers, bytes) = common::send(&self.app, req).await;
        for v in headers.get_all(header::SET_COOKIE) {
            let text = v.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if text.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, uri: &str) -> Page {
        let req = Request::get(uri)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    /// A GET whose answer is kept as bytes (downloads).
    async fn get_bytes(&mut self, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let req = Request::get(uri)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        let (status, headers, bytes) = common::send(&self.app, req).await;
        (status, headers, bytes.to_vec())
    }

    async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let req = Request::post(uri)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    async fn sign_in(&mut self, user: &str, password: &str) -> Page {
        let form = self.get("/clinic/sign-in").await;
        let csrf = form.hidden("csrf");
        self.post(
            "/clinic/sign-in",
            &[("csrf", &csrf), ("username", user), ("password", password)],
        )
        .await
    }
}

struct Env {
    app: Router,
    storage: Storage,
    signer: std::sync::Arc<dyn Signer>,
    persons: Vec<RegistryPerson>,
    clinic_b: i64,
    _keys: tempfile::TempDir,
    _db: Option<tempfile::TempDir>,
    pg: Option<common::PgDb>,
}

async fn env_at(url: &str, db: Option<tempfile::TempDir>, pg: Option<common::PgDb>) -> Env {
    let common::OneClinic {
        storage,
        persons,
        keys,
        signer,
        ..
    } = common::one_clinic(url, 60, 21, PKI_START, NOW).await;
    let actor = Actor::System("test".into());
    // Clinic A is the first clinic (id 1); clinic B another one.
    let clinic_b = storage.create_clinic("Clinic B", 1, &actor).await.unwrap();
    create_account(&storage, 1, "lan.a", PASSWORD, Role::Staff, &actor)
        .await
        .unwrap();
    create_account(&storage, clinic_b, "minh.b", PASSWORD, Role::Staff, &actor)
        .await
        .unwrap();
    let state = AppState::new(storage.clone(), signer.clone(), Config::default())
        .unwrap()
        .with_clock(|| NOW);
    // As `serve` mounts them: the API, the pages, and the API's Vietnamese messages.
    let app = app(state.clone())
        .merge(vaxpass_issuer_web::router(state, WebConfig::default()))
        .layer(axum::middleware::from_fn(vaxpass_issuer_web::api_languages));
    Env {
        app,
        storage,
        signer,
        persons,
        clinic_b,
        _keys: keys,
        _db: db,
        pg,
    }
}

async fn sqlite_env() -> Env {
    let (url, dir) = common::sqlite_url();
    env_at(&url, Some(dir), None).await
}

impl Env {
    async fn finish(self) {
        self.storage.close().await;
        if let Some(db) = self.pg {
            db.drop().await;
        }
    }

    /// A registry person whose name has diacritics, with that name written without them.
    fn person_and_misspelling(&self) -> (RegistryPerson, String) {
        let p = self
            .persons
            .iter()
            .find(|p| {
                matches!(p.id, vaxpass_issuer::identity::IdNumber::Cccd(_))
                    && !p.full_name.is_ascii()
            })
            .unwrap()
            .clone();
        let plain = vaxpass_issuer::names::strip_diacritics(&p.full_name);
        (p, plain)
    }
}

/// A PDF's QR code as the verifier's picture reader finds it on the page poppler renders, and
/// its text; `None` (saying so) without poppler-utils.
fn pdf_qr_and_text(pdf: &[u8]) -> Option<(String, String)> {
    let png = common::pdf_page_png(pdf)?;
    let qr = vaxpass_verifier::qr::decode_image(&png).expect("a QR code on the PDF's page");
    Some((qr, common::pdf_text(pdf)))
}

/// The intake form's fields for `p`, with `name` as the full name.
fn intake<'a>(
    csrf: &'a str,
    key: &'a str,
    p: &'a RegistryPerson,
    id: &'a str,
    name: &'a str,
    dob: &'a [String; 3],
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("key", key),
        ("id_kind", "national"),
        ("id_number", id),
        ("full_name", name),
        ("dob-day", &dob[2]),
        ("dob-month", &dob[1]),
        ("dob-year", &dob[0]),
        ("sex", p.sex.code()),
        ("vaccine", "EU/1/20/1528"),
        ("dose_number", "2"),
        ("series_total", "2"),
        ("date-day", "1"),
        ("date-month", "9"),
        ("date-year", "2021"),
    ]
}

fn dob_parts(p: &RegistryPerson) -> [String; 3] {
    let s = p.date_of_birth.to_string();
    let mut it = s.split('-').map(str::to_owned);
    [it.next().unwrap(), it.next().unwrap(), it.next().unwrap()]
}

/// The whole clinic and citizen flow on one backend.
async fn the_whole_flow(env: Env) {
    let (p, misspelt) = env.person_and_misspelling();
    let dob = dob_parts(&p);
    let id_text = p.id.to_string();
    let mut staff = Browser::new(env.app.clone());

    // Not signed in: the console sends to the sign-in page.
    let page = staff.get("/clinic/records/new").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/clinic/sign-in");

    // A wrong password: 401, the same message as for an unknown user, in Vietnamese.
    let page = staff.sign_in("lan.a", "not the password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(
        page.body
            .contains("Tên đăng nhập hoặc mật khẩu không đúng."),
        "{}",
        page.body
    );
    let unknown = staff.sign_in("nobody.here", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown
            .body
            .contains("Tên đăng nhập hoặc mật khẩu không đúng.")
    );

    // Signed in: a session cookie, HttpOnly, SameSite=Strict.
    let page = staff.sign_in("LAN.A", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let set = page
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(set.starts_with("vaxpass_session="), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP here: {set}");

    // The intake form, in Vietnamese, with its security headers.
    let form = staff.get("/clinic/records/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("Họ và tên") && form.body.contains("Ngày sinh"));
    assert!(form.body.contains("Giới tính") && form.body.contains("Số CCCD/CMND"));
    assert_eq!(form.headers["cache-control"], "no-store");
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(form.headers["x-content-type-options"], "nosniff");
    assert_eq!(form.headers["referrer-policy"], "no-referrer");
    assert!(!form.body.contains("<script"), "no script on any page");
    let csrf = form.hidden("csrf");
    let key = form.hidden("key");

    // A POST without the CSRF token is refused with a page that says so; nothing is stored.
    let mut fields = intake(&csrf, &key, &p, &id_text, &misspelt, &dob);
    fields.remove(0);
    let refused = staff.post("/clinic/records", &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("Biểu mẫu không hợp lệ"),
        "{}",
        refused.body
    );
    let wrong = staff
        .post(
            "/clinic/records",
            &intake("0".repeat(64).as_str(), &key, &p, &id_text, &misspelt, &dob),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(env.storage.get_dose_record(1).await.unwrap().is_none());

    // A field error: the summary first, the page title starts with the error word.
    let mut bad = intake(&csrf, &key, &p, &id_text, &misspelt, &dob);
    bad.retain(|(k, _)| *k != "sex");
    let page = staff.post("/clinic/records", &bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("<title>Lỗi: "), "{}", page.body);
    assert!(page.body.contains("Có lỗi") && page.body.contains("href=\"#sex\""));
    assert!(page.body.contains("Chọn giới tính"));

    // The misspelt name: a mismatch, its reason in Vietnamese, and the correction form.
    let page = staff
        .post(
            "/clinic/records",
            &intake(&csrf, &key, &p, &id_text, &misspelt, &dob),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let record_url = page.location().to_owned();
    let page = staff.get(&record_url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Không khớp"), "{}", page.body);
    assert!(
        page.body.contains("data-code=\"NAME_DIACRITICS_ONLY\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Họ tên chỉ khác tên đăng ký ở dấu"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&p.full_name),
        "the registry's spelling is not shown"
    );
    // The same record in English.
    let english = staff.get(&format!("{record_url}?lang=en")).await;
    assert!(
        english
            .body
            .contains("differs from the registered name only in diacritics")
    );

    // Corrected (a new form key from the correction form): verified, then confirmed.
    let key2 = page.hidden("key");
    assert_ne!(key2, key);
    let page = staff
        .post(
            "/clinic/records",
            &intake(&csrf, &key2, &p, &id_text, &p.full_name, &dob),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let verified_url = page.location().to_owned();
    let page = staff.get(&verified_url).await;
    assert!(page.body.contains("Kiểm tra trước khi ký"), "{}", page.body);
    let id: i64 = verified_url.rsplit('/').next().unwrap().parse().unwrap();
    let page = staff
        .post(&format!("/clinic/records/{id}/confirm"), &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cert_page = staff.get(page.location()).await;
    assert_eq!(cert_page.status, StatusCode::OK);
    assert!(cert_page.body.contains("<svg") && cert_page.body.contains("role=\"img\""));
    assert!(cert_page.body.contains(&format!(
        "aria-label=\"Mã QR hộ chiếu vắc xin của {}\"",
        p.full_name
    )));
    let hc1 = cert_page.hc1();

    // The HC1 on the page verifies with the signer's certificate.
    let store = TrustStore::from_der_certificates([env.signer.certificate_der()]).unwrap();
    let verified = Verifier::new(store)
        .verify(&hc1, Timestamp::from_unix_seconds(NOW + 60))
        .unwrap();
    let payload = verified.payload_json().unwrap();
    assert_eq!(payload["dob"], p.date_of_birth.to_string());

    // The PNG download.
    let png = staff.get(&format!("/clinic/records/{id}/qr.png")).await;
    assert_eq!(png.status, StatusCode::OK);
    assert_eq!(png.headers["content-type"], "image/png");
    assert!(
        png.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );

    // The PDF of the paper certificate: its QR (drawn as vectors) read back from the page as
    // poppler rasterises it, the same HC1; its text, Vietnamese first.
    let pdf = staff
        .get_bytes(&format!("/clinic/records/{id}/certificate.pdf"))
        .await;
    assert_eq!(pdf.0, StatusCode::OK);
    assert_eq!(pdf.1["content-type"], "application/pdf");
    assert!(
        pdf.1["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    if let Some((qr_text, text)) = pdf_qr_and_text(&pdf.2) {
        assert_eq!(
            qr_text, hc1,
            "the PDF's QR code holds the certificate's HC1"
        );
        assert!(text.contains("Chứng nhận tiêm chủng COVID-19"), "{text}");
        assert!(text.contains("COVID-19 vaccination certificate"), "{text}");
        assert!(
            text.contains(&p.full_name),
            "the holder's name, diacritics and all: {text}"
        );
        assert!(
            text.find("Ngày sinh").unwrap() < text.find("Date of birth").unwrap(),
            "Vietnamese first: {text}"
        );
    }

    // The list of the clinic's records, by status.
    let list = staff.get("/clinic/records?status=issued").await;
    assert!(
        list.body
            .contains(&format!("href=\"/clinic/records/{id}\"")),
        "{}",
        list.body
    );
    let list = staff.get("/clinic/records?status=mismatch").await;
    assert!(
        !list
            .body
            .contains(&format!("href=\"/clinic/records/{id}\""))
    );

    // Another clinic's staff: a 403 page for this record and its certificate.
    let mut other = Browser::new(env.app.clone());
    assert_eq!(
        other.sign_in("minh.b", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let page = other.get(&format!("/clinic/records/{id}")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("Không có quyền truy cập"));
    assert!(!page.body.contains(&p.full_name));
    assert_eq!(
        other
            .get(&format!("/clinic/records/{id}/certificate"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        other
            .get(&format!("/clinic/records/{id}/qr.png"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let other_csrf = other.get("/clinic/records/new").await.hidden("csrf");
    assert_eq!(
        other
            .post(
                &format!("/clinic/records/{id}/confirm"),
                &[("csrf", &other_csrf)]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        other.get("/clinic/records/999999").await.status,
        StatusCode::NOT_FOUND
    );
    let _ = env.clinic_b;

    // The citizen portal: the same HC1 for the right details.
    let mut citizen = Browser::new(env.app.clone());
    let portal = citizen.get("/").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("Tra cứu hộ chiếu vắc xin"));
    let anon = portal.hidden("csrf");
    let lookup = |name: &str| {
        vec![
            ("csrf".to_owned(), anon.clone()),
            ("full_name".to_owned(), name.to_owned()),
            ("dob-day".to_owned(), dob[2].clone()),
            ("dob-month".to_owned(), dob[1].clone()),
            ("dob-year".to_owned(), dob[0].clone()),
            ("sex".to_owned(), p.sex.code().to_owned()),
            ("id_number".to_owned(), p.id.to_string()),
            ("last-day".to_owned(), "01".to_owned()),
            ("last-month".to_owned(), "09".to_owned()),
            ("last-year".to_owned(), "2021".to_owned()),
        ]
    };
    let as_refs = |v: &[(String, String)]| {
        v.iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect::<Vec<_>>()
    };
    let hit_fields = as_refs(&lookup(&p.full_name));
    let hit_refs: Vec<(&str, &str)> = hit_fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let found = citizen.post("/lookup", &hit_refs).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.hc1(), hc1);
    assert!(found.body.contains("href=\"data:image/png;base64,"));
    // The citizen's PDF (a data: URL, so nothing about the person is in a URL): its QR too.
    let pdf_b64 = found
        .body
        .split("href=\"data:application/pdf;base64,")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a PDF download on the portal's certificate page");
    let citizen_pdf =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, pdf_b64).unwrap();
    if let Some((qr_text, _)) = pdf_qr_and_text(&citizen_pdf) {
        assert_eq!(qr_text, hc1);
    }
    assert_eq!(found.headers["cache-control"], "no-store");

    // Every miss: the same page and message (a wrong name, an unknown number).
    let miss_fields = as_refs(&lookup(&misspelt));
    let miss_refs: Vec<(&str, &str)> = miss_fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let miss = citizen.post("/lookup", &miss_refs).await;
    assert_eq!(miss.status, StatusCode::NOT_FOUND);
    assert!(
        miss.body
            .contains("Không tìm thấy hộ chiếu vắc xin khớp với các thông tin này.")
    );
    let mut unknown_fields = hit_fields.clone();
    unknown_fields[6].1 = "001099000001".to_owned();
    let unknown_refs: Vec<(&str, &str)> = unknown_fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let unknown = citizen.post("/lookup", &unknown_refs).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let strip = |b: &str| {
        b.replace(&p.full_name, "")
            .replace(&misspelt, "")
            .replace("001099000001", "")
            .replace(&p.id.to_string(), "")
    };
    assert_eq!(
        strip(&miss.body),
        strip(&unknown.body),
        "one page for every miss"
    );
    // The lookup form without its token.
    let no_token: Vec<(&str, &str)> = hit_refs[1..].to_vec();
    assert_eq!(
        citizen.post("/lookup", &no_token).await.status,
        StatusCode::FORBIDDEN
    );

    // Sign-out revokes the session: the old cookie no longer opens the console.
    let old_cookie = staff.cookie_header();
    let out = staff.post("/clinic/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let req = Request::get("/clinic/records")
        .header(header::COOKIE, old_cookie)
        .body(Body::empty())
        .unwrap();
    let again = staff.send(req).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.location(), "/clinic/sign-in");

    // Every step is in the audit chain, intact.
    let report = env.storage.audit_verify().await.unwrap();
    assert!(report.entries > 10);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dose_from_intake_to_the_citizen_portal_on_sqlite() {
    the_whole_flow(sqlite_env().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dose_from_intake_to_the_citizen_portal_on_postgres() {
    let Some(db) = common::pg_database("vaxpass_web").await else {
        return;
    };
    let url = db.url.clone();
    the_whole_flow(env_at(&url, None, Some(db)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn languages_stylesheet_and_sign_in_limits() {
    let env = sqlite_env().await;
    let mut b = Browser::new(env.app.clone());
    // Vietnamese by default; English by ?lang=en or by the switch's cookie.
    let vi = b.get("/").await;
    assert!(vi.body.contains("<html lang=\"vi\">"), "{}", vi.body);
    assert!(
        b.get("/?lang=en")
            .await
            .body
            .contains("Find your vaccine passport")
    );
    let switch = b.get("/lang/en?back=%2Fclinic%2Fsign-in").await;
    assert_eq!(switch.status, StatusCode::SEE_OTHER);
    assert_eq!(switch.location(), "/clinic/sign-in");
    assert!(
        b.get("/clinic/sign-in")
            .await
            .body
            .contains("<html lang=\"en\">")
    );
    // No open redirect.
    assert_eq!(
        b.get("/lang/vi?back=%2F%2Fevil.example").await.location(),
        "/"
    );

    // The stylesheet: a hashed name, cached for a year.
    let css_path = vaxpass_issuer_web::STYLESHEET_PATH.as_str();
    assert!(vi.body.contains(css_path));
    let css = b.get(css_path).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(
        css.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );

    // Sign-in attempts per user name: five, then 429 (even with the right password).
    let mut attacker = Browser::new(env.app.clone());
    for _ in 0..5 {
        assert_eq!(
            attacker.sign_in("lan.a", "wrong password!").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = attacker.sign_in("lan.a", PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.body.contains("Quá nhiều lần đăng nhập")
            || limited.body.contains("Too many sign-in attempts")
    );
    // Another account is not held back by that user name.
    assert_eq!(
        attacker.sign_in("minh.b", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    env.finish().await;
}

/// Every error code the JSON API documents has its Vietnamese text (`message_vi`).
#[test]
fn every_api_error_code_has_a_vietnamese_text() {
    let doc: serde_json::Value = serde_json::from_str(include_str!("../api/openapi.json")).unwrap();
    let codes = doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.len() > 10);
    for code in codes
        .iter()
        .map(|c| c.as_str().unwrap())
        .chain(["UNAVAILABLE", "PAYLOAD_TOO_LARGE"])
    {
        let key = format!("api_{}", code.to_ascii_lowercase());
        assert!(
            vaxpass_issuer_web::i18n::VI.get(&key).is_some(),
            "{key} is missing in vi.txt"
        );
    }
}

/// Every reason, note and hint code the matcher writes has a text in both languages.
#[test]
fn every_matcher_code_has_a_text() {
    let reasons = [
        "ID_SEX_DIGIT",
        "ID_CENTURY_DIGIT",
        "ID_YEAR_DIGITS",
        "ID_ANOTHER_PERSON",
        "NAME_DIACRITICS_ONLY",
        "NAME_TONE_MARK_PLACEMENT",
        "NAME_WORD_ORDER",
        "NAME_DIFFERENT",
        "DOB_DAY_MONTH_SWAPPED",
        "DOB_DIFFERENT",
        "SEX_DIFFERENT",
    ];
    let notes = [
        "NAME_CASE_OR_SPACING",
        "NAME_TONE_MARK_PLACEMENT",
        "DOB_YEAR_ONLY",
        "DOB_YEAR_MONTH_ONLY",
    ];
    let hints = ["ID_INVALID", "ID_INCONSISTENT", "ID_NOT_REGISTERED"];
    for texts in [&vaxpass_issuer_web::i18n::VI, &vaxpass_issuer_web::i18n::EN] {
        for (prefix, codes) in [
            ("reason", &reasons[..]),
            ("note", &notes[..]),
            ("hint", &hints[..]),
        ] {
            for code in codes {
                let key = format!("{prefix}_{}", code.to_ascii_lowercase());
                assert!(
                    texts.get(&key).is_some(),
                    "{key} missing in {}",
                    texts.html_lang
                );
            }
        }
    }
}

/// A multipart body with the fields in order (a text field, or a file with its media type).
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----vaxpass-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, media_type, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match media_type {
            Some(t) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"card.png\"\r\nContent-Type: {t}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Browser {
    async fn post_multipart(&mut self, uri: &str, fields: &[(&str, Option<&str>, &[u8])]) -> Page {
        let (content_type, body) = multipart(fields);
        let req = Request::post(uri)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }
}

/// The photo of a CCCD card's QR code (a real QR picture made here, in the text's UTF-8):
/// decoded on the server, shown, and the intake form filled from it; refused when it is no
/// picture, no card's code, or comes without the form's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cccd_photo_fills_the_intake_form() {
    use vaxpass_issuer::qr::{QrOptions, render_png};
    let env = sqlite_env().await;
    let (p, _) = env.person_and_misspelling();
    let dob = dob_parts(&p);
    let sex = if p.sex.code() == "F" { "Nữ" } else { "Nam" };
    let card_text = format!(
        "{}|025123456|{}|{}{}{}|{sex}|12 Lý Thường Kiệt, Phường Tràng Tiền, Quận Hoàn Kiếm, Hà Nội|15082021",
        p.id, p.full_name, dob[2], dob[1], dob[0]
    );
    let png = render_png(
        &card_text,
        &QrOptions {
            module_px: 6,
            ..QrOptions::default()
        },
    )
    .unwrap();
    let mut staff = Browser::new(env.app.clone());
    assert_eq!(
        staff.sign_in("lan.a", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let form = staff.get("/clinic/records/new").await;
    assert!(
        form.body.contains("enctype=\"multipart/form-data\""),
        "the photo form on the intake page"
    );
    let csrf = form.hidden("csrf");

    let read = staff
        .post_multipart(
            "/clinic/records/cccd",
            &[
                ("csrf", None, csrf.as_bytes()),
                ("photo", Some("image/png"), &png),
            ],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(
        read.body.contains("Đã đọc từ mã QR của thẻ"),
        "{}",
        read.body
    );
    assert!(read.body.contains("025123456"), "the old CMND is shown");
    assert!(read.body.contains("Lý Thường Kiệt"), "the address is shown");
    // The intake form, filled from the card.
    assert!(
        read.body.contains(&format!(
            "name=\"id_number\" type=\"text\" class=\"w-20ch\" value=\"{}\"",
            p.id
        )),
        "{}",
        read.body
    );
    assert!(
        read.body.contains(&format!("value=\"{}\"", p.full_name)),
        "the name with its diacritics: {}",
        read.body
    );
    assert!(read.body.contains(&format!(
        "name=\"dob-year\" type=\"text\" inputmode=\"numeric\" class=\"w-4\" value=\"{}\"",
        dob[0]
    )));
    assert!(read.body.contains(&format!(
        "id=\"sex-{}\" name=\"sex\" value=\"{}\" checked",
        p.sex.code(),
        p.sex.code()
    )));

    // Not a picture (whatever it claims), a picture without a code, another QR code.
    let not_picture = staff
        .post_multipart(
            "/clinic/records/cccd",
            &[
                ("csrf", None, csrf.as_bytes()),
                ("photo", Some("image/png"), b"GIF89a not a png"),
            ],
        )
        .await;
    assert_eq!(not_picture.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        not_picture
            .body
            .contains("không phải ảnh PNG, JPEG hoặc WebP")
    );
    let mislabelled = staff
        .post_multipart(
            "/clinic/records/cccd",
            &[
                ("csrf", None, csrf.as_bytes()),
                ("photo", Some("image/jpeg"), &png),
            ],
        )
        .await;
    assert_eq!(mislabelled.status, StatusCode::UNPROCESSABLE_ENTITY);
    let hc1_png = render_png(
        "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3",
        &QrOptions::default(),
    )
    .unwrap();
    let other_code = staff
        .post_multipart(
            "/clinic/records/cccd",
            &[
                ("csrf", None, csrf.as_bytes()),
                ("photo", Some("image/png"), &hc1_png),
            ],
        )
        .await;
    assert_eq!(other_code.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(other_code.body.contains("không phải mã QR của thẻ CCCD"));
    assert!(
        !other_code.body.contains("HC1:"),
        "the text read is not echoed"
    );

    // Larger than 10 MiB: refused while it is read, and said so.
    let mut huge = b"\x89PNG\r\n\x1a\n".to_vec();
    huge.resize(11 * 1024 * 1024, 0);
    let too_large = staff
        .post_multipart(
            "/clinic/records/cccd",
            &[
                ("csrf", None, csrf.as_bytes()),
                ("photo", Some("image/png"), &huge),
            ],
        )
        .await;
    assert_eq!(too_large.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_large.body.contains("Ảnh quá lớn"), "{}", too_large.body);

    // Without the token (or with the photo before it): refused, nothing decoded.
    let no_token = staff
        .post_multipart(
            "/clinic/records/cccd",
            &[("photo", Some("image/png"), &png)],
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(!no_token.body.contains(&p.full_name));
    let wrong = staff
        .post_multipart(
            "/clinic/records/cccd",
            &[
                ("csrf", None, "0".repeat(64).as_bytes()),
                ("photo", Some("image/png"), &png),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);

    // Signed out: to the sign-in page.
    let mut anonymous = Browser::new(env.app.clone());
    let page = anonymous
        .post_multipart(
            "/clinic/records/cccd",
            &[
                ("csrf", None, csrf.as_bytes()),
                ("photo", Some("image/png"), &png),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    env.finish().await;
}

/// The first `<dd …id="{id}">` text of a page.
fn dd_text(body: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {body}"))
        + marker.len();
    let end = body[start..].find('<').unwrap();
    body[start..start + end].to_owned()
}

impl Browser {
    /// Issues a certificate for `p` (intake with the registered details, confirm): the record's id.
    async fn issue_for(&mut self, p: &RegistryPerson, key: &str) -> i64 {
        let form = self.get("/clinic/records/new").await;
        let csrf = form.hidden("csrf");
        let dob = dob_parts(p);
        let id_text = p.id.to_string();
        let page = self
            .post(
                "/clinic/records",
                &intake(&csrf, key, p, &id_text, &p.full_name, &dob),
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let id: i64 = page.location().rsplit('/').next().unwrap().parse().unwrap();
        let page = self
            .post(&format!("/clinic/records/{id}/confirm"), &[("csrf", &csrf)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        id
    }
}

/// A citizen's correction report, its status, the clinic's review (approve: re-issued; reject
/// with a reason), another clinic's 403, revocation from the certificate page, CSRF on every
/// form; the records search; the 404 page in both languages; the JSON API's Vietnamese message.
async fn corrections_and_the_rest(env: Env) {
    let (p, _) = env.person_and_misspelling();
    let dob = dob_parts(&p);
    let mut staff = Browser::new(env.app.clone());
    assert_eq!(
        staff.sign_in("lan.a", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let record_id = staff.issue_for(&p, "corr-1").await;
    let cert = env
        .storage
        .certificate_for_record(record_id)
        .await
        .unwrap()
        .unwrap();

    // The citizen's report: the dose's date was wrong.
    let mut citizen = Browser::new(env.app.clone());
    let form = citizen.get("/corrections").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body
            .contains("Báo thông tin sai trên hộ chiếu vắc xin"),
        "{}",
        form.body
    );
    let anon = form.hidden("csrf");
    let report = |csrf: &str, uvci: &str, kind: &str, extra: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = vec![
            ("csrf".into(), csrf.into()),
            ("uvci".into(), uvci.into()),
            ("hdob-day".into(), dob[2].clone()),
            ("hdob-month".into(), dob[1].clone()),
            ("hdob-year".into(), dob[0].clone()),
            ("kind".into(), kind.into()),
            (
                "note".into(),
                "Ngày tiêm trên thẻ tiêm chủng là 2/9/2021.".into(),
            ),
        ];
        v.extend(
            extra
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned())),
        );
        v
    };
    let refs = |v: &[(String, String)]| -> Vec<(String, String)> { v.to_vec() };
    async fn post_owned(b: &mut Browser, uri: &str, v: &[(String, String)]) -> Page {
        let r: Vec<(&str, &str)> = v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        b.post(uri, &r).await
    }
    let dose_fix = [
        ("ndate-day", "2"),
        ("ndate-month", "9"),
        ("ndate-year", "2021"),
    ];
    // Without the token: refused, nothing stored.
    let mut no_csrf = refs(&report(&anon, &cert.uvci, "dose_details", &dose_fix));
    no_csrf.remove(0);
    assert_eq!(
        post_owned(&mut citizen, "/corrections", &no_csrf)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // A wrong UVCI: the one message of a miss.
    let miss = post_owned(
        &mut citizen,
        "/corrections",
        &report(&anon, "URN:UVCI:01:VN:NOPE", "dose_details", &dose_fix),
    )
    .await;
    assert_eq!(miss.status, StatusCode::NOT_FOUND);
    assert!(
        miss.body
            .contains("Không tìm thấy hộ chiếu vắc xin khớp với mã và ngày sinh này")
    );
    // The kind's field missing: said at the field.
    let empty = post_owned(
        &mut citizen,
        "/corrections",
        &report(&anon, &cert.uvci, "name", &[]),
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty.body.contains("href=\"#new_full_name\""),
        "{}",
        empty.body
    );
    let filed = post_owned(
        &mut citizen,
        "/corrections",
        &report(&anon, &cert.uvci, "dose_details", &dose_fix),
    )
    .await;
    assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
    let reference = dd_text(&filed.body, "reference");
    let token = dd_text(&filed.body, "status-token");
    assert!(reference.starts_with("VXC-") && token.len() == 64);
    // A second report, with a name the registry does not know.
    let wrong_name = post_owned(
        &mut citizen,
        "/corrections",
        &report(
            &anon,
            &cert.uvci,
            "name",
            &[("new_full_name", "Hoàng Thị Không Có")],
        ),
    )
    .await;
    assert_eq!(wrong_name.status, StatusCode::CREATED);
    let reference2 = dd_text(&wrong_name.body, "reference");
    let token2 = dd_text(&wrong_name.body, "status-token");

    // Its status, by reference and token (POSTed); a wrong token is the unknown reference.
    let status_form = citizen.get("/corrections/status").await;
    assert_eq!(status_form.status, StatusCode::OK);
    let status = citizen
        .post(
            "/corrections/status",
            &[
                ("csrf", &anon),
                ("reference", &reference),
                ("token", &token),
            ],
        )
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert!(status.body.contains("Đang chờ cơ sở xem xét"));
    let wrong = citizen
        .post(
            "/corrections/status",
            &[
                ("csrf", &anon),
                ("reference", &reference),
                ("token", &"0".repeat(64)),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    let unknown = citizen
        .post(
            "/corrections/status",
            &[
                ("csrf", &anon),
                ("reference", "VXC-0000000000000000"),
                ("token", &token),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        wrong.body.replace(&reference, ""),
        unknown.body.replace("VXC-0000000000000000", ""),
        "one answer for a wrong token and an unknown reference"
    );

    // The clinic's list and review: the record, the change, the registry's answer.
    let list = staff.get("/clinic/corrections").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains(&reference) && list.body.contains(&reference2),
        "{}",
        list.body
    );
    let review = staff.get(&format!("/clinic/corrections/{reference}")).await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert!(
        review.body.contains("01/09/2021") && review.body.contains("02/09/2021"),
        "{}",
        review.body
    );
    assert!(
        review
            .body
            .contains("khớp với Cơ sở dữ liệu quốc gia về dân cư: chấp nhận"),
        "{}",
        review.body
    );
    let csrf = review.hidden("csrf");
    let review2 = staff
        .get(&format!("/clinic/corrections/{reference2}"))
        .await;
    assert!(review2.body.contains("Hoàng Thị Không Có"));
    assert!(
        review2
            .body
            .contains("không khớp với Cơ sở dữ liệu quốc gia về dân cư"),
        "{}",
        review2.body
    );

    // Another clinic's staff: 403 for the report and for its decisions.
    let mut other = Browser::new(env.app.clone());
    assert_eq!(
        other.sign_in("minh.b", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let forbidden = other.get(&format!("/clinic/corrections/{reference}")).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(
        forbidden
            .body
            .contains("Báo cáo này thuộc một cơ sở tiêm chủng khác.")
    );
    assert!(!forbidden.body.contains(&p.full_name));
    let other_csrf = other.get("/clinic/records/new").await.hidden("csrf");
    assert_eq!(
        other
            .post(
                &format!("/clinic/corrections/{reference}/approve"),
                &[("csrf", &other_csrf)]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(
        !other
            .get("/clinic/corrections")
            .await
            .body
            .contains(&reference)
    );

    // Approve without the token: refused. With it: amended, re-issued, the old one revoked.
    assert_eq!(
        staff
            .post(&format!("/clinic/corrections/{reference}/approve"), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let approved = staff
        .post(
            &format!("/clinic/corrections/{reference}/approve"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    assert_eq!(
        approved.location(),
        format!("/clinic/records/{record_id}/certificate")
    );
    let new_cert = env
        .storage
        .certificate_for_record(record_id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(new_cert.uvci, cert.uvci);
    assert!(
        env.storage
            .get_revocation(&cert.uvci)
            .await
            .unwrap()
            .is_some()
    );
    let new_page = staff.get(approved.location()).await;
    assert!(new_page.body.contains(&new_cert.uvci));
    let status = citizen
        .post(
            "/corrections/status",
            &[
                ("csrf", &anon),
                ("reference", &reference),
                ("token", &token),
            ],
        )
        .await;
    assert!(
        status.body.contains("Đã chấp nhận") && status.body.contains(&new_cert.uvci),
        "{}",
        status.body
    );

    // Reject: a reason is required; the citizen is told it.
    let no_reason = staff
        .post(
            &format!("/clinic/corrections/{reference2}/reject"),
            &[("csrf", &csrf), ("reason", " ")],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_reason.body.contains("href=\"#reason\""));
    let rejected = staff
        .post(
            &format!("/clinic/corrections/{reference2}/reject"),
            &[
                ("csrf", &csrf),
                ("reason", "Tên trên CCCD khác tên đề nghị."),
            ],
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    let status2 = citizen
        .post(
            "/corrections/status",
            &[
                ("csrf", &anon),
                ("reference", &reference2),
                ("token", &token2),
            ],
        )
        .await;
    assert!(
        status2.body.contains("Không chấp nhận")
            && status2.body.contains("Tên trên CCCD khác tên đề nghị.")
    );
    // A decided report has no decision forms left.
    let decided = staff
        .get(&format!("/clinic/corrections/{reference2}"))
        .await;
    assert!(!decided.body.contains("/approve\""));

    // Revocation from the certificate page: the token, the clinic, the reason are checked.
    assert!(
        new_page
            .body
            .contains(&format!("action=\"/clinic/records/{record_id}/revoke\""))
    );
    let revoke_uri = format!("/clinic/records/{record_id}/revoke");
    assert_eq!(
        staff.post(&revoke_uri, &[("reason", "fraud")]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        other
            .post(&revoke_uri, &[("csrf", &other_csrf), ("reason", "fraud")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        staff
            .post(&revoke_uri, &[("csrf", &csrf), ("reason", "superseded")])
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(
        env.storage
            .get_revocation(&new_cert.uvci)
            .await
            .unwrap()
            .is_none()
    );
    let revoked = staff
        .post(&revoke_uri, &[("csrf", &csrf), ("reason", "fraud")])
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body.contains("Đã thu hồi hộ chiếu vắc xin"));
    assert!(
        env.storage
            .get_revocation(&new_cert.uvci)
            .await
            .unwrap()
            .is_some()
    );

    // The records search (POSTed: no name in a URL), diacritics or not; paging keeps the query.
    let plain = vaxpass_issuer::names::strip_diacritics(&p.full_name);
    let found = staff
        .post(
            "/clinic/records/search",
            &[
                ("csrf", &csrf),
                ("q", &plain.to_uppercase()),
                ("status", ""),
            ],
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert!(
        found
            .body
            .contains(&format!("href=\"/clinic/records/{record_id}\"")),
        "{}",
        found.body
    );
    let by_id = staff
        .post(
            "/clinic/records/search",
            &[
                ("csrf", &csrf),
                ("q", &p.id.to_string()[4..]),
                ("status", "issued"),
            ],
        )
        .await;
    assert!(
        by_id
            .body
            .contains(&format!("href=\"/clinic/records/{record_id}\""))
    );
    let nothing = staff
        .post(
            "/clinic/records/search",
            &[("csrf", &csrf), ("q", "zzzz không ai"), ("status", "")],
        )
        .await;
    assert!(
        !nothing
            .body
            .contains(&format!("href=\"/clinic/records/{record_id}\""))
    );
    assert_eq!(
        staff
            .post("/clinic/records/search", &[("q", &plain)])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Paging: 30 records of the clinic, 25 a page, the second page from the first's link.
    for i in 0..30 {
        let q = &env.persons[i % env.persons.len()];
        let rec = vaxpass_issuer::storage::NewDoseRecord {
            clinic_id: 1,
            identity: q.into(),
            vaccination: vaxpass_issuer::storage::Vaccination {
                prophylaxis: "1119349007".into(),
                product: "EU/1/20/1528".into(),
                manufacturer: "ORG-100030215".into(),
                dose_number: 1,
                series_total: 2,
                date: vaxpass_issuer::dates::Date::parse("2021-08-01").unwrap(),
            },
        };
        env.storage
            .insert_dose_record(&rec, &format!("bulk-{i}"), &Actor::System("test".into()))
            .await
            .unwrap();
    }
    let first = staff.get("/clinic/records").await;
    assert_eq!(
        first.body.matches("<tr>").count(),
        26,
        "a header row and 25 records"
    );
    let older = first
        .body
        .split("href=\"/clinic/records?before=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to older records")
        .to_owned();
    let second = staff.get(&format!("/clinic/records?before={older}")).await;
    assert!(second.body.matches("<tr>").count() >= 2 && second.body.contains("Mới nhất"));

    // Any other path: the 404 page, in the language asked.
    let missing = citizen.get("/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("Không tìm thấy trang"),
        "{}",
        missing.body
    );
    assert_eq!(missing.headers["content-type"], "text/html; charset=utf-8");
    let english = citizen.get("/no-such-page?lang=en").await;
    assert!(english.body.contains("<html lang=\"en\">") && english.status == StatusCode::NOT_FOUND);
    // The API's own 404 stays JSON.
    let api = citizen.get("/api/v1/no-such-route").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(
        api.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    // The JSON API: the English message, and the Vietnamese one beside it when asked.
    let ask = |lang: Option<&str>| {
        let mut b = Request::get("/api/v1/certificates/URN:UVCI:01:VN:X");
        if let Some(l) = lang {
            b = b.header(header::ACCEPT_LANGUAGE, l);
        }
        b.body(Body::empty()).unwrap()
    };
    for (lang, vietnamese) in [
        (Some("vi"), true),
        (Some("vi-VN,vi;q=0.9,en;q=0.8"), true),
        (Some("en-GB,vi;q=0.5"), false),
        (Some("fr;q=0.2, vi;q=0.3"), true),
        (None, false),
    ] {
        let (status, headers, body) = common::send(&env.app, ask(lang)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "UNAUTHENTICATED");
        assert!(
            json["message"].as_str().unwrap().contains("token"),
            "{json}"
        );
        assert_eq!(
            json.get("message_vi").is_some(),
            vietnamese,
            "{lang:?}: {json}"
        );
        if vietnamese {
            assert_eq!(
                json["message_vi"],
                vaxpass_issuer_web::i18n::VI.api_unauthenticated
            );
        }
        assert!(
            headers
                .get_all(header::VARY)
                .iter()
                .any(|v| v == "accept-language")
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_revocation_search_and_error_pages_on_sqlite() {
    corrections_and_the_rest(sqlite_env().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_revocation_search_and_error_pages_on_postgres() {
    let Some(db) = common::pg_database("vaxpass_web_corr").await else {
        return;
    };
    let url = db.url.clone();
    corrections_and_the_rest(env_at(&url, None, Some(db)).await).await;
}
