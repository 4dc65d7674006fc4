//! The parts of a dose record that domain rules read.

use crate::dates::Date;

/// The outcome code of a record stored while the registry could not be asked (its status stays
/// `received` until it is matched again).
pub const REGISTRY_UNAVAILABLE: &str = "REGISTRY_UNAVAILABLE";

/// The vaccination part of a dose record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Vaccination {
    /// Vaccine or prophylaxis (DCC `vp`, value set `sct-vaccines-covid-19`, e.g. `1119349007`).
    pub prophylaxis: String,
    /// Vaccine medicinal product (value set `vaccines-covid-19-names`, e.g. `EU/1/20/1528`).
    pub product: String,
    /// Marketing authorisation holder (e.g. `ORG-100030215`).
    pub manufacturer: String,
    /// Dose number in the series.
    pub dose_number: u32,
    /// Doses in the series.
    pub series_total: u32,
    /// Date of vaccination.
    pub date: Date,
}

/// A signed (and, when asked, self-verified) certificate, ready to be stored: what issuance
/// produces and the store keeps. `Debug` shows only the UVCI and the key id (the payload and the
/// `HC1:` text hold personal data).
#[derive(Clone, PartialEq, Eq)]
pub struct NewCertificate {
    /// `URN:UVCI:01:VN:…`, unique.
    pub uvci: String,
    /// The `HC1:` string.
    pub hc1: String,
    /// The HCERT payload as JSON.
    pub payload: String,
    /// The signer's key id (base64).
    pub kid: String,
    /// CWT issued-at, Unix seconds.
    pub iat: i64,
    /// CWT expiry, Unix seconds.
    pub exp: i64,
}

impl std::fmt::Debug for NewCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCertificate")
            .field("uvci", &self.uvci)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
