//! Passwords and bearer tokens: argon2 hashing for what people and chargers type, SHA-256 for
//! random tokens, and generators for both. The server's CLI, the import and the test kit use
//! these too, so every password in OpenPile is hashed the same way.

use std::sync::LazyLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use sha2::{Digest, Sha256};

/// Hashing failed (the OS random source failed, or parameters are broken).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// How much work a hash costs. Both produce argon2id PHC strings that [`verify_password`]
/// checks with the parameters stored in them, so hashes of either cost live side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashCost {
    /// OWASP's minimum for argon2id (19 MiB, 2 passes): every real password.
    Standard,
    /// 1 MiB, 1 pass: only for passwords that are public anyway (the demo network's charger
    /// passwords are in the repository) or made up by tests, where hashing dozens of them at
    /// full cost would only slow start-up.
    Light,
}

/// Argon2id as a PHC string, at standard cost.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    hash_password_with(password, HashCost::Standard)
}

/// Argon2id as a PHC string, at the given cost.
pub fn hash_password_with(password: &str, cost: HashCost) -> Result<String, HashError> {
    let argon = match cost {
        HashCost::Standard => Argon2::default(),
        HashCost::Light => Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).map_err(|e| HashError(e.to_string()))?,
        ),
    };
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True when `password` matches the PHC string. A malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody knows, checked against when an e-mail is unknown so that a
/// login takes as long whether or not the account exists.
pub fn dummy_hash() -> &'static str {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        hash_password(&generate_password(24)).unwrap_or_else(|_| {
            // A fixed valid hash still costs a full verification.
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$S5BbqSTuuFjI2yj9FNn1ImEPtWJYPk1VDIr7MDk3TXY".to_owned()
        })
    });
    &DUMMY
}

/// Argon2 costs tens of milliseconds of CPU: run it off the async workers.
pub async fn hash_password_blocking(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

pub async fn verify_password_blocking(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

/// Letters and digits only, so a generated password survives shells, CSV cells, URLs and
/// charger configuration screens unquoted; look-alikes (0/O, 1/l/I) are left out so it can be
/// read aloud. 57 symbols: 24 characters carry ~140 bits.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A random password of `len` characters from a CSPRNG (the thread RNG is ChaCha seeded by the
/// OS).
pub fn generate_password(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())]))
        .collect()
}

/// A new bearer token (32 random bytes, base64url) and the SHA-256 hex under which it is
/// stored. The token itself is shown once and never stored.
pub fn new_token() -> (String, String) {
    let token = random_token();
    let hash = token_sha256(&token);
    (token, hash)
}

/// 256 random bits, base64url: a bearer token, session id or CSRF key.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new webhook signing secret as Standard Webhooks defines it: `whsec_` + standard base64 of
/// 32 random bytes.
pub fn webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Checks a sign-in against an account that may not exist (`phc: None`): an unknown account is
/// verified against a dummy hash, so both cases cost the same and answer `false`.
pub async fn verify_account_password(password: String, phc: Option<String>) -> bool {
    let known = phc.is_some();
    let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
    verify_password_blocking(password, phc).await && known
}

/// The stored form of a token. A fast hash is right here: tokens carry 256 bits of randomness,
/// so nobody can brute-force them from the hash, and every request can be checked cheaply.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secrets_are_whsec_and_32_random_bytes() {
        use base64::engine::general_purpose::STANDARD;
        let (a, b) = (webhook_secret(), webhook_secret());
        assert_ne!(a, b);
        let body = a.strip_prefix("whsec_").expect("whsec_ prefix");
        assert_eq!(STANDARD.decode(body).unwrap().len(), 32);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify_account_password("anything".into(), None).await);
        let h = hash_password_with("correct horse battery", HashCost::Light).unwrap();
        assert!(verify_account_password("correct horse battery".into(), Some(h)).await);
    }

    #[test]
    fn hashes_verify_only_the_right_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse battery!", &h));
        assert!(!verify_password("x", "not a phc string"));
        let light = hash_password_with("correct horse battery", HashCost::Light).unwrap();
        assert!(light.contains("m=1024,t=1"), "{light}");
        assert!(verify_password("correct horse battery", &light));
    }

    #[test]
    fn generated_passwords_are_random_and_plain() {
        let a = generate_password(24);
        let b = generate_password(24);
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn tokens_are_256_bit_and_stored_by_hash() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), 43);
        assert_eq!(hash.len(), 64);
        assert_eq!(token_sha256(&token), hash);
        assert_ne!(new_token().0, token);
    }
}
