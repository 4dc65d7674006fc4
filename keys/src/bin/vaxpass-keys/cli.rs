//! Command-line interface (clap derive).
//!
//! Secrets (passphrases, PINs) are only read from environment variables or files, never from
//! the command line: every user on the machine can read other processes' arguments with `ps`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// vaxpass signing PKI: CSCA, document signers (DSC), trust-list signer, rotation.
///
/// Exit codes: 0 success, 1 refused (bad request, key mismatch, wrong passphrase, manifest
/// rule), 2 usage or I/O error.
#[derive(Debug, Parser)]
#[command(name = "vaxpass-keys", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Country signing CA (run on the offline CSCA machine).
    #[command(subcommand)]
    Csca(CscaCommand),
    /// Document signer certificates.
    #[command(subcommand)]
    Dsc(DscCommand),
    /// Trust-list signer certificate.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// A complete DEVELOPMENT key directory in one step (CSCA key included: NOT FOR PRODUCTION).
    DevInit(DevInitArgs),
}

/// `csca ...`
#[derive(Debug, Subcommand)]
pub enum CscaCommand {
    /// Generate the CSCA key and its self-signed certificate (DIR/csca.key.pem, DIR/csca.pem).
    Init(CscaInitArgs),
}

/// `dsc ...`
#[derive(Debug, Subcommand)]
pub enum DscCommand {
    /// Generate a DSC key where it will live (file or PKCS#11 token) and a CSR for the CSCA.
    Request(RequestArgs),
    /// CSCA: verify a CSR and issue the DSC; types and validity are chosen here, not in the CSR.
    Sign(SignArgs),
    /// Install a signed DSC into a key directory (as `pending`, or `current` with --activate).
    Install(InstallArgs),
    /// List the DSCs of a key directory.
    List(ListArgs),
    /// Make a DSC current and retire the DSCs it replaces.
    Rotate(RotateArgs),
}

/// `tls ...`
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// CSCA: verify a CSR (from `dsc request`) and issue the trust-list signer certificate.
    Sign(TlsSignArgs),
}

/// Where a passphrase comes from.
#[derive(Debug, Args, Default)]
pub struct PassphraseArgs {
    /// Read the key-file passphrase from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "passphrase_file")]
    pub passphrase_env: Option<String>,
    /// Read the key-file passphrase from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Subject fields.
#[derive(Debug, Args)]
pub struct SubjectArgs {
    /// Country (ISO 3166 alpha-2).
    #[arg(long, default_value = "VN")]
    pub country: String,
    /// Organization (O).
    #[arg(long)]
    pub org: String,
    /// Common name (CN).
    #[arg(long)]
    pub cn: String,
}

/// A key on a PKCS#11 token.
#[derive(Debug, Args, Default)]
pub struct TokenArgs {
    /// PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so).
    #[arg(long, value_name = "PATH")]
    pub pkcs11_module: Option<PathBuf>,
    /// Token label.
    #[arg(long, requires = "pkcs11_module")]
    pub token: Option<String>,
    /// Read the token user PIN from this environment variable.
    #[arg(
        long,
        value_name = "VAR",
        requires = "pkcs11_module",
        conflicts_with = "pin_file"
    )]
    pub pin_env: Option<String>,
    /// Read the token user PIN from the first line of this file.
    #[arg(long, value_name = "FILE", requires = "pkcs11_module")]
    pub pin_file: Option<PathBuf>,
    /// Key label on the token.
    #[arg(long, requires = "pkcs11_module")]
    pub label: Option<String>,
    /// Key id on the token (hex).
    #[arg(long, requires = "pkcs11_module")]
    pub id: Option<String>,
}

/// `csca init`
#[derive(Debug, Args)]
pub struct CscaInitArgs {
    /// Output directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Subject.
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// Key algorithm: p256, rsa3072, rsa4096.
    #[arg(long, default_value = "p256")]
    pub algorithm: String,
    /// Validity in years.
    #[arg(long, default_value_t = 10)]
    pub years: i64,
    /// Start of validity (date or RFC 3339; default now).
    #[arg(long)]
    pub not_before: Option<String>,
    /// Passphrase for the key file.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// `dsc request`
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Subject.
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// Key algorithm: p256 (ES256), rsa2048, rsa3072 (PS256).
    #[arg(long, default_value = "p256")]
    pub algorithm: String,
    /// Write the new private key here (file keys).
    #[arg(long, conflicts_with = "pkcs11_module")]
    pub key: Option<PathBuf>,
    /// Write the CSR here.
    #[arg(long)]
    pub csr: PathBuf,
    /// Passphrase for the key file.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// Generate the key on a token instead.
    #[command(flatten)]
    pub token: TokenArgs,
}

/// `dsc sign`
#[derive(Debug, Args)]
pub struct SignArgs {
    /// CSCA certificate.
    #[arg(long)]
    pub csca_cert: PathBuf,
    /// CSCA private key file.
    #[arg(long)]
    pub csca_key: PathBuf,
    /// Passphrase of the CSCA key.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// The CSR.
    #[arg(long)]
    pub csr: PathBuf,
    /// Certificate types the DSC may sign: v, t, r (comma-separated).
    #[arg(long, default_value = "v,t,r")]
    pub types: String,
    /// Validity in days.
    #[arg(long, default_value_t = 730)]
    pub days: i64,
    /// Start of validity (default now).
    #[arg(long)]
    pub not_before: Option<String>,
    /// Write the DSC certificate here.
    #[arg(long)]
    pub out: PathBuf,
}

/// `tls sign`
#[derive(Debug, Args)]
pub struct TlsSignArgs {
    /// CSCA certificate.
    #[arg(long)]
    pub csca_cert: PathBuf,
    /// CSCA private key file.
    #[arg(long)]
    pub csca_key: PathBuf,
    /// Passphrase of the CSCA key.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// The CSR.
    #[arg(long)]
    pub csr: PathBuf,
    /// Subject of the trust-list signer.
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// Validity in days.
    #[arg(long, default_value_t = 730)]
    pub days: i64,
    /// Start of validity (default now).
    #[arg(long)]
    pub not_before: Option<String>,
    /// Write the certificate here.
    #[arg(long)]
    pub out: PathBuf,
}

/// `dsc install`
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Key directory (holds keys.toml; created with --csca-cert if missing).
    #[arg(long)]
    pub dir: PathBuf,
    /// The signed DSC certificate.
    #[arg(long)]
    pub cert: PathBuf,
    /// CSCA certificate (needed when the key directory has no manifest yet).
    #[arg(long)]
    pub csca_cert: Option<PathBuf>,
    /// The DSC's key file.
    #[arg(long, conflicts_with = "pkcs11_module")]
    pub key: Option<PathBuf>,
    /// Passphrase of the key file (to check that key and certificate match).
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// Or the DSC's key on a token.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Make it current at once (retiring the DSCs it replaces).
    #[arg(long)]
    pub activate: bool,
    /// The instant of activation (default now).
    #[arg(long)]
    pub at: Option<String>,
}

/// `dsc list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Key directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Evaluate at this instant (default now).
    #[arg(long)]
    pub at: Option<String>,
}

/// `dsc rotate`
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Key directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The DSC to make current (kid, base64, as `dsc list` prints).
    #[arg(long)]
    pub kid: String,
    /// The instant of rotation (default now).
    #[arg(long)]
    pub at: Option<String>,
}

/// `dev-init`
#[derive(Debug, Args)]
pub struct DevInitArgs {
    /// The directory to create.
    pub dir: PathBuf,
    /// Country.
    #[arg(long, default_value = "VN")]
    pub country: String,
    /// DSC key algorithm: p256, rsa2048, rsa3072.
    #[arg(long, default_value = "p256")]
    pub dsc_algorithm: String,
    /// Start of validity (default now).
    #[arg(long)]
    pub not_before: Option<String>,
    /// Encrypt the key files with the passphrase from here.
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}
