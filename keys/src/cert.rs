//! Building and checking certificates and PKCS#10 requests (RFC 5280, RFC 2986).
//!
//! The flow that keeps the CSCA offline:
//! 1. where the DSC key lives (file or token): [`create_csr`] signs a request with that key;
//! 2. on the CSCA machine: [`VerifiedCsr::verify`] checks the proof of possession, then
//!    [`issue_dsc`] signs the DSC with the profile the CSCA operator chose;
//! 3. the DSC certificate is installed next to its key (see [`crate::manifest`]).

use der::asn1::{BitString, OctetString, SetOfVec};
use der::{Decode, Encode};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;
use x509_cert::{Certificate, TbsCertificate, Version};

use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
    ID_CE_SUBJECT_KEY_IDENTIFIER,
};
use vaxpass_verifier::{Algorithm, Kid, Timestamp};

use crate::Error;
use crate::key::{CertificateSigningKey, KeyAlgorithm, PublicKey, x509_signature_algorithm};
use crate::profile::{
    CertificateType, CscaProfile, DscProfile, TrustListSignerProfile, Validity, name_country,
};

/// Why a certificate or request could not be built, parsed or accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A profile value is not acceptable.
    #[error("certificate profile: {0}")]
    Profile(String),
    /// DER encoding failed.
    #[error("DER encoding failed: {0}")]
    Encoding(String),
    /// The bytes are not a certificate / request.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// `certificate` or `certificate request`.
        what: &'static str,
        /// The parser's message (with its DER position).
        reason: String,
    },
    /// A signature over a certificate or request does not verify.
    #[error("{what}: signature does not verify")]
    BadSignature {
        /// Which object.
        what: &'static str,
    },
    /// A signature algorithm we do not accept for X.509 objects.
    #[error("{what}: signature algorithm {oid} does not fit a {key} key")]
    SignatureAlgorithm {
        /// Which object.
        what: &'static str,
        /// The algorithm OID.
        oid: String,
        /// The key's algorithm.
        key: KeyAlgorithm,
    },
    /// The CSCA certificate is not one (no CA basic constraints or no keyCertSign).
    #[error("{0} is not a CA certificate (basicConstraints CA and keyUsage keyCertSign needed)")]
    NotACa(String),
    /// Validity out of range.
    #[error("validity: {0}")]
    Validity(String),
}

/// Signs with `key` and returns the BIT STRING, mapping failures into the crate error.
fn sign_bits(key: &dyn CertificateSigningKey, tbs: &[u8]) -> Result<BitString, Error> {
    let sig = key.sign_x509(tbs)?;
    BitString::from_bytes(&sig).map_err(|e| CertError::Encoding(e.to_string()).into())
}

/// A random positive 16-byte serial number (RFC 5280 §4.1.2.2: at most 20 octets, positive).
pub fn random_serial() -> Result<SerialNumber, CertError> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f; // positive
    if bytes[0] == 0 {
        bytes[0] = 0x01; // keep all 16 bytes significant
    }
    SerialNumber::new(&bytes).map_err(|e| CertError::Encoding(e.to_string()))
}

fn x509_time(t: Timestamp) -> Result<Time, CertError> {
    let secs = u64::try_from(t.unix_seconds())
        .map_err(|_| CertError::Validity(format!("{t} is before 1970")))?;
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|e| CertError::Validity(format!("{t}: {e}")))?;
    // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    match der::asn1::UtcTime::from_date_time(dt) {
        Ok(utc) => Ok(Time::UtcTime(utc)),
        Err(_) => Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        )),
    }
}

fn to_timestamp(t: &Time) -> Timestamp {
    let secs = t.to_unix_duration().as_secs();
    Timestamp::from_unix_seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn x509_validity(v: &Validity) -> Result<x509_cert::time::Validity, CertError> {
    if v.not_after <= v.not_before {
        return Err(CertError::Validity(format!(
            "not after ({}) must be later than not before ({})",
            v.not_after, v.not_before
        )));
    }
    Ok(x509_cert::time::Validity {
        not_before: x509_time(v.not_before)?,
        not_after: x509_time(v.not_after)?,
    })
}

/// Key identifier per RFC 7093 §2 method 1: the leftmost 160 bits of SHA-256 over the
/// subjectPublicKey BIT STRING contents.
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    digest[..20].to_vec()
}

fn extension<T: Encode>(
    oid: der::asn1::ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension, CertError> {
    let inner = value
        .to_der()
        .map_err(|e| CertError::Encoding(e.to_string()))?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(inner).map_err(|e| CertError::Encoding(e.to_string()))?,
    })
}

fn ski_extension(spki: &SubjectPublicKeyInfoOwned) -> Result<Extension, CertError> {
    let ski = SubjectKeyIdentifier(
        OctetString::new(key_identifier(spki)).map_err(|e| CertError::Encoding(e.to_string()))?,
    );
    extension(ID_CE_SUBJECT_KEY_IDENTIFIER, false, &ski)
}

fn aki_extension(issuer_key_id: Vec<u8>) -> Result<Extension, CertError> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(
            OctetString::new(issuer_key_id).map_err(|e| CertError::Encoding(e.to_string()))?,
        ),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    extension(ID_CE_AUTHORITY_KEY_IDENTIFIER, false, &aki)
}

fn key_usage_extension(usage: KeyUsage) -> Result<Extension, CertError> {
    extension(ID_CE_KEY_USAGE, true, &usage)
}

fn build_certificate(
    signer: &dyn CertificateSigningKey,
    issuer: Name,
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    validity: &Validity,
    extensions: Vec<Extension>,
) -> Result<Vec<u8>, Error> {
    let signer_alg = signer.public_key()?.algorithm();
    let signature = x509_signature_algorithm(signer_alg);
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: random_serial()?,
        signature: signature.clone(),
        issuer,
        validity: x509_validity(validity)?,
        subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs
        .to_der()
        .map_err(|e| CertError::Encoding(e.to_string()))?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: signature,
        signature: sign_bits(signer, &tbs_der)?,
    };
    Ok(cert
        .to_der()
        .map_err(|e| CertError::Encoding(e.to_string()))?)
}

/// Issues the self-signed CSCA certificate for `key`. Returns its DER.
///
/// # Errors
/// [`CertError`] for a bad profile, [`crate::signer::SignError`] if signing fails.
pub fn issue_csca(
    key: &dyn CertificateSigningKey,
    profile: &CscaProfile,
) -> Result<Vec<u8>, Error> {
    let public = key.public_key()?;
    if public.algorithm() == KeyAlgorithm::Rsa2048 {
        return Err(CertError::Profile("a CSCA RSA key must be 3072 or 4096 bits".into()).into());
    }
    let spki = public.to_spki()?;
    let name = profile.subject.to_name()?;
    let extensions = vec![
        extension(
            ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: Some(0),
            },
        )?,
        key_usage_extension(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))?,
        ski_extension(&spki)?,
    ];
    build_certificate(key, name.clone(), name, spki, &profile.validity, extensions)
}

/// Creates a PKCS#10 certificate request for `key` (signed by it: proof of possession).
/// Returns the DER. The request carries only subject and key; the CSCA chooses the rest.
///
/// # Errors
/// [`CertError`], [`crate::signer::SignError`].
pub fn create_csr(
    key: &dyn CertificateSigningKey,
    subject: &crate::profile::DistinguishedName,
) -> Result<Vec<u8>, Error> {
    let public = key.public_key()?;
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: subject.to_name()?,
        public_key: public.to_spki()?,
        attributes: SetOfVec::new(),
    };
    let info_der = info
        .to_der()
        .map_err(|e| CertError::Encoding(e.to_string()))?;
    let req = CertReq {
        info,
        algorithm: x509_signature_algorithm(public.algorithm()),
        signature: sign_bits(key, &info_der)?,
    };
    Ok(req
        .to_der()
        .map_err(|e| CertError::Encoding(e.to_string()))?)
}

/// Verifies an X.509 signature (certificate or CSR) made by `public`, through the verifier's
/// X.509 signature check (`ecdsa-with-SHA256`, `sha256WithRSAEncryption`, RSASSA-PSS/SHA-256).
///
/// # Errors
/// [`CertError::SignatureAlgorithm`], [`CertError::BadSignature`].
pub fn verify_x509_signature(
    what: &'static str,
    public: &PublicKey,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &BitString,
) -> Result<(), CertError> {
    use vaxpass_verifier::trustlist::x509::{X509SignatureError, verify_signature};
    let bad = CertError::BadSignature { what };
    let sig = signature.as_bytes().ok_or(bad.clone())?;
    let spki = public
        .to_spki()
        .map_err(|e| CertError::Encoding(e.to_string()))?
        .to_der()
        .map_err(|e| CertError::Encoding(e.to_string()))?;
    verify_signature(&spki, algorithm, message, sig).map_err(|e| match e {
        X509SignatureError::Invalid => bad,
        _ => CertError::SignatureAlgorithm {
            what,
            oid: algorithm.oid.to_string(),
            key: public.algorithm(),
        },
    })
}

/// A certificate request whose self-signature has been checked.
#[derive(Clone, Debug)]
pub struct VerifiedCsr {
    req: CertReq,
    public: PublicKey,
}

impl VerifiedCsr {
    /// Parses a DER PKCS#10 request and verifies its signature with the key it contains.
    ///
    /// # Errors
    /// [`CertError::Malformed`], [`crate::key::KeyError::UnsupportedPublicKey`],
    /// [`CertError::BadSignature`].
    pub fn verify(der: &[u8]) -> Result<Self, Error> {
        let malformed = |reason: String| CertError::Malformed {
            what: "certificate request",
            reason,
        };
        let req = CertReq::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let info_der = req.info.to_der().map_err(|e| malformed(e.to_string()))?;
        let public = PublicKey::from_spki(&req.info.public_key)?;
        verify_x509_signature(
            "certificate request",
            &public,
            &req.algorithm,
            &info_der,
            &req.signature,
        )?;
        Ok(VerifiedCsr { req, public })
    }

    /// The requested subject.
    pub fn subject(&self) -> &Name {
        &self.req.info.subject
    }

    /// The key to certify.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

/// Facts read from a CA certificate that issues others.
struct Issuer {
    name: Name,
    key_id: Vec<u8>,
    validity: Validity,
}

fn ca_issuer(ca_der: &[u8], ca_key: &dyn CertificateSigningKey) -> Result<Issuer, Error> {
    let info = CertificateInfo::parse(ca_der)?;
    if !info.is_ca || !info.key_cert_sign {
        return Err(CertError::NotACa(info.subject_text()).into());
    }
    let key_public = ca_key.public_key()?;
    if key_public != info.public_key {
        return Err(crate::key::KeyError::Mismatch {
            what: format!("CSCA certificate {}", info.subject_text()),
        }
        .into());
    }
    let key_id = info
        .subject_key_id
        .clone()
        .unwrap_or_else(|| key_identifier(&info.spki));
    Ok(Issuer {
        name: info.cert.tbs_certificate.subject.clone(),
        key_id,
        validity: info.validity,
    })
}

fn check_within(issuer: &Issuer, v: &Validity) -> Result<(), CertError> {
    if v.not_before < issuer.validity.not_before || v.not_after > issuer.validity.not_after {
        return Err(CertError::Validity(format!(
            "{} .. {} is not within the CSCA's validity {} .. {}",
            v.not_before, v.not_after, issuer.validity.not_before, issuer.validity.not_after
        )));
    }
    Ok(())
}

/// The CSCA signs a verified DSC request. `csca_cert_der` is the CSCA certificate,
/// `csca_key` its key (a file key or a token key). Returns the DSC DER.
///
/// The profile (types, validity) is the CSCA operator's choice; from the request only the key
/// and the subject are taken, and the subject's country must be the CSCA's.
///
/// # Errors
/// [`CertError`] (not a CA, validity outside the CSCA's, country mismatch, no types,
/// key not allowed), [`crate::key::KeyError::Mismatch`] if `csca_key` does not belong to the
/// certificate, signing errors.
pub fn issue_dsc(
    csca_cert_der: &[u8],
    csca_key: &dyn CertificateSigningKey,
    csr: &VerifiedCsr,
    profile: &DscProfile,
) -> Result<Vec<u8>, Error> {
    let issuer = ca_issuer(csca_cert_der, csca_key)?;
    check_within(&issuer, &profile.validity)?;
    if profile.types.is_empty() {
        return Err(CertError::Profile("a DSC needs at least one certificate type".into()).into());
    }
    if csr.public.algorithm() == KeyAlgorithm::Rsa4096 {
        return Err(CertError::Profile(
            "a DSC key must be P-256 (ES256) or RSA 2048/3072 (PS256)".into(),
        )
        .into());
    }
    let subject = match &profile.subject {
        Some(dn) => dn.to_name()?,
        None => csr.subject().clone(),
    };
    let csca_country = name_country(&issuer.name);
    if name_country(&subject) != csca_country {
        return Err(CertError::Profile(format!(
            "the DSC subject's country ({}) must be the CSCA's ({})",
            name_country(&subject).unwrap_or_else(|| "none".into()),
            csca_country.unwrap_or_else(|| "none".into())
        ))
        .into());
    }
    let spki = csr.public.to_spki()?;
    let mut types = profile.types.clone();
    types.sort();
    types.dedup();
    let extensions = vec![
        key_usage_extension(KeyUsage(KeyUsages::DigitalSignature.into()))?,
        extension(
            ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(types.iter().map(|t| t.eku_oid()).collect()),
        )?,
        aki_extension(issuer.key_id)?,
        ski_extension(&spki)?,
    ];
    build_certificate(
        csca_key,
        issuer.name,
        subject,
        spki,
        &profile.validity,
        extensions,
    )
}

/// The CSCA issues the trust-list signer certificate for a verified request.
///
/// # Errors
/// As [`issue_dsc`].
pub fn issue_trust_list_signer(
    csca_cert_der: &[u8],
    csca_key: &dyn CertificateSigningKey,
    csr: &VerifiedCsr,
    profile: &TrustListSignerProfile,
) -> Result<Vec<u8>, Error> {
    let issuer = ca_issuer(csca_cert_der, csca_key)?;
    check_within(&issuer, &profile.validity)?;
    if profile
        .extended_key_usage
        .iter()
        .any(|oid| CertificateType::from_eku_oid(oid).is_some())
    {
        return Err(CertError::Profile(
            "a trust-list signer must not carry an HCERT extended key usage".into(),
        )
        .into());
    }
    let subject = profile.subject.to_name()?;
    let spki = csr.public.to_spki()?;
    let mut extensions = vec![key_usage_extension(KeyUsage(
        KeyUsages::DigitalSignature.into(),
    ))?];
    if !profile.extended_key_usage.is_empty() {
        extensions.push(extension(
            ID_CE_EXT_KEY_USAGE,
            false,
            &ExtendedKeyUsage(profile.extended_key_usage.clone()),
        )?);
    }
    extensions.push(aki_extension(issuer.key_id)?);
    extensions.push(ski_extension(&spki)?);
    build_certificate(
        csca_key,
        issuer.name,
        subject,
        spki,
        &profile.validity,
        extensions,
    )
}

/// What vaxpass reads from a certificate (CSCA, DSC or trust-list signer).
#[derive(Clone, Debug)]
pub struct CertificateInfo {
    /// The parsed certificate.
    pub cert: Certificate,
    /// HCERT key identifier (first 8 bytes of SHA-256 over the DER).
    pub kid: Kid,
    /// The public key.
    pub public_key: PublicKey,
    /// Its SubjectPublicKeyInfo.
    pub spki: SubjectPublicKeyInfoOwned,
    /// Validity period.
    pub validity: Validity,
    /// HCERT types from the EKU; `None` when there is no EKU extension (all types allowed).
    pub types: Option<Vec<CertificateType>>,
    /// basicConstraints CA.
    pub is_ca: bool,
    /// keyUsage keyCertSign.
    pub key_cert_sign: bool,
    /// keyUsage digitalSignature.
    pub digital_signature: bool,
    /// Subject key identifier.
    pub subject_key_id: Option<Vec<u8>>,
    /// Authority key identifier (key id form).
    pub authority_key_id: Option<Vec<u8>>,
}

impl CertificateInfo {
    /// Parses a DER certificate.
    ///
    /// # Errors
    /// [`CertError::Malformed`], [`crate::key::KeyError::UnsupportedPublicKey`].
    pub fn parse(der: &[u8]) -> Result<Self, Error> {
        let malformed = |reason: String| CertError::Malformed {
            what: "certificate",
            reason,
        };
        let cert = Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs.subject_public_key_info.clone();
        let public_key = PublicKey::from_spki(&spki)?;
        let mut info = CertificateInfo {
            kid: Kid::from_certificate_der(der),
            public_key,
            spki,
            validity: Validity {
                not_before: to_timestamp(&tbs.validity.not_before),
                not_after: to_timestamp(&tbs.validity.not_after),
            },
            types: None,
            is_ca: false,
            key_cert_sign: false,
            digital_signature: false,
            subject_key_id: None,
            authority_key_id: None,
            cert: cert.clone(),
        };
        for ext in tbs.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            let bad = |e: der::Error| malformed(format!("extension {}: {e}", ext.extn_id));
            if ext.extn_id == ID_CE_BASIC_CONSTRAINTS {
                info.is_ca = BasicConstraints::from_der(value).map_err(bad)?.ca;
            } else if ext.extn_id == ID_CE_KEY_USAGE {
                let ku = KeyUsage::from_der(value).map_err(bad)?;
                info.key_cert_sign = ku.key_cert_sign();
                info.digital_signature = ku.digital_signature();
            } else if ext.extn_id == ID_CE_EXT_KEY_USAGE {
                let eku = ExtendedKeyUsage::from_der(value).map_err(bad)?;
                let mut types: Vec<CertificateType> = eku
                    .0
                    .iter()
                    .filter_map(CertificateType::from_eku_oid)
                    .collect();
                types.sort();
                types.dedup();
                info.types = Some(types);
            } else if ext.extn_id == ID_CE_SUBJECT_KEY_IDENTIFIER {
                let ski = SubjectKeyIdentifier::from_der(value).map_err(bad)?;
                info.subject_key_id = Some(ski.0.as_bytes().to_vec());
            } else if ext.extn_id == ID_CE_AUTHORITY_KEY_IDENTIFIER {
                let aki = AuthorityKeyIdentifier::from_der(value).map_err(bad)?;
                info.authority_key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
            }
        }
        Ok(info)
    }

    /// The HCERT algorithm the certified key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.public_key.algorithm().hcert_algorithm()
    }

    /// The subject in RFC 4514 form.
    pub fn subject_text(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// Whether this certificate allows signing HCERTs of `t` (no EKU: all types).
    pub fn allows(&self, t: CertificateType) -> bool {
        self.types.as_ref().is_none_or(|ts| ts.contains(&t))
    }

    /// Verifies this certificate's signature with the issuer's public key.
    ///
    /// # Errors
    /// [`CertError::BadSignature`], [`CertError::SignatureAlgorithm`].
    pub fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), Error> {
        let tbs = self
            .cert
            .tbs_certificate
            .to_der()
            .map_err(|e| CertError::Encoding(e.to_string()))?;
        verify_x509_signature(
            "certificate",
            issuer,
            &self.cert.signature_algorithm,
            &tbs,
            &self.cert.signature,
        )?;
        Ok(())
    }
}
