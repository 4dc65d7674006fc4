//! `dev_init`: a complete development PKI in one step (CSCA, DSC, trust-list signer, manifest).
//!
//! Everything it makes is marked as development keys: `O=vaxpass DEVELOPMENT` in every subject,
//! `development = true` in the manifest, and the CLI prints so. The CSCA key is written next to
//! the others, which a production setup never does.

use std::path::{Path, PathBuf};

use vaxpass_verifier::{Kid, Timestamp};

use crate::Error;
use crate::cert::{self, VerifiedCsr};
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::manifest::{DscEntry, KeyLocation, MANIFEST_FILE, Manifest, SignerEntry};
use crate::profile::{
    CertType, CscaProfile, DistinguishedName, DscProfile, TrustListSignerProfile,
};
use crate::storage::{self, KeyEncryption, Passphrase, StorageError};

/// The organization of every development certificate.
pub const DEV_ORGANIZATION: &str = "vaxpass DEVELOPMENT";

/// Options of [`dev_init`].
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Country code (`VN`).
    pub country: String,
    /// Start of every validity period.
    pub now: Timestamp,
    /// CSCA key.
    pub csca_algorithm: KeyAlgorithm,
    /// DSC key.
    pub dsc_algorithm: KeyAlgorithm,
    /// Encrypt the key files with this passphrase (plain PKCS#8 when `None`).
    pub passphrase: Option<Passphrase>,
    /// scrypt cost for encrypted keys.
    pub encryption: KeyEncryption,
}

impl DevOptions {
    /// VN, P-256 everywhere, unencrypted keys.
    pub fn new(now: Timestamp) -> Self {
        DevOptions {
            country: "VN".to_owned(),
            now,
            csca_algorithm: KeyAlgorithm::EcP256,
            dsc_algorithm: KeyAlgorithm::EcP256,
            passphrase: None,
            encryption: KeyEncryption::default(),
        }
    }
}

/// What [`dev_init`] made.
#[derive(Clone, Debug)]
pub struct DevInit {
    /// The manifest.
    pub manifest_path: PathBuf,
    /// CSCA certificate.
    pub csca_certificate: PathBuf,
    /// DSC kid.
    pub dsc_kid: Kid,
    /// DSC certificate.
    pub dsc_certificate: PathBuf,
    /// Trust-list signer kid.
    pub trust_list_signer_kid: Kid,
}

/// Creates a development PKI in `dir` (created if missing; refused if it already holds a
/// manifest): `csca.key.pem`, `csca.pem`, `dsc-1.key.pem`, `dsc-1.csr.pem`, `dsc-1.pem`
/// (types v, t, r; current), `tls.key.pem`, `tls.pem`, `keys.toml`.
///
/// # Errors
/// Storage, certificate and key errors.
pub fn dev_init(dir: &Path, opts: &DevOptions) -> Result<DevInit, Error> {
    std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
        action: "creating",
        path: dir.to_path_buf(),
        source,
    })?;
    let manifest_path = dir.join(MANIFEST_FILE);
    if manifest_path.exists() {
        return Err(StorageError::Format {
            path: manifest_path,
            reason: "a key directory already exists here; use another directory".into(),
        }
        .into());
    }
    let pass = opts.passphrase.as_ref();
    let dn = |cn: &str| DistinguishedName {
        country: opts.country.clone(),
        organization: DEV_ORGANIZATION.to_owned(),
        organizational_unit: None,
        common_name: cn.to_owned(),
    };

    let csca_key = PrivateKey::generate(opts.csca_algorithm)?;
    storage::write_private_key(&dir.join("csca.key.pem"), &csca_key, pass, opts.encryption)?;
    let csca = cert::issue_csca(
        &csca_key,
        &CscaProfile::new(dn("vaxpass DEVELOPMENT CSCA"), opts.now),
    )?;
    storage::write_certificate(&dir.join("csca.pem"), &csca)?;

    let dsc_key = PrivateKey::generate(opts.dsc_algorithm)?;
    storage::write_private_key(&dir.join("dsc-1.key.pem"), &dsc_key, pass, opts.encryption)?;
    let csr = cert::create_csr(&dsc_key, &dn("vaxpass DEVELOPMENT DSC 1"))?;
    storage::write_csr(&dir.join("dsc-1.csr.pem"), &csr)?;
    let dsc = cert::issue_dsc(
        &csca,
        &csca_key,
        &VerifiedCsr::verify(&csr)?,
        &DscProfile::new(&CertType::ALL, opts.now),
    )?;
    storage::write_certificate(&dir.join("dsc-1.pem"), &dsc)?;

    let tls_key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
    storage::write_private_key(&dir.join("tls.key.pem"), &tls_key, pass, opts.encryption)?;
    let tls_csr = cert::create_csr(&tls_key, &dn("vaxpass DEVELOPMENT Trust List Signer"))?;
    let tls = cert::issue_trust_list_signer(
        &csca,
        &csca_key,
        &VerifiedCsr::verify(&tls_csr)?,
        &TrustListSignerProfile::new(dn("vaxpass DEVELOPMENT Trust List Signer"), opts.now),
    )?;
    storage::write_certificate(&dir.join("tls.pem"), &tls)?;

    let mut manifest = Manifest::new(&opts.country, PathBuf::from("csca.pem"), true);
    let entry = DscEntry::from_certificate(
        &dsc,
        PathBuf::from("dsc-1.pem"),
        KeyLocation::File {
            path: PathBuf::from("dsc-1.key.pem"),
        },
    )?;
    let dsc_kid = Kid::from_certificate_der(&dsc);
    let kid_text = entry.kid.clone();
    manifest.add_dsc(entry)?;
    manifest.rotate(&kid_text, opts.now)?;
    let tls_kid = Kid::from_certificate_der(&tls);
    manifest.trust_list_signer = Some(SignerEntry {
        kid: tls_kid.to_base64(),
        certificate: PathBuf::from("tls.pem"),
        key: KeyLocation::File {
            path: PathBuf::from("tls.key.pem"),
        },
    });
    manifest.save(&manifest_path)?;
    Ok(DevInit {
        manifest_path,
        csca_certificate: dir.join("csca.pem"),
        dsc_kid,
        dsc_certificate: dir.join("dsc-1.pem"),
        trust_list_signer_kid: tls_kid,
    })
}
