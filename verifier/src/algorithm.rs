//! The COSE signature algorithms HCERT allows (HCERT spec §3.3.2).

use std::fmt;

/// A COSE signature algorithm accepted for HCERT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256, signature as raw `r || s` (64 bytes). COSE alg -7.
    Es256,
    /// RSASSA-PSS with SHA-256, MGF1/SHA-256, salt length 32. COSE alg -37.
    Ps256,
}

impl Algorithm {
    /// The COSE algorithm identifier.
    pub const fn cose_id(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::Ps256 => -37,
        }
    }

    /// The algorithm for a COSE identifier, `None` if HCERT does not allow it.
    pub const fn from_cose_id(id: i64) -> Option<Self> {
        match id {
            -7 => Some(Algorithm::Es256),
            -37 => Some(Algorithm::Ps256),
            _ => None,
        }
    }

    /// The JOSE/COSE name (`ES256`, `PS256`).
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Ps256 => "PS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cose_ids_round_trip() {
        for alg in [Algorithm::Es256, Algorithm::Ps256] {
            assert_eq!(Algorithm::from_cose_id(alg.cose_id()), Some(alg));
        }
        assert_eq!(Algorithm::from_cose_id(-35), None); // ES384 is not an HCERT algorithm
        assert_eq!(Algorithm::Ps256.to_string(), "PS256");
    }
}
