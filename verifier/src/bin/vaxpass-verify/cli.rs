//! Command-line arguments of `vaxpass-verify`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Verify EU Digital COVID Certificates (HCERT) offline.
///
/// Exit status: 0 valid, 1 decoded or read but not valid, 2 usage or I/O error, 3 cannot
/// decide (`check --revocations` with a revocation list expired beyond its grace period).
#[derive(Debug, Parser)]
#[command(name = "vaxpass-verify", version, about, long_about = None)]
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
    /// One JSON object (for `conformance`: one JSON line per evaluated pair).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a certificate: signature, validity dates, key usage, schema and value sets, and
    /// with `--rules` the validity rules of the country of arrival.
    Check {
        /// Trusted signer certificates (DSC), PEM or DER: a file (one or many certificates) or a
        /// folder of such files. May be repeated. Needed unless a trust list is given.
        #[arg(long = "dsc", value_name = "FILE|DIR")]
        dsc: Vec<PathBuf>,
        /// Signers from a signed trust list, checked against its pinned CSCA.
        #[command(flatten)]
        trust: crate::trust_list::TrustListArgs,
        /// Check as of this instant (RFC 3339, e.g. 2021-06-01T12:00:00Z) instead of now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Folder of validity rules in the EU gateway format (e.g. schemas/rules); needs
        /// `--country`.
        #[arg(long, value_name = "DIR", requires = "country")]
        rules: Option<PathBuf>,
        /// Country of arrival (ISO 3166 alpha-2, e.g. VN) whose acceptance rules apply; needs
        /// `--rules`.
        #[arg(long, value_name = "CC", requires = "rules")]
        country: Option<String>,
        /// The cache directory filled by `revocations sync` (needs `--anchor`): a revoked
        /// certificate is NOT VALID (REVOKED, with the reason); with a list expired beyond its
        /// grace period the verdict is "cannot decide" (REVOCATION_UNKNOWN, exit status 3).
        #[arg(long, value_name = "DIR")]
        revocations: Option<PathBuf>,
        /// The certificate: an `HC1:` string, `-` for standard input, `@FILE` for a file holding
        /// the string, or a PNG/JPEG picture of the QR code.
        input: String,
    },
    /// Print the payload of a certificate WITHOUT verifying it (labelled UNVERIFIED).
    Decode {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// The certificate, as for `check`.
        input: String,
    },
    /// Download, verify and cache the signed trust list; show the cached list's state.
    #[command(subcommand)]
    TrustList(crate::trust_list::TrustListCommand),
    /// Download, verify and cache the signed revocation list; show the cached list's state.
    #[command(subcommand)]
    Revocations(crate::revocations::RevocationsCommand),
    /// Run every test case of a folder in the dgc-testdata layout (**/2DCode/raw/*.json).
    Conformance {
        /// The folder.
        dir: PathBuf,
        /// Known-wrong upstream expectations to waive (`PATTERN FLAG REASON` per line).
        #[arg(long, value_name = "FILE")]
        waivers: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run validity-rule test suites.
    Rules {
        /// Which suite.
        #[command(subcommand)]
        command: RulesCommand,
    },
}

/// The `rules` subcommands; each prints every disagreement and ends with `N passed, M failed`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Rule tests in the dgc-business-rules-testdata layout (`<CC>/<rule id>/rule.json` with
    /// `tests/*.json`).
    Test {
        /// The folder.
        dir: PathBuf,
    },
    /// The CertLogic evaluator test suite (a folder of `*.json` test-suite files).
    CertlogicSuite {
        /// The folder.
        dir: PathBuf,
    },
    /// The CertLogic validation test suite (a folder of `*.json` files).
    ValidationSuite {
        /// The folder.
        dir: PathBuf,
    },
}
