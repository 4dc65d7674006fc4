//! Building, signing and self-verifying a vaccination certificate for a registry-verified dose.

use std::sync::Arc;

use vaxpass_issuer_domain::matching::RegistryPerson;
use vaxpass_issuer_domain::names::DccName;
use vaxpass_issuer_domain::plausibility::{self, Implausible};
use vaxpass_issuer_domain::record::Vaccination;
use vaxpass_keys::Signer;
use vaxpass_verifier::encode::IssueClaims;
use vaxpass_verifier::model::{Entries, ModelError, Name, Vaccination as VEntry};
use vaxpass_verifier::{Dcc, Timestamp, TrustStore, Verifier};

use crate::encode::Encoder;
use crate::uvci::new_uvci;

/// SNOMED CT 840539006: COVID-19 (DCC `tg`).
pub const TARGET_COVID_19: &str = "840539006";

thread_local! {
    /// The issuing thread's encoder (see [`IssueContext::issue_timed`]).
    static ENCODER: std::cell::RefCell<Encoder> = std::cell::RefCell::new(Encoder::new());
}

/// Why a certificate could not be issued. The texts carry no personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// A record to issue carries no registry identity (callers that issue from a stored
    /// record report this; should not happen for a verified record).
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
    Implausible(#[from] Implausible),
    /// The signer certificate has expired at the time of issuing.
    #[error(
        "the document signer certificate expired at {not_after}, before the issuing time {iat}"
    )]
    SignerNotValid {
        /// The certificate's issuing time.
        iat: Timestamp,
        /// The signer certificate's notAfter.
        not_after: Timestamp,
    },
    /// The signer failed.
    #[error(transparent)]
    Sign(#[from] vaxpass_keys::SignError),
    /// The payload could not be written as JSON (for storing beside the certificate).
    #[error("the certificate payload could not be written as JSON: {0}")]
    PayloadJson(#[source] JsonError),
    /// The certificate just signed does not verify with the signer's own certificate: it is
    /// not stored.
    #[error("self-verification failed: the certificate just signed does not verify ({code}): {0}", code = .0.code())]
    SelfVerify(#[source] vaxpass_verifier::Error),
    /// The certificate just signed verifies, but its payload does not read back as a DCC.
    #[error("self-verification failed: the signed payload does not read back as a DCC: {0}")]
    SelfVerifyModel(#[source] ModelError),
    /// The certificate just signed verifies, but its payload differs from the one built.
    #[error("self-verification failed: the signed payload differs from the payload built")]
    SelfVerifyPayloadChanged,
}

/// A JSON serialisation failure (the `serde_json` error, kept out of this crate's API).
#[derive(Debug)]
pub struct JsonError(serde_json::Error);

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for JsonError {}

/// The issuing settings: what goes into every certificate besides the person and the dose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueSettings {
    /// The DCC `is` field (certificate issuer), e.g. `Ministry of Health of Viet Nam`.
    pub issuer_text: String,
    /// The DCC `co` field and CWT `iss` claim (ISO 3166 alpha-2): `VN`.
    pub country: String,
    /// Certificate validity in days (the CWT `exp` is never beyond the DSC's notAfter).
    pub validity_days: i64,
}

impl Default for IssueSettings {
    fn default() -> Self {
        IssueSettings {
            issuer_text: "Ministry of Health of Viet Nam".to_owned(),
            country: "VN".to_owned(),
            validity_days: 365,
        }
    }
}

/// A signed (and, when asked, self-verified) certificate, ready to be stored (the domain's
/// type, which the store takes as it is).
pub use vaxpass_issuer_domain::record::NewCertificate as IssuedCertificate;

/// Everything issuing needs besides the dose: the signer, a trust store holding exactly its
/// certificate (self-verification), its notAfter and the issuing settings. Cheap to clone;
/// used by the HTTP service and by batch issuance, neither of which needs the other's state.
#[derive(Clone)]
pub struct IssueContext {
    /// The current DSC's signer.
    pub signer: Arc<dyn Signer>,
    /// A trust store holding exactly the signer's certificate.
    pub self_check: Arc<TrustStore>,
    /// The signer certificate's notAfter.
    pub dsc_not_after: Timestamp,
    /// Issuing settings.
    pub settings: Arc<IssueSettings>,
}

impl std::fmt::Debug for IssueContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueContext")
            .field("signer", &self.signer)
            .field("settings", &self.settings)
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
        settings: impl Into<IssueSettings>,
    ) -> Result<IssueContext, vaxpass_verifier::trust::CertificateError> {
        let trusted = vaxpass_verifier::TrustedSigner::from_der(signer.certificate_der())?;
        let dsc_not_after = trusted.not_after();
        let mut store = TrustStore::new();
        store.add(trusted);
        Ok(IssueContext {
            signer,
            self_check: Arc::new(store),
            dsc_not_after,
            settings: Arc::new(settings.into()),
        })
    }

    /// Builds the DCC payload (schema 1.3.0) for the registry's identity and one dose: the
    /// registry's canonical name and birth date, one `v` entry for the dose.
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
                co: self.settings.country.clone(),
                is: self.settings.issuer_text.clone(),
                ci: uvci.to_owned(),
            }]),
        })
    }

    /// Builds, signs and always self-verifies a certificate at `now` (Unix seconds). The dose
    /// is checked first ([`plausibility::check`], with the registry's birth date and `now`).
    /// `exp` is `now + validity_days`, cut to the DSC's notAfter.
    ///
    /// # Errors
    /// [`IssueError`].
    pub fn issue(
        &self,
        person: &RegistryPerson,
        v: &Vaccination,
        now: i64,
    ) -> Result<IssuedCertificate, IssueError> {
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
    ) -> Result<IssuedCertificate, IssueError> {
        let t0 = std::time::Instant::now();
        // Nothing implausible is signed, whatever path brought the record here.
        plausibility::check(v, person.date_of_birth.into(), now)?;
        let iat = Timestamp::from_unix_seconds(now);
        if iat > self.dsc_not_after {
            return Err(IssueError::SignerNotValid {
                iat,
                not_after: self.dsc_not_after,
            });
        }
        let exp = Timestamp::from_unix_seconds(
            now.saturating_add(self.settings.validity_days.saturating_mul(86_400)),
        )
        .min(self.dsc_not_after);
        // A certificate valid for no time at all (issued at the very second the DSC ends) is
        // never signed: every certificate has exp > iat.
        if exp <= iat {
            return Err(IssueError::SignerNotValid {
                iat,
                not_after: self.dsc_not_after,
            });
        }
        let uvci = new_uvci(&self.settings.country);
        let dcc = self.build_dcc_for(person, v, &uvci)?;
        let cbor = dcc.to_cbor();
        times.build_ns += nanos(t0);
        let t1 = std::time::Instant::now();
        let claims = IssueClaims {
            iss: Some(&self.settings.country),
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
        // A per-thread encoder keeps its zlib buffers between certificates (its output does
        // not depend on what it encoded before); a fresh one if this thread's is in use.
        let hc1 = ENCODER.with(|encoder| match encoder.try_borrow_mut() {
            Ok(mut encoder) => encoder.encode_hc1(&cbor, &claims, signer.algorithm(), &kid, sign),
            Err(_) => Encoder::new().encode_hc1(&cbor, &claims, signer.algorithm(), &kid, sign),
        })?;
        let payload =
            serde_json::to_string(&dcc).map_err(|e| IssueError::PayloadJson(JsonError(e)))?;
        let total = nanos(t1);
        times.sign_ns += sign_ns;
        times.encode_ns += total.saturating_sub(sign_ns);
        if self_verify {
            // Verify our own output with the verifier crate before anything is stored.
            let t2 = std::time::Instant::now();
            let mut verifier = Verifier::new(self.self_check.clone());
            let verified = verifier.verify(&hc1, iat).map_err(IssueError::SelfVerify)?;
            let round_trip = verified.dcc().map_err(IssueError::SelfVerifyModel)?;
            if round_trip != dcc {
                return Err(IssueError::SelfVerifyPayloadChanged);
            }
            times.verify_ns += nanos(t2);
            times.verified += 1;
        }
        Ok(IssuedCertificate {
            uvci,
            hc1,
            payload,
            kid: kid.to_base64(),
            iat: iat.unix_seconds(),
            exp: exp.unix_seconds(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use vaxpass_issuer_domain::dates::Date;
    use vaxpass_issuer_domain::identity::{IdNumber, Sex};
    use vaxpass_keys::CertificateType;
    use vaxpass_keys::dev::{DevOptions, dev_init};
    use vaxpass_keys::manifest::{Manifest, Secrets};

    /// 2026-01-01: the development PKI's start.
    const START: i64 = 1_767_225_600;
    /// 2026-06-01.
    const NOW: i64 = 1_780_272_000;

    fn context() -> (tempfile::TempDir, IssueContext) {
        let dir = tempfile::tempdir().unwrap();
        let init = dev_init(
            dir.path(),
            &DevOptions::new(Timestamp::from_unix_seconds(START)),
        )
        .unwrap();
        let manifest = Manifest::load(&init.manifest_path).unwrap();
        let signer: Arc<dyn Signer> = Arc::from(
            manifest
                .current_signer(
                    dir.path(),
                    CertificateType::Vaccination,
                    Timestamp::from_unix_seconds(NOW),
                    &Secrets::default(),
                )
                .unwrap(),
        );
        let ctx = IssueContext::new(signer, IssueSettings::default()).unwrap();
        (dir, ctx)
    }

    fn person() -> RegistryPerson {
        RegistryPerson {
            id: IdNumber::parse_national("079185012345").unwrap(),
            full_name: "Trần Thị Bích Ngọc".into(),
            date_of_birth: Date::new(1985, 4, 12).unwrap(),
            sex: Sex::Female,
        }
    }

    fn dose() -> Vaccination {
        Vaccination {
            prophylaxis: "1119349007".into(),
            product: "EU/1/20/1528".into(),
            manufacturer: "ORG-100030215".into(),
            dose_number: 2,
            series_total: 2,
            date: Date::new(2026, 5, 20).unwrap(),
        }
    }

    #[test]
    fn issued_certificate_verifies_and_matches_its_payload() {
        let (_dir, ctx) = context();
        let mut times = StageTimes::default();
        let cert = ctx
            .issue_timed(&person(), &dose(), NOW, true, &mut times)
            .unwrap();
        assert!(crate::uvci_check_ok(&cert.uvci), "{}", cert.uvci);
        assert_eq!(cert.kid, ctx.signer.kid().to_base64());
        assert_eq!(cert.iat, NOW);
        assert_eq!(cert.exp, NOW + 365 * 86_400);
        assert_eq!(times.verified, 1);
        let now = Timestamp::from_unix_seconds(NOW);
        let verified = Verifier::new(ctx.self_check.clone())
            .verify(&cert.hc1, now)
            .unwrap();
        let dcc = verified.dcc().unwrap();
        assert_eq!(dcc.nam.family_name_std.as_deref(), Some("TRAN"));
        assert_eq!(dcc.nam.given_name_std.as_deref(), Some("THI<BICH<NGOC"));
        assert_eq!(dcc.dob, "1985-04-12");
        let Entries::Vaccination(v) = &dcc.entries else {
            panic!("not a vaccination: {dcc:?}");
        };
        assert_eq!((v[0].dn, v[0].sd, v[0].ci.as_str()), (2, 2, &*cert.uvci));
        assert_eq!(
            (v[0].tg.as_str(), v[0].co.as_str()),
            (TARGET_COVID_19, "VN")
        );
        let stored: Dcc = serde_json::from_str(&cert.payload).unwrap();
        assert_eq!(stored, dcc);
        // Without self-verification: no verification time, a certificate all the same.
        let mut times = StageTimes::default();
        let other = ctx
            .issue_timed(&person(), &dose(), NOW, false, &mut times)
            .unwrap();
        assert_eq!((times.verified, times.verify_ns), (0, 0));
        assert_ne!(other.uvci, cert.uvci);
        assert!(
            Verifier::new(ctx.self_check.clone())
                .verify(&other.hc1, now)
                .is_ok()
        );
    }

    #[test]
    fn expiry_is_cut_to_the_signer_certificate() {
        let (_dir, ctx) = context();
        let late = ctx.dsc_not_after.unix_seconds() - 10 * 86_400;
        let cert = ctx.issue(&person(), &dose(), late).unwrap();
        assert_eq!(cert.exp, ctx.dsc_not_after.unix_seconds());
        let after = ctx.dsc_not_after.unix_seconds() + 1;
        let err = ctx.issue(&person(), &dose(), after).unwrap_err();
        assert!(matches!(err, IssueError::SignerNotValid { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "the document signer certificate expired at {}, before the issuing time {}",
                ctx.dsc_not_after,
                Timestamp::from_unix_seconds(after)
            )
        );
    }

    #[test]
    fn record_errors_have_their_own_variants_and_texts() {
        let (_dir, ctx) = context();
        let nameless = RegistryPerson {
            full_name: "   ".into(),
            ..person()
        };
        let err = ctx.issue(&nameless, &dose(), NOW).unwrap_err();
        assert!(matches!(err, IssueError::Name), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the registry name cannot be written as a DCC name"
        );
        let no_vp = Vaccination {
            prophylaxis: String::new(),
            ..dose()
        };
        let err = ctx.issue(&person(), &no_vp, NOW).unwrap_err();
        assert!(matches!(err, IssueError::NoProphylaxis), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the record has no vaccine or prophylaxis code (vp); resubmit it"
        );
        let future = Vaccination {
            date: Date::new(2027, 1, 1).unwrap(),
            ..dose()
        };
        let err = ctx.issue(&person(), &future, NOW).unwrap_err();
        let IssueError::Implausible(why) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(err.to_string(), format!("the dose is not plausible: {why}"));
        assert_eq!(
            IssueError::NoRegistryPerson.to_string(),
            "the verified record carries no registry identity"
        );
    }

    #[test]
    fn self_verification_failures_name_their_cause() {
        let (_dir, ctx) = context();
        // A self-check store that does not hold the signer: the certificate does not verify.
        let wrong = IssueContext {
            self_check: Arc::new(TrustStore::new()),
            ..ctx.clone()
        };
        let err = wrong.issue(&person(), &dose(), NOW).unwrap_err();
        let IssueError::SelfVerify(inner) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(inner.code(), "KID_UNKNOWN");
        assert_eq!(
            err.to_string(),
            format!(
                "self-verification failed: the certificate just signed does not verify \
                 (KID_UNKNOWN): {inner}"
            )
        );
        // Not verified: no error.
        assert!(
            wrong
                .issue_timed(&person(), &dose(), NOW, false, &mut StageTimes::default())
                .is_ok()
        );
        assert_eq!(
            IssueError::SelfVerifyPayloadChanged.to_string(),
            "self-verification failed: the signed payload differs from the payload built"
        );
        let model =
            Dcc::from_cbor(&vaxpass_verifier::cbor::decode(b"\xa0", 4).unwrap()).unwrap_err();
        let text = model.to_string();
        assert_eq!(
            IssueError::SelfVerifyModel(model).to_string(),
            format!(
                "self-verification failed: the signed payload does not read back as a DCC: {text}"
            )
        );
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let text = json.to_string();
        assert_eq!(
            IssueError::PayloadJson(JsonError(json)).to_string(),
            format!("the certificate payload could not be written as JSON: {text}")
        );
    }

    #[test]
    fn settings_reach_the_payload() {
        let (_dir, ctx) = context();
        let ctx = IssueContext {
            settings: Arc::new(IssueSettings {
                issuer_text: "Sở Y tế".into(),
                country: "VN".into(),
                validity_days: 30,
            }),
            ..ctx
        };
        let cert = ctx.issue(&person(), &dose(), NOW).unwrap();
        assert_eq!(cert.exp, NOW + 30 * 86_400);
        let dcc: Dcc = serde_json::from_str(&cert.payload).unwrap();
        let Entries::Vaccination(v) = &dcc.entries else {
            panic!("{dcc:?}");
        };
        assert_eq!(v[0].is, "Sở Y tế");
    }
}
