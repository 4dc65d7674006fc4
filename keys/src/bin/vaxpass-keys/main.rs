//! `vaxpass-keys`: manage the vaxpass signing PKI. See `vaxpass-keys --help`.

mod cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use vaxpass_keys::cert::{self, CertificateInfo, VerifiedCsr};
use vaxpass_keys::manifest::{
    DscEntry, DscState, KeyLocation, MANIFEST_FILE, Manifest, ManifestError, Pkcs11Location,
};
use vaxpass_keys::profile::{
    CertType, CscaProfile, DAY, DistinguishedName, DscProfile, TrustListSignerProfile, Validity,
    YEAR,
};
use vaxpass_keys::storage::{self, KeyEncryption, StorageError};
use vaxpass_keys::{Error, KeyAlgorithm, Passphrase, PrivateKey};
use vaxpass_verifier::Timestamp;

use cli::{Cli, Command, CscaCommand, DscCommand, PassphraseArgs, TlsCommand, TokenArgs};

/// A failure with its exit code and a hint on what to do.
struct Failure {
    code: u8,
    message: String,
    hint: Option<String>,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Storage(StorageError::Io { .. })
            | Error::Storage(StorageError::MissingEnv(_))
            | Error::Storage(StorageError::KeyFileExists(_)) => 2,
            _ => 1,
        };
        let hint = match &e {
            Error::Storage(StorageError::KeyFileTooOpen { .. }) => {
                Some("key files must be readable by their owner only".to_owned())
            }
            Error::Storage(StorageError::PassphraseRequired(_)) => {
                Some("pass --passphrase-env VAR or --passphrase-file FILE".to_owned())
            }
            Error::Storage(StorageError::WrongPassphrase(_)) => {
                Some("check the passphrase variable or file".to_owned())
            }
            _ => None,
        };
        Failure {
            code,
            message: e.to_string(),
            hint,
        }
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Error::from(e).into()
    }
}

impl From<ManifestError> for Failure {
    fn from(e: ManifestError) -> Self {
        Error::from(e).into()
    }
}

impl From<cert::CertError> for Failure {
    fn from(e: cert::CertError) -> Self {
        Error::from(e).into()
    }
}

#[cfg(feature = "pkcs11")]
impl From<vaxpass_keys::pkcs11::Pkcs11Error> for Failure {
    fn from(e: vaxpass_keys::pkcs11::Pkcs11Error) -> Self {
        Error::from(e).into()
    }
}

fn usage(message: String) -> Failure {
    Failure {
        code: 2,
        message,
        hint: None,
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    // The clock is read here, once, and passed down.
    let now = Timestamp::now();
    let result = match cli.command {
        Command::Csca(CscaCommand::Init(a)) => csca_init(a, now),
        Command::Dsc(DscCommand::Request(a)) => dsc_request(a),
        Command::Dsc(DscCommand::Sign(a)) => dsc_sign(a, now),
        Command::Dsc(DscCommand::Install(a)) => dsc_install(a, now),
        Command::Dsc(DscCommand::List(a)) => dsc_list(a, now),
        Command::Dsc(DscCommand::Rotate(a)) => dsc_rotate(a, now),
        Command::Tls(TlsCommand::Sign(a)) => tls_sign(a, now),
        Command::DevInit(a) => dev_init(a, now),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(h) = f.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(f.code)
        }
    }
}

fn passphrase(a: &PassphraseArgs) -> Result<Option<Passphrase>, Failure> {
    Ok(match (&a.passphrase_env, &a.passphrase_file) {
        (Some(var), _) => Some(Passphrase::from_env(var)?),
        (None, Some(file)) => Some(Passphrase::from_file(file)?),
        (None, None) => None,
    })
}

fn time_arg(arg: &Option<String>, now: Timestamp) -> Result<Timestamp, Failure> {
    match arg {
        None => Ok(now),
        Some(s) => Timestamp::parse(s).map_err(|e| usage(e.to_string())),
    }
}

fn key_algorithm(name: &str, allowed: &[KeyAlgorithm]) -> Result<KeyAlgorithm, Failure> {
    KeyAlgorithm::from_name(name)
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
            usage(format!(
                "unknown or unsupported key algorithm {name:?} here (use {})",
                names.join(", ")
            ))
        })
}

fn dn(s: &cli::SubjectArgs) -> DistinguishedName {
    DistinguishedName::new(&s.country, &s.org, &s.cn)
}

fn create_dir(dir: &Path) -> Outcome {
    std::fs::create_dir_all(dir).map_err(|source| {
        Failure::from(StorageError::Io {
            action: "creating",
            path: dir.to_path_buf(),
            source,
        })
    })
}

fn csca_init(a: cli::CscaInitArgs, now: Timestamp) -> Outcome {
    let alg = key_algorithm(
        &a.algorithm,
        &[
            KeyAlgorithm::EcP256,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
        ],
    )?;
    let pass = passphrase(&a.passphrase)?;
    let not_before = time_arg(&a.not_before, now)?;
    if !(1..=30).contains(&a.years) {
        return Err(usage("--years must be 1..=30".into()));
    }
    create_dir(&a.dir)?;
    let key_path = a.dir.join("csca.key.pem");
    let cert_path = a.dir.join("csca.pem");
    let key = PrivateKey::generate(alg).map_err(Error::from)?;
    let profile = CscaProfile {
        subject: dn(&a.subject),
        validity: Validity::starting(not_before, a.years * YEAR),
    };
    // Check the profile before writing anything.
    profile.subject.to_name()?;
    storage::write_private_key(&key_path, &key, pass.as_ref(), KeyEncryption::default())?;
    let der = cert::issue_csca(&key, &profile)?;
    storage::write_certificate(&cert_path, &der)?;
    let info = CertificateInfo::parse(&der)?;
    println!("CSCA created");
    println!("  subject:     {}", info.subject_text());
    println!(
        "  key:         {} ({alg}{})",
        key_path.display(),
        if pass.is_some() {
            ", encrypted"
        } else {
            ", NOT encrypted"
        }
    );
    println!("  certificate: {}", cert_path.display());
    println!(
        "  valid:       {} .. {}",
        info.validity.not_before, info.validity.not_after
    );
    println!(
        "Keep the CSCA key offline. Next: `vaxpass-keys dsc request` where the DSC key lives."
    );
    Ok(())
}

fn token_location(t: &TokenArgs) -> Result<Option<Pkcs11Location>, Failure> {
    let Some(module) = &t.pkcs11_module else {
        return Ok(None);
    };
    let token = t
        .token
        .clone()
        .ok_or_else(|| usage("--token is required with --pkcs11-module".into()))?;
    let label = t
        .label
        .clone()
        .ok_or_else(|| usage("--label is required with --pkcs11-module".into()))?;
    let loc = Pkcs11Location {
        module: module.clone(),
        token,
        label,
        id: t.id.clone(),
    };
    if loc.id.is_some() && loc.id_bytes().is_none() {
        return Err(usage("--id must be hex".into()));
    }
    Ok(Some(loc))
}

fn pin(t: &TokenArgs) -> Result<Passphrase, Failure> {
    match (&t.pin_env, &t.pin_file) {
        (Some(var), _) => Ok(Passphrase::from_env(var)?),
        (None, Some(f)) => Ok(Passphrase::from_file(f)?),
        (None, None) => Err(usage(
            "the token PIN is needed: --pin-env VAR or --pin-file FILE (never on the command line)"
                .into(),
        )),
    }
}

fn dsc_request(a: cli::RequestArgs) -> Outcome {
    let alg = key_algorithm(
        &a.algorithm,
        &[
            KeyAlgorithm::EcP256,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
        ],
    )?;
    let subject = dn(&a.subject);
    subject.to_name()?;
    if let Some(loc) = token_location(&a.token)? {
        return token_request(&loc, &a.token, alg, &subject, &a.csr);
    }
    let key_path = a
        .key
        .clone()
        .ok_or_else(|| usage("give --key FILE (or --pkcs11-module ... for a token key)".into()))?;
    let pass = passphrase(&a.passphrase)?;
    if let Some(parent) = key_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent)?;
    }
    let key = PrivateKey::generate(alg).map_err(Error::from)?;
    storage::write_private_key(&key_path, &key, pass.as_ref(), KeyEncryption::default())?;
    let csr = cert::create_csr(&key, &subject)?;
    storage::write_csr(&a.csr, &csr)?;
    println!("DSC key and request created");
    println!(
        "  key: {} ({alg}{})",
        key_path.display(),
        if pass.is_some() {
            ", encrypted"
        } else {
            ", NOT encrypted"
        }
    );
    println!(
        "  CSR: {} (take it to the CSCA: `vaxpass-keys dsc sign`)",
        a.csr.display()
    );
    Ok(())
}

#[cfg(feature = "pkcs11")]
fn token_request(
    loc: &Pkcs11Location,
    t: &TokenArgs,
    alg: KeyAlgorithm,
    subject: &DistinguishedName,
    csr_path: &Path,
) -> Outcome {
    let token = vaxpass_keys::pkcs11::Token::open(&loc.module, &loc.token, &pin(t)?)?;
    let id = loc
        .id_bytes()
        .unwrap_or_else(|| loc.label.as_bytes().to_vec());
    let key = token.generate_key_pair(alg, &loc.label, &id)?;
    let csr = cert::create_csr(&key, subject)?;
    storage::write_csr(csr_path, &csr)?;
    println!(
        "DSC key generated on token {:?} (label {:?}, {alg}); it never leaves the token",
        loc.token, loc.label
    );
    println!(
        "  CSR: {} (signed by the token; take it to the CSCA)",
        csr_path.display()
    );
    Ok(())
}

#[cfg(not(feature = "pkcs11"))]
fn token_request(
    _: &Pkcs11Location,
    _: &TokenArgs,
    _: KeyAlgorithm,
    _: &DistinguishedName,
    _: &Path,
) -> Outcome {
    Err(usage("this build has no PKCS#11 support".into()))
}

fn load_csca(
    cert_path: &Path,
    key_path: &Path,
    pass: &PassphraseArgs,
) -> Result<(Vec<u8>, PrivateKey), Failure> {
    let (der, _) = storage::read_certificate(cert_path)?;
    let key = storage::read_private_key(key_path, passphrase(pass)?.as_ref())?;
    Ok((der, key))
}

fn dsc_sign(a: cli::SignArgs, now: Timestamp) -> Outcome {
    let types = CertType::parse_list(&a.types)?;
    if !(1..=3650).contains(&a.days) {
        return Err(usage("--days must be 1..=3650".into()));
    }
    let not_before = time_arg(&a.not_before, now)?;
    let (csca, csca_key) = load_csca(&a.csca_cert, &a.csca_key, &a.passphrase)?;
    let csr = VerifiedCsr::verify(&storage::read_csr(&a.csr)?)?;
    let profile = DscProfile {
        types,
        validity: Validity::starting(not_before, a.days * DAY),
        subject: None,
    };
    let der = cert::issue_dsc(&csca, &csca_key, &csr, &profile)?;
    storage::write_certificate(&a.out, &der)?;
    let info = CertificateInfo::parse(&der)?;
    println!("DSC issued: {}", a.out.display());
    print_cert(&info);
    println!("Next: `vaxpass-keys dsc install` on the signing machine.");
    Ok(())
}

fn tls_sign(a: cli::TlsSignArgs, now: Timestamp) -> Outcome {
    let not_before = time_arg(&a.not_before, now)?;
    let (csca, csca_key) = load_csca(&a.csca_cert, &a.csca_key, &a.passphrase)?;
    let csr = VerifiedCsr::verify(&storage::read_csr(&a.csr)?)?;
    let profile = TrustListSignerProfile {
        subject: dn(&a.subject),
        validity: Validity::starting(not_before, a.days * DAY),
        extended_key_usage: Vec::new(),
    };
    let der = cert::issue_trust_list_signer(&csca, &csca_key, &csr, &profile)?;
    storage::write_certificate(&a.out, &der)?;
    let info = CertificateInfo::parse(&der)?;
    println!("trust-list signer issued: {}", a.out.display());
    print_cert(&info);
    Ok(())
}

fn print_cert(info: &CertificateInfo) {
    let kid_hex: String = info
        .kid
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("  subject:   {}", info.subject_text());
    println!("  kid:       {} (hex {kid_hex})", info.kid);
    println!(
        "  algorithm: {} ({})",
        info.algorithm(),
        info.public_key.algorithm()
    );
    match &info.types {
        Some(t) => println!(
            "  types:     {}",
            t.iter().map(|t| t.letter()).collect::<Vec<_>>().join(",")
        ),
        None => println!("  types:     (no HCERT extended key usage)"),
    }
    println!(
        "  valid:     {} .. {}",
        info.validity.not_before, info.validity.not_after
    );
}

/// A path as stored in the manifest: relative to `dir` when inside it.
fn relative(dir: &Path, path: &Path) -> PathBuf {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (d, p) = (abs(dir), abs(path));
    p.strip_prefix(&d).map(Path::to_path_buf).unwrap_or(p)
}

fn dsc_install(a: cli::InstallArgs, now: Timestamp) -> Outcome {
    let manifest_path = a.dir.join(MANIFEST_FILE);
    let (der, _) = storage::read_certificate(&a.cert)?;
    let info = CertificateInfo::parse(&der)?;
    let mut manifest = if manifest_path.exists() {
        Manifest::load(&manifest_path)?
    } else {
        let csca_src = a.csca_cert.as_ref().ok_or_else(|| {
            usage(format!(
                "{} does not exist; give --csca-cert to create it",
                manifest_path.display()
            ))
        })?;
        create_dir(&a.dir)?;
        let (csca_der, _) = storage::read_certificate(csca_src)?;
        let csca_info = CertificateInfo::parse(&csca_der)?;
        storage::write_certificate(&a.dir.join("csca.pem"), &csca_der)?;
        let country = vaxpass_keys::profile::name_country(&csca_info.cert.tbs_certificate.subject)
            .unwrap_or_default();
        Manifest::new(&country, PathBuf::from("csca.pem"), false)
    };
    // The DSC must be signed by this directory's CSCA.
    let (csca_der, _) = storage::read_certificate(&a.dir.join(&manifest.csca.certificate))?;
    let csca = CertificateInfo::parse(&csca_der)?;
    info.verify_signed_by(&csca.public_key)
        .map_err(Failure::from)
        .map_err(|mut f| {
            f.message = format!(
                "{} is not issued by this directory's CSCA: {}",
                a.cert.display(),
                f.message
            );
            f
        })?;
    let cert_name = PathBuf::from(format!(
        "dsc-{}.pem",
        info.kid
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let key = match token_location(&a.token)? {
        Some(loc) => {
            check_token_key(&loc, &a.token, &der)?;
            KeyLocation::Pkcs11(loc)
        }
        None => {
            let key_path = a.key.clone().ok_or_else(|| {
                usage("give --key FILE (or --pkcs11-module ... for a token key)".into())
            })?;
            // Check that key and certificate match (needs the passphrase for an encrypted key).
            let key = storage::read_private_key(&key_path, passphrase(&a.passphrase)?.as_ref())?;
            vaxpass_keys::SoftwareSigner::new(&key, der.clone())?;
            KeyLocation::File {
                path: relative(&a.dir, &key_path),
            }
        }
    };
    storage::write_certificate(&a.dir.join(&cert_name), &der)?;
    let entry = DscEntry::from_certificate(&der, cert_name, key)?;
    let kid = entry.kid.clone();
    manifest.add_dsc(entry)?;
    let mut retired = Vec::new();
    if a.activate {
        retired = manifest.rotate(&kid, time_arg(&a.at, now)?)?;
    }
    manifest.save(&manifest_path)?;
    println!(
        "DSC {kid} installed in {} ({})",
        manifest_path.display(),
        if a.activate {
            "current"
        } else {
            "pending; publish it, then `vaxpass-keys dsc rotate`"
        }
    );
    for r in retired {
        println!("  retired {r}");
    }
    Ok(())
}

#[cfg(feature = "pkcs11")]
fn check_token_key(loc: &Pkcs11Location, t: &TokenArgs, der: &[u8]) -> Outcome {
    let token = vaxpass_keys::pkcs11::Token::open(&loc.module, &loc.token, &pin(t)?)?;
    let id = loc.id_bytes();
    let key = token.find_key(Some(&loc.label), id.as_deref())?;
    key.into_signer(der.to_vec())?;
    Ok(())
}

#[cfg(not(feature = "pkcs11"))]
fn check_token_key(_: &Pkcs11Location, _: &TokenArgs, _: &[u8]) -> Outcome {
    Err(usage("this build has no PKCS#11 support".into()))
}

fn dsc_list(a: cli::ListArgs, now: Timestamp) -> Outcome {
    let at = time_arg(&a.at, now)?;
    let manifest = Manifest::load(&a.dir.join(MANIFEST_FILE))?;
    if manifest.development {
        println!("*** DEVELOPMENT KEYS - NOT FOR PRODUCTION ***");
    }
    println!(
        "key directory {} (country {}), at {at}",
        a.dir.display(),
        manifest.country
    );
    if manifest.dscs.is_empty() {
        println!("no DSC installed");
    }
    for d in &manifest.dscs {
        let state = match d.state {
            DscState::Pending => "pending",
            DscState::Current => "current",
            DscState::Retired => "retired",
        };
        let key = match &d.key {
            KeyLocation::File { path } => format!("file {}", path.display()),
            KeyLocation::Pkcs11(l) => format!("pkcs11 token {:?} label {:?}", l.token, l.label),
        };
        let types: Vec<&str> = d.types.iter().map(|t| t.letter()).collect();
        println!(
            "{} {state:8} {} types {} valid {} .. {} key {key}{}{}",
            d.kid,
            d.algorithm,
            types.join(","),
            d.not_before,
            d.not_after,
            if !d.valid_at(at) {
                " [NOT VALID NOW]"
            } else {
                ""
            },
            if d.publishable_at(at) {
                " [published]"
            } else {
                ""
            },
        );
        if let (Some(r), Some(u)) = (d.retired_at, d.publish_until) {
            println!("    retired {r}, publish until {u}");
        }
    }
    for t in CertType::ALL {
        match manifest.current(t, at) {
            Some(d) => println!("current for {t}: {}", d.kid),
            None => println!("current for {t}: NONE (install and rotate a DSC)"),
        }
    }
    Ok(())
}

fn dsc_rotate(a: cli::RotateArgs, now: Timestamp) -> Outcome {
    let at = time_arg(&a.at, now)?;
    let path = a.dir.join(MANIFEST_FILE);
    let mut manifest = Manifest::load(&path)?;
    let retired = manifest.rotate(&a.kid, at)?;
    manifest.save(&path)?;
    println!("DSC {} is current (at {at})", a.kid);
    for r in retired {
        let until = manifest
            .find(&r)
            .and_then(|d| d.publish_until)
            .map(|t| t.to_string())
            .unwrap_or_default();
        println!("  retired {r}; stays in the trust list until {until}");
    }
    Ok(())
}

fn dev_init(a: cli::DevInitArgs, now: Timestamp) -> Outcome {
    let mut opts = vaxpass_keys::dev::DevOptions::new(time_arg(&a.not_before, now)?);
    opts.country = a.country.clone();
    opts.dsc_algorithm = key_algorithm(
        &a.dsc_algorithm,
        &[
            KeyAlgorithm::EcP256,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
        ],
    )?;
    opts.passphrase = passphrase(&a.passphrase)?;
    let made = vaxpass_keys::dev::dev_init(&a.dir, &opts)?;
    println!("*** DEVELOPMENT KEYS - NOT FOR PRODUCTION ***");
    println!("(the CSCA key sits next to the others and every subject says O=vaxpass DEVELOPMENT)");
    println!("key directory: {}", a.dir.display());
    println!("  manifest:          {}", made.manifest_path.display());
    println!("  CSCA:              {}", made.csca_certificate.display());
    println!(
        "  DSC (current v,t,r): {} kid {}",
        made.dsc_certificate.display(),
        made.dsc_kid
    );
    println!("  trust-list signer: kid {}", made.trust_list_signer_kid);
    Ok(())
}
