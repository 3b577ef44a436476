//! The Open API's implementation of core's [`CredentialCrypto`], on the workspace's one secrets
//! crate ([`openpile_secrets`]): argon2id for applicant passwords (run on the blocking pool),
//! SHA-256 for client secrets and access tokens (256 bits from the OS CSPRNG each, so a fast
//! digest is safe and keeps token checks cheap), base64url text for what is shown to partners.

use async_trait::async_trait;
use openpile_core::partner::ports::{CredentialCrypto, CryptoError};
use openpile_secrets::{self as secrets, HashCost};

/// How much an applicant password hash costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordCost {
    /// OWASP's minimum for argon2id: 19 MiB, 2 passes.
    #[default]
    Standard,
    /// 1 MiB, 1 pass: for tests and benchmarks only, where many accounts are made.
    Light,
}

impl PasswordCost {
    fn hash_cost(self) -> HashCost {
        match self {
            Self::Standard => HashCost::Standard,
            Self::Light => HashCost::Light,
        }
    }
}

/// argon2id + SHA-256 + the OS random source, as every other face hashes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiCrypto {
    pub password_cost: PasswordCost,
}

impl ApiCrypto {
    pub fn new(password_cost: PasswordCost) -> Self {
        Self { password_cost }
    }
}

#[async_trait]
impl CredentialCrypto for ApiCrypto {
    fn random_secret(&self) -> String {
        secrets::random_token()
    }

    fn digest(&self, value: &str) -> String {
        secrets::token_sha256(value)
    }

    async fn hash_password(&self, password: &str) -> Result<String, CryptoError> {
        let cost = self.password_cost.hash_cost();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || secrets::hash_password_with(&password, cost))
            .await
            .map_err(|e| CryptoError(Box::new(e)))?
            .map_err(|e| CryptoError(Box::new(e)))
    }

    async fn verify_password(&self, password: &str, hash: &str) -> bool {
        // The parameters stored in the PHC string decide the cost, whatever ours are.
        secrets::verify_password_blocking(password.to_owned(), hash.to_owned()).await
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
        assert!(h.contains("m=1024,t=1"), "{h}");
        assert!(c.verify_password("correct horse battery", &h).await);
        assert!(!c.verify_password("correct horse battery!", &h).await);
        assert!(!c.verify_password("x", "not a hash").await);
        // A hash made by the shared crate (as the CLI and import make them) verifies here.
        let standard = secrets::hash_password("correct horse battery").unwrap();
        assert!(c.verify_password("correct horse battery", &standard).await);
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
