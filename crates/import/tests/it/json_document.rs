//! The JSON format: a minimal valid document, then one change per case, each reported at an
//! exact location and field.

use openpile_core::ids::TariffId;
use openpile_import::{ExistingNetwork, ReferenceTarget, parse_json};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::places;

/// One tariff (two segments), one station with a 120 kW DC charger (two connectors) and a 7 kW
/// AC charger (one connector).
fn valid() -> Value {
    json!({
        "tariffs": [{
            "id": "T1",
            "name": "测试电价",
            "effective_from": "2026-01-01T00:00:00+08:00",
            "segments": [
                {"start": "00:00", "end": "08:00", "label": "谷",
                 "electricity_price": "0.3000", "service_price": "0.4000"},
                {"start": "08:00", "end": "24:00", "label": "peak",
                 "electricity_price": "0.9000", "service_price": "0.6000"}
            ],
            "idle_fee": {"price_per_minute": "0.5", "grace_minutes": 30}
        }],
        "stations": [{
            "id": "S-1",
            "name": "张江高科地铁站P+R充电站",
            "address": "上海市浦东新区科苑路1288号",
            "area_code": "310115",
            "province": "上海市", "city": "上海市", "district": "浦东新区",
            "lat": 31.2046, "lng": 121.5829,
            "opening_hours": "24/7",
            "service_phone": "400-161-8899",
            "tariff_id": "T1",
            "chargers": [
                {"id": "C-1", "vendor": "特来电", "model": "TCDZ-DC120", "current_type": "DC",
                 "max_power_kw": 120, "ocpp_password": "demo-C-1-pw",
                 "connectors": [
                    {"number": 1, "standard": "gbt_dc", "max_power_kw": 120,
                     "voltage_v": 750, "current_a": 200},
                    {"number": 2, "standard": "gbt_dc", "max_power_kw": "120",
                     "voltage_v": 750, "current_a": 200}
                 ]},
                {"id": "C-2", "vendor": "星星充电", "model": "ACW7-G3", "current_type": "AC",
                 "max_power_kw": 7,
                 "connectors": [
                    {"number": 1, "standard": "gbt_ac", "max_power_kw": 7,
                     "voltage_v": 220, "current_a": 32}
                 ]}
            ]
        }]
    })
}

fn parse(v: &Value) -> Result<openpile_import::ImportDocument, openpile_import::ImportErrors> {
    parse_json(&v.to_string())
}

#[test]
fn a_valid_document_yields_core_types() {
    let doc = parse(&valid()).unwrap();
    let s = doc.summary();
    assert_eq!(
        (s.tariffs, s.stations, s.chargers, s.connectors),
        (1, 1, 2, 3)
    );
    let ids: Vec<&str> = doc.connectors().iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["C-1-1", "C-1-2", "C-2-1"]);
    let t = &doc.tariffs()[0];
    assert_eq!(t.version, 1);
    assert_eq!(t.effective_from.to_rfc3339(), "2025-12-31T16:00:00+00:00");
    assert_eq!(t.idle_fee.as_ref().unwrap().grace_minutes, 30);
    let st = &doc.stations()[0];
    assert!(!st.sandbox);
    assert_eq!(st.status.as_str(), "operational");
    assert!(doc.missing_references().is_empty());
}

/// Each case changes the valid document and names every (location, field) expected.
type Case = (
    &'static str,
    fn(&mut Value),
    &'static [(&'static str, &'static str)],
);

const S0: &str = "stations[0]";
const C0: &str = "stations[0].chargers[0]";
const K0: &str = "stations[0].chargers[0].connectors[0]";
const K1: &str = "stations[0].chargers[0].connectors[1]";
const SEG0: &str = "tariffs[0].segments[0]";

const CASES: &[Case] = &[
    (
        "bad station id",
        |v| v["stations"][0]["id"] = json!("S 1"),
        &[(S0, "id")],
    ),
    (
        "station id too long",
        |v| v["stations"][0]["id"] = json!("S".repeat(21)),
        &[(S0, "id")],
    ),
    (
        "charger id with a slash",
        |v| v["stations"][0]["chargers"][0]["id"] = json!("C/1"),
        &[(C0, "id")],
    ),
    (
        "latitude out of range",
        |v| v["stations"][0]["lat"] = json!(91.0),
        &[(S0, "lat")],
    ),
    (
        "longitude out of range",
        |v| v["stations"][0]["lng"] = json!(-181),
        &[(S0, "lng")],
    ),
    (
        "coordinates as strings",
        |v| v["stations"][0]["lat"] = json!("31.2"),
        &[(S0, "lat")],
    ),
    (
        "area code of 5 digits",
        |v| v["stations"][0]["area_code"] = json!("31011"),
        &[(S0, "area_code")],
    ),
    (
        "area code outside China",
        |v| v["stations"][0]["area_code"] = json!("990101"),
        &[(S0, "area_code")],
    ),
    (
        "opening hours unreadable",
        |v| v["stations"][0]["opening_hours"] = json!("9am-5pm"),
        &[(S0, "opening_hours")],
    ),
    (
        "phone with letters",
        |v| v["stations"][0]["service_phone"] = json!("call us"),
        &[(S0, "service_phone")],
    ),
    (
        "photo not a URL",
        |v| v["stations"][0]["photos"] = json!(["https://a.example/1.jpg", "ftp://x"]),
        &[(S0, "photos[1]")],
    ),
    (
        "unknown datum",
        |v| v["stations"][0]["datum"] = json!("bd09"),
        &[(S0, "datum")],
    ),
    (
        "unknown status",
        |v| v["stations"][0]["status"] = json!("open"),
        &[(S0, "status")],
    ),
    (
        "missing name",
        |v| {
            v["stations"][0].as_object_mut().unwrap().remove("name");
        },
        &[(S0, "name")],
    ),
    (
        "sandbox as a string",
        |v| v["stations"][0]["sandbox"] = json!("yes"),
        &[(S0, "sandbox")],
    ),
    (
        "overlapping segments",
        |v| v["tariffs"][0]["segments"][0]["end"] = json!("09:00"),
        &[("tariffs[0].segments[1]", "")],
    ),
    (
        "gap between segments",
        |v| v["tariffs"][0]["segments"][0]["end"] = json!("07:00"),
        &[("tariffs[0]", "segments")],
    ),
    (
        "no segments",
        |v| v["tariffs"][0]["segments"] = json!([]),
        &[("tariffs[0]", "segments")],
    ),
    (
        "time not HH:MM",
        |v| v["tariffs"][0]["segments"][0]["start"] = json!("0:00"),
        &[(SEG0, "start")],
    ),
    (
        "negative price",
        |v| v["tariffs"][0]["segments"][0]["electricity_price"] = json!("-0.1000"),
        &[(SEG0, "electricity_price")],
    ),
    (
        "negative price as a number",
        |v| v["tariffs"][0]["segments"][0]["service_price"] = json!(-0.4),
        &[(SEG0, "service_price")],
    ),
    (
        "five decimals",
        |v| v["tariffs"][0]["segments"][0]["electricity_price"] = json!("0.35001"),
        &[(SEG0, "electricity_price")],
    ),
    (
        "five decimals as a number",
        |v| v["tariffs"][0]["segments"][0]["electricity_price"] = json!(0.35001),
        &[(SEG0, "electricity_price")],
    ),
    (
        "price with an exponent",
        |v| v["tariffs"][0]["segments"][0]["electricity_price"] = json!("3.5e-1"),
        &[(SEG0, "electricity_price")],
    ),
    (
        "unknown period label",
        |v| v["tariffs"][0]["segments"][0]["label"] = json!("night"),
        &[(SEG0, "label")],
    ),
    (
        "effective_from without offset",
        |v| v["tariffs"][0]["effective_from"] = json!("2026-01-01 00:00"),
        &[("tariffs[0]", "effective_from")],
    ),
    (
        "version zero",
        |v| v["tariffs"][0]["version"] = json!(0),
        &[("tariffs[0]", "version")],
    ),
    (
        "idle grace too long",
        |v| v["tariffs"][0]["idle_fee"]["grace_minutes"] = json!(1441),
        &[("tariffs[0].idle_fee", "grace_minutes")],
    ),
    (
        "idle fee negative",
        |v| v["tariffs"][0]["idle_fee"]["price_per_minute"] = json!("-1"),
        &[("tariffs[0].idle_fee", "price_per_minute")],
    ),
    (
        "same tariff version twice",
        |v| {
            let t = v["tariffs"][0].clone();
            v["tariffs"].as_array_mut().unwrap().push(t);
        },
        &[("tariffs[1]", "version")],
    ),
    (
        "later version effective earlier",
        |v| {
            let mut t = v["tariffs"][0].clone();
            t["version"] = json!(2);
            t["effective_from"] = json!("2025-06-01T00:00:00+08:00");
            v["tariffs"].as_array_mut().unwrap().push(t);
        },
        &[("tariffs[1]", "effective_from")],
    ),
    (
        "unknown connector standard",
        |v| v["stations"][0]["chargers"][0]["connectors"][0]["standard"] = json!("tesla"),
        &[(K0, "standard")],
    ),
    (
        "AC standard on a DC charger",
        |v| v["stations"][0]["chargers"][0]["connectors"][0]["standard"] = json!("gbt_ac"),
        &[(K0, "standard")],
    ),
    (
        "connector stronger than its charger",
        |v| v["stations"][0]["chargers"][0]["connectors"][0]["max_power_kw"] = json!(180),
        &[(K0, "max_power_kw")],
    ),
    (
        "voltage out of range",
        |v| v["stations"][0]["chargers"][0]["connectors"][0]["voltage_v"] = json!(5),
        &[(K0, "voltage_v")],
    ),
    (
        "voltage as a string",
        |v| v["stations"][0]["chargers"][0]["connectors"][0]["voltage_v"] = json!("750"),
        &[(K0, "voltage_v")],
    ),
    (
        "connector number zero",
        |v| v["stations"][0]["chargers"][0]["connectors"][0]["number"] = json!(0),
        &[(K0, "number")],
    ),
    (
        "duplicate connector number",
        |v| v["stations"][0]["chargers"][0]["connectors"][1]["number"] = json!(1),
        &[(K1, "number")],
    ),
    (
        "duplicate connector id",
        |v| v["stations"][0]["chargers"][0]["connectors"][1]["id"] = json!("C-1-1"),
        &[(K1, "id")],
    ),
    (
        "duplicate charger id",
        |v| v["stations"][0]["chargers"][1]["id"] = json!("C-1"),
        &[
            ("stations[0].chargers[1]", "id"),
            ("stations[0].chargers[1].connectors[0]", "number"),
        ],
    ),
    (
        "duplicate station id",
        |v| {
            let mut s = v["stations"][0].clone();
            s["chargers"] = json!([]);
            v["stations"].as_array_mut().unwrap().push(s);
        },
        &[("stations[1]", "id")],
    ),
    (
        "charger without connectors",
        |v| v["stations"][0]["chargers"][1]["connectors"] = json!([]),
        &[("stations[0].chargers[1]", "connectors")],
    ),
    (
        "unknown charger field",
        |v| v["stations"][0]["chargers"][0]["vendr"] = json!("x"),
        &[(C0, "vendr")],
    ),
    (
        "unknown top-level field",
        |v| v["station"] = json!([]),
        &[("document", "station")],
    ),
    (
        "unknown AC/DC",
        |v| v["stations"][0]["chargers"][1]["current_type"] = json!("3-phase"),
        &[("stations[0].chargers[1]", "current_type")],
    ),
    (
        "charger power with two decimals",
        |v| v["stations"][0]["chargers"][1]["max_power_kw"] = json!("7.05"),
        &[("stations[0].chargers[1]", "max_power_kw")],
    ),
    (
        "OCPP password too short",
        |v| v["stations"][0]["chargers"][0]["ocpp_password"] = json!("short"),
        &[(C0, "ocpp_password")],
    ),
    (
        "OCPP password as a number",
        |v| v["stations"][0]["chargers"][0]["ocpp_password"] = json!(12345678),
        &[(C0, "ocpp_password")],
    ),
    (
        "chargers not an array",
        |v| v["stations"][0]["chargers"] = json!({}),
        &[(S0, "chargers")],
    ),
    (
        "station not an object",
        |v| v["stations"][0] = json!("S-1"),
        &[(S0, "")],
    ),
    (
        "name is an array",
        |v| v["stations"][0]["name"] = json!(["a"]),
        &[(S0, "name")],
    ),
];

#[test]
fn each_bad_input_is_reported_at_its_exact_location_and_field() {
    for (name, change, expected) in CASES {
        let mut v = valid();
        change(&mut v);
        let Err(errors) = parse(&v) else {
            panic!("{name}: accepted")
        };
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(l, f)| (l.to_string(), f.to_string()))
            .collect();
        assert_eq!(places(&errors), expected, "{name}:\n{errors}");
    }
}

#[test]
fn reasons_read_as_the_operator_needs_them() {
    let reason = |change: fn(&mut Value)| {
        let mut v = valid();
        change(&mut v);
        parse(&v).unwrap_err().errors()[0].to_string()
    };
    assert_eq!(
        reason(|v| v["stations"][0]["chargers"][0]["connectors"][0]["max_power_kw"] = json!(180)),
        "stations[0].chargers[0].connectors[0]: max_power_kw: exceeds the charger's 120 kW"
    );
    assert_eq!(
        reason(|v| v["tariffs"][0]["segments"][0]["end"] = json!("09:00")),
        "tariffs[0].segments[1]: overlaps tariffs[0].segments[0] at 08:00"
    );
    assert_eq!(
        reason(|v| v["tariffs"][0]["segments"][0]["end"] = json!("07:00")),
        "tariffs[0]: segments: leave a gap from 07:00 to 08:00"
    );
    assert_eq!(
        reason(|v| v["stations"][0]["chargers"][0]["connectors"][1]["number"] = json!(1)),
        "stations[0].chargers[0].connectors[1]: number: charger C-1 already has connector 1 at \
         stations[0].chargers[0].connectors[0]"
    );
    let unknown = reason(|v| v["stations"][0]["chargers"][0]["vendr"] = json!("x"));
    assert!(
        unknown.starts_with("stations[0].chargers[0]: vendr: unknown field"),
        "{unknown}"
    );
}

#[test]
fn every_problem_in_a_document_is_reported_at_once() {
    let mut v = valid();
    v["stations"][0]["lat"] = json!(100);
    v["stations"][0]["area_code"] = json!("abc");
    v["tariffs"][0]["segments"][1]["service_price"] = json!("0.12345");
    v["stations"][0]["chargers"][1]["connectors"][0]["standard"] = json!("type3");
    v["stations"][0]["chargers"][0]["firmwre"] = json!("1.0");
    let errors = parse(&v).unwrap_err();
    let mut got = places(&errors);
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("stations[0]", "lat"),
        ("stations[0]", "area_code"),
        ("tariffs[0].segments[1]", "service_price"),
        ("stations[0].chargers[1].connectors[0]", "standard"),
        ("stations[0].chargers[0]", "firmwre"),
    ]
    .iter()
    .map(|(l, f)| (l.to_string(), f.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want, "{errors}");
    let shown = errors.to_string();
    assert!(shown.starts_with("5 errors in the import:"), "{shown}");
}

#[test]
fn malformed_json_names_line_and_column() {
    let errors = parse_json("{\n  \"tariffs\": [\n    {\"id\": \"T1\",}\n  ]\n}").unwrap_err();
    assert_eq!(errors.len(), 1);
    let e = &errors.errors()[0];
    assert_eq!(e.location, "line 3, column 17");
    assert_eq!(e.field, "");
    assert!(e.reason.starts_with("not valid JSON: "), "{}", e.reason);
    assert!(
        !e.reason.contains("line"),
        "position belongs in the location: {}",
        e.reason
    );
    let e = parse_json("[1, 2]").unwrap_err();
    assert_eq!(places(&e), [("document".to_string(), String::new())]);
}

#[test]
fn prices_given_as_numbers_stay_exact() {
    let mut v = valid();
    let text = v
        .to_string()
        .replace("\"0.3000\"", "0.35")
        .replace("\"0.4000\"", "0.4");
    let doc = parse_json(&text).unwrap();
    let seg = &doc.tariffs()[0].segments[0];
    assert_eq!(seg.electricity_price.value(), Decimal::new(35, 2));
    assert_eq!(seg.service_price.value(), Decimal::new(4, 1));
    // 1000 CNY is the most core accepts; 0.0001 the finest step.
    v["tariffs"][0]["segments"][0]["electricity_price"] = json!(0.0001);
    let doc = parse(&v).unwrap();
    assert_eq!(
        doc.tariffs()[0].segments[0].electricity_price.value(),
        Decimal::new(1, 4)
    );
}

#[test]
fn gcj02_coordinates_are_stored_as_wgs84() {
    let mut v = valid();
    v["stations"][0]["datum"] = json!("gcj02");
    let doc = parse(&v).unwrap();
    let loc = doc.stations()[0].location;
    // In Shanghai the GCJ-02 offset is a few hundred metres west-south-west of the input.
    assert!(loc.lng < 121.5829 - 0.003 && loc.lat > 31.2046, "{loc:?}");
    let (lat, lng) = loc.gcj02();
    assert!((lat - 31.2046).abs() < 1e-5 && (lng - 121.5829).abs() < 1e-5);
}

#[test]
fn a_tariff_outside_the_document_is_a_missing_reference() {
    let mut v = valid();
    v["stations"][0]["tariff_id"] = json!("T-ELSEWHERE");
    let doc = parse(&v).unwrap();
    let refs = doc.missing_references();
    assert_eq!(refs.len(), 1);
    let r = &refs[0];
    let elsewhere = TariffId::parse("T-ELSEWHERE").unwrap();
    assert_eq!(r.target, ReferenceTarget::Tariff(elsewhere.clone()));
    assert_eq!(
        (r.location.as_str(), r.field.as_str()),
        ("stations[0]", "tariff_id")
    );

    let errors = doc
        .verify_references(&ExistingNetwork::default())
        .unwrap_err();
    assert_eq!(
        errors.errors()[0].to_string(),
        "stations[0]: tariff_id: tariff T-ELSEWHERE is neither in the import nor in the store"
    );
    let mut existing = ExistingNetwork::default();
    existing.tariffs.insert(elsewhere);
    doc.verify_references(&existing).unwrap();
}

#[test]
fn passwords_are_hashed_by_the_callers_function_and_never_debug_printed() {
    let doc = parse(&valid()).unwrap();
    assert!(!format!("{doc:?}").contains("demo-C-1-pw"));
    let batch = doc.into_batch(|p| format!("argon2({p})"));
    let hashes: Vec<Option<&str>> = batch.chargers.iter().map(|(_, h)| h.as_deref()).collect();
    assert_eq!(hashes, [Some("argon2(demo-C-1-pw)"), None]);
    assert_eq!(batch.connectors.len(), 3);
    assert_eq!(batch.tariffs.len(), 1);
}

#[test]
fn a_failing_hash_yields_no_batch() {
    let doc = parse(&valid()).unwrap();
    let failed = doc.try_into_batch(|_| Err::<String, _>("no entropy"));
    assert_eq!(failed.unwrap_err(), "no entropy");
    let doc = parse(&valid()).unwrap();
    let batch = doc
        .try_into_batch(|p| Ok::<_, ()>(p.len().to_string()))
        .unwrap();
    assert_eq!(batch.chargers[0].1.as_deref(), Some("11"));
}
