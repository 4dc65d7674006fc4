//! Trusted document signers (DSCs) and the store the verifier looks them up in.
//!
//! A [`TrustedSigner`] is built once from a DSC X.509 certificate: its kid (SHA-256 of the DER,
//! first 8 bytes), country (subject `C`), validity window, key usage (HCERT spec §5.1.1
//! extended-key-usage OIDs), and a [`PreparedKey`] ready to verify.
//! Checking the DSC's own signature against a CSCA is the trust list's job, not this module's.

use crate::crypto::{Backend, KeyError, PreparedKey};
use crate::model::CertificateType;
use crate::{Kid, Timestamp};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Which certificate types a DSC may sign.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyUsage {
    bits: u8,
    restricted: bool,
}

impl KeyUsage {
    /// No extended key usage extension: every type.
    pub const ALL: KeyUsage = KeyUsage {
        bits: 0b111,
        restricted: false,
    };

    /// An extended key usage extension allowing exactly `types`.
    pub fn only(types: &[CertificateType]) -> Self {
        let bits = types.iter().fold(0, |b, t| b | Self::bit(*t));
        KeyUsage {
            bits,
            restricted: true,
        }
    }

    fn bit(t: CertificateType) -> u8 {
        match t {
            CertificateType::Test => 1,
            CertificateType::Vaccination => 2,
            CertificateType::Recovery => 4,
        }
    }

    /// Whether `t` may be signed.
    pub fn allows(self, t: CertificateType) -> bool {
        self.bits & Self::bit(t) != 0
    }

    /// Whether the certificate restricts the types (has an extended key usage extension).
    pub fn is_restricted(self) -> bool {
        self.restricted
    }

    /// The allowed types.
    pub fn types(self) -> Vec<CertificateType> {
        CertificateType::ALL
            .into_iter()
            .filter(|t| self.allows(*t))
            .collect()
    }
}

impl fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyUsage({self})")
    }
}

impl fmt::Display for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.restricted {
            return f.write_str("all types (no extended key usage)");
        }
        let types = self.types();
        if types.is_empty() {
            return f.write_str("no HCERT type");
        }
        for (i, t) in types.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

const OID_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");

/// What is wrong with a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateErrorKind {
    /// Reading the file failed.
    #[error("cannot read: {0}")]
    Io(String),
    /// Not DER X.509 (the message says where).
    #[error("not an X.509 certificate: {0}")]
    Der(String),
    /// PEM armour is broken.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// The file holds no certificate.
    #[error("no certificate found")]
    Empty,
    /// The extended key usage extension does not parse.
    #[error("extended key usage extension: {0}")]
    ExtendedKeyUsage(String),
    /// The public key cannot be used.
    #[error("{0}")]
    Key(#[from] KeyError),
}

/// A certificate that cannot become a trusted signer, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{kind}", source_prefix(.origin), index_prefix(*.index))]
pub struct CertificateError {
    /// The file (or other source name), if known.
    pub origin: Option<String>,
    /// Position of the certificate in its file or list (0-based), if several.
    pub index: Option<usize>,
    /// What is wrong.
    pub kind: CertificateErrorKind,
}

fn source_prefix(s: &Option<String>) -> String {
    s.as_ref().map(|s| format!("{s}: ")).unwrap_or_default()
}

fn index_prefix(i: Option<usize>) -> String {
    i.map(|i| format!("certificate #{}: ", i + 1))
        .unwrap_or_default()
}

impl From<CertificateErrorKind> for CertificateError {
    fn from(kind: CertificateErrorKind) -> Self {
        CertificateError {
            origin: None,
            index: None,
            kind,
        }
    }
}

/// A document signer the verifier trusts.
#[derive(Debug)]
pub struct TrustedSigner {
    kid: Kid,
    country: Option<String>,
    not_before: Timestamp,
    not_after: Timestamp,
    key_usage: KeyUsage,
    key: PreparedKey,
    certificate_der: Vec<u8>,
}

impl TrustedSigner {
    /// Builds a signer from a DER certificate with the default backend.
    ///
    /// # Errors
    /// [`CertificateError`] when the DER is not a certificate, its extended key usage does not
    /// parse, or its key is not usable (see [`PreparedKey::from_spki_der`]).
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        Self::from_der_with(der, Backend::default())
    }

    /// Builds a signer from a DER certificate with a chosen backend.
    ///
    /// # Errors
    /// As [`TrustedSigner::from_der`].
    pub fn from_der_with(der: &[u8], backend: Backend) -> Result<Self, CertificateError> {
        use CertificateErrorKind as K;
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| K::Der(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| K::Der(e.to_string()))?;
        let key = PreparedKey::from_spki_der(&spki, backend).map_err(K::Key)?;
        let mut key_usage = KeyUsage::ALL;
        for ext in tbs.extensions.iter().flatten() {
            if ext.extn_id == OID_EKU {
                let eku =
                    x509_cert::ext::pkix::ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
                        .map_err(|e| K::ExtendedKeyUsage(e.to_string()))?;
                let types: Vec<CertificateType> = eku
                    .0
                    .iter()
                    .filter_map(CertificateType::from_eku_oid)
                    .collect();
                // RFC 5280 requires at least one purpose. An empty extension (`30 00`, as in
                // dgc-testdata common/CO15, expected valid for every type) restricts nothing.
                if !eku.0.is_empty() {
                    key_usage = KeyUsage::only(&types);
                }
            }
        }
        let country = tbs
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid == OID_COUNTRY)
            .and_then(|atv| std::str::from_utf8(atv.value.value()).ok())
            .map(str::to_owned);
        let time = |t: x509_cert::time::Time| {
            Timestamp::from_unix_seconds(
                i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX),
            )
        };
        Ok(TrustedSigner {
            kid: Kid::from_certificate_der(der),
            country,
            not_before: time(tbs.validity.not_before),
            not_after: time(tbs.validity.not_after),
            key_usage,
            key,
            certificate_der: der.to_vec(),
        })
    }

    /// The kid: first 8 bytes of SHA-256 over the certificate DER.
    pub fn kid(&self) -> Kid {
        self.kid
    }
    /// The subject's country (`C`), if present.
    pub fn country(&self) -> Option<&str> {
        self.country.as_deref()
    }
    /// Start of the certificate's validity.
    pub fn not_before(&self) -> Timestamp {
        self.not_before
    }
    /// End of the certificate's validity.
    pub fn not_after(&self) -> Timestamp {
        self.not_after
    }
    /// Which certificate types this signer may sign.
    pub fn key_usage(&self) -> KeyUsage {
        self.key_usage
    }
    /// The algorithm this signer's key verifies (`None` for a key HCERT cannot use, P-384).
    pub fn algorithm(&self) -> Option<crate::Algorithm> {
        self.key.family().algorithm()
    }
    /// The prepared public key.
    pub fn key(&self) -> &PreparedKey {
        &self.key
    }
    /// The certificate as DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }
}

/// Trusted signers by kid. Several signers may share a kid; verification tries each.
#[derive(Debug, Default, Clone)]
pub struct TrustStore {
    by_kid: HashMap<Kid, Vec<Arc<TrustedSigner>>>,
    backend: Option<Backend>,
}

impl TrustStore {
    /// An empty store using the default backend for certificates it loads.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store loading certificates with `backend`.
    pub fn with_backend(backend: Backend) -> Self {
        TrustStore {
            by_kid: HashMap::new(),
            backend: Some(backend),
        }
    }

    fn backend(&self) -> Backend {
        self.backend.unwrap_or_default()
    }

    /// Adds a signer (a second signer with the same kid is kept beside the first).
    pub fn add(&mut self, signer: TrustedSigner) {
        self.by_kid
            .entry(signer.kid)
            .or_default()
            .push(Arc::new(signer));
    }

    /// Moves every signer of `other` into this store (signers sharing a kid are all kept).
    pub fn merge(&mut self, other: TrustStore) {
        for (kid, signers) in other.by_kid {
            self.by_kid.entry(kid).or_default().extend(signers);
        }
    }

    /// Adds a DER certificate.
    ///
    /// # Errors
    /// As [`TrustedSigner::from_der`].
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), CertificateError> {
        let signer = TrustedSigner::from_der_with(der, self.backend())?;
        self.add(signer);
        Ok(())
    }

    /// A store of DER certificates.
    ///
    /// # Errors
    /// The first certificate that fails, with its position.
    pub fn from_der_certificates<'a>(
        certs: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, CertificateError> {
        let mut store = TrustStore::new();
        for (i, der) in certs.into_iter().enumerate() {
            store.add_der(der).map_err(|e| CertificateError {
                index: Some(i),
                ..e
            })?;
        }
        Ok(store)
    }

    /// Adds the certificates of a PEM text (one or many `CERTIFICATE` blocks) or a DER
    /// certificate; returns how many were added. `source` names the input in errors.
    ///
    /// # Errors
    /// [`CertificateError`] naming `source` and the certificate's position.
    pub fn add_pem_or_der(&mut self, data: &[u8], source: &str) -> Result<usize, CertificateError> {
        let with_source = |index: Option<usize>, e: CertificateError| CertificateError {
            origin: Some(source.to_owned()),
            index: index.or(e.index),
            kind: e.kind,
        };
        let ders = certificates_der(data).map_err(|e| with_source(None, e))?;
        // A position only names a block of a PEM text; a DER file is one certificate.
        let pem = data.trim_ascii_start().starts_with(b"-----BEGIN ");
        for (i, der) in ders.iter().enumerate() {
            self.add_der(der)
                .map_err(|e| with_source(pem.then_some(i), e))?;
        }
        Ok(ders.len())
    }

    /// Adds the certificates of a file (PEM with one or many certificates, or DER).
    ///
    /// # Errors
    /// [`CertificateError`] naming the file.
    pub fn load_file(&mut self, path: &Path) -> Result<usize, CertificateError> {
        let data = std::fs::read(path).map_err(|e| CertificateError {
            origin: Some(path.display().to_string()),
            index: None,
            kind: CertificateErrorKind::Io(e.to_string()),
        })?;
        self.add_pem_or_der(&data, &path.display().to_string())
    }

    /// Adds every `.pem`, `.crt`, `.cer` and `.der` file of a folder (not recursive).
    ///
    /// # Errors
    /// The first file that fails.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, CertificateError> {
        let io = |e: std::io::Error| CertificateError {
            origin: Some(dir.display().to_string()),
            index: None,
            kind: CertificateErrorKind::Io(e.to_string()),
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if path.is_file() && matches!(ext.as_deref(), Some("pem" | "crt" | "cer" | "der")) {
                paths.push(path);
            }
        }
        paths.sort();
        let mut count = 0;
        for path in paths {
            count += self.load_file(&path)?;
        }
        Ok(count)
    }

    /// The signers with this kid (empty if none).
    pub fn signers(&self, kid: &Kid) -> &[Arc<TrustedSigner>] {
        self.by_kid.get(kid).map_or(&[], Vec::as_slice)
    }

    /// Every signer, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<TrustedSigner>> {
        self.by_kid.values().flatten()
    }

    /// Number of signers.
    pub fn len(&self) -> usize {
        self.by_kid.values().map(Vec::len).sum()
    }

    /// Whether there are no signers.
    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }
}

/// The DER of every `CERTIFICATE` block of a PEM text (other blocks are skipped), or `data`
/// itself when it is not PEM: how certificate files and pinned anchors are read, whatever the
/// caller (a file, bytes a page fetched).
///
/// # Errors
/// [`CertificateError`] with the position of a damaged block, or
/// [`CertificateErrorKind::Empty`] for a PEM text without a certificate.
pub fn certificates_der(data: &[u8]) -> Result<Vec<Vec<u8>>, CertificateError> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let trimmed = data.trim_ascii_start();
    if !trimmed.starts_with(BEGIN) {
        return Ok(vec![data.to_vec()]);
    }
    let at = |index: usize, kind: CertificateErrorKind| CertificateError {
        origin: None,
        index: Some(index),
        kind,
    };
    let mut ders = Vec::new();
    let mut rest = trimmed;
    while let Some(start) = find(rest, BEGIN) {
        let block = &rest[start..];
        let end = find(block, b"-----END ")
            .and_then(|e| find(&block[e + 9..], b"-----").map(|f| e + 9 + f + 5))
            .ok_or_else(|| at(ders.len(), CertificateErrorKind::Pem("no END line".into())))?;
        let canonical = canonical_pem(&block[..end])
            .map_err(|e| at(ders.len(), CertificateErrorKind::Pem(e)))?;
        let (label, der) = der::pem::decode_vec(&canonical)
            .map_err(|e| at(ders.len(), CertificateErrorKind::Pem(e.to_string())))?;
        if label == "CERTIFICATE" {
            ders.push(der);
        }
        rest = &block[end..];
    }
    if ders.is_empty() {
        return Err(CertificateErrorKind::Empty.into());
    }
    Ok(ders)
}

/// One PEM block (`-----BEGIN L-----` … `-----END L-----`) rewritten in the strict form of
/// RFC 7468 that the decoder reads: the Base64 with all white space removed, wrapped at 64
/// characters, LF line ends. So a block whose Base64 is on one line of any length (as
/// certificates arrive from JSON trust lists, and as OpenSSL reads them), with CRLF line
/// ends, or entirely on one line with spaces between the parts, is read as well.
fn canonical_pem(block: &[u8]) -> Result<Vec<u8>, String> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    const DASHES: &[u8] = b"-----";
    let after_begin = block
        .strip_prefix(BEGIN)
        .ok_or_else(|| "no BEGIN line".to_owned())?;
    let label_len = find(after_begin, DASHES)
        .ok_or_else(|| "the BEGIN line does not end with -----".to_owned())?;
    let label = &after_begin[..label_len];
    let rest = &after_begin[label_len + DASHES.len()..];
    let end_at = find(rest, END).ok_or_else(|| "no END line".to_owned())?;
    let body = &rest[..end_at];
    let end_label = rest[end_at + END.len()..]
        .strip_suffix(DASHES)
        .ok_or_else(|| "the END line does not end with -----".to_owned())?;
    if end_label != label {
        return Err(format!(
            "the END label {:?} differs from the BEGIN label {:?}",
            String::from_utf8_lossy(end_label),
            String::from_utf8_lossy(label)
        ));
    }
    let base64: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(base64.len() + base64.len() / 64 + 2 * label.len() + 40);
    out.extend_from_slice(BEGIN);
    out.extend_from_slice(label);
    out.extend_from_slice(b"-----\n");
    for line in base64.chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(END);
    out.extend_from_slice(label);
    out.extend_from_slice(b"-----\n");
    Ok(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil;

    #[test]
    fn signer_from_generated_certificates() {
        let (der, _) = testutil::p256_cert(None);
        let signer = TrustedSigner::from_der(&der).unwrap();
        assert_eq!(signer.kid(), Kid::from_certificate_der(&der));
        assert_eq!(signer.country(), Some("VN"));
        assert_eq!(signer.key_usage(), KeyUsage::ALL);
        assert_eq!(signer.not_before(), testutil::NOT_BEFORE);
        assert_eq!(signer.not_after(), testutil::NOT_AFTER);
        let (der, _) = testutil::p256_cert(Some(&[
            "1.3.6.1.4.1.1847.2021.1.2",
            "1.3.6.1.4.1.0.1847.2021.1.3",
        ]));
        let ku = TrustedSigner::from_der(&der).unwrap().key_usage();
        assert!(ku.is_restricted());
        assert_eq!(
            ku.types(),
            [CertificateType::Vaccination, CertificateType::Recovery]
        );
        assert_eq!(ku.to_string(), "vaccination, recovery");
        let (der, _) = testutil::p256_cert(Some(&["1.3.6.1.5.5.7.3.2"]));
        let ku = TrustedSigner::from_der(&der).unwrap().key_usage();
        assert_eq!(ku.types(), []);
        assert_eq!(ku.to_string(), "no HCERT type");
        // An empty extension (malformed per RFC 5280) restricts nothing (common/CO15).
        let (der, _) = testutil::p256_cert(Some(&[]));
        assert_eq!(
            TrustedSigner::from_der(&der).unwrap().key_usage(),
            KeyUsage::ALL
        );
    }

    #[test]
    fn one_line_pem_is_read() {
        use base64::Engine as _;
        let (a, _) = testutil::p256_cert(None);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&a);
        let forms = [
            format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"),
            format!("-----BEGIN CERTIFICATE-----\r\n{b64}\r\n-----END CERTIFICATE-----\r\n"),
            format!("-----BEGIN CERTIFICATE----- {b64} -----END CERTIFICATE-----"),
            format!("-----BEGIN CERTIFICATE-----{b64}-----END CERTIFICATE-----"),
        ];
        for pem in forms {
            let mut store = TrustStore::new();
            assert_eq!(
                store.add_pem_or_der(pem.as_bytes(), "x").unwrap(),
                1,
                "{pem}"
            );
        }
        let mismatched = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END X509 CRL-----\n");
        let err = TrustStore::new()
            .add_pem_or_der(mismatched.as_bytes(), "x.pem")
            .unwrap_err();
        assert!(
            err.to_string().contains("differs from the BEGIN label"),
            "{err}"
        );
    }

    #[test]
    fn store_loads_pem_and_der_and_names_bad_files() {
        let (a, _) = testutil::p256_cert(None);
        let (b, _) = testutil::p256_cert(None);
        let dir = tempfile::tempdir().unwrap();
        let pem = |der: &[u8]| {
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap()
        };
        std::fs::write(dir.path().join("two.pem"), pem(&a) + &pem(&b)).unwrap();
        std::fs::write(dir.path().join("one.der"), &a).unwrap();
        std::fs::write(dir.path().join("ignored.txt"), b"x").unwrap();
        let mut store = TrustStore::new();
        assert_eq!(store.load_dir(dir.path()).unwrap(), 3);
        assert_eq!(store.len(), 3);
        let kid = Kid::from_certificate_der(&a);
        assert_eq!(
            store.signers(&kid).len(),
            2,
            "same certificate twice: both kept"
        );
        std::fs::write(dir.path().join("zz.crt"), b"\x30\x03\x02\x01\x01").unwrap();
        let err = store.load_dir(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("zz.crt: not an X.509 certificate"), "{text}");
        let err = TrustStore::from_der_certificates([&a[..], &b"junk"[..]]).unwrap_err();
        assert_eq!(err.index, Some(1));
        assert!(err.to_string().starts_with("certificate #2: "), "{err}");
    }
}
