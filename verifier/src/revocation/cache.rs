//! The verifier's offline copy of the revocation list: `revocations.cose` (the signed list as
//! downloaded) and `revocations.etag`, beside the trust list's files in the same cache
//! directory and written the same way (atomically). Loading verifies the list again against
//! the pinned anchor, so a copy edited on disk is refused.

use std::path::{Path, PathBuf};

use super::{CacheState, RevocationPolicy, VerifiedRevocationList, verify};
use crate::Timestamp;
use crate::trustlist::cache::{Cache, CacheError};

/// File name of the cached signed revocation list.
pub const LIST_FILE: &str = "revocations.cose";
/// File name of its entity tag.
pub const ETAG_FILE: &str = "revocations.etag";

/// A cache directory's revocation list.
#[derive(Clone, Debug)]
pub struct RevocationCache {
    files: Cache,
}

impl RevocationCache {
    /// The revocation list cached in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RevocationCache {
            files: Cache::with_file_names(dir, LIST_FILE, ETAG_FILE),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    /// The file store underneath (signed bytes and entity tag).
    pub fn files(&self) -> &Cache {
        &self.files
    }

    /// Loads and verifies the cached list at `now`. An expired list loads (it still revokes
    /// what it names); its store then answers "unknown" for everything else.
    ///
    /// # Errors
    /// [`CacheError::Empty`], [`CacheError::Io`], [`CacheError::InvalidRevocations`].
    pub fn load(
        &self,
        anchor_csca_der: &[u8],
        now: Timestamp,
        policy: &RevocationPolicy,
    ) -> Result<VerifiedRevocationList, CacheError> {
        let bytes = self
            .files
            .read_list()?
            .ok_or_else(|| CacheError::Empty(self.dir().to_path_buf()))?;
        verify(&bytes, anchor_csca_der, now, None, policy).map_err(|error| {
            CacheError::InvalidRevocations {
                path: self.files.list_path(),
                error: Box::new(error),
            }
        })
    }

    /// The rollback state of the cached list, if one is cached and verifies.
    pub fn state(&self, anchor_csca_der: &[u8], now: Timestamp) -> Option<CacheState> {
        let bytes = self.files.read_list().ok().flatten()?;
        verify(
            &bytes,
            anchor_csca_der,
            now,
            None,
            &RevocationPolicy::default(),
        )
        .ok()
        .map(|v| v.cache_state())
    }
}
