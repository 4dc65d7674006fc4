//! Building and signing the national trust list from the key directory.
//!
//! - [`national_entries`]: the DSCs the keys manifest says must be published at `now`
//!   ([`Manifest::publishable`]: pending, current, and retired ones until `publish_until`);
//! - [`assemble`]: the list with its metadata (issued at `now`, expires `now + lifetime`,
//!   default 48 h; the signer certificate);
//! - [`SequenceFile`]: the persisted sequence counter (`next = last + 1`, written atomically
//!   before the list is published, so a crash can skip a number but never reuse one);
//! - [`sign`]: COSE_Sign1 by the trust-list signer (any [`Signer`] backend: key file or token).

use std::path::{Path, PathBuf};

use vaxpass_keys::Signer;
use vaxpass_keys::manifest::{DscEntry, Manifest, Secrets, open_signer};
use vaxpass_keys::storage;
use vaxpass_verifier::Timestamp;
use vaxpass_verifier::trustlist::{DEFAULT_LIFETIME, Entry, EntryAnchor, TrustList};

use crate::Error;

/// Options of [`assemble`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Seconds from issue to expiry. Default 48 hours.
    pub lifetime: i64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            lifetime: DEFAULT_LIFETIME,
        }
    }
}

/// The entries for the DSCs the manifest says are publishable at `now`. `dir` is the key
/// directory (paths in the manifest are relative to it).
///
/// # Errors
/// [`Error::Keys`] when a certificate file cannot be read, [`Error::Certificate`] when a DSC
/// cannot be listed.
pub fn national_entries(
    manifest: &Manifest,
    dir: &Path,
    now: Timestamp,
) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    for dsc in manifest.publishable(now) {
        let path = dir.join(&dsc.certificate);
        let (der, _) = storage::read_certificate(&path).map_err(vaxpass_keys::Error::from)?;
        let entry = Entry::from_certificate(&der, Some(&manifest.country), EntryAnchor::National)
            .map_err(|error| Error::Certificate {
            path: path.clone(),
            error,
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// The list: `entries`, issued at `now`, expiring after `opts.lifetime`, carrying the
/// signer's certificate.
pub fn assemble(
    issuer_country: &str,
    entries: Vec<Entry>,
    sequence: u64,
    now: Timestamp,
    opts: &BuildOptions,
    signer: &dyn Signer,
) -> TrustList {
    TrustList {
        issuer_country: issuer_country.to_owned(),
        sequence,
        issued_at: now,
        expires_at: Timestamp::from_unix_seconds(now.unix_seconds().saturating_add(opts.lifetime)),
        entries,
        signer_certificate_der: signer.certificate_der().to_vec(),
    }
}

/// Signs `list` with `signer` (its certificate must be the list's signer certificate).
///
/// # Errors
/// [`Error::Sign`] when the backend fails; [`Error::Gateway`]-free: a list whose signer
/// certificate is not the signer's is refused as [`Error::List`] (kid mismatch).
pub fn sign(list: &TrustList, signer: &dyn Signer) -> Result<Vec<u8>, Error> {
    if list.signer_certificate_der != signer.certificate_der() {
        return Err(Error::List(
            vaxpass_verifier::trustlist::TrustListError::KidMismatch,
        ));
    }
    Ok(list.sign(signer.algorithm(), &signer.kid(), |tbs| signer.sign(tbs))?)
}

/// Opens the trust-list signer named in the manifest (`[trust_list_signer]`): a key file, or a
/// token key when vaxpass-keys is built with `pkcs11`.
///
/// # Errors
/// [`Error::NoSigner`], key and certificate errors.
pub fn open_trust_list_signer(
    manifest: &Manifest,
    dir: &Path,
    secrets: &Secrets,
) -> Result<Box<dyn Signer>, Error> {
    let entry = manifest.trust_list_signer.as_ref().ok_or(Error::NoSigner)?;
    let (der, _) = storage::read_certificate(&dir.join(&entry.certificate))
        .map_err(vaxpass_keys::Error::from)?;
    // Reuse the DSC opener: it checks the kid against the certificate and opens file or token.
    let mut as_dsc =
        DscEntry::from_certificate(&der, entry.certificate.clone(), entry.key.clone())?;
    as_dsc.kid = entry.kid.clone();
    Ok(open_signer(dir, &as_dsc, secrets)?)
}

/// The persisted sequence counter: a text file holding the last sequence used.
#[derive(Clone, Debug)]
pub struct SequenceFile {
    path: PathBuf,
}

/// The sequence file's usual name, in the key directory.
pub const SEQUENCE_FILE: &str = "trust-list.seq";

impl SequenceFile {
    /// The counter at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SequenceFile { path: path.into() }
    }

    /// The counter `trust-list.seq` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self::new(dir.join(SEQUENCE_FILE))
    }

    /// The last sequence used (0 when the file does not exist yet).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Sequence`] for a file that does not hold a number.
    pub fn last(&self) -> Result<u64, Error> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|_| Error::Sequence {
                path: self.path.clone(),
                reason: format!("{:?} is not a sequence number", text.trim()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(source) => Err(Error::Io {
                action: "reading",
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Reserves the next sequence (`last + 1`) and persists it atomically before returning it.
    ///
    /// # Errors
    /// As [`SequenceFile::last`]; [`Error::Sequence`] at `u64::MAX`.
    pub fn next(&self) -> Result<u64, Error> {
        let next = self.last()?.checked_add(1).ok_or_else(|| Error::Sequence {
            path: self.path.clone(),
            reason: "exhausted".into(),
        })?;
        storage::write_atomic(&self.path, format!("{next}\n").as_bytes(), 0o644)
            .map_err(vaxpass_keys::Error::from)?;
        Ok(next)
    }
}

/// Everything in one step: entries from the manifest (plus `extra`, e.g. imported foreign
/// DSCs), the next sequence, assembled and signed. Returns the list and its signed bytes.
///
/// # Errors
/// As [`national_entries`], [`SequenceFile::next`], [`sign`].
pub fn build_and_sign(
    manifest: &Manifest,
    dir: &Path,
    extra: Vec<Entry>,
    sequence: &SequenceFile,
    now: Timestamp,
    opts: &BuildOptions,
    signer: &dyn Signer,
) -> Result<(TrustList, Vec<u8>), Error> {
    let seq = sequence.next()?;
    build_and_sign_numbered(manifest, dir, extra, seq, now, opts, signer)
}

/// [`build_and_sign`] with a sequence the caller took elsewhere (a database every publishing
/// process shares), instead of the sequence file.
///
/// # Errors
/// As [`national_entries`], [`sign`].
pub fn build_and_sign_numbered(
    manifest: &Manifest,
    dir: &Path,
    extra: Vec<Entry>,
    sequence: u64,
    now: Timestamp,
    opts: &BuildOptions,
    signer: &dyn Signer,
) -> Result<(TrustList, Vec<u8>), Error> {
    let mut entries = national_entries(manifest, dir, now)?;
    entries.extend(extra);
    let list = assemble(&manifest.country, entries, sequence, now, opts, signer);
    let signed = sign(&list, signer)?;
    Ok((list, signed))
}

/// A long-running publisher: re-reads the key directory and signs a fresh national list (plus
/// `extra` imported entries) on each [`Publisher::publish`]. Lists expire (48 h by default), so a
/// service that serves one must re-sign well before that: see `http::spawn_refresh`.
pub struct Publisher {
    dir: PathBuf,
    signer: Box<dyn Signer>,
    sequence: SequenceFile,
    opts: BuildOptions,
    extra: Vec<Entry>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("dir", &self.dir)
            .field("signer", &self.signer)
            .field("extra", &self.extra.len())
            .finish()
    }
}

impl Publisher {
    /// Opens the key directory's trust-list signer; the sequence lives in `trust-list.seq` there.
    ///
    /// # Errors
    /// As [`open_trust_list_signer`].
    pub fn open(dir: &Path, secrets: &Secrets, opts: BuildOptions) -> Result<Self, Error> {
        let manifest = Manifest::load(&dir.join(vaxpass_keys::manifest::MANIFEST_FILE))?;
        let signer = open_trust_list_signer(&manifest, dir, secrets)?;
        Ok(Publisher {
            dir: dir.to_path_buf(),
            signer,
            sequence: SequenceFile::in_dir(dir),
            opts,
            extra: Vec::new(),
        })
    }

    /// Also publish these (imported) entries.
    pub fn with_extra(mut self, extra: Vec<Entry>) -> Self {
        self.extra = extra;
        self
    }

    /// Builds and signs the next list at `now` (the manifest is re-read: rotations show up).
    ///
    /// # Errors
    /// As [`build_and_sign`].
    pub fn publish(&self, now: Timestamp) -> Result<(TrustList, Vec<u8>), Error> {
        let manifest = Manifest::load(&self.dir.join(vaxpass_keys::manifest::MANIFEST_FILE))?;
        build_and_sign(
            &manifest,
            &self.dir,
            self.extra.clone(),
            &self.sequence,
            now,
            &self.opts,
            &*self.signer,
        )
    }

    /// [`Publisher::publish`] with the sequence `sequence` (taken from a store every
    /// publishing process shares) instead of the next one of `trust-list.seq`.
    ///
    /// # Errors
    /// As [`build_and_sign_numbered`].
    pub fn publish_numbered(
        &self,
        now: Timestamp,
        sequence: u64,
    ) -> Result<(TrustList, Vec<u8>), Error> {
        let manifest = Manifest::load(&self.dir.join(vaxpass_keys::manifest::MANIFEST_FILE))?;
        build_and_sign_numbered(
            &manifest,
            &self.dir,
            self.extra.clone(),
            sequence,
            now,
            &self.opts,
            &*self.signer,
        )
    }

    /// The last sequence of the key directory's `trust-list.seq` (0 without the file).
    ///
    /// # Errors
    /// As [`SequenceFile::last`].
    pub fn last_file_sequence(&self) -> Result<u64, Error> {
        self.sequence.last()
    }

    /// The list lifetime.
    pub fn lifetime(&self) -> i64 {
        self.opts.lifetime
    }
}
