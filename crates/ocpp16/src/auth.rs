//! Security Profile 1/2 charger authentication: HTTP Basic on the WebSocket upgrade, the
//! username being the charge point identity and the password checked against its argon2 hash
//! ("Improved security for OCPP 1.6-J" §2, A00.FR.202–205).
//!
//! argon2 is deliberately slow, so verified passwords are remembered per charger, keyed by a
//! digest of the stored hash and of the password: a reconnect storm of 10,000 chargers costs one
//! argon2 run per charger, a changed password (new hash) is verified afresh, and a wrong password
//! always pays the full price. Plain passwords are never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier as _;
use argon2::password_hash::phc::PasswordHash;
use base64::Engine as _;
use openpile_core::ids::ChargerId;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Credentials from an `Authorization: Basic …` header. The password is bytes: [J] §6.2.2 sends
/// the raw AuthorizationKey bytes, which need not be UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub username: String,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl BasicCredentials {
    /// Parses the header value; `None` unless it is well-formed Basic credentials. The username
    /// ends at the first `:` (RFC 7617), which is why profile 1/2 identities cannot hold one.
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, encoded) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        let username = String::from_utf8(decoded[..colon].to_vec()).ok()?;
        Some(Self {
            username,
            password: decoded[colon + 1..].to_vec(),
        })
    }
}

type Digest32 = [u8; 32];

/// A password that verified against a hash.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Verified {
    hash: Digest32,
    password: Digest32,
}

/// Verifies charger passwords with a cache of successes and a cap on concurrent argon2 runs.
pub(crate) struct PasswordCheck {
    /// Mixed into every digest so the in-memory digests are useless outside this process.
    key: [u8; 16],
    verified: Mutex<HashMap<ChargerId, Verified>>,
    permits: Semaphore,
}

impl PasswordCheck {
    pub(crate) fn new(max_concurrent: usize) -> Self {
        Self {
            key: *uuid::Uuid::new_v4().as_bytes(),
            verified: Mutex::new(HashMap::new()),
            permits: Semaphore::new(max_concurrent.max(1)),
        }
    }

    fn digest(&self, what: &[u8]) -> Digest32 {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update((what.len() as u64).to_le_bytes());
        h.update(what);
        h.finalize().into()
    }

    /// Whether `password` matches `phc_hash`, the stored hash of `charger`'s password.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        charger: &ChargerId,
        phc_hash: &str,
        password: &[u8],
    ) -> bool {
        let entry = Verified {
            hash: self.digest(phc_hash.as_bytes()),
            password: self.digest(password),
        };
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(charger)
            .is_some_and(|v| *v == entry);
        if cached {
            return true;
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let hash = phc_hash.to_owned();
        let candidates = password_forms(password);
        let ok = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                tracing::warn!("stored OCPP password hash is not a PHC string");
                return false;
            };
            candidates
                .iter()
                .any(|pw| Argon2::default().verify_password(pw, &parsed).is_ok())
        })
        .await
        .unwrap_or(false);
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(charger.clone(), entry);
        }
        ok
    }
}

/// The forms a charger may send its AuthorizationKey in: as is, and, when it is a hex string,
/// the bytes it encodes ([J]'s example sends raw bytes, many chargers the hex text; protocol
/// reference §2 "Hex vs raw bytes"). And when raw bytes arrive, their hex text, in case the
/// hash was made of the hex form.
fn password_forms(password: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = vec![password.to_vec()];
    if password.len().is_multiple_of(2)
        && !password.is_empty()
        && password.iter().all(u8::is_ascii_hexdigit)
    {
        let decoded = password
            .chunks(2)
            .filter_map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
            })
            .collect::<Vec<u8>>();
        forms.push(decoded);
    }
    if !password.iter().all(|b| b.is_ascii_graphic()) {
        let hex: String = password.iter().map(|b| format!("{b:02X}")).collect();
        forms.push(hex.to_ascii_lowercase().into_bytes());
        forms.push(hex.into_bytes());
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn basic_credentials_parse() {
        let c = BasicCredentials::parse(&format!("Basic {}", b64(b"CP001:s3cr:et"))).unwrap();
        assert_eq!(c.username, "CP001");
        assert_eq!(c.password, b"s3cr:et");
        // [J] §6.2.2's example: raw key bytes after the colon.
        let j = BasicCredentials::parse("Basic QUwxMDAwOgABAgMEBQYH////////////////").unwrap();
        assert_eq!(j.username, "AL1000");
        assert_eq!(j.password[..4], [0, 1, 2, 3]);
        assert!(BasicCredentials::parse("Bearer abc").is_none());
        assert!(BasicCredentials::parse("Basic !!!").is_none());
        assert!(BasicCredentials::parse(&format!("Basic {}", b64(b"nocolon"))).is_none());
        assert!(!format!("{c:?}").contains("s3cr"));
    }

    #[test]
    fn hex_and_raw_forms_are_both_tried() {
        let forms = password_forms(b"0001ff");
        assert!(forms.contains(&vec![0, 1, 255]));
        let forms = password_forms(&[0, 1, 255]);
        assert!(forms.contains(&b"0001ff".to_vec()));
        assert!(forms.contains(&b"0001FF".to_vec()));
        assert_eq!(password_forms(b"plain-pass").len(), 1);
    }

    #[tokio::test]
    async fn verification_is_cached_per_hash() {
        let check = Arc::new(PasswordCheck::new(1));
        let cp = ChargerId::parse("CP1").unwrap();
        let hash = Argon2::default()
            .hash_password(b"right")
            .unwrap()
            .to_string();
        assert!(check.verify(&cp, &hash, b"right").await);
        assert!(!check.verify(&cp, &hash, b"wrong").await);
        assert!(check.verify(&cp, &hash, b"right").await);
        // A new hash (password changed) does not match the cached entry.
        let other = Argon2::default()
            .hash_password(b"next")
            .unwrap()
            .to_string();
        assert!(!check.verify(&cp, &other, b"right").await);
        assert!(check.verify(&cp, &other, b"next").await);
        assert!(!check.verify(&cp, "not-a-phc", b"next").await);
    }
}
