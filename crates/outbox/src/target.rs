//! Server-side request forgery guard for webhook URLs. A partner chooses the URL we POST to, so
//! without a guard it could make us call our own admin port, the cloud metadata service or a
//! machine on the operator's network. The check runs where it cannot be dodged: in the DNS
//! resolver the HTTP client connects through, on the very addresses it will connect to — a
//! name that resolved to a public address when the webhook was saved and to 127.0.0.1 now (DNS
//! rebinding) is refused now. URLs with an IP literal never reach a resolver and are checked
//! before the request. Proxies are off, so nothing resolves names on our behalf.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use openpile_core::event::is_public_address;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a URL may not be called.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("the URL is not a valid absolute http(s) URL")]
    InvalidUrl,
    #[error("{host} resolves only to non-public addresses, which webhooks may not reach")]
    PrivateAddress { host: String },
    #[error("{host} does not resolve")]
    Unresolvable { host: String },
}

/// Checks the host of `url` if it is an IP literal (names are checked at connect time).
pub fn check_literal(url: &reqwest::Url, allow_private: bool) -> Result<(), TargetError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::InvalidUrl);
    }
    let host = url.host_str().ok_or(TargetError::InvalidUrl)?;
    // IPv6 literals keep their brackets in the host string.
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let Ok(ip) = literal.parse::<IpAddr>() else {
        return Ok(());
    };
    if allow_private || is_public_address(ip) {
        Ok(())
    } else {
        Err(TargetError::PrivateAddress {
            host: ip.to_string(),
        })
    }
}

/// The resolver webhook clients connect through: the system resolver, keeping only the
/// addresses webhooks may reach.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| TargetError::Unresolvable { host: host.clone() })?
                .collect();
            if found.is_empty() {
                return Err(TargetError::Unresolvable { host }.into());
            }
            // A name with public and private addresses keeps the public ones: the private
            // ones are never tried.
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allow_private || is_public_address(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(TargetError::PrivateAddress { host }.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client for webhooks: guarded resolver, no proxy, no redirects, bounded time.
pub fn client(
    allow_private: bool,
    connect_timeout: std::time::Duration,
    request_timeout: std::time::Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("OpenPile-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Finds the refusal in a failed request's error chain, if that is why it failed.
pub fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<TargetError> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(t) = e.downcast_ref::<TargetError>() {
            return Some(t.clone());
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn ip_literals_are_checked_before_the_request() {
        assert!(check_literal(&url("http://127.0.0.1:8080/h"), false).is_err());
        assert!(check_literal(&url("http://[::1]/h"), false).is_err());
        assert!(check_literal(&url("http://169.254.169.254/latest"), false).is_err());
        assert!(check_literal(&url("http://127.0.0.1:8080/h"), true).is_ok());
        assert!(check_literal(&url("https://1.1.1.1/h"), false).is_ok());
        assert!(check_literal(&url("https://example.com/h"), false).is_ok());
        assert_eq!(
            check_literal(&url("ftp://1.1.1.1/h"), true),
            Err(TargetError::InvalidUrl)
        );
    }

    #[tokio::test]
    async fn names_that_resolve_to_loopback_are_refused_at_connect_time() {
        let c = client(
            false,
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(2),
        )
        .unwrap();
        let err = c.get("http://localhost:9/").send().await.unwrap_err();
        assert!(
            matches!(refusal(&err), Some(TargetError::PrivateAddress { .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn allowed_private_targets_resolve() {
        let r = GuardedResolver {
            allow_private: true,
        };
        let addrs: Vec<SocketAddr> = r
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        assert!(!addrs.is_empty());
    }
}
