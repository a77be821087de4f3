//! Agent passwords: argon2id PHC strings with a random salt.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

use crate::Error;

/// Shortest accepted password.
pub const MIN_LENGTH: usize = 8;

/// Hashes `password` (argon2id, default parameters, 16-byte random salt).
pub fn hash(password: &str) -> Result<String, Error> {
    if password.chars().count() < MIN_LENGTH {
        return Err(Error::Invalid(format!("a password needs at least {MIN_LENGTH} characters")));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Invalid(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("password hash: {e}")))
}

/// Whether `password` matches the stored `phc` hash.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse", &a));
        assert!(!verify("wrong horse", &a));
        assert!(!verify("correct horse", "not a hash"));
        assert!(hash("short").is_err());
    }
}
