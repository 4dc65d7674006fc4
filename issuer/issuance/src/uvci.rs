//! Unique vaccination certificate identifiers.
//!
//! ## UVCI format
//! `URN:UVCI:01:VN:<opaque>#<check>` (eHealth Network UVCI guidelines: version, country,
//! an opaque unique string, a check character):
//! - `01`: UVCI schema version; `VN`: the issuing country (from
//!   [`IssueSettings::country`](crate::IssueSettings::country));
//! - `<opaque>`: 128 random bits (OS randomness) as 26 characters of RFC 4648 base32
//!   (`A`–`Z`, `2`–`7`, unpadded): unique without coordination, and it reveals nothing;
//! - `<check>`: a Luhn mod N check character (N = 36, alphabet `0`–`9` then `A`–`Z`) over the
//!   alphanumeric characters of everything before `#` (`:` separators skipped), so a typed UVCI
//!   with one wrong character or two adjacent characters swapped is detected.
//!
//! The whole identifier is 43 characters (the DCC schema allows 80); the database's UNIQUE
//! constraint is the final guard against a collision.

use rand_core::{OsRng, RngCore};

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const LUHN36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

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
