//! The crate error: one variant per failure class, each with a stable code.

use crate::base45::Base45Error;
use crate::cose::CoseError;
use crate::crypto::{KeyFamily, SignatureError};
use crate::cwt::CwtError;
use crate::hc1::PrefixError;
use crate::model::CertificateType;
use crate::trust::KeyUsage;
use crate::zlib::ZlibError;
use crate::{Algorithm, Kid, Timestamp};

/// Why the header algorithm is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlgorithmError {
    /// Neither header has `alg`.
    #[error("no algorithm in the COSE headers")]
    Missing,
    /// An algorithm HCERT does not allow.
    #[error("COSE algorithm {0} is not allowed (HCERT allows ES256 = -7 and PS256 = -37)")]
    NotAllowed(i64),
    /// The algorithm does not fit the signer's key.
    #[error("header algorithm {alg} does not match the signer's {key} key")]
    KeyMismatch {
        /// The header algorithm.
        alg: Algorithm,
        /// The key of the signer(s) with this kid.
        key: KeyFamily,
    },
}

/// Why the payload is unusable although it decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// A required claim is missing.
    #[error("the CWT has no {0} claim")]
    MissingClaim(&'static str),
    /// Not exactly one of `v`/`t`/`r`.
    #[error("the payload must hold exactly one of v, t, r")]
    CertificateType,
}

/// Every way decoding or verifying an HC1 string can fail.
///
/// [`Error::code`] gives the stable code (docs/ARCHITECTURE.md, "Failure codes").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `INPUT_TOO_LARGE`: the HC1 text is longer than [`crate::Limits::max_input`].
    #[error("input of {len} bytes exceeds the limit of {max}")]
    InputTooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `PREFIX`.
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    /// `BASE45`.
    #[error(transparent)]
    Base45(#[from] Base45Error),
    /// `COMPRESSION`.
    #[error(transparent)]
    Compression(#[from] ZlibError),
    /// `COSE`.
    #[error(transparent)]
    Cose(#[from] CoseError),
    /// `CBOR` (claims malformed) or `PAYLOAD` (no HCERT payload in the claims).
    #[error(transparent)]
    Cwt(#[from] CwtError),
    /// `PAYLOAD`.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// `KID_MISSING`.
    #[error("no key identifier (kid) in the COSE headers")]
    KidMissing,
    /// `KID_UNKNOWN`.
    #[error("no trusted signer with kid {0}")]
    KidUnknown(Kid),
    /// `ALGORITHM`.
    #[error(transparent)]
    Algorithm(#[from] AlgorithmError),
    /// `SIGNATURE`.
    #[error(transparent)]
    Signature(SignatureError),
    /// `NOT_YET_VALID`: issued after the clock.
    #[error("issued at {iat}, after the validation time {now}")]
    NotYetValid {
        /// Claim `iat`.
        iat: Timestamp,
        /// The clock.
        now: Timestamp,
    },
    /// `EXPIRED`.
    #[error("expired at {exp} (validation time {now})")]
    Expired {
        /// Claim `exp`.
        exp: Timestamp,
        /// The clock.
        now: Timestamp,
    },
    /// `DSC_NOT_YET_VALID`: the DSC was not yet valid at issuance or at the clock.
    #[error("the signer certificate is valid from {not_before}, after {at}")]
    DscNotYetValid {
        /// DSC notBefore.
        not_before: Timestamp,
        /// The time checked (iat or the clock).
        at: Timestamp,
    },
    /// `DSC_EXPIRED`.
    #[error("the signer certificate expired at {not_after} (validation time {at})")]
    DscExpired {
        /// DSC notAfter.
        not_after: Timestamp,
        /// The clock.
        at: Timestamp,
    },
    /// `KEY_USAGE`.
    #[error("the signer may sign {allowed}, not a {required} certificate")]
    KeyUsage {
        /// The payload's type.
        required: CertificateType,
        /// What the DSC allows.
        allowed: KeyUsage,
    },
    /// `SCHEMA`: the payload does not match the schema of its version.
    #[error("schema: {0}")]
    Schema(#[from] crate::schema::SchemaError),
    /// `VALUE_SET`: a coded value is not in its value set.
    #[error("value set: {0}")]
    ValueSet(#[from] crate::valuesets::ValueSetError),
}

impl From<SignatureError> for Error {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::AlgorithmMismatch { alg, key } => {
                Error::Algorithm(AlgorithmError::KeyMismatch { alg, key })
            }
            other => Error::Signature(other),
        }
    }
}

impl Error {
    /// The stable failure code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InputTooLarge { .. } => "INPUT_TOO_LARGE",
            Error::Prefix(_) => "PREFIX",
            Error::Base45(_) => "BASE45",
            Error::Compression(_) => "COMPRESSION",
            Error::Cose(_) => "COSE",
            Error::Cwt(CwtError::MissingHcert(_)) => "PAYLOAD",
            Error::Cwt(_) => "CBOR",
            Error::Payload(_) => "PAYLOAD",
            Error::KidMissing => "KID_MISSING",
            Error::KidUnknown(_) => "KID_UNKNOWN",
            Error::Algorithm(_) => "ALGORITHM",
            Error::Signature(_) => "SIGNATURE",
            Error::NotYetValid { .. } => "NOT_YET_VALID",
            Error::Expired { .. } => "EXPIRED",
            Error::DscNotYetValid { .. } => "DSC_NOT_YET_VALID",
            Error::DscExpired { .. } => "DSC_EXPIRED",
            Error::KeyUsage { .. } => "KEY_USAGE",
            Error::Schema(_) => "SCHEMA",
            Error::ValueSet(_) => "VALUE_SET",
        }
    }

    /// Whether the failure happened before any signature check (the input is not an HCERT
    /// at all, as opposed to an HCERT that is not valid).
    pub fn is_decoding(&self) -> bool {
        matches!(
            self,
            Error::InputTooLarge { .. }
                | Error::Prefix(_)
                | Error::Base45(_)
                | Error::Compression(_)
                | Error::Cose(_)
                | Error::Cwt(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_texts() {
        let t = Timestamp::from_unix_seconds;
        let kid = Kid::from_bytes(b"foo").unwrap();
        let table: Vec<(Error, &str, &str)> = vec![
            (
                Error::InputTooLarge {
                    len: 9000,
                    max: 8192,
                },
                "INPUT_TOO_LARGE",
                "input of 9000 bytes exceeds the limit of 8192",
            ),
            (
                Error::KidMissing,
                "KID_MISSING",
                "no key identifier (kid) in the COSE headers",
            ),
            (
                Error::KidUnknown(kid),
                "KID_UNKNOWN",
                "no trusted signer with kid Zm9v",
            ),
            (
                AlgorithmError::NotAllowed(-35).into(),
                "ALGORITHM",
                "COSE algorithm -35 is not allowed (HCERT allows ES256 = -7 and PS256 = -37)",
            ),
            (
                SignatureError::AlgorithmMismatch {
                    alg: Algorithm::Es256,
                    key: KeyFamily::EcP384,
                }
                .into(),
                "ALGORITHM",
                "header algorithm ES256 does not match the signer's EC P-384 key",
            ),
            (
                SignatureError::Invalid {
                    alg: Algorithm::Ps256,
                }
                .into(),
                "SIGNATURE",
                "PS256 signature does not verify",
            ),
            (
                Error::NotYetValid {
                    iat: t(86_400),
                    now: t(0),
                },
                "NOT_YET_VALID",
                "issued at 1970-01-02T00:00:00Z, after the validation time 1970-01-01T00:00:00Z",
            ),
            (
                Error::Expired {
                    exp: t(0),
                    now: t(1),
                },
                "EXPIRED",
                "expired at 1970-01-01T00:00:00Z (validation time 1970-01-01T00:00:01Z)",
            ),
            (
                Error::DscNotYetValid {
                    not_before: t(1),
                    at: t(0),
                },
                "DSC_NOT_YET_VALID",
                "the signer certificate is valid from 1970-01-01T00:00:01Z, after 1970-01-01T00:00:00Z",
            ),
            (
                Error::DscExpired {
                    not_after: t(0),
                    at: t(1),
                },
                "DSC_EXPIRED",
                "the signer certificate expired at 1970-01-01T00:00:00Z (validation time 1970-01-01T00:00:01Z)",
            ),
            (
                Error::KeyUsage {
                    required: CertificateType::Recovery,
                    allowed: KeyUsage::only(&[CertificateType::Test]),
                },
                "KEY_USAGE",
                "the signer may sign test, not a recovery certificate",
            ),
            (
                CwtError::MissingHcert("no claim -260").into(),
                "PAYLOAD",
                "CWT has no HCERT payload (claim -260, key 1): no claim -260",
            ),
            (CwtError::NotAMap.into(), "CBOR", "CWT claims are not a map"),
            (
                PayloadError::CertificateType.into(),
                "PAYLOAD",
                "the payload must hold exactly one of v, t, r",
            ),
            (
                crate::schema::SchemaError::NotExactlyOneGroup { found: 2 }.into(),
                "SCHEMA",
                "schema: the payload must hold exactly one of v, t, r; it holds 2",
            ),
            (
                crate::valuesets::ValueSetError::UnknownCode {
                    path: "/v/0/mp".into(),
                    value_set: "vaccines-covid-19-names",
                    code: "X".into(),
                }
                .into(),
                "VALUE_SET",
                "value set: /v/0/mp: code \"X\" is not in value set vaccines-covid-19-names",
            ),
        ];
        for (error, code, text) in table {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.to_string(), text, "{error:?}");
        }
    }
}
