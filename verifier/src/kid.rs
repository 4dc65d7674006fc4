//! Key identifiers (HCERT spec §3.3.1: the first 8 bytes of SHA-256 over the DER signer certificate).

use sha2::{Digest, Sha256};
use std::fmt;

/// A key identifier as carried in COSE header label 4.
///
/// HCERT kids are 8 bytes, but the type holds what the wire says (up to [`Kid::MAX_LEN`]) so that
/// a malformed kid can be reported rather than silently truncated.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid {
    len: u8,
    bytes: [u8; Kid::MAX_LEN],
}

impl Kid {
    /// The length HCERT prescribes.
    pub const HCERT_LEN: usize = 8;
    /// The longest kid this type stores; longer ones are rejected when decoded.
    pub const MAX_LEN: usize = 32;

    /// The kid of a signer certificate: `SHA-256(der)[..8]`.
    pub fn from_certificate_der(der: &[u8]) -> Self {
        let digest = Sha256::digest(der);
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes[..Self::HCERT_LEN].copy_from_slice(&digest[..Self::HCERT_LEN]);
        Kid {
            len: Self::HCERT_LEN as u8,
            bytes,
        }
    }

    /// A kid from raw bytes; `None` when longer than [`Kid::MAX_LEN`] or empty.
    pub fn from_bytes(raw: &[u8]) -> Option<Self> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return None;
        }
        let mut bytes = [0u8; Self::MAX_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Kid {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether the kid has the 8 bytes HCERT prescribes.
    pub fn is_hcert_length(&self) -> bool {
        usize::from(self.len) == Self::HCERT_LEN
    }

    /// Standard base64 (as the EU gateway and most trust lists print kids).
    pub fn to_base64(&self) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let data = self.as_bytes();
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({})", self.to_base64())
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_kids() {
        // common/CO1 carries kid 0x48324d2374e3abce, printed by the EU gateway as "SDJNI3Tjq84=".
        let kid = Kid::from_bytes(&[0x48, 0x32, 0x4d, 0x23, 0x74, 0xe3, 0xab, 0xce]).unwrap();
        assert_eq!(kid.to_base64(), "SDJNI3Tjq84=");
        assert!(kid.is_hcert_length());
        assert_eq!(Kid::from_bytes(&[1, 2]).unwrap().to_base64(), "AQI=");
        assert_eq!(Kid::from_bytes(&[1]).unwrap().to_base64(), "AQ==");
        assert!(Kid::from_bytes(&[]).is_none());
        assert!(Kid::from_bytes(&[0; 33]).is_none());
    }
}
