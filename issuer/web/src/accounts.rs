//! Staff accounts: user names, Argon2id password hashes, and the account creation the CLI
//! (`vaxpass-issuer staff add`) and the demo use.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::{OsRng, RngCore};
use vaxpass_issuer_store::accounts::Account;
use vaxpass_issuer_store::{Actor, Role, Storage, StorageError};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted (Argon2 would take any; a bound keeps the work bounded).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// The longest user name.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The user name is not 3 to 64 of `a-z 0-9 . _ -` (upper case is made lower case).
    #[error(
        "a user name is 3 to {MAX_USERNAME_CHARS} characters of a-z, 0-9, '.', '_' and '-' (upper case is read as lower case)"
    )]
    Username,
    /// The password is too short or too long.
    #[error(
        "a password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters; leave it out to have one generated"
    )]
    Password,
    /// Hashing failed (a defect: the parameters are fixed).
    #[error("the password could not be hashed: {0}")]
    Hash(String),
    /// The database refused or failed ([`StorageError::UsernameTaken`],
    /// [`StorageError::UnknownClinic`], …).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The user name as stored: trimmed, lower case; `None` when it is not 3 to 64 of
/// `a-z 0-9 . _ -`.
pub fn normalise_username(name: &str) -> Option<String> {
    let name = name.trim().to_ascii_lowercase();
    let ok = (3..=MAX_USERNAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    ok.then_some(name)
}

/// Argon2id, version 0x13, with the parameters OWASP recommends as a minimum (19 MiB, 2
/// passes, 1 lane): 26–41 ms per hash or check on the project's 2-core machine (20 of each in
/// the test build, where argon2 and blake2 are optimised, at a load average of 10).
fn argon2() -> Argon2<'static> {
    // The parameters are constants within the library's ranges; `default()` would be the
    // same values, spelled out here so that a library change cannot weaken them.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `password` with a fresh random salt.
///
/// # Errors
/// [`AccountError::Password`] (length), [`AccountError::Hash`].
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(AccountError::Password);
    }
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// A hash of a password nobody has, checked when the user name is unknown so that the answer
/// takes as long as for a known one.
static DECOY_HASH: std::sync::LazyLock<Option<String>> =
    std::sync::LazyLock::new(|| hash_password("decoy password, never valid").ok());

/// Whether `password` is the one `phc` was made from. A password over
/// [`MAX_PASSWORD_CHARS`] is never checked (it cannot be one). `None` for `phc`: an unknown
/// user name, checked against a decoy hash for the same time, and `false`.
pub fn verify_password(password: &str, phc: Option<&str>) -> bool {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    let (hash, real) = match phc {
        Some(h) => (Some(h.to_owned()), true),
        None => (DECOY_HASH.clone(), false),
    };
    let Some(hash) = hash else { return false };
    let ok = PasswordHash::new(&hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    });
    ok && real
}

/// A new random password: 16 characters of an alphabet without look-alikes (0/O, 1/l/I),
/// about 90 bits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(16);
    while out.len() < 16 {
        let mut b = [0u8; 1];
        OsRng.fill_bytes(&mut b);
        // Rejection sampling: no bias towards the first letters.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(b[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(b[0]) % ALPHABET.len()]));
        }
    }
    out
}

/// Creates a staff account of `clinic_id`: the user name normalised
/// ([`normalise_username`]), the password hashed with Argon2id (on the blocking pool).
///
/// # Errors
/// [`AccountError`]: a bad user name or password, a taken user name
/// ([`StorageError::UsernameTaken`]), an unknown clinic, the database.
pub async fn create_account(
    storage: &Storage,
    clinic_id: i64,
    username: &str,
    password: &str,
    role: Role,
    actor: &Actor,
) -> Result<Account, AccountError> {
    let username = normalise_username(username).ok_or(AccountError::Username)?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))??;
    Ok(storage
        .create_account(clinic_id, &username, &hash, role, actor)
        .await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse batterY", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("x", Some("not a PHC string")));
        assert!(matches!(
            hash_password("short"),
            Err(AccountError::Password)
        ));
        // Two hashes of one password differ (salted).
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn user_names() {
        assert_eq!(
            normalise_username(" Lan.Nguyen ").as_deref(),
            Some("lan.nguyen")
        );
        for bad in ["ab", "có dấu", "a b c", "x/y", &"a".repeat(65)] {
            assert_eq!(normalise_username(bad), None, "{bad}");
        }
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate_password();
        assert_eq!(a.chars().count(), 16);
        assert!(hash_password(&a).is_ok());
        assert_ne!(a, generate_password());
    }
}
