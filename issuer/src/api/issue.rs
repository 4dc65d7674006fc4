//! Building, signing and self-verifying a vaccination certificate for a verified record.
//!
//! ## UVCI format
//! `URN:UVCI:01:VN:<opaque>#<check>` (eHealth Network UVCI guidelines: version, country,
//! an opaque unique string, a check character):
//! - `01`: UVCI schema version; `VN`: the issuing country (from [`super::Config::country`]);
//! - `<opaque>`: 128 random bits (OS randomness) as 26 characters of RFC 4648 base32
//!   (`A`–`Z`, `2`–`7`, unpadded): unique without coordination, and it reveals nothing;
//! - `<check>`: a Luhn mod N check character (N = 36, alphabet `0`–`9` then `A`–`Z`) over the
//!   alphanumeric characters of everything before `#` (`:` separators skipped), so a typed UVCI
//!   with one wrong character or two adjacent characters swapped is detected.
//!
//! The whole identifier is 43 characters (the DCC schema allows 80); the database's UNIQUE
//! constraint is the final guard against a collision.

use std::sync::Arc;

use rand_core::{OsRng, RngCore};
use vaxpass_keys::Signer;
use vaxpass_verifier::encode::{Encoder, IssueClaims, encode_hc1};
use vaxpass_verifier::model::{Entries, Name, Vaccination as VEntry};
use vaxpass_verifier::{Dcc, Timestamp, TrustStore, Verifier};

use super::{AppState, Config};
use crate::matching::RegistryPerson;
use crate::names::DccName;
use crate::storage::{DoseRecord, NewCertificate, Vaccination};

/// SNOMED CT 840539006: COVID-19 (DCC `tg`).
pub const TARGET_COVID_19: &str = "840539006";

thread_local! {
    /// The issuing thread's encoder (see [`IssueContext::issue_timed`]).
    static ENCODER: std::cell::RefCell<Encoder> = std::cell::RefCell::new(Encoder::new());
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const LUHN36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Why a certificate could not be issued. The texts carry no personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// A verified record without the registry's identity (should not happen).
    #[error("the verified record carries no registry identity")]
    NoRegistryPerson,
    /// The registry's name cannot be written as a DCC name.
    #[error("the registry name cannot be written as a DCC name")]
    Name,
    /// The record has no vaccine or prophylaxis code (stored before the column existed).
    #[error("the record has no vaccine or prophylaxis code (vp); resubmit it")]
    NoProphylaxis,
    /// The dose is not clinically plausible (re-checked before signing: the record may have
    /// been stored before the checks existed).
    #[error("the dose is not plausible: {0}")]
    Implausible(#[from] crate::plausibility::Implausible),
    /// The signer certificate has expired or is not yet valid.
    #[error("the document signer certificate is not valid now")]
    SignerNotValid,
    /// The signer failed.
    #[error(transparent)]
    Sign(#[from] vaxpass_keys::SignError),
    /// The certificate just signed does not verify: it is not stored.
    #[error("self-verification of the signed certificate failed: {0}")]
    SelfVerify(String),
}

/// A new UVCI (see the module documentation).
pub fn new_uvci(country: &str) -> String {
    let mut raw = [0u8; 16];
    OsRng.fill_bytes(&mut raw);
    let mut opaque = String::with_capacity(26);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in raw {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            opaque.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        opaque.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
    }
    let body = format!("URN:UVCI:01:{country}:{opaque}");
    let check = luhn36_check(&body);
    format!("{body}#{check}")
}

/// The Luhn mod 36 check character over the alphanumeric characters of `s` (others skipped).
pub fn luhn36_check(s: &str) -> char {
    const N: usize = 36;
    let mut factor = 2;
    let mut sum = 0;
    for c in s.bytes().rev() {
        let Some(code) = LUHN36.iter().position(|&a| a == c.to_ascii_uppercase()) else {
            continue;
        };
        let addend = factor * code;
        sum += addend / N + addend % N;
        factor = if factor == 2 { 1 } else { 2 };
    }
    char::from(LUHN36[(N - sum % N) % N])
}

/// Whether `uvci` ends in its correct Luhn mod 36 check character.
pub fn uvci_check_ok(uvci: &str) -> bool {
    match uvci.rsplit_once('#') {
        Some((body, check)) => check.len() == 1 && check.starts_with(luhn36_check(body)),
        None => false,
    }
}

/// Everything issuing needs besides the record: the signer, a trust store holding exactly its
/// certificate (self-verification), its notAfter and the issuing settings. Cheap to clone; used
/// by the HTTP service ([`AppState::issue_context`]) and by batch issuance
/// ([`crate::batch`]), neither of which needs the other's state.
#[derive(Clone)]
pub struct IssueContext {
    /// The current DSC's signer.
    pub signer: Arc<dyn Signer>,
    /// A trust store holding exactly the signer's certificate.
    pub self_check: Arc<TrustStore>,
    /// The signer certificate's notAfter.
    pub dsc_not_after: Timestamp,
    /// Issuing settings.
    pub config: Arc<Config>,
}

impl std::fmt::Debug for IssueContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueContext")
            .field("signer", &self.signer)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Nanoseconds spent in each stage of [`IssueContext::issue_timed`], summed over calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTimes {
    /// Building the payload (names, CBOR) and the UVCI.
    pub build_ns: u64,
    /// Inside the signer.
    pub sign_ns: u64,
    /// CWT, COSE, zlib, Base45 and the stored JSON payload (signing excluded).
    pub encode_ns: u64,
    /// Self-verification of the sampled certificates.
    pub verify_ns: u64,
    /// Certificates self-verified.
    pub verified: u64,
}

impl StageTimes {
    /// Adds another thread's times.
    pub fn add(&mut self, o: &StageTimes) {
        self.build_ns += o.build_ns;
        self.sign_ns += o.sign_ns;
        self.encode_ns += o.encode_ns;
        self.verify_ns += o.verify_ns;
        self.verified += o.verified;
    }
}

fn nanos(since: std::time::Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl IssueContext {
    /// A context for `signer`.
    ///
    /// # Errors
    /// The signer's certificate cannot be parsed as a DSC.
    pub fn new(
        signer: Arc<dyn Signer>,
        config: Config,
    ) -> Result<IssueContext, vaxpass_verifier::trust::CertificateError> {
        let trusted = vaxpass_verifier::TrustedSigner::from_der(signer.certificate_der())?;
        let dsc_not_after = trusted.not_after();
        let mut store = TrustStore::new();
        store.add(trusted);
        Ok(IssueContext {
            signer,
            self_check: Arc::new(store),
            dsc_not_after,
            config: Arc::new(config),
        })
    }

    /// Builds the DCC payload for the registry's identity and one dose (see [`build_dcc`]).
    ///
    /// # Errors
    /// [`IssueError::Name`], [`IssueError::NoProphylaxis`].
    pub fn build_dcc_for(
        &self,
        person: &RegistryPerson,
        v: &Vaccination,
        uvci: &str,
    ) -> Result<Dcc, IssueError> {
        let name = DccName::from_full_name(&person.full_name).ok_or(IssueError::Name)?;
        if v.prophylaxis.is_empty() {
            return Err(IssueError::NoProphylaxis);
        }
        Ok(Dcc {
            ver: "1.3.0".to_owned(),
            nam: Name {
                family_name: Some(name.family),
                family_name_std: Some(name.family_t),
                given_name: name.given,
                given_name_std: name.given_t,
            },
            dob: person.date_of_birth.to_string(),
            entries: Entries::Vaccination(vec![VEntry {
                tg: TARGET_COVID_19.to_owned(),
                vp: v.prophylaxis.clone(),
                mp: v.product.clone(),
                ma: v.manufacturer.clone(),
                dn: v.dose_number,
                sd: v.series_total,
                dt: v.date.to_string(),
                co: self.config.country.clone(),
                is: self.config.issuer_text.clone(),
                ci: uvci.to_owned(),
            }]),
        })
    }

    /// Builds, signs and always self-verifies a certificate at `now` (Unix seconds); see
    /// [`issue`]. The dose is checked first ([`crate::plausibility::check`], with the
    /// registry's birth date and `now`): [`IssueError::Implausible`].
    ///
    /// # Errors
    /// [`IssueError`].
    pub fn issue(
        &self,
        person: &RegistryPerson,
        v: &Vaccination,
        now: i64,
    ) -> Result<NewCertificate, IssueError> {
        self.issue_timed(person, v, now, true, &mut StageTimes::default())
    }

    /// As [`IssueContext::issue`], self-verifying only when `self_verify` is set, and adding
    /// the time of each stage to `times`.
    ///
    /// # Errors
    /// [`IssueError`].
    pub fn issue_timed(
        &self,
        person: &RegistryPerson,
        v: &Vaccination,
        now: i64,
        self_verify: bool,
        times: &mut StageTimes,
    ) -> Result<NewCertificate, IssueError> {
        let t0 = std::time::Instant::now();
        // Nothing implausible is signed, whatever path brought the record here.
        crate::plausibility::check(v, person.date_of_birth.into(), now)?;
        let iat = Timestamp::from_unix_seconds(now);
        if iat > self.dsc_not_after {
            return Err(IssueError::SignerNotValid);
        }
        let exp = Timestamp::from_unix_seconds(
            now.saturating_add(self.config.validity_days.saturating_mul(86_400)),
        )
        .min(self.dsc_not_after);
        let uvci = new_uvci(&self.config.country);
        let dcc = self.build_dcc_for(person, v, &uvci)?;
        let cbor = dcc.to_cbor();
        times.build_ns += nanos(t0);
        let t1 = std::time::Instant::now();
        let claims = IssueClaims {
            iss: Some(&self.config.country),
            iat,
            exp,
        };
        let signer = &self.signer;
        let kid = signer.kid();
        let mut sign_ns = 0;
        let sign = |tbs: &[u8]| {
            let ts = std::time::Instant::now();
            let sig = signer.sign(tbs);
            sign_ns = nanos(ts);
            sig
        };
        // A per-thread encoder keeps its zlib buffers between certificates;
        // its output is that of `encode_hc1`, byte for byte.
        let hc1 = ENCODER.with(|encoder| match encoder.try_borrow_mut() {
            Ok(mut encoder) => encoder.encode_hc1(&cbor, &claims, signer.algorithm(), &kid, sign),
            Err(_) => encode_hc1(&cbor, &claims, signer.algorithm(), &kid, sign),
        })?;
        let payload = serde_json::to_string(&dcc)
            .map_err(|_| IssueError::SelfVerify("PAYLOAD_JSON".to_owned()))?;
        let total = nanos(t1);
        times.sign_ns += sign_ns;
        times.encode_ns += total.saturating_sub(sign_ns);
        if self_verify {
            // Verify our own output with the verifier crate before anything is stored.
            let t2 = std::time::Instant::now();
            let mut verifier = Verifier::new(self.self_check.clone());
            let verified = verifier
                .verify(&hc1, iat)
                .map_err(|e| IssueError::SelfVerify(e.code().to_owned()))?;
            let round_trip = verified
                .dcc()
                .map_err(|_| IssueError::SelfVerify("MODEL".to_owned()))?;
            if round_trip != dcc {
                return Err(IssueError::SelfVerify("PAYLOAD_CHANGED".to_owned()));
            }
            times.verify_ns += nanos(t2);
            times.verified += 1;
        }
        Ok(NewCertificate {
            uvci,
            hc1,
            payload,
            kid: kid.to_base64(),
            iat: iat.unix_seconds(),
            exp: exp.unix_seconds(),
        })
    }
}

impl AppState {
    /// The issuing part of the state, usable without the service.
    pub fn issue_context(&self) -> IssueContext {
        IssueContext {
            signer: self.signer.clone(),
            self_check: self.self_check.clone(),
            dsc_not_after: self.dsc_not_after,
            config: self.config.clone(),
        }
    }
}

/// Builds the DCC payload of a verified record (schema 1.3.0): the registry's canonical name
/// and birth date, one `v` entry for the record's dose.
///
/// # Errors
/// [`IssueError::NoRegistryPerson`], [`IssueError::Name`], [`IssueError::NoProphylaxis`].
pub fn build_dcc(state: &AppState, record: &DoseRecord, uvci: &str) -> Result<Dcc, IssueError> {
    let person = record
        .registry_person
        .as_ref()
        .ok_or(IssueError::NoRegistryPerson)?;
    state
        .issue_context()
        .build_dcc_for(person, &record.vaccination, uvci)
}

/// Builds, signs and verifies the certificate of a verified record at `now` (Unix seconds).
///
/// `exp` is `now + validity_days`, cut to the DSC's notAfter.
///
/// # Errors
/// [`IssueError`].
pub fn issue(
    state: &AppState,
    record: &DoseRecord,
    now: i64,
) -> Result<NewCertificate, IssueError> {
    let person = record
        .registry_person
        .as_ref()
        .ok_or(IssueError::NoRegistryPerson)?;
    state
        .issue_context()
        .issue(person, &record.vaccination, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvci_shape_and_check() {
        let u = new_uvci("VN");
        assert_eq!(u.len(), 43, "{u}");
        assert!(u.starts_with("URN:UVCI:01:VN:"));
        assert!(
            u.bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || b":#".contains(&c))
        );
        assert!(uvci_check_ok(&u));
        // One changed character is detected.
        let mut bytes = u.clone().into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        assert!(!uvci_check_ok(
            &String::from_utf8(bytes).unwrap_or_default()
        ));
        assert_ne!(new_uvci("VN"), u);
    }

    #[test]
    fn luhn36_known_value() {
        // Sum over "1": factor 2 -> 2; check = (36 - 2) % 36 = 34 -> 'Y'.
        assert_eq!(luhn36_check("1"), 'Y');
        assert_eq!(luhn36_check(""), '0');
    }
}
