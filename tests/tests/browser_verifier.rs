//! The browser verifier in headless Chromium, served by the real issuer: `Server` started in
//! this process over HTTPS (rustls, a certificate of the test's own that Chromium is told to
//! accept by its key: `--ignore-certificate-errors-spki-list`) with `verifier_dir` set to the
//! site `verifier/wasm/build.sh OUT` assembles (`OUT/site`, found through `VAXPASS_WASM_PKG` =
//! `OUT/web`). The page loads from `/verify/`, fetches the issuer's trust list, revocation list
//! and signed rules, verifies them in wasm against the CSCA it pins (`/verify/anchor.pem`) and
//! keeps them.
//!
//! Two certificates are issued through the API (submit, confirm), one of them revoked through
//! `POST /api/v1/certificates/{uvci}/revoke`; two more are signed here (an expired one with the
//! issuer's DSC, one by another country's PKI). For each, Chromium's fake camera plays a video
//! of its QR code (`--use-file-for-fake-video-capture`, a y4m written here): the page is loaded
//! online, then the issuer is stopped and the browser switched offline (DevTools), the page
//! reloaded from its service worker, and the code scanned. Expected: VALID (not revoked);
//! NOT VALID, revoked, with its reason; NOT VALID (expired) with the reason; CANNOT DECIDE (a
//! signer that is not on the list). On the valid one, axe-core finds no violation (idle and
//! with the verdict), the page works with the keyboard alone, and 50 hours later (the page's
//! clock) the same code reads CANNOT DECIDE: the revocation list is past its grace period.
//!
//! Skips, saying so, without `VAXPASS_WASM_PKG` (and the site next to it), Chromium, Node or
//! `tests/browser/node_modules`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use rcgen::PublicKeyData as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vaxpass_issuer::dates::Date;
use vaxpass_issuer::identity::{IdNumber, Sex};
use vaxpass_issuer::matching::RegistryPerson;
use vaxpass_issuer::qr::{Ecc, QrMatrix};
use vaxpass_issuer::server::{Server, ServerConfig, TlsFiles};
use vaxpass_issuer::storage::{Actor, Role, Storage};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::{MANIFEST_FILE, Manifest, Secrets};
use vaxpass_keys::{CertificateType, Signer};
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::encode::{IssueClaims, encode_hc1};
use vaxpass_verifier::report::Checker;
use vaxpass_verifier::trustlist::{TrustListPolicy, verify};

const CHROMIUM: &str = "/usr/bin/chromium";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What the page needs that this test cannot make: the built site, a browser, Node and the
/// test's npm packages. `None`, with the reason printed, when one is missing.
fn prerequisites() -> Option<PathBuf> {
    let Some(pkg) = std::env::var_os("VAXPASS_WASM_PKG").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: VAXPASS_WASM_PKG is unset (build the module with `bash verifier/wasm/build.sh OUT` and set it to OUT/web; .ci/run does)"
        );
        return None;
    };
    let site = pkg
        .parent()
        .map_or_else(|| PathBuf::from("site"), |p| p.join("site"));
    let missing = [
        (
            site.join("pkg/vaxpass_verifier_wasm_bg.wasm"),
            "the verifier site (OUT/site of build.sh, next to VAXPASS_WASM_PKG)",
        ),
        (
            PathBuf::from(CHROMIUM),
            "Chromium (Debian package chromium)",
        ),
        (
            repo().join("tests/browser/node_modules/playwright-core"),
            "playwright-core (npm ci in tests/browser)",
        ),
        (
            repo().join("tests/browser/node_modules/axe-core"),
            "axe-core (npm ci in tests/browser)",
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
    Some(site)
}

fn person(id: &str, name: &str, dob: &str, sex: Sex) -> RegistryPerson {
    RegistryPerson {
        id: IdNumber::parse_national(id).unwrap(),
        full_name: name.into(),
        date_of_birth: Date::parse(dob).unwrap(),
        sex,
    }
}

/// A certificate signed here by `dsc` (not through the issuer), valid from `iat` to `exp`.
fn hcert(dsc: &dyn Signer, ci: &str, iat: i64, exp: i64) -> String {
    let payload = json!({
        "ver": "1.3.0",
        "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Thị Lan", "gnt": "THI<LAN"},
        "dob": "1990-04-12",
        "v": [{
            "tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
            "dn": 2, "sd": 2, "dt": common::issuer::recent_date(), "co": "VN",
            "is": "Ministry of Health", "ci": ci
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
/// on white, the code about nine tenths of the frame high.
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

/// One HTTPS request to the issuer (TLS 1.3, trusting only `root`): status and body.
async fn https(
    addr: SocketAddr,
    root: &CertificateDer<'static>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Vec<u8>) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let digest = sha2::Sha256::digest(format!("{method} {path} {body}"));
    let key = format!("Idempotency-Key: browser-{}\r\n", hex(&digest[..12]));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}{key}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A TLS peer that closes without close_notify is an error here after the body arrived.
    let _ = tls.read_to_end(&mut answer).await;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {}", String::from_utf8_lossy(&answer)));
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, answer[split + 4..].to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The issuer, serving until `stop` is sent.
struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), vaxpass_issuer::server::ServeError>>,
}

fn start(rt: &tokio::runtime::Runtime, config: &ServerConfig) -> Running {
    let server = rt.block_on(Server::start(config.clone())).unwrap();
    assert!(server.is_tls());
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

fn stop(rt: &tokio::runtime::Runtime, running: Running) {
    running.stop.send(()).unwrap();
    rt.block_on(running.task).unwrap().unwrap();
}

/// Submits and confirms a dose record of `p` at the clinic of `token`: the certificate's JSON.
fn issue(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    root: &CertificateDer<'static>,
    token: &str,
    p: &RegistryPerson,
) -> Value {
    let record = json!({
        "id_number": p.id.to_string(),
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.to_string(),
        "sex": p.sex.code(),
        "vaccine": {"mp": "EU/1/20/1528", "ma": "ORG-100030215", "vp": "1119349007"},
        "dose_number": 2,
        "series_total": 2,
        "date": common::issuer::recent_date(),
    });
    let (status, body) = rt.block_on(https(
        addr,
        root,
        "POST",
        "/api/v1/dose-records",
        Some(token),
        Some(&record),
    ));
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, body) = rt.block_on(https(
        addr,
        root,
        "POST",
        &format!("/api/v1/dose-records/{id}/confirm"),
        Some(token),
        None,
    ));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// One browser run: the page from `running`'s `/verify/`, the issuer stopped once it loaded,
/// the code of `hc1` scanned offline. The result line's JSON.
fn browse(
    rt: &tokio::runtime::Runtime,
    running: Running,
    spki: &str,
    hc1: &str,
    video: &Path,
    screenshot: &Path,
    a11y: bool,
) -> Value {
    let url = format!("https://localhost:{}/verify/", running.addr.port());
    let mut node = Command::new("node");
    node.arg(repo().join("tests/browser/verify-page.mjs"))
        .args(["--url", &url, "--spki", spki, "--hc1", hc1])
        .arg("--video")
        .arg(video)
        .arg("--screenshot")
        .arg(screenshot)
        .current_dir(repo().join("tests/browser"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if a11y {
        node.arg("--a11y")
            .arg("--screenshot-later")
            .arg(screenshot.with_file_name(format!(
                "{}-later.png",
                screenshot.file_stem().unwrap().to_string_lossy()
            )));
    }
    let mut child = node.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut running = Some(running);
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.trim() == "ONLINE" {
            // The network goes away: the issuer stops answering at all.
            stop(rt, running.take().unwrap());
            writeln!(child.stdin.as_mut().unwrap(), "offline").unwrap();
        }
        lines.push(line);
    }
    let out = child.wait_with_output().unwrap();
    if let Some(r) = running {
        stop(rt, r);
    }
    let stdout = lines.concat();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed\n{stdout}\n{stderr}"
    );
    serde_json::from_str(
        stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no result line\n{stdout}\n{stderr}")),
    )
    .unwrap()
}

#[test]
fn issuer_serves_the_verifier_which_scans_offline_valid_revoked_expired_and_unknown() {
    let Some(site) = prerequisites() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let now = Timestamp::now().unix_seconds();
    let start_at = Timestamp::from_unix_seconds(now - 3600);
    dev_init(&data.join("keys"), &DevOptions::new(start_at)).unwrap();
    let other_keys = tmp.path().join("other");
    dev_init(&other_keys, &DevOptions::new(start_at)).unwrap();

    // The registry, a clinic and its staff token.
    let lan = person("079190001234", "Nguyễn Thị Lan", "1990-04-12", Sex::Female);
    let binh = person("079185012345", "Trần Thị Bình", "1985-04-12", Sex::Female);
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), data.clone());
    let token = rt.block_on(async {
        let storage = Storage::open(&config.database_url()).await.unwrap();
        let actor = Actor::System("test".into());
        storage
            .import_registry([lan.clone(), binh.clone()], 500, &actor)
            .await
            .unwrap();
        let clinic = storage
            .create_clinic("Trạm Y tế Phường 1", 79, &actor)
            .await
            .unwrap();
        let (token, _) = storage
            .create_staff_token(clinic, Role::Staff, &actor)
            .await
            .unwrap();
        storage.close().await;
        token.expose().to_owned()
    });

    // HTTPS with the test's own certificate; Chromium accepts its key, the client its cert.
    let tls = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (tmp.path().join("tls.pem"), tmp.path().join("tls.key"));
    std::fs::write(&cert_path, tls.cert.pem()).unwrap();
    std::fs::write(&key_path, tls.signing_key.serialize_pem()).unwrap();
    let root = tls.cert.der().clone();
    let spki = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(
        tls.signing_key.subject_public_key_info(),
    ));
    config.tls = Some(TlsFiles {
        certificate: cert_path,
        key: key_path,
    });
    config.verifier_dir = Some(site);
    config.lookup_limits.min_answer_time = std::time::Duration::from_millis(1);
    config.lookup_limits.answer_jitter = std::time::Duration::ZERO;

    // Two certificates through the API; one revoked (issued in error).
    let running = start(&rt, &config);
    let valid = issue(&rt, running.addr, &root, &token, &lan);
    let revoked = issue(&rt, running.addr, &root, &token, &binh);
    let revoked_uvci = revoked["uvci"].as_str().unwrap();
    let (status, body) = rt.block_on(https(
        running.addr,
        &root,
        "POST",
        &format!(
            "/api/v1/certificates/{}/revoke",
            common::issuer::path_segment(revoked_uvci)
        ),
        Some(&token),
        Some(&json!({"reason": "error"})),
    ));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // Without the files /verify/ says the verifier is missing (a second server, no dir).
    let (status, body) = {
        let mut bare = config.clone();
        bare.verifier_dir = None;
        let other = start(&rt, &bare);
        let answer = rt.block_on(https(other.addr, &root, "GET", "/verify/", None, None));
        stop(&rt, other);
        answer
    };
    assert_eq!(status, 404);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("chưa được cài đặt") && text.contains("not installed"),
        "{text}"
    );
    let trust_list = rt
        .block_on(https(running.addr, &root, "GET", "/trust-list", None, None))
        .1;
    stop(&rt, running);

    // Two more signed here: expired (the issuer's own DSC), and another PKI's.
    let secrets = Secrets::default();
    let at = Timestamp::from_unix_seconds(now);
    let signer_of = |dir: &Path| {
        Manifest::load(&dir.join(MANIFEST_FILE))
            .unwrap()
            .current_signer(dir, CertificateType::Vaccination, at, &secrets)
            .unwrap()
    };
    let dsc = signer_of(&data.join("keys"));
    let stranger = signer_of(&other_keys);
    let expired = hcert(&*dsc, "URN:UVCI:01:VN:BROWSER0002#2", now - 1800, now - 60);
    let unknown = hcert(
        &*stranger,
        "URN:UVCI:01:VN:BROWSER0003#3",
        now - 60,
        now + 86_400,
    );
    let valid_hc1 = valid["hc1"].as_str().unwrap().to_owned();
    let revoked_hc1 = revoked["hc1"].as_str().unwrap().to_owned();

    // The native figure for the same check, in this run: the page times its wasm twin.
    let anchor_der = vaxpass_keys::storage::read_certificate(&data.join("keys/csca.pem"))
        .unwrap()
        .0;
    let store = verify(
        &trust_list,
        &anchor_der,
        at,
        None,
        &TrustListPolicy::default(),
    )
    .unwrap()
    .to_trust_store();
    // The clock after the issuance: `at` may be a second before the certificates' `iat`.
    let checker = Checker::new(&store, Timestamp::now());
    assert!(checker.check(&valid_hc1).unwrap().valid);
    // Timed right after each browser run, so that both figures see the same machine load.
    let native_us = |hc1: &str| {
        let rounds = 200;
        let started = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(checker.check(hc1).unwrap());
        }
        started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    };

    let cases = [
        ("valid", &valid_hc1, "valid", ""),
        ("revoked", &revoked_hc1, "invalid", "REVOKED"),
        ("expired", &expired, "invalid", "EXPIRED"),
        ("unknown-signer", &unknown, "undecided", "KID_UNKNOWN"),
    ];
    let shots = tmp.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, hc1, state, code) in cases {
        let video = tmp.path().join(format!("{name}.y4m"));
        qr_video(hc1, &video);
        let running = start(&rt, &config);
        let result = browse(
            &rt,
            running,
            &spki,
            hc1,
            &video,
            &shots.join(format!("verify-{name}.png")),
            name == "valid",
        );
        assert_eq!(result["state"], state, "{name}: {result}");
        assert_eq!(result["code"], code, "{name}: {result}");
        assert_eq!(result["offline"], true, "{name}: {result}");
        assert_eq!(result["secure"], true, "{name}: {result}");
        assert_eq!(result["live"], "assertive", "{name}: {result}");
        assert!(
            result["scanned"].as_str().unwrap().contains("camera"),
            "{name}: the scan is announced: {result}"
        );
        // The three lists, verified in wasm and kept: their age shown offline.
        let lists = &result["lists"];
        for (list, says) in [
            ("trust", "Danh sách khóa ký VN"),
            ("revocations", "Danh sách thu hồi VN"),
            ("rules", "Quy định nhập cảnh VN:"),
        ] {
            let text = lists[list].as_str().unwrap();
            assert!(
                text.contains(says) && text.contains("trước"),
                "{name}: {list}: {text}"
            );
        }
        assert!(
            lists["rules"]
                .as_str()
                .unwrap()
                .contains(&format!("{} quy định", vaxpass_schemas::VN_RULES.len())),
            "{name}: {lists}"
        );
        match name {
            "valid" => {
                assert!(
                    result["holder"]
                        .as_str()
                        .unwrap()
                        .contains("Nguyễn Thị Lan"),
                    "{result}"
                );
                assert_eq!(result["revocation"], "NOT_REVOKED", "{result}");
                assert!(
                    result["revocation_text"]
                        .as_str()
                        .unwrap()
                        .contains("Không bị thu hồi"),
                    "{result}"
                );
                let a11y = &result["a11y"];
                assert_eq!(a11y["idle"], json!([]), "axe-core, idle page: {a11y}");
                assert_eq!(a11y["verdict"], json!([]), "axe-core, verdict: {a11y}");
                let order: Vec<&str> = a11y["tab_order"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let ids: Vec<&str> = order.iter().map(|e| e.split('|').next().unwrap()).collect();
                assert_eq!(
                    ids[..7],
                    ["vi", "en", "camera", "picture", "hc1", "submit", "refresh"],
                    "{order:?}"
                );
                for e in &order[..7] {
                    assert!(
                        !e.split('|').nth(1).unwrap().is_empty(),
                        "a control without a label: {e}"
                    );
                }
                assert_eq!(a11y["keyboard_verdict"], "valid", "{a11y}");
                // 50 hours on: the revocation list is past its grace period (24 h + 24 h), the
                // trust list stale within its own (48 h + 72 h).
                let later = &result["later"];
                assert_eq!(later["state"], "undecided", "{later}");
                assert_eq!(later["code"], "REVOCATION_UNKNOWN", "{later}");
                assert!(
                    later["revocations"].as_str().unwrap().contains("ĐÃ CŨ")
                        && later["trust"].as_str().unwrap().contains("ĐÃ CŨ"),
                    "{later}"
                );
            }
            "revoked" => {
                assert_eq!(result["revocation"], "REVOKED", "{result}");
                let reason = result["reason"].as_str().unwrap();
                assert!(
                    reason.contains("thu hồi") && reason.contains("cấp nhầm"),
                    "{reason}"
                );
            }
            _ => assert!(!result["reason"].as_str().unwrap().is_empty(), "{result}"),
        }
        // The page's WebCrypto path gives the pure-wasm report, word for word.
        assert_eq!(result["same_report"], true, "{name}: {result}");
        if name != "unknown-signer" {
            assert_eq!(result["webcrypto_verified"], true, "{name}: {result}");
        }
        let native_us = native_us(hc1);
        let wasm_us = result["wasm_check_us"].as_f64().unwrap();
        let webcrypto_us = result["webcrypto_check_us"].as_f64().unwrap();
        let build = if cfg!(debug_assertions) {
            "native debug build"
        } else {
            "native release build"
        };
        eprintln!(
            "{name}: {state} offline; page ready offline in {} ms; full check: pure wasm {wasm_us:.0} µs ({:.1}×), WebCrypto + wasm {webcrypto_us:.0} µs ({:.1}×), {build} {native_us:.0} µs; 640×480 frame decoded in {} ms",
            result["offline_ready_ms"],
            wasm_us / native_us,
            webcrypto_us / native_us,
            result["frame_decode_ms"],
        );
        if name == "valid" {
            eprintln!(
                "  the WebCrypto path: {} (µs: decode and keys in wasm, crypto.subtle.verify, the other checks in wasm)",
                result["webcrypto_split"]
            );
        }
    }
    if let Some(dir) = std::env::var_os("VAXPASS_SCREENSHOTS_DIR") {
        for entry in std::fs::read_dir(&shots).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), Path::new(&dir).join(entry.file_name())).unwrap();
        }
    }
}
