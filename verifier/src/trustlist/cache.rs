//! The verifier's offline cache of the last good trust list: a directory holding
//! `trust-list.cose` (the signed list, exactly as downloaded) and `trust-list.etag` (the HTTP
//! entity tag it came with, if any).
//!
//! The cache is never trusted as such: loading it verifies the list again against the pinned
//! anchor (so a cache edited on disk is refused). Writing replaces the file atomically
//! (temporary file in the same directory, `fsync`, `rename`, `fsync` of the directory), so a
//! crash or a failed download never leaves a half-written list behind.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{CacheState, TrustListError, TrustListPolicy, VerifiedTrustList, verify_with_backend};
use crate::Timestamp;
use crate::crypto::Backend;

/// File name of the cached signed list.
pub const LIST_FILE: &str = "trust-list.cose";
/// File name of the cached entity tag.
pub const ETAG_FILE: &str = "trust-list.etag";

/// Why the cache cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// No list in the cache yet.
    #[error("no trust list cached in {0} (run `trust-list sync` first)")]
    Empty(PathBuf),
    /// Reading or writing failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The cached list does not verify.
    #[error("cached trust list {path}: {error}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        error: Box<TrustListError>,
    },
    /// The cached revocation list does not verify.
    #[error("cached revocation list {path}: {error}")]
    InvalidRevocations {
        /// The file.
        path: PathBuf,
        /// Why.
        error: Box<crate::revocation::RevocationError>,
    },
}

/// A cache directory.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
    list_file: &'static str,
    etag_file: &'static str,
}

impl Cache {
    /// The cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_file_names(dir, LIST_FILE, ETAG_FILE)
    }

    /// A cache in `dir` keeping its signed file and entity tag under other names (the
    /// revocation list shares the trust list's cache directory and its atomic writes).
    pub fn with_file_names(
        dir: impl Into<PathBuf>,
        list_file: &'static str,
        etag_file: &'static str,
    ) -> Self {
        Cache {
            dir: dir.into(),
            list_file,
            etag_file,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the cached list.
    pub fn list_path(&self) -> PathBuf {
        self.dir.join(self.list_file)
    }

    /// The cached signed list, if any.
    ///
    /// # Errors
    /// [`CacheError::Io`] for a read error other than "not found".
    pub fn read_list(&self) -> Result<Option<Vec<u8>>, CacheError> {
        read_opt(&self.list_path())
    }

    /// The cached entity tag, if any.
    pub fn read_etag(&self) -> Option<String> {
        read_opt(&self.dir.join(self.etag_file))
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// Loads and verifies the cached list at `now`.
    ///
    /// # Errors
    /// [`CacheError::Empty`], [`CacheError::Io`], [`CacheError::Invalid`] (for instance
    /// expired beyond the grace period: the error says so).
    pub fn load(
        &self,
        anchor_csca_der: &[u8],
        now: Timestamp,
        policy: &TrustListPolicy,
    ) -> Result<VerifiedTrustList, CacheError> {
        let bytes = self
            .read_list()?
            .ok_or_else(|| CacheError::Empty(self.dir.clone()))?;
        verify_with_backend(
            &bytes,
            anchor_csca_der,
            now,
            None,
            policy,
            Backend::default(),
        )
        .map_err(|error| CacheError::Invalid {
            path: self.list_path(),
            error: Box::new(error),
        })
    }

    /// The rollback state of the cached list: its sequence and content hash, read from a list
    /// whose signature and chain verify (expiry is ignored here: an expired cached list still
    /// forbids going back to an older one). `None` when the cache is empty or unusable.
    pub fn state(&self, anchor_csca_der: &[u8], now: Timestamp) -> Option<CacheState> {
        let bytes = self.read_list().ok().flatten()?;
        let policy = TrustListPolicy {
            grace: i64::MAX,
            ..TrustListPolicy::default()
        };
        verify_with_backend(
            &bytes,
            anchor_csca_der,
            now,
            None,
            &policy,
            Backend::default(),
        )
        .ok()
        .map(|v| v.cache_state())
    }

    /// Replaces the cached list (and entity tag) atomically. Callers verify first.
    ///
    /// # Errors
    /// [`CacheError::Io`]; the previous list is then left in place.
    pub fn store(&self, signed_list: &[u8], etag: Option<&str>) -> Result<(), CacheError> {
        fs::create_dir_all(&self.dir).map_err(|source| CacheError::Io {
            action: "creating",
            path: self.dir.clone(),
            source,
        })?;
        write_atomic(&self.list_path(), signed_list)?;
        let etag_path = self.dir.join(self.etag_file);
        match etag {
            Some(tag) => write_atomic(&etag_path, tag.as_bytes())?,
            None => match fs::remove_file(&etag_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CacheError::Io {
                        action: "removing",
                        path: etag_path,
                        source,
                    });
                }
            },
        }
        Ok(())
    }
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, CacheError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CacheError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `contents` to `path` atomically: temporary file beside it, `fsync`, `rename`, then
/// `fsync` of the directory (best effort on platforms that cannot open directories).
///
/// # Errors
/// [`CacheError::Io`]; the temporary file is removed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), CacheError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| CacheError::Io {
            action,
            path,
            source,
        }
    };
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(contents).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io("renaming into", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
