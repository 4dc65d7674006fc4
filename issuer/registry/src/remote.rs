//! The client of the ministry's remote population-registry verification service.
//!
//! # Contract (v1)
//!
//! One endpoint, a custom method on the `persons` collection:
//!
//! ```text
//! POST {base}/v1/persons:lookup
//! Authorization: Bearer {api key}
//! Content-Type: application/json
//! Accept: application/json
//! X-Request-Id: {32 hex digits, the same on every retry of one lookup}
//!
//! {"id_number":"079185012345"}
//! ```
//!
//! - `id_number`: the canonical number, digits only (12 for a CCCD, 9 for a CMND). Foreign
//!   passports are not in the national registry and are never sent. The number travels in the
//!   body only, so it appears in no URL, proxy log or access log.
//! - `200`, `Content-Type: application/json`, one of
//!   - `{"found":true,"person":{"id_number":"079185012345","full_name":"Nguyễn Thị Lan","date_of_birth":"1985-04-12","sex":"F"}}`
//!   - `{"found":false}` (the number is not registered)
//!
//!   Checked strictly: `found` is required; `person` is required when found and absent (or
//!   `null`) otherwise; `person.id_number` must equal the number asked (an answer about
//!   another person is refused); `full_name` is 1–200 characters without control characters;
//!   `date_of_birth` is a valid `YYYY-MM-DD`; `sex` is `M` or `F`; duplicate keys are refused.
//!   Fields this client does not know are ignored, so the service may add fields within v1
//!   (a breaking change gets `/v2`). The body is read up to [`RemoteRegistryConfig::max_body`]
//!   (64 KiB by default); a longer one is refused.
//! - `429` and `5xx`: retried (below). `Retry-After` in seconds is honoured within the deadline.
//! - any other status (`400`, `401`/`403` for a bad or missing key, `404` for a wrong base URL,
//!   `3xx`; redirects are not followed): [`RegistryError::Protocol`], not retried.
//!
//! # Transport
//! HTTPS only, through `ureq` over rustls (ring): the server is verified against the CA bundle
//! of [`RemoteRegistryConfig::ca_file`] (the registry's private CA; the Mozilla roots when
//! unset); a client certificate for mutual TLS is optional. No proxy is used.
//!
//! `ureq` is blocking: every attempt runs on tokio's blocking pool (`spawn_blocking`), bounded
//! by its own timeout. It was chosen over an async hyper client because it is already the
//! workspace's HTTPS client (the verifier's trust-list sync), adds no dependency, and a lookup
//! is one small request, so a blocking thread per in-flight lookup costs little. The one
//! consequence: a lookup whose future is dropped leaves its attempt running until that
//! attempt's timeout.
//!
//! # Retries, deadline, circuit breaker
//! - Up to [`RemoteRegistryConfig::max_attempts`] attempts for timeouts, connection failures,
//!   `429` and `5xx`, with exponential backoff and "equal jitter" (half the backoff fixed, half
//!   random): `backoff_base · 2^(attempt−1)`, capped at `backoff_max`.
//! - Every attempt's timeout is `attempt_timeout`, cut to what is left of `total_deadline`;
//!   no retry starts if its backoff would end past the deadline.
//! - A [`CircuitBreaker`] counts consecutive failed attempts (timeouts, connection and TLS
//!   failures, `429`/`5xx`; an answer that breaks the contract proves the service is up and
//!   resets the count). After `breaker_failures` of them it opens for `breaker_open_for`:
//!   lookups then fail at once with [`RegistryError::Unavailable`], sending nothing. Then it is
//!   half-open: one probe request goes through; its success closes the circuit, its failure
//!   opens it again.
//!
//! # Configuration
//! [`RemoteRegistryConfig::from_env`] reads `VAXPASS_REGISTRY_*` variables (listed there);
//! the `serve` command maps its flags onto the same struct.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use crate::{PersonRegistry, RegistryError};
use vaxpass_issuer_domain::dates::Date;
use vaxpass_issuer_domain::identity::{IdNumber, Sex};
use vaxpass_issuer_domain::matching::RegistryPerson;

/// The lookup path under the base URL.
pub const LOOKUP_PATH: &str = "/v1/persons:lookup";

/// The default bound of a response body: 64 KiB.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// Longest accepted `full_name`, in characters.
const MAX_NAME_CHARS: usize = 200;

/// An API key: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Settings of the remote registry client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRegistryConfig {
    /// `https://host[:port][/prefix]`; the lookup goes to `{base_url}/v1/persons:lookup`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`.
    pub api_key: Option<ApiKey>,
    /// PEM bundle of the CA(s) that issue the registry's server certificate; `None`: the
    /// Mozilla root store.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS (with [`Self::client_key_file`]).
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) of the client certificate.
    pub client_key_file: Option<PathBuf>,
    /// Connection setup (TCP and TLS) timeout of one attempt.
    pub connect_timeout: Duration,
    /// Timeout of one attempt, response body included.
    pub attempt_timeout: Duration,
    /// Deadline of one lookup, all attempts and backoffs included.
    pub total_deadline: Duration,
    /// Attempts per lookup (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one.
    pub backoff_base: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
    /// Consecutive failed attempts that open the circuit (at least 1).
    pub breaker_failures: u32,
    /// How long the circuit stays open before a probe.
    pub breaker_open_for: Duration,
    /// Largest response body read, in bytes.
    pub max_body: usize,
}

impl RemoteRegistryConfig {
    /// Defaults for everything but the URL: 2 s connect, 5 s per attempt, 12 s per lookup,
    /// 3 attempts, backoff 200 ms doubling up to 2 s, circuit open for 30 s after 5 failures,
    /// 64 KiB bodies, the Mozilla roots, no key, no client certificate.
    pub fn new(base_url: impl Into<String>) -> RemoteRegistryConfig {
        RemoteRegistryConfig {
            base_url: base_url.into(),
            api_key: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
            total_deadline: Duration::from_secs(12),
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(30),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Reads the process environment; `Ok(None)` when `VAXPASS_REGISTRY_URL` is unset (the
    /// local registry table is then used). See [`Self::from_vars`] for the variables.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a variable that does not parse.
    pub fn from_env() -> Result<Option<RemoteRegistryConfig>, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Builds the settings from variables looked up by `var`:
    ///
    /// | variable | field |
    /// |---|---|
    /// | `VAXPASS_REGISTRY_URL` | `base_url` (unset: `Ok(None)`) |
    /// | `VAXPASS_REGISTRY_API_KEY` | `api_key` |
    /// | `VAXPASS_REGISTRY_API_KEY_FILE` | `api_key`, read from a file (trailing newline dropped) |
    /// | `VAXPASS_REGISTRY_CA_FILE` | `ca_file` |
    /// | `VAXPASS_REGISTRY_CLIENT_CERT` / `VAXPASS_REGISTRY_CLIENT_KEY` | mutual TLS |
    /// | `VAXPASS_REGISTRY_CONNECT_TIMEOUT_MS` | `connect_timeout` |
    /// | `VAXPASS_REGISTRY_TIMEOUT_MS` | `attempt_timeout` |
    /// | `VAXPASS_REGISTRY_DEADLINE_MS` | `total_deadline` |
    /// | `VAXPASS_REGISTRY_MAX_ATTEMPTS` | `max_attempts` |
    /// | `VAXPASS_REGISTRY_BACKOFF_MS` / `VAXPASS_REGISTRY_BACKOFF_MAX_MS` | backoff |
    /// | `VAXPASS_REGISTRY_BREAKER_FAILURES` | `breaker_failures` |
    /// | `VAXPASS_REGISTRY_BREAKER_OPEN_SECS` | `breaker_open_for` |
    /// | `VAXPASS_REGISTRY_MAX_BODY` | `max_body` (bytes) |
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a value that does not parse or a key file not readable.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<RemoteRegistryConfig>, ConfigError> {
        let Some(url) = var("VAXPASS_REGISTRY_URL").filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let mut c = RemoteRegistryConfig::new(url.trim());
        let number = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            var(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
                        what: name,
                        reason: "not a whole number".into(),
                    })
                })
                .transpose()
        };
        if let Some(key) = var("VAXPASS_REGISTRY_API_KEY") {
            c.api_key = Some(ApiKey::new(key.trim()));
        }
        if let Some(path) = var("VAXPASS_REGISTRY_API_KEY_FILE") {
            let key = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                what: "VAXPASS_REGISTRY_API_KEY_FILE",
                reason: e.to_string(),
            })?;
            c.api_key = Some(ApiKey::new(key.trim_end_matches(['\r', '\n'])));
        }
        c.ca_file = var("VAXPASS_REGISTRY_CA_FILE").map(PathBuf::from);
        c.client_cert_file = var("VAXPASS_REGISTRY_CLIENT_CERT").map(PathBuf::from);
        c.client_key_file = var("VAXPASS_REGISTRY_CLIENT_KEY").map(PathBuf::from);
        let ms = Duration::from_millis;
        if let Some(v) = number("VAXPASS_REGISTRY_CONNECT_TIMEOUT_MS")? {
            c.connect_timeout = ms(v);
        }
        if let Some(v) = number("VAXPASS_REGISTRY_TIMEOUT_MS")? {
            c.attempt_timeout = ms(v);
        }
        if let Some(v) = number("VAXPASS_REGISTRY_DEADLINE_MS")? {
            c.total_deadline = ms(v);
        }
        if let Some(v) = number("VAXPASS_REGISTRY_MAX_ATTEMPTS")? {
            c.max_attempts = u32::try_from(v).unwrap_or(u32::MAX);
        }
        if let Some(v) = number("VAXPASS_REGISTRY_BACKOFF_MS")? {
            c.backoff_base = ms(v);
        }
        if let Some(v) = number("VAXPASS_REGISTRY_BACKOFF_MAX_MS")? {
            c.backoff_max = ms(v);
        }
        if let Some(v) = number("VAXPASS_REGISTRY_BREAKER_FAILURES")? {
            c.breaker_failures = u32::try_from(v).unwrap_or(u32::MAX);
        }
        if let Some(v) = number("VAXPASS_REGISTRY_BREAKER_OPEN_SECS")? {
            c.breaker_open_for = Duration::from_secs(v);
        }
        if let Some(v) = number("VAXPASS_REGISTRY_MAX_BODY")? {
            c.max_body = usize::try_from(v).unwrap_or(usize::MAX);
        }
        c.validate()?;
        Ok(Some(c))
    }

    /// Checks the values that need no file access.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |what, reason: &str| {
            Err(ConfigError::Invalid {
                what,
                reason: reason.to_owned(),
            })
        };
        let url = &self.base_url;
        let Some(rest) = url.strip_prefix("https://") else {
            return invalid("registry URL", "must start with https://");
        };
        if rest.is_empty() || rest.starts_with('/') {
            return invalid("registry URL", "has no host");
        }
        if rest.contains(['?', '#', ' ', '@']) {
            return invalid(
                "registry URL",
                "must be https://host[:port][/prefix], without credentials, query or fragment",
            );
        }
        if self.max_attempts == 0 {
            return invalid("max attempts", "must be at least 1");
        }
        if self.breaker_failures == 0 {
            return invalid("breaker failures", "must be at least 1");
        }
        if self.attempt_timeout.is_zero() || self.total_deadline.is_zero() {
            return invalid("timeouts", "must be above zero");
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            return invalid(
                "client certificate",
                "a client certificate needs its key, and a key its certificate",
            );
        }
        if self.max_body == 0 {
            return invalid("max body", "must be above zero");
        }
        Ok(())
    }

    fn endpoint(&self) -> String {
        format!("{}{LOOKUP_PATH}", self.base_url.trim_end_matches('/'))
    }
}

/// The remote registry client cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is invalid.
    #[error("registry setting {what}: {reason}")]
    Invalid {
        /// Which setting.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A TLS file cannot be read or holds nothing usable.
    #[error("registry TLS file {path}: {reason}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Monotonic "now"; replaceable in tests (the breaker's open period, the lookup deadline).
pub type MonotonicClock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A circuit breaker over consecutive failures (see the module documentation).
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<BreakerState>,
}

/// Where a [`CircuitBreaker`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerStatus {
    /// Requests go through.
    Closed,
    /// Requests fail fast.
    Open,
    /// The open period is over: the next request is a probe.
    HalfOpen,
}

/// Leave to send one request; report its result with [`Permit::success`] or
/// [`Permit::failure`]. A probe permit dropped unreported (the lookup was cancelled) counts as
/// a failed probe, so a cancelled probe cannot leave the circuit half-open forever; any other
/// permit dropped unreported changes nothing (a cancelled lookup says nothing about the
/// registry).
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    reported: bool,
    clock_now: Instant,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures (at least 1), for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> CircuitBreaker {
        CircuitBreaker {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        // The state is a plain value, valid whatever a panicking holder did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the breaker stands at `now`.
    pub fn status(&self, now: Instant) -> BreakerStatus {
        match *self.lock() {
            BreakerState::Closed { .. } => BreakerStatus::Closed,
            BreakerState::Open { until } if now < until => BreakerStatus::Open,
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => BreakerStatus::HalfOpen,
        }
    }

    /// Leave to send a request at `now`, or `None` while open (or while the half-open probe
    /// is in flight).
    pub fn try_acquire(&self, now: Instant) -> Option<Permit<'_>> {
        let mut state = self.lock();
        let probe = match *state {
            BreakerState::Closed { .. } => false,
            BreakerState::Open { until } if now < until => return None,
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: false } => {
                *state = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::HalfOpen { probing: true } => return None,
        };
        Some(Permit {
            breaker: self,
            probe,
            reported: false,
            clock_now: now,
        })
    }

    fn record(&self, ok: bool, probe: bool, now: Instant) {
        let mut state = self.lock();
        *state = match (*state, ok) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, false) if !probe => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    BreakerState::Open {
                        until: now + self.open_for,
                    }
                } else {
                    BreakerState::Closed { failures }
                }
            }
            // A failed probe, or a failure reported after the circuit opened meanwhile.
            _ => BreakerState::Open {
                until: now + self.open_for,
            },
        };
    }
}

impl Permit<'_> {
    /// The request got an answer from the service.
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.record(true, self.probe, self.clock_now);
    }

    /// The request failed (timeout, connection, TLS, `429`/`5xx`) at `now`.
    pub fn failure(mut self, now: Instant) {
        self.reported = true;
        self.breaker.record(false, self.probe, now);
    }
}

impl Permit<'_> {
    /// The request was not sent after all: a normal permit changes nothing; a probe slot is
    /// released as a failed probe (the circuit stays open).
    fn unsent(self) {
        drop(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.probe {
            self.breaker.record(false, true, self.clock_now);
        }
    }
}

/// The request body.
#[derive(Serialize)]
struct LookupRequest<'a> {
    id_number: &'a str,
}

/// The response body.
#[derive(Deserialize)]
struct LookupResponse {
    found: bool,
    #[serde(default)]
    person: Option<PersonWire>,
}

#[derive(Deserialize)]
struct PersonWire {
    id_number: String,
    full_name: String,
    date_of_birth: String,
    sex: String,
}

fn protocol(reason: impl Into<String>) -> RegistryError {
    RegistryError::Protocol(reason.into())
}

/// Checks an answer against the contract. Error texts never quote the body (it holds
/// personal data).
fn parse_answer(body: &[u8], asked: &IdNumber) -> Result<Option<RegistryPerson>, RegistryError> {
    let answer: LookupResponse = serde_json::from_slice(body).map_err(|e| {
        protocol(format!(
            "the body is not the contract's JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let wire = match (answer.found, answer.person) {
        (false, None) => return Ok(None),
        (false, Some(_)) => return Err(protocol("\"found\" is false but a person is given")),
        (true, None) => return Err(protocol("\"found\" is true but no person is given")),
        (true, Some(p)) => p,
    };
    if wire.id_number != asked.to_string() {
        return Err(protocol(
            "the person returned has another ID number than the one asked",
        ));
    }
    let name = wire.full_name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(protocol(
            "\"full_name\" must be 1 to 200 characters without control characters",
        ));
    }
    let dob = &wire.date_of_birth;
    let date_of_birth = Date::parse(dob)
        .ok()
        .filter(|d| d.to_string() == *dob)
        .ok_or_else(|| protocol("\"date_of_birth\" is not a valid YYYY-MM-DD date"))?;
    let sex = match wire.sex.as_str() {
        "M" => Sex::Male,
        "F" => Sex::Female,
        _ => return Err(protocol("\"sex\" must be \"M\" or \"F\"")),
    };
    Ok(Some(RegistryPerson {
        id: asked.clone(),
        full_name: name.to_owned(),
        date_of_birth,
        sex,
    }))
}

/// One attempt's failure, before the retry decision.
enum AttemptError {
    /// Retry may help (and counts against the breaker). `retry_after` from the server.
    Retryable {
        error: RegistryError,
        retry_after: Option<Duration>,
    },
    /// Retry will not help, and the service is down or unreachable (counts against the
    /// breaker): TLS failures.
    Broken(RegistryError),
    /// The service answered, against the contract (resets the breaker's count).
    Answered(RegistryError),
}

fn classify_ureq(e: ureq::Error) -> AttemptError {
    use ureq::Error as U;
    let retry = |error| AttemptError::Retryable {
        error,
        retry_after: None,
    };
    match e {
        U::Timeout(_) => retry(RegistryError::Timeout),
        U::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => retry(RegistryError::Timeout),
        // rustls reports handshake failures (bad certificate, alert) as `InvalidData` I/O
        // errors around its own error.
        U::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            let reason = io
                .get_ref()
                .map_or_else(|| io.to_string(), ToString::to_string);
            AttemptError::Broken(RegistryError::Tls(reason))
        }
        U::Io(io) => retry(RegistryError::Transport(io.kind().to_string())),
        U::HostNotFound => retry(RegistryError::Transport("host not found".into())),
        U::ConnectionFailed => retry(RegistryError::Transport("connection failed".into())),
        U::Tls(m) => AttemptError::Broken(RegistryError::Tls(m.to_owned())),
        U::Rustls(r) => AttemptError::Broken(RegistryError::Tls(r.to_string())),
        U::BodyExceedsLimit(n) => AttemptError::Answered(protocol(format!(
            "the response body is larger than the {n}-byte limit"
        ))),
        U::TooManyRedirects | U::RedirectFailed => AttemptError::Answered(protocol(
            "a redirect was answered; redirects are not followed",
        )),
        U::Protocol(p) => AttemptError::Answered(protocol(format!("malformed HTTP: {p}"))),
        U::LargeResponseHeader(..) => {
            AttemptError::Answered(protocol("the response headers are too large"))
        }
        other => retry(RegistryError::Transport(other.to_string())),
    }
}

/// Parses `Retry-After` in whole seconds (the HTTP-date form is ignored).
fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

struct Inner {
    config: RemoteRegistryConfig,
    endpoint: String,
    agent: ureq::Agent,
    breaker: CircuitBreaker,
    clock: MonotonicClock,
}

/// The remote registry verification service's client (see the module documentation). Cheap
/// to clone: clones share the connection pool and the circuit breaker.
#[derive(Clone)]
pub struct RemoteRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for RemoteRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteRegistry")
            .field("endpoint", &self.inner.endpoint)
            .field("breaker", &self.inner.breaker)
            .finish_non_exhaustive()
    }
}

fn read_tls_file(path: &PathBuf) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::TlsFile {
        path: path.clone(),
        reason: e.to_string(),
    })
}

fn pem_items(path: &PathBuf) -> Result<Vec<PemItem<'static>>, ConfigError> {
    let pem = read_tls_file(path)?;
    ureq::tls::parse_pem(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::TlsFile {
            path: path.clone(),
            reason: format!("not PEM: {e}"),
        })
}

fn certificates(path: &PathBuf) -> Result<Vec<Certificate<'static>>, ConfigError> {
    let certs: Vec<_> = pem_items(path)?
        .into_iter()
        .filter_map(|i| match i {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(ConfigError::TlsFile {
            path: path.clone(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn private_key(path: &PathBuf) -> Result<PrivateKey<'static>, ConfigError> {
    pem_items(path)?
        .into_iter()
        .find_map(|i| match i {
            PemItem::PrivateKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| ConfigError::TlsFile {
            path: path.clone(),
            reason: "no PRIVATE KEY block".into(),
        })
}

impl RemoteRegistry {
    /// A client; reads the CA bundle and the client certificate now.
    ///
    /// # Errors
    /// [`ConfigError`]: an invalid setting or an unreadable TLS file.
    pub fn new(config: RemoteRegistryConfig) -> Result<RemoteRegistry, ConfigError> {
        config.validate()?;
        let roots = match &config.ca_file {
            Some(path) => RootCerts::new_with_certs(&certificates(path)?),
            None => RootCerts::WebPki,
        };
        let client_cert = match (&config.client_cert_file, &config.client_key_file) {
            (Some(cert), Some(key)) => Some(ClientCert::new_with_certs(
                &certificates(cert)?,
                private_key(key)?,
            )),
            _ => None,
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(roots)
            .client_cert(client_cert)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .https_only(true)
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_connect(Some(config.connect_timeout))
            .user_agent(concat!("vaxpass-issuer/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(RemoteRegistry {
            inner: Arc::new(Inner {
                endpoint: config.endpoint(),
                breaker: CircuitBreaker::new(config.breaker_failures, config.breaker_open_for),
                config,
                agent,
                clock: Arc::new(Instant::now),
            }),
        })
    }

    /// Replaces the monotonic clock (tests). Call before cloning: it builds a new client
    /// state (a new breaker, closed).
    #[must_use]
    pub fn with_clock(self, clock: impl Fn() -> Instant + Send + Sync + 'static) -> RemoteRegistry {
        let inner = &self.inner;
        RemoteRegistry {
            inner: Arc::new(Inner {
                config: inner.config.clone(),
                endpoint: inner.endpoint.clone(),
                agent: inner.agent.clone(),
                breaker: CircuitBreaker::new(
                    inner.config.breaker_failures,
                    inner.config.breaker_open_for,
                ),
                clock: Arc::new(clock),
            }),
        }
    }

    /// The lookup URL.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Where the circuit breaker stands now.
    pub fn breaker_status(&self) -> BreakerStatus {
        self.inner.breaker.status((self.inner.clock)())
    }

    /// The backoff before attempt `attempt + 1`: equal jitter over the doubled base.
    fn backoff(&self, attempt: u32) -> Duration {
        let c = &self.inner.config;
        let exp = c
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(c.backoff_max);
        let half = exp / 2;
        let span = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        let jitter = if span == 0 {
            0
        } else {
            OsRng.next_u64() % (span + 1)
        };
        half + Duration::from_micros(jitter)
    }

    /// One attempt, on the blocking pool.
    async fn attempt(
        &self,
        body: Arc<Vec<u8>>,
        request_id: Arc<str>,
        timeout: Duration,
    ) -> Result<Vec<u8>, AttemptError> {
        let inner = self.inner.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut req = inner
                .agent
                .post(&inner.endpoint)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .header("x-request-id", &*request_id);
            if let Some(key) = &inner.config.api_key {
                req = req.header("authorization", format!("Bearer {}", key.expose()));
            }
            let mut resp = req
                .config()
                .timeout_global(Some(timeout))
                .build()
                .send(&body[..])
                .map_err(classify_ureq)?;
            let status = resp.status().as_u16();
            if status == 429 || (500..=599).contains(&status) {
                return Err(AttemptError::Retryable {
                    error: RegistryError::Status(status),
                    retry_after: retry_after(&resp),
                });
            }
            if status != 200 {
                return Err(AttemptError::Answered(protocol(format!(
                    "HTTP {status} (expected 200; 401/403: check the API key, 404: the base URL)"
                ))));
            }
            let json = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(AttemptError::Answered(protocol(
                    "the Content-Type is not application/json",
                )));
            }
            let limit = u64::try_from(inner.config.max_body).unwrap_or(u64::MAX);
            resp.body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(classify_ureq)
        })
        .await;
        joined.unwrap_or_else(|_| {
            Err(AttemptError::Retryable {
                error: RegistryError::Transport("the request worker failed".into()),
                retry_after: None,
            })
        })
    }
}

impl PersonRegistry for RemoteRegistry {
    /// Asks the service (see the module documentation for retries and the breaker). A foreign
    /// passport is never sent: `Ok(None)`.
    async fn lookup(&self, id: &IdNumber) -> Result<Option<RegistryPerson>, RegistryError> {
        if matches!(id, IdNumber::Passport(_)) {
            return Ok(None);
        }
        let inner = &self.inner;
        let now = || (inner.clock)();
        let deadline = now() + inner.config.total_deadline;
        let number = id.to_string();
        let body = serde_json::to_vec(&LookupRequest { id_number: &number })
            .map_err(|_| protocol("the request could not be encoded"))?;
        let body = Arc::new(body);
        let mut raw = [0u8; 16];
        OsRng.fill_bytes(&mut raw);
        let request_id: Arc<str> = Arc::from(hex::encode(raw));
        let mut attempt = 0u32;
        let mut last: Option<RegistryError> = None;
        loop {
            attempt += 1;
            let Some(permit) = inner.breaker.try_acquire(now()) else {
                // Opened by this lookup's own failures: their error says more.
                return Err(last.unwrap_or(RegistryError::Unavailable));
            };
            let remaining = deadline.saturating_duration_since(now());
            if remaining.is_zero() {
                // Not sent: neither a success nor a failure of the service.
                permit.unsent();
                return Err(RegistryError::Timeout);
            }
            let timeout = inner.config.attempt_timeout.min(remaining);
            let (error, wait) = match self
                .attempt(body.clone(), request_id.clone(), timeout)
                .await
            {
                Ok(bytes) => {
                    permit.success();
                    return parse_answer(&bytes, id);
                }
                Err(AttemptError::Answered(e)) => {
                    permit.success();
                    return Err(e);
                }
                Err(AttemptError::Broken(e)) => {
                    permit.failure(now());
                    return Err(e);
                }
                Err(AttemptError::Retryable { error, retry_after }) => {
                    permit.failure(now());
                    (error, retry_after)
                }
            };
            if attempt >= inner.config.max_attempts {
                return Err(error);
            }
            let wait = wait.map_or_else(|| self.backoff(attempt), |r| r.max(self.backoff(attempt)));
            if now() + wait >= deadline {
                return Err(error);
            }
            last = Some(error);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn id() -> IdNumber {
        IdNumber::parse_national("079185012345").unwrap()
    }

    #[test]
    fn answers_are_checked_strictly() {
        let ok = br#"{"found":true,"person":{"id_number":"079185012345","full_name":"Nguy\u1ec5n Th\u1ecb Lan","date_of_birth":"1985-04-12","sex":"F","extra":1}}"#;
        let p = parse_answer(ok, &id()).unwrap().unwrap();
        assert_eq!(p.full_name, "Nguyễn Thị Lan");
        assert_eq!(p.date_of_birth.to_string(), "1985-04-12");
        assert_eq!(parse_answer(br#"{"found":false}"#, &id()).unwrap(), None);
        assert_eq!(
            parse_answer(br#"{"found":false,"person":null}"#, &id()).unwrap(),
            None
        );
        for (bad, why) in [
            (&br#"{"person":null}"#[..], "missing field"),
            (br#"{"found":true}"#, "no person is given"),
            (br#"{"found":false,"person":{"id_number":"079185012345","full_name":"A","date_of_birth":"1985-04-12","sex":"F"}}"#, "but a person"),
            (br#"{"found":true,"person":{"id_number":"079185012346","full_name":"A","date_of_birth":"1985-04-12","sex":"F"}}"#, "another ID number"),
            (br#"{"found":true,"person":{"id_number":"079185012345","full_name":" ","date_of_birth":"1985-04-12","sex":"F"}}"#, "full_name"),
            (br#"{"found":true,"person":{"id_number":"079185012345","full_name":"A","date_of_birth":"12/04/1985","sex":"F"}}"#, "date_of_birth"),
            (br#"{"found":true,"person":{"id_number":"079185012345","full_name":"A","date_of_birth":"1985-02-30","sex":"F"}}"#, "date_of_birth"),
            (br#"{"found":true,"person":{"id_number":"079185012345","full_name":"A","date_of_birth":"1985-04-12","sex":"female"}}"#, "sex"),
            (br#"{"found":true,"found":false}"#, "duplicate"),
            (br#"{"found":"yes"}"#, "not the contract"),
        ] {
            let e = parse_answer(bad, &id()).unwrap_err().to_string();
            assert!(e.contains(why) || e.contains("not the contract"), "{e}");
            // No personal data in the error text.
            assert!(!e.contains("079185012345") && !e.contains("1985"), "{e}");
        }
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let t0 = Instant::now();
        let b = CircuitBreaker::new(2, Duration::from_secs(30));
        b.try_acquire(t0).unwrap().failure(t0);
        assert_eq!(b.status(t0), BreakerStatus::Closed);
        b.try_acquire(t0).unwrap().failure(t0);
        assert_eq!(b.status(t0), BreakerStatus::Open);
        assert!(b.try_acquire(t0 + Duration::from_secs(29)).is_none());
        let later = t0 + Duration::from_secs(30);
        assert_eq!(b.status(later), BreakerStatus::HalfOpen);
        let probe = b.try_acquire(later).unwrap();
        // One probe at a time.
        assert!(b.try_acquire(later).is_none());
        probe.failure(later);
        assert_eq!(b.status(later), BreakerStatus::Open);
        let later = later + Duration::from_secs(30);
        let probe = b.try_acquire(later).unwrap();
        // A dropped (cancelled) probe reopens the circuit instead of blocking it.
        drop(probe);
        assert_eq!(b.status(later), BreakerStatus::Open);
        let later = later + Duration::from_secs(30);
        b.try_acquire(later).unwrap().success();
        assert_eq!(b.status(later), BreakerStatus::Closed);
        // A cancelled ordinary request counts for nothing.
        drop(b.try_acquire(later).unwrap());
        drop(b.try_acquire(later).unwrap());
        assert_eq!(b.status(later), BreakerStatus::Closed);
        // A success resets the count.
        b.try_acquire(later).unwrap().failure(later);
        b.try_acquire(later).unwrap().success();
        b.try_acquire(later).unwrap().failure(later);
        assert_eq!(b.status(later), BreakerStatus::Closed);
    }

    #[test]
    fn config_from_vars() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(
            RemoteRegistryConfig::from_vars(vars(&[]))
                .unwrap()
                .is_none()
        );
        let c = RemoteRegistryConfig::from_vars(vars(&[
            ("VAXPASS_REGISTRY_URL", "https://registry.example.vn/api/"),
            ("VAXPASS_REGISTRY_API_KEY", "k-123"),
            ("VAXPASS_REGISTRY_TIMEOUT_MS", "1500"),
            ("VAXPASS_REGISTRY_MAX_ATTEMPTS", "4"),
            ("VAXPASS_REGISTRY_BREAKER_OPEN_SECS", "10"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            c.endpoint(),
            "https://registry.example.vn/api/v1/persons:lookup"
        );
        assert_eq!(c.attempt_timeout, Duration::from_millis(1500));
        assert_eq!(c.max_attempts, 4);
        assert_eq!(c.breaker_open_for, Duration::from_secs(10));
        assert_eq!(format!("{:?}", c.api_key), "Some(ApiKey(<redacted>))");
        for bad in [
            &[("VAXPASS_REGISTRY_URL", "http://registry.example.vn")][..],
            &[("VAXPASS_REGISTRY_URL", "https://u:p@registry.example.vn")],
            &[
                ("VAXPASS_REGISTRY_URL", "https://registry.example.vn"),
                ("VAXPASS_REGISTRY_MAX_ATTEMPTS", "0"),
            ],
            &[
                ("VAXPASS_REGISTRY_URL", "https://registry.example.vn"),
                ("VAXPASS_REGISTRY_TIMEOUT_MS", "soon"),
            ],
            &[
                ("VAXPASS_REGISTRY_URL", "https://registry.example.vn"),
                ("VAXPASS_REGISTRY_CLIENT_CERT", "/etc/c.pem"),
            ],
        ] {
            assert!(
                RemoteRegistryConfig::from_vars(vars(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
