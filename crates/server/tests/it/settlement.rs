//! Settlement end to end (issue 7): sessions over simulated chargers (real OCPP 1.6J against
//! the real server) → CDRs → a statement for the period → the partner's report with deliberate
//! discrepancies → the expected categories → dispute resolution (accept ours, accept theirs,
//! credit CDRs) → confirmed → settled; and the bad inputs a report can have.
//!
//! Two gaps are bridged here, and said so:
//! - The settlement routes are served by a side router built from the running server's shared
//!   state (`openpile_api::statements::router` and `openpile_admin::statements::router`), until
//!   the server's startup merges them (then the side router merely duplicates them).
//! - A completed session's CDR is written by the sessions store in the same transaction
//!   (`store-sqlite` `settlement::insert_cdr`); where that is not wired yet, the test writes the
//!   CDR from the completed session's priced cost through the settlement store port.
//!
//! Settlement runs on a clock 45 days ahead of the chargers', so that the month the sessions
//! happened in is over and can be closed.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use openpile_admin::AdminSettings;
use openpile_core::clock::Clock;
use openpile_core::error::StoreError;
use openpile_core::ids::SessionId;
use openpile_core::pricing::PricedSession;
use openpile_core::settlement::cdr::{Cdr, CdrId, SessionCdr};
use openpile_core::settlement::ports::SettlementStore;
use openpile_core::settlement::service::{SettlementConfig, SettlementService};
use openpile_store_sqlite::SqliteStore;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::sessions::{Env, Partner, fast};

/// The finance department's clock: 45 days after the chargers'.
struct Later(Arc<dyn Clock>);

impl Clock for Later {
    fn now(&self) -> DateTime<Utc> {
        self.0.now() + Duration::days(45)
    }
}

/// The settlement routes on their own listener, over the running server's state.
struct Settlement {
    base: String,
    http: reqwest::Client,
    store: SqliteStore,
    operator: String,
}

/// A clock the test sets.
struct Manual(std::sync::Mutex<DateTime<Utc>>);

impl Manual {
    fn at(t: DateTime<Utc>) -> Arc<Manual> {
        Arc::new(Manual(std::sync::Mutex::new(t)))
    }

    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for Manual {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl Settlement {
    async fn start(env: &Env) -> Settlement {
        Self::start_with(env, Arc::new(Later(env.shared.clock.clone()))).await
    }

    /// The settlement routes with settlement on `clock`.
    async fn start_with(env: &Env, clock: Arc<dyn Clock>) -> Settlement {
        let shared = &env.shared;
        let store = SqliteStore::connect(shared.config.db.url.expose_secret())
            .await
            .unwrap();
        let service = Arc::new(SettlementService::new(
            Arc::new(store.clone()),
            shared.stores.partners.clone(),
            clock,
            shared.ids.clone(),
            SettlementConfig {
                time_zone: shared.config.local.tz(),
                ..SettlementConfig::default()
            },
        ));
        let api = openpile_api::ApiState::new(
            shared.partners.clone(),
            shared.catalog.clone(),
            shared.clock.clone(),
            openpile_api::ratelimit::PublicLimits::default(),
        );
        let admin = openpile_admin::AdminState {
            network: shared.stores.network.clone(),
            operators: shared.stores.operators.clone(),
            gateway: shared.gateway.clone(),
            clock: shared.clock.clone(),
            ids: shared.ids.clone(),
            settings: AdminSettings::default(),
        };
        // The partner API's document with the settlement paths, as the server will publish it.
        let mut doc = openpile_api::api_doc();
        doc.merge(openpile_api::statements::openapi());
        let router = openpile_api::statements::router(api, service.clone())
            .merge(openpile_admin::statements::router(
                openpile_admin::statements::StatementsAdminState {
                    admin,
                    settlement: service,
                },
            ))
            .route(
                "/openapi.json",
                axum::routing::get(move || {
                    let doc = doc.clone();
                    async move { axum::Json(doc) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let operator = finance_token(env).await;
        Settlement {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            store,
            operator,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value, String) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body, ctype)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, b, _) = self
            .send(
                self.http
                    .get(format!("{}{path}", self.base))
                    .bearer_auth(token),
            )
            .await;
        (s, b)
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, b, _) = self
            .send(
                self.http
                    .post(format!("{}{path}", self.base))
                    .bearer_auth(token)
                    .json(&body),
            )
            .await;
        (s, b)
    }

    async fn post_csv(&self, path: &str, token: &str, csv: String) -> (StatusCode, Value) {
        let (s, b, _) = self
            .send(
                self.http
                    .post(format!("{}{path}", self.base))
                    .bearer_auth(token)
                    .header("content-type", "text/csv")
                    .body(csv),
            )
            .await;
        (s, b)
    }

    async fn admin(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post(path, &self.operator, body).await
    }
}

/// A finance operator's token (settlement changes need finance or admin).
async fn finance_token(env: &Env) -> String {
    let shared = &env.shared;
    let now = Utc::now();
    shared
        .stores
        .operators
        .create_operator(
            "op-finance",
            &openpile_core::operator::Email::parse("finance@openpile.test").unwrap(),
            openpile_core::operator::OperatorRole::Finance,
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            now,
        )
        .await
        .unwrap();
    let (token, sha) = openpile_secrets::new_token();
    shared
        .stores
        .operators
        .create_operator_token(&sha, "op-finance", now, now + chrono::TimeDelta::days(1))
        .await
        .unwrap();
    token
}

/// Charges at least 100 Wh (a few seconds at the simulated car's power, enough for a few
/// fen) on `connector` for order `order`, stops, and waits for completion; returns the session
/// id.
async fn charge(env: &Env, p: &Partner, connector: &str, order: &str) -> String {
    let s = env.start_session(p, connector, order).await;
    let sid = s["id"].as_str().unwrap().to_string();
    env.wait_session(&p.token, &sid, "metered", |s| {
        s["status"] == "charging" && s["energy_wh"].as_i64().unwrap() >= 100
    })
    .await;
    let r = env
        .post(&format!("/v1/sessions/{sid}/stop"), &p.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
    env.wait_session(&p.token, &sid, "completed", |s| s["status"] == "completed")
        .await;
    sid
}

/// The session's CDR: written by the sessions store when that is wired, else here from the
/// completed session's final cost (see the module comment).
async fn cdr_of(env: &Env, st: &Settlement, sid: &str) -> Cdr {
    let id = CdrId::parse(sid).unwrap();
    match st.store.get_cdr(&id).await {
        Ok(cdr) => return cdr,
        Err(StoreError::NotFound) => {}
        Err(e) => panic!("{e}"),
    }
    let s = env
        .shared
        .stores
        .sessions
        .get_session(&SessionId::parse(sid).unwrap())
        .await
        .unwrap();
    let cost = s.cost.clone().unwrap();
    let meter_start = s.meter_start.unwrap();
    let cdr = Cdr::for_session(SessionCdr {
        session_id: s.id.clone(),
        partner_id: s.partner_id.clone(),
        partner_order_id: s.partner_order_id.clone(),
        station_id: s.station_id.clone(),
        charger_id: s.charger_id.clone(),
        connector_id: s.connector_id.clone(),
        started_at: s.started_at.unwrap(),
        stopped_at: s.stopped_at.unwrap(),
        meter_start,
        meter_stop: s.meter_last.unwrap_or(meter_start + s.energy),
        tariff_id: cost.tariff_id.clone(),
        time_zone: env.shared.config.local.timezone.clone(),
        priced: PricedSession {
            tariff_version: cost.tariff_version,
            lines: cost
                .lines
                .iter()
                .map(|l| openpile_core::pricing::PricedLine {
                    start: l.start,
                    end: l.end,
                    label: l.label,
                    energy: l.energy,
                    electricity_price: l.electricity_price,
                    service_price: l.service_price,
                    electricity_fee: l.electricity_fee,
                    service_fee: l.service_fee,
                })
                .collect(),
            idle: None,
            energy: cost.energy,
            electricity_fee: cost.electricity_fee,
            service_fee: cost.service_fee,
            idle_fee: cost.idle_fee,
            total: cost.total,
            meter_anomaly: cost.meter_anomaly,
        },
        created_at: s.stopped_at.unwrap(),
    })
    .unwrap();
    st.store
        .import_cdrs(std::slice::from_ref(&cdr))
        .await
        .unwrap();
    cdr
}

fn cents(v: &Value) -> i64 {
    let s = v.as_str().unwrap();
    let (yuan, fen) = s.split_once('.').unwrap();
    assert_eq!(fen.len(), 2, "{s}");
    let sign = if yuan.starts_with('-') { -1 } else { 1 };
    sign * (yuan.trim_start_matches('-').parse::<i64>().unwrap() * 100
        + fen.parse::<i64>().unwrap())
}

fn money(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

#[tokio::test]
async fn sessions_become_cdrs_a_statement_a_disputed_report_and_a_settlement() {
    let env = Env::start().await;
    let p = env.partner(71).await;
    let other = env.partner(72).await;
    let cp = env.charger("SH0101-01", fast()).await;
    let st = Settlement::start(&env).await;

    // Four sessions, four CDRs.
    let mut sids = Vec::new();
    for order in ["ORD-A", "ORD-B", "ORD-C", "ORD-D"] {
        sids.push(charge(&env, &p, "SH0101-01-1", order).await);
    }
    let mut cdrs = Vec::new();
    for sid in &sids {
        cdrs.push(cdr_of(&env, &st, sid).await);
    }
    for c in &cdrs {
        assert!(
            c.energy.0 > 0 && c.total > openpile_core::money::Money::ZERO,
            "{c:?}"
        );
    }

    // The partner reads its CDRs; another partner does not see them.
    let (s, list) = st.get("/v1/cdrs?limit=2", &p.token).await;
    assert_eq!(s, StatusCode::OK, "{list:#}");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let next = list["next_cursor"].as_str().unwrap();
    let (_, rest) = st
        .get(&format!("/v1/cdrs?limit=10&cursor={next}"), &p.token)
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    let (s, one) = st.get(&format!("/v1/cdrs/{}", sids[0]), &p.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["partner_order_id"], "ORD-A");
    assert_eq!(one["kind"], "session");
    assert_eq!(one["total"], format!("{:.2}", cdrs[0].total.amount()));
    assert!(!one["lines"].as_array().unwrap().is_empty());
    let (s, _) = st.get(&format!("/v1/cdrs/{}", sids[0]), &other.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The month of the sessions, in local time.
    let period = cdrs[0]
        .stopped_at
        .with_timezone(&env.shared.config.local.tz())
        .format("%Y-%m")
        .to_string();

    // An open draft first: the partner may not report yet.
    let (s, draft) = st
        .admin(
            "/admin/v1/statements",
            json!({"partner_id": p.id, "period": period}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{draft:#}");
    assert_eq!(draft["state"], "draft");
    assert_eq!(draft["totals"]["sessions"], 4);
    let sid = draft["id"].as_str().unwrap().to_string();
    let report_path = format!("/v1/statements/{sid}/report");
    let good_totals = |lines: &[(String, i64, i64)]| {
        json!({"energy_kwh": format!("{:.3}", lines.iter().map(|l| l.1).sum::<i64>() as f64 / 1000.0),
               "amount": money(lines.iter().map(|l| l.2).sum())})
    };
    let ours: Vec<(String, i64, i64)> = cdrs
        .iter()
        .map(|c| {
            (
                c.partner_order_id.clone().unwrap(),
                c.energy.0,
                cents(&json!(format!("{:.2}", c.total.amount()))),
            )
        })
        .collect();
    let as_json = |lines: &[(String, i64, i64)]| -> Value {
        json!({
            "lines": lines.iter().map(|(o, wh, c)| json!({
                "order_id": o, "energy_kwh": format!("{:.3}", *wh as f64 / 1000.0), "amount": money(*c)
            })).collect::<Vec<_>>(),
            "totals": good_totals(lines),
        })
    };
    let (s, body) = st.post(&report_path, &p.token, as_json(&ours)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body:#}");
    assert_eq!(body["code"], "invalid_state");
    assert!(
        body["detail"].as_str().unwrap().contains("not closed"),
        "{body:#}"
    );

    // Closed: the statement gathers its CDRs a last time.
    let (s, closed) = st
        .admin(&format!("/admin/v1/statements/{sid}/close"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{closed:#}");
    assert!(closed["closed_at"].is_string());
    let total_cents: i64 = ours.iter().map(|l| l.2).sum();
    assert_eq!(cents(&closed["totals"]["total"]), total_cents);
    assert_eq!(
        cents(&closed["totals"]["commission"]) + cents(&closed["totals"]["due_to_operator"]),
        total_cents
    );

    // Bad reports change nothing, and say which line is wrong.
    let mut bad = as_json(&ours);
    bad["lines"][1]["amount"] = json!(12.345);
    bad["lines"][2]["energy_kwh"] = json!("-1.000");
    bad["lines"][3]["order_id"] = json!("ORD-A");
    let (s, problem) = st.post(&report_path, &p.token, bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem["code"], "validation_failed");
    let errors: Vec<(i64, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (2, "lines[1].amount".to_string()),
            (3, "lines[2].energy_kwh".to_string()),
            (4, "lines[3].order_id".to_string()),
        ]
    );
    let mut off = as_json(&ours);
    off["totals"]["amount"] = json!(money(total_cents + 1));
    let (s, problem) = st.post(&report_path, &p.token, off).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "totals.amount");
    let (s, _) = st.post(&report_path, &other.token, as_json(&ours)).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another partner's statement does not exist for it"
    );
    let (_, unchanged) = st.get(&format!("/v1/statements/{sid}"), &p.token).await;
    assert_eq!(unchanged["state"], "draft");
    assert!(unchanged["report"].is_null());

    // The partner's report: A as ours, B two fen short, C missing, D 5 Wh off (same amount),
    // a ghost order we never had, and B again under another order id with our session id.
    let mut theirs = vec![
        ours[0].clone(),
        (ours[1].0.clone(), ours[1].1, ours[1].2 - 2),
        (ours[3].0.clone(), ours[3].1 + 5, ours[3].2),
        ("GHOST-1".to_string(), 1_000, 150),
    ];
    let mut csv = String::from("order_id,session_id,energy_kwh,amount\r\n");
    for (o, wh, c) in &theirs {
        csv.push_str(&format!(
            "{o},,{:.3},{}\r\n",
            *wh as f64 / 1000.0,
            money(*c)
        ));
    }
    csv.push_str(&format!(
        "ALIAS-B,{},{:.3},{}\r\n",
        sids[1],
        ours[1].1 as f64 / 1000.0,
        money(ours[1].2)
    ));
    theirs.push(("ALIAS-B".into(), ours[1].1, ours[1].2));
    let totals_wh: i64 = theirs.iter().map(|l| l.1).sum();
    let totals_c: i64 = theirs.iter().map(|l| l.2).sum();
    csv.push_str(&format!(
        "TOTAL,,{:.3},{}\r\n",
        totals_wh as f64 / 1000.0,
        money(totals_c)
    ));
    let (s, accepted) = st.post_csv(&report_path, &p.token, csv.clone()).await;
    assert_eq!(s, StatusCode::OK, "{accepted:#}");
    assert_eq!(accepted["statement"]["state"], "disputed");
    let summary = &accepted["report"]["summary"];
    for (k, n) in [
        ("matched", 1),
        ("amount_mismatch", 1),
        ("energy_mismatch", 1),
        ("missing_on_partner", 1),
        ("missing_on_operator", 1),
        ("duplicate", 1),
    ] {
        assert_eq!(summary[k], n, "{k}: {summary:#}");
    }
    // Re-reporting is allowed until confirmation: the same report again, the latest counts.
    let (s, again) = st.post_csv(&report_path, &p.token, csv).await;
    assert_eq!(s, StatusCode::OK, "{again:#}");
    let report_id = again["report"]["id"].as_str().unwrap().to_string();
    assert_ne!(report_id, accepted["report"]["id"].as_str().unwrap());
    let (_, reports) = st
        .get(&format!("/admin/v1/statements/{sid}/reports"), &st.operator)
        .await;
    assert_eq!(reports.as_array().unwrap().len(), 2);

    // The categories, order by order, as the partner sees them.
    let (s, items) = st
        .get(&format!("/v1/statements/{sid}/reconciliation"), &p.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{items:#}");
    let by_order: Vec<(String, String)> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["order_id"].as_str().unwrap().to_string(),
                i["category"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |o: &str, c: &str| (o.to_string(), c.to_string());
    assert_eq!(
        by_order,
        vec![
            expect("ORD-A", "matched"),
            expect("ORD-B", "amount_mismatch"),
            expect("ORD-D", "energy_mismatch"),
            expect("GHOST-1", "missing_on_operator"),
            expect("ALIAS-B", "duplicate"),
            expect("ORD-C", "missing_on_partner"),
        ]
    );
    let seq = |order: &str| -> u64 {
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["order_id"] == order)
            .unwrap()["seq"]
            .as_u64()
            .unwrap()
    };

    // Confirming with discrepancies open is refused.
    let (s, body) = st
        .admin(&format!("/admin/v1/statements/{sid}/confirm"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body:#}");
    assert!(body["detail"].as_str().unwrap().contains("unresolved"));

    // Resolutions, each with a reason.
    let resolve = |order: &str, resolution: &str, amount: Option<&str>| {
        let mut b = json!({"seq": seq(order), "resolution": resolution, "reason": format!("{resolution} for {order}")});
        if let Some(a) = amount {
            b["amount"] = json!(a);
        }
        b
    };
    let path = format!("/admin/v1/statements/{sid}/resolve");
    // The partner collected two fen less for B: accept theirs → a credit CDR of 0.02.
    let (s, after_b) = st
        .admin(&path, resolve("ORD-B", "accept_theirs", None))
        .await;
    assert_eq!(s, StatusCode::OK, "{after_b:#}");
    assert_eq!(after_b["totals"]["credits"], 1);
    assert_eq!(cents(&after_b["totals"]["total"]), total_cents - 2);
    // A ghost order cannot be accepted: we have no CDR to change.
    let (s, body) = st
        .admin(&path, resolve("GHOST-1", "accept_theirs", None))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    for (order, how, amount) in [
        ("GHOST-1", "accept_ours", None),
        ("ALIAS-B", "accept_ours", None),
        ("ORD-D", "accept_ours", None),
        ("ORD-C", "credit", Some("0.01")),
    ] {
        let (s, body) = st.admin(&path, resolve(order, how, amount)).await;
        assert_eq!(s, StatusCode::OK, "{order}: {body:#}");
    }
    // Twice is refused.
    let (s, _) = st.admin(&path, resolve("ORD-D", "accept_ours", None)).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The credit CDRs are on the statement and reference their originals.
    let (_, lines) = st
        .get(&format!("/v1/statements/{sid}/lines?limit=100"), &p.token)
        .await;
    let credits: Vec<&Value> = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "credit")
        .collect();
    assert_eq!(credits.len(), 2);
    assert!(
        credits
            .iter()
            .any(|c| c["original_cdr_id"] == sids[1].as_str() && c["total"] == "-0.02")
    );
    assert!(
        credits
            .iter()
            .any(|c| c["original_cdr_id"] == sids[2].as_str() && c["total"] == "-0.01")
    );
    let (s, credit) = st
        .get(
            &format!("/v1/cdrs/{}", credits[0]["cdr_id"].as_str().unwrap()),
            &p.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(credit["kind"], "credit");
    assert!(
        credit["credit"]["reason"]
            .as_str()
            .unwrap()
            .contains("for ORD-")
    );
    // The original CDRs are unchanged.
    let (_, b) = st.get(&format!("/v1/cdrs/{}", sids[1]), &p.token).await;
    assert_eq!(b["total"], format!("{:.2}", cdrs[1].total.amount()));

    // The CSV export has every line.
    let resp = st
        .http
        .get(format!("{}/v1/statements/{sid}/lines.csv", st.base))
        .bearer_auth(&p.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = resp.text().await.unwrap();
    assert_eq!(text.lines().count(), 1 + 4 + 2, "{text}");
    assert!(text.starts_with("cdr_id,kind,original_cdr_id"));

    // Confirmed, then no more reports; settled with the payment reference.
    let (s, confirmed) = st
        .admin(&format!("/admin/v1/statements/{sid}/confirm"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{confirmed:#}");
    assert_eq!(confirmed["state"], "confirmed");
    let (s, body) = st.post(&report_path, &p.token, as_json(&ours)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body:#}");
    assert_eq!(body["code"], "invalid_state");
    let (s, _) = st
        .admin(
            &format!("/admin/v1/statements/{sid}/settle"),
            json!({"payment_reference": " "}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, settled) = st
        .admin(
            &format!("/admin/v1/statements/{sid}/settle"),
            json!({"payment_reference": "ICBC-2026-0042"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{settled:#}");
    assert_eq!(settled["state"], "settled");
    let (_, seen) = st.get(&format!("/v1/statements/{sid}"), &p.token).await;
    assert_eq!(seen["state"], "settled");
    assert_eq!(seen["payment_reference"], "ICBC-2026-0042");
    assert_eq!(cents(&seen["totals"]["total"]), total_cents - 3);
    assert_eq!(
        cents(&seen["totals"]["commission"]) + cents(&seen["totals"]["due_to_operator"]),
        total_cents - 3
    );

    // The revenue share of the contract (10 % of the service fee, none of the electricity
    // fee) on every line, fee by fee, rounded half away from zero per line.
    let (_, lines) = st
        .get(&format!("/v1/statements/{sid}/lines?limit=100"), &p.token)
        .await;
    for l in lines["items"].as_array().unwrap() {
        let service = cents(&l["service_fee"]);
        let tenth = (service.abs() * 10 + 50) / 100 * service.signum();
        assert_eq!(cents(&l["commission_by_fee"]["electricity"]), 0, "{l:#}");
        assert_eq!(cents(&l["commission_by_fee"]["service"]), tenth, "{l:#}");
        assert_eq!(
            cents(&l["due_to_operator_by_fee"]["service"]),
            service - tenth,
            "{l:#}"
        );
        assert_eq!(cents(&l["commission"]), tenth, "{l:#}");
    }

    // Each step was told to the partner, in order, in the transaction that took it (a refused
    // step told nothing); the other partner heard nothing.
    let statement_types = "statement.issued,statement.reconciled,statement.disputed,\
                           statement.credit_issued,statement.confirmed,statement.settled";
    let feed = env
        .get(&format!("/v1/events?types={statement_types}"), &p.token)
        .await;
    assert_eq!(feed.status, StatusCode::OK, "{:#}", feed.body);
    let events = feed.body["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "statement.issued",
            "statement.disputed",
            "statement.disputed",
            "statement.credit_issued",
            "statement.credit_issued",
            "statement.confirmed",
            "statement.settled"
        ]
    );
    assert_eq!(events[1]["data"]["reconciliation"]["duplicate"], 1);
    assert_eq!(events[1]["data"]["reconciliation"]["missing_on_partner"], 1);
    let credit = &events[3]["data"]["credit"];
    assert_eq!(credit["original_cdr_id"], sids[1].as_str());
    assert_eq!(cents(&json!(credit["total"].as_str().unwrap())), -2);
    assert_eq!(events[6]["data"]["payment_reference"], "ICBC-2026-0042");
    let theirs = env
        .get(&format!("/v1/events?types={statement_types}"), &other.token)
        .await;
    assert!(theirs.body["events"].as_array().unwrap().is_empty());

    // Every step is in the audit trail.
    let (s, audit) = st_audit(&env).await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "statement.build",
        "statement.close",
        "statement.report",
        "statement.resolve",
        "statement.confirmed",
        "statement.settled",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    cp.shutdown().await.unwrap();
}

/// The audit trail through the main server's admin API.
async fn st_audit(env: &Env) -> (StatusCode, Value) {
    let token = finance_admin(env).await;
    let r = env.get("/admin/v1/audit?limit=100", &token).await;
    (r.status, r.body)
}

/// An admin's token (the audit trail is for admins).
async fn finance_admin(env: &Env) -> String {
    let now = Utc::now();
    env.shared
        .stores
        .operators
        .create_operator(
            "op-audit",
            &openpile_core::operator::Email::parse("audit@openpile.test").unwrap(),
            openpile_core::operator::OperatorRole::Admin,
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            now,
        )
        .await
        .unwrap();
    let (token, sha) = openpile_secrets::new_token();
    env.shared
        .stores
        .operators
        .create_operator_token(&sha, "op-audit", now, now + chrono::TimeDelta::days(1))
        .await
        .unwrap();
    token
}

/// The settlement routes against their published description, by schemathesis (as the partner
/// API's own conformance test does), with a production partner that has CDRs and a statement.
/// Skips loudly without the `schemathesis` command, except under CI=true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settlement_api_conforms_to_its_published_document() {
    let available = std::process::Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        let msg = "schemathesis is not installed (pip install -r tests/python/requirements.txt)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {msg}"
        );
        eprintln!("\n*** SKIPPED: {msg} ***\n");
        return;
    }
    let env = Env::start().await;
    let p = env.partner(73).await;
    let cp = env.charger("SH0101-01", fast()).await;
    let st = Settlement::start(&env).await;
    let sid = charge(&env, &p, "SH0101-01-1", "ORD-S1").await;
    let cdr = cdr_of(&env, &st, &sid).await;
    let period = cdr
        .stopped_at
        .with_timezone(&env.shared.config.local.tz())
        .format("%Y-%m")
        .to_string();
    let (s, body) = st
        .admin(
            "/admin/v1/statements",
            json!({"partner_id": p.id, "period": period, "close": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body:#}");
    cp.shutdown().await.unwrap();

    let base = st.base.clone();
    let token = p.token.clone();
    let report = tempfile::tempdir().unwrap();
    let report_dir = report.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("schemathesis")
            .current_dir(&report_dir)
            .args(["run", &format!("{base}/openapi.json")])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--include-path-regex", "^/v1/(cdrs|statements)"])
            .args(["--request-timeout", "10"])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "30", "--seed", "20261128", "--no-shrink"])
            .args(["--workers", "2"])
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("generated"), "{stdout}");
}

/// A CDR of `wh` Wh for `partner` priced at the demo's flat 0.85 + 0.65 CNY/kWh, with the fees
/// given (as a hand calculation rounds them).
fn flat_cdr(
    partner: &str,
    session: &str,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
    wh: i64,
    fees: (&str, &str),
) -> Cdr {
    use openpile_core::money::{Money, UnitPrice, parse_plain_decimal};
    let money = |s: &str| Money::new(parse_plain_decimal("fee", s).unwrap());
    let price =
        |s: &str| UnitPrice::new("price", parse_plain_decimal("price", s).unwrap()).unwrap();
    let (e, s) = (money(fees.0), money(fees.1));
    let energy = openpile_core::energy::Wh(wh);
    Cdr::for_session(SessionCdr {
        session_id: SessionId::parse(session).unwrap(),
        partner_id: Some(openpile_core::ids::PartnerId::parse(partner).unwrap()),
        partner_order_id: Some(format!("O-{session}")),
        station_id: openpile_core::ids::StationId::parse("SH-0101").unwrap(),
        charger_id: openpile_core::ids::ChargerId::parse("SH0101-01").unwrap(),
        connector_id: openpile_core::ids::ConnectorId::parse("SH0101-01-1").unwrap(),
        started_at: start,
        stopped_at: stop,
        meter_start: openpile_core::energy::Wh(0),
        meter_stop: energy,
        tariff_id: openpile_core::ids::TariffId::parse("T-FLAT").unwrap(),
        time_zone: "Asia/Shanghai".into(),
        priced: PricedSession {
            tariff_version: 1,
            lines: vec![openpile_core::pricing::PricedLine {
                start,
                end: stop,
                label: None,
                energy,
                electricity_price: price("0.85"),
                service_price: price("0.65"),
                electricity_fee: e,
                service_fee: s,
            }],
            idle: None,
            energy,
            electricity_fee: e,
            service_fee: s,
            idle_fee: Money::ZERO,
            total: e + s,
            meter_anomaly: false,
        },
        created_at: stop,
    })
    .unwrap()
}

/// The revenue share per fee with effective dates, hand-computed. The partner's contract (from
/// its approval) lets it keep 10 % of the service fee and nothing of electricity; the operator
/// schedules, from 20 January (local midnight), 2 % of electricity, 15 % of service and 50 % of
/// idle fees. Each session is settled under the terms in force when it *started*:
///
/// | order | started          | kWh    | electricity | service | commission e / s | due e / s      |
/// |-------|------------------|--------|-------------|---------|------------------|----------------|
/// | A     | 15 Jan 09:00     | 10.000 | 8.50        | 6.50    | 0.00 / 0.65      | 8.50 / 5.85    |
/// | C     | 19 Jan 23:30     | 1.000  | 0.85        | 0.65    | 0.00 / 0.07      | 0.85 / 0.58    |
/// | B     | 25 Jan 09:00     | 12.345 | 10.49       | 8.02    | 0.21 / 1.20      | 10.28 / 6.82   |
///
/// (C ends after the switch but started before it; 0.065 rounds to 0.07, 0.2098 to 0.21,
/// 1.203 to 1.20.) Totals: 35.01 paid, commission 0.21 + 1.92 = 2.13, due 19.63 + 13.25 =
/// 32.88.
#[tokio::test]
async fn commission_per_fee_follows_the_terms_in_force_when_each_session_started() {
    let env = Env::start().await;
    let p = env.partner(74).await;
    let local = |d: u32, h: u32, m: u32| {
        chrono::TimeZone::with_ymd_and_hms(&chrono_tz::Asia::Shanghai, 2026, 1, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    };
    let clock = Manual::at(local(10, 9, 0));
    let st = Settlement::start_with(&env, clock.clone()).await;
    let terms_path = format!("/admin/v1/partners/{}/settlement-terms", p.id);

    // The contract's rate card, per fee, in force from the start.
    let (s, terms) = st.get(&terms_path, &st.operator).await;
    assert_eq!(s, StatusCode::OK, "{terms:#}");
    assert_eq!(terms.as_array().unwrap().len(), 1);
    assert!(terms[0]["effective_from"].is_null());
    assert_eq!(terms[0]["partner_share_of_electricity"], "0");
    assert_eq!(terms[0]["partner_share_of_service"], "0.1");
    assert_eq!(terms[0]["partner_share_of_idle"], "0");

    // Terms are scheduled, never backdated; rates are fractions with 4 decimals at most.
    let body = |from: &str, e: &str| {
        json!({"effective_from": from, "partner_share_of_electricity": e,
               "partner_share_of_service": "0.15", "partner_share_of_idle": "0.5"})
    };
    let (s, problem) = st
        .admin(&terms_path, body("2026-01-09T00:00:00+08:00", "0.02"))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert!(
        format!("{problem}").contains("effective_from"),
        "{problem:#}"
    );
    let (s, problem) = st
        .admin(&terms_path, body("2026-01-20T00:00:00+08:00", "0.00001"))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    let (s, terms) = st
        .admin(&terms_path, body("2026-01-20T00:00:00+08:00", "0.02"))
        .await;
    assert_eq!(s, StatusCode::OK, "{terms:#}");
    assert_eq!(terms.as_array().unwrap().len(), 2);

    let cdrs = [
        flat_cdr(
            &p.id,
            "T-A",
            local(15, 9, 0),
            local(15, 10, 0),
            10_000,
            ("8.50", "6.50"),
        ),
        flat_cdr(
            &p.id,
            "T-C",
            local(19, 23, 30),
            local(20, 0, 30),
            1_000,
            ("0.85", "0.65"),
        ),
        flat_cdr(
            &p.id,
            "T-B",
            local(25, 9, 0),
            local(25, 10, 0),
            12_345,
            ("10.49", "8.02"),
        ),
    ];
    st.store.import_cdrs(&cdrs).await.unwrap();

    // February: January is over and its statement closes.
    clock.set(local(31, 12, 0) + Duration::days(3));
    let (s, closed) = st
        .admin(
            "/admin/v1/statements",
            json!({"partner_id": p.id, "period": "2026-01", "close": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{closed:#}");
    let t = &closed["totals"];
    assert_eq!(t["total"], "35.01");
    assert_eq!(t["commission"], "2.13");
    assert_eq!(t["due_to_operator"], "32.88");
    assert_eq!(
        t["commission_by_fee"],
        json!({"electricity": "0.21", "service": "1.92", "idle": "0.00"})
    );
    assert_eq!(
        t["due_to_operator_by_fee"],
        json!({"electricity": "19.63", "service": "13.25", "idle": "0.00"})
    );

    // Line by line, as the partner reads it.
    let sid = closed["id"].as_str().unwrap();
    let (s, lines) = st
        .get(&format!("/v1/statements/{sid}/lines"), &p.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{lines:#}");
    let by_order: std::collections::HashMap<String, Value> = lines["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["partner_order_id"].as_str().unwrap().to_string(),
                l.clone(),
            )
        })
        .collect();
    for (order, commission, due) in [
        ("O-T-A", ("0.00", "0.65"), ("8.50", "5.85")),
        ("O-T-C", ("0.00", "0.07"), ("0.85", "0.58")),
        ("O-T-B", ("0.21", "1.20"), ("10.28", "6.82")),
    ] {
        let l = &by_order[order];
        assert_eq!(
            l["commission_by_fee"]["electricity"], commission.0,
            "{order}"
        );
        assert_eq!(l["commission_by_fee"]["service"], commission.1, "{order}");
        assert_eq!(l["due_to_operator_by_fee"]["electricity"], due.0, "{order}");
        assert_eq!(l["due_to_operator_by_fee"]["service"], due.1, "{order}");
    }

    // The export carries the split too.
    let csv = st
        .http
        .get(format!("{}/v1/statements/{sid}/lines.csv", st.base))
        .bearer_auth(&p.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let b = rows.find(|r| r.contains("O-T-B")).unwrap();
    let b: Vec<&str> = b.split(',').collect();
    assert_eq!(b[col("electricity_commission")], "0.21");
    assert_eq!(b[col("service_commission")], "1.20");
    assert_eq!(b[col("service_due_to_operator")], "6.82");

    // The partner heard of it, with the same figures.
    let r = env.get("/v1/events?types=statement.issued", &p.token).await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    let issued = &r.body["events"][0]["data"];
    assert_eq!(issued["statement_id"], sid);
    assert_eq!(issued["totals"]["commission"], "2.13");
}
