//! `GET /metrics`: the service's counters in the Prometheus text exposition format 0.0.4.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `vaxpass_http_requests_total` | counter | `route` (the route template, e.g. `/api/v1/certificates/{uvci}`, or `unmatched`), `status` (`2xx` … `5xx`) |
//! | `vaxpass_http_request_duration_seconds` | histogram | `route` |
//! | `vaxpass_dose_records_submitted_total` | counter | `outcome`: `verified`, `mismatch`, `not_found`, `manual_review` |
//! | `vaxpass_certificates_issued_total` | counter | |
//! | `vaxpass_certificate_issue_failures_total` | counter | |
//! | `vaxpass_lookup_attempts_total` | counter | `outcome`: `found`, `not_found`, `rate_limited` |
//! | `vaxpass_submissions_rate_limited_total` | counter | | dose records refused by the per-token submission limit ([`super::limits`]) |
//!
//! Requests are labelled with the *template* of the route they matched ([`MatchedPath`]),
//! never the raw path: a UVCI or a record id in a path never becomes a label, and the number
//! of label values stays bounded. Nothing personal is counted.
//!
//! On the API's address the route needs an **admin** token (403 for staff tokens, 401
//! without one): it holds no personal data, but it shows traffic volumes and which clinics
//! are busy. For Prometheus, either give the scraper an admin token (`authorization:
//! credentials_file:`), or better, run `serve --metrics-listen ADDR` and scrape
//! [`router`] there without a token, on an address only the monitoring network reaches
//! (no admin secret then sits on the monitoring host).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, Auth};
use crate::storage::{RecordStatus, Role};

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The outcome of a public certificate lookup, for [`Metrics::lookup_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LookupOutcome {
    /// A certificate was returned.
    Found,
    /// No certificate matched (or the answer was the uniform "not found").
    NotFound,
    /// Refused by the rate limiter.
    RateLimited,
}

impl LookupOutcome {
    const ALL: [LookupOutcome; 3] = [
        LookupOutcome::Found,
        LookupOutcome::NotFound,
        LookupOutcome::RateLimited,
    ];

    fn label(self) -> &'static str {
        match self {
            LookupOutcome::Found => "found",
            LookupOutcome::NotFound => "not_found",
            LookupOutcome::RateLimited => "rate_limited",
        }
    }
}

/// The matching outcomes counted by `vaxpass_dose_records_submitted_total`.
const SUBMIT_OUTCOMES: [RecordStatus; 4] = [
    RecordStatus::Verified,
    RecordStatus::Mismatch,
    RecordStatus::NotFound,
    RecordStatus::ManualReview,
];

/// Requests of one route.
#[derive(Debug, Default, Clone)]
struct RouteStats {
    /// Requests by status class: index 0 for 1xx … 4 for 5xx.
    by_class: [u64; 5],
    /// Requests per latency bucket (not cumulative; the last is above every bound).
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    /// Total latency, nanoseconds.
    sum_nanos: u128,
}

/// The service's metrics registry: atomic counters, and per-route request counts and latency
/// histograms behind one short-held lock. Shared through [`AppState::metrics`].
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, RouteStats>>,
    submitted: [AtomicU64; 4],
    issued: AtomicU64,
    issue_failures: AtomicU64,
    lookups: [AtomicU64; 3],
    submissions_rate_limited: AtomicU64,
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Counts one HTTP request: its route template (or [`UNMATCHED_ROUTE`]), status code and
    /// latency.
    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let secs = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        // A poisoned lock only means another thread panicked while counting: keep counting.
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let stats = match routes.get_mut(route) {
            Some(s) => s,
            None => routes.entry(route.to_owned()).or_default(),
        };
        stats.by_class[class] += 1;
        stats.buckets[bucket] += 1;
        stats.sum_nanos += elapsed.as_nanos();
    }

    /// Counts a dose record matched against the registry, by its outcome (`verified`,
    /// `mismatch`, `not_found`, `manual_review`; other statuses are not counted).
    pub fn record_submitted(&self, status: RecordStatus) {
        if let Some(i) = SUBMIT_OUTCOMES.iter().position(|s| *s == status) {
            self.submitted[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a newly issued certificate.
    pub fn certificate_issued(&self) {
        self.issued.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed issuance (building, signing or self-verifying a certificate).
    pub fn issue_failed(&self) {
        self.issue_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the outcome of a confirmation: a newly issued certificate, or an issuing failure
    /// (a repeated confirmation and other errors are not counted).
    pub fn observe_confirm(
        &self,
        result: &Result<crate::storage::Issued, crate::storage::StorageError>,
    ) {
        match result {
            Ok(issued) if issued.newly_issued => self.certificate_issued(),
            Err(crate::storage::StorageError::Issue(_)) => self.issue_failed(),
            _ => {}
        }
    }

    /// Counts a public certificate lookup attempt.
    pub fn lookup_attempt(&self, outcome: LookupOutcome) {
        if let Some(i) = LookupOutcome::ALL.iter().position(|o| *o == outcome) {
            self.lookups[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts `n` dose records refused by the per-token submission limit.
    pub fn submissions_rate_limited(&self, n: u64) {
        self.submissions_rate_limited
            .fetch_add(n, Ordering::Relaxed);
    }

    /// The registry in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Writing into a String cannot fail: the results are ignored.
        out.push_str(
            "# HELP vaxpass_http_requests_total HTTP requests by route template and status class.\n\
             # TYPE vaxpass_http_requests_total counter\n",
        );
        for (route, stats) in &routes {
            let route = escape(route);
            for (i, n) in stats.by_class.iter().enumerate().filter(|(_, n)| **n > 0) {
                let _ = writeln!(
                    out,
                    "vaxpass_http_requests_total{{route=\"{route}\",status=\"{}xx\"}} {n}",
                    i + 1
                );
            }
        }
        out.push_str(
            "# HELP vaxpass_http_request_duration_seconds Time to answer an HTTP request (until the response head), by route template.\n\
             # TYPE vaxpass_http_request_duration_seconds histogram\n",
        );
        for (route, stats) in &routes {
            let route = escape(route);
            let mut cumulative = 0;
            for (le, n) in LATENCY_BUCKETS.iter().zip(stats.buckets.iter()) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "vaxpass_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let count: u64 = stats.buckets.iter().sum();
            let _ = writeln!(
                out,
                "vaxpass_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "vaxpass_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                stats.sum_nanos as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "vaxpass_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP vaxpass_dose_records_submitted_total Dose records matched against the population registry, by outcome.\n\
             # TYPE vaxpass_dose_records_submitted_total counter\n",
        );
        for (status, n) in SUBMIT_OUTCOMES.iter().zip(&self.submitted) {
            let _ = writeln!(
                out,
                "vaxpass_dose_records_submitted_total{{outcome=\"{status}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = write!(
            out,
            "# HELP vaxpass_certificates_issued_total Certificates issued (signed, self-verified and stored).\n\
             # TYPE vaxpass_certificates_issued_total counter\n\
             vaxpass_certificates_issued_total {}\n\
             # HELP vaxpass_certificate_issue_failures_total Confirmations whose certificate could not be built, signed or self-verified.\n\
             # TYPE vaxpass_certificate_issue_failures_total counter\n\
             vaxpass_certificate_issue_failures_total {}\n\
             # HELP vaxpass_lookup_attempts_total Public certificate lookups, by outcome.\n\
             # TYPE vaxpass_lookup_attempts_total counter\n",
            self.issued.load(Ordering::Relaxed),
            self.issue_failures.load(Ordering::Relaxed),
        );
        for (outcome, n) in LookupOutcome::ALL.iter().zip(&self.lookups) {
            let _ = writeln!(
                out,
                "vaxpass_lookup_attempts_total{{outcome=\"{}\"}} {}",
                outcome.label(),
                n.load(Ordering::Relaxed)
            );
        }
        let _ = write!(
            out,
            "# HELP vaxpass_submissions_rate_limited_total Dose records refused by the per-token submission rate limit.\n\
             # TYPE vaxpass_submissions_rate_limited_total counter\n\
             vaxpass_submissions_rate_limited_total {}\n",
            self.submissions_rate_limited.load(Ordering::Relaxed),
        );
        out
    }
}

/// A label value, escaped as the exposition format requires (`\`, `"`, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The middleware that counts every request (install with
/// `axum::middleware::from_fn_with_state`). It labels by [`MatchedPath`], never by the raw path.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe_request(
        route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        response.status().as_u16(),
        start.elapsed(),
    );
    response
}

/// `GET /metrics` on the API's address: admin tokens only.
///
/// # Errors
/// 401 without a valid token, 403 for a staff token.
pub async fn metrics_admin(
    State(state): State<AppState>,
    Auth(staff): Auth,
) -> Result<Response, ApiError> {
    if staff.role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    Ok(metrics(State(state)).await)
}

/// The router of `serve --metrics-listen`: `GET /metrics` without a token, nothing else (404).
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(state)
}

/// `GET /metrics`, no token (the separate metrics listener, [`router`]).
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_match() {
        let m = Metrics::new();
        m.observe_request("/a/{id}", 200, Duration::from_micros(500));
        m.observe_request("/a/{id}", 404, Duration::from_millis(30));
        m.observe_request("/a/{id}", 503, Duration::from_secs(20));
        let text = m.render();
        for line in [
            "vaxpass_http_requests_total{route=\"/a/{id}\",status=\"2xx\"} 1",
            "vaxpass_http_requests_total{route=\"/a/{id}\",status=\"4xx\"} 1",
            "vaxpass_http_requests_total{route=\"/a/{id}\",status=\"5xx\"} 1",
            "vaxpass_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"0.001\"} 1",
            "vaxpass_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"0.025\"} 1",
            "vaxpass_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"0.05\"} 2",
            "vaxpass_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"10\"} 2",
            "vaxpass_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"+Inf\"} 3",
            "vaxpass_http_request_duration_seconds_sum{route=\"/a/{id}\"} 20.0305",
            "vaxpass_http_request_duration_seconds_count{route=\"/a/{id}\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn counters_and_escaping() {
        let m = Metrics::new();
        m.record_submitted(RecordStatus::Verified);
        m.record_submitted(RecordStatus::Verified);
        m.record_submitted(RecordStatus::ManualReview);
        m.record_submitted(RecordStatus::Issued);
        m.certificate_issued();
        m.issue_failed();
        m.lookup_attempt(LookupOutcome::RateLimited);
        m.observe_request("a\"b\\c\nd", 100, Duration::ZERO);
        let text = m.render();
        for line in [
            "vaxpass_dose_records_submitted_total{outcome=\"verified\"} 2",
            "vaxpass_dose_records_submitted_total{outcome=\"mismatch\"} 0",
            "vaxpass_dose_records_submitted_total{outcome=\"not_found\"} 0",
            "vaxpass_dose_records_submitted_total{outcome=\"manual_review\"} 1",
            "vaxpass_certificates_issued_total 1",
            "vaxpass_certificate_issue_failures_total 1",
            "vaxpass_lookup_attempts_total{outcome=\"found\"} 0",
            "vaxpass_lookup_attempts_total{outcome=\"rate_limited\"} 1",
            "vaxpass_http_requests_total{route=\"a\\\"b\\\\c\\nd\",status=\"1xx\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        // Every sample line belongs to a declared family.
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(
                families.iter().any(|f| name.starts_with(f)),
                "undeclared {name}"
            );
        }
    }
}
