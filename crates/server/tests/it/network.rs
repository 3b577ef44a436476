//! Stations, chargers, connectors and tariffs through the admin API: CRUD, validation errors
//! naming the field, not found, conflicts, retiring, pagination, OCPP passwords, audit.

use std::collections::BTreeSet;

use openpile_core::ids::ChargerId;
use openpile_secrets as secrets;
use openpile_testkit::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::contains;
use crate::{call, get, post, put};

fn tariff(id: &str) -> Value {
    json!({
        "id": id,
        "name": "测试分时电价",
        "effective_from": "2026-01-01T00:00:00+08:00",
        "segments": [
            {"start": "00:00", "end": "08:00", "label": "谷", "electricity_price": "0.3125", "service_price": "0.4"},
            {"start": "08:00", "end": "22:00", "label": "peak", "electricity_price": "1.0825", "service_price": "0.8"},
            {"start": "22:00", "end": "24:00", "label": "valley", "electricity_price": "0.3125", "service_price": "0.4"}
        ],
        "idle_fee": {"price_per_minute": "0.5", "grace_minutes": 30}
    })
}

fn station(id: &str, tariff_id: &str) -> Value {
    json!({
        "id": id,
        "name": "测试充电站",
        "address": "上海市浦东新区祖冲之路2288号",
        "area_code": "310115",
        "province": "上海市",
        "city": "上海市",
        "district": "浦东新区",
        "location": {"lat": 31.2035, "lng": 121.5906},
        "opening_hours": "24/7",
        "service_phone": "400-820-1234",
        "tariff_id": tariff_id
    })
}

fn charger(id: &str, station_id: &str, kw: &str, current: &str) -> Value {
    json!({
        "id": id,
        "station_id": station_id,
        "vendor": "星星充电",
        "model": "DC120",
        "current_type": current,
        "max_power_kw": kw
    })
}

fn connector(charger_id: &str, number: u32, standard: &str, kw: &str) -> Value {
    json!({
        "charger_id": charger_id,
        "number": number,
        "standard": standard,
        "max_power_kw": kw,
        "voltage_v": 750,
        "current_a": 200
    })
}

/// A server with an admin token and one tariff `T1`.
async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let token = app.login_admin().await;
    let r = post(&app, "/admin/v1/tariffs", &token, tariff("T1")).await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    (app, token)
}

/// `body` with `key` set to `value` (a dotted path into objects).
fn with(mut body: Value, key: &str, value: Value) -> Value {
    let mut target = &mut body;
    let parts: Vec<_> = key.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        target = &mut target[*p];
    }
    target[parts[parts.len() - 1]] = value;
    body
}

#[tokio::test]
async fn a_whole_station_is_created_read_updated_and_retired() {
    let (app, token) = setup().await;

    let r = post(&app, "/admin/v1/stations", &token, station("ST-1", "T1")).await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["status"], "operational");
    assert!(r.body["location_gcj02"]["lat"].as_f64().unwrap() != 31.2035);

    let r = post(
        &app,
        "/admin/v1/chargers",
        &token,
        charger("CP-1", "ST-1", "120", "DC"),
    )
    .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["registration"], "provisioned");
    assert_eq!(r.body["has_password"], false);
    assert_eq!(r.body["online"], false);
    assert_eq!(r.body["max_power_kw"], "120");

    let r = post(
        &app,
        "/admin/v1/connectors",
        &token,
        connector("CP-1", 1, "gbt_dc", "120"),
    )
    .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["id"], "CP-1-1", "derived id");
    assert_eq!(r.body["state"]["status"], "offline");
    assert_eq!(r.body["state"]["status_seq"], 0);

    // Update the station (full replacement).
    let update = with(station("ST-1", "T1"), "name", json!("改名后的充电站"));
    let update = with(update, "status", json!("maintenance"));
    let r = put(&app, "/admin/v1/stations/ST-1", &token, update).await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["name"], "改名后的充电站");
    let r = get(&app, "/admin/v1/stations/ST-1", &token).await;
    assert_eq!(r.body["status"], "maintenance");

    // Update the charger and connector.
    let r = put(
        &app,
        "/admin/v1/chargers/CP-1",
        &token,
        with(
            charger("CP-1", "ST-1", "160", "DC"),
            "firmware",
            json!("v2"),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["firmware"], "v2");
    let r = put(
        &app,
        "/admin/v1/connectors/CP-1-1",
        &token,
        connector("CP-1", 1, "gbt_dc", "150"),
    )
    .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["max_power_kw"], "150");

    // Retire the station: its chargers and connectors go with it.
    let r = post(&app, "/admin/v1/stations/ST-1/retire", &token, json!({})).await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert!(r.body["retired_at"].is_string());
    let c = get(&app, "/admin/v1/chargers/CP-1", &token).await;
    assert!(c.body["retired_at"].is_string(), "{:#}", c.body);
    post(&app, "/admin/v1/stations/ST-1/retire", &token, json!({}))
        .await
        .problem(409, "conflict");
    let r = put(
        &app,
        "/admin/v1/stations/ST-1",
        &token,
        station("ST-1", "T1"),
    )
    .await;
    assert_eq!(r.problem(409, "conflict")["constraint"], "retired");

    // Retired stations are left out of lists unless asked for.
    let list = get(&app, "/admin/v1/stations", &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
    let list = get(&app, "/admin/v1/stations?include_retired=true", &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // Every write is in the audit trail.
    let audit = get(&app, "/admin/v1/audit?limit=50", &token).await;
    let actions: BTreeSet<_> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in [
        "tariff.version_create",
        "station.create",
        "station.update",
        "station.retire",
        "charger.create",
        "charger.update",
        "connector.create",
        "connector.update",
    ] {
        assert!(actions.contains(a), "{a} missing from {actions:?}");
    }
    let entry = &audit.body["items"][0];
    assert!(entry["actor"].as_str().unwrap().starts_with("operator:"));
    assert_eq!(entry["action"], "station.retire", "newest first");
    assert_eq!(entry["object"], "station:ST-1");
}

#[tokio::test]
async fn invalid_stations_are_rejected_naming_the_field() {
    let (app, token) = setup().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("area code", json!("99999"), "area_code"),
        (
            "latitude",
            json!({"lat": 91.0, "lng": 121.0}),
            "location.lat",
        ),
        (
            "datum",
            json!({"lat": 31.0, "lng": 121.0, "datum": "bd09"}),
            "location.datum",
        ),
        ("id", json!("has space"), "id"),
        ("name", json!(""), "name"),
        ("phone", json!("call us"), "service_phone"),
        ("hours", json!("9 to 5"), "opening_hours"),
        ("status", json!("open"), "status"),
        ("photos", json!(["ftp://x/y.jpg"]), "photos[0]"),
        ("tariff", json!("T-NONE"), "tariff_id"),
        ("wrong type", json!(12), "name"),
    ];
    for (what, value, field) in cases {
        let key = match field {
            "location.lat" | "location.datum" => "location",
            "photos[0]" => "photos",
            f => f,
        };
        let body = with(station("ST-1", "T1"), key, value);
        let r = post(&app, "/admin/v1/stations", &token, body).await;
        assert_eq!(r.status, 422, "{what}: {:#}", r.body);
        r.invalid(field);
    }
    // Unknown and missing fields are named too.
    let r = post(
        &app,
        "/admin/v1/stations",
        &token,
        with(station("ST-1", "T1"), "tarif", json!("T1")),
    )
    .await;
    r.invalid("tarif");
    let mut body = station("ST-1", "T1");
    body.as_object_mut().unwrap().remove("address");
    post(&app, "/admin/v1/stations", &token, body)
        .await
        .invalid("address");
    // Not JSON at all.
    let r = app
        .client
        .post(app.url("/admin/v1/stations"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = app
        .client
        .post(app.url("/admin/v1/stations"))
        .bearer_auth(&token)
        .body("id=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // Nothing was written.
    let list = get(&app, "/admin/v1/stations?include_retired=true", &token).await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn invalid_chargers_connectors_and_tariffs_name_the_field() {
    let (app, token) = setup().await;
    assert_eq!(
        post(&app, "/admin/v1/stations", &token, station("ST-1", "T1"))
            .await
            .status,
        201
    );
    assert_eq!(
        post(
            &app,
            "/admin/v1/chargers",
            &token,
            charger("CP-1", "ST-1", "60", "DC")
        )
        .await
        .status,
        201
    );

    let chargers: Vec<(Value, &str)> = vec![
        (charger("CP-2", "ST-1", "60.25", "DC"), "max_power_kw"),
        (charger("CP-2", "ST-1", "-7", "AC"), "max_power_kw"),
        (charger("CP-2", "ST-1", "sixty", "DC"), "max_power_kw"),
        (charger("CP-2", "ST-1", "60", "XC"), "current_type"),
        (charger("CP-2", "ST-9", "60", "DC"), "station_id"),
        (charger("a/b", "ST-1", "60", "DC"), "id"),
        (
            with(charger("CP-2", "ST-1", "60", "DC"), "model", json!("")),
            "model",
        ),
    ];
    for (body, field) in chargers {
        post(&app, "/admin/v1/chargers", &token, body)
            .await
            .invalid(field);
    }

    let connectors: Vec<(Value, &str)> = vec![
        (connector("CP-1", 1, "tesla", "60"), "standard"),
        (connector("CP-1", 1, "gbt_ac", "7"), "standard"),
        (connector("CP-1", 1, "gbt_dc", "120"), "max_power_kw"),
        (connector("CP-1", 0, "gbt_dc", "60"), "number"),
        (connector("CP-9", 1, "gbt_dc", "60"), "charger_id"),
        (
            with(connector("CP-1", 1, "gbt_dc", "60"), "voltage_v", json!(5)),
            "voltage_v",
        ),
        (
            with(
                connector("CP-1", 1, "gbt_dc", "60"),
                "voltage_v",
                json!("high"),
            ),
            "voltage_v",
        ),
    ];
    for (body, field) in connectors {
        post(&app, "/admin/v1/connectors", &token, body)
            .await
            .invalid(field);
    }

    let seg = |s: &str, e: &str, price: &str| json!({"start": s, "end": e, "electricity_price": price, "service_price": "0.5"});
    let tariffs: Vec<(Value, &str)> = vec![
        (
            with(
                tariff("T2"),
                "segments",
                json!([seg("00:00", "09:00", "1"), seg("08:00", "24:00", "1")]),
            ),
            "segments[1]",
        ),
        (
            with(
                tariff("T2"),
                "segments",
                json!([seg("00:00", "08:00", "1"), seg("09:00", "24:00", "1")]),
            ),
            "segments",
        ),
        (
            with(
                tariff("T2"),
                "segments",
                json!([seg("00:00", "24:00", "0.12345")]),
            ),
            "segments[0].electricity_price",
        ),
        (
            with(
                tariff("T2"),
                "segments",
                json!([seg("00:00", "24:00", "-1")]),
            ),
            "segments[0].electricity_price",
        ),
        (
            with(
                tariff("T2"),
                "segments",
                json!([seg("25:00", "24:00", "1")]),
            ),
            "segments[0].start",
        ),
        (
            with(
                tariff("T2"),
                "segments",
                json!([{"start": "00:00", "end": "24:00", "label": "night", "electricity_price": "1", "service_price": "1"}]),
            ),
            "segments[0].label",
        ),
        (with(tariff("T2"), "segments", json!([])), "segments"),
        (
            with(tariff("T2"), "effective_from", json!("yesterday")),
            "effective_from",
        ),
        (with(tariff("T2"), "name", json!("")), "name"),
        (
            with(tariff("T2"), "idle_fee.price_per_minute", json!("0.00001")),
            "idle_fee.price_per_minute",
        ),
    ];
    for (body, field) in tariffs {
        post(&app, "/admin/v1/tariffs", &token, body)
            .await
            .invalid(field);
    }
    get(&app, "/admin/v1/tariffs/T2", &token)
        .await
        .problem(404, "not_found");

    // A charger may not shrink below its connectors.
    assert_eq!(
        post(
            &app,
            "/admin/v1/connectors",
            &token,
            connector("CP-1", 1, "gbt_dc", "60")
        )
        .await
        .status,
        201
    );
    put(
        &app,
        "/admin/v1/chargers/CP-1",
        &token,
        charger("CP-1", "ST-1", "30", "DC"),
    )
    .await
    .invalid("max_power_kw");
    put(
        &app,
        "/admin/v1/chargers/CP-1",
        &token,
        charger("CP-1", "ST-1", "60", "AC"),
    )
    .await
    .invalid("current_type");
}

#[tokio::test]
async fn duplicates_are_conflicts_and_unknown_ids_are_not_found() {
    let (app, token) = setup().await;
    assert_eq!(
        post(&app, "/admin/v1/stations", &token, station("ST-1", "T1"))
            .await
            .status,
        201
    );
    let r = post(&app, "/admin/v1/stations", &token, station("ST-1", "T1")).await;
    assert_eq!(r.problem(409, "conflict")["constraint"], "stations_pkey");

    assert_eq!(
        post(
            &app,
            "/admin/v1/chargers",
            &token,
            charger("CP-1", "ST-1", "120", "DC")
        )
        .await
        .status,
        201
    );
    let r = post(
        &app,
        "/admin/v1/chargers",
        &token,
        charger("CP-1", "ST-1", "120", "DC"),
    )
    .await;
    assert_eq!(r.problem(409, "conflict")["constraint"], "chargers_pkey");

    assert_eq!(
        post(
            &app,
            "/admin/v1/connectors",
            &token,
            connector("CP-1", 1, "gbt_dc", "60")
        )
        .await
        .status,
        201
    );
    let r = post(
        &app,
        "/admin/v1/connectors",
        &token,
        connector("CP-1", 1, "gbt_dc", "60"),
    )
    .await;
    assert_eq!(r.problem(409, "conflict")["constraint"], "connectors_pkey");
    // Same number on the same charger under another id: the store's unique constraint.
    let r = post(
        &app,
        "/admin/v1/connectors",
        &token,
        with(connector("CP-1", 1, "gbt_dc", "60"), "id", json!("CP-1-A")),
    )
    .await;
    assert_eq!(
        r.problem(409, "conflict")["constraint"],
        "connectors_charger_number_key"
    );

    for path in [
        "/admin/v1/stations/NOPE",
        "/admin/v1/chargers/NOPE",
        "/admin/v1/connectors/NOPE",
        "/admin/v1/tariffs/NOPE",
        "/admin/v1/stations/not%20an%20id",
    ] {
        get(&app, path, &token).await.problem(404, "not_found");
    }
    put(
        &app,
        "/admin/v1/stations/NOPE",
        &token,
        station("NOPE", "T1"),
    )
    .await
    .problem(404, "not_found");
    post(&app, "/admin/v1/connectors/NOPE/retire", &token, json!({}))
        .await
        .problem(404, "not_found");
    // The body's id must match the path.
    put(
        &app,
        "/admin/v1/stations/ST-1",
        &token,
        station("ST-2", "T1"),
    )
    .await
    .invalid("id");
}

#[tokio::test]
async fn tariff_versions_are_appended_never_changed() {
    let (app, token) = setup().await;
    // A later version, in the future.
    let v2 = with(
        tariff("T1"),
        "effective_from",
        json!("2099-01-01T00:00:00Z"),
    );
    let v2 = with(v2, "name", json!("新电价"));
    let r = post(&app, "/admin/v1/tariffs", &token, v2).await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(r.body["version"], 2);
    // Not earlier than the latest version.
    let early = with(
        tariff("T1"),
        "effective_from",
        json!("2098-01-01T00:00:00Z"),
    );
    post(&app, "/admin/v1/tariffs", &token, early)
        .await
        .invalid("effective_from");

    let all = get(&app, "/admin/v1/tariffs/T1", &token).await;
    assert_eq!(all.status, 200);
    let versions = all.body["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["segments"][0]["label"], "valley");
    assert_eq!(versions[0]["segments"][0]["electricity_price"], "0.3125");
    assert_eq!(versions[0]["idle_fee"]["grace_minutes"], 30);
    assert_eq!(versions[1]["name"], "新电价");

    let list = get(&app, "/admin/v1/tariffs", &token).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "latest version of each tariff");
    assert_eq!(items[0]["version"], 2);
}

#[tokio::test]
async fn pages_are_stable_while_stations_are_added() {
    let app = TestApp::spawn().await;
    let token = app.login_admin().await;
    let summary = app.import_demo().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/stations?limit=5&cursor={c}"),
            None => "/admin/v1/stations?limit=5".to_owned(),
        };
        let r = get(&app, &path, &token).await;
        assert_eq!(r.status, 200, "{:#}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 5);
        seen.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        pages += 1;
        if pages == 1 {
            // Added behind and ahead of the cursor while the client pages.
            for id in ["AA-0001", "SZ-9999"] {
                let r = post(&app, "/admin/v1/stations", &token, station(id, "T-SH-TOU")).await;
                assert_eq!(r.status, 201, "{:#}", r.body);
            }
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no station twice: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, seen, "ordered by id");
    assert_eq!(
        seen.len(),
        summary.stations + 1,
        "every original station, plus the one ahead"
    );
    assert!(seen.contains(&"SZ-9999".to_owned()));
    assert!(!seen.contains(&"AA-0001".to_owned()));

    for bad in ["limit=0", "limit=501", "limit=x", "cursor=%25%25"] {
        let r = get(&app, &format!("/admin/v1/stations?{bad}"), &token).await;
        r.problem(400, "invalid_query");
    }
}

#[tokio::test]
async fn connectors_and_chargers_filter_by_station_and_charger() {
    let app = TestApp::spawn().await;
    let token = app.login_admin().await;
    app.import_demo().await;
    let r = get(
        &app,
        "/admin/v1/chargers?station_id=SH-0101&limit=100",
        &token,
    )
    .await;
    let chargers = r.body["items"].as_array().unwrap();
    assert!(!chargers.is_empty());
    assert!(chargers.iter().all(|c| c["station_id"] == "SH-0101"));
    assert!(chargers.iter().all(|c| c["has_password"] == true));
    let r = get(&app, "/admin/v1/connectors?charger_id=SH0101-01", &token).await;
    let connectors = r.body["items"].as_array().unwrap();
    assert_eq!(connectors.len(), 2);
    assert!(connectors.iter().all(|c| c["charger_id"] == "SH0101-01"));
    let r = get(
        &app,
        "/admin/v1/connectors?station_id=SH-0101&limit=500",
        &token,
    )
    .await;
    assert!(r.body["items"].as_array().unwrap().len() >= 2);
    get(&app, "/admin/v1/connectors?updated_since=yesterday", &token)
        .await
        .problem(400, "invalid_query");
}

#[tokio::test]
async fn an_ocpp_password_is_shown_once_and_stored_hashed() {
    let (app, token) = setup().await;
    assert_eq!(
        post(&app, "/admin/v1/stations", &token, station("ST-1", "T1"))
            .await
            .status,
        201
    );
    assert_eq!(
        post(
            &app,
            "/admin/v1/chargers",
            &token,
            charger("CP-1", "ST-1", "7", "AC")
        )
        .await
        .status,
        201
    );

    // No body: a password is generated.
    let r = call(
        &app,
        Method::POST,
        "/admin/v1/chargers/CP-1/password",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["generated"], true);
    let first = r.body["password"].as_str().unwrap().to_owned();
    assert_eq!(first.len(), 20);
    assert_eq!(r.body["authorization_key_hex"], hex(&first));

    let c = get(&app, "/admin/v1/chargers/CP-1", &token).await;
    assert_eq!(c.body["has_password"], true);
    assert!(!c.body.to_string().contains(&first), "never shown again");

    // The store holds an argon2 hash of it, and the database file never the password.
    let id = ChargerId::parse("CP-1").unwrap();
    let creds = app.stores.chargers.charger_credentials(&id).await.unwrap();
    let hash = creds.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(secrets::verify_password(&first, &hash));
    let db = std::fs::read(&app.db_path).unwrap();
    let wal = std::fs::read(app.db_path.with_extension("db-wal")).unwrap_or_default();
    assert!(
        contains(&db, hash.as_bytes()) || contains(&wal, hash.as_bytes()),
        "the check reads the right files"
    );
    assert!(!contains(&db, first.as_bytes()) && !contains(&wal, first.as_bytes()));

    // Resetting with a chosen password replaces it.
    let r = post(
        &app,
        "/admin/v1/chargers/CP-1/password",
        &token,
        json!({"password": "chosen-by-the-operator"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert_eq!(r.body["generated"], false);
    let hash = app
        .stores
        .chargers
        .charger_credentials(&id)
        .await
        .unwrap()
        .password_hash
        .unwrap();
    assert!(secrets::verify_password("chosen-by-the-operator", &hash));
    assert!(!secrets::verify_password(&first, &hash));

    // Too short, or with spaces: refused, and the password stays.
    for bad in ["short", "has spaces in it"] {
        post(
            &app,
            "/admin/v1/chargers/CP-1/password",
            &token,
            json!({ "password": bad }),
        )
        .await
        .invalid("password");
    }
    post(&app, "/admin/v1/chargers/NOPE/password", &token, json!({}))
        .await
        .problem(404, "not_found");

    // The audit trail records the reset, never the password.
    let audit = get(&app, "/admin/v1/audit", &token).await;
    let text = audit.body.to_string();
    assert!(text.contains("charger.password_reset"));
    assert!(!text.contains(&first) && !text.contains("chosen-by-the-operator"));
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::builder()
        .with_config(|c| c.http.body_limit = 4096)
        .spawn()
        .await;
    let token = app.login_admin().await;
    let big = with(station("ST-1", "T1"), "parking", json!("x".repeat(10_000)));
    let r = post(&app, "/admin/v1/stations", &token, big).await;
    r.problem(413, "payload_too_large");
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}
