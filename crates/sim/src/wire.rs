//! The connection side of OCPP-J as a charger sees it: the connection URL (OCPP-J §3.1.1) and
//! the HTTP Basic credentials of Security Profile 1 (whitepaper A00.FR.201). Frames and
//! payloads are the ocpp16 crate's typed messages.

use base64::Engine as _;

use crate::error::SimError;

/// The connection URL: the endpoint, `/`, and the percent-encoded charge point id
/// (OCPP-J §3.1.1).
pub(crate) fn charger_url(endpoint: &str, id: &str) -> Result<String, SimError> {
    let lower = endpoint.to_ascii_lowercase();
    if !(lower.starts_with("ws://") || lower.starts_with("wss://")) {
        return Err(SimError::Url(endpoint.to_owned()));
    }
    let base = endpoint.trim_end_matches('/');
    Ok(format!("{base}/{}", percent_encode(id)))
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Authorization` header value of Security Profile 1: `Basic base64(id:password)`.
pub(crate) fn basic_auth(id: &str, password: &str) -> String {
    let raw = format!("{id}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_encoded_in_the_url() {
        assert_eq!(
            charger_url("ws://h:1/ocpp/", "RDAM 123").unwrap(),
            "ws://h:1/ocpp/RDAM%20123"
        );
        assert_eq!(
            charger_url("ws://h/ocpp", "CP-1").unwrap(),
            "ws://h/ocpp/CP-1"
        );
        assert!(charger_url("http://h/ocpp", "CP-1").is_err());
    }

    #[test]
    fn basic_auth_matches_rfc_7617() {
        // The example of RFC 7617 §2.
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }
}
