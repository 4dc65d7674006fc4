//! The QR image routes, driven in-process with `tower::ServiceExt::oneshot`: a certificate is
//! issued through the API, its PNG is decoded back (rqrr) to the exact `HC1:` text, which an
//! independent verifier accepts; the SVG draws exactly the code's dark modules.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use common::record_for;
use serde_json::Value;
use vaxpass_issuer_api::{AppState, Config, app};
use vaxpass_issuer_issuance::qr::{Ecc, QrMatrix};
use vaxpass_issuer_store::Storage;
use vaxpass_keys::Signer;
use vaxpass_verifier::{Timestamp, TrustStore, Verifier};

const PKI_START: i64 = 1_780_000_000;
const NOW: i64 = PKI_START + 86_400;

struct Env {
    app: Router,
    signer: Arc<dyn Signer>,
    token: String,
    other_token: String,
    admin_token: String,
    /// The issued certificate (`uvci`, `hc1`, …).
    cert: Value,
    _keys: tempfile::TempDir,
    _db: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let (status, headers, body) =
        common::send(app, common::request(method, uri, token, body)).await;
    Reply {
        status,
        headers,
        body: body.to_vec(),
    }
}

/// A fresh SQLite database, a development PKI, and one certificate issued through the API.
async fn env() -> Env {
    let (url, db) = common::sqlite_url();
    let storage = Storage::open(&url).await.unwrap().with_clock(|| NOW);
    let seeded = common::seed(&storage, 50, 11).await;
    let (keys, signer) = common::dev_signer(PKI_START, NOW);
    let state = AppState::new(storage, signer.clone(), Config::default())
        .unwrap()
        .with_clock(|| NOW);
    let app = app(state);
    let person = seeded
        .persons
        .iter()
        .find(|p| p.id.as_cccd().is_some())
        .unwrap();
    let token = seeded.token;
    let r = call(
        &app,
        "POST",
        "/api/v1/dose-records",
        Some(&token),
        Some(record_for(person)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["status"], "verified");
    let id = r.json()["id"].as_i64().unwrap();
    let r = call(
        &app,
        "POST",
        &format!("/api/v1/dose-records/{id}/confirm"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    Env {
        app,
        signer,
        token,
        other_token: seeded.other_token,
        admin_token: seeded.admin_token,
        cert: r.json(),
        _keys: keys,
        _db: db,
    }
}

impl Env {
    fn hc1(&self) -> &str {
        self.cert["hc1"].as_str().unwrap()
    }
    /// The certificate's path (`#` percent-encoded) followed by `suffix`.
    fn uri(&self, suffix: &str) -> String {
        let uvci = self.cert["uvci"].as_str().unwrap().replace('#', "%23");
        format!("/api/v1/certificates/{uvci}{suffix}")
    }
    async fn get(&self, suffix: &str, token: Option<&str>) -> Reply {
        call(&self.app, "GET", &self.uri(suffix), token, None).await
    }
}

/// Width and height with the `png` crate, text with rqrr via the verifier's picture reader.
fn read_png(png: &[u8]) -> (u32, u32, String) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    assert_eq!(info.bit_depth, png::BitDepth::One);
    let (w, h) = (info.width, info.height);
    (w, h, vaxpass_verifier::qr::decode_image(png).unwrap())
}

#[tokio::test]
async fn png_decodes_to_the_certificate_and_verifies() {
    let env = env().await;
    let hc1 = env.hc1().to_owned();
    assert!(hc1.starts_with("HC1:"));
    let store = TrustStore::from_der_certificates([env.signer.certificate_der()]).unwrap();
    let mut verifier = Verifier::new(store);

    for (query, ecc, scale) in [
        ("", Ecc::Q, 4),
        ("?ecc=L&scale=2", Ecc::L, 2),
        ("?ecc=M", Ecc::M, 4),
        ("?scale=6", Ecc::Q, 6),
        ("?ecc=h&scale=3", Ecc::H, 3),
    ] {
        let r = env.get(&format!("/qr.png{query}"), Some(&env.token)).await;
        assert_eq!(r.status, StatusCode::OK, "{query}");
        assert_eq!(r.header("content-type"), "image/png");
        assert_eq!(r.header("cache-control"), "private, no-store");
        let (w, h, text) = read_png(&r.body);
        let side = (QrMatrix::encode(&hc1, ecc).unwrap().width() as u32 + 8) * scale;
        assert_eq!((w, h), (side, side), "{query}");
        assert_eq!(text, hc1, "{query}");
        let verified = verifier
            .verify(&text, Timestamp::from_unix_seconds(NOW + 60))
            .unwrap();
        assert_eq!(verified.payload_json().unwrap(), env.cert["payload"]);
    }

    // An admin may fetch it too.
    let r = env.get("/qr.png", Some(&env.admin_token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(read_png(&r.body).2, hc1);
}

#[tokio::test]
async fn svg_draws_the_dark_modules_of_the_certificate() {
    let env = env().await;
    let r = env.get("/qr.svg?ecc=L&scale=5", Some(&env.token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "image/svg+xml");
    assert_eq!(r.header("cache-control"), "private, no-store");
    let svg = String::from_utf8(r.body).unwrap();
    let m = QrMatrix::encode(env.hc1(), Ecc::L).unwrap();
    let side = m.width() + 8;
    assert!(svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")));
    assert!(svg.contains(&format!("width=\"{}\"", side * 5)));
    // Every run `h{n}` covers n dark modules.
    let d = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let dark: usize = d
        .split('h')
        .skip(1)
        .filter_map(|s| s.split('v').next().unwrap().parse::<usize>().ok())
        .sum();
    assert_eq!(dark, m.dark_count());
    // The personal data is not in the picture's text.
    assert!(!svg.contains("HC1"));
}

#[tokio::test]
async fn access_and_query_are_checked() {
    let env = env().await;
    for suffix in ["/qr.png", "/qr.svg"] {
        let r = env.get(suffix, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.json()["code"], "UNAUTHENTICATED");
        // Another clinic's certificate: 404, as a missing one.
        let r = env.get(suffix, Some(&env.other_token)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json()["code"], "NOT_FOUND");
        let r = call(
            &env.app,
            "GET",
            &format!("/api/v1/certificates/URN:UVCI:01:VN:NOPE%23A{suffix}"),
            Some(&env.token),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.json()["code"], "NOT_FOUND");
        for query in [
            "?ecc=X",
            "?ecc=",
            "?scale=0",
            "?scale=17",
            "?scale=abc",
            "?scale=-1",
            "?scale=4.5",
        ] {
            let r = env.get(&format!("{suffix}{query}"), Some(&env.token)).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{suffix}{query}"
            );
            assert_eq!(r.json()["code"], "INVALID_REQUEST");
        }
        let r = env
            .get(&format!("{suffix}?scale=1"), Some(&env.token))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = env
            .get(&format!("{suffix}?scale=16&ecc=H"), Some(&env.token))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
}
