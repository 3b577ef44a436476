//! CSRF protection: a synchronizer token in a hidden field of every form, derived with
//! HMAC-SHA256 from a secret the browser holds only in an HttpOnly cookie (the session token,
//! or before login a random login-form key). Another site can make the browser send the
//! cookie but cannot read it, so it cannot compute the field. Nothing is stored server-side,
//! which keeps it working across nodes.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Separates the uses of one secret, so a token for one purpose is useless for another.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    /// Forms of a logged-in operator.
    Session,
    /// The login form (keyed by the login-form cookie).
    Login,
    /// Forms of a signed-in partner (keyed by the portal session cookie).
    Portal,
    /// The portal's sign-in and application forms (keyed by the portal's form cookie).
    PortalLogin,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Session => b"openpile-console/csrf/session",
            Self::Login => b"openpile-console/csrf/login",
            Self::Portal => b"openpile-portal/csrf/session",
            Self::PortalLogin => b"openpile-portal/csrf/login",
        }
    }
}

fn mac(secret: &str, purpose: Purpose) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(purpose.label());
    mac
}

/// The hidden-field value for forms protected by `secret`.
pub(crate) fn token(secret: &str, purpose: Purpose) -> String {
    URL_SAFE_NO_PAD.encode(mac(secret, purpose).finalize().into_bytes())
}

/// Checks a submitted field in constant time.
pub(crate) fn verify(secret: &str, purpose: Purpose, submitted: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(submitted.trim()) else {
        return false;
    };
    mac(secret, purpose).verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_secret_and_purpose() {
        let t = token("session-a", Purpose::Session);
        assert!(verify("session-a", Purpose::Session, &t));
        assert!(!verify("session-b", Purpose::Session, &t));
        assert!(!verify("session-a", Purpose::Login, &t));
        assert!(!verify("session-a", Purpose::Session, ""));
        assert!(!verify("session-a", Purpose::Session, "not base64!"));
    }
}
