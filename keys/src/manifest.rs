//! The key directory manifest (`keys.toml`): which DSC is current for which types, which are
//! retired and until when they must stay in the trust list.
//!
//! ```toml
//! development = false
//! country = "VN"
//! max_certificate_lifetime_days = 365
//!
//! [csca]
//! certificate = "csca.pem"
//!
//! [trust_list_signer]
//! kid = "..."
//! certificate = "tls.pem"
//! key = { file = { path = "tls.key.pem" } }
//!
//! [[dsc]]
//! kid = "3rq7+u5LDmU="
//! algorithm = "ES256"
//! certificate = "dsc-1.pem"
//! types = ["v", "t", "r"]
//! state = "current"          # pending | current | retired
//! not_before = "2026-01-01T00:00:00Z"
//! not_after = "2028-01-01T00:00:00Z"
//! [dsc.key.pkcs11]
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token = "vaxpass"
//! label = "dsc-1"
//! ```
//!
//! Paths are relative to the manifest's directory. Rotation rules:
//! - a DSC is installed as `pending` and is published at once (verifiers learn it before it
//!   signs anything: trust lists propagate slowly);
//! - [`Manifest::rotate`] makes it `current` and retires the current DSCs whose types it covers;
//! - a retired DSC stays publishable until `publish_until`: retirement + the maximum
//!   certificate lifetime (every certificate it signed has expired by then), or a later recorded
//!   expiry ([`Manifest::record_expiry`]) of a certificate it signed; never beyond the DSC's own
//!   `not_after` (verifiers refuse an expired DSC anyway).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vaxpass_verifier::{Algorithm, Timestamp};

use crate::Error;
use crate::cert::CertificateInfo;
use crate::profile::{CertificateType, DAY};
use crate::signer::Signer;
use crate::storage::{self, Passphrase, StorageError};

/// The manifest's usual file name.
pub const MANIFEST_FILE: &str = "keys.toml";

/// Why the manifest could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// TOML syntax or schema error.
    #[error("{path}: {reason}")]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// The TOML parser's message (with line and column).
        reason: String,
    },
    /// Serialization failed.
    #[error("writing manifest: {0}")]
    Serialize(String),
    /// Two entries with one kid.
    #[error("kid {0} appears twice in the manifest")]
    DuplicateKid(String),
    /// No such DSC.
    #[error("no DSC with kid {0} in the manifest (see `vaxpass-keys dsc list`)")]
    UnknownKid(String),
    /// No current DSC for a type.
    #[error(
        "no current DSC may sign {0} certificates at {1}; install one and run `vaxpass-keys dsc rotate`"
    )]
    NoCurrent(CertificateType, Timestamp),
    /// A DSC that cannot become current.
    #[error("DSC {kid} cannot become current: {reason}")]
    CannotActivate {
        /// The kid.
        kid: String,
        /// Why not.
        reason: String,
    },
    /// The certificate file does not match the entry.
    #[error("DSC {kid}: certificate {path} has kid {found}")]
    KidMismatch {
        /// The entry's kid.
        kid: String,
        /// The certificate file.
        path: PathBuf,
        /// The certificate's kid.
        found: String,
    },
    /// A token key was asked for but the crate was built without PKCS#11.
    #[error("DSC {0} lives on a PKCS#11 token; this build has no `pkcs11` feature")]
    NoPkcs11(String),
    /// The manifest names no trust-list signer.
    #[error("the manifest names no trust-list signer")]
    NoTrustListSigner,
    /// A token key was asked for without a PIN.
    #[error("DSC {0} lives on a PKCS#11 token; give its PIN")]
    PinRequired(String),
}

/// Where a private key lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyLocation {
    /// A PKCS#8 PEM file (encrypted or not).
    File {
        /// Path relative to the manifest.
        path: PathBuf,
    },
    /// A key on a PKCS#11 token.
    Pkcs11(Pkcs11Location),
}

/// A key on a PKCS#11 token: module, token label, key label and optional id (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pkcs11Location {
    /// The module (shared library) path.
    pub module: PathBuf,
    /// The token label.
    pub token: String,
    /// The key label.
    pub label: String,
    /// The key id (`CKA_ID`), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Pkcs11Location {
    /// The id as bytes (`None` if absent or not hex).
    pub fn id_bytes(&self) -> Option<Vec<u8>> {
        let s = self.id.as_deref()?;
        if s.len() % 2 != 0 {
            return None;
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect()
    }
}

/// A DSC's rotation state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DscState {
    /// Installed and published, not yet signing.
    Pending,
    /// Signing.
    Current,
    /// No longer signing; published until `publish_until`.
    Retired,
}

/// The CSCA entry (the CSCA key normally lives offline and is not listed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CscaEntry {
    /// The CSCA certificate.
    pub certificate: PathBuf,
}

/// A signer certificate and where its key is (the trust-list signer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerEntry {
    /// The kid (base64).
    pub kid: String,
    /// The certificate.
    pub certificate: PathBuf,
    /// The key.
    pub key: KeyLocation,
}

/// One DSC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DscEntry {
    /// The kid (base64 of the 8 bytes).
    pub kid: String,
    /// `ES256` or `PS256`.
    #[serde(with = "alg_serde")]
    pub algorithm: Algorithm,
    /// The certificate (PEM), relative to the manifest.
    pub certificate: PathBuf,
    /// Where the key is.
    pub key: KeyLocation,
    /// The HCERT types the DSC may sign.
    #[serde(with = "types_serde")]
    pub types: Vec<CertificateType>,
    /// Rotation state.
    pub state: DscState,
    /// Certificate notBefore.
    #[serde(with = "ts_serde")]
    pub not_before: Timestamp,
    /// Certificate notAfter.
    #[serde(with = "ts_serde")]
    pub not_after: Timestamp,
    /// When it was retired.
    #[serde(
        default,
        with = "ts_opt_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub retired_at: Option<Timestamp>,
    /// The latest expiry of a certificate it signed, if recorded.
    #[serde(
        default,
        with = "ts_opt_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_signed_expiry: Option<Timestamp>,
    /// Keep in the trust list until then (set on retirement).
    #[serde(
        default,
        with = "ts_opt_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub publish_until: Option<Timestamp>,
}

impl DscEntry {
    /// An entry (state `pending`) for an installed certificate and its key.
    ///
    /// # Errors
    /// Certificate parse errors.
    pub fn from_certificate(
        certificate_der: &[u8],
        certificate: PathBuf,
        key: KeyLocation,
    ) -> Result<Self, Error> {
        let info = CertificateInfo::parse(certificate_der)?;
        Ok(DscEntry {
            kid: info.kid.to_base64(),
            algorithm: info.algorithm(),
            certificate,
            key,
            types: info
                .types
                .clone()
                .unwrap_or_else(|| CertificateType::ALL.to_vec()),
            state: DscState::Pending,
            not_before: info.validity.not_before,
            not_after: info.validity.not_after,
            retired_at: None,
            last_signed_expiry: None,
            publish_until: None,
        })
    }

    /// Whether the certificate is valid at `now`.
    pub fn valid_at(&self, now: Timestamp) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether it must be in a trust list published at `now`.
    pub fn publishable_at(&self, now: Timestamp) -> bool {
        if now > self.not_after {
            return false;
        }
        match self.state {
            DscState::Pending | DscState::Current => true,
            DscState::Retired => self.publish_until.is_none_or(|until| now <= until),
        }
    }
}

/// Secrets needed to open keys: a key-file passphrase and a token PIN. `Debug` redacts.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    /// Passphrase of encrypted key files.
    pub passphrase: Option<Passphrase>,
    /// PIN of PKCS#11 tokens.
    pub pin: Option<Passphrase>,
}

/// The key directory manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Development keys (made by `dev-init`): never use in production.
    #[serde(default)]
    pub development: bool,
    /// The country (C) of the CSCA.
    pub country: String,
    /// The longest validity of an HCERT the issuer signs, in days (for `publish_until`).
    #[serde(default = "default_lifetime_days")]
    pub max_certificate_lifetime_days: i64,
    /// The CSCA.
    pub csca: CscaEntry,
    /// The trust-list signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_list_signer: Option<SignerEntry>,
    /// The DSCs.
    #[serde(default, rename = "dsc")]
    pub dscs: Vec<DscEntry>,
}

fn default_lifetime_days() -> i64 {
    365
}

impl Manifest {
    /// An empty manifest.
    pub fn new(country: &str, csca_certificate: PathBuf, development: bool) -> Self {
        Manifest {
            development,
            country: country.to_owned(),
            max_certificate_lifetime_days: default_lifetime_days(),
            csca: CscaEntry {
                certificate: csca_certificate,
            },
            trust_list_signer: None,
            dscs: Vec::new(),
        }
    }

    /// Reads and checks a manifest.
    ///
    /// # Errors
    /// [`StorageError::Io`], [`ManifestError::Parse`], [`ManifestError::DuplicateKid`].
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| StorageError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), ManifestError> {
        let mut kids: Vec<&str> = self.dscs.iter().map(|d| d.kid.as_str()).collect();
        kids.sort_unstable();
        for pair in kids.windows(2) {
            if pair[0] == pair[1] {
                return Err(ManifestError::DuplicateKid(pair[0].to_owned()));
            }
        }
        Ok(())
    }

    /// Writes the manifest atomically (mode 0644).
    ///
    /// # Errors
    /// [`ManifestError::Serialize`], [`StorageError::Io`].
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let body =
            toml::to_string_pretty(self).map_err(|e| ManifestError::Serialize(e.to_string()))?;
        let mut text = String::from("# vaxpass key directory manifest (vaxpass-keys)\n");
        if self.development {
            text.push_str("# DEVELOPMENT KEYS - NOT FOR PRODUCTION\n");
        }
        text.push_str(&body);
        storage::write_atomic(path, text.as_bytes(), storage::PUBLIC_FILE_MODE)?;
        Ok(())
    }

    /// The DSC with this kid.
    pub fn find(&self, kid: &str) -> Option<&DscEntry> {
        self.dscs.iter().find(|d| d.kid == kid)
    }

    /// Adds an installed DSC (state `pending` unless the entry says otherwise).
    ///
    /// # Errors
    /// [`ManifestError::DuplicateKid`].
    pub fn add_dsc(&mut self, entry: DscEntry) -> Result<(), ManifestError> {
        if self.find(&entry.kid).is_some() {
            return Err(ManifestError::DuplicateKid(entry.kid));
        }
        self.dscs.push(entry);
        Ok(())
    }

    /// The current DSC for type `t` at `now`: state `current`, valid at `now`, allowed to sign
    /// `t`; among several, the one with the latest `not_before`.
    pub fn current(&self, t: CertificateType, now: Timestamp) -> Option<&DscEntry> {
        self.dscs
            .iter()
            .filter(|d| d.state == DscState::Current && d.valid_at(now) && d.types.contains(&t))
            .max_by_key(|d| d.not_before)
    }

    /// Makes DSC `kid` current at `now`, and retires every other current DSC whose types it
    /// covers. Returns the kids retired.
    ///
    /// # Errors
    /// [`ManifestError::UnknownKid`], [`ManifestError::CannotActivate`] (retired, or not valid
    /// at `now`).
    pub fn rotate(&mut self, kid: &str, now: Timestamp) -> Result<Vec<String>, ManifestError> {
        let target = self
            .find(kid)
            .ok_or_else(|| ManifestError::UnknownKid(kid.to_owned()))?
            .clone();
        let cannot = |reason: String| ManifestError::CannotActivate {
            kid: kid.to_owned(),
            reason,
        };
        if target.state == DscState::Retired {
            return Err(cannot("it is retired".into()));
        }
        if !target.valid_at(now) {
            return Err(cannot(format!(
                "its certificate is valid {} .. {}, not at {now}",
                target.not_before, target.not_after
            )));
        }
        let mut retired = Vec::new();
        let lifetime = self.max_certificate_lifetime_days.saturating_mul(DAY);
        for d in &mut self.dscs {
            if d.kid == target.kid {
                d.state = DscState::Current;
            } else if d.state == DscState::Current
                && d.types.iter().all(|t| target.types.contains(t))
            {
                retire(d, now, lifetime);
                retired.push(d.kid.clone());
            }
        }
        Ok(retired)
    }

    /// Retires DSC `kid` at `now`.
    ///
    /// # Errors
    /// [`ManifestError::UnknownKid`].
    pub fn retire(&mut self, kid: &str, now: Timestamp) -> Result<(), ManifestError> {
        let lifetime = self.max_certificate_lifetime_days.saturating_mul(DAY);
        let d = self
            .dscs
            .iter_mut()
            .find(|d| d.kid == kid)
            .ok_or_else(|| ManifestError::UnknownKid(kid.to_owned()))?;
        if d.state != DscState::Retired {
            retire(d, now, lifetime);
        }
        Ok(())
    }

    /// Withdraws DSC `kid` at `now`: retired, and published no longer (`publish_until` one
    /// second before `now`, so that a trust list signed from `now` on leaves it out), whatever
    /// the expiry of what it signed — for a key that must not be trusted any more once its
    /// live certificates were re-signed (`vaxpass-issuer batch reissue`).
    ///
    /// # Errors
    /// [`ManifestError::UnknownKid`].
    pub fn withdraw(&mut self, kid: &str, now: Timestamp) -> Result<(), ManifestError> {
        self.retire(kid, now)?;
        if let Some(d) = self.dscs.iter_mut().find(|d| d.kid == kid) {
            d.publish_until = Some(Timestamp::from_unix_seconds(
                now.unix_seconds().saturating_sub(1),
            ));
        }
        Ok(())
    }

    /// Records that DSC `kid` signed a certificate expiring at `exp` (keeps the latest), and
    /// extends `publish_until` of a retired DSC accordingly.
    ///
    /// # Errors
    /// [`ManifestError::UnknownKid`].
    pub fn record_expiry(&mut self, kid: &str, exp: Timestamp) -> Result<(), ManifestError> {
        let d = self
            .dscs
            .iter_mut()
            .find(|d| d.kid == kid)
            .ok_or_else(|| ManifestError::UnknownKid(kid.to_owned()))?;
        let exp = exp.min(d.not_after);
        if d.last_signed_expiry.is_none_or(|e| e < exp) {
            d.last_signed_expiry = Some(exp);
        }
        if let Some(until) = d.publish_until {
            if until < exp {
                d.publish_until = Some(exp);
            }
        }
        Ok(())
    }

    /// The DSCs a trust list published at `now` must contain: pending and current DSCs not yet
    /// expired, and retired ones until their `publish_until`.
    pub fn publishable(&self, now: Timestamp) -> Vec<&DscEntry> {
        self.dscs.iter().filter(|d| d.publishable_at(now)).collect()
    }

    /// Opens a signer for the current DSC of type `t` at `now`. `dir` is the manifest's
    /// directory.
    ///
    /// # Errors
    /// [`ManifestError::NoCurrent`], key and certificate loading errors.
    pub fn current_signer(
        &self,
        dir: &Path,
        t: CertificateType,
        now: Timestamp,
        secrets: &Secrets,
    ) -> Result<Box<dyn Signer>, Error> {
        let entry = self
            .current(t, now)
            .ok_or(ManifestError::NoCurrent(t, now))?;
        open_signer(dir, entry, secrets)
    }
}

impl Manifest {
    /// Opens the trust-list signer (its certificate has no HCERT EKU; see
    /// [`crate::profile::TrustListSignerProfile`]).
    ///
    /// # Errors
    /// [`ManifestError::NoTrustListSigner`], key and certificate loading errors.
    pub fn open_trust_list_signer(
        &self,
        dir: &Path,
        secrets: &Secrets,
    ) -> Result<Box<dyn Signer>, Error> {
        let entry = self
            .trust_list_signer
            .as_ref()
            .ok_or(ManifestError::NoTrustListSigner)?;
        open_key(dir, &entry.kid, &entry.certificate, &entry.key, secrets)
    }
}

fn retire(d: &mut DscEntry, now: Timestamp, lifetime: i64) {
    d.state = DscState::Retired;
    d.retired_at = Some(now);
    let estimate = Timestamp::from_unix_seconds(now.unix_seconds().saturating_add(lifetime));
    // Every certificate signed so far expires by `now + lifetime`; a recorded later expiry
    // (a certificate issued with a longer lifetime) extends that.
    let until = d.last_signed_expiry.map_or(estimate, |e| e.max(estimate));
    d.publish_until = Some(until.min(d.not_after));
}

/// Opens a [`Signer`] for a DSC entry (key file or token key), checking that the certificate
/// file is the one the entry names.
///
/// # Errors
/// Key, certificate, token errors; [`ManifestError::KidMismatch`].
pub fn open_signer(
    dir: &Path,
    entry: &DscEntry,
    secrets: &Secrets,
) -> Result<Box<dyn Signer>, Error> {
    open_key(dir, &entry.kid, &entry.certificate, &entry.key, secrets)
}

fn open_key(
    dir: &Path,
    entry_kid: &str,
    certificate: &Path,
    key: &KeyLocation,
    secrets: &Secrets,
) -> Result<Box<dyn Signer>, Error> {
    let cert_path = dir.join(certificate);
    let (der, _) = storage::read_certificate(&cert_path)?;
    let kid = vaxpass_verifier::Kid::from_certificate_der(&der).to_base64();
    if kid != entry_kid {
        return Err(ManifestError::KidMismatch {
            kid: entry_kid.to_owned(),
            path: cert_path,
            found: kid,
        }
        .into());
    }
    match key {
        KeyLocation::File { path } => {
            let key = storage::read_private_key(&dir.join(path), secrets.passphrase.as_ref())?;
            Ok(Box::new(crate::signer::SoftwareSigner::new(&key, der)?))
        }
        #[cfg(feature = "pkcs11")]
        KeyLocation::Pkcs11(loc) => {
            let pin = secrets
                .pin
                .as_ref()
                .ok_or_else(|| ManifestError::PinRequired(entry_kid.to_owned()))?;
            let token = crate::pkcs11::Token::open(&loc.module, &loc.token, pin)?;
            let id = loc.id_bytes();
            let key = token.find_key(Some(&loc.label), id.as_deref())?;
            Ok(Box::new(key.into_signer(der)?))
        }
        #[cfg(not(feature = "pkcs11"))]
        KeyLocation::Pkcs11(_) => Err(ManifestError::NoPkcs11(entry_kid.to_owned()).into()),
    }
}

mod ts_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use vaxpass_verifier::Timestamp;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

mod ts_opt_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use vaxpass_verifier::Timestamp;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(t),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| Timestamp::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod alg_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use vaxpass_verifier::Algorithm;

    pub fn serialize<S: Serializer>(a: &Algorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(a.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Algorithm, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "ES256" => Ok(Algorithm::Es256),
            "PS256" => Ok(Algorithm::Ps256),
            other => Err(serde::de::Error::custom(format!(
                "unknown algorithm {other:?} (ES256 or PS256)"
            ))),
        }
    }
}

mod types_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::profile::CertificateType;

    pub fn serialize<S: Serializer>(types: &[CertificateType], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(types.iter().map(|t| t.key()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CertificateType>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| {
                CertificateType::from_key(s).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown certificate type {s:?} (v, t, r)"))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs11_ids() {
        let mut loc = Pkcs11Location {
            module: PathBuf::from("/m.so"),
            token: "t".into(),
            label: "l".into(),
            id: Some("0a0B".into()),
        };
        assert_eq!(loc.id_bytes(), Some(vec![0x0a, 0x0b]));
        loc.id = Some("abc".into());
        assert_eq!(loc.id_bytes(), None);
        loc.id = Some("zz".into());
        assert_eq!(loc.id_bytes(), None);
    }

    #[test]
    fn messages() {
        let t = Timestamp::from_unix_seconds(0);
        assert_eq!(
            ManifestError::NoCurrent(CertificateType::Test, t).to_string(),
            "no current DSC may sign test certificates at 1970-01-01T00:00:00Z; install one and run `vaxpass-keys dsc rotate`"
        );
    }
}
