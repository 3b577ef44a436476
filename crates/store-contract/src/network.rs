//! Contract of [`NetworkStore`]: tariffs, stations, chargers and connectors as operators manage
//! them, their named constraint violations, keyset paging and all-or-nothing import.

use std::collections::BTreeSet;

use openpile_core::error::StoreError;
use openpile_core::network::{Registration, StationStatus};
use openpile_core::page::PageRequest;
use openpile_core::ports::{
    BootInfo, ChargerStore, ConnectorFilter, ImportSummary, NetworkBatch, NetworkStore,
    ReportedStatus,
};
use openpile_core::status::{ChargePointStatus, ConnectorStatus};
use rust_decimal::Decimal;

use crate::fixtures::{
    self, PASSWORD_HASH, TARIFF, at, charger, charger_id, connector, connector_id, network,
    network_charger, network_station, seed, station, station_id, tariff, tariff_id, tariff_version,
};
use crate::{assert_conflict, assert_not_found};

/// The ports every function here needs. Some also use [`ChargerStore`] to move live state.
pub trait Store: NetworkStore + ChargerStore {}
impl<S: NetworkStore + ChargerStore> Store for S {}

/// Reads every page of a list, checking that pages hold at most `limit` items and that the
/// last page has no `next`.
async fn all_pages<T, F, Fut>(limit: u32, mut fetch: F, key: impl Fn(&T) -> String) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<openpile_core::page::Page<T>, StoreError>>,
{
    let mut out = Vec::new();
    let mut req = PageRequest::first(limit);
    for _ in 0..1000 {
        let page = fetch(req.clone()).await.unwrap();
        assert!(page.items.len() <= limit as usize, "page larger than limit");
        if let Some(next) = &page.next {
            assert_eq!(
                page.items.len(),
                limit as usize,
                "a page before the last is full"
            );
            assert_eq!(page.items.last().map(&key).as_deref(), Some(next.as_str()));
        }
        out.extend(page.items);
        match page.next {
            Some(next) => req.after = Some(next),
            None => return out,
        }
    }
    panic!("paging did not end");
}

// ------------------------------------------------------------------------------------------
// Stations

pub async fn station_round_trips<S: Store>(store: S) {
    store.put_tariff(&tariff(TARIFF)).await.unwrap();
    let s = station("S1");
    store.put_station(&s).await.unwrap();
    assert_eq!(store.get_station(&s.id).await.unwrap(), s);

    // The other shapes: no parking, no photos, always open, sandbox, other tariff.
    store
        .put_tariff(&fixtures::flat_tariff("T-FLAT"))
        .await
        .unwrap();
    let mut other = station("S2");
    other.parking = None;
    other.photos = vec![];
    other.opening_hours = openpile_core::network::OpeningHours::AlwaysOpen;
    other.sandbox = true;
    other.status = StationStatus::Planned;
    other.tariff_id = tariff_id("T-FLAT");
    store.put_station(&other).await.unwrap();
    assert_eq!(store.get_station(&other.id).await.unwrap(), other);
}

pub async fn put_station_updates_in_place<S: Store>(store: S) {
    store.put_tariff(&tariff(TARIFF)).await.unwrap();
    let mut s = station("S1");
    store.put_station(&s).await.unwrap();
    s.name = "张江高科充电站(二期)".to_string();
    s.status = StationStatus::Maintenance;
    s.photos.pop();
    store.put_station(&s).await.unwrap();
    assert_eq!(store.get_station(&s.id).await.unwrap(), s);
    let page = store
        .list_stations(&PageRequest::first(10), true)
        .await
        .unwrap();
    assert_eq!(page.items, vec![s]);
}

pub async fn put_station_needs_its_tariff<S: Store>(store: S) {
    assert_conflict(
        store.put_station(&station("S1")).await,
        "stations_tariff_fk",
    );
    assert_not_found(store.get_station(&station_id("S1")).await);

    // Moving an existing station to an unknown tariff is refused the same way.
    store.put_tariff(&tariff(TARIFF)).await.unwrap();
    store.put_station(&station("S1")).await.unwrap();
    let mut moved = station("S1");
    moved.tariff_id = tariff_id("T-NONE");
    assert_conflict(store.put_station(&moved).await, "stations_tariff_fk");
    assert_eq!(
        store.get_station(&station_id("S1")).await.unwrap(),
        station("S1")
    );
}

pub async fn unknown_station_is_not_found<S: Store>(store: S) {
    assert_not_found(store.get_station(&station_id("NOPE")).await);
}

pub async fn stations_page_without_gaps_or_duplicates<S: Store>(store: S) {
    store.put_tariff(&tariff(TARIFF)).await.unwrap();
    // Inserted out of order: pages follow the id, not insertion.
    let mut ids: Vec<String> = (1..=23)
        .map(|i| format!("S{:02}", (i * 7) % 23 + 1))
        .collect();
    for id in &ids {
        store.put_station(&station(id)).await.unwrap();
    }
    ids.sort();
    for limit in [1, 5, 23, 100] {
        let got = all_pages(
            limit,
            |req| {
                let store = &store;
                async move { store.list_stations(&req, false).await }
            },
            |s| s.id.to_string(),
        )
        .await;
        let got: Vec<String> = got.iter().map(|s| s.id.to_string()).collect();
        assert_eq!(got, ids, "limit {limit}");
    }

    // A station created behind the cursor while paging is not seen twice, one ahead of it is
    // seen: keyset paging is stable under inserts.
    let first = store
        .list_stations(&PageRequest::first(10), false)
        .await
        .unwrap();
    store.put_station(&station("S00")).await.unwrap();
    store.put_station(&station("S99")).await.unwrap();
    let mut seen: Vec<String> = first.items.iter().map(|s| s.id.to_string()).collect();
    let mut after = first.next.clone();
    while let Some(cursor) = after {
        let req = PageRequest {
            limit: 10,
            after: Some(cursor),
        };
        let page = store.list_stations(&req, false).await.unwrap();
        seen.extend(page.items.iter().map(|s| s.id.to_string()));
        after = page.next;
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    assert!(seen.contains(&"S99".to_string()));
    assert!(!seen.contains(&"S00".to_string()));
    assert_eq!(seen.len(), 24);
}

pub async fn retired_stations_are_listed_only_on_request<S: Store>(store: S) {
    seed(&store, &network(3, 0, 0)).await;
    store
        .retire_station(&station_id("S002"), at(5))
        .await
        .unwrap();
    let active = store
        .list_stations(&PageRequest::first(10), false)
        .await
        .unwrap();
    let ids: Vec<String> = active.items.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(ids, ["S001", "S003"]);
    let all = store
        .list_stations(&PageRequest::first(10), true)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    assert_eq!(all.items[1].retired_at, Some(at(5)));
    assert_eq!(
        store
            .get_station(&station_id("S002"))
            .await
            .unwrap()
            .retired_at,
        Some(at(5))
    );
}

pub async fn retiring_a_station_retires_its_chargers_and_connectors<S: Store>(store: S) {
    seed(&store, &network(2, 2, 2)).await;
    store
        .retire_station(&station_id("S001"), at(10))
        .await
        .unwrap();
    for j in 1..=2 {
        let c = store
            .get_charger(&charger_id(&network_charger(1, j)))
            .await
            .unwrap();
        assert_eq!(c.charger.retired_at, Some(at(10)));
        let creds = store
            .charger_credentials(&charger_id(&network_charger(1, j)))
            .await
            .unwrap();
        assert!(creds.retired);
        for n in 1..=2 {
            let id = connector_id(&format!("{}-{n}", network_charger(1, j)));
            let v = store.get_connector(&id).await.unwrap();
            assert_eq!(v.connector.retired_at, Some(at(10)));
        }
    }
    // The other station is untouched.
    let other = store
        .get_charger(&charger_id(&network_charger(2, 1)))
        .await
        .unwrap();
    assert_eq!(other.charger.retired_at, None);
    let live = store
        .list_connectors(&ConnectorFilter::default(), &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(live.items.len(), 4);
}

pub async fn retiring_an_unknown_station_is_not_found<S: Store>(store: S) {
    assert_not_found(store.retire_station(&station_id("NOPE"), at(0)).await);
}

// ------------------------------------------------------------------------------------------
// Chargers

pub async fn charger_round_trips_with_its_password_flag<S: Store>(store: S) {
    seed(&store, &network(1, 0, 0)).await;
    let with = charger("C-PW", "S001");
    let mut without = charger("C-NOPW", "S001");
    without.serial = None;
    without.firmware = None;
    without.max_power_kw = Decimal::new(75, 1); // 7.5 kW
    without.current_type = openpile_core::network::CurrentType::Ac;
    store.put_charger(&with, Some(PASSWORD_HASH)).await.unwrap();
    store.put_charger(&without, None).await.unwrap();

    let v = store.get_charger(&with.id).await.unwrap();
    assert_eq!(v.charger, with);
    assert!(v.has_password);
    assert_eq!((v.last_boot_at, v.last_seen_at), (None, None));
    let v = store.get_charger(&without.id).await.unwrap();
    assert_eq!(v.charger, without);
    assert!(!v.has_password);
}

pub async fn put_charger_needs_its_station<S: Store>(store: S) {
    assert_conflict(
        store.put_charger(&charger("C1", "S-NONE"), None).await,
        "chargers_station_fk",
    );
    assert_not_found(store.get_charger(&charger_id("C1")).await);
}

pub async fn put_charger_keeps_a_learnt_registration_unless_disabling<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let id = charger_id(&network_charger(1, 1));
    let boot = BootInfo {
        vendor: "星星充电".to_string(),
        model: "DC120-2G".to_string(),
        serial: None,
        firmware: None,
    };
    store.record_boot(&id, &boot, at(1)).await.unwrap();

    // An operator's edit carrying the old `provisioned` does not forget the boot.
    let mut edit = charger(id.as_str(), "S001");
    edit.model = "DC120-3G".to_string();
    store.put_charger(&edit, None).await.unwrap();
    let v = store.get_charger(&id).await.unwrap();
    assert_eq!(v.charger.registration, Registration::Registered);
    assert_eq!(v.charger.model, "DC120-3G");

    // Disabling wins, and a later edit may enable it again (back to provisioned).
    edit.registration = Registration::Disabled;
    store.put_charger(&edit, None).await.unwrap();
    assert_eq!(
        store.get_charger(&id).await.unwrap().charger.registration,
        Registration::Disabled
    );
    edit.registration = Registration::Provisioned;
    store.put_charger(&edit, None).await.unwrap();
    assert_eq!(
        store.get_charger(&id).await.unwrap().charger.registration,
        Registration::Provisioned
    );
}

pub async fn put_charger_without_hash_keeps_the_password<S: Store>(store: S) {
    seed(&store, &network(1, 1, 0)).await;
    let id = charger_id(&network_charger(1, 1));
    store
        .put_charger(&charger(id.as_str(), "S001"), None)
        .await
        .unwrap();
    let creds = store.charger_credentials(&id).await.unwrap();
    assert_eq!(creds.password_hash.as_deref(), Some(PASSWORD_HASH));
    store
        .put_charger(&charger(id.as_str(), "S001"), Some("$argon2id$new"))
        .await
        .unwrap();
    let creds = store.charger_credentials(&id).await.unwrap();
    assert_eq!(creds.password_hash.as_deref(), Some("$argon2id$new"));
}

pub async fn charger_password_is_replaced<S: Store>(store: S) {
    seed(&store, &network(1, 1, 0)).await;
    let id = charger_id(&network_charger(1, 1));
    store
        .set_charger_password(&id, "$argon2id$reset")
        .await
        .unwrap();
    assert_eq!(
        store
            .charger_credentials(&id)
            .await
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$reset")
    );
    assert_not_found(
        store
            .set_charger_password(&charger_id("NOPE"), "$argon2id$x")
            .await,
    );
}

pub async fn unknown_charger_is_not_found<S: Store>(store: S) {
    assert_not_found(store.get_charger(&charger_id("NOPE")).await);
    assert_not_found(store.retire_charger(&charger_id("NOPE"), at(0)).await);
}

pub async fn chargers_are_listed_by_station_and_paged<S: Store>(store: S) {
    seed(&store, &network(3, 4, 0)).await;
    let all = all_pages(
        5,
        |req| {
            let store = &store;
            async move { store.list_chargers(None, &req).await }
        },
        |c| c.charger.id.to_string(),
    )
    .await;
    assert_eq!(all.len(), 12);
    let ids: Vec<String> = all.iter().map(|c| c.charger.id.to_string()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by id");
    assert!(all.iter().all(|c| c.has_password));

    let s2 = station_id(&network_station(2));
    let at_s2 = all_pages(
        3,
        |req| {
            let (store, s2) = (&store, &s2);
            async move { store.list_chargers(Some(s2), &req).await }
        },
        |c| c.charger.id.to_string(),
    )
    .await;
    assert_eq!(at_s2.len(), 4);
    assert!(at_s2.iter().all(|c| c.charger.station_id == s2));
    let none = store
        .list_chargers(Some(&station_id("NOPE")), &PageRequest::first(10))
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next.is_none());
}

pub async fn retiring_a_charger_retires_its_connectors<S: Store>(store: S) {
    seed(&store, &network(1, 2, 2)).await;
    let id = charger_id(&network_charger(1, 1));
    store.retire_charger(&id, at(3)).await.unwrap();
    assert_eq!(
        store.get_charger(&id).await.unwrap().charger.retired_at,
        Some(at(3))
    );
    let filter = ConnectorFilter {
        charger_id: Some(id.clone()),
        ..ConnectorFilter::default()
    };
    let live = store
        .list_connectors(&filter, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(live.items.is_empty());
    let all = store
        .list_connectors(
            &ConnectorFilter {
                include_retired: true,
                ..filter
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    assert!(
        all.items
            .iter()
            .all(|c| c.connector.retired_at == Some(at(3)))
    );
    // The other charger keeps its connectors.
    let other = store
        .get_connector(&connector_id(&format!("{}-1", network_charger(1, 2))))
        .await
        .unwrap();
    assert_eq!(other.connector.retired_at, None);
}

// ------------------------------------------------------------------------------------------
// Connectors

pub async fn new_connector_starts_offline_at_sequence_zero<S: Store>(store: S) {
    seed(&store, &network(1, 1, 0)).await;
    let c = connector(&network_charger(1, 1), 1);
    store.put_connector(&c).await.unwrap();
    let v = store.get_connector(&c.id).await.unwrap();
    assert_eq!(v.connector, c);
    assert_eq!(v.state.status, ConnectorStatus::Offline);
    assert_eq!(v.state.ocpp_status, None);
    assert_eq!(v.state.status_seq, 0);
}

pub async fn put_connector_needs_its_charger<S: Store>(store: S) {
    seed(&store, &network(1, 0, 0)).await;
    let c = connector("C-NONE", 1);
    assert_conflict(store.put_connector(&c).await, "connectors_charger_fk");
    assert_not_found(store.get_connector(&c.id).await);
}

pub async fn connector_numbers_are_unique_per_charger<S: Store>(store: S) {
    seed(&store, &network(1, 2, 1)).await;
    let mut twin = connector(&network_charger(1, 1), 1);
    twin.id = connector_id("TWIN");
    assert_conflict(
        store.put_connector(&twin).await,
        "connectors_charger_number_key",
    );
    assert_not_found(store.get_connector(&twin.id).await);
    // The same number on another charger is fine.
    twin.charger_id = charger_id(&network_charger(1, 2));
    twin.number = fixtures::number(1);
    assert_conflict(
        store.put_connector(&twin).await,
        "connectors_charger_number_key",
    );
    twin.number = fixtures::number(2);
    store.put_connector(&twin).await.unwrap();
    // Renumbering onto a taken number is refused too.
    let mut renumbered = connector(&network_charger(1, 2), 1);
    renumbered.number = fixtures::number(2);
    assert_conflict(
        store.put_connector(&renumbered).await,
        "connectors_charger_number_key",
    );
}

pub async fn updating_a_connector_keeps_its_live_state<S: Store>(store: S) {
    seed(&store, &network(1, 1, 1)).await;
    let charger = charger_id(&network_charger(1, 1));
    store
        .record_status(
            &charger,
            &ReportedStatus {
                connector: Some(fixtures::number(1)),
                status: ChargePointStatus::Charging,
                error: None,
                at: at(1),
            },
        )
        .await
        .unwrap();
    let mut c = connector(charger.as_str(), 1);
    c.max_power_kw = Decimal::from(60);
    store.put_connector(&c).await.unwrap();
    let v = store.get_connector(&c.id).await.unwrap();
    assert_eq!(v.connector, c);
    assert_eq!(v.state.status, ConnectorStatus::Charging);
    assert_eq!(v.state.status_seq, 1);
    assert_eq!(v.state.changed_at, at(1));
}

pub async fn unknown_connector_is_not_found<S: Store>(store: S) {
    assert_not_found(store.get_connector(&connector_id("NOPE")).await);
    assert_not_found(store.retire_connector(&connector_id("NOPE"), at(0)).await);
}

pub async fn connectors_are_filtered_and_paged<S: Store>(store: S) {
    seed(&store, &network(3, 2, 2)).await;
    let every = all_pages(
        5,
        |req| {
            let store = &store;
            async move {
                store
                    .list_connectors(&ConnectorFilter::default(), &req)
                    .await
            }
        },
        |c| c.connector.id.to_string(),
    )
    .await;
    assert_eq!(every.len(), 12);
    let ids: Vec<String> = every.iter().map(|c| c.connector.id.to_string()).collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 12);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by id");

    let by_station = ConnectorFilter {
        station_id: Some(station_id(&network_station(2))),
        ..ConnectorFilter::default()
    };
    let got = store
        .list_connectors(&by_station, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 4);
    assert!(
        got.items
            .iter()
            .all(|c| c.connector.charger_id.as_str().starts_with("S002-"))
    );

    let by_charger = ConnectorFilter {
        charger_id: Some(charger_id(&network_charger(3, 2))),
        ..ConnectorFilter::default()
    };
    let got = store
        .list_connectors(&by_charger, &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.items[0].connector.number, fixtures::number(1));
    assert!(got.next.is_some());

    let both = ConnectorFilter {
        station_id: Some(station_id(&network_station(1))),
        charger_id: Some(charger_id(&network_charger(3, 2))),
        ..ConnectorFilter::default()
    };
    let got = store
        .list_connectors(&both, &PageRequest::first(100))
        .await
        .unwrap();
    assert!(got.items.is_empty(), "filters combine with AND");
}

pub async fn connectors_updated_since_are_found<S: Store>(store: S) {
    seed(&store, &network(1, 1, 2)).await;
    let charger = charger_id(&network_charger(1, 1));
    // Status changes are dated by their observation time; a far-future report stands out from
    // the creation bookkeeping, whatever the wall clock says.
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    store
        .record_status(
            &charger,
            &ReportedStatus {
                connector: Some(fixtures::number(2)),
                status: ChargePointStatus::Available,
                error: None,
                at: later,
            },
        )
        .await
        .unwrap();
    let since = ConnectorFilter {
        updated_since: Some(later - chrono::Duration::days(1)),
        ..ConnectorFilter::default()
    };
    let got = store
        .list_connectors(&since, &PageRequest::first(10))
        .await
        .unwrap();
    let ids: Vec<String> = got
        .items
        .iter()
        .map(|c| c.connector.id.to_string())
        .collect();
    assert_eq!(ids, [format!("{charger}-2")]);
    let long_ago = ConnectorFilter {
        updated_since: Some(at(-365 * 24 * 60)),
        ..ConnectorFilter::default()
    };
    let got = store
        .list_connectors(&long_ago, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 2);
}

pub async fn retiring_a_connector_hides_it<S: Store>(store: S) {
    seed(&store, &network(1, 1, 2)).await;
    let id = connector_id(&format!("{}-1", network_charger(1, 1)));
    store.retire_connector(&id, at(7)).await.unwrap();
    assert_eq!(
        store.get_connector(&id).await.unwrap().connector.retired_at,
        Some(at(7))
    );
    let live = store
        .list_connectors(&ConnectorFilter::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(live.items.len(), 1);
    let all = store
        .list_connectors(
            &ConnectorFilter {
                include_retired: true,
                ..ConnectorFilter::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
}

// ------------------------------------------------------------------------------------------
// Tariffs

pub async fn tariff_round_trips<S: Store>(store: S) {
    let t = tariff(TARIFF);
    let flat = fixtures::flat_tariff("T-FLAT");
    store.put_tariff(&t).await.unwrap();
    store.put_tariff(&flat).await.unwrap();
    assert_eq!(store.tariff_versions(&t.id).await.unwrap(), vec![t]);
    assert_eq!(store.tariff_versions(&flat.id).await.unwrap(), vec![flat]);
    assert_not_found(store.tariff_versions(&tariff_id("NOPE")).await);
}

pub async fn tariff_versions_are_kept_oldest_first<S: Store>(store: S) {
    let v1 = tariff_version("T", 1, at(0));
    let v2 = tariff_version("T", 2, at(60));
    let v3 = tariff_version("T", 3, at(120));
    for t in [&v1, &v2, &v3] {
        store.put_tariff(t).await.unwrap();
    }
    assert_eq!(
        store.tariff_versions(&tariff_id("T")).await.unwrap(),
        vec![v1, v2, v3]
    );
}

pub async fn tariff_in_force_is_the_latest_effective_version<S: Store>(store: S) {
    let v1 = tariff_version("T", 1, at(0));
    let v2 = tariff_version("T", 2, at(60));
    store.put_tariff(&v1).await.unwrap();
    store.put_tariff(&v2).await.unwrap();
    let id = tariff_id("T");
    assert_not_found(store.tariff_in_force(&id, at(-1)).await);
    assert_eq!(store.tariff_in_force(&id, at(0)).await.unwrap(), v1);
    assert_eq!(store.tariff_in_force(&id, at(59)).await.unwrap(), v1);
    assert_eq!(store.tariff_in_force(&id, at(60)).await.unwrap(), v2);
    assert_eq!(store.tariff_in_force(&id, at(10_000)).await.unwrap(), v2);
    assert_not_found(store.tariff_in_force(&tariff_id("NOPE"), at(0)).await);
}

pub async fn tariff_versions_must_follow_in_order<S: Store>(store: S) {
    // The first version is 1.
    assert_conflict(
        store.put_tariff(&tariff_version("T", 2, at(0))).await,
        "tariffs_version_order",
    );
    store
        .put_tariff(&tariff_version("T", 1, at(0)))
        .await
        .unwrap();
    // No gaps.
    assert_conflict(
        store.put_tariff(&tariff_version("T", 3, at(60))).await,
        "tariffs_version_order",
    );
    // A new version takes effect strictly later than the previous one.
    assert_conflict(
        store.put_tariff(&tariff_version("T", 2, at(0))).await,
        "tariffs_version_order",
    );
    assert_conflict(
        store.put_tariff(&tariff_version("T", 2, at(-10))).await,
        "tariffs_version_order",
    );
    assert_eq!(
        store.tariff_versions(&tariff_id("T")).await.unwrap().len(),
        1
    );
    store
        .put_tariff(&tariff_version("T", 2, at(1)))
        .await
        .unwrap();
}

pub async fn identical_tariff_version_is_a_no_op<S: Store>(store: S) {
    let v1 = tariff_version("T", 1, at(0));
    let v2 = tariff_version("T", 2, at(60));
    store.put_tariff(&v1).await.unwrap();
    store.put_tariff(&v2).await.unwrap();
    // Re-putting an older version unchanged (re-importing the same file) succeeds.
    store.put_tariff(&v1).await.unwrap();
    store.put_tariff(&v2).await.unwrap();
    assert_eq!(
        store.tariff_versions(&tariff_id("T")).await.unwrap(),
        vec![v1, v2]
    );
}

pub async fn changed_tariff_version_is_a_conflict<S: Store>(store: S) {
    let v1 = tariff_version("T", 1, at(0));
    store.put_tariff(&v1).await.unwrap();
    let mut renamed = v1.clone();
    renamed.name = "改过的名字".to_string();
    assert_conflict(store.put_tariff(&renamed).await, "tariffs_id_version_key");
    let mut repriced = v1.clone();
    repriced.idle_fee = None;
    assert_conflict(store.put_tariff(&repriced).await, "tariffs_id_version_key");
    let mut moved = v1.clone();
    moved.effective_from = at(1);
    assert_conflict(store.put_tariff(&moved).await, "tariffs_id_version_key");
    assert_eq!(
        store.tariff_versions(&tariff_id("T")).await.unwrap(),
        vec![v1]
    );
}

pub async fn tariffs_list_their_latest_version_paged<S: Store>(store: S) {
    for i in 1..=7 {
        let id = format!("T{i}");
        store
            .put_tariff(&tariff_version(&id, 1, at(0)))
            .await
            .unwrap();
        if i % 2 == 0 {
            store
                .put_tariff(&tariff_version(&id, 2, at(60)))
                .await
                .unwrap();
        }
    }
    let all = all_pages(
        3,
        |req| {
            let store = &store;
            async move { store.list_tariffs(&req).await }
        },
        |t| t.id.to_string(),
    )
    .await;
    let got: Vec<(String, u32)> = all.iter().map(|t| (t.id.to_string(), t.version)).collect();
    let expected: Vec<(String, u32)> = (1..=7)
        .map(|i| (format!("T{i}"), if i % 2 == 0 { 2 } else { 1 }))
        .collect();
    assert_eq!(got, expected);
}

// ------------------------------------------------------------------------------------------
// Import

pub async fn import_writes_the_whole_network<S: Store>(store: S) {
    let batch = network(2, 2, 2);
    let summary = store.import_network(&batch).await.unwrap();
    assert_eq!(
        summary,
        ImportSummary {
            tariffs: 1,
            stations: 2,
            chargers: 4,
            connectors: 8,
        }
    );
    for s in &batch.stations {
        assert_eq!(&store.get_station(&s.id).await.unwrap(), s);
    }
    for (c, _) in &batch.chargers {
        let v = store.get_charger(&c.id).await.unwrap();
        assert_eq!(&v.charger, c);
        assert!(v.has_password);
    }
    for c in &batch.connectors {
        let v = store.get_connector(&c.id).await.unwrap();
        assert_eq!(&v.connector, c);
        assert_eq!(v.state.status, ConnectorStatus::Offline);
    }
    assert_eq!(
        store.tariff_versions(&tariff_id(TARIFF)).await.unwrap(),
        batch.tariffs
    );
}

pub async fn import_is_idempotent<S: Store>(store: S) {
    let batch = network(2, 1, 2);
    store.import_network(&batch).await.unwrap();
    let charger = batch.chargers[0].0.id.clone();
    store
        .record_status(
            &charger,
            &ReportedStatus {
                connector: None,
                status: ChargePointStatus::Available,
                error: None,
                at: at(1),
            },
        )
        .await
        .unwrap();
    // The same file again: nothing changes, live state included.
    store.import_network(&batch).await.unwrap();
    let stations = store
        .list_stations(&PageRequest::first(10), true)
        .await
        .unwrap();
    assert_eq!(stations.items, batch.stations);
    assert_eq!(
        store.tariff_versions(&tariff_id(TARIFF)).await.unwrap(),
        batch.tariffs
    );
    let connectors = store
        .list_connectors(&ConnectorFilter::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(connectors.items.len(), 4);
    for v in &connectors.items {
        if v.connector.charger_id == charger {
            assert_eq!(v.state.status, ConnectorStatus::Available);
            assert_eq!(v.state.status_seq, 1);
        }
    }
    // A later version of the file adds a tariff version and edits a station.
    let mut next = batch.clone();
    next.tariffs.push(tariff_version(TARIFF, 2, at(60)));
    next.stations[0].name = "新名字".to_string();
    store.import_network(&next).await.unwrap();
    assert_eq!(
        store
            .tariff_versions(&tariff_id(TARIFF))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.get_station(&next.stations[0].id).await.unwrap().name,
        "新名字"
    );
}

async fn assert_nothing_written<S: Store>(store: &S, batch: &NetworkBatch) {
    for t in &batch.tariffs {
        assert_not_found(store.tariff_versions(&t.id).await);
    }
    for s in &batch.stations {
        assert_not_found(store.get_station(&s.id).await);
    }
    for (c, _) in &batch.chargers {
        assert_not_found(store.get_charger(&c.id).await);
    }
    for c in &batch.connectors {
        assert_not_found(store.get_connector(&c.id).await);
    }
}

pub async fn import_with_a_bad_connector_writes_nothing<S: Store>(store: S) {
    let mut batch = network(2, 2, 2);
    // The last item refers to a charger that is nowhere: everything before it is rolled back.
    batch.connectors.push(connector("C-GHOST", 1));
    assert_conflict(store.import_network(&batch).await, "connectors_charger_fk");
    batch.connectors.pop();
    assert_nothing_written(&store, &batch).await;
    // And the good part imports afterwards.
    store.import_network(&batch).await.unwrap();
}

pub async fn import_with_a_conflicting_tariff_writes_nothing<S: Store>(store: S) {
    store.put_tariff(&tariff(TARIFF)).await.unwrap();
    let mut batch = network(1, 1, 1);
    batch.tariffs[0].name = "同一版本, 不同内容".to_string();
    assert_conflict(store.import_network(&batch).await, "tariffs_id_version_key");
    batch.tariffs.clear();
    assert_nothing_written(&store, &batch).await;
    assert_eq!(
        store.tariff_versions(&tariff_id(TARIFF)).await.unwrap(),
        vec![tariff(TARIFF)]
    );
}

pub async fn import_with_duplicate_connector_numbers_writes_nothing<S: Store>(store: S) {
    let mut batch = network(1, 2, 1);
    let mut twin = connector(&network_charger(1, 2), 1);
    twin.id = connector_id("TWIN");
    batch.connectors.push(twin);
    assert_conflict(
        store.import_network(&batch).await,
        "connectors_charger_number_key",
    );
    assert_nothing_written(&store, &batch).await;
    // A station on an unknown tariff fails the same way.
    let mut batch = network(1, 1, 1);
    batch.stations[0].tariff_id = tariff_id("T-NONE");
    assert_conflict(store.import_network(&batch).await, "stations_tariff_fk");
    assert_nothing_written(&store, &batch).await;
}
