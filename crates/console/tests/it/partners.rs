//! Partner screens in process: applying in the portal with inline errors, the review in the
//! console (reject with reason, approve with contract terms), resubmitting, and credentials
//! shown once, rotated and revoked.

use axum::http::StatusCode;
use openpile_core::operator::OperatorRole;

use crate::support::{Client, Env, PASSWORD, SANDBOX_STATION, STATION};

pub const PARTNER_EMAIL: &str = "dev@partner.example.com";

/// The application form filled in, with `changes` applied.
pub fn application<'a>(
    csrf: &'a str,
    nonce: &'a str,
    changes: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("csrf", csrf),
        ("nonce", nonce),
        ("company_name", "深圳市快充科技有限公司"),
        ("unified_social_credit_code", "91440300708461136T"),
        ("legal_representative", "李四"),
        ("contact_name", "张三"),
        ("mobile", "+86 138 0013 8000"),
        ("email", PARTNER_EMAIL),
        ("website", "https://partner.example.com"),
        (
            "intended_use",
            "在我们的出行 App 中展示充电站并为用户启动充电。",
        ),
        ("expected_monthly_volume", "50000"),
        ("callback_base_url", "https://partner.example.com/openpile"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    for (k, v) in changes {
        if let Some(slot) = f.iter_mut().find(|(name, _)| name == k) {
            slot.1 = v;
        }
    }
    f
}

/// Applies through the portal; returns the signed-in client and the secret page.
pub async fn apply(env: &Env) -> (Client, String) {
    let mut p = env.client();
    let form = p.get("/portal/apply").await;
    assert_eq!(form.status, StatusCode::OK);
    let (csrf, nonce) = (form.hidden("csrf"), form.hidden("nonce"));
    let r = p
        .post("/portal/apply", &application(&csrf, &nonce, &[]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (p, r.body)
}

fn field_value(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    html[at..]
        .split("value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_application_form_reports_every_bad_field_inline() {
    let env = Env::new().await;
    let mut p = env.client();
    let form = p.get("/portal/apply").await;
    assert!(
        form.body
            .contains("<label for=\"unified_social_credit_code\">统一社会信用代码")
    );
    let (csrf, nonce) = (form.hidden("csrf"), form.hidden("nonce"));
    let bad = application(
        &csrf,
        &nonce,
        &[
            ("unified_social_credit_code", "91440300708461136X"),
            ("mobile", "12345"),
            ("callback_base_url", "ftp://x"),
            ("password_confirm", "something else!!"),
        ],
    );
    let r = p.post("/portal/apply", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for msg in [
        "统一社会信用代码应为 18 位，且校验位正确。",
        "请填写中国大陆手机号",
        "请填写以 http:// 或 https:// 开头的地址",
        "两次输入的密码不一致。",
    ] {
        assert!(r.body.contains(msg), "missing {msg}");
    }
    assert!(
        r.body
            .contains("aria-invalid=\"true\" aria-describedby=\"hint-mobile err-mobile\"")
    );
    // What was typed stays; the password does not.
    assert!(r.body.contains("value=\"深圳市快充科技有限公司\""));
    assert!(!r.body.contains(PASSWORD));

    // The same in English.
    let r = p.post("/portal/apply?lang=en", &bad).await;
    assert!(
        r.body
            .contains("A unified social credit code has 18 characters")
    );
    assert!(!p.cookies.contains_key("openpile_portal"));
}

#[tokio::test]
async fn apply_reject_resubmit_approve_and_credentials() {
    let env = Env::new().await;

    // Apply: sandbox credentials at once, shown once, and signed in.
    let (mut p, page) = apply(&env).await;
    let sandbox_id = field_value(&page, "client-id");
    let sandbox_secret = field_value(&page, "client-secret");
    assert!(sandbox_id.starts_with("sbx_"), "{sandbox_id}");
    assert!(sandbox_secret.starts_with("opsk_"));
    assert!(page.contains("密钥仅显示这一次"));
    let home = p.get("/portal").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.body.contains("待审核"));
    assert!(home.body.contains(&sandbox_id));
    assert!(
        !home.body.contains(&sandbox_secret),
        "a secret is never shown again"
    );
    // Applicants see sandbox stations only.
    assert!(home.body.contains(SANDBOX_STATION));
    assert!(!home.body.contains(&format!("{STATION} ·")));

    // The reviewer finds it and rejects it, with a reason.
    let mut r = env.login(OperatorRole::Reviewer).await;
    let queue = r.get("/console/applications").await;
    assert!(
        queue.body.contains("深圳市快充科技有限公司"),
        "{}",
        queue.body
    );
    let id = queue
        .body
        .split("/console/applications/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let detail_path = format!("/console/applications/{id}");
    let detail = r.get(&detail_path).await;
    assert!(detail.body.contains("91440300708461136T"));
    let (csrf, nonce) = (detail.hidden("csrf"), detail.hidden("nonce"));
    let reject = format!("{detail_path}/reject");
    let empty = r
        .post(
            &reject,
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("revision", "1"),
                ("reason", " "),
            ],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("请填写原因"));
    let reason = "营业执照上的公司名称与填写不一致，请更正。";
    let done = r
        .post(
            &reject,
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("revision", "1"),
                ("reason", reason),
            ],
        )
        .await;
    assert_eq!(done.location(), format!("{detail_path}?done=rejected"));

    // The applicant reads the reason, corrects and resubmits.
    let home = p.get("/portal").await;
    assert!(home.body.contains(reason));
    let form = p.get("/portal/application").await;
    assert!(form.body.contains(reason));
    assert!(!form.body.contains("name=\"password\""));
    let (csrf, nonce) = (form.hidden("csrf"), form.hidden("nonce"));
    let mut fixed = application(
        &csrf,
        &nonce,
        &[("company_name", "深圳市快充新能源科技有限公司")],
    );
    fixed.retain(|(k, _)| !k.starts_with("password"));
    let r2 = p.post("/portal/application", &fixed).await;
    assert_eq!(r2.location(), "/portal?resubmitted=1", "{}", r2.body);
    let home = p.get("/portal?resubmitted=1").await;
    assert!(home.body.contains("已重新提交"));

    // The reviewer sees revision 2 with the change marked, and approves with terms.
    let detail = r.get(&detail_path).await;
    assert!(detail.body.contains("深圳市快充新能源科技有限公司"));
    assert!(detail.body.contains("已修改"));
    assert!(detail.body.contains("历史版本"));
    let (csrf, nonce) = (detail.hidden("csrf"), detail.hidden("nonce"));
    let approve = format!("{detail_path}/approve");
    let terms = |share: [&'static str; 3], scope: &'static str, ids: &'static str| {
        vec![
            ("scope_kind", scope),
            ("station_ids", ids),
            ("share_electricity", share[0]),
            ("share_service", share[1]),
            ("share_idle", share[2]),
            ("rps", "20"),
            ("burst", "40"),
            ("settlement_cycle", "monthly"),
            ("scope", "stations:read"),
            ("scope", "charging:write"),
            ("revision", "2"),
        ]
    };
    let mut bad = vec![("csrf", csrf.as_str()), ("nonce", nonce.as_str())];
    // The form offers the example: 10 % of the service fee, nothing of the others.
    assert_eq!(field_value(&detail.body, "share_electricity"), "0");
    assert_eq!(field_value(&detail.body, "share_service"), "0.10");
    assert_eq!(field_value(&detail.body, "share_idle"), "0");
    // Each share is checked on its own and its error is shown at its field; what was typed
    // comes back.
    bad.extend(terms(["1.5", "0.12345", ""], "list", "SH-0001, NOPE-9"));
    let refused = r.post(&approve, &bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["share_electricity", "share_service"] {
        assert!(
            refused.body.contains(&format!(
                "<p class=\"field-error\" id=\"err-{field}\">请输入 0 到 1 之间的小数，最多 4 位小数。</p>"
            )),
            "{field}: {}",
            refused.body
        );
    }
    assert!(refused.body.contains(
        "<p class=\"field-error\" id=\"err-share_idle\">请填写该项分成比例（不分成请填 0）。</p>"
    ));
    assert!(
        refused
            .body
            .contains("aria-describedby=\"share-hint err-share_service\"")
    );
    assert_eq!(field_value(&refused.body, "share_service"), "0.12345");
    assert!(refused.body.contains("以下站点编号不存在或无效：NOPE-9"));
    // The same in English.
    let (csrf_en, nonce_en) = (refused.hidden("csrf"), refused.hidden("nonce"));
    let mut bad_en = vec![("csrf", csrf_en.as_str()), ("nonce", nonce_en.as_str())];
    bad_en.extend(terms(["0", "-0.1", "0"], "list", "SH-0001"));
    let refused = r.post(&format!("{approve}?lang=en"), &bad_en).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains(
        "<p class=\"field-error\" id=\"err-share_service\">Enter a fraction from 0 to 1 with up to 4 decimals.</p>"
    ));
    assert!(!refused.body.contains("err-share_electricity"));
    let (csrf, nonce) = (refused.hidden("csrf"), refused.hidden("nonce"));
    let mut good = vec![("csrf", csrf.as_str()), ("nonce", nonce.as_str())];
    good.extend(terms(["0", "0.1", "0.0250"], "list", "SH-0001"));
    // Back in Chinese (the language sticks to the session) for the rest of the journey.
    let ok = r.post(&format!("{approve}?lang=zh"), &good).await;
    assert_eq!(
        ok.location(),
        format!("{detail_path}?done=approved"),
        "{}",
        ok.body
    );
    let detail = r.get(ok.location()).await;
    assert!(detail.body.contains("已批准该申请"));
    // The decision shows the contract's rate card fee by fee, in the reviewer's language.
    assert!(
        detail
            .body
            .contains("分成比例: 电费 0 · 服务费 0.1 · 占位费 0.025"),
        "{}",
        detail.body
    );
    assert!(
        !detail.body.contains("/approve\""),
        "decided: no more forms"
    );

    // The partner now sees its contract stations and a production credential without a
    // secret; issuing one shows it once.
    let home = p.get("/portal").await;
    assert!(home.body.contains("已开通"));
    assert!(home.body.contains(&format!("{STATION} ·")));
    let prod = home
        .body
        .split("/portal/credentials/prd_")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .map(|s| format!("prd_{s}"))
        .unwrap();
    let csrf = home.hidden("csrf");
    let nonce = home.hidden("nonce");
    let issued = p
        .post(
            &format!("/portal/credentials/{prod}/rotate"),
            &[("csrf", &csrf), ("nonce", &nonce)],
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    assert_eq!(field_value(&issued.body, "client-id"), prod);
    assert!(field_value(&issued.body, "client-secret").starts_with("opsk_"));
    let twice = p
        .post(
            &format!("/portal/credentials/{prod}/rotate"),
            &[("csrf", &csrf), ("nonce", &nonce)],
        )
        .await;
    assert_eq!(
        twice.status,
        StatusCode::CONFLICT,
        "a repeat issues no second secret"
    );

    // Revoke the sandbox secret.
    let home = p.get("/portal").await;
    let revoke_path = home
        .body
        .split(&format!("/portal/credentials/{sandbox_id}/secrets/"))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(|s| format!("/portal/credentials/{sandbox_id}/secrets/{s}"))
        .unwrap();
    let (csrf, nonce) = (home.hidden("csrf"), home.hidden("nonce"));
    let revoked = p
        .post(&revoke_path, &[("csrf", &csrf), ("nonce", &nonce)])
        .await;
    assert_eq!(revoked.location(), "/portal?revoked=1");
    let home = p.get("/portal?revoked=1").await;
    assert!(home.body.contains("已于"), "{}", home.body);
    assert!(home.body.contains("吊销"));

    let actions = env.audit_actions().await;
    for a in [
        "partner_application.submit",
        "partner_application.reject",
        "partner_application.resubmit",
        "partner_application.approve",
        "partner_credential.rotate",
        "partner_credential.revoke",
    ] {
        assert!(
            actions.contains(&a.to_owned()),
            "{a} not audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_portal_needs_a_session_and_checks_its_forms() {
    let env = Env::new().await;
    let mut anon = env.client();
    let r = anon.get("/portal/application").await;
    assert_eq!(r.location(), "/portal/login?next=/portal/application");
    let landing = anon.get("/portal").await;
    assert!(landing.body.contains("提交合作申请"));
    assert_eq!(
        anon.get("/portal/events").await.status,
        StatusCode::UNAUTHORIZED
    );

    let (mut p, _) = apply(&env).await;
    let home = p.get("/portal").await;
    let cred = home
        .body
        .split("/portal/credentials/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_owned();
    let r = p
        .post(
            &format!("/portal/credentials/{cred}/rotate"),
            &[("csrf", "forged"), ("nonce", "n")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Sign out, then in again (wrong password first), and back to where we were going.
    let csrf = home.hidden("csrf");
    let out = p.post("/portal/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/portal/login?bye=1");
    assert!(!p.cookies.contains_key("openpile_portal"));
    let form = p.get("/portal/login?next=/portal/application").await;
    let key = form.hidden("csrf");
    let wrong = p
        .sign_in(
            "/portal/login",
            &key,
            "/portal/application",
            crate::partners::PARTNER_EMAIL,
            "not the password",
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let right = p
        .sign_in(
            "/portal/login",
            &key,
            "/portal/application",
            crate::partners::PARTNER_EMAIL,
            PASSWORD,
        )
        .await;
    assert_eq!(right.location(), "/portal/application");
    assert_eq!(p.get("/portal/application").await.status, StatusCode::OK);
}

#[tokio::test]
async fn only_reviewers_and_admins_review_applications() {
    let env = Env::new().await;
    for role in [OperatorRole::Operations, OperatorRole::Finance] {
        let mut c = env.login(role).await;
        assert_eq!(
            c.get("/console/applications").await.status,
            StatusCode::FORBIDDEN
        );
        assert!(
            !c.get("/console")
                .await
                .body
                .contains("/console/applications")
        );
    }
    let mut admin = env.login(OperatorRole::Admin).await;
    assert!(
        admin
            .get("/console")
            .await
            .body
            .contains("href=\"/console/applications\"")
    );
}

#[tokio::test]
async fn without_partner_services_the_partner_screens_do_not_exist() {
    use tower::ServiceExt as _;
    let env = Env::new().await;
    let app = env.without_partners();
    for path in ["/portal", "/portal/apply", "/console/applications"] {
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        // The console page needs a login first; the portal is simply absent.
        assert!(
            res.status() == StatusCode::NOT_FOUND || res.status() == StatusCode::SEE_OTHER,
            "{path}: {}",
            res.status()
        );
    }
    let req = axum::http::Request::get("/portal")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        app.oneshot(req).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}
