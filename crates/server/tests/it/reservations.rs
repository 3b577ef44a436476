//! Reservations end to end (issue 5): ReserveNow to a simulated charger through the Open API,
//! other partners kept out, cancellation, expiry by our timer, and a session using the
//! reservation.

use reqwest::StatusCode;
use serde_json::json;

use crate::sessions::{Env, fast};

#[tokio::test]
async fn a_reservation_holds_the_connector_against_other_partners_until_cancelled() {
    let env = Env::start().await;
    let p1 = env.partner(1).await;
    let p2 = env.partner(2).await;
    let _cp = env.charger("SH0101-04", fast()).await;

    let r = env
        .post(
            "/v1/reservations",
            &p1.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "rsv-1", "duration_s": 120}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["status"], "active");
    let rid = r.body["id"].as_str().unwrap().to_string();
    env.wait_connector("SH0101-04-1", |s| s == "reserved").await;

    // The same order again is the same reservation; other content is a conflict.
    let again = env
        .post(
            "/v1/reservations",
            &p1.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "rsv-1", "duration_s": 120}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], rid.as_str());
    env.post(
        "/v1/reservations",
        &p1.token,
        json!({"connector_id": "SH0101-04-1", "partner_order_id": "rsv-1", "duration_s": 60}),
    )
    .await
    .problem(409, "order_conflict");

    // Another partner can neither start nor reserve there, nor see the reservation.
    env.post(
        "/v1/sessions",
        &p2.token,
        json!({"connector_id": "SH0101-04-1", "partner_order_id": "o-1"}),
    )
    .await
    .problem(409, "connector_reserved");
    env.post(
        "/v1/reservations",
        &p2.token,
        json!({"connector_id": "SH0101-04-1", "partner_order_id": "rsv-2", "duration_s": 60}),
    )
    .await
    .problem(409, "connector_reserved");
    env.get(&format!("/v1/reservations/{rid}"), &p2.token)
        .await
        .problem(404, "not_found");
    env.post(
        &format!("/v1/reservations/{rid}/cancel"),
        &p2.token,
        json!({}),
    )
    .await
    .problem(404, "not_found");
    // Longer than the maximum is refused.
    let r = env
        .post(
            "/v1/reservations",
            &p2.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "rsv-3", "duration_s": 121}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:#}", r.body);
    assert_eq!(r.body["field"], "duration_s");

    let c = env
        .post(
            &format!("/v1/reservations/{rid}/cancel"),
            &p1.token,
            json!({}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{:#}", c.body);
    assert_eq!(c.body["status"], "cancelled");
    env.wait_connector("SH0101-04-1", |s| s == "available")
        .await;
    let again = env
        .post(
            &format!("/v1/reservations/{rid}/cancel"),
            &p1.token,
            json!({}),
        )
        .await;
    assert_eq!(
        again.problem(409, "reservation_not_active")["state"],
        "cancelled"
    );
    // The connector is free for the other partner now.
    env.start_session(&p2, "SH0101-04-1", "o-2").await;

    let types = env.event_types(&p1, &format!("reservation:{rid}")).await;
    assert_eq!(types, ["reservation.created", "reservation.cancelled"]);
    assert!(
        env.event_types(&p2, &format!("reservation:{rid}"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_reservation_expires_by_our_timer() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let _cp = env.charger("SH0101-04", fast()).await;
    let r = env
        .post(
            "/v1/reservations",
            &p.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "rsv-1", "duration_s": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let rid = r.body["id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + crate::sessions::WAIT;
    let expired = loop {
        let g = env.get(&format!("/v1/reservations/{rid}"), &p.token).await;
        if g.body["status"] != "active" {
            break g.body;
        }
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(expired["status"], "expired");
    assert!(expired["ended_at"].is_string());
    env.wait_connector("SH0101-04-1", |s| s == "available")
        .await;
    assert_eq!(
        env.event_types(&p, &format!("reservation:{rid}")).await,
        ["reservation.created", "reservation.expired"]
    );
}

#[tokio::test]
async fn a_session_with_the_reservation_uses_it() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let _cp = env.charger("SH0101-04", fast()).await;
    let r = env
        .post(
            "/v1/reservations",
            &p.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "rsv-1", "duration_s": 120}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    let rid = r.body["id"].as_str().unwrap().to_string();
    env.wait_connector("SH0101-04-1", |s| s == "reserved").await;
    let s = env
        .post(
            "/v1/sessions",
            &p.token,
            json!({"connector_id": "SH0101-04-1", "partner_order_id": "o-1",
                   "reservation_id": rid, "wait_s": 10}),
        )
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{:#}", s.body);
    assert_eq!(s.body["status"], "charging");
    assert_eq!(s.body["reservation_id"], rid.as_str());
    let used = env.get(&format!("/v1/reservations/{rid}"), &p.token).await;
    assert_eq!(used.body["status"], "used");
    assert_eq!(used.body["session_id"], s.body["id"]);
    assert_eq!(
        env.event_types(&p, &format!("reservation:{rid}")).await,
        ["reservation.created", "reservation.used"]
    );
    // A used reservation cannot be used again.
    env.post(
        "/v1/sessions",
        &p.token,
        json!({"connector_id": "SH0101-04-1", "partner_order_id": "o-2",
               "reservation_id": rid}),
    )
    .await
    .problem(409, "reservation_not_active");
}
