//! Passwords and session tokens for the console: argon2 for what people and chargers type,
//! SHA-256 for random tokens. The same scheme as the admin API's `secrets` module, kept here
//! in minimal form because a face must not depend on another face; it belongs in a shared
//! crate (see the crate's report).

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use sha2::{Digest, Sha256};

/// Hashing failed (the OS random source failed, or a worker thread died).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub(crate) struct HashError(String);

/// Argon2id with the crate's defaults, as a PHC string.
pub(crate) fn hash_password(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True when `password` matches the PHC string. A malformed hash never matches.
pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody knows, verified against when an e-mail is unknown, so that a
/// login takes as long whether or not the account exists.
fn dummy_hash() -> &'static str {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        hash_password(&generate_password(24)).unwrap_or_else(|_| {
            // A fixed valid hash still costs a full verification.
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$S5BbqSTuuFjI2yj9FNn1ImEPtWJYPk1VDIr7MDk3TXY".to_owned()
        })
    });
    &DUMMY
}

/// Verifies on a blocking thread (argon2 costs tens of milliseconds of CPU); `None` checks
/// against the dummy hash and never matches.
pub(crate) async fn verify_password_blocking(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
        verify_password(&password, &phc) && known
    })
    .await
    .unwrap_or(false)
}

pub(crate) async fn hash_password_blocking(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

/// Letters and digits without look-alikes (0/O, 1/l/I), so a generated password can be read
/// aloud and typed into a charger's configuration screen.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A random password of `len` characters from the thread CSPRNG.
pub(crate) fn generate_password(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())]))
        .collect()
}

/// 32 random bytes, base64url: session tokens, login-form keys, form nonces.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a token. A fast hash suffices: tokens carry 256 random bits.
pub(crate) fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse battery!", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify_password_blocking("anything".into(), None).await);
    }

    #[test]
    fn tokens_are_random_and_hashed_to_hex() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(token_sha256(&a).len(), 64);
        let p = generate_password(24);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
