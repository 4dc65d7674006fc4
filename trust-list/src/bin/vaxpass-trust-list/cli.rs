//! Command-line arguments of `vaxpass-trust-list`.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Build, sign, inspect and serve vaxpass trust lists.
///
/// Exit status: 0 success, 1 a list was refused, 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(name = "vaxpass-trust-list", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for a person.
    Human,
    /// The JSON rendition.
    Json,
}

/// Secrets to open the trust-list signer key (never on the command line).
#[derive(Debug, clap::Args)]
pub struct SecretArgs {
    /// Environment variable holding the key file passphrase.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// File holding the key file passphrase.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Environment variable holding the PKCS#11 token PIN.
    #[arg(long, value_name = "VAR")]
    pub pin_env: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an UNSIGNED list from the key directory (publishable DSCs) and, optionally,
    /// imported EU-gateway lists of other countries. Review it with `show`, then `sign` it.
    Build {
        /// The key directory (with keys.toml).
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// EU gateway trust-list JSON to import (repeatable).
        #[arg(long, value_name = "FILE")]
        gateway: Vec<PathBuf>,
        /// A foreign CSCA to check imported DSCs against: `CC=FILE` (PEM or DER; repeatable).
        #[arg(long, value_name = "CC=FILE")]
        csca: Vec<String>,
        /// DANGEROUS: import DSCs of countries without a configured CSCA, unchecked. They are
        /// flagged as DANGEROUS-unanchored in the list and its JSON.
        #[arg(long)]
        allow_unanchored: bool,
        /// Build as of this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Where to write the unsigned list (CBOR).
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Sign a built list with the trust-list signer: next sequence number (persisted in the
    /// key directory's trust-list.seq), issued now, expiring after --lifetime-hours.
    Sign {
        /// The key directory (with keys.toml).
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// The unsigned list from `build`.
        #[arg(long, value_name = "FILE")]
        list: PathBuf,
        /// Hours from issue to expiry.
        #[arg(long, default_value_t = 48)]
        lifetime_hours: i64,
        /// Sign as of this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Where to write the signed list (COSE).
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
        /// Also write the JSON rendition here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Key secrets.
        #[command(flatten)]
        secrets: SecretArgs,
    },
    /// Show a list (signed or unsigned). With --anchor, a signed list is verified first.
    Show {
        /// The list.
        file: PathBuf,
        /// The pinned CSCA (PEM or DER) to verify against.
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
        /// Verify as of this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Export the national DSCs of a signed list in the EU gateway JSON form.
    Export {
        /// The key directory (the trust-list signer signs each entry).
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// The signed list.
        #[arg(long, value_name = "FILE")]
        list: PathBuf,
        /// Where to write the JSON.
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
        /// Key secrets.
        #[command(flatten)]
        secrets: SecretArgs,
    },
    /// Serve a signed list over HTTP (GET /trust-list, /trust-list.json): either a file
    /// (re-read when it changes; re-sign it with `sign` from cron) or, with --keys, a list this
    /// process builds from the key directory and re-signs every --resign-hours.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["list", "keys"])))]
    Serve {
        /// The signed list.
        #[arg(long, value_name = "FILE")]
        list: Option<PathBuf>,
        /// Build, sign and periodically re-sign from this key directory instead.
        #[arg(long, value_name = "DIR")]
        keys: Option<PathBuf>,
        /// With --keys: hours between re-signings (keep it well under the lifetime).
        #[arg(long, default_value_t = 12)]
        resign_hours: u64,
        /// With --keys: hours from issue to expiry.
        #[arg(long, default_value_t = 48)]
        lifetime_hours: i64,
        /// Key secrets (with --keys).
        #[command(flatten)]
        secrets: SecretArgs,
        /// Verify the list (and every reloaded one) against this CSCA.
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
        /// Listen address.
        #[arg(
            long,
            default_value = "127.0.0.1:8080",
            env = "VAXPASS_TRUST_LIST_LISTEN"
        )]
        listen: SocketAddr,
        /// Cache-Control max-age, seconds.
        #[arg(long, default_value_t = 300)]
        max_age: u32,
    },
}
