//! The EU gateway's revocation batch (JSON), both ways: export of our list's groups for
//! upload, and import of other countries' batches into a list (through
//! [`RevocationListBuilder`]).
//!
//! ```json
//! {"country": "VN", "expires": "2027-06-01T00:00:00Z", "kid": "base64 of the 8-byte kid",
//!  "hashType": "SIGNATURE" | "UCI" | "COUNTRYCODEUCI",
//!  "entries": [{"hash": "22 Base64 characters and =="}, …]}
//! ```
//!
//! A batch holds 1 to [`MAX_BATCH_ENTRIES`] entries, all of one hash type, one country and one
//! DSC; every hash is the first 16 bytes of a SHA-256 ([`super::hash`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{
    Group, HashType, Reason, RevocationError, RevocationHash, RevocationList, RevocationListBuilder,
};
use crate::{Kid, Timestamp};

/// Most entries in one gateway batch.
pub const MAX_BATCH_ENTRIES: usize = 1000;

/// One gateway batch, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayBatch {
    /// Country of the revoked certificates (ISO 3166 alpha-2).
    pub country: String,
    /// When the entries stop counting (RFC 3339).
    pub expires: String,
    /// The DSC's kid, Base64.
    pub kid: String,
    /// `SIGNATURE`, `UCI` or `COUNTRYCODEUCI`.
    #[serde(rename = "hashType")]
    pub hash_type: String,
    /// The entries.
    pub entries: Vec<GatewayEntry>,
}

/// One entry of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEntry {
    /// The hash, Base64 (`^[A-Za-z0-9+/]{22}==$`).
    pub hash: String,
}

/// Why a batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Not JSON of the batch's shape.
    #[error("revocation batch is not valid JSON of the gateway's shape: {0}")]
    Json(String),
    /// `country` is not two capital letters.
    #[error("revocation batch country must be two capital letters (ISO 3166 alpha-2)")]
    Country,
    /// `expires` is not an RFC 3339 time.
    #[error("revocation batch expires is not an RFC 3339 time (e.g. 2027-06-01T00:00:00Z)")]
    Expires,
    /// `kid` is not the Base64 of a kid.
    #[error("revocation batch kid is not the Base64 of an 8-byte key identifier")]
    Kid,
    /// `hashType` is not one of the three.
    #[error("revocation batch hashType must be SIGNATURE, UCI or COUNTRYCODEUCI")]
    HashType,
    /// Too few or too many entries.
    #[error("revocation batch holds {0} entries; the gateway allows 1 to {MAX_BATCH_ENTRIES}")]
    EntryCount(usize),
    /// An entry is not a gateway hash.
    #[error("revocation batch entry #{0} is not 22 Base64 characters followed by ==")]
    Entry(usize),
    /// The list cannot take the batch.
    #[error("{0}")]
    List(#[from] RevocationError),
}

impl GatewayBatch {
    /// Parses and checks a batch (every constraint of the gateway's schema).
    ///
    /// # Errors
    /// [`GatewayError`]: the first constraint broken.
    pub fn parse(json: &[u8]) -> Result<Self, GatewayError> {
        let batch: GatewayBatch =
            serde_json::from_slice(json).map_err(|e| GatewayError::Json(e.to_string()))?;
        batch.check()?;
        Ok(batch)
    }

    /// Checks the batch; its group (reason [`Reason::Unspecified`]) and hashes.
    ///
    /// # Errors
    /// [`GatewayError`].
    pub fn check(&self) -> Result<(Group, Vec<RevocationHash>), GatewayError> {
        let c = self.country.as_bytes();
        if c.len() != 2 || !c.iter().all(u8::is_ascii_uppercase) {
            return Err(GatewayError::Country);
        }
        // The gateway writes full date-times; a bare date is not its form.
        if self.expires.len() < 20 {
            return Err(GatewayError::Expires);
        }
        let expires_at = Timestamp::parse(&self.expires).map_err(|_| GatewayError::Expires)?;
        let kid = STANDARD
            .decode(&self.kid)
            .ok()
            .filter(|k| k.len() == Kid::HCERT_LEN)
            .and_then(|k| Kid::from_bytes(&k))
            .ok_or(GatewayError::Kid)?;
        let hash_type =
            HashType::from_gateway_name(&self.hash_type).ok_or(GatewayError::HashType)?;
        if self.entries.is_empty() || self.entries.len() > MAX_BATCH_ENTRIES {
            return Err(GatewayError::EntryCount(self.entries.len()));
        }
        let hashes = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| RevocationHash::from_base64(&e.hash).ok_or(GatewayError::Entry(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            Group {
                hash_type,
                country: self.country.clone(),
                kid: Some(kid),
                expires_at,
                reason: Reason::Unspecified,
            },
            hashes,
        ))
    }

    /// Adds the batch's entries to `builder`.
    ///
    /// # Errors
    /// [`GatewayError`] for a batch that breaks a constraint.
    pub fn import_into(&self, builder: &mut RevocationListBuilder) -> Result<usize, GatewayError> {
        let (group, hashes) = self.check()?;
        for h in &hashes {
            builder.add(*h, &group)?;
        }
        Ok(hashes.len())
    }
}

/// The gateway batches of a list: one run of at most [`MAX_BATCH_ENTRIES`] entries per group
/// and chunk, groups with a kid only (the gateway requires one), in the list's order. Entries
/// whose group has expired by `now` are left out.
pub fn export(list: &RevocationList, now: Timestamp) -> Vec<GatewayBatch> {
    let mut per_group: Vec<Vec<&RevocationHash>> = vec![Vec::new(); list.groups().len()];
    for (h, g) in list.hashes.iter().zip(&list.group_of) {
        per_group[usize::from(*g)].push(h);
    }
    let mut out = Vec::new();
    for (group, hashes) in list.groups().iter().zip(per_group) {
        let Some(kid) = group.kid else { continue };
        if group.expires_at.unix_seconds() <= now.unix_seconds() {
            continue;
        }
        for chunk in hashes.chunks(MAX_BATCH_ENTRIES) {
            out.push(GatewayBatch {
                country: group.country.clone(),
                expires: group.expires_at.to_string(),
                kid: STANDARD.encode(kid.as_bytes()),
                hash_type: group.hash_type.gateway_name().to_owned(),
                entries: chunk
                    .iter()
                    .map(|h| GatewayEntry {
                        hash: h.to_base64(),
                    })
                    .collect(),
            });
        }
    }
    out
}
