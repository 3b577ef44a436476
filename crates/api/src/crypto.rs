//! The Open API's implementation of core's [`CredentialCrypto`]: argon2id for applicant
//! passwords (run on the blocking pool), SHA-256 for client secrets and access tokens (256 bits
//! from the OS CSPRNG each, so a fast digest is safe and keeps token checks cheap), base64url
//! text for what is shown to partners.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openpile_core::partner::ports::{CredentialCrypto, CryptoError};
use sha2::{Digest, Sha256};

/// How much an applicant password hash costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordCost {
    /// OWASP's minimum for argon2id: 19 MiB, 2 passes.
    #[default]
    Standard,
    /// 1 MiB, 1 pass: for tests and benchmarks only, where many accounts are made.
    Light,
}

/// argon2id + SHA-256 + the OS random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiCrypto {
    pub password_cost: PasswordCost,
}

impl ApiCrypto {
    pub fn new(password_cost: PasswordCost) -> Self {
        Self { password_cost }
    }

    fn argon(self) -> Result<Argon2<'static>, CryptoError> {
        Ok(match self.password_cost {
            PasswordCost::Standard => Argon2::default(),
            PasswordCost::Light => Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(1024, 1, 1, None).map_err(|e| CryptoError(Box::new(e)))?,
            ),
        })
    }
}

#[async_trait]
impl CredentialCrypto for ApiCrypto {
    fn random_secret(&self) -> String {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn digest(&self, value: &str) -> String {
        hex::encode(Sha256::digest(value.as_bytes()))
    }

    async fn hash_password(&self, password: &str) -> Result<String, CryptoError> {
        let argon = self.argon()?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| CryptoError(e.to_string().into()))
        })
        .await
        .map_err(|e| CryptoError(Box::new(e)))?
    }

    async fn verify_password(&self, password: &str, hash: &str) -> bool {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        tokio::task::spawn_blocking(move || {
            // The parameters stored in the PHC string decide the cost, whatever ours are.
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let c = ApiCrypto::new(PasswordCost::Light);
        let h = c.hash_password("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(c.verify_password("correct horse battery", &h).await);
        assert!(!c.verify_password("correct horse battery!", &h).await);
        assert!(!c.verify_password("x", "not a hash").await);
    }

    #[test]
    fn secrets_are_256_bit_and_digests_are_sha256_hex() {
        let c = ApiCrypto::default();
        let a = c.random_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, c.random_secret());
        assert_eq!(
            c.digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
