//! The browser verifier in headless Chromium: the page (`verifier/wasm/www`) and its wasm
//! module (built by `verifier/wasm/build.sh`, found through `VAXPASS_WASM_PKG`) served on
//! loopback with a trust list and a revocation list signed by a development PKI. For each of
//! three certificates, Chromium's fake camera plays a video of its QR code
//! (`--use-file-for-fake-video-capture`, a y4m written here): the page is loaded once online,
//! then the network is switched off (DevTools offline, and the server stops answering), the
//! page is reloaded from its service worker and scans the code. Expected: VALID; NOT VALID
//! (expired) with the reason; CANNOT DECIDE (a signer that is not on the list).
//!
//! Skips, saying so, without `VAXPASS_WASM_PKG`, Chromium, Node or `tests/browser/node_modules`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vaxpass_issuer::qr::{Ecc, QrMatrix};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{MANIFEST_FILE, Manifest, Secrets};
use vaxpass_keys::{CertificateType, Signer};
use vaxpass_trust_list::publish::{self, BuildOptions, SequenceFile};
use vaxpass_verifier::encode::{IssueClaims, encode_hc1};
use vaxpass_verifier::report::Checker;
use vaxpass_verifier::revocation::{ListHeader, RevocationListBuilder};
use vaxpass_verifier::trustlist::{TrustListPolicy, verify};
use vaxpass_verifier::{Timestamp, TrustStore};

const CHROMIUM: &str = "/usr/bin/chromium";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What the page needs that this test cannot make: the built module, a browser, Node and
/// the test's npm packages. `None`, with the reason printed, when one is missing.
fn prerequisites() -> Option<PathBuf> {
    let Some(pkg) = std::env::var_os("VAXPASS_WASM_PKG").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: VAXPASS_WASM_PKG is unset (build the module with `bash verifier/wasm/build.sh OUT` and set it to OUT/web; .ci/run does)"
        );
        return None;
    };
    let missing = [
        (pkg.join("vaxpass_verifier_wasm_bg.wasm"), "the wasm module"),
        (
            PathBuf::from(CHROMIUM),
            "Chromium (Debian package chromium)",
        ),
        (
            repo().join("tests/browser/node_modules/playwright-core"),
            "playwright-core (npm ci in tests/browser)",
        ),
    ];
    for (path, what) in missing {
        if !path.exists() {
            eprintln!("SKIPPED: {what} is missing at {}", path.display());
            return None;
        }
    }
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("SKIPPED: node is not installed");
        return None;
    }
    Some(pkg)
}

fn hcert(dsc: &dyn Signer, ci: &str, iat: i64, exp: i64) -> String {
    let payload = serde_json::json!({
        "ver": "1.3.0",
        "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Thị Lan", "gnt": "THI<LAN"},
        "dob": "1990-04-12",
        "v": [{
            "tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
            "dn": 2, "sd": 2, "dt": "2021-09-01", "co": "VN", "is": "Ministry of Health",
            "ci": ci
        }]
    });
    let cbor = vaxpass_verifier::model::json_to_cbor(&payload);
    let claims = IssueClaims {
        iss: Some("VN"),
        iat: Timestamp::from_unix_seconds(iat),
        exp: Timestamp::from_unix_seconds(exp),
    };
    encode_hc1(&cbor, &claims, dsc.algorithm(), &dsc.kid(), |tbs| {
        dsc.sign(tbs)
    })
    .unwrap()
}

/// A 640×480 y4m video (I420, a few identical frames; Chromium loops it) of `text`'s QR code
/// on white, the code about two thirds of the frame high.
fn qr_video(text: &str, path: &Path) {
    const W: usize = 640;
    const H: usize = 480;
    let qr = QrMatrix::encode(text, Ecc::Q).unwrap();
    let side = qr.width() + 8;
    let scale = (H * 9 / 10 / side).clamp(1, 8);
    let (x0, y0) = ((W - side * scale) / 2, (H - side * scale) / 2);
    let mut luma = vec![255u8; W * H];
    for y in 0..qr.width() {
        for x in 0..qr.width() {
            if qr.is_dark(x, y) {
                for dy in 0..scale {
                    let row = y0 + (y + 4) * scale + dy;
                    let col = x0 + (x + 4) * scale;
                    luma[row * W + col..row * W + col + scale].fill(0);
                }
            }
        }
    }
    let mut video = format!("YUV4MPEG2 W{W} H{H} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..5 {
        video.extend_from_slice(b"FRAME\n");
        video.extend_from_slice(&luma);
        video.extend(std::iter::repeat_n(128u8, W * H / 2));
    }
    std::fs::write(path, video).unwrap();
}

#[derive(Clone)]
struct Site {
    www: PathBuf,
    pkg: PathBuf,
    anchor_pem: Vec<u8>,
    trust_list: Vec<u8>,
    revocations: Vec<u8>,
    /// Set by `GET /__offline`: every later request is answered 503, as if the network were
    /// gone (the browser is also switched offline; this catches what its emulation misses).
    offline: Arc<AtomicBool>,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("css") => "text/css; charset=utf-8",
        Some("webmanifest") => "application/manifest+json",
        Some("pem") => "application/x-pem-file",
        _ => "application/octet-stream",
    }
}

async fn page_file(State(site): State<Site>, UrlPath(path): UrlPath<String>) -> Response {
    if site.offline.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if path.split('/').any(|s| s == ".." || s.is_empty()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let bytes = if path == "anchor.pem" {
        Some(site.anchor_pem.clone())
    } else if let Some(rest) = path.strip_prefix("pkg/") {
        std::fs::read(site.pkg.join(rest)).ok()
    } else {
        std::fs::read(site.www.join(&path)).ok()
    };
    match bytes {
        Some(bytes) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn serve(rt: &tokio::runtime::Runtime, site: Site) -> String {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let list = |pick: fn(&Site) -> Vec<u8>| {
        move |State(site): State<Site>| async move {
            if site.offline.load(Ordering::SeqCst) {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            pick(&site).into_response()
        }
    };
    let app = axum::Router::new()
        .route(
            "/verify/",
            get(|State(site): State<Site>| async move {
                page_file(State(site), UrlPath("index.html".to_owned())).await
            }),
        )
        .route("/verify/{*path}", get(page_file))
        .route("/trust-list", get(list(|s| s.trust_list.clone())))
        .route("/revocations", get(list(|s| s.revocations.clone())))
        .route(
            "/__offline",
            get(|State(site): State<Site>| async move {
                site.offline.store(true, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(site);
    rt.spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[test]
fn scan_offline_in_chromium_valid_expired_and_unknown_signer() {
    let Some(pkg) = prerequisites() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let now = Timestamp::now().unix_seconds();
    let secrets = Secrets::default();
    let pki = |name: &str| {
        let dir = tmp.path().join(name);
        dev_init(
            &dir,
            &DevOptions::new(Timestamp::from_unix_seconds(now - 3600)),
        )
        .unwrap();
        let manifest = Manifest::load(&dir.join(MANIFEST_FILE)).unwrap();
        (dir, manifest)
    };
    let (keys, manifest) = pki("keys");
    let (other_keys, other_manifest) = pki("other");
    let at = Timestamp::from_unix_seconds(now);
    let dsc = manifest
        .current_signer(&keys, CertificateType::Vaccination, at, &secrets)
        .unwrap();
    let stranger = other_manifest
        .current_signer(&other_keys, CertificateType::Vaccination, at, &secrets)
        .unwrap();
    let list_signer = publish::open_trust_list_signer(&manifest, &keys, &secrets).unwrap();
    let (_, trust_list) = publish::build_and_sign(
        &manifest,
        &keys,
        Vec::new(),
        &SequenceFile::in_dir(&keys),
        at,
        &BuildOptions::default(),
        &*list_signer,
    )
    .unwrap();
    let revocations = RevocationListBuilder::new()
        .build(
            ListHeader {
                issuer_country: "VN".into(),
                sequence: 1,
                issued_at: at,
                expires_at: Timestamp::from_unix_seconds(now + 86_400),
                signer_certificate_der: list_signer.certificate_der().to_vec(),
            },
            None,
            false,
        )
        .sign(list_signer.algorithm(), &list_signer.kid(), |tbs| {
            list_signer.sign(tbs)
        })
        .unwrap();

    let valid = hcert(
        &*dsc,
        "URN:UVCI:01:VN:BROWSER0001#1",
        now - 60,
        now + 365 * 86_400,
    );
    let expired = hcert(&*dsc, "URN:UVCI:01:VN:BROWSER0002#2", now - 1800, now - 60);
    let unknown = hcert(
        &*stranger,
        "URN:UVCI:01:VN:BROWSER0003#3",
        now - 60,
        now + 86_400,
    );

    // The native figure for the same check, in this run: the page times its wasm twin.
    let anchor_der = vaxpass_keys::storage::read_certificate(&keys.join("csca.pem"))
        .unwrap()
        .0;
    let verified = verify(
        &trust_list,
        &anchor_der,
        at,
        None,
        &TrustListPolicy::default(),
    )
    .unwrap();
    let store: TrustStore = verified.to_trust_store();
    let checker = Checker::new(&store, at);
    assert!(checker.check(&valid).unwrap().valid);
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(checker.check(&valid).unwrap());
    }
    let native_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);

    let cases = [
        ("valid", &valid, "valid", ""),
        ("expired", &expired, "invalid", "EXPIRED"),
        ("unknown-signer", &unknown, "undecided", "KID_UNKNOWN"),
    ];
    let shots = tmp.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, hc1, state, code) in cases {
        let video = tmp.path().join(format!("{name}.y4m"));
        qr_video(hc1, &video);
        let site = Site {
            www: repo().join("verifier/wasm/www"),
            pkg: pkg.clone(),
            anchor_pem: std::fs::read(keys.join("csca.pem")).unwrap(),
            trust_list: trust_list.clone(),
            revocations: revocations.clone(),
            offline: Arc::new(AtomicBool::new(false)),
        };
        let base = serve(&rt, site);
        let out = Command::new("node")
            .arg(repo().join("tests/browser/verify-page.mjs"))
            .args(["--url", &format!("{base}/verify/")])
            .args(["--offline-url", &format!("{base}/__offline")])
            .arg("--video")
            .arg(&video)
            .arg("--screenshot")
            .arg(shots.join(format!("verify-{name}.png")))
            .args(["--hc1", hc1])
            .current_dir(repo().join("tests/browser"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name}: the browser run failed\n{stdout}\n{stderr}"
        );
        let result: serde_json::Value = serde_json::from_str(
            stdout
                .lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .unwrap_or_else(|| panic!("{name}: no result line\n{stdout}\n{stderr}")),
        )
        .unwrap();
        assert_eq!(result["state"], state, "{name}: {result}");
        assert_eq!(result["code"], code, "{name}: {result}");
        assert_eq!(result["offline"], true, "{name}: {result}");
        if state == "valid" {
            assert!(
                result["holder"]
                    .as_str()
                    .unwrap()
                    .contains("Nguyễn Thị Lan"),
                "{result}"
            );
        } else {
            assert!(!result["reason"].as_str().unwrap().is_empty(), "{result}");
        }
        let wasm_us = result["wasm_check_us"].as_f64().unwrap();
        let build = if cfg!(debug_assertions) {
            "native debug build"
        } else {
            "native release build"
        };
        eprintln!(
            "{name}: {state} offline; page ready offline in {} ms; full check wasm {wasm_us:.0} µs vs {build} {native_us:.0} µs ({:.1}×); 640×480 frame decoded in {} ms",
            result["offline_ready_ms"],
            wasm_us / native_us,
            result["frame_decode_ms"],
        );
    }
    if let Some(dir) = std::env::var_os("VAXPASS_SCREENSHOTS_DIR") {
        for entry in std::fs::read_dir(&shots).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), Path::new(&dir).join(entry.file_name())).unwrap();
        }
    }
}
