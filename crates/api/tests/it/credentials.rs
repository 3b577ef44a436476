//! Secret rotation with its grace period, immediate revocation, and suspension.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{PASSWORD, TestApp, email, network, problem};

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_the_grace_period() {
    let app = TestApp::start(&network(1, 1)).await;
    let (_, client, old_secret) = app.apply(1).await;
    let old_token = app.token(&client, &old_secret).await;

    // Rotate with the token itself (its own client), a one-hour grace.
    let r = app
        .http
        .post(app.url("/v1/credentials/rotate"))
        .bearer_auth(&old_token)
        .json(&json!({"grace_period_s": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, old_secret);
    assert!(rotated["previous_secrets_expire_at"].is_string());

    // Both secrets work during the grace period, and so do tokens from either.
    let during = app.token(&client, &old_secret).await;
    app.token(&client, &new_secret).await;
    assert_eq!(
        app.get("/v1/stations", &old_token).await.status(),
        StatusCode::OK
    );
    // A token from the old secret lives no longer than the secret.
    let r = app
        .token_request(&format!(
            "grant_type=client_credentials&client_id={client}&client_secret={old_secret}"
        ))
        .await;
    let expires_in = r.json::<Value>().await.unwrap()["expires_in"]
        .as_u64()
        .unwrap();
    assert!(expires_in <= 3600, "{expires_in}");

    // After the grace period only the new secret works; old-secret tokens are dead.
    app.clock.advance(TimeDelta::seconds(3601));
    let r = app
        .token_request(&format!(
            "grant_type=client_credentials&client_id={client}&client_secret={old_secret}"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let fresh = app.token(&client, &new_secret).await;
    assert_eq!(
        app.get("/v1/stations", &fresh).await.status(),
        StatusCode::OK
    );
    problem(
        app.get("/v1/stations", &during).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
        None,
    )
    .await;

    // Too long a grace is refused, naming the field.
    let r = app
        .http
        .post(app.url("/v1/credentials/rotate"))
        .bearer_auth(&fresh)
        .json(&json!({"grace_period_s": 100_000_000}))
        .send()
        .await
        .unwrap();
    problem(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("grace_period_s"),
    )
    .await;
}

#[tokio::test]
async fn revocation_is_immediate_and_kills_the_secrets_tokens() {
    let app = TestApp::start(&network(1, 1)).await;
    let (_, client, secret) = app.apply(1).await;
    let token = app.token(&client, &secret).await;
    assert_eq!(
        app.get("/v1/stations", &token).await.status(),
        StatusCode::OK
    );

    let creds: Value = app
        .http
        .get(app.url("/v1/credentials"))
        .basic_auth(email(1), Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret_id = creds["items"][0]["secrets"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(creds["items"][0]["secrets"][0]["status"], "active");

    let r = app
        .http
        .post(app.url("/v1/credentials/revoke"))
        .basic_auth(email(1), Some(PASSWORD))
        .json(&json!({"client_id": client, "secret_id": secret_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["secrets"][0]["status"], "revoked");

    // The token it issued dies at once (it was cached: revocation evicts it).
    problem(
        app.get("/v1/stations", &token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
        None,
    )
    .await;
    let r = app
        .token_request(&format!(
            "grant_type=client_credentials&client_id={client}&client_secret={secret}"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Unknown secrets and other partners' clients are not found.
    let r = app
        .http
        .post(app.url("/v1/credentials/revoke"))
        .basic_auth(email(1), Some(PASSWORD))
        .json(&json!({"client_id": client, "secret_id": "nope"}))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND, "not_found", None).await;
    let (_, other_client, _) = app.apply(2).await;
    let r = app
        .http
        .post(app.url("/v1/credentials/rotate"))
        .basic_auth(email(1), Some(PASSWORD))
        .json(&json!({"client_id": other_client}))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND, "not_found", None).await;
}

#[tokio::test]
async fn suspension_stops_tokens_at_once_and_resuming_needs_new_ones() {
    let app = TestApp::start(&network(2, 0)).await;
    let token = app.partner(1, &["S001"]).await;
    assert_eq!(
        app.get("/v1/stations", &token).await.status(),
        StatusCode::OK
    );
    let partner_id: String = {
        let r: Value = app
            .http
            .get(app.url("/admin/v1/partners"))
            .bearer_auth(&app.operator_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["items"][0]["id"].as_str().unwrap().to_string()
    };
    let r = app
        .admin_post(
            &format!("/admin/v1/partners/{partner_id}/suspend"),
            json!({}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required"
    );
    let r = app
        .admin_post(
            &format!("/admin/v1/partners/{partner_id}/suspend"),
            json!({"reason": "contract breach"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "suspended");

    problem(
        app.get("/v1/stations", &token).await,
        StatusCode::UNAUTHORIZED,
        "partner_suspended",
        None,
    )
    .await;
    // No new tokens while suspended (RFC 6749 unauthorized_client).
    let creds: Value = app
        .http
        .get(app.url("/v1/credentials"))
        .basic_auth(email(1), Some(crate::PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let production = creds["items"][0]["client_id"].as_str().unwrap().to_string();
    let secret = app.production_secret(1, &production).await;
    let r = app
        .token_request(&format!(
            "grant_type=client_credentials&client_id={production}&client_secret={secret}"
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );

    let r = app
        .admin_post(
            &format!("/admin/v1/partners/{partner_id}/resume"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "active");
    // Old tokens stay dead; new ones work.
    problem(
        app.get("/v1/stations", &token).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
        None,
    )
    .await;
    let fresh = app.token(&production, &secret).await;
    assert_eq!(
        app.get("/v1/stations", &fresh).await.status(),
        StatusCode::OK
    );
}
