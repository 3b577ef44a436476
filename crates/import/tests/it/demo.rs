//! The shipped demo network must always import cleanly: `openpile demo` loads it.

use std::collections::{BTreeMap, BTreeSet};

use openpile_core::network::{ConnectorStandard, CurrentType};
use openpile_core::tariff::PeriodLabel;
use openpile_import::parse_json;
use rust_decimal::Decimal;

use crate::repo_root;

fn demo() -> openpile_import::ImportDocument {
    let text = std::fs::read_to_string(repo_root().join("demo/network.json")).unwrap();
    match parse_json(&text) {
        Ok(doc) => doc,
        Err(e) => panic!("demo/network.json does not import:\n{e}"),
    }
}

#[test]
fn the_demo_network_parses_without_errors_and_is_self_contained() {
    let doc = demo();
    assert!(doc.missing_references().is_empty());
    let s = doc.summary();
    assert!((18..=24).contains(&s.stations), "{s:?}");
    assert!((55..=65).contains(&s.chargers), "{s:?}");
    assert!(s.connectors >= s.chargers, "{s:?}");
}

#[test]
fn the_demo_network_spans_two_cities_with_district_area_codes() {
    let doc = demo();
    let mut per_city: BTreeMap<&str, usize> = BTreeMap::new();
    for st in doc.stations() {
        *per_city.entry(st.city.as_str()).or_default() += 1;
        // A district code, inside the city the station names.
        assert_ne!(st.area_code.to_string(), st.area_code.city().to_string());
        let city_prefix = match st.city.as_str() {
            "上海市" => "3101",
            "深圳市" => "4403",
            other => panic!("unexpected city {other}"),
        };
        assert!(
            st.area_code.to_string().starts_with(city_prefix),
            "{}",
            st.id
        );
        // Inside the city's bounding box.
        let (lat, lng) = (st.location.lat, st.location.lng);
        let inside = match st.city.as_str() {
            "上海市" => (30.6..31.9).contains(&lat) && (120.8..122.2).contains(&lng),
            _ => (22.4..22.9).contains(&lat) && (113.7..114.7).contains(&lng),
        };
        assert!(inside, "{} at {lat},{lng}", st.id);
    }
    assert_eq!(per_city.len(), 2, "{per_city:?}");
    assert!(per_city.values().all(|n| *n >= 8), "{per_city:?}");
}

#[test]
fn the_demo_network_has_marked_sandbox_stations() {
    let doc = demo();
    let sandbox: Vec<_> = doc.stations().iter().filter(|s| s.sandbox).collect();
    assert!(sandbox.len() >= 4, "{}", sandbox.len());
    for s in sandbox {
        assert!(
            s.name.contains("沙箱") && s.name.contains("Sandbox"),
            "{}",
            s.name
        );
    }
}

#[test]
fn the_demo_chargers_mix_7_kw_ac_and_60_to_160_kw_dc_gbt() {
    let doc = demo();
    let powers: BTreeSet<String> = doc
        .chargers()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.charger.current_type.as_str(),
                c.charger.max_power_kw
            )
        })
        .collect();
    let expected: BTreeSet<String> = ["AC 7", "DC 60", "DC 120", "DC 160"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(powers, expected);
    for c in doc.chargers() {
        let n = doc
            .connectors()
            .iter()
            .filter(|k| k.charger_id == c.charger.id)
            .count();
        assert!((1..=2).contains(&n), "{} has {n} connectors", c.charger.id);
        assert!(
            c.ocpp_password.is_some(),
            "{} has no OCPP password",
            c.charger.id
        );
    }
    for k in doc.connectors() {
        match k.standard {
            ConnectorStandard::GbtAc => assert_eq!((k.voltage_v, k.current_a), (220, 32)),
            ConnectorStandard::GbtDc => {
                assert!([750, 1000].contains(&k.voltage_v));
                assert!((150..=250).contains(&k.current_a));
            }
            other => panic!("{other:?} in the demo"),
        }
        assert_eq!(k.id.as_str(), format!("{}-{}", k.charger_id, k.number));
    }
    assert!(
        doc.chargers()
            .iter()
            .any(|c| c.charger.current_type == CurrentType::Ac)
    );
}

#[test]
fn the_demo_tariffs_are_realistic_time_of_use_tariffs() {
    let doc = demo();
    let ids: BTreeSet<&str> = doc.tariffs().iter().map(|t| t.id.as_str()).collect();
    assert!((2..=3).contains(&ids.len()), "{ids:?}");
    // CNY per kWh: electricity about 0.3 to 1.3, service fee 0.4 to 0.8.
    let electricity = Decimal::new(25, 2)..=Decimal::new(13, 1);
    let service = Decimal::new(4, 1)..=Decimal::new(8, 1);
    for t in doc.tariffs() {
        for s in &t.segments {
            let e = s.electricity_price.value();
            assert!(electricity.contains(&e), "{} {e}", t.id);
            let sv = s.service_price.value();
            assert!(service.contains(&sv), "{} {sv}", t.id);
            assert!(s.label.is_some());
        }
    }
    let labels: BTreeSet<&str> = doc
        .tariffs()
        .iter()
        .flat_map(|t| {
            t.segments
                .iter()
                .filter_map(|s| s.label.map(PeriodLabel::as_str))
        })
        .collect();
    assert!(
        labels.contains("sharp") && labels.contains("valley"),
        "{labels:?}"
    );
    assert!(doc.tariffs().iter().any(|t| t.idle_fee.is_some()));
    // Every station's tariff is in the file.
    for s in doc.stations() {
        assert!(ids.contains(s.tariff_id.as_str()), "{}", s.id);
    }
}

#[test]
fn importing_the_demo_hashes_every_password_and_drops_the_plaintext() {
    let doc = demo();
    let debug = format!("{doc:?}");
    assert!(!debug.contains("-pw"), "a password shows in Debug output");
    let batch = doc.into_batch(|p| format!("hashed({})", p.len()));
    assert!(
        batch
            .chargers
            .iter()
            .all(|(_, h)| h.as_deref().is_some_and(|h| h.starts_with("hashed(")))
    );
}
