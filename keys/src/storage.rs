//! Files: PKCS#8 PEM private keys (optionally PBES2/scrypt encrypted), certificates, atomic
//! writes with explicit modes, and the refusal to load key files other users can read.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use der::zeroize::Zeroizing;
use der::{Decode, Encode};
use pkcs8::LineEnding;
use rand_core::{OsRng, RngCore};
use x509_cert::Certificate;

use crate::key::{KeyError, PrivateKey};

/// PEM label of an unencrypted PKCS#8 key.
const PEM_PRIVATE_KEY: &str = "PRIVATE KEY";
/// PEM label of an encrypted PKCS#8 key.
const PEM_ENCRYPTED_PRIVATE_KEY: &str = "ENCRYPTED PRIVATE KEY";
/// PEM label of a certificate.
const PEM_CERTIFICATE: &str = "CERTIFICATE";
/// PEM label of a PKCS#10 request.
pub(crate) const PEM_CSR: &str = "CERTIFICATE REQUEST";

/// Mode of private key files.
pub const KEY_FILE_MODE: u32 = 0o600;
/// Mode of public files (certificates, CSRs, the manifest).
pub const PUBLIC_FILE_MODE: u32 = 0o644;

/// Why a file could not be read or written. Names the file; never carries its contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O error.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `writing`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A key file whose permissions let other users read or change it.
    #[error("refusing key file {path}: mode {mode:04o} lets other users read it; chmod 600 {path}")]
    KeyFileTooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Writing a key would replace an existing file.
    #[error("refusing to overwrite existing key file {0}; move it away first")]
    KeyFileExists(PathBuf),
    /// The key is encrypted and no passphrase was given.
    #[error("key file {0} is encrypted; give its passphrase")]
    PassphraseRequired(PathBuf),
    /// Decryption failed.
    #[error("cannot decrypt key file {0}: wrong passphrase (or the file is damaged)")]
    WrongPassphrase(PathBuf),
    /// An empty passphrase.
    #[error("empty passphrase refused")]
    EmptyPassphrase,
    /// The passphrase environment variable is not set.
    #[error("environment variable {0} is not set (it should hold the passphrase or PIN)")]
    MissingEnv(String),
    /// The file is not the PEM we expect.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key that cannot be used.
    #[error("{path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The key problem.
        source: KeyError,
    },
    /// Encryption failed.
    #[error("encrypting key for {path} failed: {reason}")]
    Encrypt {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn io<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> StorageError + 'p {
    move |source| StorageError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A passphrase (or PIN): zeroized on drop, `Debug` prints `<redacted>`.
///
/// Only built from an environment variable or a file (never from the command line, where `ps`
/// shows it to every user).
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// Wraps a passphrase.
    ///
    /// # Errors
    /// [`StorageError::EmptyPassphrase`] for an empty string.
    pub fn new(secret: String) -> Result<Self, StorageError> {
        let secret = Zeroizing::new(secret);
        if secret.is_empty() {
            return Err(StorageError::EmptyPassphrase);
        }
        Ok(Passphrase(secret))
    }

    /// Reads the passphrase from an environment variable.
    ///
    /// # Errors
    /// [`StorageError::MissingEnv`] if it is unset or not UTF-8, [`StorageError::EmptyPassphrase`].
    pub fn from_env(var: &str) -> Result<Self, StorageError> {
        let value = std::env::var(var).map_err(|_| StorageError::MissingEnv(var.to_owned()))?;
        Self::new(value)
    }

    /// Reads the passphrase from the first line of a file (a trailing newline is dropped).
    ///
    /// # Errors
    /// [`StorageError::Io`], [`StorageError::EmptyPassphrase`].
    pub fn from_file(path: &Path) -> Result<Self, StorageError> {
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io("reading", path))?);
        let line = text.lines().next().unwrap_or("");
        Self::new(line.to_owned())
    }

    /// The secret, for handing to a KDF or a token login.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// How expensive the scrypt key derivation for encrypted key files is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEncryption {
    log_n: u8,
}

impl Default for KeyEncryption {
    /// scrypt N = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s in a release build).
    fn default() -> Self {
        KeyEncryption { log_n: 15 }
    }
}

impl KeyEncryption {
    /// scrypt with N = 2^`log_n` (r = 8, p = 1); `log_n` is clamped to 10..=20.
    pub fn with_log_n(log_n: u8) -> Self {
        KeyEncryption {
            log_n: log_n.clamp(10, 20),
        }
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, created with
/// `mode`, written, fsynced and renamed over `path`, then the directory is fsynced.
///
/// # Errors
/// [`StorageError::Io`].
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), StorageError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{:08x}",
        std::process::id(),
        OsRng.next_u32()
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io("creating", path))?;
        // The umask may have removed bits from `mode`; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io("setting mode of", &tmp))?;
        file.write_all(contents).map_err(io("writing", &tmp))?;
        file.sync_all().map_err(io("syncing", &tmp))?;
        fs::rename(&tmp, path).map_err(io("renaming into place", path))?;
        if let Ok(d) = fs::File::open(&dir) {
            // Best effort: some file systems refuse fsync on directories.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes a private key as PKCS#8 PEM with mode 0600, encrypted (PBES2, scrypt, AES-256-CBC)
/// when a passphrase is given. Refuses to replace an existing file.
///
/// # Errors
/// [`StorageError::KeyFileExists`], [`StorageError::Io`], [`StorageError::Encrypt`].
pub fn write_private_key(
    path: &Path,
    key: &PrivateKey,
    passphrase: Option<&Passphrase>,
    cost: KeyEncryption,
) -> Result<(), StorageError> {
    if path.exists() {
        return Err(StorageError::KeyFileExists(path.to_path_buf()));
    }
    let der = key.to_pkcs8_der().map_err(|source| StorageError::Key {
        path: path.to_path_buf(),
        source,
    })?;
    let enc_err = |reason: String| StorageError::Encrypt {
        path: path.to_path_buf(),
        reason,
    };
    let pem = match passphrase {
        None => der
            .to_pem(PEM_PRIVATE_KEY, LineEnding::LF)
            .map_err(|e| enc_err(e.to_string()))?,
        Some(pass) => {
            let info = pkcs8::PrivateKeyInfo::try_from(der.as_bytes())
                .map_err(|e| enc_err(e.to_string()))?;
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            OsRng.fill_bytes(&mut salt);
            OsRng.fill_bytes(&mut iv);
            let params = pkcs8::pkcs5::scrypt::Params::new(cost.log_n, 8, 1, 32)
                .map_err(|e| enc_err(e.to_string()))?;
            let pbes2 = pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(params, &salt, &iv)
                .map_err(|e| enc_err(e.to_string()))?;
            let doc = info
                .encrypt_with_params(pbes2, pass.expose_secret().as_bytes())
                .map_err(|e| enc_err(e.to_string()))?;
            doc.to_pem(PEM_ENCRYPTED_PRIVATE_KEY, LineEnding::LF)
                .map_err(|e| enc_err(e.to_string()))?
        }
    };
    write_atomic(path, pem.as_bytes(), KEY_FILE_MODE)
}

/// Refuses a key file whose mode gives the group or other users any access.
///
/// # Errors
/// [`StorageError::KeyFileTooOpen`], [`StorageError::Io`].
pub fn check_key_file_mode(path: &Path) -> Result<(), StorageError> {
    let meta = fs::metadata(path).map_err(io("reading", path))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(StorageError::KeyFileTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Loads a PKCS#8 PEM private key, decrypting it with `passphrase` if it is encrypted.
///
/// # Errors
/// [`StorageError::KeyFileTooOpen`] when group/other may access the file (checked before the
/// file is read), [`StorageError::PassphraseRequired`], [`StorageError::WrongPassphrase`],
/// [`StorageError::Format`], [`StorageError::Key`], [`StorageError::Io`].
pub fn read_private_key(
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<PrivateKey, StorageError> {
    check_key_file_mode(path)?;
    let text = Zeroizing::new(fs::read(path).map_err(io("reading", path))?);
    let (label, der) = der::pem::decode_vec(&text).map_err(|_| StorageError::Format {
        path: path.to_path_buf(),
        reason: "not a PEM private key".into(),
    })?;
    let der = Zeroizing::new(der);
    let plain = match label {
        PEM_PRIVATE_KEY => der,
        PEM_ENCRYPTED_PRIVATE_KEY => {
            let pass =
                passphrase.ok_or_else(|| StorageError::PassphraseRequired(path.to_path_buf()))?;
            let enc = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|_| {
                StorageError::Format {
                    path: path.to_path_buf(),
                    reason: "malformed EncryptedPrivateKeyInfo".into(),
                }
            })?;
            let doc = enc
                .decrypt(pass.expose_secret().as_bytes())
                .map_err(|_| StorageError::WrongPassphrase(path.to_path_buf()))?;
            Zeroizing::new(doc.as_bytes().to_vec())
        }
        other => {
            return Err(StorageError::Format {
                path: path.to_path_buf(),
                reason: format!("PEM label {other:?}, expected {PEM_PRIVATE_KEY:?}"),
            });
        }
    };
    PrivateKey::from_pkcs8_der(&plain).map_err(|source| StorageError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// PEM text of a DER object.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    // Encoding into a String cannot fail for in-memory input; an empty string is returned in
    // the (unreachable) error case rather than panicking.
    der::pem::encode_string(label, LineEnding::LF, der).unwrap_or_default()
}

/// PEM text of a certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    pem(PEM_CERTIFICATE, der)
}

/// Writes a certificate as PEM (mode 0644, atomically).
///
/// # Errors
/// [`StorageError::Io`].
pub fn write_certificate(path: &Path, der: &[u8]) -> Result<(), StorageError> {
    write_atomic(path, certificate_pem(der).as_bytes(), PUBLIC_FILE_MODE)
}

/// Reads a PEM (or DER) file with the given PEM label; returns the DER bytes.
pub(crate) fn read_pem_or_der(path: &Path, label: &str) -> Result<Vec<u8>, StorageError> {
    let bytes = fs::read(path).map_err(io("reading", path))?;
    if bytes.first() == Some(&0x30) {
        return Ok(bytes);
    }
    let (found, der) = der::pem::decode_vec(&bytes).map_err(|e| StorageError::Format {
        path: path.to_path_buf(),
        reason: format!("not PEM ({e})"),
    })?;
    if found != label {
        return Err(StorageError::Format {
            path: path.to_path_buf(),
            reason: format!("PEM label {found:?}, expected {label:?}"),
        });
    }
    Ok(der)
}

/// Reads a certificate (PEM or DER) and parses it; returns the DER and the parsed form.
///
/// # Errors
/// [`StorageError::Io`], [`StorageError::Format`].
pub fn read_certificate(path: &Path) -> Result<(Vec<u8>, Certificate), StorageError> {
    let der = read_pem_or_der(path, PEM_CERTIFICATE)?;
    let cert = Certificate::from_der(&der).map_err(|e| StorageError::Format {
        path: path.to_path_buf(),
        reason: format!("not an X.509 certificate: {e}"),
    })?;
    // DER is canonical: a certificate that does not re-encode to its own bytes is malformed.
    if cert.to_der().ok().as_deref() != Some(der.as_slice()) {
        return Err(StorageError::Format {
            path: path.to_path_buf(),
            reason: "certificate is not in canonical DER".into(),
        });
    }
    Ok((der, cert))
}

/// Writes a PKCS#10 request as PEM (mode 0644, atomically).
///
/// # Errors
/// [`StorageError::Io`].
pub fn write_csr(path: &Path, der: &[u8]) -> Result<(), StorageError> {
    write_atomic(path, pem(PEM_CSR, der).as_bytes(), PUBLIC_FILE_MODE)
}

/// Reads a PKCS#10 request (PEM or DER); returns the DER.
///
/// # Errors
/// [`StorageError::Io`], [`StorageError::Format`].
pub fn read_csr(path: &Path) -> Result<Vec<u8>, StorageError> {
    read_pem_or_der(path, PEM_CSR)
}
