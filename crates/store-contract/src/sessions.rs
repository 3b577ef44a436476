//! Contract of [`SessionStore`]: idempotent creation by partner order id, the claim of a
//! connector (one active partner session, one pending or active reservation), reservations of
//! other partners, compare-and-set updates (a linked transaction wins over a failing update),
//! tag bindings written and released with the session, events written with the change, local
//! sessions, listing, and what is due.

use chrono::{DateTime, Utc};
use openpile_core::charging::{IdTagBinding, TagStatus, TransactionStart, TransactionStore};
use openpile_core::energy::Wh;
use openpile_core::event::{EventStore, EventType, FeedKey, FeedQuery};
use openpile_core::ids::{ConnectorId, PartnerId, ReservationId, SessionId};
use openpile_core::page::PageRequest;
use openpile_core::partner::credential::Environment;
use openpile_core::partner::ports::PartnerStore;
use openpile_core::reservation::ReservationState;
use openpile_core::session::{SessionState, StartFailure};
use openpile_core::sessions::model::{ChargingSession, Reservation, SessionLimit, SessionOrigin};
use openpile_core::sessions::ports::{
    Created, NewSession, ReservationUpdate, SessionQuery, SessionStore, SessionUpdate, constraints,
};

use openpile_core::pricing::{MeterSample as Reading, price_session};
use openpile_core::settlement::cdr::{Cdr, CdrId, SessionCdr};
use openpile_core::settlement::ports::SettlementStore;

use crate::assert_conflict;
use crate::fixtures::{TARIFF, at, charger_id, network, network_charger, number, seed, tariff_id};
use crate::network::Store as NetworkAndChargers;
use crate::partners::new_application;

/// The ports every function here needs.
pub trait Store:
    NetworkAndChargers + TransactionStore + PartnerStore + SessionStore + EventStore + SettlementStore
{
}
impl<
    S: NetworkAndChargers
        + TransactionStore
        + PartnerStore
        + SessionStore
        + EventStore
        + SettlementStore,
> Store for S
{
}

fn partner(n: u32) -> PartnerId {
    PartnerId::parse(format!("partner-{n}")).unwrap()
}

fn connector(n: u32) -> ConnectorId {
    ConnectorId::parse(format!("{}-{n}", network_charger(1, 1))).unwrap()
}

/// A network of one station (S001) with one charger of three connectors, and partners 1 and 2.
async fn setup<S: Store>(store: &S) {
    seed(store, &network(1, 1, 3)).await;
    for n in [1, 2] {
        store.create_application(&new_application(n)).await.unwrap();
    }
}

fn session(p: u32, id: &str, order: &str, conn: u32) -> ChargingSession {
    ChargingSession {
        id: SessionId::parse(id).unwrap(),
        origin: SessionOrigin::Partner,
        partner_id: Some(partner(p)),
        partner_order_id: Some(order.to_string()),
        user_ref: Some("user-42".into()),
        station_id: crate::fixtures::station_id("S001"),
        charger_id: charger_id(&network_charger(1, 1)),
        connector_id: connector(conn),
        connector_number: number(conn),
        tariff_id: tariff_id(TARIFF),
        reservation_id: None,
        limit: Some(SessionLimit::energy_wh(20_000).unwrap()),
        state: SessionState::Pending,
        failure: None,
        failure_detail: None,
        id_tag: format!("TAG-{id}"),
        transaction_id: None,
        created_at: at(0),
        updated_at: at(0),
        accepted_at: None,
        started_at: None,
        meter_start: None,
        meter_last: None,
        metered_at: None,
        energy: Wh(0),
        power: None,
        soc_percent: None,
        cost: None,
        stop_requested_at: None,
        stop_requested_by: None,
        stopped_at: None,
        stop_reason: None,
        charger_offline_since: None,
        review_required: false,
        review_reason: None,
        next_check_at: Some(at(2)),
        updated_event_at: None,
        charging_finished_at: None,
        freed_at: None,
        stop_attempts: 0,
        version: 1,
    }
}

fn new_session(s: ChargingSession) -> NewSession {
    NewSession {
        binding: IdTagBinding {
            id_tag: s.id_tag.clone(),
            session_id: s.id.clone(),
            charger_id: s.charger_id.clone(),
            connector: Some(s.connector_number),
            expires_at: at(60),
        },
        session: s,
    }
}

/// `new` as the next version of `old`.
fn update(old: &ChargingSession, mut new: ChargingSession) -> SessionUpdate {
    new.version = old.version + 1;
    SessionUpdate {
        session: new,
        expected_version: old.version,
        unless_transaction_linked: false,
        release_binding: false,
        reservation: None,
        events: Vec::new(),
        cdr: None,
    }
}

fn reservation(p: u32, id: &str, order: &str, conn: u32) -> Reservation {
    Reservation {
        id: ReservationId::parse(id).unwrap(),
        ocpp_id: 0,
        partner_id: partner(p),
        partner_order_id: order.to_string(),
        station_id: crate::fixtures::station_id("S001"),
        charger_id: charger_id(&network_charger(1, 1)),
        connector_id: connector(conn),
        connector_number: number(conn),
        id_tag: format!("RTAG-{id}"),
        state: ReservationState::Pending,
        failure: None,
        failure_detail: None,
        duration_s: 900,
        created_at: at(0),
        updated_at: at(0),
        expires_at: at(15),
        ended_at: None,
        session_id: None,
        cancel_requested_at: None,
        next_check_at: Some(at(1)),
        version: 1,
    }
}

fn start(tag: &str, conn: u32, minute: i64) -> TransactionStart {
    TransactionStart {
        charger_id: charger_id(&network_charger(1, 1)),
        connector: Some(number(conn)),
        id_tag: tag.to_string(),
        meter_start: Wh(1000),
        started_at: at(minute),
        reservation_id: None,
        received_at: at(minute),
    }
}

async fn activate<S: Store>(store: &S, r: &Reservation) -> Reservation {
    let mut next = r.clone();
    next.state = ReservationState::Active;
    next.version += 1;
    next.next_check_at = Some(r.expires_at);
    assert!(
        store
            .update_reservation(&ReservationUpdate {
                reservation: next.clone(),
                expected_version: r.version,
                events: Vec::new(),
            })
            .await
            .unwrap()
    );
    next
}

fn created<T: std::fmt::Debug>(c: Created<T>) -> T {
    match c {
        Created::New(t) => t,
        other => panic!("expected a new record, got {other:?}"),
    }
}

pub async fn a_session_is_recorded_with_its_tag_binding<S: Store>(store: S) {
    setup(&store).await;
    let s = session(1, "sess-1", "order-1", 1);
    let got = created(store.create_session(&new_session(s.clone())).await.unwrap());
    assert_eq!(got, s);
    assert_eq!(store.get_session(&s.id).await.unwrap(), s);
    // The charger's start with the tag is this session's, on this connector.
    let verdict = store
        .authorize_tag(&s.charger_id, &s.id_tag, at(1))
        .await
        .unwrap();
    assert_eq!(verdict.status, TagStatus::Accepted);
    assert_eq!(verdict.session_id, Some(s.id.clone()));
}

pub async fn the_same_order_returns_the_recorded_session<S: Store>(store: S) {
    setup(&store).await;
    let s = session(1, "sess-1", "order-1", 1);
    created(store.create_session(&new_session(s.clone())).await.unwrap());
    // Another id, another connector: still the order recorded first.
    let again = session(1, "sess-2", "order-1", 2);
    match store.create_session(&new_session(again)).await.unwrap() {
        Created::Existing(found) => assert_eq!(found.id, s.id),
        other => panic!("expected the existing session, got {other:?}"),
    }
    // Another partner may use the same order id.
    let other = session(2, "sess-3", "order-1", 2);
    created(store.create_session(&new_session(other)).await.unwrap());
    let found = store
        .session_of_order(&partner(1), "order-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, s.id);
    assert!(
        store
            .session_of_order(&partner(1), "order-9")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn one_active_partner_session_per_connector<S: Store>(store: S) {
    setup(&store).await;
    let first = session(1, "sess-1", "order-1", 1);
    created(
        store
            .create_session(&new_session(first.clone()))
            .await
            .unwrap(),
    );
    assert_conflict(
        store
            .create_session(&new_session(session(2, "sess-2", "order-2", 1)))
            .await,
        constraints::CONNECTOR_SESSION,
    );
    // Nothing of the loser was kept.
    assert!(matches!(
        store
            .get_session(&SessionId::parse("sess-2").unwrap())
            .await,
        Err(openpile_core::error::StoreError::NotFound)
    ));
    // Once the first is over, the connector can be claimed again.
    let mut failed = first.clone();
    failed.state = SessionState::Failed;
    failed.failure = Some(StartFailure::ChargerRejected);
    failed.next_check_at = None;
    assert!(store.update_session(&update(&first, failed)).await.unwrap());
    created(
        store
            .create_session(&new_session(session(2, "sess-3", "order-3", 1)))
            .await
            .unwrap(),
    );
}

/// A `finishing` session (transaction over, vehicle still plugged in, idle clock running)
/// keeps its idle fields and the stop attempts, is still active and still holds the claim.
pub async fn a_finishing_session_keeps_its_connector_and_its_idle_clock<S: Store>(store: S) {
    setup(&store).await;
    let first = session(1, "sess-1", "order-1", 1);
    created(
        store
            .create_session(&new_session(first.clone()))
            .await
            .unwrap(),
    );
    let mut stopping = first.clone();
    stopping.state = SessionState::Stopping;
    stopping.stop_attempts = 2;
    stopping.charging_finished_at = Some(at(30));
    assert!(
        store
            .update_session(&update(&first, stopping.clone()))
            .await
            .unwrap()
    );
    let stopping = store.get_session(&first.id).await.unwrap();
    assert_eq!(stopping.stop_attempts, 2);
    assert_eq!(stopping.charging_finished_at, Some(at(30)));
    let mut finishing = stopping.clone();
    finishing.state = SessionState::Finishing;
    finishing.stopped_at = Some(at(40));
    finishing.next_check_at = Some(at(24 * 60));
    assert!(
        store
            .update_session(&update(&stopping, finishing))
            .await
            .unwrap()
    );
    let got = store.get_session(&first.id).await.unwrap();
    assert_eq!(got.state, SessionState::Finishing);
    assert_eq!(got.freed_at, None);
    assert!(
        store
            .active_sessions()
            .await
            .unwrap()
            .iter()
            .any(|s| s.id == first.id)
    );
    // The vehicle is still there: nobody else may claim the connector.
    assert_conflict(
        store
            .create_session(&new_session(session(2, "sess-2", "order-2", 1)))
            .await,
        constraints::CONNECTOR_SESSION,
    );
    let mut done = got.clone();
    done.state = SessionState::Completed;
    done.freed_at = Some(at(50));
    done.next_check_at = None;
    assert!(store.update_session(&update(&got, done)).await.unwrap());
    assert_eq!(
        store.get_session(&first.id).await.unwrap().freed_at,
        Some(at(50))
    );
    created(
        store
            .create_session(&new_session(session(2, "sess-3", "order-3", 1)))
            .await
            .unwrap(),
    );
}

pub async fn another_partners_reservation_keeps_the_connector<S: Store>(store: S) {
    setup(&store).await;
    let r = created(
        store
            .create_reservation(&reservation(1, "res-1", "r-order-1", 1))
            .await
            .unwrap(),
    );
    let r = activate(&store, &r).await;
    assert_conflict(
        store
            .create_session(&new_session(session(2, "sess-1", "order-1", 1)))
            .await,
        constraints::CONNECTOR_RESERVED,
    );
    // The holder may start with it.
    let mut mine = session(1, "sess-2", "order-2", 1);
    mine.reservation_id = Some(r.id.clone());
    mine.id_tag = r.id_tag.clone();
    created(store.create_session(&new_session(mine)).await.unwrap());
}

pub async fn a_session_cannot_use_a_reservation_that_is_not_active<S: Store>(store: S) {
    setup(&store).await;
    let r = created(
        store
            .create_reservation(&reservation(1, "res-1", "r-order-1", 1))
            .await
            .unwrap(),
    );
    // Still pending (ReserveNow not answered).
    let mut s = session(1, "sess-1", "order-1", 1);
    s.reservation_id = Some(r.id.clone());
    assert_conflict(
        store.create_session(&new_session(s)).await,
        constraints::RESERVATION_NOT_ACTIVE,
    );
}

pub async fn updates_are_compare_and_set_and_write_their_events<S: Store>(store: S) {
    setup(&store).await;
    let s = session(1, "sess-1", "order-1", 1);
    created(store.create_session(&new_session(s.clone())).await.unwrap());
    let mut starting = s.clone();
    starting.state = SessionState::Starting;
    starting.accepted_at = Some(at(1));
    let mut u = update(&s, starting);
    u.events = vec![openpile_core::event::Event::new(
        openpile_core::event::EventData::SessionStarting(
            openpile_core::event::SessionStartingData {
                session: openpile_core::event::SessionRef {
                    session_id: s.id.clone(),
                    partner_order_id: "order-1".into(),
                    station_id: s.station_id.clone(),
                    connector_id: s.connector_id.clone(),
                },
                accepted_at: at(1),
            },
        ),
        at(1),
    )];
    assert!(store.update_session(&u).await.unwrap());
    // The same update again is stale: nothing is written, no second event.
    assert!(!store.update_session(&u).await.unwrap());
    let got = store.get_session(&s.id).await.unwrap();
    assert_eq!(got.state, SessionState::Starting);
    assert_eq!(got.version, 2);
    let feed = |n| FeedKey {
        partner_id: partner(n),
        environment: Environment::Production,
    };
    let query = FeedQuery {
        after: 0,
        limit: 100,
        types: Vec::new(),
    };
    let mine = store.read_feed(&feed(1), &query).await.unwrap();
    assert_eq!(mine.events.len(), 1);
    assert_eq!(mine.events[0].event_type, EventType::SessionStarting);
    let theirs = store.read_feed(&feed(2), &query).await.unwrap();
    assert!(theirs.events.is_empty(), "other partners never see it");
}

pub async fn a_linked_transaction_wins_over_a_failing_update<S: Store>(store: S) {
    setup(&store).await;
    let s = session(1, "sess-1", "order-1", 1);
    created(store.create_session(&new_session(s.clone())).await.unwrap());
    let recorded = store
        .start_transaction(&start(&s.id_tag, 1, 1))
        .await
        .unwrap();
    assert_eq!(recorded.verdict.session_id, Some(s.id.clone()));
    let mut failed = s.clone();
    failed.state = SessionState::Failed;
    failed.failure = Some(StartFailure::StartTimeout);
    let mut u = update(&s, failed);
    u.unless_transaction_linked = true;
    u.release_binding = true;
    assert!(!store.update_session(&u).await.unwrap());
    assert_eq!(
        store.get_session(&s.id).await.unwrap().state,
        SessionState::Pending
    );
}

pub async fn failing_a_session_releases_its_tag<S: Store>(store: S) {
    setup(&store).await;
    let s = session(1, "sess-1", "order-1", 1);
    created(store.create_session(&new_session(s.clone())).await.unwrap());
    let mut failed = s.clone();
    failed.state = SessionState::Failed;
    failed.failure = Some(StartFailure::ChargerTimeout);
    let mut u = update(&s, failed);
    u.unless_transaction_linked = true;
    u.release_binding = true;
    assert!(store.update_session(&u).await.unwrap());
    let late = store
        .start_transaction(&start(&s.id_tag, 1, 5))
        .await
        .unwrap();
    assert_ne!(late.verdict.status, TagStatus::Accepted);
    assert_eq!(late.verdict.session_id, None);
    let by_tag = store.session_of_id_tag(&s.id_tag).await.unwrap().unwrap();
    assert_eq!(by_tag.id, s.id);
    assert_eq!(by_tag.state, SessionState::Failed);
}

pub async fn a_session_and_its_reservation_change_together<S: Store>(store: S) {
    setup(&store).await;
    let r = created(
        store
            .create_reservation(&reservation(1, "res-1", "r-order-1", 1))
            .await
            .unwrap(),
    );
    let r = activate(&store, &r).await;
    let mut s = session(1, "sess-1", "order-1", 1);
    s.reservation_id = Some(r.id.clone());
    s.id_tag = r.id_tag.clone();
    created(store.create_session(&new_session(s.clone())).await.unwrap());
    let mut charging = s.clone();
    charging.state = SessionState::Charging;
    let mut used = r.clone();
    used.state = ReservationState::Used;
    used.session_id = Some(s.id.clone());
    used.version += 1;
    used.next_check_at = None;
    let mut u = update(&s, charging);
    u.reservation = Some(ReservationUpdate {
        reservation: used,
        expected_version: r.version,
        events: Vec::new(),
    });
    assert!(store.update_session(&u).await.unwrap());
    let after = store.get_reservation(&r.id).await.unwrap();
    assert_eq!(after.state, ReservationState::Used);
    assert_eq!(after.session_id, Some(s.id.clone()));
    assert!(
        store
            .reservation_on(&r.connector_id)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn local_sessions_are_recorded_once_and_never_listed<S: Store>(store: S) {
    setup(&store).await;
    let recorded = store
        .start_transaction(&start("CARD-1", 2, 1))
        .await
        .unwrap();
    let mut local = session(1, "local-1", "x", 2);
    local.origin = SessionOrigin::Local;
    local.partner_id = None;
    local.partner_order_id = None;
    local.state = SessionState::Charging;
    local.transaction_id = Some(recorded.transaction_id);
    local.id_tag = "CARD-1".into();
    assert_eq!(store.record_local_session(&local).await.unwrap(), local);
    let mut again = local.clone();
    again.id = SessionId::parse("local-2").unwrap();
    assert_eq!(
        store.record_local_session(&again).await.unwrap().id,
        local.id,
        "one session per transaction"
    );
    let found = store
        .session_of_transaction(recorded.transaction_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, local.id);
    // A partner session on the other connector is unaffected by the local one.
    created(
        store
            .create_session(&new_session(session(1, "sess-1", "order-1", 1)))
            .await
            .unwrap(),
    );
    let page = store
        .list_sessions(&SessionQuery {
            partner_id: partner(1),
            state: None,
            from: None,
            to: None,
            page: PageRequest::first(10),
        })
        .await
        .unwrap();
    let ids: Vec<&str> = page.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["sess-1"]);
}

pub async fn sessions_are_listed_per_partner_filtered_and_paged<S: Store>(store: S) {
    setup(&store).await;
    // Partner 1: five sessions a minute apart, the first three over; partner 2: one.
    let mut ids = Vec::new();
    for i in 0..5u32 {
        let mut s = session(1, &format!("sess-{i}"), &format!("order-{i}"), 1);
        s.created_at = at(i64::from(i));
        created(store.create_session(&new_session(s.clone())).await.unwrap());
        if i < 4 {
            let mut done = s.clone();
            done.state = SessionState::Failed;
            done.failure = Some(StartFailure::ChargerRejected);
            assert!(store.update_session(&update(&s, done)).await.unwrap());
        }
        ids.push(s.id.to_string());
    }
    created(
        store
            .create_session(&new_session(session(2, "other-1", "order-0", 2)))
            .await
            .unwrap(),
    );
    let query =
        |state: Option<SessionState>, from: Option<DateTime<Utc>>, after: Option<String>| {
            SessionQuery {
                partner_id: partner(1),
                state,
                from,
                to: None,
                page: PageRequest { limit: 2, after },
            }
        };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_sessions(&query(None, None, after))
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|s| s.id.to_string()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let failed = store
        .list_sessions(&SessionQuery {
            page: PageRequest::first(10),
            ..query(Some(SessionState::Failed), Some(at(2)), None)
        })
        .await
        .unwrap();
    let got: Vec<&str> = failed.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(got, ["sess-2", "sess-3"]);
}

pub async fn due_sessions_and_reservations_are_found_by_their_check_time<S: Store>(store: S) {
    setup(&store).await;
    let mut early = session(1, "sess-1", "order-1", 1);
    early.next_check_at = Some(at(1));
    let mut late = session(1, "sess-2", "order-2", 2);
    late.next_check_at = Some(at(10));
    for s in [&early, &late] {
        created(store.create_session(&new_session(s.clone())).await.unwrap());
    }
    let due: Vec<SessionId> = store
        .due_sessions(at(5), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(due, [early.id.clone()]);
    assert_eq!(store.due_sessions(at(10), 10).await.unwrap().len(), 2);
    let r = created(
        store
            .create_reservation(&reservation(2, "res-1", "r-order-1", 3))
            .await
            .unwrap(),
    );
    assert_eq!(store.due_reservations(at(1), 10).await.unwrap()[0].id, r.id);
    assert!(store.due_reservations(at(0), 10).await.unwrap().is_empty());
    let active = store
        .active_sessions_on(&early.charger_id, None)
        .await
        .unwrap();
    assert_eq!(active.len(), 2);
    let one = store
        .active_sessions_on(&early.charger_id, Some(&[connector(2)]))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].id, late.id);
    assert_eq!(store.active_sessions().await.unwrap().len(), 2);
}

pub async fn reservations_get_ocpp_ids_and_hold_their_connector<S: Store>(store: S) {
    setup(&store).await;
    let a = created(
        store
            .create_reservation(&reservation(1, "res-1", "r-order-1", 1))
            .await
            .unwrap(),
    );
    let b = created(
        store
            .create_reservation(&reservation(2, "res-2", "r-order-2", 2))
            .await
            .unwrap(),
    );
    assert!(a.ocpp_id >= 1 && b.ocpp_id > a.ocpp_id, "{a:?} {b:?}");
    assert_eq!(store.get_reservation(&a.id).await.unwrap(), a);
    // The same order again is the same reservation.
    match store
        .create_reservation(&reservation(1, "res-9", "r-order-1", 2))
        .await
        .unwrap()
    {
        Created::Existing(r) => assert_eq!(r.id, a.id),
        other => panic!("expected the existing reservation, got {other:?}"),
    }
    assert_conflict(
        store
            .create_reservation(&reservation(2, "res-3", "r-order-3", 1))
            .await,
        constraints::CONNECTOR_RESERVATION,
    );
    // A connector held by a partner session cannot be reserved.
    let mut expired = a.clone();
    expired.state = ReservationState::Expired;
    expired.version += 1;
    assert!(
        store
            .update_reservation(&ReservationUpdate {
                reservation: expired,
                expected_version: a.version,
                events: Vec::new(),
            })
            .await
            .unwrap()
    );
    created(
        store
            .create_session(&new_session(session(1, "sess-1", "order-1", 1)))
            .await
            .unwrap(),
    );
    assert_conflict(
        store
            .create_reservation(&reservation(2, "res-4", "r-order-4", 1))
            .await,
        constraints::CONNECTOR_SESSION,
    );
    let found = store
        .reservation_of_order(&partner(2), "r-order-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, b.id);
}

pub async fn a_completion_writes_its_cdr_with_it_once<S: Store>(store: S) {
    setup(&store).await;
    let s = session(1, "sess-1", "order-1", 1);
    created(store.create_session(&new_session(s.clone())).await.unwrap());
    let recorded = store
        .start_transaction(&start(&s.id_tag, 1, 1))
        .await
        .unwrap();
    let mut charging = s.clone();
    charging.state = SessionState::Charging;
    charging.transaction_id = Some(recorded.transaction_id);
    charging.started_at = Some(at(1));
    assert!(
        store
            .update_session(&update(&s, charging.clone()))
            .await
            .unwrap()
    );
    let charging = SessionStore::get_session(&store, &s.id).await.unwrap();

    let priced = price_session(
        &crate::fixtures::tariff(TARIFF),
        openpile_core::partner::catalog::NETWORK_TZ,
        &[
            Reading {
                at: at(1),
                register: Wh(1000),
            },
            Reading {
                at: at(61),
                register: Wh(31_000),
            },
        ],
        None,
    );
    let cdr = Cdr::for_session(SessionCdr {
        session_id: s.id.clone(),
        partner_id: s.partner_id.clone(),
        partner_order_id: s.partner_order_id.clone(),
        station_id: s.station_id.clone(),
        charger_id: s.charger_id.clone(),
        connector_id: s.connector_id.clone(),
        started_at: at(1),
        stopped_at: at(61),
        meter_start: Wh(1000),
        meter_stop: Wh(31_000),
        tariff_id: s.tariff_id.clone(),
        time_zone: "Asia/Shanghai".into(),
        priced,
        created_at: at(61),
    })
    .unwrap();
    let mut done = charging.clone();
    done.state = SessionState::Completed;
    done.energy = Wh(30_000);
    let mut u = update(&charging, done);
    u.cdr = Some(cdr.clone());
    assert!(store.update_session(&u).await.unwrap());
    assert_eq!(
        store.get_cdr(&CdrId::for_session(&s.id)).await.unwrap(),
        cdr
    );
    // A stale completion writes nothing (and no second CDR).
    assert!(!store.update_session(&u).await.unwrap());
}
