//! `vaxpass-verify revocations …`: download the signed revocation list into the offline cache
//! and show its state; and the revocation part of `check --revocations DIR`.
//!
//! ```text
//! vaxpass-verify revocations sync --url https://issuer.example/revocations --anchor csca.pem --cache ~/.cache/vaxpass
//! vaxpass-verify revocations status --anchor csca.pem --cache ~/.cache/vaxpass
//! vaxpass-verify check --cache ~/.cache/vaxpass --anchor csca.pem --revocations ~/.cache/vaxpass HC1:…
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;
use vaxpass_verifier::revocation::cache::RevocationCache;
use vaxpass_verifier::revocation::sync::{RevocationSyncOptions, RevocationSyncOutcome, sync};
use vaxpass_verifier::revocation::{
    CertificateHashes, Freshness, RevocationPolicy, RevocationStatus, RevocationStore,
};
use vaxpass_verifier::trustlist::human_duration;
use vaxpass_verifier::{SignedHcert, Timestamp};

use crate::cli::Format;
use crate::trust_list::read_anchor;

/// Failure code of a revoked certificate.
pub const REVOKED: &str = "REVOKED";
/// Failure code of "cannot decide": the list expired beyond its grace period.
pub const UNKNOWN: &str = "REVOCATION_UNKNOWN";

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

/// The list's state, in `status`, `sync` and the verdict of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    /// The cache directory.
    pub source: String,
    /// Issuer country.
    pub issuer_country: String,
    /// Sequence number.
    pub sequence: u64,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Seconds since issue.
    pub age_seconds: i64,
    /// `fresh`, `stale` or `expired` (beyond the grace period: status unknown).
    pub freshness: &'static str,
    /// For people.
    pub freshness_text: String,
    /// Revoked entries.
    pub entries: usize,
}

impl ListReport {
    fn new(source: &Path, store: &RevocationStore, now: Timestamp) -> Self {
        let l = store.list();
        let freshness = store.freshness(now);
        ListReport {
            source: source.display().to_string(),
            issuer_country: l.issuer_country.clone(),
            sequence: l.sequence,
            issued_at: l.issued_at.to_string(),
            expires_at: l.expires_at.to_string(),
            age_seconds: store.age(now),
            freshness: freshness.name(),
            freshness_text: freshness.to_string(),
            entries: l.len(),
        }
    }

    /// One line for people.
    pub fn human(&self) -> String {
        format!(
            "revocation list {} sequence {} from {}: issued {} ({} ago), {}, {} entries",
            self.issuer_country,
            self.sequence,
            self.source,
            self.issued_at,
            human_duration(self.age_seconds),
            self.freshness_text,
            self.entries
        )
    }
}

/// The revocation part of a verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationReport {
    /// `NOT_REVOKED`, `REVOKED` or `REVOCATION_UNKNOWN`.
    pub status: &'static str,
    /// `superseded`, `error`, `fraud`, `unspecified` (only when revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The hash that matched (only when revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_type: Option<&'static str>,
    /// The list consulted.
    pub list: ListReport,
}

/// A verified revocation list loaded for `check`.
pub struct Loaded {
    store: RevocationStore,
    report: ListReport,
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
    let report = ListReport::new(dir, &store, now);
    Ok(Loaded { store, report })
}

/// The status of a verified certificate.
pub fn status(loaded: &Loaded, signed: &SignedHcert, now: Timestamp) -> RevocationReport {
    let status = loaded
        .store
        .status(&CertificateHashes::of(signed), signed.kid(), now);
    let (reason, hash_type) = match &status {
        RevocationStatus::Revoked {
            reason, hash_type, ..
        } => (Some(reason.name()), Some(hash_type.gateway_name())),
        _ => (None, None),
    };
    RevocationReport {
        status: status.code(),
        reason,
        hash_type,
        list: loaded.report.clone(),
    }
}

fn at_or_now(at: Option<&str>) -> Result<Timestamp, String> {
    match at {
        None => Ok(Timestamp::now()),
        Some(t) => Timestamp::parse(t).map_err(|e| format!("--at: {e}")),
    }
}

fn emit(report: &ListReport, format: Format, what: &str) {
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
                            previous: Some(p), ..
                        } => format!("updated (was sequence {p})"),
                        RevocationSyncOutcome::Updated { previous: None, .. } => {
                            "stored".to_owned()
                        }
                        RevocationSyncOutcome::NotModified { .. } => "not modified".to_owned(),
                    };
                    let store = match outcome {
                        RevocationSyncOutcome::Updated { list, .. }
                        | RevocationSyncOutcome::NotModified { list } => list.into_store(),
                    };
                    emit(&ListReport::new(&cache, &store, now), format, &what);
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
                    let report = ListReport::new(&cache, &store, now);
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
