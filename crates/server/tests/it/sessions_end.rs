//! How sessions end, end to end (issue 5 and the idle fee of issue 7), over the real Open API
//! and real OCPP to simulated chargers: a stop the charger accepts but never confirms is sent
//! again and then closed as `stop_unconfirmed`; under a tariff with an idle fee a stopped
//! session whose vehicle stays plugged in is `finishing` until it is unplugged, then completes
//! with the idle fee and its CDR in `session.completed`; without an idle fee nothing changes;
//! and a restart in the middle of `finishing` loses nothing.
//!
//! Times are real but short: the stop timeout is one second, and the idle fee's grace period
//! is zero, so every started minute of occupancy is billed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use openpile_core::ids::TariffId;
use openpile_core::money::UnitPrice;
use openpile_core::tariff::IdleFee;
use openpile_sim::{Behaviour, RemoteStopPolicy, SimEvent, SimHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::sessions::{Env, Partner, fast};

fn money(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not an amount: {v}"));
    let (yuan, fen) = s.split_once('.').unwrap();
    assert_eq!(fen.len(), 2, "{s}");
    yuan.parse::<i64>().unwrap() * 100 + fen.parse::<i64>().unwrap()
}

/// An amount in fen, from the event feed's decimal text (which keeps no trailing zeros).
fn cents(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not an amount: {v}"));
    let (yuan, fen) = s.split_once('.').unwrap_or((s, "0"));
    assert!(fen.len() <= 2, "{s}");
    yuan.parse::<i64>().unwrap() * 100 + format!("{fen:0<2}").parse::<i64>().unwrap()
}

/// Counts the CALLs of `action` the charger receives from now on.
fn count_calls(h: &SimHandle, action: &'static str) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let mut rx = h.subscribe();
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(SimEvent::CallReceived { action: a }) if a == action => {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    count
}

/// Starts a session on `connector` and waits until the charger metered some energy.
async fn charging(env: &Env, p: &Partner, connector: &str, order: &str) -> String {
    let s = env.start_session(p, connector, order).await;
    let sid = s["id"].as_str().unwrap().to_string();
    env.wait_session(&p.token, &sid, "metered", |s| {
        s["status"] == "charging" && s["energy_wh"].as_i64().unwrap() > 0
    })
    .await;
    sid
}

async fn stop(env: &Env, p: &Partner, sid: &str) -> Value {
    let r = env
        .post(&format!("/v1/sessions/{sid}/stop"), &p.token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:#}", r.body);
    r.body
}

/// The `session.completed` event of `sid`, as the partner's feed has it.
async fn completed_event(env: &Env, p: &Partner, sid: &str) -> Value {
    let r = env
        .get("/v1/events?types=session.completed&limit=1000", &p.token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == format!("session:{sid}"))
        .unwrap_or_else(|| panic!("no session.completed for {sid}: {:#}", r.body))
        .clone()
}

/// Puts a new version of the Shanghai tariff in force now: the same prices, an idle fee of
/// 0.50 CNY per minute without a grace period.
async fn idle_fee_from_now(env: &Env) {
    let id = TariffId::parse("T-SH-TOU").unwrap();
    let network = &env.shared.stores.network;
    let versions = network.tariff_versions(&id).await.unwrap();
    let latest = versions.iter().max_by_key(|t| t.version).unwrap().clone();
    let mut next = latest.clone();
    next.version = latest.version + 1;
    next.effective_from = Utc::now().max(latest.effective_from + chrono::TimeDelta::seconds(1));
    next.idle_fee = Some(IdleFee {
        price_per_minute: serde_json::from_value::<UnitPrice>(json!("0.5000")).unwrap(),
        grace_minutes: 0,
    });
    network.put_tariff(&next).await.unwrap();
    env.shared.catalog.refresh().await.unwrap();
}

/// A charger whose vehicle stays plugged in after the transaction ends.
fn stays_plugged() -> Behaviour {
    Behaviour {
        unplug_after_stop: false,
        ..fast()
    }
}

#[tokio::test]
async fn an_accepted_stop_never_confirmed_is_sent_again_then_closed_as_stop_unconfirmed() {
    let env = Env::start_with(|c| {
        c.charging.stop_timeout_s = 1;
        c.charging.stop_retries = 2;
    })
    .await;
    let p = env.partner(1).await;
    // Shenzhen: no idle fee, so nothing but the stop is tested here.
    let cp = env
        .charger(
            "SZ0101-01",
            Behaviour {
                remote_stop: RemoteStopPolicy::AcceptAndIgnore,
                ..fast()
            },
        )
        .await;
    let sid = charging(&env, &p, "SZ0101-01-1", "o-stuck").await;
    let stops = count_calls(&cp, "RemoteStopTransaction");
    let triggers = count_calls(&cp, "TriggerMessage");

    let r = stop(&env, &p, &sid).await;
    assert_eq!(r["status"], "stopping", "{r:#}");
    let done = env
        .wait_session(&p.token, &sid, "closed", |s| s["status"] == "completed")
        .await;
    assert_eq!(done["stop_reason"], "stop_unconfirmed", "{done:#}");
    assert_eq!(done["review_required"], true);
    // Priced on the last meter value: the energy the charger had reported.
    assert!(done["energy_wh"].as_i64().unwrap() > 0);
    assert_eq!(done["cost"]["final"], true);
    assert_eq!(done["cost"]["energy_wh"], done["energy_wh"]);
    // The first stop and both retries; each retry asked for the connector's status and a
    // meter reading (the charger kept reporting `Charging`, so the retries ran out).
    assert_eq!(stops.load(Ordering::SeqCst), 3);
    assert_eq!(triggers.load(Ordering::SeqCst), 4);
    // The partner learnt it with the CDR.
    let event = completed_event(&env, &p, &sid).await;
    assert_eq!(event["data"]["stop_reason"], "stop_unconfirmed");
    assert_eq!(event["data"]["cdr_id"], sid.as_str());
    let cdr = env.get(&format!("/v1/cdrs/{sid}"), &p.token).await;
    assert_eq!(cdr.status, StatusCode::OK, "{:#}", cdr.body);
    assert_eq!(cdr.body["total"], done["cost"]["total"]);
    // Nothing is left to do for the sweep: the session is not looked at again.
    let record = env
        .shared
        .stores
        .sessions
        .get_session(&openpile_core::ids::SessionId::parse(&sid).unwrap())
        .await
        .unwrap();
    assert_eq!(record.next_check_at, None);
    assert_eq!(record.stop_attempts, 2);
    cp.shutdown().await.unwrap();
}

#[tokio::test]
async fn under_an_idle_fee_a_plugged_in_vehicle_keeps_the_session_finishing_until_unplugged() {
    let env = Env::start().await;
    idle_fee_from_now(&env).await;
    let p = env.partner(1).await;
    let cp = env.charger("SH0101-01", stays_plugged()).await;
    let sid = charging(&env, &p, "SH0101-01-1", "o-idle").await;

    stop(&env, &p, &sid).await;
    let finishing = env
        .wait_session(&p.token, &sid, "finishing", |s| s["status"] == "finishing")
        .await;
    assert_eq!(finishing["stop_reason"], "remote");
    assert!(finishing["stopped_at"].is_string());
    assert_eq!(finishing["idle_since"], finishing["stopped_at"]);
    assert_eq!(
        finishing["cost"]["final"], false,
        "the idle fee is still to come"
    );
    assert!(finishing["freed_at"].is_null());
    let energy = finishing["energy_wh"].clone();
    // The idle clock runs while the vehicle stays: at least one started minute.
    let idling = env
        .wait_session(&p.token, &sid, "idle", |s| {
            s["idle_minutes"].as_i64().unwrap_or(0) >= 1
        })
        .await;
    assert_eq!(idling["status"], "finishing");
    // Stopping it again is precise: it is not active any more.
    let again = env
        .post(&format!("/v1/sessions/{sid}/stop"), &p.token, json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:#}", again.body);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    cp.unplug(1).await.unwrap();
    let done = env
        .wait_session(&p.token, &sid, "completed", |s| s["status"] == "completed")
        .await;
    assert!(done["freed_at"].is_string(), "{done:#}");
    assert_eq!(
        done["energy_wh"], energy,
        "the energy was final at the stop"
    );
    let cost = &done["cost"];
    assert_eq!(cost["final"], true);
    let minutes = cost["idle_minutes"].as_i64().unwrap();
    assert!(minutes >= 1, "{done:#}");
    assert_eq!(done["idle_minutes"].as_i64().unwrap(), minutes, "no grace");
    assert_eq!(money(&cost["idle_fee"]), 50 * minutes);
    let lines: i64 = cost["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| money(&l["electricity_fee"]) + money(&l["service_fee"]))
        .sum();
    assert_eq!(lines + money(&cost["idle_fee"]), money(&cost["total"]));

    // session.completed carries the CDR: its id and idle charge, and the CDR has the figures.
    let event = completed_event(&env, &p, &sid).await;
    let data = &event["data"];
    assert_eq!(data["cdr_id"], sid.as_str());
    assert_eq!(data["idle"]["minutes"], minutes);
    assert_eq!(cents(&data["cost"]["idle_fee"]), money(&cost["idle_fee"]));
    assert_eq!(cents(&data["cost"]["total"]), money(&cost["total"]));
    let cdr = env.get(&format!("/v1/cdrs/{sid}"), &p.token).await;
    assert_eq!(cdr.status, StatusCode::OK, "{:#}", cdr.body);
    assert_eq!(cdr.body["idle"]["minutes"], minutes);
    assert_eq!(cdr.body["idle_fee"], cost["idle_fee"]);
    assert_eq!(cdr.body["total"], cost["total"]);
    // Learnt in order: the finishing update, then the completion.
    let types = env.event_types(&p, &format!("session:{sid}")).await;
    assert_eq!(types.last().map(String::as_str), Some("session.completed"));
    assert_eq!(
        types.iter().filter(|t| *t == "session.completed").count(),
        1
    );
    // The connector is free for the next driver.
    env.wait_connector("SH0101-01-1", |s| s == "available")
        .await;
    cp.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_an_idle_fee_a_session_completes_at_the_stop_even_if_the_vehicle_stays() {
    let env = Env::start().await;
    let p = env.partner(1).await;
    let cp = env.charger("SZ0101-02", stays_plugged()).await;
    let sid = charging(&env, &p, "SZ0101-02-1", "o-no-idle").await;
    stop(&env, &p, &sid).await;
    let done = env
        .wait_session(&p.token, &sid, "completed", |s| s["status"] == "completed")
        .await;
    assert_eq!(done["stop_reason"], "remote");
    assert_eq!(done["cost"]["idle_fee"], "0.00");
    assert_eq!(done["cost"]["idle_minutes"], 0);
    assert!(done["freed_at"].is_null(), "{done:#}");
    // Still plugged in: the connector stays occupied, the session did not wait for it.
    assert_eq!(
        env.wait_connector("SZ0101-02-1", |s| s == "occupied").await,
        "occupied"
    );
    let event = completed_event(&env, &p, &sid).await;
    assert_eq!(event["data"]["cdr_id"], sid.as_str());
    assert!(event["data"]["idle"].is_null());
    let types = env.event_types(&p, &format!("session:{sid}")).await;
    assert_eq!(types.last().map(String::as_str), Some("session.completed"));
    cp.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_restart_in_the_middle_of_finishing_loses_nothing() {
    let mut env = Env::start().await;
    idle_fee_from_now(&env).await;
    let p = env.partner(1).await;
    let cp = env.charger("SH0101-02", stays_plugged()).await;
    let sid = charging(&env, &p, "SH0101-02-1", "o-restart").await;
    stop(&env, &p, &sid).await;
    env.wait_session(&p.token, &sid, "finishing", |s| s["status"] == "finishing")
        .await;

    env.restart().await;
    crate::sessions::reconnected(&cp).await;
    // Back online, the vehicle still plugged in: still finishing, the clock still running.
    env.wait_connector("SH0101-02-1", |s| s == "occupied").await;
    let s = env
        .wait_session(&p.token, &sid, "idle", |s| {
            s["idle_minutes"].as_i64().unwrap_or(0) >= 1
        })
        .await;
    assert_eq!(s["status"], "finishing", "{s:#}");

    cp.unplug(1).await.unwrap();
    let done = env
        .wait_session(&p.token, &sid, "completed", |s| s["status"] == "completed")
        .await;
    assert!(money(&done["cost"]["idle_fee"]) >= 50, "{done:#}");
    assert_eq!(done["review_required"], false);
    let event = completed_event(&env, &p, &sid).await;
    assert_eq!(event["data"]["cdr_id"], sid.as_str());
    cp.shutdown().await.unwrap();
}
