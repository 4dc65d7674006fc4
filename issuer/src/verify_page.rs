//! The browser verifier's page at `/verify/`: the static files of `verifier/wasm/www` and the
//! wasm package, from the directory `bash verifier/wasm/build.sh OUT` assembles as `OUT/site`
//! (given to `serve --verifier-dir`, [`ServerConfig::verifier_dir`](crate::server::ServerConfig)).
//!
//! Two files are the issuer's own, not the directory's: `/verify/config.json` points the page
//! at this issuer's `/trust-list`, `/revocations` and `/rules`, and `/verify/anchor.pem` is the
//! CSCA certificate the page pins (the one the trust list and the other lists must chain to).
//! The page fetches them once, verifies the lists in wasm, keeps everything for offline use
//! (its service worker) and never sends anything back.
//!
//! Without a directory the service still runs: `/verify/` then answers 404 with a page saying,
//! in Vietnamese and English, that the verifier is not installed and how to install it.
//!
//! Every file goes out with `Cache-Control: no-cache` (the service worker keeps its copy and
//! revalidates) and a Content-Security-Policy that allows nothing but this origin (and the
//! compilation of the page's WebAssembly): a verifier page that could be made to send a
//! scanned certificate elsewhere would be a leak.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The files a verifier directory must hold (relative paths).
pub const REQUIRED_FILES: [&str; 5] = [
    "index.html",
    "verify.js",
    "sw.js",
    "pkg/vaxpass_verifier_wasm.js",
    "pkg/vaxpass_verifier_wasm_bg.wasm",
];

/// The page's Content-Security-Policy: this origin only; `'wasm-unsafe-eval'` lets it compile
/// its own module.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
     worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Why a verifier directory cannot be served.
#[derive(Debug, thiserror::Error)]
#[error(
    "verifier page directory {dir}: {file} is missing (build it with `bash verifier/wasm/build.sh OUT` and give OUT/site)"
)]
pub struct MissingFile {
    /// The directory given.
    pub dir: PathBuf,
    /// The first required file not found in it.
    pub file: &'static str,
}

/// What `/verify/` serves.
#[derive(Debug, Clone)]
pub struct VerifierPage {
    /// The page's files; `None`: not installed.
    dir: Option<PathBuf>,
    /// `/verify/anchor.pem`.
    anchor_pem: Vec<u8>,
    /// `/verify/config.json`.
    config_json: Vec<u8>,
}

impl VerifierPage {
    /// The page of the files in `dir` (`None`: not installed), pinning the CSCA certificate
    /// `anchor_pem`, for an issuer of `country` (ISO 3166 alpha-2) that publishes rules when
    /// `rules` is set.
    ///
    /// # Errors
    /// A required file is missing from `dir`.
    pub fn new(
        dir: Option<&Path>,
        anchor_pem: Vec<u8>,
        country: &str,
        rules: bool,
    ) -> Result<VerifierPage, MissingFile> {
        if let Some(dir) = dir {
            if let Some(file) = REQUIRED_FILES.iter().find(|f| !dir.join(f).is_file()) {
                return Err(MissingFile {
                    dir: dir.to_path_buf(),
                    file,
                });
            }
        }
        let mut config = serde_json::json!({
            "anchor": "anchor.pem",
            "trustList": "../trust-list",
            "revocations": "../revocations",
            "country": country,
        });
        if rules {
            config["rules"] = serde_json::Value::from("../rules");
        }
        Ok(VerifierPage {
            dir: dir.map(Path::to_path_buf),
            anchor_pem,
            config_json: config.to_string().into_bytes(),
        })
    }

    /// Whether the page's files are installed.
    pub fn installed(&self) -> bool {
        self.dir.is_some()
    }
}

/// `GET /verify` (redirect), `/verify/` and `/verify/{file}`.
pub fn router(page: Arc<VerifierPage>) -> Router {
    Router::new()
        .route("/verify", get(|| async { Redirect::permanent("/verify/") }))
        .route(
            "/verify/",
            get(|State(page): State<Arc<VerifierPage>>| async move {
                file(&page, "index.html").await
            }),
        )
        .route(
            "/verify/{*path}",
            get(
                |State(page): State<Arc<VerifierPage>>, UrlPath(path): UrlPath<String>| async move {
                    file(&page, &path).await
                },
            ),
        )
        .with_state(page)
}

/// The media type of a page file, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("css") => "text/css; charset=utf-8",
        Some("webmanifest") => "application/manifest+json",
        Some("pem") => "application/x-pem-file",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A path of plain names (letters, digits, `-`, `_`, `.`, none starting with a dot), so that
/// nothing outside the directory, and no hidden file, is reachable.
fn safe(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 200
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

fn answer(path: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn file(page: &VerifierPage, path: &str) -> Response {
    let Some(dir) = &page.dir else {
        return not_installed();
    };
    match path {
        "config.json" => return answer(path, page.config_json.clone()),
        "anchor.pem" => return answer(path, page.anchor_pem.clone()),
        _ => {}
    }
    if !safe(path) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let full = dir.join(path);
    match tokio::task::spawn_blocking(move || std::fs::read(full)).await {
        Ok(Ok(bytes)) => answer(path, bytes),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            StatusCode::NOT_FOUND.into_response()
        }
        // A directory, or a file that cannot be read: not served, and said in the log.
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a verifier page file cannot be read");
            StatusCode::NOT_FOUND.into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The 404 page of an issuer without the verifier's files.
fn not_installed() -> Response {
    const PAGE: &str = "<!doctype html>\n<html lang=\"vi\">\n<head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Chưa cài trang kiểm tra · Verifier not installed</title></head>\n<body>\n\
<main>\n<h1>Trang kiểm tra hộ chiếu vắc xin chưa được cài đặt trên máy chủ này</h1>\n\
<p>Quản trị viên: tạo gói bằng <code>bash verifier/wasm/build.sh OUT</code> rồi chạy \
<code>vaxpass-issuer serve --verifier-dir OUT/site</code>.</p>\n\
<h2 lang=\"en\">The vaccine passport verifier is not installed on this server</h2>\n\
<p lang=\"en\">Operators: build it with <code>bash verifier/wasm/build.sh OUT</code>, then run \
<code>vaxpass-issuer serve --verifier-dir OUT/site</code>.</p>\n</main>\n</body>\n</html>\n";
    (
        StatusCode::NOT_FOUND,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        PAGE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_inside_the_directory_are_served() {
        assert!(safe("index.html"));
        assert!(safe("pkg/vaxpass_verifier_wasm_bg.wasm"));
        assert!(safe("i18n/vi.json"));
        for bad in [
            "",
            "../keys/csca.key",
            "pkg/../../x",
            ".git/config",
            "pkg//x",
            "/etc/passwd",
            "a\\b",
            "pkg/.hidden",
        ] {
            assert!(!safe(bad), "{bad}");
        }
    }

    #[test]
    fn a_directory_without_the_module_is_refused() {
        let dir = std::env::temp_dir().join(format!("vaxpass-verify-page-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or(());
        std::fs::write(dir.join("index.html"), "x").unwrap_or(());
        let err = VerifierPage::new(Some(&dir), Vec::new(), "VN", false).unwrap_err();
        assert_eq!(err.file, "verify.js");
        assert!(err.to_string().contains("build.sh"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        let page =
            VerifierPage::new(None, Vec::new(), "VN", true).unwrap_or_else(|e| panic!("{e}"));
        assert!(!page.installed());
        let config: serde_json::Value =
            serde_json::from_slice(&page.config_json).unwrap_or_default();
        assert_eq!(config["rules"], "../rules");
        assert_eq!(config["trustList"], "../trust-list");
    }
}
