//! The read side: scope and sandbox isolation (404, never 403), pagination that stays stable
//! while the network changes, filters, live statuses, tariffs and prices, rate limits.

use std::collections::BTreeSet;

use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::ConnectorNumber;
use openpile_core::ports::{ChargerStore, NetworkStore, ReportedStatus};
use openpile_core::status::ChargePointStatus;
use openpile_store_contract::fixtures;
use reqwest::StatusCode;
use serde_json::Value;

use crate::{TestApp, network, problem};

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn status(app: &TestApp, charger: &str, n: u32, s: ChargePointStatus) {
    app.store
        .record_status(
            &fixtures::charger_id(charger),
            &ReportedStatus {
                connector: Some(ConnectorNumber::new(n).unwrap()),
                status: s,
                error: None,
                at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn partners_see_only_their_scope_and_everything_else_is_not_found() {
    let app = TestApp::start(&network(3, 1)).await;
    let a = app.partner(1, &["S001", "S002"]).await;
    let b = app.partner(2, &["S003"]).await;
    let (_, sandbox_client, sandbox_secret) = app.apply(3).await;
    let sandbox = app.token(&sandbox_client, &sandbox_secret).await;

    let list: Value = app.get("/v1/stations", &a).await.json().await.unwrap();
    assert_eq!(ids(&list), ["S001", "S002"]);
    let list: Value = app.get("/v1/stations", &b).await.json().await.unwrap();
    assert_eq!(ids(&list), ["S003"]);
    let list: Value = app
        .get("/v1/stations", &sandbox)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&list), ["S004"]);

    for path in [
        "/v1/stations/S003",
        "/v1/stations/S003/tariff",
        "/v1/connectors/S003-C1-1",
        "/v1/connectors/S003-C1-1/price",
        "/v1/connector-statuses?station_id=S003",
        "/v1/stations/S004",
        "/v1/stations/NOPE",
        "/v1/connectors/no%20such",
    ] {
        problem(
            app.get(path, &a).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        )
        .await;
    }
    for path in ["/v1/stations/S001", "/v1/connectors/S001-C1-2"] {
        problem(
            app.get(path, &b).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        )
        .await;
        problem(
            app.get(path, &sandbox).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        )
        .await;
    }
    assert_eq!(
        app.get("/v1/stations/S003", &b).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/stations/S004", &sandbox).await.status(),
        StatusCode::OK
    );
    let statuses: Value = app
        .get("/v1/connector-statuses", &a)
        .await
        .json()
        .await
        .unwrap();
    let stations: BTreeSet<&str> = statuses["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["station_id"].as_str().unwrap())
        .collect();
    assert_eq!(stations, BTreeSet::from(["S001", "S002"]));
}

#[tokio::test]
async fn a_station_carries_both_datums_chargers_live_status_and_tariff() {
    let app = TestApp::start(&network(1, 0)).await;
    let token = app.partner(1, &[]).await;
    status(&app, "S001-C1", 1, ChargePointStatus::Charging).await;
    let s: Value = app
        .get("/v1/stations/S001", &token)
        .await
        .json()
        .await
        .unwrap();
    let wgs = &s["coordinates"]["wgs84"];
    let gcj = &s["coordinates"]["gcj02"];
    let c = Coordinates::new(
        wgs["lat"].as_f64().unwrap(),
        wgs["lng"].as_f64().unwrap(),
        Datum::Wgs84,
    )
    .unwrap();
    let (glat, glng) = c.gcj02();
    assert_eq!(
        (gcj["lat"].as_f64().unwrap(), gcj["lng"].as_f64().unwrap()),
        (glat, glng)
    );
    assert!(
        (glng - wgs["lng"].as_f64().unwrap()).abs() > 0.001,
        "GCJ-02 is offset in Shanghai"
    );
    assert_eq!(s["opening_hours"]["kind"], "always_open");
    assert_eq!(s["open_now"], true);
    let connectors = &s["chargers"][0]["connectors"];
    assert_eq!(connectors[0]["standard"], "gbt_dc");
    assert_eq!(connectors[0]["max_power_kw"], "120");
    assert_eq!(connectors[0]["status"], "charging");
    assert_eq!(connectors[0]["status_seq"], 1);
    assert_eq!(connectors[1]["status"], "offline");
    assert_eq!(s["tariff"]["id"], fixtures::TARIFF);
    assert_eq!(s["tariff"]["timezone"], "Asia/Shanghai");
    assert_eq!(s["tariff"]["segments"].as_array().unwrap().len(), 5);

    let tariff: Value = app
        .get("/v1/stations/S001/tariff", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tariff["current"]["version"], 1);
    // 02:30Z is 10:30 in Shanghai: the peak segment.
    let price: Value = app
        .get(
            "/v1/connectors/S001-C1-1/price?at=2026-11-28T02:30:00Z",
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(price["local_time"], "10:30");
    assert_eq!(price["segment"]["label"], "peak");
    assert_eq!(price["segment"]["service_price"], "0.8");
    assert_eq!(price["currency"], "CNY");
    // Before the first version there is no price.
    problem(
        app.get(
            "/v1/connectors/S001-C1-1/price?at=2020-01-01T00:00:00Z",
            &token,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let one: Value = app
        .get("/v1/connectors/S001-C1-1", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["station_id"], "S001");
    assert_eq!(one["charger_id"], "S001-C1");
    assert_eq!(one["status"], "charging");
}

#[tokio::test]
async fn pages_stay_stable_while_the_network_changes() {
    let mut batch = network(9, 0);
    // Leave gaps in the ids so new stations can land between pages.
    for (i, s) in batch.stations.iter_mut().enumerate() {
        s.id = fixtures::station_id(&format!("S{:03}", (i + 1) * 10));
    }
    for (c, _) in batch.chargers.iter_mut() {
        let n: usize = c.station_id.as_str()[1..].parse().unwrap();
        c.station_id = fixtures::station_id(&format!("S{:03}", n * 10));
    }
    let app = TestApp::start(&batch).await;
    let token = app.partner(1, &[]).await;
    let original: BTreeSet<String> = (1..=9).map(|i| format!("S{:03}", i * 10)).collect();

    let mut seen = Vec::new();
    let mut path = "/v1/stations?limit=4".to_string();
    let mut round = 0;
    loop {
        let page: Value = app.get(&path, &token).await.json().await.unwrap();
        seen.extend(ids(&page));
        // Between pages: new stations before and after the cursor, status changes, a rename.
        round += 1;
        let mut s = fixtures::station(&format!("S{:03}", round * 10 + 5));
        s.opening_hours = openpile_core::network::OpeningHours::AlwaysOpen;
        app.store.put_station(&s).await.unwrap();
        let mut renamed = fixtures::station("S010");
        renamed.name = format!("改名{round}");
        app.store.put_station(&renamed).await.unwrap();
        status(
            &app,
            "S001-C1",
            1,
            if round % 2 == 0 {
                ChargePointStatus::Available
            } else {
                ChargePointStatus::Charging
            },
        )
        .await;
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/stations?limit=4&cursor={c}"),
            None => break,
        }
    }
    // Ascending, no duplicates, and every station that existed throughout was seen.
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "stable order without duplicates");
    let seen: BTreeSet<String> = seen.into_iter().collect();
    assert!(original.is_subset(&seen), "{seen:?}");
}

#[tokio::test]
async fn filters_select_by_area_distance_connectors_and_availability() {
    let mut batch = network(4, 0);
    // S001 Pudong (the fixture), S002 ~1.1 km north, S003 in Beijing, S004 Xuhui with an AC plug.
    batch.stations[1].location = Coordinates::new(31.2135, 121.5906, Datum::Wgs84).unwrap();
    batch.stations[2].location = Coordinates::new(39.90105, 116.42079, Datum::Wgs84).unwrap();
    batch.stations[2].area_code = openpile_core::network::AreaCode::parse("110101").unwrap();
    batch.stations[3].area_code = openpile_core::network::AreaCode::parse("310104").unwrap();
    batch.stations[3].location = Coordinates::new(31.1880, 121.4370, Datum::Wgs84).unwrap();
    for (c, _) in batch.chargers.iter_mut() {
        if c.station_id.as_str() == "S004" {
            c.current_type = openpile_core::network::CurrentType::Ac;
            c.max_power_kw = rust_decimal::Decimal::from(7);
        }
    }
    for c in batch.connectors.iter_mut() {
        if c.charger_id.as_str() == "S004-C1" {
            c.standard = openpile_core::network::ConnectorStandard::GbtAc;
            c.max_power_kw = rust_decimal::Decimal::from(7);
            c.voltage_v = 220;
            c.current_a = 32;
        }
    }
    let app = TestApp::start(&batch).await;
    let token = app.partner(1, &[]).await;
    let list = |q: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            let r = app.get(&format!("/v1/stations?{q}"), &token).await;
            assert_eq!(r.status(), StatusCode::OK, "{q}");
            ids(&r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(list("area_code=310000").await, ["S001", "S002", "S004"]);
    assert_eq!(list("area_code=310115").await, ["S001", "S002"]);
    assert_eq!(list("area_code=110000").await, ["S003"]);
    // Nearest first from a point just north of S002.
    assert_eq!(
        list("near=31.2140,121.5906&radius_m=3000").await,
        ["S002", "S001"]
    );
    assert_eq!(list("near=31.2140,121.5906&radius_m=100").await, ["S002"]);
    let r: Value = app
        .get("/v1/stations?near=31.2140,121.5906&radius_m=3000", &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(r["items"][0]["distance_m"].as_f64().unwrap() < 100.0);
    assert_eq!(list("connector_standard=gbt_ac").await, ["S004"]);
    assert_eq!(list("min_power_kw=60").await, ["S001", "S002", "S003"]);
    assert_eq!(
        list("min_power_kw=7.5&connector_standard=gbt_ac").await,
        Vec::<String>::new()
    );
    // Nothing has reported yet (offline); then one connector becomes available.
    assert_eq!(list("available_now=true").await, Vec::<String>::new());
    // Setting up took well over a millisecond, so only the change below is at or after this.
    let since = chrono::Utc::now();
    status(&app, "S002-C1", 2, ChargePointStatus::Available).await;
    assert_eq!(list("available_now=true").await, ["S002"]);
    let r: Value = app
        .get(
            &format!(
                "/v1/stations?updated_since={}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&r), ["S002"]);
}

#[tokio::test]
async fn statuses_poll_by_change_time_and_page_by_connector() {
    let app = TestApp::start(&network(3, 0)).await;
    let token = app.partner(1, &[]).await;
    let all: Value = app
        .get("/v1/connector-statuses?limit=4", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    let cursor = all["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(
            &format!("/v1/connector-statuses?limit=4&cursor={cursor}"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    assert!(rest.get("next_cursor").is_none());

    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    status(&app, "S002-C1", 1, ChargePointStatus::Faulted).await;
    let changed: Value = app
        .get(
            &format!("/v1/connector-statuses?updated_since={since}"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    let items = changed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["connector_id"], "S002-C1-1");
    assert_eq!(items[0]["status"], "faulted");
    assert_eq!(items[0]["status_seq"], 1);
    let one: Value = app
        .get("/v1/connector-statuses?station_id=S002", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_query_parameters_name_themselves() {
    let app = TestApp::start(&network(1, 0)).await;
    let token = app.partner(1, &[]).await;
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("area_code=999999", "area_code"),
        ("near=91,0", "near"),
        ("near=abc", "near"),
        ("near=31.2,121.5&radius_m=0", "radius_m"),
        ("near=31.2,121.5&radius_m=50001", "radius_m"),
        ("radius_m=100", "radius_m"),
        ("connector_standard=tesla", "connector_standard"),
        ("min_power_kw=-1", "min_power_kw"),
        ("min_power_kw=1e3", "min_power_kw"),
        ("available_now=maybe", "available_now"),
        ("updated_since=yesterday", "updated_since"),
        ("datum=bd09", "datum"),
        ("colour=red", "colour"),
        ("limit=1&limit=2", "limit"),
    ] {
        let r = app.get(&format!("/v1/stations?{q}"), &token).await;
        problem(r, StatusCode::BAD_REQUEST, "invalid_query", Some(field)).await;
    }
    for cursor in ["garbage!", "c2VjcmV0", "czpTMDAx"] {
        let r = app
            .get(&format!("/v1/connector-statuses?cursor={cursor}"), &token)
            .await;
        problem(r, StatusCode::BAD_REQUEST, "invalid_cursor", Some("cursor")).await;
    }
    // A distance cursor on a list without near.
    let near: Value = app
        .get(
            "/v1/stations?near=31.2,121.59&radius_m=50000&limit=1",
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(near["next_cursor"].is_null(), "one station only");
    let r = app.get("/v1/stations?cursor=ZDoxMjM6UzAwMQ", &token).await;
    problem(r, StatusCode::BAD_REQUEST, "invalid_cursor", Some("cursor")).await;
    let r = app
        .get("/v1/connectors/S001-C1-1/price?at=noon", &token)
        .await;
    problem(r, StatusCode::BAD_REQUEST, "invalid_query", Some("at")).await;
}

#[tokio::test]
async fn the_contract_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::start(&network(1, 0)).await;
    let (id, _, _) = app.apply(1).await;
    let client = app.approve(&id, &[], 1, 3).await;
    let secret = app.production_secret(1, &client).await;
    let token = app.token(&client, &secret).await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/v1/stations", &token).await.status(),
            StatusCode::OK
        );
    }
    let r = app.get("/v1/stations", &token).await;
    assert_eq!(r.headers()["retry-after"], "1");
    let body = problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited", None).await;
    assert_eq!(body["retry_after_s"], 1);
    // Another partner is not affected.
    let other = app.partner(2, &[]).await;
    assert_eq!(
        app.get("/v1/stations", &other).await.status(),
        StatusCode::OK
    );
}
