//! `serve` and `serve --demo`.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal as _, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use vaxpass_issuer::api;
use vaxpass_issuer::api::records::{SubmitRequest, VaccineIn};
use vaxpass_issuer::dates::Date;
use vaxpass_issuer::notices::{NoticeOptions, SmtpConfig, SmtpTls};
use vaxpass_issuer::ratelimit::{LookupLimits, Rate};
use vaxpass_issuer::registry::RemoteRegistryConfig;
use vaxpass_issuer::registry_csv;
use vaxpass_issuer::server::{Server, ServerConfig, TlsFiles, shutdown_signal};
use vaxpass_issuer::storage::{Actor, Role, Storage, StorageError};
use vaxpass_keys::dev::{DevOptions, dev_init};
use vaxpass_keys::manifest::MANIFEST_FILE;
use vaxpass_verifier::Timestamp;

use crate::cli::{CliError, Outcome, create_private_dir, create_private_file};
use crate::import::import_csv;

/// Persons in the demo's synthetic registry.
const DEMO_PERSONS: u64 = 10_000;
/// The demo registry's seed (the same registry on every machine).
const DEMO_SEED: u64 = 1;
/// Where the demo keeps its clinic's id.
const DEMO_CLINIC_FILE: &str = "demo-clinic-id";
/// The passphrase variable used when `--passphrase-env` is not given but it is set.
const DEFAULT_PASSPHRASE_ENV: &str = "VAXPASS_KEY_PASSPHRASE";
/// Where the demo keeps its fresh tokens (mode 0600), as shell `export` lines.
pub const DEMO_TOKENS_FILE: &str = "demo-tokens.env";
/// Where the demo keeps its example dose record (mode 0600): a registry person's details.
pub const DEMO_EXAMPLE_FILE: &str = "demo-example.json";

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, env = "VAXPASS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data directory: the SQLite database (`issuer.db`) and the key directory (`keys/`) unless
    /// --database / --keys say otherwise.
    #[arg(long, env = "VAXPASS_DATA_DIR", default_value = "vaxpass-data")]
    data_dir: PathBuf,
    /// Database URL: `sqlite://PATH?mode=rwc` or `postgres://…` (default: `issuer.db` in the
    /// data directory). Migrations are applied at start.
    #[arg(long, env = "DATABASE_URL")]
    database: Option<String>,
    /// TLS certificate chain (PEM, leaf first).
    #[arg(long, env = "VAXPASS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM, unencrypted PKCS#8, SEC1 or PKCS#1).
    #[arg(long, env = "VAXPASS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP without TLS: local development only. Needed without --tls-cert, except
    /// for --demo on a loopback address.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    insecure_plain_http: bool,
    /// The key directory (holding keys.toml, see vaxpass-keys) or its keys.toml
    /// (default: `keys/` in the data directory).
    #[arg(long, env = "VAXPASS_KEYS")]
    keys: Option<PathBuf>,
    /// Name of the environment variable holding the passphrase of encrypted key files
    /// (default: VAXPASS_KEY_PASSPHRASE when set; unencrypted keys need none).
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
    /// The certificates' issuer (DCC `is`).
    #[arg(
        long,
        env = "VAXPASS_ISSUER_TEXT",
        default_value = "Ministry of Health of Viet Nam"
    )]
    issuer: String,
    /// Certificate validity in days (never beyond the DSC's notAfter).
    #[arg(long, env = "VAXPASS_VALIDITY_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(i64).range(1..=3650))]
    validity_days: i64,
    /// Seconds requests in flight get to finish after SIGTERM / Ctrl-C.
    #[arg(long, default_value_t = 30)]
    drain_timeout: u64,
    /// Seconds a client gets to send a request's headers (a new connection, or a kept-alive
    /// one after its last response); then the connection is closed.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout: u64,
    /// Demo: create the data directory with DEVELOPMENT keys, a synthetic registry of
    /// 10,000 persons (seed 1), a clinic and fresh tokens (printed), then serve. Re-running
    /// reuses the directory.
    #[arg(long)]
    demo: bool,
    /// Lookup portal: attempts per client address per minute (after a burst of 5).
    #[arg(long, env = "VAXPASS_LOOKUP_PER_MINUTE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    lookup_per_minute: u32,
    /// Lookup portal: attempts per ID number per hour from one client network (IPv4 /24,
    /// IPv6 /48), after a burst of 5. Attempts from other networks do not use these.
    #[arg(long, env = "VAXPASS_LOOKUP_PER_ID_NETWORK_HOUR", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    lookup_per_id_network_per_hour: u32,
    /// Lookup portal: attempts per ID number per hour, whoever asks (the ceiling over all
    /// networks; also its burst).
    #[arg(long, env = "VAXPASS_LOOKUP_PER_ID_HOUR", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    lookup_per_id_per_hour: u32,
    /// Lookup portal: milliseconds before any answer goes out (found, miss or refused), so
    /// that the answer time does not tell who has a certificate; must exceed the slowest
    /// answer (0: off).
    #[arg(long, env = "VAXPASS_LOOKUP_MIN_ANSWER_MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    lookup_min_answer_ms: u64,
    /// Lookup portal: up to this many milliseconds of random extra wait on every answer.
    #[arg(long, env = "VAXPASS_LOOKUP_ANSWER_JITTER_MS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    lookup_answer_jitter_ms: u64,
    /// Seconds a client gets to send a whole request body, counted from the end of its
    /// headers; then the connection is closed.
    #[arg(long, env = "VAXPASS_BODY_READ_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_read_timeout: u64,
    /// Most connections open at once; further ones are closed at once.
    #[arg(long, env = "VAXPASS_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Most connections open at once from one client address (IPv4 address, IPv6 /64);
    /// further ones are closed at once.
    #[arg(long, env = "VAXPASS_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_address: u32,
    /// Take the lookup client's address from the last X-Forwarded-For entry: only behind a
    /// reverse proxy that appends it (otherwise clients choose their own rate-limit key).
    #[arg(long, env = "VAXPASS_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Seconds between passes that match again records left `received` (registry unavailable
    /// when they were submitted). The remote registry itself is configured by the
    /// `VAXPASS_REGISTRY_*` environment variables (see issuer/README.md); without
    /// `VAXPASS_REGISTRY_URL` the local registry table is used.
    #[arg(long, env = "VAXPASS_REMATCH_EVERY", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    rematch_every: u64,
    /// Serve `GET /metrics` without a token on this address too (plain HTTP; bind it to an
    /// address only the monitoring network reaches). On the API's address `/metrics` needs
    /// an admin token.
    #[arg(long, env = "VAXPASS_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Days a token created or rotated through the admin API stays valid (0: no expiry).
    #[arg(long, env = "VAXPASS_TOKEN_LIFETIME_DAYS",
          default_value_t = api::DEFAULT_TOKEN_LIFETIME_DAYS)]
    token_lifetime_days: u32,
    /// Dose records one token may submit at once (single and bulk lines alike); 0: no
    /// per-token limit (load tests).
    #[arg(long, env = "VAXPASS_SUBMIT_BURST", default_value_t = 20_000)]
    submit_burst: u64,
    /// Seconds to keep trying a database that cannot be reached at start (connection refused
    /// or timed out), with a pause doubling from 0.5 s to 10 s; 0: fail at once.
    #[arg(long, env = "VAXPASS_DATABASE_WAIT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    database_wait: u64,
    /// Dose records per second refilled to each token's allowance.
    #[arg(long, env = "VAXPASS_SUBMIT_PER_SEC", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..))]
    submit_per_sec: u64,
    /// The browser verifier's files, served at /verify/: the OUT/site directory of
    /// `bash verifier/wasm/build.sh OUT`. Without it /verify/ says the verifier is not
    /// installed.
    #[arg(long, env = "VAXPASS_VERIFIER_DIR", value_name = "DIR")]
    verifier_dir: Option<PathBuf>,
    /// The SMTP server that sends citizens the outcome of their correction reports. Without
    /// it the emails are kept in the database's outbox, unsent (sent once it is given).
    #[arg(long, env = "VAXPASS_SMTP_HOST", value_name = "HOST")]
    smtp_host: Option<String>,
    /// Its port (default: 25 for `none`, 587 for `starttls`, 465 for `tls`).
    #[arg(long, env = "VAXPASS_SMTP_PORT", requires = "smtp_host")]
    smtp_port: Option<u16>,
    /// `starttls` (required), `tls` (SMTPS) or `none` (a relay on this host or network only).
    #[arg(long, env = "VAXPASS_SMTP_TLS", default_value = "starttls",
          value_parser = ["starttls", "tls", "none"])]
    smtp_tls: String,
    /// The sender of the emails, e.g. "vaxpass <no-reply@example.vn>" (needed with
    /// --smtp-host).
    #[arg(
        long,
        env = "VAXPASS_SMTP_FROM",
        value_name = "MAILBOX",
        requires = "smtp_host"
    )]
    smtp_from: Option<String>,
    /// SMTP user name; the password is read from the variable VAXPASS_SMTP_PASSWORD.
    #[arg(long, env = "VAXPASS_SMTP_USER", requires = "smtp_host")]
    smtp_user: Option<String>,
    /// Extra roots (PEM) trusted for the SMTP server's certificate, besides the Mozilla roots.
    #[arg(
        long,
        env = "VAXPASS_SMTP_CA",
        value_name = "PEM",
        requires = "smtp_host"
    )]
    smtp_ca: Option<PathBuf>,
    /// The name this service gives in EHLO (default: localhost).
    #[arg(long, env = "VAXPASS_SMTP_HELLO", requires = "smtp_host")]
    smtp_hello: Option<String>,
    /// Seconds before an email that failed is tried again (doubling with each failure, up to
    /// an hour).
    #[arg(long, env = "VAXPASS_SMTP_RETRY_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    smtp_retry_secs: u64,
}

/// The citizens' emails of `serve --smtp-*`.
fn notice_options(args: &ServeArgs) -> Result<NoticeOptions, CliError> {
    let smtp = match &args.smtp_host {
        None => None,
        Some(host) => {
            let from = args.smtp_from.clone().ok_or_else(|| {
                CliError::Usage("--smtp-host needs --smtp-from (the emails' sender)".into())
            })?;
            let credentials = match &args.smtp_user {
                Some(user) => {
                    let password = std::env::var("VAXPASS_SMTP_PASSWORD").map_err(|_| {
                        CliError::Usage(
                            "--smtp-user needs the password in the variable VAXPASS_SMTP_PASSWORD"
                                .into(),
                        )
                    })?;
                    Some((user.clone(), password))
                }
                None => None,
            };
            Some(SmtpConfig {
                host: host.clone(),
                port: args.smtp_port,
                tls: SmtpTls::parse(&args.smtp_tls).unwrap_or(SmtpTls::StartTls),
                from,
                credentials,
                ca_file: args.smtp_ca.clone(),
                hello_name: args.smtp_hello.clone(),
            })
        }
    };
    Ok(NoticeOptions {
        smtp,
        retry_min: Duration::from_secs(args.smtp_retry_secs),
        ..NoticeOptions::default()
    })
}

/// `serve`.
pub fn run(args: ServeArgs) -> Result<Outcome, CliError> {
    init_logging();
    let plain = args.tls_cert.is_none();
    if plain && !args.insecure_plain_http && !(args.demo && args.listen.ip().is_loopback()) {
        return Err(CliError::Usage(format!(
            "no TLS for {}: pass --tls-cert and --tls-key (PEM), or --insecure-plain-http for local development",
            args.listen
        )));
    }
    let mut config = ServerConfig::new(args.listen, args.data_dir.clone());
    config.database_url = args.database.clone();
    config.tls = match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(key)) => Some(TlsFiles {
            certificate: certificate.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    config.keys = args.keys.clone();
    config.passphrase_env = args.passphrase_env.clone().or_else(|| {
        std::env::var_os(DEFAULT_PASSPHRASE_ENV).map(|_| DEFAULT_PASSPHRASE_ENV.to_owned())
    });
    config.issuing = api::Config {
        issuer_text: args.issuer.clone(),
        validity_days: args.validity_days,
        token_lifetime_days: args.token_lifetime_days,
        submit_limits: api::limits::SubmitLimits {
            burst: args.submit_burst,
            per_sec: args.submit_per_sec,
            ..api::limits::SubmitLimits::default()
        },
        ..api::Config::default()
    };
    config.drain_timeout = Duration::from_secs(args.drain_timeout);
    config.header_read_timeout = Duration::from_secs(args.header_read_timeout);
    config.lookup_limits = LookupLimits {
        per_client: Rate::new(5, args.lookup_per_minute, 60),
        per_id_network: Rate::new(5, args.lookup_per_id_network_per_hour, 3_600),
        per_id: Rate::new(
            args.lookup_per_id_per_hour,
            args.lookup_per_id_per_hour,
            3_600,
        ),
        trust_forwarded_for: args.trust_forwarded_for,
        min_answer_time: Duration::from_millis(args.lookup_min_answer_ms),
        answer_jitter: Duration::from_millis(args.lookup_answer_jitter_ms),
        ..LookupLimits::default()
    };
    config.body_read_timeout = Duration::from_secs(args.body_read_timeout);
    config.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    config.max_connections_per_address =
        usize::try_from(args.max_connections_per_address).unwrap_or(usize::MAX);
    config.rematch_every = Duration::from_secs(args.rematch_every);
    config.verifier_dir = args.verifier_dir.clone();
    config.database_wait = Duration::from_secs(args.database_wait);
    config.notices = notice_options(&args)?;
    config.registry = RemoteRegistryConfig::from_env()
        .map_err(|e| CliError::Usage(format!("remote registry (VAXPASS_REGISTRY_*): {e}")))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let demo = if args.demo {
            Some(prepare_demo(&config).await?)
        } else {
            None
        };
        let server = Server::start(config.clone()).await?;
        if let Some(addr) = args.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| CliError::Usage(format!("--metrics-listen {addr}: {e}")))?;
            let metrics = server.metrics_router();
            println!("metrics on http://{addr}/metrics (no token)");
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, metrics).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let scheme = if server.is_tls() { "https" } else { "http" };
        let base = format!("{scheme}://{}", server.local_addr());
        println!("listening on {base}");
        if let Some(demo) = &demo {
            print_demo(demo, &config, &base, io::stdout().is_terminal());
        }
        let _ = io::stdout().flush();
        server.serve(shutdown_signal()).await?;
        Ok(Outcome::Ok)
    })
}

/// Logs to standard error; the level from `VAXPASS_LOG` (`error` … `trace`, default `info`).
fn init_logging() {
    let level = std::env::var("VAXPASS_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_max_level(level)
        .with_target(false)
        .try_init();
}

/// What the demo set up, for the instructions it prints.
struct Demo {
    keys_dir: PathBuf,
    clinic_id: i64,
    staff_token: String,
    admin_token: String,
    /// The web console's demo account: user name and password.
    web_user: String,
    web_password: String,
    example: Option<vaxpass_issuer::matching::RegistryPerson>,
    /// The tokens as `export` lines (mode 0600).
    tokens_file: PathBuf,
    /// The example dose record's JSON (mode 0600), when there is an example person.
    example_file: Option<PathBuf>,
}

/// Makes the data directory ready: DEVELOPMENT keys, the synthetic registry (imported once),
/// the demo clinic and fresh tokens.
async fn prepare_demo(config: &ServerConfig) -> Result<Demo, CliError> {
    let data = &config.data_dir;
    // Mode 0700: the database and the registry CSV hold names, ID numbers and birth dates,
    // the token file secrets.
    create_private_dir(data).map_err(|source| CliError::Create {
        path: data.clone(),
        source,
    })?;
    let keys_dir = config.keys_dir();
    if keys_dir.join(MANIFEST_FILE).exists() {
        println!("reusing the keys in {}", keys_dir.display());
    } else {
        // A minute back, so that a clock a little behind still sees the DSC as valid.
        let start = Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() - 60);
        let init = dev_init(&keys_dir, &DevOptions::new(start)).map_err(CliError::DevKeys)?;
        println!("created DEVELOPMENT keys in {}:", keys_dir.display());
        println!(
            "  CSCA {}, DSC {} (kid {}), trust-list signer (kid {})",
            init.csca_certificate.display(),
            init.dsc_certificate.display(),
            init.dsc_kid.to_base64(),
            init.trust_list_signer_kid.to_base64()
        );
        println!(
            "  DEVELOPMENT KEYS, NOT FOR PRODUCTION: the keys are unencrypted and the CSCA key sits next to them"
        );
    }

    let csv = data.join("registry.csv");
    if csv.exists() {
        // Made by an older version with the umask's mode.
        make_private(&csv)?;
    } else {
        let partial = data.join("registry.csv.partial");
        let file = create_private_file(&partial).map_err(|source| CliError::Create {
            path: partial.clone(),
            source,
        })?;
        let summary = registry_csv::generate(DEMO_PERSONS, DEMO_SEED, file)?;
        std::fs::rename(&partial, &csv).map_err(|source| CliError::Create {
            path: csv.clone(),
            source,
        })?;
        println!(
            "generated a synthetic registry of {} persons (seed {DEMO_SEED}): {}",
            summary.persons,
            csv.display()
        );
    }

    let storage = Storage::open(&config.database_url()).await?;
    let result = demo_database(&storage, data, &csv).await;
    storage.close().await;
    let (clinic_id, staff_token, admin_token, (web_user, web_password)) = result?;
    let example = first_person(&csv);
    let tokens_file = data.join(DEMO_TOKENS_FILE);
    write_private(
        &tokens_file,
        &format!(
            "# vaxpass demo tokens (DEVELOPMENT), clinic {clinic_id}: load with  . {}\nexport VAXPASS_TOKEN={staff_token}\nexport VAXPASS_ADMIN_TOKEN={admin_token}\n# web console sign-in (/clinic/sign-in)\nexport VAXPASS_WEB_USER={web_user}\nexport VAXPASS_WEB_PASSWORD={web_password}\n",
            shell_quote(&tokens_file.display().to_string())
        ),
    )?;
    let example_file = data.join(DEMO_EXAMPLE_FILE);
    let example_written = match example.as_ref().and_then(example_body) {
        Some(body) => {
            write_private(&example_file, &format!("{body}\n"))?;
            true
        }
        None => false,
    };
    Ok(Demo {
        keys_dir,
        clinic_id,
        staff_token,
        admin_token,
        web_user,
        web_password,
        example,
        tokens_file,
        example_file: example_written.then_some(example_file),
    })
}

/// Writes `contents` to `path` with mode 0600.
fn write_private(path: &Path, contents: &str) -> Result<(), CliError> {
    let mut file = create_private_file(path).map_err(|source| CliError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    file.write_all(contents.as_bytes())
        .map_err(|source| CliError::Create {
            path: path.to_path_buf(),
            source,
        })
}

/// Takes the group's and others' access away from an existing file.
fn make_private(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt as _;
    let set = || -> io::Result<()> {
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
        Ok(())
    };
    set().map_err(|source| CliError::Create {
        path: path.to_path_buf(),
        source,
    })
}

/// The example dose record (JSON) for a registry person: the latest dose thirty days ago,
/// recent enough for the VN validity rules (at most 365 days, at least 14). `None` when the
/// system clock gives no usable date.
fn example_body(p: &vaxpass_issuer::matching::RegistryPerson) -> Option<String> {
    let thirty_days_ago =
        Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() - 30 * 86_400).to_string();
    let date = Date::parse(thirty_days_ago.get(..10).unwrap_or_default()).ok()?;
    let body = SubmitRequest::for_person(p, VaccineIn::comirnaty(), 2, 2, date);
    serde_json::to_string(&body).ok()
}

async fn demo_database(
    storage: &Storage,
    data: &Path,
    csv: &Path,
) -> Result<(i64, String, String, (String, String)), CliError> {
    let actor = Actor::System("demo".into());
    let count = storage.registry_count().await?;
    if count == 0 {
        let report = import_csv(storage, csv, 10, &actor).await?;
        println!(
            "imported {} registry persons into the database ({} bad rows)",
            report.imported, report.bad
        );
    } else {
        println!("the database already holds {count} registry persons: not imported again");
    }
    let id_file = data.join(DEMO_CLINIC_FILE);
    let saved = std::fs::read_to_string(&id_file)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok());
    let mut clinic = match saved {
        Some(id) => id,
        None => new_demo_clinic(storage, &id_file, &actor).await?,
    };
    let staff = match storage
        .create_staff_token(clinic, Role::Staff, &actor)
        .await
    {
        Ok((secret, _)) => secret,
        // Another database than the one the saved id came from.
        Err(StorageError::UnknownClinic(_)) => {
            clinic = new_demo_clinic(storage, &id_file, &actor).await?;
            storage
                .create_staff_token(clinic, Role::Staff, &actor)
                .await?
                .0
        }
        Err(e) => return Err(e.into()),
    };
    let (admin, _) = storage
        .create_staff_token(clinic, Role::Admin, &actor)
        .await?;
    // A web console account with a fresh password (a new user name each run: the names of
    // earlier runs stay taken).
    let password = vaxpass_issuer_web::generate_password();
    let suffix: String = vaxpass_issuer_web::generate_password()
        .to_ascii_lowercase()
        .chars()
        .take(6)
        .collect();
    let account = vaxpass_issuer_web::create_account(
        storage,
        clinic,
        &format!("demo.{suffix}"),
        &password,
        Role::Staff,
        &actor,
    )
    .await
    .map_err(|e| match e {
        vaxpass_issuer_web::AccountError::Storage(e) => CliError::Storage(e),
        other => CliError::Usage(other.to_string()),
    })?;
    Ok((
        clinic,
        staff.expose().to_owned(),
        admin.expose().to_owned(),
        (account.username, password),
    ))
}

async fn new_demo_clinic(
    storage: &Storage,
    id_file: &Path,
    actor: &Actor,
) -> Result<i64, CliError> {
    let id = storage
        .create_clinic("Demo clinic (DEVELOPMENT)", 79, actor)
        .await?;
    std::fs::write(id_file, format!("{id}\n")).map_err(|source| CliError::Create {
        path: id_file.to_path_buf(),
        source,
    })?;
    Ok(id)
}

/// The first person with a 12-digit CCCD in the registry CSV (synthetic: fine to print).
fn first_person(csv: &Path) -> Option<vaxpass_issuer::matching::RegistryPerson> {
    let file = File::open(csv).ok()?;
    registry_csv::read_registry(BufReader::new(file))
        .filter_map(Result::ok)
        .find(|p| matches!(p.id, vaxpass_issuer::identity::IdNumber::Cccd(_)))
}

/// `'text'` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The demo's instructions. The tokens and the example person are printed only on a terminal
/// (`terminal`); otherwise (standard output to a log file or a pipe) only where they are kept.
fn print_demo(demo: &Demo, config: &ServerConfig, base: &str, terminal: bool) {
    let k = if base.starts_with("https") { "-k " } else { "" };
    let tokens = shell_quote(&demo.tokens_file.display().to_string());
    println!();
    println!("== vaxpass issuer demo (DEVELOPMENT keys, synthetic registry) ==");
    println!("data directory: {} (mode 0700)", config.data_dir.display());
    println!("database:       {}", config.database_url());
    println!(
        "clinic {} with fresh tokens (only their SHA-256 is stored; re-run --demo for new ones),",
        demo.clinic_id
    );
    println!(
        "kept in {} (mode 0600); load them with:",
        demo.tokens_file.display()
    );
    println!(". {tokens}");
    if terminal {
        println!("or:");
        println!("export VAXPASS_TOKEN={}", demo.staff_token);
        println!("export VAXPASS_ADMIN_TOKEN={}", demo.admin_token);
    }
    println!();
    println!("web pages: the citizen portal at {base}/ and the clinic console at {base}/clinic");
    println!(
        "the browser verifier at {base}/verify/ (installed with --verifier-dir; works offline once loaded)"
    );
    if terminal {
        println!(
            "staff sign-in: user name {}, password {}",
            demo.web_user, demo.web_password
        );
    } else {
        println!(
            "staff sign-in: VAXPASS_WEB_USER and VAXPASS_WEB_PASSWORD in {}",
            demo.tokens_file.display()
        );
    }
    let (Some(p), Some(example_file)) = (&demo.example, &demo.example_file) else {
        println!("(no example record: the registry CSV has no CCCD holder, or the clock no date)");
        return;
    };
    println!();
    if terminal {
        println!(
            "a person of the synthetic registry: {} {}, born {}, sex {}",
            p.id,
            p.full_name,
            p.date_of_birth,
            p.sex.code()
        );
    }
    println!(
        "an example dose record for a person of the synthetic registry: {} (mode 0600)",
        example_file.display()
    );
    println!();
    println!("# 1. submit a dose record (matched against the registry: status \"verified\"):");
    println!(
        "curl -s {k}-X POST {base}/api/v1/dose-records -H \"Authorization: Bearer $VAXPASS_TOKEN\" \\\n    -H 'Content-Type: application/json' -d @{}",
        shell_quote(&example_file.display().to_string())
    );
    println!(
        "# 2. confirm it (RECORD_ID: the \"id\" of the answer); the answer holds the certificate:"
    );
    println!(
        "curl -s {k}-X POST {base}/api/v1/dose-records/RECORD_ID/confirm -H \"Authorization: Bearer $VAXPASS_TOKEN\""
    );
    println!("# 3. fetch the certificate again (UVCI: the \"uvci\" of the answer):");
    println!(
        "curl -s {k}{base}/api/v1/certificates/UVCI -H \"Authorization: Bearer $VAXPASS_TOKEN\""
    );
    println!(
        "# 4. download the signed trust list and verify the certificate offline against the CSCA\n#    (add --rules schemas/rules --country VN for Viet Nam's validity rules):"
    );
    println!("curl -s {k}-o trust-list.cose {base}/trust-list");
    println!(
        "cargo run -p vaxpass-verifier --features cli -- check --trust-list trust-list.cose \\\n    --anchor {} 'HC1:…'",
        demo.keys_dir.join("csca.pem").display()
    );
    println!();
    println!("stop with Ctrl-C");
}
