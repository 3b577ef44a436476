//! The onboarding story: apply (sandbox at once), reject with a reason, resubmit, approve,
//! production credentials; and every kind of bad application.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{PASSWORD, TestApp, application, email, network, problem};

#[tokio::test]
async fn apply_reject_resubmit_approve_and_use_production() {
    let app = TestApp::start(&network(3, 2)).await;

    // Apply: pending, sandbox credentials at once.
    let r = app
        .http
        .post(app.url("/v1/partner-applications"))
        .json(&application(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["application"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["application"]["status"], "pending");
    assert_eq!(created["application"]["form"]["mobile"], "13800138000");
    let sandbox = &created["sandbox_credentials"];
    assert_eq!(sandbox["environment"], "sandbox");
    let secret = sandbox["client_secret"].as_str().unwrap();
    assert!(
        secret.starts_with("opsk_") && secret.len() >= 5 + 43,
        "≥ 256 bits"
    );

    // The sandbox token sees only sandbox stations.
    let sandbox_token = app
        .token(sandbox["client_id"].as_str().unwrap(), secret)
        .await;
    let list: Value = app
        .get("/v1/stations", &sandbox_token)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["S004", "S005"]);

    // Reject with a reason; the applicant reads it, with a notification.
    let r = app
        .admin_post(
            &format!("/admin/v1/partner-applications/{id}/reject"),
            json!({"revision": 1, "reason": "营业执照照片不清晰"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mine = app
        .http
        .get(app.url(&format!("/v1/partner-applications/{id}")))
        .basic_auth(email(1), Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), StatusCode::OK);
    let mine: Value = mine.json().await.unwrap();
    assert_eq!(mine["status"], "rejected");
    assert_eq!(mine["rejection_reason"], "营业执照照片不清晰");
    let notes: Value = app
        .http
        .get(app.url("/v1/notifications"))
        .basic_auth(email(1), Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = notes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["application_rejected", "application_received"]);
    assert_eq!(notes["items"][0]["email_status"], "not_configured");
    assert!(
        notes["items"][0]["body"]
            .as_str()
            .unwrap()
            .contains("营业执照照片不清晰")
    );

    // Approving a rejected application is refused; so is approving a stale revision.
    let r = app
        .admin_post(
            &format!("/admin/v1/partner-applications/{id}/approve"),
            json!({"contract": {"station_scope": {"kind": "all"}, "revenue_share": {"electricity": "0", "service": "0.10", "idle": "0"},
                   "rate_limit": {"requests_per_second": 10, "burst": 10}, "settlement_cycle": "monthly"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Resubmit a corrected form (with the sandbox token this time): revision 2, pending.
    let mut corrected = application(1);
    corrected.as_object_mut().unwrap().remove("password");
    corrected["company_name"] = json!("出行平台1科技有限公司");
    let r = app
        .http
        .put(app.url(&format!("/v1/partner-applications/{id}")))
        .bearer_auth(&sandbox_token)
        .json(&corrected)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let resubmitted: Value = r.json().await.unwrap();
    assert_eq!(resubmitted["status"], "pending");
    assert_eq!(resubmitted["revision"], 2);
    assert_eq!(resubmitted["revisions"].as_array().unwrap().len(), 2);
    assert_eq!(resubmitted["decisions"][0]["outcome"], "rejected");
    assert!(resubmitted.get("rejection_reason").is_none());

    let stale = app
        .admin_post(
            &format!("/admin/v1/partner-applications/{id}/approve"),
            json!({"revision": 1, "contract": {"station_scope": {"kind": "all"}, "revenue_share": {"electricity": "0", "service": "0.10", "idle": "0"},
                   "rate_limit": {"requests_per_second": 10, "burst": 10}, "settlement_cycle": "monthly"}}),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);

    // Approve revision 2 for two stations; the decision is audited.
    let production = app.approve(&id, &["S001", "S002"], 100, 100).await;
    assert!(production.starts_with("prd_"));
    let audit: Value = app
        .http
        .get(app.url(&format!("/admin/v1/partner-applications/{id}")))
        .bearer_auth(&app.operator_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["status"], "approved");
    assert_eq!(audit["decisions"][1]["decided_by"], "op-1");
    assert_eq!(
        audit["decisions"][1]["contract"]["station_scope"]["kind"],
        "list"
    );
    let trail = openpile_core::ports::OperatorStore::list_audit(
        &app.store,
        &openpile_core::page::PageRequest::first(10),
    )
    .await
    .unwrap();
    let actions: Vec<&str> = trail.items.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        ["partner_application.approve", "partner_application.reject"]
    );
    assert!(trail.items.iter().all(|a| a.actor == "operator:op-1"));

    // An approved application can no longer be changed.
    let r = app
        .http
        .put(app.url(&format!("/v1/partner-applications/{id}")))
        .basic_auth(email(1), Some(PASSWORD))
        .json(&corrected)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::CONFLICT, "invalid_state", None).await;

    // The production secret is issued to the applicant, once; its token sees the contract.
    let secret = app.production_secret(1, &production).await;
    let token = app.token(&production, &secret).await;
    let list: Value = app.get("/v1/stations", &token).await.json().await.unwrap();
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["S001", "S002"]);
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
    let envs: Vec<&str> = creds["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production", "sandbox"]);
    assert!(
        !creds.to_string().contains(&secret),
        "secrets are never shown again"
    );
}

async fn count_applications(app: &TestApp) -> usize {
    let r: Value = app
        .http
        .get(app.url("/admin/v1/partner-applications?limit=500"))
        .bearer_auth(&app.operator_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn bad_applications_name_the_field_and_store_nothing() {
    let app = TestApp::start(&network(1, 0)).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unified_social_credit_code",
            json!("91440300708461136X"),
            "unified_social_credit_code",
        ),
        ("mobile", json!("12800138000"), "mobile"),
        ("email", json!("not-an-email"), "email"),
        ("company_name", json!("  "), "company_name"),
        ("callback_base_url", json!("ftp://x"), "callback_base_url"),
        ("password", json!("short"), "password"),
        (
            "expected_monthly_volume",
            json!(-5),
            "expected_monthly_volume",
        ),
        (
            "expected_monthly_volume",
            json!("many"),
            "expected_monthly_volume",
        ),
        ("website", json!(42), "website"),
    ];
    for (key, value, field) in cases {
        let mut body = application(1);
        body[key] = value;
        let r = app
            .http
            .post(app.url("/v1/partner-applications"))
            .json(&body)
            .send()
            .await
            .unwrap();
        problem(
            r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        )
        .await;
    }
    // Missing and unknown fields.
    let mut body = application(1);
    body.as_object_mut().unwrap().remove("contact_name");
    let r = app
        .http
        .post(app.url("/v1/partner-applications"))
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("contact_name"),
    )
    .await;
    let mut body = application(1);
    body["is_admin"] = json!(true);
    let r = app
        .http
        .post(app.url("/v1/partner-applications"))
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("is_admin"),
    )
    .await;
    // Not JSON, wrong media type, too large.
    let r = app
        .http
        .post(app.url("/v1/partner-applications"))
        .header("content-type", "application/json")
        .body("{\"company_name\": ")
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::BAD_REQUEST, "bad_request", None).await;
    let r = app
        .http
        .post(app.url("/v1/partner-applications"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    )
    .await;
    let mut body = application(1);
    body["intended_use"] = json!("x".repeat(70_000));
    let r = app
        .http
        .post(app.url("/v1/partner-applications"))
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None).await;
    assert_eq!(count_applications(&app).await, 0, "nothing was stored");

    // A second application with the same e-mail or company is a conflict, storing nothing.
    app.apply(1).await;
    let mut same_email = application(2);
    same_email["email"] = json!(email(1));
    let r = app
        .http
        .post(app.url("/v1/partner-applications"))
        .json(&same_email)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::CONFLICT, "conflict", None).await;
    let mut same_company = application(3);
    same_company["unified_social_credit_code"] =
        application(1)["unified_social_credit_code"].clone();
    let r = app
        .http
        .post(app.url("/v1/partner-applications"))
        .json(&same_company)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::CONFLICT, "conflict", None).await;
    assert_eq!(count_applications(&app).await, 1);
}

#[tokio::test]
async fn applicants_see_only_their_own_application() {
    let app = TestApp::start(&network(1, 0)).await;
    let (first, _, _) = app.apply(1).await;
    let (second, _, _) = app.apply(2).await;
    let get = |id: String, n: u32, password: &'static str| {
        let app = &app;
        async move {
            app.http
                .get(app.url(&format!("/v1/partner-applications/{id}")))
                .basic_auth(email(n), Some(password))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get(first.clone(), 1, PASSWORD).await.status(),
        StatusCode::OK
    );
    // Another applicant's application does not exist for this one.
    problem(
        get(second.clone(), 1, PASSWORD).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let r = get(first.clone(), 1, "wrong password!!").await;
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    problem(r, StatusCode::UNAUTHORIZED, "invalid_credentials", None).await;
    let r = app
        .http
        .get(app.url(&format!("/v1/partner-applications/{first}")))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::start(&network(1, 0)).await;
    let r = app
        .http
        .get(app.url("/v1/stations"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    let body = problem(r, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    assert_eq!(body["request_id"], "trace-me-42");
    let r = app.http.get(app.url("/v1/stations")).send().await.unwrap();
    assert!(!r.headers()["x-request-id"].is_empty());
}
