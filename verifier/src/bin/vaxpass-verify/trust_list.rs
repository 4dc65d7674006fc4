//! `vaxpass-verify trust-list …`: download a signed trust list into the offline cache, show the
//! cached list's state, and load a trust store from a list for `check`.
//!
//! ```text
//! vaxpass-verify trust-list sync --url https://issuer.example/trust-list --anchor csca.pem --cache ~/.cache/vaxpass
//! vaxpass-verify trust-list status --anchor csca.pem --cache ~/.cache/vaxpass
//! vaxpass-verify trust-list status --anchor csca.pem --trust-list trust-list.cose
//! ```
//!
//! For `check`, flatten [`TrustListArgs`] into its arguments and call [`load_trust_store`]: the
//! returned [`TrustListReport`] goes into the verdict (age, sequence, staleness).

use std::path::{Path, PathBuf};

use serde::Serialize;
pub use vaxpass_verifier::report::TrustListReport;
use vaxpass_verifier::trustlist::cache::Cache;
use vaxpass_verifier::trustlist::sync::{SyncError, SyncOptions, SyncOutcome, sync};
use vaxpass_verifier::trustlist::{TrustListPolicy, verify};
use vaxpass_verifier::{Timestamp, TrustStore};

use crate::cli::Format;

/// Exit status: success.
const EXIT_OK: u8 = 0;
/// Exit status: a list was refused (the previous cache is kept).
const EXIT_REFUSED: u8 = 1;
/// Exit status: usage, I/O or network error.
const EXIT_ERROR: u8 = 2;

/// `trust-list` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TrustListCommand {
    /// Download the trust list, verify it against the pinned CSCA and the cached list
    /// (rollback refused), and replace the cache atomically. On any failure the last good list
    /// is kept and the reason printed.
    Sync {
        /// The list's URL (http or https), e.g. https://issuer.example/trust-list.
        #[arg(long, value_name = "URL")]
        url: String,
        /// The pinned CSCA certificate (PEM or DER) the list's signer must chain to.
        #[arg(long, value_name = "CSCA.pem")]
        anchor: PathBuf,
        /// The cache directory.
        #[arg(long, value_name = "DIR")]
        cache: PathBuf,
        /// Hours after expiry during which a list is still used (and reported STALE).
        #[arg(long, default_value_t = 72)]
        grace_hours: i64,
        /// Verify as of this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Verify a cached (or given) list and print its sequence, age and freshness.
    Status {
        /// Where the list is.
        #[command(flatten)]
        source: TrustListArgs,
        /// Verify as of this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

/// Where `check` (or `status`) takes its trusted signers from: a signed list file or the
/// cache, always verified against the pinned CSCA.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustListArgs {
    /// A signed trust list file (COSE).
    #[arg(long = "trust-list", value_name = "FILE", conflicts_with = "cache")]
    pub trust_list: Option<PathBuf>,
    /// The cache directory filled by `trust-list sync`.
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// The pinned CSCA certificate (PEM or DER).
    #[arg(long, value_name = "CSCA.pem")]
    pub anchor: Option<PathBuf>,
    /// Hours after expiry during which a list is still used (and reported STALE).
    #[arg(long, default_value_t = 72)]
    pub grace_hours: i64,
}

impl TrustListArgs {
    /// Whether a list source was given.
    pub fn is_given(&self) -> bool {
        self.trust_list.is_some() || self.cache.is_some()
    }
}

/// A trust store loaded from a verified list.
#[derive(Debug)]
pub struct LoadedTrustList {
    /// The signers.
    pub store: TrustStore,
    /// For the verdict.
    pub report: TrustListReport,
}

/// Reads a certificate file, PEM (first CERTIFICATE block) or DER.
///
/// # Errors
/// A message naming the file.
pub fn read_anchor(path: &Path) -> Result<Vec<u8>, String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("cannot read the anchor {}: {e}", path.display()))?;
    if data.trim_ascii_start().starts_with(b"-----BEGIN") {
        let (label, der) =
            der::pem::decode_vec(&data).map_err(|e| format!("{}: bad PEM: {e}", path.display()))?;
        if label != "CERTIFICATE" {
            return Err(format!(
                "{}: PEM {label}, expected CERTIFICATE",
                path.display()
            ));
        }
        return Ok(der);
    }
    Ok(data)
}

fn policy(grace_hours: i64) -> TrustListPolicy {
    TrustListPolicy {
        grace: grace_hours.saturating_mul(3600),
        ..TrustListPolicy::default()
    }
}

/// Loads and verifies the list named by `args` at `now` (the clock of the check).
///
/// # Errors
/// A message for people: which list, why it was refused, what to do.
pub fn load_trust_store(args: &TrustListArgs, now: Timestamp) -> Result<LoadedTrustList, String> {
    let anchor_path = args.anchor.as_deref().ok_or(
        "a trust list needs --anchor CSCA.pem (the pinned CSCA of the list's issuer)".to_owned(),
    )?;
    let anchor = read_anchor(anchor_path)?;
    let policy = policy(args.grace_hours);
    let (source, verified) = match (&args.trust_list, &args.cache) {
        (Some(file), _) => {
            let bytes =
                std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let v = verify(&bytes, &anchor, now, None, &policy).map_err(|e| {
                format!("trust list {} refused [{}]: {e}", file.display(), e.code())
            })?;
            (file.display().to_string(), v)
        }
        (None, Some(dir)) => {
            let v = Cache::new(dir)
                .load(&anchor, now, &policy)
                .map_err(|e| format!("{e} (run `vaxpass-verify trust-list sync`)"))?;
            (dir.display().to_string(), v)
        }
        (None, None) => return Err("give --trust-list FILE or --cache DIR".into()),
    };
    Ok(LoadedTrustList {
        store: verified.to_trust_store(),
        report: TrustListReport::new(&source, &verified),
    })
}

/// The outcome of `sync`, for both output formats.
#[derive(Debug, Serialize)]
struct SyncReport {
    url: String,
    /// `updated`, `updated-by-delta`, `not-modified` or `failed`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_sequence: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    list: Option<TrustListReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// After a failure: the last good list, kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    kept: Option<TrustListReport>,
}

fn clock(at: Option<&str>) -> Result<Timestamp, String> {
    at.map_or(Ok(Timestamp::now()), |t| {
        Timestamp::parse(t).map_err(|e| format!("--at: {e}"))
    })
}

/// Runs a `trust-list` subcommand; returns the exit status.
pub fn run(cmd: TrustListCommand) -> u8 {
    match cmd {
        TrustListCommand::Sync {
            url,
            anchor,
            cache,
            grace_hours,
            at,
            format,
        } => run_sync(&url, &anchor, &cache, grace_hours, at.as_deref(), format),
        TrustListCommand::Status { source, at, format } => {
            let now = match clock(at.as_deref()) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_ERROR;
                }
            };
            match load_trust_store(&source, now) {
                Ok(loaded) => {
                    match format {
                        Format::Human => println!("{}", loaded.report.human()),
                        Format::Json => println!("{}", json(&loaded.report)),
                    }
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_REFUSED
                }
            }
        }
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn run_sync(
    url: &str,
    anchor_path: &Path,
    cache_dir: &Path,
    grace_hours: i64,
    at: Option<&str>,
    format: Format,
) -> u8 {
    let prepared = clock(at).and_then(|now| Ok((now, read_anchor(anchor_path)?)));
    let (now, anchor) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let cache = Cache::new(cache_dir);
    let opts = SyncOptions {
        policy: policy(grace_hours),
        ..SyncOptions::default()
    };
    let source = cache_dir.display().to_string();
    let mut report = SyncReport {
        url: url.to_owned(),
        outcome: "failed",
        previous_sequence: None,
        list: None,
        error_code: None,
        error: None,
        kept: None,
    };
    let code = match sync(url, &anchor, &cache, now, &opts) {
        Ok(outcome) => {
            report.list = Some(TrustListReport::new(&source, outcome.list()));
            match outcome {
                SyncOutcome::Updated {
                    previous, delta, ..
                } => {
                    report.outcome = if delta { "updated-by-delta" } else { "updated" };
                    report.previous_sequence = previous;
                }
                SyncOutcome::NotModified { .. } => report.outcome = "not-modified",
            }
            EXIT_OK
        }
        Err(e) => {
            let code = match &e {
                SyncError::Refused(r) => {
                    report.error_code = Some(r.code());
                    EXIT_REFUSED
                }
                _ => EXIT_ERROR,
            };
            report.error = Some(e.to_string());
            // The last good list is still there: say so, and how fresh it is.
            let grace = TrustListPolicy {
                grace: i64::MAX,
                ..opts.policy.clone()
            };
            report.kept = cache
                .load(&anchor, now, &grace)
                .ok()
                .map(|v| TrustListReport::new(&source, &v));
            code
        }
    };
    match format {
        Format::Json => println!("{}", json(&report)),
        Format::Human => match (&report.list, &report.error) {
            (Some(list), _) => {
                let what = if report.outcome.starts_with("updated") {
                    match report.previous_sequence {
                        Some(p) => format!("updated (sequence {p} -> {})", list.sequence),
                        None => "downloaded".to_owned(),
                    }
                } else {
                    "unchanged (server: not modified)".to_owned()
                };
                println!("{what}: {}", list.human());
                if list.stale {
                    println!("note: the list is STALE; the issuer has not published a newer one");
                }
            }
            (None, error) => {
                eprintln!(
                    "sync failed: {}",
                    error.as_deref().unwrap_or("unknown error")
                );
                match &report.kept {
                    Some(kept) => {
                        eprintln!("kept the last good list: {}", kept.human());
                        if kept.stale {
                            eprintln!("warning: it is STALE; sync again when the network allows");
                        }
                    }
                    None => eprintln!(
                        "no usable list in the cache: certificates cannot be checked until a sync succeeds"
                    ),
                }
            }
        },
    }
    code
}
