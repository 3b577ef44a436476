//! Every OAuth2 error shape of RFC 6749 §5.2 and every bearer error of RFC 6750 §3.1.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::{TestApp, network, problem};

/// Asserts an RFC 6749 §5.2 error: status, `error`, JSON, no-store.
async fn oauth_error(r: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(r.status(), status, "{error}");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    if error == "invalid_client" {
        let challenge = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Basic realm=\"openpile\""),
            "{challenge}"
        );
    }
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    assert_eq!(body["code"], error);
    assert_eq!(body["status"], status.as_u16());
    body
}

#[tokio::test]
async fn the_token_endpoint_follows_rfc_6749() {
    let app = TestApp::start(&network(1, 1)).await;
    let (_, client, secret) = app.apply(1).await;

    // Success with form fields, then with HTTP Basic (each part form-encoded, §2.3.1).
    let r = app
        .token_request(&format!(
            "grant_type=client_credentials&client_id={client}&client_secret={secret}&scope=stations%3Aread"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 7200);
    assert_eq!(body["scope"], "stations:read");
    assert!(body["access_token"].as_str().unwrap().starts_with("opat_"));
    let basic = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&client, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&unknown_parameter=ignored")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    let body: Value = basic.json().await.unwrap();
    assert_eq!(
        body["scope"],
        "stations:read charging:write events:read settlement:write"
    );

    let good = format!("client_id={client}&client_secret={secret}");
    // invalid_request: missing grant_type, repeated parameter, wrong media type, two methods.
    oauth_error(
        app.token_request(&good).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    oauth_error(
        app.token_request(&format!(
            "grant_type=client_credentials&scope=a&scope=b&{good}"
        ))
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let json = app
        .http
        .post(app.url("/oauth/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(json, StatusCode::BAD_REQUEST, "invalid_request").await;
    let both = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&client, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&{good}"))
        .send()
        .await
        .unwrap();
    oauth_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;

    // unsupported_grant_type.
    oauth_error(
        app.token_request(&format!("grant_type=password&{good}"))
            .await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;

    // invalid_client: none, wrong secret, unknown client, garbage Basic.
    oauth_error(
        app.token_request("grant_type=client_credentials").await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    oauth_error(
        app.token_request(&format!(
            "grant_type=client_credentials&client_id={client}&client_secret=opsk_wrong"
        ))
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    oauth_error(
        app.token_request(&format!(
            "grant_type=client_credentials&client_id=sbx_00000000000000000000000000000000&client_secret={secret}"
        ))
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let garbage = app
        .http
        .post(app.url("/oauth/token"))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode("no-colon")),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    oauth_error(garbage, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // invalid_scope: unknown, or not granted.
    oauth_error(
        app.token_request(&format!(
            "grant_type=client_credentials&{good}&scope=stations%3Awrite"
        ))
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
}

#[tokio::test]
async fn scopes_are_limited_to_what_the_contract_grants() {
    let app = TestApp::start(&network(1, 0)).await;
    let (id, _, _) = app.apply(1).await;
    let r = app
        .admin_post(
            &format!("/admin/v1/partner-applications/{id}/approve"),
            serde_json::json!({"contract": {"station_scope": {"kind": "all"}, "revenue_share": {"electricity": "0", "service": "0.1", "idle": "0"},
                "rate_limit": {"requests_per_second": 10, "burst": 10}, "settlement_cycle": "weekly",
                "scopes": ["events:read"]}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let client = r.json::<Value>().await.unwrap()["production_client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = app.production_secret(1, &client).await;
    oauth_error(
        app.token_request(&format!(
            "grant_type=client_credentials&client_id={client}&client_secret={secret}&scope=stations%3Aread"
        ))
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    // A token without stations:read is refused by station reads (RFC 6750 insufficient_scope).
    let token = app.token(&client, &secret).await;
    let r = app.get("/v1/stations", &token).await;
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"stations:read\""), "{challenge}");
    let body = problem(r, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    assert_eq!(body["scope"], "stations:read");
}

#[tokio::test]
async fn bearer_errors_follow_rfc_6750() {
    let app = TestApp::start(&network(1, 1)).await;
    let (_, client, secret) = app.apply(1).await;
    let token = app.token(&client, &secret).await;
    assert_eq!(
        app.get("/v1/stations", &token).await.status(),
        StatusCode::OK
    );

    // No credentials: a bare challenge, no error attribute (§3.1).
    let r = app.http.get(app.url("/v1/stations")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"openpile\"");
    problem(r, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    // Unknown and malformed tokens.
    for bad in ["opat_doesnotexist", "garbage", "opat_"] {
        let r = app.get("/v1/stations", bad).await;
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        problem(r, StatusCode::UNAUTHORIZED, "invalid_token", None).await;
    }
    // Expired: tokens live two hours.
    app.clock.advance(TimeDelta::hours(2));
    let r = app.get("/v1/stations", &token).await;
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    problem(r, StatusCode::UNAUTHORIZED, "token_expired", None).await;
    // A new one works again.
    let fresh = app.token(&client, &secret).await;
    assert_eq!(
        app.get("/v1/stations", &fresh).await.status(),
        StatusCode::OK
    );
}
