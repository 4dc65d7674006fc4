//! Running the issuer as a service: storage, the current DSC, the signed trust list, HTTP or
//! HTTPS, graceful shutdown.
//!
//! [`Server::start`] opens the database (migrating it), loads the current document signer
//! (DSC) from the key directory, builds and signs a trust list of the publishable DSCs with the
//! trust-list signer (re-signed every quarter of its lifetime), verifies that list against the
//! CSCA, mounts it at `/trust-list` (and `/trust-list.json`) next to [`crate::api::app`], and
//! binds the listener. [`Server::serve`] answers requests until the shutdown future completes,
//! then stops accepting, lets requests in flight finish (at most [`ServerConfig::drain_timeout`])
//! and closes the database. [`run`] is both in one call.
//!
//! TLS (rustls on AWS-LC, TLS 1.2 and 1.3, HTTP/1.1): a PEM certificate chain (leaf first) and
//! a PEM private key (PKCS#8, SEC1 or PKCS#1, unencrypted). Handshakes run in their own tasks
//! (at most [`MAX_PENDING_HANDSHAKES`] at once, each within [`HANDSHAKE_TIMEOUT`]), so a slow
//! client never holds up the others. Without TLS the server says loudly that plain HTTP is for
//! local development only.
//!
//! Every request is logged (tracing, `INFO`) with its method, the route template (never the
//! concrete path), the status and the duration: nothing personal.
//!
//! ```no_run
//! use vaxpass_issuer::server::{ServerConfig, run, shutdown_signal};
//!
//! # async fn f() -> Result<(), vaxpass_issuer::server::ServeError> {
//! let config = ServerConfig::new("127.0.0.1:8080".parse().unwrap(), "vaxpass-data".into());
//! run(config, shutdown_signal()).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use vaxpass_keys::manifest::{MANIFEST_FILE, Manifest, Secrets};
use vaxpass_keys::storage::Passphrase;
use vaxpass_keys::{CertificateType, Signer};
use vaxpass_trust_list::http::{DEFAULT_MAX_AGE, TrustListState};
use vaxpass_trust_list::publish::{BuildOptions, Publisher};
use vaxpass_verifier::Timestamp;

use crate::api::{self, AppState};
use crate::ratelimit::{ClientKey, LookupLimits};
use crate::registry::RegistrySource;
use crate::registry::remote::{RemoteRegistry, RemoteRegistryConfig};
use crate::storage::ratelimit::SharedBuckets;
use crate::storage::{Storage, StorageError};

/// A TLS handshake not finished within this is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many TLS handshakes at once; further connections are closed at once.
pub const MAX_PENDING_HANDSHAKES: usize = 256;
/// Default time requests in flight get to finish after the shutdown signal.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a client gets to send a request's headers: a connection that dribbles its
/// headers (slowloris) is closed after it. Keep-alive connections idle between requests are
/// closed after it too.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a client gets to send a whole request body, counted from the end of its
/// headers (a body dribbled a byte at a time is cut off after it).
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default most connections open at once from one client address (IPv4 address, IPv6 /64).
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// After a body read timeout, the time the connection gets to send its error answer before
/// it is closed regardless.
const BODY_TIMEOUT_GRACE: Duration = Duration::from_secs(1);
/// Time closing the database may take after the drain.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's TLS certificate chain and key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The leaf's private key (unencrypted PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

/// Everything [`Server::start`] needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:0`: any free port, see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// The data directory: default home of the database (`issuer.db`) and the key directory
    /// (`keys/`).
    pub data_dir: PathBuf,
    /// Database URL; `None`: `sqlite://<data_dir>/issuer.db?mode=rwc`.
    pub database_url: Option<String>,
    /// TLS; `None`: plain HTTP (local development only).
    pub tls: Option<TlsFiles>,
    /// The key directory (holding `keys.toml`) or its `keys.toml`; `None`: `<data_dir>/keys`.
    pub keys: Option<PathBuf>,
    /// Environment variable holding the passphrase of encrypted key files; `None`: the keys
    /// are not encrypted.
    pub passphrase_env: Option<String>,
    /// Issuing settings (DCC `is`, country, validity days).
    pub issuing: api::Config,
    /// Time requests in flight get to finish after the shutdown signal.
    pub drain_timeout: Duration,
    /// Time a client gets to send a request's headers (see [`DEFAULT_HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: Duration,
    /// Time a client gets to send a whole request body after its headers (see
    /// [`DEFAULT_BODY_READ_TIMEOUT`]); then the request fails and the connection is closed.
    pub body_read_timeout: Duration,
    /// Most connections open at once ([`DEFAULT_MAX_CONNECTIONS`]); one over it is closed at
    /// once.
    pub max_connections: usize,
    /// Most connections open at once from one client address
    /// ([`DEFAULT_MAX_CONNECTIONS_PER_ADDRESS`]); one over it is closed at once.
    pub max_connections_per_address: usize,
    /// The remote population-registry service; `None`: the local `registry_persons` table.
    pub registry: Option<RemoteRegistryConfig>,
    /// The lookup portal's rate limits.
    pub lookup_limits: LookupLimits,
    /// How often records left `received` (registry unavailable when they were submitted, or a
    /// crash between storing and matching) are matched again; also once at start.
    pub rematch_every: Duration,
    /// How the revocation list at `/revocations` is published (its country is
    /// [`api::Config::country`]).
    pub revocations: crate::revocations::RevocationOptions,
    /// The browser verifier's files (`OUT/site` of `verifier/wasm/build.sh OUT`), served at
    /// `/verify/` ([`crate::verify_page`]); `None`: `/verify/` says it is not installed.
    pub verifier_dir: Option<PathBuf>,
    /// How long [`Server::start`] keeps trying a database it cannot reach (retrying with a
    /// doubling pause, from 0.5 s up to 10 s) before it gives up; zero: one attempt.
    pub database_wait: Duration,
    /// How the citizens' emails are sent (no SMTP server: kept in the outbox).
    pub notices: crate::notices::NoticeOptions,
}

/// Default of [`ServerConfig::database_wait`].
pub const DEFAULT_DATABASE_WAIT: Duration = Duration::from_secs(60);

impl ServerConfig {
    /// Defaults: SQLite and keys in `data_dir`, plain HTTP, [`api::Config::default`],
    /// [`DEFAULT_DRAIN_TIMEOUT`].
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> ServerConfig {
        ServerConfig {
            listen,
            data_dir,
            database_url: None,
            tls: None,
            keys: None,
            passphrase_env: None,
            issuing: api::Config::default(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            registry: None,
            lookup_limits: LookupLimits::default(),
            rematch_every: DEFAULT_REMATCH_EVERY,
            revocations: crate::revocations::RevocationOptions::default(),
            verifier_dir: None,
            database_wait: DEFAULT_DATABASE_WAIT,
            notices: crate::notices::NoticeOptions::default(),
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => default_database_url(&self.data_dir),
        }
    }

    /// The key directory in effect (a path to a `keys.toml` file names its directory).
    pub fn keys_dir(&self) -> PathBuf {
        match &self.keys {
            Some(p) if p.is_file() => p
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            Some(p) => p.clone(),
            None => self.data_dir.join("keys"),
        }
    }
}

/// `sqlite://<data_dir>/issuer.db?mode=rwc`.
pub fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("issuer.db").display())
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    /// The key directory or a key could not be used.
    #[error("keys in {dir}: {error}")]
    Keys {
        /// The key directory.
        dir: PathBuf,
        /// Why.
        error: vaxpass_keys::Error,
    },
    /// The manifest names no key file of this name.
    #[error(
        "{path}: the trust-list publisher reads the manifest as {MANIFEST_FILE} in the key directory; rename it or pass the directory"
    )]
    ManifestName {
        /// The path given.
        path: PathBuf,
    },
    /// The passphrase variable is unset or empty.
    #[error("key passphrase: {0}")]
    Passphrase(vaxpass_keys::storage::StorageError),
    /// The signer's certificate is not a usable DSC.
    #[error("the current DSC certificate cannot be used: {0}")]
    Dsc(vaxpass_verifier::trust::CertificateError),
    /// Building, signing or checking the trust list failed.
    #[error("trust list: {0}")]
    TrustList(vaxpass_trust_list::Error),
    /// The signed trust list does not list the DSC the service signs with.
    #[error(
        "the signed trust list does not contain the current DSC (kid {kid}): verifiers would refuse every certificate; check the manifest's DSC states"
    )]
    DscNotListed {
        /// The DSC's kid.
        kid: String,
    },
    /// The TLS certificate or key cannot be used.
    #[error("TLS {path}: {reason}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// Serving failed.
    #[error("serving failed: {0}")]
    Serve(io::Error),
    /// The remote registry configuration cannot be used.
    #[error("remote population registry: {0}")]
    Registry(crate::registry::remote::ConfigError),
    /// The browser verifier's directory lacks a file.
    #[error(transparent)]
    VerifierPage(#[from] crate::verify_page::MissingFile),
    /// The SMTP configuration cannot be used.
    #[error("citizens' emails: {0}")]
    Notices(crate::notices::NoticeError),
}

/// Opens the database, trying again while it cannot be reached (connection refused, reset,
/// timed out) for at most `wait`, with a pause doubling from 0.5 s to 10 s; other errors
/// (a bad URL, a corrupt file, a schema too new) end at once.
async fn open_storage(url: &str, wait: Duration) -> Result<Storage, ServeError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        match Storage::open(url).await {
            Ok(storage) => return Ok(storage),
            Err(e @ StorageError::Unavailable(_)) if started.elapsed() + pause <= wait => {
                tracing::warn!(
                    error = %e,
                    retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    "the database cannot be reached; trying again"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Signs the trust list with the next sequence of the database (continuing from the key
/// directory's `trust-list.seq`), checks that it lists the DSC and verifies it against the
/// CSCA as a verifier will.
async fn first_trust_list(
    storage: &Storage,
    publisher: &Publisher,
    csca_der: &[u8],
    now: Timestamp,
    dsc_kid: &str,
) -> Result<(vaxpass_trust_list::TrustList, TrustListState), ServeError> {
    let floor = publisher
        .last_file_sequence()
        .map_err(ServeError::TrustList)?;
    let sequence = storage.next_trust_list_sequence(floor).await?;
    let (list, signed) = publisher
        .publish_numbered(now, sequence)
        .map_err(ServeError::TrustList)?;
    if !list.entries.iter().any(|e| e.kid.to_base64() == dsc_kid) {
        return Err(ServeError::DscNotListed {
            kid: dsc_kid.to_owned(),
        });
    }
    let state = TrustListState::verified(signed, csca_der, now, DEFAULT_MAX_AGE)
        .map_err(ServeError::TrustList)?;
    Ok((list, state))
}

/// Re-signs the trust list every `every` with the next sequence of the database and serves
/// it. A failure (the database or the signer) is logged and the current list stays served;
/// the next attempt comes at the next tick.
fn spawn_trust_list_refresh(
    state: TrustListState,
    publisher: Publisher,
    storage: Storage,
    every: Duration,
) -> JoinHandle<()> {
    let publisher = Arc::new(publisher);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: the list was just signed
        loop {
            tick.tick().await;
            let floor = publisher.last_file_sequence().unwrap_or(0);
            let sequence = match storage.next_trust_list_sequence(floor).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, still_serving = state.sequence(), "re-signing the trust list: no sequence from the database");
                    continue;
                }
            };
            let p = Arc::clone(&publisher);
            let signed =
                tokio::task::spawn_blocking(move || p.publish_numbered(Timestamp::now(), sequence))
                    .await;
            match signed {
                Ok(Ok((list, bytes))) => match state.publish(bytes) {
                    Ok(()) => tracing::info!(sequence = list.sequence, "trust list re-signed"),
                    Err(e) => tracing::warn!(error = %e, "trust list re-signed but not served"),
                },
                Ok(Err(e)) => tracing::warn!(
                    error = %e,
                    still_serving = state.sequence(),
                    "re-signing the trust list failed"
                ),
                Err(e) => tracing::warn!(error = %e, "the re-signing task failed"),
            }
        }
    })
}

/// A started server: database open, keys loaded, trust list signed, listener bound.
pub struct Server {
    listener: Bound,
    router: Router,
    /// `GET /metrics` without a token, for `serve --metrics-listen` ([`api::metrics::router`]).
    metrics_router: Router,
    storage: Storage,
    refresh: JoinHandle<()>,
    rematch: JoinHandle<()>,
    revocation_refresh: JoinHandle<()>,
    notices: JoinHandle<()>,
    local_addr: SocketAddr,
    drain_timeout: Duration,
    limits: ConnectionLimits,
    development_keys: bool,
    trust_list_sequence: u64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.is_tls())
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

enum Bound {
    Plain(TcpListener),
    Tls(TlsListener),
}

impl Server {
    /// Opens the database, loads the keys, signs the trust list and binds the listener.
    ///
    /// # Errors
    /// [`ServeError`]: each variant names what to fix.
    pub async fn start(config: ServerConfig) -> Result<Server, ServeError> {
        if let Some(p) = &config.keys {
            if p.is_file() && p.file_name().is_none_or(|n| n != MANIFEST_FILE) {
                return Err(ServeError::ManifestName { path: p.clone() });
            }
        }
        let keys_dir = config.keys_dir();
        let keys_err = |error| ServeError::Keys {
            dir: keys_dir.clone(),
            error,
        };
        let secrets = Secrets {
            passphrase: match &config.passphrase_env {
                Some(var) => Some(Passphrase::from_env(var).map_err(ServeError::Passphrase)?),
                None => None,
            },
            pin: None,
        };
        let now = Timestamp::now();
        let manifest = Manifest::load(&keys_dir.join(MANIFEST_FILE)).map_err(keys_err)?;
        if manifest.development {
            tracing::warn!(
                keys = %keys_dir.display(),
                "DEVELOPMENT keys (vaxpass-keys dev-init): certificates signed with them are not trusted by anyone else; never use them in production"
            );
        }
        let signer: Arc<dyn Signer> = Arc::from(
            manifest
                .current_signer(&keys_dir, CertificateType::Vaccination, now, &secrets)
                .map_err(keys_err)?,
        );
        let dsc_kid = signer.kid().to_base64();

        // The trust list of the publishable DSCs, signed now and every quarter lifetime; checked
        // against the CSCA as a verifier will check it.
        let publisher = Publisher::open(&keys_dir, &secrets, BuildOptions::default())
            .map_err(ServeError::TrustList)?;
        let csca_path = keys_dir.join(&manifest.csca.certificate);
        let (csca_der, _) =
            vaxpass_keys::storage::read_certificate(&csca_path).map_err(|e| keys_err(e.into()))?;
        // The browser verifier pins the CSCA as the file holds it (PEM or DER).
        let csca_file = std::fs::read(&csca_path).map_err(|e| {
            keys_err(vaxpass_keys::Error::from(
                vaxpass_keys::storage::StorageError::Io {
                    action: "reading",
                    path: csca_path.clone(),
                    source: e,
                },
            ))
        })?;
        let every = Duration::from_secs(u64::try_from(publisher.lifetime() / 4).unwrap_or(3600))
            .max(Duration::from_secs(60));

        let tls = match &config.tls {
            Some(files) => Some(TlsAcceptor::from(Arc::new(tls_config(files)?))),
            None => None,
        };
        let tcp = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = tcp.local_addr().map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
        let listener = match tls {
            Some(acceptor) => Bound::Tls(TlsListener {
                tcp,
                acceptor,
                handshakes: JoinSet::new(),
            }),
            None => Bound::Plain(tcp),
        };

        // Last, so that nothing above leaves an open database behind when it fails.
        let storage = open_storage(&config.database_url(), config.database_wait).await?;
        // The trust list's sequence comes from the database, which every replica shares.
        let (list, trust_list) =
            match first_trust_list(&storage, &publisher, &csca_der, now, &dsc_kid).await {
                Ok(signed) => signed,
                Err(e) => {
                    storage.close().await;
                    return Err(e);
                }
            };
        // Rate limits: in the database on PostgreSQL (shared by every replica), in the
        // process on SQLite.
        let shared_limits = match SharedBuckets::open(&storage).await {
            Ok(shared) => shared,
            Err(e) => {
                storage.close().await;
                return Err(e.into());
            }
        };
        let state = match AppState::new(storage.clone(), signer, config.issuing.clone()) {
            Ok(state) => state.with_lookup_limits(config.lookup_limits.clone()),
            Err(e) => {
                storage.close().await;
                return Err(ServeError::Dsc(e));
            }
        };
        let state = match shared_limits {
            Some(shared) => state.with_shared_limits(shared),
            None => state,
        };
        let state = match &config.registry {
            Some(remote) => match RemoteRegistry::new(remote.clone()) {
                Ok(r) => state.with_registry(RegistrySource::Remote(r)),
                Err(e) => {
                    storage.close().await;
                    return Err(ServeError::Registry(e));
                }
            },
            None => state,
        };
        // The revocation list, signed by the trust-list signer too.
        let list_signer: Arc<dyn Signer> = match vaxpass_trust_list::publish::open_trust_list_signer(
            &manifest, &keys_dir, &secrets,
        ) {
            Ok(signer) => Arc::from(signer),
            Err(e) => {
                storage.close().await;
                return Err(ServeError::TrustList(e));
            }
        };
        let revocations = Arc::new(crate::revocations::RevocationPublisher::new(
            storage.clone(),
            list_signer.clone(),
            crate::revocations::RevocationOptions {
                country: config.issuing.country.clone(),
                ..config.revocations.clone()
            },
        ));
        let notices = match crate::notices::spawn_sender(storage.clone(), config.notices.clone()) {
            Ok(handle) => handle,
            Err(e) => {
                storage.close().await;
                return Err(ServeError::Notices(e));
            }
        };
        let revocation_refresh =
            crate::revocations::spawn_refresh(revocations.clone(), config.revocations.refresh);
        // The acceptance rules, signed by the trust-list signer too (only Viet Nam's exist).
        let rules = crate::rules::RulesPublisher::new(&config.issuing.country, list_signer.clone())
            .map(Arc::new);
        let verify_page = match crate::verify_page::VerifierPage::new(
            config.verifier_dir.as_deref(),
            csca_file,
            &config.issuing.country,
            rules.is_some(),
        ) {
            Ok(page) => Arc::new(page),
            Err(e) => {
                storage.close().await;
                return Err(e.into());
            }
        };
        if !verify_page.installed() {
            tracing::info!(
                "the browser verifier is not installed (--verifier-dir): /verify/ says so"
            );
        }
        let rematch = spawn_rematch(state.clone(), config.rematch_every);
        let metrics_router = api::metrics::router(state.clone());
        // The web pages (clinic console, citizen portal) beside the JSON API, on one state.
        let web = vaxpass_issuer_web::WebConfig {
            secure_cookies: matches!(listener, Bound::Tls(_)),
            ..vaxpass_issuer_web::WebConfig::default()
        };
        let router = api::app(state.clone())
            .merge(vaxpass_issuer_web::router(state, web))
            .merge(vaxpass_trust_list::http::router(trust_list.clone()))
            .merge(crate::revocations::router(revocations))
            .merge(crate::verify_page::router(verify_page))
            .merge(rules.map_or_else(Router::new, crate::rules::router))
            // The JSON API's errors get a Vietnamese message when asked (Accept-Language: vi).
            .layer(middleware::from_fn(vaxpass_issuer_web::api_languages))
            .layer(middleware::from_fn(log_request));
        let refresh = spawn_trust_list_refresh(trust_list, publisher, storage.clone(), every);
        tracing::info!(
            addr = %local_addr,
            tls = matches!(listener, Bound::Tls(_)),
            backend = ?storage.backend(),
            dsc = %dsc_kid,
            trust_list_sequence = list.sequence,
            "issuer started"
        );
        if matches!(listener, Bound::Plain(_)) {
            tracing::warn!("plain HTTP: local development only (use --tls-cert and --tls-key)");
        }
        Ok(Server {
            listener,
            router,
            metrics_router,
            storage,
            refresh,
            rematch,
            revocation_refresh,
            notices,
            local_addr,
            drain_timeout: config.drain_timeout,
            limits: ConnectionLimits {
                header_read_timeout: config.header_read_timeout,
                body_read_timeout: config.body_read_timeout,
                max_connections: config.max_connections.max(1),
                max_per_address: config.max_connections_per_address.max(1),
                refused: Arc::new(AtomicU64::new(0)),
            },
            development_keys: manifest.development,
            trust_list_sequence: list.sequence,
        })
    }

    /// The router of a separate metrics listener: `GET /metrics` without a token, sharing this
    /// server's counters ([`api::metrics::router`]).
    pub fn metrics_router(&self) -> Router {
        self.metrics_router.clone()
    }

    /// The bound address (the real port when the configuration said `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.listener, Bound::Tls(_))
    }

    /// Whether the key directory holds development keys.
    pub fn development_keys(&self) -> bool {
        self.development_keys
    }

    /// The sequence number of the trust list signed at start.
    pub fn trust_list_sequence(&self) -> u64 {
        self.trust_list_sequence
    }

    /// A counter of the connections closed at once because a connection cap was reached
    /// (read it while the server runs).
    pub fn refused_connections(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.limits.refused)
    }

    /// The database (for setup done by the caller before serving, such as the demo's).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Serves until `shutdown` completes; then accepts nothing new, lets requests in flight
    /// finish (at most the drain timeout) and closes the database.
    ///
    /// # Errors
    /// [`ServeError::Serve`].
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Server {
            listener,
            router,
            storage,
            refresh,
            rematch,
            revocation_refresh,
            notices,
            drain_timeout,
            limits,
            ..
        } = self;
        let draining = Arc::new(Notify::new());
        let signal = {
            let draining = Arc::clone(&draining);
            async move {
                shutdown.await;
                tracing::info!(
                    timeout_s = drain_timeout.as_secs(),
                    "shutting down: no new connections, requests in flight finish"
                );
                // Stores a permit if nobody waits yet.
                draining.notify_one();
            }
        };
        let served = async move {
            match listener {
                Bound::Plain(l) => accept_loop(l, router, limits, signal).await,
                Bound::Tls(l) => accept_loop(l, router, limits, signal).await,
            }
        };
        let deadline = async {
            draining.notified().await;
            tokio::time::sleep(drain_timeout).await;
        };
        let result = tokio::select! {
            r = served => r.map_err(ServeError::Serve),
            () = deadline => {
                tracing::warn!("drain timeout: requests still in flight are abandoned");
                Ok(())
            }
        };
        refresh.abort();
        rematch.abort();
        revocation_refresh.abort();
        notices.abort();
        if tokio::time::timeout(CLOSE_TIMEOUT, storage.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still in use after the drain; closing anyway");
        }
        tracing::info!("issuer stopped");
        result
    }
}

/// Default of [`ServerConfig::rematch_every`]: a minute.
pub const DEFAULT_REMATCH_EVERY: Duration = Duration::from_secs(60);

/// Matches records left `received` again, at once and then every `every` (see
/// [`crate::workflow::rematch_pending`]); logs counts and codes only.
fn spawn_rematch(state: AppState, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match crate::workflow::rematch_pending(&state.storage, &*state.registry, 10_000).await {
                Ok(summary) if summary.matched > 0 || summary.still_pending > 0 => {
                    tracing::info!(
                        matched = summary.matched,
                        still_pending = summary.still_pending,
                        stopped_by = summary.stopped_by.unwrap_or("-"),
                        "re-matched records left received"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "re-matching records left received failed"),
            }
        }
    })
}

/// [`Server::start`] then [`Server::serve`].
///
/// # Errors
/// As those.
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Server::start(config).await?.serve(shutdown).await
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM. If the handlers cannot be installed it
/// never completes (and logs why): the process then stops only by being killed.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}

/// The rustls server configuration for a PEM chain and key: TLS 1.3 and 1.2, AWS-LC, ALPN
/// `http/1.1`.
///
/// # Errors
/// [`ServeError::Tls`] naming the file and the reason.
pub fn tls_config(files: &TlsFiles) -> Result<rustls::ServerConfig, ServeError> {
    let tls_err = |path: &Path, reason: String| ServeError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.certificate)
        .and_then(Iterator::collect)
        .map_err(|e| tls_err(&files.certificate, pem_reason(&e)))?;
    if chain.is_empty() {
        return Err(tls_err(
            &files.certificate,
            "no CERTIFICATE block: expected the PEM certificate chain, leaf first".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        tls_err(
            &files.key,
            format!(
                "{}; expected an unencrypted PEM private key (PKCS#8, SEC1 or PKCS#1)",
                pem_reason(&e)
            ),
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls_err(&files.certificate, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            tls_err(
                &files.key,
                format!("{e} (does the key belong to the first certificate?)"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM block of the expected kind".into(),
        other => format!("not valid PEM ({other:?})"),
    }
}

/// The per-connection limits of [`accept_loop`].
#[derive(Debug, Clone)]
struct ConnectionLimits {
    header_read_timeout: Duration,
    body_read_timeout: Duration,
    max_connections: usize,
    max_per_address: usize,
    /// Connections closed at once for a cap.
    refused: Arc<AtomicU64>,
}

/// Open connections, in all and per client address.
#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_address: HashMap<ClientKey, usize>,
}

/// One open connection, counted until dropped.
struct ConnectionSlot {
    open: Arc<Mutex<OpenConnections>>,
    key: ClientKey,
}

impl ConnectionSlot {
    /// A slot for a connection from `key`, or `None` when a cap is reached.
    fn take(
        open: &Arc<Mutex<OpenConnections>>,
        key: ClientKey,
        limits: &ConnectionLimits,
    ) -> Option<ConnectionSlot> {
        let mut counts = open.lock().unwrap_or_else(PoisonError::into_inner);
        let from_key = counts.per_address.get(&key).copied().unwrap_or(0);
        if counts.total >= limits.max_connections || from_key >= limits.max_per_address {
            return None;
        }
        counts.total += 1;
        counts.per_address.insert(key, from_key + 1);
        Some(ConnectionSlot {
            open: Arc::clone(open),
            key,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_address.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_address.remove(&self.key);
            }
        }
    }
}

/// The client did not send the whole body within the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
struct BodyTimedOut(Duration);

/// A request body that fails once `deadline` passes before its end, and then tells the
/// connection to close (`cut`).
struct TimedBody<B> {
    inner: B,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    cut: Arc<Notify>,
    done: bool,
}

impl<B> hyper::body::Body for TimedBody<B>
where
    B: hyper::body::Body + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_none() {
                    this.done = true;
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    // Stores a permit: the connection task sees it even if not waiting yet.
                    this.cut.notify_one();
                    Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves HTTP/1.1 connections from `listener` until `signal`, then closes the listener and
/// waits for the connections' requests in flight (each connection then closes: `Connection:
/// close`). What `axum::serve` does, plus:
///
/// - a header read timeout, which it does not set: a client that has not sent a request's
///   headers `header_read_timeout` after the connection opened or its previous response went
///   out is disconnected;
/// - a body read timeout: a request body not complete `body_read_timeout` after its headers
///   fails (the handler sees a body error and answers it), and the connection is closed
///   (at most [`BODY_TIMEOUT_GRACE`] later, whether the answer went out or not);
/// - connection caps, in all and per client address (IPv4 address, IPv6 /64): a connection
///   over either is closed at once, before anything is read, and counted
///   ([`Server::refused_connections`]). With TLS the caps apply once the handshake is done
///   (handshakes have their own cap, [`MAX_PENDING_HANDSHAKES`]).
///
/// The client address reaches handlers as `ConnectInfo<SocketAddr>` (the lookup portal's
/// per-address rate limit).
async fn accept_loop<L>(
    mut listener: L,
    router: Router,
    limits: ConnectionLimits,
    signal: impl Future<Output = ()>,
) -> Result<(), std::io::Error>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    let mut signal = std::pin::pin!(signal);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut signal => break,
        };
        let Some(slot) = ConnectionSlot::take(&open, ClientKey::of(peer.ip()), &limits) else {
            limits.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("connection cap reached; connection closed");
            drop(io);
            continue;
        };
        let router = router.clone();
        let cut = Arc::new(Notify::new());
        let body_read_timeout = limits.body_read_timeout;
        let service = {
            let cut = Arc::clone(&cut);
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let cut = Arc::clone(&cut);
                let mut req = req.map(|inner| {
                    axum::body::Body::new(TimedBody {
                        inner,
                        deadline: Box::pin(tokio::time::sleep(body_read_timeout)),
                        timeout: body_read_timeout,
                        cut,
                        done: false,
                    })
                });
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                router.clone().oneshot(req)
            })
        };
        let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            let _slot = slot;
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => Some(ended),
                () = cut.notified() => None,
            };
            let ended = match ended {
                Some(ended) => ended,
                None => {
                    tracing::debug!("request body read timeout; connection closed");
                    match tokio::time::timeout(BODY_TIMEOUT_GRACE, conn.as_mut()).await {
                        Ok(ended) => ended,
                        Err(_) => Ok(()),
                    }
                }
            };
            if let Err(e) = ended {
                // Timeouts and resets by clients: routine, never the client's data.
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    // No new connections from here on.
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A TCP listener whose connections come out TLS-terminated. Handshakes run in tasks of their
/// own; the listener (and every unfinished handshake) is dropped when the server stops
/// accepting.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        if self.handshakes.len() >= MAX_PENDING_HANDSHAKES {
                            tracing::warn!("too many TLS handshakes in progress; connection closed");
                            continue;
                        }
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => Some((tls, peer)),
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    None
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    None
                                }
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as axum's own listener
                        // does, instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(conn)) = done {
                        return conn;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// One log line per request: method, route template, status, duration. The concrete path may
/// hold an identifier, the body personal data: neither is logged.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        method = %method,
        route = route.as_deref().unwrap_or("(no route)"),
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
