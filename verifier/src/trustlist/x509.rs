//! Certificate chain checks for the trust list: one level, a CSCA (the pinned anchor or a
//! foreign CSCA) over a trust-list signer certificate or a DSC.
//!
//! Accepted X.509 signature algorithms (RFC 5758 §3.2, RFC 8017 §A.2, RFC 4055 §3.1):
//! `ecdsa-with-SHA256` under an EC P-256 key; `sha256WithRSAEncryption` and `RSASSA-PSS` with
//! SHA-256 (salt length from the parameters, default 20) under an RSA key of at least 2048 bits.
//! Anything else is [`ChainError::UnsupportedAlgorithm`], never silently accepted.

use der::{Decode, Encode};
use sha2::Sha256;
use signature::Verifier as _;
use spki::DecodePublicKey as _;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use crate::Timestamp;

const OID_ECDSA_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_RSA_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_RSA_PSS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_BASIC_CONSTRAINTS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_EKU: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.37");

/// Why a certificate does not chain to a CA certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The DER is not an X.509 certificate.
    #[error("{what} is not an X.509 certificate: {reason}")]
    Malformed {
        /// Which certificate.
        what: &'static str,
        /// The parser's message (with its DER position).
        reason: String,
    },
    /// The CA certificate is not a CA (basicConstraints cA, keyUsage keyCertSign).
    #[error("{subject} is not a CA certificate (basicConstraints cA and keyCertSign needed)")]
    NotACa {
        /// Its subject.
        subject: String,
    },
    /// The certificate names another issuer.
    #[error("issued by {issuer}, not by {ca}")]
    IssuerMismatch {
        /// The certificate's issuer.
        issuer: String,
        /// The CA's subject.
        ca: String,
    },
    /// The signature algorithm (or the CA key type) is not one we verify.
    #[error("unsupported certificate signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The CA's public key cannot be used.
    #[error("CA public key: {0}")]
    CaKey(String),
    /// The certificate signature does not verify under the CA key.
    #[error("certificate signature does not verify under the CA key of {ca}")]
    BadSignature {
        /// The CA's subject.
        ca: String,
    },
    /// A certificate is outside its validity period.
    #[error("{what} {subject} is valid {not_before} .. {not_after}, not at {now}")]
    NotValidAt {
        /// Which certificate.
        what: &'static str,
        /// Its subject.
        subject: String,
        /// Start.
        not_before: Timestamp,
        /// End.
        not_after: Timestamp,
        /// The clock.
        now: Timestamp,
    },
}

/// A parsed certificate with the facts the trust list needs.
#[derive(Clone, Debug)]
pub struct ParsedCertificate {
    cert: Certificate,
    tbs_der: Vec<u8>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// keyUsage keyCertSign (`None`: no keyUsage extension).
    pub key_cert_sign: Option<bool>,
    /// keyUsage digitalSignature (`None`: no keyUsage extension).
    pub digital_signature: Option<bool>,
    /// Whether the extended key usage holds an HCERT OID (`1.3.6.1.4.1.1847.2021.1.*` or the
    /// `1.3.6.1.4.1.0.1847.2021.1.*` variant).
    pub has_hcert_eku: bool,
    /// Validity start.
    pub not_before: Timestamp,
    /// Validity end.
    pub not_after: Timestamp,
}

fn time(t: x509_cert::time::Time) -> Timestamp {
    Timestamp::from_unix_seconds(i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX))
}

impl ParsedCertificate {
    /// Parses a DER certificate; `what` names it in errors.
    ///
    /// # Errors
    /// [`ChainError::Malformed`] (also for a malformed basicConstraints, keyUsage or EKU).
    pub fn parse(der: &[u8], what: &'static str) -> Result<Self, ChainError> {
        let malformed = |reason: String| ChainError::Malformed { what, reason };
        let cert = Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let tbs_der = cert
            .tbs_certificate
            .to_der()
            .map_err(|e| malformed(e.to_string()))?;
        let mut parsed = ParsedCertificate {
            tbs_der,
            is_ca: false,
            key_cert_sign: None,
            digital_signature: None,
            has_hcert_eku: false,
            not_before: time(cert.tbs_certificate.validity.not_before),
            not_after: time(cert.tbs_certificate.validity.not_after),
            cert,
        };
        for ext in parsed.cert.tbs_certificate.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            let bad = |e: der::Error| malformed(format!("extension {}: {e}", ext.extn_id));
            if ext.extn_id == OID_BASIC_CONSTRAINTS {
                parsed.is_ca = BasicConstraints::from_der(value).map_err(bad)?.ca;
            } else if ext.extn_id == OID_KEY_USAGE {
                let ku = KeyUsage::from_der(value).map_err(bad)?;
                parsed.key_cert_sign = Some(ku.key_cert_sign());
                parsed.digital_signature = Some(ku.digital_signature());
            } else if ext.extn_id == OID_EKU {
                let eku = ExtendedKeyUsage::from_der(value).map_err(bad)?;
                parsed.has_hcert_eku = eku.0.iter().any(|oid| {
                    let s = oid.to_string();
                    s.starts_with("1.3.6.1.4.1.1847.2021.1.")
                        || s.starts_with("1.3.6.1.4.1.0.1847.2021.1.")
                });
            }
        }
        Ok(parsed)
    }

    /// The subject in RFC 4514 form.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// The issuer in RFC 4514 form.
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate.issuer.to_string()
    }

    /// The SubjectPublicKeyInfo as DER.
    ///
    /// # Errors
    /// [`ChainError::Malformed`] if it does not re-encode.
    pub fn spki_der(&self) -> Result<Vec<u8>, ChainError> {
        self.cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| ChainError::Malformed {
                what: "certificate",
                reason: e.to_string(),
            })
    }

    /// Whether `now` lies within the validity period.
    pub fn valid_at(&self, now: Timestamp) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Checks that the certificate is valid at `now`.
    ///
    /// # Errors
    /// [`ChainError::NotValidAt`].
    pub fn check_valid_at(&self, what: &'static str, now: Timestamp) -> Result<(), ChainError> {
        if self.valid_at(now) {
            return Ok(());
        }
        Err(ChainError::NotValidAt {
            what,
            subject: self.subject(),
            not_before: self.not_before,
            not_after: self.not_after,
            now,
        })
    }

    /// Checks that this is a CA certificate: basicConstraints cA and, when a keyUsage
    /// extension is present, keyCertSign.
    ///
    /// # Errors
    /// [`ChainError::NotACa`].
    pub fn check_is_ca(&self) -> Result<(), ChainError> {
        if self.is_ca && self.key_cert_sign != Some(false) {
            return Ok(());
        }
        Err(ChainError::NotACa {
            subject: self.subject(),
        })
    }

    /// Verifies that `ca` issued this certificate: the issuer name equals the CA's subject and
    /// the signature verifies under the CA's public key. Validity windows are the caller's
    /// business ([`ParsedCertificate::check_valid_at`]).
    ///
    /// # Errors
    /// [`ChainError::IssuerMismatch`], [`ChainError::UnsupportedAlgorithm`],
    /// [`ChainError::CaKey`], [`ChainError::BadSignature`].
    pub fn check_issued_by(&self, ca: &ParsedCertificate) -> Result<(), ChainError> {
        if self.cert.tbs_certificate.issuer != ca.cert.tbs_certificate.subject {
            return Err(ChainError::IssuerMismatch {
                issuer: self.issuer(),
                ca: ca.subject(),
            });
        }
        let sig = self
            .cert
            .signature
            .as_bytes()
            .ok_or_else(|| ChainError::BadSignature { ca: ca.subject() })?;
        let spki = ca.spki_der()?;
        verify_signature(&spki, &self.cert.signature_algorithm, &self.tbs_der, sig).map_err(|e| {
            match e {
                X509SignatureError::UnsupportedAlgorithm(a) => ChainError::UnsupportedAlgorithm(a),
                X509SignatureError::Key(k) => ChainError::CaKey(k),
                X509SignatureError::Invalid => ChainError::BadSignature { ca: ca.subject() },
            }
        })
    }
}

/// Why an X.509 signature (of a certificate or a PKCS#10 request) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509SignatureError {
    /// The signature algorithm, or its pairing with the key, is not supported.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The signer's public key is unusable (malformed, or RSA below 2048 bits).
    #[error("signer public key: {0}")]
    Key(String),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    Invalid,
}

/// Verifies an X.509 signature over `message` (the DER `tbsCertificate` or
/// `CertificationRequestInfo`) under the key `spki_der`: ecdsa-with-SHA256 on P-256,
/// sha256WithRSAEncryption, or RSASSA-PSS with SHA-256 (RSA keys of at least 2048 bits).
/// The one X.509 signature check of the workspace (the keys crate calls it for CSRs and chains).
///
/// # Errors
/// [`X509SignatureError`].
pub fn verify_signature(
    spki_der: &[u8],
    alg: &spki::AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), X509SignatureError> {
    let bad = || X509SignatureError::Invalid;
    if alg.oid == OID_ECDSA_SHA256 {
        let vk = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der).map_err(|_| {
            X509SignatureError::UnsupportedAlgorithm(
                "ecdsa-with-SHA256 under a key that is not P-256".into(),
            )
        })?;
        let sig = p256::ecdsa::DerSignature::from_bytes(signature).map_err(|_| bad())?;
        return vk.verify(message, &sig).map_err(|_| bad());
    }
    if alg.oid == OID_RSA_SHA256 || alg.oid == OID_RSA_PSS {
        let key = rsa::RsaPublicKey::from_public_key_der(spki_der)
            .map_err(|e| X509SignatureError::Key(e.to_string()))?;
        if rsa::traits::PublicKeyParts::size(&key) < 256 {
            return Err(X509SignatureError::Key("RSA key below 2048 bits".into()));
        }
        if alg.oid == OID_RSA_SHA256 {
            let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key);
            let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| bad())?;
            return vk.verify(message, &sig).map_err(|_| bad());
        }
        let salt_len = pss_salt_len(alg)?;
        let vk = rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(key, salt_len);
        let sig = rsa::pss::Signature::try_from(signature).map_err(|_| bad())?;
        return vk.verify(message, &sig).map_err(|_| bad());
    }
    Err(X509SignatureError::UnsupportedAlgorithm(
        alg.oid.to_string(),
    ))
}

/// The salt length of RSASSA-PSS parameters, requiring SHA-256 (RFC 4055 §3.1).
fn pss_salt_len(alg: &spki::AlgorithmIdentifierOwned) -> Result<usize, X509SignatureError> {
    let unsupported =
        |why: &str| X509SignatureError::UnsupportedAlgorithm(format!("RSASSA-PSS {why}"));
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| unsupported("without parameters (SHA-1 default)"))?;
    let der = params.to_der().map_err(|_| unsupported("parameters"))?;
    let params = rsa::pkcs1::RsaPssParams::from_der(&der).map_err(|_| unsupported("parameters"))?;
    if params.hash.oid != OID_SHA256 {
        return Err(unsupported(&format!("with hash {}", params.hash.oid)));
    }
    Ok(usize::from(params.salt_len))
}

/// Checks that `cert_der` was issued by `ca_der` (see [`ParsedCertificate::check_issued_by`])
/// and that the CA is a CA. Validity periods are not checked here.
///
/// # Errors
/// [`ChainError`].
pub fn check_chain(cert_der: &[u8], ca_der: &[u8]) -> Result<(), ChainError> {
    let ca = ParsedCertificate::parse(ca_der, "CA certificate")?;
    ca.check_is_ca()?;
    ParsedCertificate::parse(cert_der, "certificate")?.check_issued_by(&ca)
}
