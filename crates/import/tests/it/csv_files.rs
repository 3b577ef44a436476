//! The CSV format: the shipped example, header recognition, row numbering, and row errors.

use openpile_core::geo::{Coordinates, Datum};
use openpile_core::ids::{ChargerId, StationId};
use openpile_core::network::{Charger, CurrentType, Registration};
use openpile_import::{ExistingNetwork, ReferenceTarget, parse_csv};
use rust_decimal::Decimal;

use crate::{places, repo_root};

fn example() -> Vec<(String, String)> {
    ["tariffs", "stations", "chargers", "connectors"]
        .iter()
        .map(|kind| {
            let name = format!("{kind}.csv");
            let text = std::fs::read_to_string(repo_root().join("demo/csv").join(&name)).unwrap();
            (name, text)
        })
        .collect()
}

/// The example with `file` replaced.
fn with(file: &str, content: &str) -> Vec<(String, String)> {
    let mut files = example();
    for (name, text) in &mut files {
        if name == file {
            *text = content.to_owned();
        }
    }
    files
}

fn expect(files: &[(String, String)], expected: &[(&str, &str)]) -> openpile_import::ImportErrors {
    let Err(errors) = parse_csv(files) else {
        panic!("accepted, expected {expected:?}")
    };
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(l, f)| (l.to_string(), f.to_string()))
        .collect();
    assert_eq!(places(&errors), expected, "\n{errors}");
    errors
}

#[test]
fn the_shipped_csv_example_parses() {
    let doc = match parse_csv(&example()) {
        Ok(doc) => doc,
        Err(e) => panic!("demo/csv does not import:\n{e}"),
    };
    let s = doc.summary();
    assert_eq!(
        (s.tariffs, s.stations, s.chargers, s.connectors),
        (1, 2, 4, 5)
    );
    assert!(doc.missing_references().is_empty());
    let t = &doc.tariffs()[0];
    assert_eq!(t.segments.len(), 7);
    assert_eq!(t.segments[0].start.to_string(), "08:00", "sorted by start");
    let fee = t.idle_fee.as_ref().unwrap();
    assert_eq!(
        (fee.price_per_minute.value(), fee.grace_minutes),
        (Decimal::new(3, 1), 15)
    );

    let [east, binjiang] = doc.stations() else {
        panic!("two stations")
    };
    assert_eq!(
        east.parking.as_deref(),
        Some("Free for 2 h while charging, then 5 CNY/h")
    );
    assert_eq!(east.photos.len(), 2);
    assert_eq!(binjiang.opening_hours.to_text(), "07:00-23:00");
    assert_eq!(
        binjiang.parking.as_deref(),
        Some("园区停车场，充电期间免费停车")
    );
    // Given in GCJ-02, stored in WGS-84.
    assert_eq!(
        binjiang.location,
        Coordinates::new(30.2050, 120.2090, Datum::Gcj02).unwrap()
    );
    assert_ne!(binjiang.location.lat, 30.2050);

    let passwords: Vec<bool> = doc
        .chargers()
        .iter()
        .map(|c| c.ocpp_password.is_some())
        .collect();
    assert_eq!(passwords, [true, true, true, false]);
    let ids: Vec<&str> = doc.connectors().iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "HZ0101-01-1",
            "HZ0101-01-2",
            "HZ0101-02-1",
            "HZ0102-01-1",
            "HZ0102-02-1"
        ]
    );
}

#[test]
fn files_are_recognised_by_header_whatever_their_names() {
    let files: Vec<(String, String)> = example()
        .into_iter()
        .enumerate()
        .map(|(i, (_, text))| (format!("export-{i}.csv"), text))
        .rev()
        .collect();
    let doc = parse_csv(&files).unwrap();
    assert_eq!(doc.summary().connectors, 5);
}

#[test]
fn a_byte_order_mark_and_trailing_blank_rows_are_ignored() {
    let stations = std::fs::read_to_string(repo_root().join("demo/csv/stations.csv")).unwrap();
    let files = with(
        "stations.csv",
        &format!("\u{feff}{stations},,,,,,,,,,,,,,,,\n\n"),
    );
    assert_eq!(parse_csv(&files).unwrap().summary().stations, 2);
}

#[test]
fn a_misspelt_column_names_both_the_stray_and_the_missing_column() {
    let files = with(
        "connectors.csv",
        "charger_id,numbr,standard,max_power_kw,voltage_v,current_a\n\
         HZ0101-01,1,gbt_dc,120,750,200\n",
    );
    let errors = expect(
        &files,
        &[
            ("connectors.csv row 1", "numbr"),
            ("connectors.csv row 1", "number"),
        ],
    );
    assert!(
        errors.errors()[0]
            .reason
            .starts_with("unknown column for a connectors file")
    );
}

#[test]
fn an_unrecognisable_header_is_reported_once() {
    let files = vec![(
        "notes.csv".to_owned(),
        "when,what\nmonday,nothing\n".to_owned(),
    )];
    expect(&files, &[("notes.csv row 1", "")]);
    let files = vec![("empty.csv".to_owned(), String::new())];
    expect(&files, &[("empty.csv", "")]);
}

#[test]
fn a_row_with_the_wrong_number_of_columns_is_reported_and_the_rest_checked() {
    let files = with(
        "connectors.csv",
        "charger_id,number,connector_id,standard,max_power_kw,voltage_v,current_a\n\
         HZ0101-01,1,,gbt_dc,120,750,200\n\
         HZ0101-01,2,gbt_dc,120,750,200\n\
         HZ0101-02,1,,gbt_ac,7,220,32\n\
         HZ0102-01,1,,gbt_dc,60,750,150\n\
         HZ0102-02,1,,gbt_ac,7,220,32,extra\n",
    );
    let errors = expect(
        &files,
        &[("connectors.csv row 3", ""), ("connectors.csv row 6", "")],
    );
    assert_eq!(
        errors.errors()[0].to_string(),
        "connectors.csv row 3: has 6 columns but the header has 7"
    );
}

#[test]
fn rows_are_numbered_as_a_spreadsheet_shows_them() {
    // A line break inside a quoted cell stays in one row; a blank line is a row of its own.
    let files = with(
        "connectors.csv",
        "charger_id,number,connector_id,standard,max_power_kw,voltage_v,current_a\n\
         HZ0101-01,1,\"HZ0101-01-1\",gbt_dc,120,750,200\n\
         \n\
         HZ0101-01,2,,\"gbt\ndc\",120,750,200\n\
         HZ0101-02,1,,gbt_ac,7,220,32\n\
         HZ0102-01,1,,gbt_dc,60,750,150\n\
         HZ0102-02,1,,gbt_ac,7,220,abc\n",
    );
    expect(
        &files,
        &[
            ("connectors.csv row 4", "standard"),
            ("connectors.csv row 7", "current_a"),
        ],
    );
}

#[test]
fn bad_cells_are_reported_with_row_and_column() {
    let files = with(
        "chargers.csv",
        "charger_id,station_id,vendor,model,serial,current_type,max_power_kw,firmware,ocpp_password\n\
         HZ0101-01,HZ-0101,特来电,TCDZ-DC120,,DC,120.55,,demo-HZ0101-01-pw\n\
         HZ0101-02,HZ 0101,星星充电,ACW7-G3,,AC,7,,pw\n\
         HZ0102-01,HZ-0102,,EVC60-1G,,DC,60,,\n\
         HZ0102-02,HZ-0102,星星充电,ACW7-G3,,AC,7,,\n",
    );
    expect(
        &files,
        &[
            ("chargers.csv row 2", "max_power_kw"),
            ("chargers.csv row 3", "station_id"),
            ("chargers.csv row 3", "ocpp_password"),
            ("chargers.csv row 4", "vendor"),
        ],
    );
}

#[test]
fn tariff_rows_of_one_version_must_agree_and_cover_the_day() {
    let tariffs = "tariff_id,name,version,effective_from,start,end,label,electricity_price,service_price\n\
        T-HZ-TOU,杭州充电站分时电价,1,2026-01-01T00:00:00+08:00,00:00,09:00,谷,0.3310,0.5000\n\
        T-HZ-TOU,杭州电价,1,2026-01-01T00:00:00+08:00,08:00,24:00,峰,0.9900,0.70001\n";
    let errors = expect(
        &with("tariffs.csv", tariffs),
        &[
            ("tariffs.csv row 3", "name"),
            ("tariffs.csv row 3", "service_price"),
        ],
    );
    assert!(errors.errors()[0].reason.contains("tariffs.csv row 2"));

    let overlapping = tariffs
        .replace("杭州电价", "杭州充电站分时电价")
        .replace("0.70001", "0.7");
    let errors = expect(
        &with("tariffs.csv", &overlapping),
        &[("tariffs.csv row 3", "")],
    );
    assert_eq!(
        errors.errors()[0].to_string(),
        "tariffs.csv row 3: overlaps tariffs.csv row 2 at 08:00"
    );

    let gap = overlapping.replace("08:00,24:00", "10:00,24:00");
    let errors = expect(
        &with("tariffs.csv", &gap),
        &[("tariffs.csv rows 2-3", "segments")],
    );
    assert!(errors.errors()[0].reason.contains("09:00 to 10:00"));
}

#[test]
fn csv_files_may_refer_to_what_the_store_already_has() {
    let connectors = "charger_id,number,standard,max_power_kw,voltage_v,current_a\n\
                      OLD-01,2,gbt_dc,60,750,150\n";
    let chargers = "charger_id,station_id,vendor,model,current_type,max_power_kw\n\
                    NEW-01,OLD-STATION,特来电,TCDZ-AC7,AC,7\n";
    let new_connector = "charger_id,number,standard,max_power_kw,voltage_v,current_a\n\
                         NEW-01,1,gbt_ac,7,220,32\n";
    let files = vec![
        ("a.csv".to_owned(), connectors.to_owned()),
        ("b.csv".to_owned(), chargers.to_owned()),
        ("c.csv".to_owned(), new_connector.to_owned()),
    ];
    let doc = parse_csv(&files).unwrap();
    let targets: Vec<ReferenceTarget> = doc
        .missing_references()
        .into_iter()
        .map(|r| r.target)
        .collect();
    let old_charger = ChargerId::parse("OLD-01").unwrap();
    let old_station = StationId::parse("OLD-STATION").unwrap();
    assert_eq!(
        targets,
        [
            ReferenceTarget::Station(old_station.clone()),
            ReferenceTarget::Charger(old_charger.clone()),
        ]
    );

    // Nothing in the store: both references fail, where they are made.
    let errors = doc
        .verify_references(&ExistingNetwork::default())
        .unwrap_err();
    assert_eq!(
        places(&errors),
        [
            ("b.csv row 2".to_owned(), "station_id".to_owned()),
            ("a.csv row 2".to_owned(), "charger_id".to_owned()),
        ]
    );

    // The stored charger is a 7 kW AC one: the 60 kW DC connector added to it does not fit.
    let stored = |current_type, kw| Charger {
        id: old_charger.clone(),
        station_id: old_station.clone(),
        vendor: "星星充电".into(),
        model: "ACW7-G3".into(),
        serial: None,
        current_type,
        max_power_kw: Decimal::from(kw),
        firmware: None,
        registration: Registration::Registered,
        retired_at: None,
    };
    let mut existing = ExistingNetwork::default();
    existing.stations.insert(old_station.clone());
    existing
        .chargers
        .insert(old_charger.clone(), stored(CurrentType::Ac, 7));
    let errors = doc.verify_references(&existing).unwrap_err();
    assert_eq!(
        places(&errors),
        [("a.csv row 2".to_owned(), "max_power_kw".to_owned())]
    );
    existing
        .chargers
        .insert(old_charger.clone(), stored(CurrentType::Dc, 60));
    doc.verify_references(&existing).unwrap();
}

#[test]
fn a_charger_needs_its_connectors_in_the_same_import() {
    let connectors = "charger_id,number,standard,max_power_kw,voltage_v,current_a\n\
                      HZ0101-01,1,gbt_dc,120,750,200\n\
                      HZ0101-02,1,gbt_ac,7,220,32\n\
                      HZ0102-01,1,gbt_dc,60,750,150\n";
    expect(
        &with("connectors.csv", connectors),
        &[("chargers.csv row 5", "connectors")],
    );
}
