//! Certificate profiles: what a CSCA, a DSC and a trust-list signer certificate contain.

use std::fmt;

use der::asn1::{ObjectIdentifier, PrintableStringRef, SetOfVec, Utf8StringRef};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use vaxpass_verifier::Timestamp;

use crate::cert::CertError;

/// HCERT extended key usage: may sign test certificates (`1.3.6.1.4.1.1847.2021.1.1`).
pub const OID_HCERT_TEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.1847.2021.1.1");
/// HCERT extended key usage: may sign vaccination certificates (`1.3.6.1.4.1.1847.2021.1.2`).
pub const OID_HCERT_VACCINATION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.1847.2021.1.2");
/// HCERT extended key usage: may sign recovery certificates (`1.3.6.1.4.1.1847.2021.1.3`).
pub const OID_HCERT_RECOVERY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.1847.2021.1.3");

const OID_C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// Seconds in a (365-day) year.
pub const YEAR: i64 = 365 * DAY;

/// The kinds of HCERT a DSC may sign (HCERT spec §5.1.1, EKU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertType {
    /// Vaccination (`v`).
    Vaccination,
    /// Test (`t`).
    Test,
    /// Recovery (`r`).
    Recovery,
}

impl CertType {
    /// All three, in the order v, t, r.
    pub const ALL: [CertType; 3] = [CertType::Vaccination, CertType::Test, CertType::Recovery];

    /// The extended key usage OID.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            CertType::Test => OID_HCERT_TEST,
            CertType::Vaccination => OID_HCERT_VACCINATION,
            CertType::Recovery => OID_HCERT_RECOVERY,
        }
    }

    /// The type for an EKU OID (also the `1.3.6.1.4.1.0.1847.2021.1.x` variant some countries use).
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        let s = oid.to_string();
        let tail = s
            .strip_prefix("1.3.6.1.4.1.1847.2021.1.")
            .or_else(|| s.strip_prefix("1.3.6.1.4.1.0.1847.2021.1."))?;
        match tail {
            "1" => Some(CertType::Test),
            "2" => Some(CertType::Vaccination),
            "3" => Some(CertType::Recovery),
            _ => None,
        }
    }

    /// The payload key: `v`, `t` or `r`.
    pub const fn letter(self) -> &'static str {
        match self {
            CertType::Test => "t",
            CertType::Vaccination => "v",
            CertType::Recovery => "r",
        }
    }

    /// Parses `v`, `t`, `r` (or `vaccination`, `test`, `recovery`).
    pub fn from_letter(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "t" | "test" => Some(CertType::Test),
            "v" | "vaccination" => Some(CertType::Vaccination),
            "r" | "recovery" => Some(CertType::Recovery),
            _ => None,
        }
    }

    /// Parses a comma-separated list (`v,t,r`), sorted and without duplicates.
    ///
    /// # Errors
    /// [`CertError::Profile`] for an unknown letter or an empty list.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, CertError> {
        let mut out = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let t = CertType::from_letter(part).ok_or_else(|| {
                CertError::Profile(format!("unknown certificate type {part:?} (use v, t, r)"))
            })?;
            out.push(t);
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(CertError::Profile("no certificate type given".into()));
        }
        Ok(out)
    }
}

impl fmt::Display for CertType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// A subject or issuer name: `C=.., O=.., [OU=..,] CN=..`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistinguishedName {
    /// ISO 3166 alpha-2 country code (`VN`).
    pub country: String,
    /// Organization.
    pub organization: String,
    /// Optional organizational unit.
    pub organizational_unit: Option<String>,
    /// Common name.
    pub common_name: String,
}

impl DistinguishedName {
    /// A name with country, organization and common name.
    pub fn new(country: &str, organization: &str, common_name: &str) -> Self {
        DistinguishedName {
            country: country.to_owned(),
            organization: organization.to_owned(),
            organizational_unit: None,
            common_name: common_name.to_owned(),
        }
    }

    /// The X.509 `Name` (C as PrintableString, the others as UTF8String).
    ///
    /// # Errors
    /// [`CertError::Profile`] when the country is not two letters A-Z or a field is empty.
    pub fn to_name(&self) -> Result<Name, CertError> {
        if self.country.len() != 2 || !self.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CertError::Profile(format!(
                "country {:?} is not an ISO 3166 alpha-2 code such as VN",
                self.country
            )));
        }
        let bad = |what: &str| CertError::Profile(format!("invalid {what} in subject"));
        let mut rdns = Vec::new();
        let c = PrintableStringRef::new(&self.country).map_err(|_| bad("country"))?;
        rdns.push(rdn(OID_C, der::asn1::Any::from(c))?);
        let mut utf8 = |oid, value: &str, what: &str| -> Result<(), CertError> {
            if value.is_empty() || value.len() > 64 {
                return Err(bad(what));
            }
            let v = Utf8StringRef::new(value).map_err(|_| bad(what))?;
            rdns.push(rdn(oid, der::asn1::Any::from(v))?);
            Ok(())
        };
        utf8(OID_O, &self.organization, "organization")?;
        if let Some(ou) = &self.organizational_unit {
            utf8(OID_OU, ou, "organizational unit")?;
        }
        utf8(OID_CN, &self.common_name, "common name")?;
        Ok(RdnSequence(rdns))
    }
}

fn rdn(
    oid: ObjectIdentifier,
    value: der::asn1::Any,
) -> Result<RelativeDistinguishedName, CertError> {
    let atv = AttributeTypeAndValue { oid, value };
    SetOfVec::try_from(vec![atv])
        .map(RelativeDistinguishedName)
        .map_err(|e| CertError::Encoding(e.to_string()))
}

/// The country (`C`) of a name, if it has exactly one printable one.
pub fn name_country(name: &Name) -> Option<String> {
    name_attribute(name, OID_C)
}

/// The common name (`CN`) of a name.
pub fn name_common_name(name: &Name) -> Option<String> {
    name_attribute(name, OID_CN)
}

fn name_attribute(name: &Name, oid: ObjectIdentifier) -> Option<String> {
    let mut found = None;
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == oid {
                if found.is_some() {
                    return None;
                }
                let v = &atv.value;
                let text = v
                    .decode_as::<der::asn1::PrintableStringRef<'_>>()
                    .map(|s| s.as_str().to_owned())
                    .or_else(|_| {
                        v.decode_as::<Utf8StringRef<'_>>()
                            .map(|s| s.as_str().to_owned())
                    })
                    .ok()?;
                found = Some(text);
            }
        }
    }
    found
}

/// A validity period. Always passed in: the library never reads the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First instant of validity.
    pub not_before: Timestamp,
    /// Last instant of validity.
    pub not_after: Timestamp,
}

impl Validity {
    /// `seconds` long, starting at `not_before`.
    pub fn starting(not_before: Timestamp, seconds: i64) -> Self {
        Validity {
            not_before,
            not_after: Timestamp::from_unix_seconds(
                not_before.unix_seconds().saturating_add(seconds),
            ),
        }
    }

    /// `days` days from `not_before`.
    pub fn days(not_before: Timestamp, days: i64) -> Self {
        Self::starting(not_before, days.saturating_mul(DAY))
    }

    /// Whether `now` lies within the period (both ends included).
    pub fn contains(&self, now: Timestamp) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// The country signing CA: self-signed, basicConstraints CA pathLen 0 (critical), keyUsage
/// keyCertSign + cRLSign (critical), subjectKeyIdentifier.
#[derive(Clone, Debug)]
pub struct CscaProfile {
    /// Subject (also the issuer).
    pub subject: DistinguishedName,
    /// Validity; [`CscaProfile::DEFAULT_LIFETIME`] is 10 years.
    pub validity: Validity,
}

impl CscaProfile {
    /// Default CSCA lifetime: 10 years.
    pub const DEFAULT_LIFETIME: i64 = 10 * YEAR;

    /// A CSCA profile with the default lifetime from `not_before`.
    pub fn new(subject: DistinguishedName, not_before: Timestamp) -> Self {
        CscaProfile {
            subject,
            validity: Validity::starting(not_before, Self::DEFAULT_LIFETIME),
        }
    }
}

/// A document signer certificate: keyUsage digitalSignature (critical), extended key usage with
/// the HCERT OIDs of `types`, authority and subject key identifiers.
///
/// The CSCA decides the types and the validity; the CSR only contributes the key and the subject
/// (whose country must be the CSCA's).
#[derive(Clone, Debug)]
pub struct DscProfile {
    /// The certificate types this DSC may sign (at least one).
    pub types: Vec<CertType>,
    /// Validity; [`DscProfile::DEFAULT_LIFETIME`] is 2 years.
    pub validity: Validity,
    /// Replace the CSR's subject with this one (`None`: keep the CSR's subject).
    pub subject: Option<DistinguishedName>,
}

impl DscProfile {
    /// Default DSC lifetime: 2 years.
    pub const DEFAULT_LIFETIME: i64 = 2 * YEAR;

    /// A DSC profile for `types` with the default lifetime from `not_before`.
    pub fn new(types: &[CertType], not_before: Timestamp) -> Self {
        DscProfile {
            types: types.to_vec(),
            validity: Validity::starting(not_before, Self::DEFAULT_LIFETIME),
            subject: None,
        }
    }
}

/// The trust-list signer certificate: issued by the CSCA, keyUsage digitalSignature (critical),
/// **no HCERT EKU** (so it can never sign health certificates).
///
/// By default it carries no extended key usage at all: there is no registered OID for "signs a
/// national DCC trust list", and vaxpass owns no IANA private enterprise arc to mint one under
/// (inventing `1.3.6.1.4.1.<n>` would squat somebody else's arc). A trust-list verifier must
/// instead pin this certificate (or its key identifier) and refuse any signer certificate that
/// carries an HCERT EKU. Once the operator holds a private enterprise number, put its OID in
/// [`TrustListSignerProfile::extended_key_usage`].
#[derive(Clone, Debug)]
pub struct TrustListSignerProfile {
    /// Subject.
    pub subject: DistinguishedName,
    /// Validity; default 2 years.
    pub validity: Validity,
    /// Extended key usage OIDs (empty by default; see the type's documentation).
    pub extended_key_usage: Vec<ObjectIdentifier>,
}

impl TrustListSignerProfile {
    /// Default lifetime: 2 years.
    pub const DEFAULT_LIFETIME: i64 = 2 * YEAR;

    /// A profile with the default lifetime and no EKU.
    pub fn new(subject: DistinguishedName, not_before: Timestamp) -> Self {
        TrustListSignerProfile {
            subject,
            validity: Validity::starting(not_before, Self::DEFAULT_LIFETIME),
            extended_key_usage: Vec::new(),
        }
    }
}
