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

/// A hash of no one's password, made once: sign-ins for unknown names are
/// checked against it, so they take as long as those for real names.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::util::random_hex(24)).expect("a 48-character password hashes"))
}

/// Login names: 1 to 64 letters, digits, '.', '_' or '-' (what `usher
/// agents add` accepts, and what sign-in checks before anything else).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The rule [`valid_name`] checks, in words.
pub const NAME_RULE: &str = "an agent name is 1 to 64 letters, digits, '.', '_' or '-'";

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

    #[test]
    fn the_dummy_hash_is_a_real_hash_nobody_knows() {
        assert!(dummy_hash().starts_with("$argon2id$"));
        assert_eq!(dummy_hash(), dummy_hash(), "made once");
        assert!(!verify("", dummy_hash()));
    }

    #[test]
    fn names_follow_the_agents_add_rule() {
        assert!(valid_name("alice") && valid_name("a.b_c-9"));
        for bad in ["", "a b", "al\u{0}ice", "émile", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
