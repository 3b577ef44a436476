//! The webhook request: the JSON body every channel shares and the Standard Webhooks headers
//! (<https://www.standardwebhooks.com/>, "Signature scheme"): `webhook-id` (the event id, the
//! same on every retry, so receivers drop duplicates), `webhook-timestamp` (Unix seconds of
//! this attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`;
//! during a secret rotation, one signature per valid secret, space-separated).

use openpile_core::event::{ClaimedDelivery, WebhookSecret};

/// The body of a delivery:
/// `{"id", "type", "created_at", "subject", "seq", "data"}` — `seq` (the event's place in the
/// partner's feed) is left out for test events. `data` is the stored payload, passed through.
pub fn body(delivery: &ClaimedDelivery) -> String {
    let mut out = String::with_capacity(delivery.data.len() + 256);
    out.push_str("{\"id\":\"");
    out.push_str(&delivery.event_id.to_string());
    out.push_str("\",\"type\":\"");
    out.push_str(delivery.event_type.as_str());
    out.push_str("\",\"created_at\":");
    out.push_str(&json_string(
        &delivery
            .event_created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    ));
    out.push_str(",\"subject\":");
    out.push_str(&json_string(&delivery.subject));
    if let Some(seq) = delivery.seq {
        out.push_str(",\"seq\":");
        out.push_str(&seq.to_string());
    }
    out.push_str(",\"data\":");
    out.push_str(&delivery.data);
    out.push('}');
    out
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A secret that does not decode (never stored by our API; reported, not panicked on).
#[derive(Debug, thiserror::Error)]
#[error("webhook secret is not valid base64")]
pub struct BadSecret;

/// The `webhook-signature` value for `body` sent at `timestamp`, signed with every secret.
pub fn signature(
    event_id: &str,
    timestamp: i64,
    body: &str,
    secrets: &[&WebhookSecret],
) -> Result<String, BadSecret> {
    let mut out = String::new();
    for secret in secrets {
        let signed = standardwebhooks::Webhook::new(secret.expose())
            .and_then(|w| w.sign(event_id, timestamp, body.as_bytes()))
            .map_err(|_| BadSecret)?;
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&signed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use openpile_core::event::{EventId, EventType, FeedKey};
    use openpile_core::ids::PartnerId;
    use openpile_core::partner::credential::Environment;

    fn secret(s: &str) -> WebhookSecret {
        WebhookSecret::new(s).unwrap()
    }

    fn claimed(seq: Option<i64>) -> ClaimedDelivery {
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        ClaimedDelivery {
            id: 1,
            feed: FeedKey {
                partner_id: PartnerId::parse("p1").unwrap(),
                environment: Environment::Sandbox,
            },
            url: "http://127.0.0.1:1/hook".into(),
            secret: secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            previous_secret: None,
            event_id: EventId::parse("0190a7a4-0000-7000-8000-000000000001").unwrap(),
            event_type: EventType::ConnectorStatusChanged,
            event_created_at: t,
            subject: "connector:C\"1".into(),
            data: r#"{"status":"available"}"#.into(),
            seq,
            round_attempts: 0,
            round_started_at: t,
            lease_until: t,
        }
    }

    #[test]
    fn the_body_is_json_with_the_payload_passed_through() {
        let b: serde_json::Value = serde_json::from_str(&body(&claimed(Some(7)))).unwrap();
        assert_eq!(b["id"], "0190a7a4-0000-7000-8000-000000000001");
        assert_eq!(b["type"], "connector.status_changed");
        assert_eq!(b["created_at"], "2026-03-04T05:06:07.000Z");
        assert_eq!(b["subject"], "connector:C\"1");
        assert_eq!(b["seq"], 7);
        assert_eq!(b["data"]["status"], "available");
        let test: serde_json::Value = serde_json::from_str(&body(&claimed(None))).unwrap();
        assert!(test.get("seq").is_none());
    }

    /// The example of the Standard Webhooks specification's reference implementations.
    #[test]
    fn signatures_match_the_specification_example() {
        let sig = signature(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
            &[&secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn during_a_rotation_both_secrets_sign() {
        let a = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let b = secret("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let both = signature("id", 1, "{}", &[&a, &b]).unwrap();
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature("id", 1, "{}", &[&a]).unwrap());
        assert_eq!(parts[1], signature("id", 1, "{}", &[&b]).unwrap());
    }
}
