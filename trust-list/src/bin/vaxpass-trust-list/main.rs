//! `vaxpass-trust-list`: build, sign, show, export and serve trust lists.

mod cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;
use cli::{Cli, Command, Format, SecretArgs};
use vaxpass_keys::manifest::{MANIFEST_FILE, Manifest, Secrets};
use vaxpass_keys::storage::{self, Passphrase};
use vaxpass_trust_list::gateway::{self, ImportPolicy};
use vaxpass_trust_list::http::{TrustListState, router};
use vaxpass_trust_list::publish::{self, BuildOptions, SequenceFile};
use vaxpass_trust_list::{Error, TrustList, TrustListPolicy};
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::trustlist::{self, EntryAnchor, dangerous_decode_unverified};

/// `println!` that does not panic when stdout is closed (`| head`).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

const EXIT_OK: u8 = 0;
const EXIT_REFUSED: u8 = 1;
const EXIT_ERROR: u8 = 2;

/// An error for the person at the terminal, with what to do about it.
struct Failure {
    code: u8,
    message: String,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: EXIT_ERROR,
            message: e.to_string(),
        }
    }
}

fn refused(message: String) -> Failure {
    Failure {
        code: EXIT_REFUSED,
        message,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build {
            keys,
            gateway,
            csca,
            allow_unanchored,
            at,
            out,
        } => build(
            &keys,
            &gateway,
            &csca,
            allow_unanchored,
            at.as_deref(),
            &out,
        ),
        Command::Sign {
            keys,
            list,
            lifetime_hours,
            at,
            out,
            json,
            secrets,
        } => sign(
            &keys,
            &list,
            lifetime_hours,
            at.as_deref(),
            &out,
            json.as_deref(),
            &secrets,
        ),
        Command::Show {
            file,
            anchor,
            at,
            format,
        } => show(&file, anchor.as_deref(), at.as_deref(), format),
        Command::Export {
            keys,
            list,
            out,
            secrets,
        } => export(&keys, &list, &out, &secrets),
        Command::Serve {
            list,
            keys,
            resign_hours,
            lifetime_hours,
            secrets,
            anchor,
            listen,
            max_age,
        } => match (list, keys) {
            (Some(list), _) => serve(&list, anchor.as_deref(), listen, max_age),
            (None, Some(keys)) => serve_keys(
                &keys,
                resign_hours,
                lifetime_hours,
                &secrets,
                listen,
                max_age,
            ),
            (None, None) => Err(Failure::from("give --list FILE or --keys DIR")),
        },
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn clock(at: Option<&str>) -> Result<Timestamp, Failure> {
    match at {
        None => Ok(Timestamp::now()),
        Some(t) => Timestamp::parse(t).map_err(|e| Failure::from(format!("--at: {e}"))),
    }
}

fn load_manifest(keys: &Path) -> Result<Manifest, Failure> {
    Manifest::load(&keys.join(MANIFEST_FILE)).map_err(|e| {
        Failure::from(format!(
            "{e}\n  (pass the key directory made by `vaxpass-keys dev-init` or `csca init`)"
        ))
    })
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::from(format!("reading {}: {e}", path.display())))
}

fn write(path: &Path, data: &[u8]) -> Result<(), Failure> {
    storage::write_atomic(path, data, 0o644).map_err(Failure::from)
}

fn read_cert(path: &Path) -> Result<Vec<u8>, Failure> {
    Ok(storage::read_certificate(path)?.0)
}

fn secrets(a: &SecretArgs) -> Result<Secrets, Failure> {
    let passphrase = match (&a.passphrase_env, &a.passphrase_file) {
        (Some(var), _) => Some(Passphrase::from_env(var)?),
        (None, Some(file)) => Some(Passphrase::from_file(file)?),
        (None, None) => None,
    };
    let pin = a.pin_env.as_deref().map(Passphrase::from_env).transpose()?;
    Ok(Secrets { passphrase, pin })
}

fn build(
    keys: &Path,
    gateways: &[PathBuf],
    cscas: &[String],
    allow_unanchored: bool,
    at: Option<&str>,
    out: &Path,
) -> Result<(), Failure> {
    let now = clock(at)?;
    let manifest = load_manifest(keys)?;
    let mut entries = publish::national_entries(&manifest, keys, now)?;
    let national = entries.len();
    let mut policy = ImportPolicy::new();
    if allow_unanchored {
        policy = policy.dangerous_unanchored();
        eprintln!(
            "WARNING: --allow-unanchored: DSCs of countries without a configured CSCA are imported UNCHECKED and flagged DANGEROUS-unanchored"
        );
    }
    for spec in cscas {
        let (cc, file) = spec.split_once('=').ok_or_else(|| {
            Failure::from(format!("--csca {spec:?}: use CC=FILE, e.g. DE=de-csca.pem"))
        })?;
        policy.add_csca(cc, read_cert(Path::new(file))?);
    }
    for g in gateways {
        let parsed = gateway::parse(&read(g)?).map_err(|e| format!("{}: {e}", g.display()))?;
        let report = gateway::import(&parsed, &policy);
        for r in &report.rejected {
            eprintln!("rejected: {}: {r}", g.display());
        }
        eprintln!(
            "{}: {} imported ({} DANGEROUS-unanchored), {} rejected",
            g.display(),
            report.accepted.len(),
            report.unanchored(),
            report.rejected.len()
        );
        entries.extend(report.accepted);
    }
    let signer_cert = match &manifest.trust_list_signer {
        Some(s) => read_cert(&keys.join(&s.certificate))?,
        None => return Err(Error::NoSigner.into()),
    };
    let total = entries.len();
    let list = TrustList {
        issuer_country: manifest.country.clone(),
        sequence: 0,
        issued_at: now,
        expires_at: now,
        entries,
        signer_certificate_der: signer_cert,
    };
    write(out, &list.to_cbor())?;
    out!(
        "built {}: {total} entries ({national} national); UNSIGNED — review with `show`, then `sign`",
        out.display()
    );
    Ok(())
}

fn sign(
    keys: &Path,
    list_path: &Path,
    lifetime_hours: i64,
    at: Option<&str>,
    out: &Path,
    json: Option<&Path>,
    secret_args: &SecretArgs,
) -> Result<(), Failure> {
    let now = clock(at)?;
    let manifest = load_manifest(keys)?;
    let built = TrustList::from_cbor(&read(list_path)?).map_err(|e| {
        format!(
            "{}: {e} (expected the output of `build`)",
            list_path.display()
        )
    })?;
    let signer = publish::open_trust_list_signer(&manifest, keys, &secrets(secret_args)?)?;
    let sequence = SequenceFile::in_dir(keys).next()?;
    let opts = BuildOptions {
        lifetime: lifetime_hours.saturating_mul(3600),
    };
    let list = publish::assemble(
        &built.issuer_country,
        built.entries,
        sequence,
        now,
        &opts,
        &*signer,
    );
    let signed = publish::sign(&list, &*signer)?;
    write(out, &signed)?;
    if let Some(json) = json {
        let text = serde_json::to_vec_pretty(&list.to_json())?;
        write(json, &text)?;
    }
    out!(
        "signed {}: sequence {sequence}, {} entries, expires {}",
        out.display(),
        list.entries.len(),
        list.expires_at
    );
    Ok(())
}

fn show(
    file: &Path,
    anchor: Option<&Path>,
    at: Option<&str>,
    format: Format,
) -> Result<(), Failure> {
    let now = clock(at)?;
    let bytes = read(file)?;
    let signed = bytes.first() == Some(&0xd2);
    let (list, status) = match (signed, anchor) {
        (true, Some(anchor)) => {
            let anchor = read_cert(anchor)?;
            let v = trustlist::verify(&bytes, &anchor, now, None, &TrustListPolicy::default())
                .map_err(|e| refused(format!("{} refused [{}]: {e}", file.display(), e.code())))?;
            let status = format!("VERIFIED against the pinned CSCA; {}", v.freshness());
            (v.into_list(), status)
        }
        (true, None) => (
            dangerous_decode_unverified(&bytes)?,
            "NOT VERIFIED (pass --anchor CSCA.pem to verify)".to_owned(),
        ),
        (false, _) => (
            TrustList::from_cbor(&bytes)?,
            "UNSIGNED (built, not yet signed)".to_owned(),
        ),
    };
    match format {
        Format::Json => out!("{}", serde_json::to_string_pretty(&list.to_json())?),
        Format::Human => {
            out!("{}: {status}", file.display());
            out!(
                "issuer {} sequence {} issued {} expires {} signer kid {}",
                list.issuer_country,
                list.sequence,
                list.issued_at,
                list.expires_at,
                vaxpass_verifier::Kid::from_certificate_der(&list.signer_certificate_der)
            );
            for e in &list.entries {
                let flag = if e.anchor == EntryAnchor::DangerousUnanchored {
                    "  <-- DANGEROUS: imported without a CSCA check"
                } else {
                    ""
                };
                out!(
                    "  {} {} {} .. {} types: {} anchor: {}{flag}",
                    e.kid,
                    e.country,
                    e.not_before,
                    e.not_after,
                    e.key_usage,
                    e.anchor.name()
                );
            }
            out!(
                "{} entries, {} unanchored",
                list.entries.len(),
                list.unanchored_count()
            );
        }
    }
    Ok(())
}

fn export(
    keys: &Path,
    list_path: &Path,
    out: &Path,
    secret_args: &SecretArgs,
) -> Result<(), Failure> {
    let manifest = load_manifest(keys)?;
    let list = dangerous_decode_unverified(&read(list_path)?)?;
    let signer = publish::open_trust_list_signer(&manifest, keys, &secrets(secret_args)?)?;
    let entries = gateway::export(&list, &*signer)?;
    write(out, &serde_json::to_vec_pretty(&entries)?)?;
    out!(
        "exported {} national DSCs to {}",
        entries.len(),
        out.display()
    );
    Ok(())
}

fn load_for_serving(
    list: &Path,
    anchor: Option<&[u8]>,
    max_age: u32,
) -> Result<TrustListState, Failure> {
    let bytes = read(list)?;
    Ok(match anchor {
        Some(a) => TrustListState::verified(bytes, a, Timestamp::now(), max_age)?,
        None => TrustListState::new(bytes, max_age)?,
    })
}

fn serve(
    list: &Path,
    anchor: Option<&Path>,
    listen: std::net::SocketAddr,
    max_age: u32,
) -> Result<(), Failure> {
    let anchor = anchor.map(read_cert).transpose()?;
    let state = load_for_serving(list, anchor.as_deref(), max_age)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::from(format!("listening on {listen}: {e}")))?;
        eprintln!(
            "serving {} (sequence {}) on http://{listen}/trust-list and /trust-list.json",
            list.display(),
            state.sequence()
        );
        let watcher = tokio::spawn(watch(list.to_path_buf(), anchor, state.clone()));
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown())
            .await?;
        watcher.abort();
        Ok(())
    })
}

fn serve_keys(
    keys: &Path,
    resign_hours: u64,
    lifetime_hours: i64,
    secret_args: &SecretArgs,
    listen: std::net::SocketAddr,
    max_age: u32,
) -> Result<(), Failure> {
    let opts = BuildOptions {
        lifetime: lifetime_hours.saturating_mul(3600),
    };
    if resign_hours == 0
        || i64::try_from(resign_hours.saturating_mul(3600)).unwrap_or(i64::MAX) * 2 > opts.lifetime
    {
        return Err(Failure::from(
            "--resign-hours must be positive and at most half of --lifetime-hours",
        ));
    }
    let publisher = std::sync::Arc::new(publish::Publisher::open(
        keys,
        &secrets(secret_args)?,
        opts,
    )?);
    let (list, signed) = publisher.publish(Timestamp::now())?;
    let state = TrustListState::new(signed, max_age)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::from(format!("listening on {listen}: {e}")))?;
        eprintln!(
            "serving the list of {} (sequence {}, re-signed every {resign_hours} h) on http://{listen}/trust-list and /trust-list.json",
            keys.display(),
            list.sequence
        );
        let refresher = vaxpass_trust_list::http::spawn_refresh(
            state.clone(),
            publisher,
            Duration::from_secs(resign_hours * 3600),
        );
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown())
            .await?;
        refresher.abort();
        Ok(())
    })
}

/// Re-reads the list when its modification time changes; a bad new file is reported and the
/// served list kept.
async fn watch(path: PathBuf, anchor: Option<Vec<u8>>, state: TrustListState) {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = mtime(&path);
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = mtime(&path);
        if now == last {
            continue;
        }
        last = now;
        let result = std::fs::read(&path)
            .map_err(Error::from_io(&path))
            .and_then(|bytes| {
                if let Some(a) = &anchor {
                    trustlist::verify(
                        &bytes,
                        a,
                        Timestamp::now(),
                        None,
                        &TrustListPolicy::default(),
                    )?;
                }
                state.publish(bytes)
            });
        match result {
            Ok(()) => eprintln!("reloaded {}: sequence {}", path.display(), state.sequence()),
            Err(e) => eprintln!(
                "not reloading {}: {e}; still serving sequence {}",
                path.display(),
                state.sequence()
            ),
        }
    }
}

trait FromIo {
    fn from_io(path: &Path) -> impl FnOnce(std::io::Error) -> Error;
}

impl FromIo for Error {
    fn from_io(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io {
            action: "reading",
            path,
            source,
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("shutting down");
}
