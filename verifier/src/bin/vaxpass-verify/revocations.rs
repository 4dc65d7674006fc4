//! `vaxpass-verify revocations …`: download the signed revocation list into the offline cache
//! and show its state; and the revocation part of `check --revocations DIR`.
//!
//! ```text
//! vaxpass-verify revocations sync --url https://issuer.example/revocations --anchor csca.pem --cache ~/.cache/vaxpass
//! vaxpass-verify revocations status --anchor csca.pem --cache ~/.cache/vaxpass
//! vaxpass-verify check --cache ~/.cache/vaxpass --anchor csca.pem --revocations ~/.cache/vaxpass HC1:…
//! ```

use std::path::{Path, PathBuf};

use vaxpass_verifier::Timestamp;
use vaxpass_verifier::report::RevocationListReport;
use vaxpass_verifier::revocation::cache::RevocationCache;
use vaxpass_verifier::revocation::sync::{RevocationSyncOptions, RevocationSyncOutcome, sync};
use vaxpass_verifier::revocation::{Freshness, RevocationPolicy, RevocationStore};

use crate::cli::Format;
use crate::trust_list::read_anchor;

pub use vaxpass_verifier::report::REVOCATION_UNKNOWN as UNKNOWN;

const EXIT_OK: u8 = 0;
const EXIT_REFUSED: u8 = 1;
const EXIT_ERROR: u8 = 2;

/// `revocations` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RevocationsCommand {
    /// Download the revocation list, verify it against the pinned CSCA and the cached list
    /// (rollback refused), and replace the cache atomically; on failure the last good list is
    /// kept.
    Sync {
        /// The list's URL, e.g. https://issuer.example/revocations.
        #[arg(long, value_name = "URL")]
        url: String,
        /// The pinned CSCA certificate (PEM or DER).
        #[arg(long, value_name = "CSCA.pem")]
        anchor: PathBuf,
        /// The cache directory.
        #[arg(long, value_name = "DIR")]
        cache: PathBuf,
        /// Hours after expiry during which the list still vouches (reported STALE).
        #[arg(long, default_value_t = 24)]
        grace_hours: i64,
        /// Verify as of this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Verify the cached list and print its sequence, age, freshness and size.
    Status {
        /// The pinned CSCA certificate (PEM or DER).
        #[arg(long, value_name = "CSCA.pem")]
        anchor: PathBuf,
        /// The cache directory.
        #[arg(long, value_name = "DIR")]
        cache: PathBuf,
        /// Hours after expiry during which the list still vouches (reported STALE).
        #[arg(long, default_value_t = 24)]
        grace_hours: i64,
        /// Verify as of this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

/// A verified revocation list loaded for `check`.
pub struct Loaded {
    store: RevocationStore,
    report: RevocationListReport,
}

fn policy(grace_hours: i64) -> RevocationPolicy {
    RevocationPolicy {
        grace: grace_hours.saturating_mul(3600),
        ..RevocationPolicy::default()
    }
}

/// Loads the cached list for `check`.
///
/// # Errors
/// A message for people: which list, why it is unusable, what to do.
pub fn load(dir: &Path, anchor: &Path, now: Timestamp) -> Result<Loaded, String> {
    let anchor = read_anchor(anchor)?;
    let verified = RevocationCache::new(dir)
        .load(&anchor, now, &RevocationPolicy::default())
        .map_err(|e| format!("--revocations: {e}; run `vaxpass-verify revocations sync` first"))?;
    let store = verified.into_store();
    let report = RevocationListReport::new(&dir.display().to_string(), &store, now);
    Ok(Loaded { store, report })
}

impl Loaded {
    /// The verified list.
    pub fn store(&self) -> &RevocationStore {
        &self.store
    }

    /// Its report.
    pub fn report(&self) -> &RevocationListReport {
        &self.report
    }
}

fn at_or_now(at: Option<&str>) -> Result<Timestamp, String> {
    match at {
        None => Ok(Timestamp::now()),
        Some(t) => Timestamp::parse(t).map_err(|e| format!("--at: {e}")),
    }
}

fn emit(report: &RevocationListReport, format: Format, what: &str) {
    match format {
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("error: {e}"),
        },
        Format::Human => println!("{what}: {}", report.human()),
    }
}

/// Runs a `revocations` subcommand; returns the exit status.
pub fn run(cmd: RevocationsCommand) -> u8 {
    match cmd {
        RevocationsCommand::Sync {
            url,
            anchor,
            cache,
            grace_hours,
            at,
            format,
        } => {
            let (now, anchor_der) = match at_or_now(at.as_deref())
                .and_then(|now| read_anchor(&anchor).map(|a| (now, a)))
            {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_ERROR;
                }
            };
            let opts = RevocationSyncOptions {
                policy: policy(grace_hours),
                ..RevocationSyncOptions::default()
            };
            let rc = RevocationCache::new(&cache);
            match sync(&url, &anchor_der, &rc, now, &opts) {
                Ok(outcome) => {
                    let what = match &outcome {
                        RevocationSyncOutcome::Updated {
                            previous: Some(p),
                            delta,
                            transferred,
                            ..
                        } => format!(
                            "updated (was sequence {p}; {} of {transferred} bytes)",
                            if *delta { "a delta" } else { "the full list" }
                        ),
                        RevocationSyncOutcome::Updated { previous: None, .. } => {
                            "stored".to_owned()
                        }
                        RevocationSyncOutcome::NotModified { .. } => "not modified".to_owned(),
                    };
                    let (outcome_name, delta, transferred) = match &outcome {
                        RevocationSyncOutcome::Updated {
                            previous,
                            delta,
                            transferred,
                            ..
                        } => (
                            if previous.is_some() {
                                "updated"
                            } else {
                                "stored"
                            },
                            *delta,
                            *transferred,
                        ),
                        RevocationSyncOutcome::NotModified { .. } => ("not-modified", false, 0),
                    };
                    let store = match outcome {
                        RevocationSyncOutcome::Updated { list, .. }
                        | RevocationSyncOutcome::NotModified { list } => list.into_store(),
                    };
                    let report =
                        RevocationListReport::new(&cache.display().to_string(), &store, now);
                    match format {
                        // The list's report, and what the sync did.
                        Format::Json => match serde_json::to_value(&report) {
                            Ok(mut json) => {
                                json["outcome"] = outcome_name.into();
                                json["delta"] = delta.into();
                                json["transferred_bytes"] = transferred.into();
                                println!("{json:#}");
                            }
                            Err(e) => eprintln!("error: {e}"),
                        },
                        Format::Human => emit(&report, format, &what),
                    }
                    EXIT_OK
                }
                Err(e) => {
                    let refused = matches!(
                        e,
                        vaxpass_verifier::trustlist::sync::SyncError::RevocationsRefused(_)
                    );
                    eprintln!("error: {e}; the previously cached list (if any) is kept");
                    if refused { EXIT_REFUSED } else { EXIT_ERROR }
                }
            }
        }
        RevocationsCommand::Status {
            anchor,
            cache,
            grace_hours,
            at,
            format,
        } => {
            let loaded = at_or_now(at.as_deref()).and_then(|now| {
                let anchor_der = read_anchor(&anchor)?;
                RevocationCache::new(&cache)
                    .load(&anchor_der, now, &policy(grace_hours))
                    .map(|v| (now, v.into_store()))
                    .map_err(|e| e.to_string())
            });
            match loaded {
                Ok((now, store)) => {
                    let report =
                        RevocationListReport::new(&cache.display().to_string(), &store, now);
                    emit(&report, format, "cached");
                    if matches!(store.freshness(now), Freshness::Expired { .. }) {
                        EXIT_REFUSED
                    } else {
                        EXIT_OK
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_ERROR
                }
            }
        }
    }
}
