//! Where a partner's webhook may point, checked when the URL is saved: the one rule the Open
//! API (`PUT /v1/webhook`) and the partner portal both apply, so they accept the same URLs and
//! refuse the others with the same words.
//!
//! The URL must have [`HttpUrl`]'s shape, and unless the operator allows private targets for
//! the credential environment ([`PrivateTargets`]), its host must not plainly be a private
//! address: an IP literal that [`is_public_address`] refuses, or a `localhost` name. Other
//! names are not resolved here — what a name resolves to can change after saving, so the
//! delivery worker checks the addresses it really connects to at every delivery.

use crate::error::ValidationError;
use crate::event::is_public_address;
use crate::partner::application::HttpUrl;
use crate::partner::credential::Environment;

/// The field a webhook URL is reported under, in both faces.
const FIELD: &str = "url";

/// Why a private target is refused (the Open API's `validation_failed` reason).
const PRIVATE_REASON: &str =
    "must reach a public address (not loopback, private, link-local or similar)";

/// For which credential environments the operator lets webhooks reach private addresses
/// (loopback, RFC 1918, link-local, …): `[events] allow_private_webhook_targets` and
/// `allow_private_sandbox_webhook_targets`. Off by default: a partner-chosen URL could
/// otherwise make us call the operator's own network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrivateTargets {
    /// Webhooks of production credentials.
    pub production: bool,
    /// Webhooks of sandbox credentials (a local test receiver is the usual reason).
    pub sandbox: bool,
}

impl PrivateTargets {
    /// Whether webhooks of `environment` may reach private addresses.
    pub fn allowed_for(self, environment: Environment) -> bool {
        match environment {
            Environment::Sandbox => self.sandbox,
            Environment::Production => self.production,
        }
    }
}

/// Why a webhook URL is refused. Both convert to the [`ValidationError`] on field `url` that
/// the Open API answers; the portal words each kind in the partner's language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    /// Not an absolute http(s) URL without credentials or fragment; [`HttpUrl`] says why.
    #[error(transparent)]
    Malformed(ValidationError),
    /// An IP literal or `localhost` name that is not a public address, where private targets
    /// are not allowed.
    #[error("{FIELD}: {PRIVATE_REASON}")]
    Private,
}

impl From<WebhookUrlError> for ValidationError {
    fn from(e: WebhookUrlError) -> Self {
        match e {
            WebhookUrlError::Malformed(v) => v,
            WebhookUrlError::Private => ValidationError::new(FIELD, PRIVATE_REASON),
        }
    }
}

/// The host of an http(s) URL that [`HttpUrl`] accepted, without port or brackets.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// The webhook URL as it is stored (trimmed), or why it is refused: URLs that plainly cannot be
/// delivered to from here, IP literals and `localhost` names that are not public, unless
/// `allow_private` (see [`PrivateTargets::allowed_for`]).
pub fn check_webhook_url(url: &str, allow_private: bool) -> Result<String, WebhookUrlError> {
    let url = HttpUrl::parse(FIELD, url).map_err(WebhookUrlError::Malformed)?;
    if allow_private {
        return Ok(url.as_str().to_string());
    }
    let host = url_host(url.as_str())
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let private = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => !is_public_address(ip),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    };
    if private {
        return Err(WebhookUrlError::Private);
    }
    Ok(url.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_reach_public_addresses_unless_allowed() {
        for bad in [
            "http://127.0.0.1:8080/h",
            "http://localhost/h",
            "http://api.localhost/h",
            "http://[::1]:9/h",
            "http://169.254.169.254/latest/meta-data",
            "https://10.0.0.8/hook",
        ] {
            assert_eq!(
                check_webhook_url(bad, false),
                Err(WebhookUrlError::Private),
                "{bad}"
            );
            assert!(check_webhook_url(bad, true).is_ok(), "{bad}");
        }
        for good in [
            "https://partner.example.com/hook",
            "https://1.1.1.1:8443/hook",
            "https://[2400:3200::1]/hook",
        ] {
            assert_eq!(check_webhook_url(good, false).as_deref(), Ok(good));
        }
        for malformed in ["ftp://example.com/", "https://user:pw@example.com/", "nope"] {
            let e = check_webhook_url(malformed, true).unwrap_err();
            assert!(matches!(e, WebhookUrlError::Malformed(_)), "{malformed}");
            assert_eq!(ValidationError::from(e).field, "url", "{malformed}");
        }
    }

    #[test]
    fn hosts_are_compared_without_case_trailing_dot_or_surrounding_space() {
        for bad in ["http://LocalHost./h", "  http://127.0.0.1./h  "] {
            assert_eq!(check_webhook_url(bad, false), Err(WebhookUrlError::Private));
        }
        assert_eq!(
            check_webhook_url("  https://example.com/h ", false).as_deref(),
            Ok("https://example.com/h")
        );
        // A name that merely starts like a private literal is resolved (and checked) later.
        assert!(check_webhook_url("https://10.0.0.8.example.com/h", false).is_ok());
    }

    #[test]
    fn a_refused_url_reads_as_the_open_apis_validation_error() {
        assert_eq!(
            ValidationError::from(WebhookUrlError::Private),
            ValidationError::new(
                "url",
                "must reach a public address (not loopback, private, link-local or similar)"
            )
        );
        assert_eq!(
            WebhookUrlError::Private.to_string(),
            ValidationError::from(WebhookUrlError::Private).to_string()
        );
        let e = check_webhook_url("ftp://example.com/", false).unwrap_err();
        assert_eq!(
            ValidationError::from(e),
            ValidationError::new("url", "must be an absolute http:// or https:// URL")
        );
    }

    #[test]
    fn private_targets_are_allowed_per_environment() {
        let sandbox_only = PrivateTargets {
            production: false,
            sandbox: true,
        };
        assert!(sandbox_only.allowed_for(Environment::Sandbox));
        assert!(!sandbox_only.allowed_for(Environment::Production));
        let production_only = PrivateTargets {
            production: true,
            sandbox: false,
        };
        assert!(!production_only.allowed_for(Environment::Sandbox));
        assert!(production_only.allowed_for(Environment::Production));
        let default = PrivateTargets::default();
        assert!(!default.allowed_for(Environment::Sandbox));
        assert!(!default.allowed_for(Environment::Production));
    }
}
