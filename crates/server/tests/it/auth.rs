//! Operator login, bearer tokens (expired, revoked, unknown) and role checks.

use chrono::{TimeDelta, Utc};
use openpile_core::operator::OperatorRole;
use openpile_secrets as secrets;
use openpile_testkit::{TEST_PASSWORD, TestApp};
use reqwest::Method;
use serde_json::json;

use crate::{call, get, post};

#[tokio::test]
async fn an_operator_logs_in_and_uses_the_token() {
    let app = TestApp::spawn().await;
    let op = app.create_operator(OperatorRole::Operations).await;
    let r = call(
        &app,
        Method::POST,
        "/admin/v1/login",
        None,
        Some(json!({ "email": op.email.as_str().to_uppercase(), "password": TEST_PASSWORD })),
    )
    .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    let token = r.body["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    let expires: chrono::DateTime<Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - Utc::now();
    assert!(
        ttl > TimeDelta::hours(11) && ttl <= TimeDelta::hours(12),
        "{ttl}"
    );

    let me = get(&app, "/admin/v1/me", token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], op.email.as_str());
    assert_eq!(me.body["role"], "operations");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_emails_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let op = app.create_operator(OperatorRole::Admin).await;
    let wrong = call(
        &app,
        Method::POST,
        "/admin/v1/login",
        None,
        Some(json!({ "email": op.email.as_str(), "password": "not-the-password" })),
    )
    .await;
    let unknown = call(
        &app,
        Method::POST,
        "/admin/v1/login",
        None,
        Some(json!({ "email": "nobody@example.com", "password": TEST_PASSWORD })),
    )
    .await;
    for r in [&wrong, &unknown] {
        let p = r.problem(401, "invalid_credentials");
        assert_eq!(p["detail"], wrong.body["detail"]);
    }
    let malformed = call(
        &app,
        Method::POST,
        "/admin/v1/login",
        None,
        Some(json!({ "email": "not-an-email" , "password": "x"})),
    )
    .await;
    malformed.invalid("email");
    let missing = call(
        &app,
        Method::POST,
        "/admin/v1/login",
        None,
        Some(json!({ "email": "a@b.cn" })),
    )
    .await;
    missing.invalid("password");
}

#[tokio::test]
async fn requests_without_a_token_get_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let r = call(&app, Method::GET, "/admin/v1/stations", None, None).await;
    r.problem(401, "unauthorized");
    assert_eq!(
        r.headers["www-authenticate"],
        "Bearer realm=\"openpile-admin\""
    );
    let r = get(&app, "/admin/v1/stations", "made-up-token").await;
    r.problem(401, "unauthorized");
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    // Basic is not a bearer token.
    let r = app
        .client
        .get(app.url("/admin/v1/stations"))
        .basic_auth("ops", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let op = app.create_operator(OperatorRole::Admin).await;
    let (token, hash) = secrets::new_token();
    let now = Utc::now();
    app.stores
        .operators
        .create_operator_token(
            &hash,
            &op.id,
            now - TimeDelta::hours(13),
            now - TimeDelta::hours(1),
        )
        .await
        .unwrap();
    let r = get(&app, "/admin/v1/me", &token).await;
    r.problem(401, "unauthorized");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn logout_revokes_the_token_and_only_that_token() {
    let app = TestApp::spawn().await;
    let op = app.create_operator(OperatorRole::Admin).await;
    let first = app.login(op.email.as_str(), TEST_PASSWORD).await;
    let second = app.login(op.email.as_str(), TEST_PASSWORD).await;
    let r = call(&app, Method::POST, "/admin/v1/logout", Some(&first), None).await;
    assert_eq!(r.status, 204);
    get(&app, "/admin/v1/me", &first)
        .await
        .problem(401, "unauthorized");
    assert_eq!(get(&app, "/admin/v1/me", &second).await.status, 200);
    // The token is stored only as its hash.
    let db = std::fs::read(&app.db_path).unwrap();
    let wal = std::fs::read(app.db_path.with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!contains(&bytes, second.as_bytes()));
    }
}

#[tokio::test]
async fn roles_limit_network_writes_and_the_audit_trail() {
    let app = TestApp::spawn().await;
    app.import_demo().await;
    let finance = app.login_as(OperatorRole::Finance).await;
    let reviewer = app.login_as(OperatorRole::Reviewer).await;
    let operations = app.login_as(OperatorRole::Operations).await;

    for token in [&finance, &reviewer] {
        // Reading is fine for every operator.
        assert_eq!(get(&app, "/admin/v1/stations", token).await.status, 200);
        let r = post(&app, "/admin/v1/stations/SH-0101/retire", token, json!({})).await;
        r.problem(403, "forbidden");
        assert!(
            r.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("insufficient_scope")
        );
        let r = post(
            &app,
            "/admin/v1/chargers/SH0101-01/password",
            token,
            json!({}),
        )
        .await;
        r.problem(403, "forbidden");
    }
    // Nothing changed.
    let s = get(&app, "/admin/v1/stations/SH-0101", &finance).await;
    assert!(s.body["retired_at"].is_null());

    // The audit trail is for admins only.
    get(&app, "/admin/v1/audit", &operations)
        .await
        .problem(403, "forbidden");
    let admin = app.login_admin().await;
    let audit = get(&app, "/admin/v1/audit", &admin).await;
    assert_eq!(audit.status, 200);
    let actions: Vec<_> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(actions.iter().any(|a| a == "operator.login"), "{actions:?}");
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
