//! Contract of [`SettlementStore`]: CDRs written once and listed by booking time, credit CDRs,
//! terms, statements that gather each CDR once (late ones included), reports with their
//! reconciliation, resolutions with their credits, and the optimistic version checks that keep
//! concurrent operators from overwriting each other.

use chrono::{DateTime, Duration, TimeZone, Utc};
use openpile_core::energy::Wh;
use openpile_core::ids::{ChargerId, ConnectorId, PartnerId, SessionId, StatementId, StationId};
use openpile_core::money::Money;
use openpile_core::operator::AuditEntry;
use openpile_core::page::PageRequest;
use openpile_core::partner::catalog::NETWORK_TZ;
use openpile_core::partner::contract::{SettlementCycle, ShareRate};
use openpile_core::pricing::{MeterSample, price_session};
use openpile_core::settlement::cdr::{Cdr, CdrId, CreditRequest, SessionCdr};
use openpile_core::settlement::dispute::ResolutionKind;
use openpile_core::settlement::events::{StatementEvent, StatementEventKind};
use openpile_core::settlement::period::StatementPeriod;
use openpile_core::settlement::ports::{
    CdrFilter, ItemFilter, ItemResolution, RecordReport, ResolveItem, SettlementStore,
    StatementChange, StatementFilter, StatementPlan, StoredReport,
};
use openpile_core::settlement::reconcile::{Category, Tolerance, orders_of, reconcile};
use openpile_core::settlement::report::{PartnerReport, ReportFormat, ReportLine};
use openpile_core::settlement::statement::{CdrFigures, StatementLine, StatementState};
use openpile_core::settlement::terms::{SettlementTerms, TermsSchedule};
use rust_decimal::Decimal;

use crate::fixtures::{audit, flat_tariff};
use crate::{assert_conflict, assert_not_found};

/// A UTC instant given in Shanghai local time.
fn sh(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    NETWORK_TZ
        .with_ymd_and_hms(2026, m, d, h, min, 0)
        .single()
        .expect("a valid local time")
        .with_timezone(&Utc)
}

fn partner(p: &str) -> PartnerId {
    PartnerId::parse(p).expect("valid partner id")
}

/// A priced session CDR stopping at `stop`, `wh` Wh over the hour before it, for `partner`
/// with order id `O-<session>`.
pub fn session_cdr(session: &str, partner_id: &str, stop: DateTime<Utc>, wh: i64) -> Cdr {
    let start = stop - Duration::hours(1);
    let tariff = flat_tariff("T-FLAT");
    let priced = price_session(
        &tariff,
        NETWORK_TZ,
        &[
            MeterSample {
                at: start,
                register: Wh(1_000),
            },
            MeterSample {
                at: stop,
                register: Wh(1_000 + wh),
            },
        ],
        None,
    );
    Cdr::for_session(SessionCdr {
        session_id: SessionId::parse(session).expect("valid session id"),
        partner_id: Some(partner(partner_id)),
        partner_order_id: Some(format!("O-{session}")),
        station_id: StationId::parse("ST-1").expect("valid"),
        charger_id: ChargerId::parse("CP-1").expect("valid"),
        connector_id: ConnectorId::parse("CP-1-1").expect("valid"),
        started_at: start,
        stopped_at: stop,
        meter_start: Wh(1_000),
        meter_stop: Wh(1_000 + wh),
        tariff_id: tariff.id,
        time_zone: "Asia/Shanghai".into(),
        priced,
        created_at: stop,
    })
    .expect("a valid CDR")
}

fn terms() -> TermsSchedule {
    let share = |s: &str| {
        ShareRate::new("share", Decimal::from_str_exact(s).expect("decimal")).expect("share")
    };
    TermsSchedule::new(
        SettlementTerms {
            effective_from: DateTime::<Utc>::MIN_UTC,
            partner_share_of_electricity: share("0"),
            partner_share_of_service: share("0.1"),
            partner_share_of_idle: share("0.1"),
        },
        [],
    )
}

fn march() -> StatementPeriod {
    StatementPeriod::parse(SettlementCycle::Monthly, "2026-03").expect("a month")
}

fn plan(id: &str, p: &str, period: StatementPeriod, close: bool) -> StatementPlan {
    StatementPlan {
        id: StatementId::parse(id).expect("valid"),
        partner_id: partner(p),
        period,
        time_zone: "Asia/Shanghai".into(),
        starts_at: period.starts_at(NETWORK_TZ),
        ends_at: period.ends_at(NETWORK_TZ),
        terms: terms(),
        close,
        at: period.ends_at(NETWORK_TZ) + Duration::hours(1),
    }
}

fn entry(id: &str) -> AuditEntry {
    audit(id, sh(4, 1, 9, 0))
}

fn event(
    kind: StatementEventKind,
    st: &openpile_core::settlement::statement::Statement,
) -> StatementEvent {
    StatementEvent::new(kind, st, None, sh(4, 1, 9, 0))
}

fn first(limit: u32) -> PageRequest {
    PageRequest::first(limit)
}

pub async fn cdr_round_trips_and_lists_by_booking_time<S: SettlementStore>(store: S) {
    let cdrs = vec![
        session_cdr("s-3", "P1", sh(3, 3, 10, 0), 3_000),
        session_cdr("s-1", "P1", sh(3, 1, 10, 0), 1_234),
        session_cdr("s-2", "P2", sh(3, 2, 10, 0), 2_000),
        session_cdr("s-4", "P1", sh(3, 4, 10, 0), 4_000),
    ];
    store.import_cdrs(&cdrs).await.unwrap();
    let got = store.get_cdr(&cdrs[1].id).await.unwrap();
    assert_eq!(got, cdrs[1]);
    assert_not_found(store.get_cdr(&CdrId::parse("nope").unwrap()).await);

    let filter = CdrFilter {
        partner_id: Some(partner("P1")),
        from: Some(sh(3, 1, 0, 0)),
        to: Some(sh(3, 4, 0, 0)),
    };
    let page = store.list_cdrs(&filter, &first(1)).await.unwrap();
    assert_eq!(page.items[0].id.as_str(), "s-1");
    let next = PageRequest {
        limit: 1,
        after: page.next.clone(),
    };
    let page = store.list_cdrs(&filter, &next).await.unwrap();
    assert_eq!(page.items[0].id.as_str(), "s-3");
    assert_eq!(page.next, None, "s-4 is booked after `to`, s-2 is P2's");
}

pub async fn a_session_gets_one_cdr<S: SettlementStore>(store: S) {
    let cdr = session_cdr("s-1", "P1", sh(3, 1, 10, 0), 1_000);
    store.import_cdrs(std::slice::from_ref(&cdr)).await.unwrap();
    assert_conflict(store.import_cdrs(&[cdr]).await, "cdrs_session_key");
    // All or nothing: the new CDR before the duplicate is not kept either.
    let fresh = session_cdr("s-2", "P1", sh(3, 1, 11, 0), 1_000);
    let dup = session_cdr("s-1", "P1", sh(3, 1, 12, 0), 5);
    assert!(store.import_cdrs(&[fresh.clone(), dup]).await.is_err());
    assert_not_found(store.get_cdr(&fresh.id).await);
}

pub async fn credits_reference_their_original<S: SettlementStore>(store: S) {
    let original = session_cdr("s-1", "P1", sh(3, 1, 10, 0), 10_000);
    let request = |id: &str, cents: i64| CreditRequest {
        id: CdrId::parse(id).unwrap(),
        amount: Some(Money::new(Decimal::new(cents, 2))),
        reason: "charger fault".into(),
        issued_by: "operator:op-1".into(),
        at: sh(3, 5, 9, 0),
    };
    let credit = original.credit(&[], request("CR-1", 100)).unwrap();
    // Its original must exist.
    assert_not_found(store.insert_credit(&credit, &entry("a-0")).await);
    store
        .import_cdrs(std::slice::from_ref(&original))
        .await
        .unwrap();
    store.insert_credit(&credit, &entry("a-1")).await.unwrap();
    let second = original
        .credit(std::slice::from_ref(&credit), request("CR-2", 50))
        .unwrap();
    store.insert_credit(&second, &entry("a-2")).await.unwrap();
    let credits = store.credits_of(&original.id).await.unwrap();
    assert_eq!(credits, vec![credit.clone(), second]);
    assert_eq!(store.get_cdr(&credit.id).await.unwrap(), credit);
}

pub async fn terms_are_kept_per_partner<S: SettlementStore>(store: S) {
    let t = SettlementTerms {
        effective_from: sh(4, 1, 0, 0),
        ..*terms().entries().first().unwrap()
    };
    store
        .put_terms(&partner("P1"), &t, &entry("a-1"))
        .await
        .unwrap();
    assert_conflict(
        store.put_terms(&partner("P1"), &t, &entry("a-2")).await,
        "settlement_terms_pkey",
    );
    assert_eq!(store.list_terms(&partner("P1")).await.unwrap(), vec![t]);
    assert!(store.list_terms(&partner("P2")).await.unwrap().is_empty());
}

pub async fn a_statement_gathers_each_cdr_once<S: SettlementStore>(store: S) {
    let feb_late = session_cdr("s-feb", "P1", sh(2, 27, 10, 0), 1_000);
    let march_cdrs = vec![
        session_cdr("s-1", "P1", sh(3, 1, 0, 30), 10_000),
        session_cdr("s-2", "P1", sh(3, 31, 23, 30), 20_000),
        session_cdr("s-other", "P2", sh(3, 10, 10, 0), 5_000),
    ];
    let april = session_cdr("s-apr", "P1", sh(4, 1, 0, 30), 7_000);
    store.import_cdrs(&march_cdrs).await.unwrap();
    store
        .import_cdrs(std::slice::from_ref(&april))
        .await
        .unwrap();

    // Nothing built yet: no backlog before March.
    let b = store
        .backlog(&partner("P1"), march().starts_at(NETWORK_TZ))
        .await
        .unwrap();
    assert_eq!((b.last_end, b.earliest_unbuilt), (None, None));
    let b = store
        .backlog(&partner("P1"), march().ends_at(NETWORK_TZ))
        .await
        .unwrap();
    assert_eq!(b.earliest_unbuilt, Some(sh(3, 1, 0, 30)));

    let st = store
        .build_statement(&plan("ST-1", "P1", march(), false), None, &entry("a-1"))
        .await
        .unwrap();
    assert_eq!(st.state, StatementState::Draft);
    assert_eq!(st.closed_at, None);
    assert_eq!(st.totals.sessions, 2);
    assert_eq!(st.totals.energy, Wh(30_000));
    // A February CDR arriving late is gathered by the open draft when built again.
    store
        .import_cdrs(std::slice::from_ref(&feb_late))
        .await
        .unwrap();
    let st = store
        .build_statement(
            &plan("ST-ignored", "P1", march(), true),
            None,
            &entry("a-2"),
        )
        .await
        .unwrap();
    assert_eq!(st.id.as_str(), "ST-1", "an existing statement keeps its id");
    assert!(st.closed_at.is_some());
    assert_eq!(st.totals.sessions, 3);
    let lines = store.statement_lines(&st.id, &first(10)).await.unwrap();
    let ids: Vec<&str> = lines.items.iter().map(|l| l.cdr.cdr_id.as_str()).collect();
    assert_eq!(ids, vec!["s-1", "s-2", "s-feb"]);
    assert!(lines.items[2].late);
    assert!(!lines.items[0].late);
    // Totals are the sums of the lines.
    let sum: Money = lines.items.iter().map(|l| l.commission).sum();
    assert_eq!(sum, st.totals.commission);
    let due: Money = lines.items.iter().map(|l| l.due_to_operator).sum();
    assert_eq!(due, st.totals.due_to_operator);
    assert_eq!(
        st.totals.total,
        st.totals.commission + st.totals.due_to_operator
    );

    // Closed: it cannot gather again.
    assert_conflict(
        store
            .build_statement(&plan("ST-1", "P1", march(), true), None, &entry("a-3"))
            .await,
        "statements_closed_check",
    );
    // April gathers April only.
    let april_st = store
        .build_statement(
            &plan("ST-2", "P1", march().next(), false),
            None,
            &entry("a-4"),
        )
        .await
        .unwrap();
    assert_eq!(april_st.totals.sessions, 1);
    let b = store.backlog(&partner("P1"), sh(5, 1, 0, 0)).await.unwrap();
    assert_eq!(b.last_end, Some(march().next().ends_at(NETWORK_TZ)));
    // Listing and finding.
    let all = store
        .list_statements(&StatementFilter::default(), &first(10))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    let found = store
        .find_statement(&partner("P1"), &march())
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.id.to_string()), Some("ST-1".to_string()));
    assert_not_found(
        store
            .get_statement(&StatementId::parse("ST-9").unwrap())
            .await,
    );
    let figures = store.statement_figures(&st.id).await.unwrap();
    assert_eq!(figures.len(), 3);
    let elsewhere = store
        .orders_elsewhere(
            &partner("P1"),
            &april_st.id,
            &["O-s-1".to_string(), "O-x".to_string()],
        )
        .await
        .unwrap();
    assert_eq!(
        elsewhere.into_iter().collect::<Vec<_>>(),
        vec!["O-s-1".to_string()]
    );
}

/// A closed March statement of P1 with CDRs s-1 (10 kWh) and s-2 (20 kWh).
async fn closed_statement<S: SettlementStore>(
    store: &S,
) -> openpile_core::settlement::statement::Statement {
    store
        .import_cdrs(&[
            session_cdr("s-1", "P1", sh(3, 1, 10, 0), 10_000),
            session_cdr("s-2", "P1", sh(3, 2, 10, 0), 20_000),
        ])
        .await
        .unwrap();
    store
        .build_statement(&plan("ST-1", "P1", march(), true), None, &entry("a-build"))
        .await
        .unwrap()
}

/// The partner's report: s-1 as ours, s-2 with 1.00 less.
fn record(
    st: &openpile_core::settlement::statement::Statement,
    figures: &[CdrFigures],
    report_id: &str,
) -> RecordReport {
    let ours = orders_of(figures);
    let lines: Vec<ReportLine> = ours
        .iter()
        .enumerate()
        .map(|(i, o)| ReportLine {
            line: i as u64 + 1,
            order_id: o.order_id.clone(),
            session_id: None,
            energy: o.energy,
            amount: if i == 1 {
                o.amount - Money::new(Decimal::ONE)
            } else {
                o.amount
            },
        })
        .collect();
    let report = PartnerReport {
        format: ReportFormat::Csv,
        total_energy: Wh(lines.iter().map(|l| l.energy.0).sum()),
        total_amount: lines.iter().map(|l| l.amount).sum(),
        lines,
    };
    let rec = reconcile(&ours, &report, &Default::default(), Tolerance::default());
    RecordReport {
        report: StoredReport {
            id: report_id.into(),
            statement_id: st.id.clone(),
            partner_id: st.partner_id.clone(),
            received_at: sh(4, 2, 9, 0),
            format: report.format,
            line_count: report.lines.len() as u64,
            total_energy: report.total_energy,
            total_amount: report.total_amount,
            summary: rec.summary,
        },
        items: rec.items,
        expected_version: st.version,
        new_state: StatementState::Disputed,
        event: event(StatementEventKind::Disputed, st),
    }
}

pub async fn a_report_is_stored_with_its_reconciliation<S: SettlementStore>(store: S) {
    let st = closed_statement(&store).await;
    let figures = store.statement_figures(&st.id).await.unwrap();
    let rec = record(&st, &figures, "R-1");
    let after = store.record_report(&rec, &entry("a-r1")).await.unwrap();
    assert_eq!(after.state, StatementState::Disputed);
    assert_eq!(after.latest_report_id.as_deref(), Some("R-1"));
    assert!(after.version > st.version);
    // A stale version is refused and writes nothing.
    assert_conflict(
        store
            .record_report(&record(&st, &figures, "R-2"), &entry("a-r2"))
            .await,
        "statements_version_check",
    );
    assert_not_found(store.get_report("R-2").await);
    let report = store.get_report("R-1").await.unwrap();
    assert_eq!(report, rec.report);
    assert_eq!(
        store.list_reports(&st.id).await.unwrap(),
        vec![rec.report.clone()]
    );
    let items = store
        .report_items("R-1", &ItemFilter::default(), &first(1))
        .await
        .unwrap();
    assert_eq!(items.items[0].item, rec.items[0]);
    let rest = store
        .report_items(
            "R-1",
            &ItemFilter::default(),
            &PageRequest {
                limit: 10,
                after: items.next,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].item.category, Category::AmountMismatch);
    let open = ItemFilter {
        unresolved: true,
        ..Default::default()
    };
    let open_items = store.report_items("R-1", &open, &first(10)).await.unwrap();
    assert_eq!(open_items.items.len(), 1);
    assert_eq!(store.unresolved_count("R-1").await.unwrap(), 1);
}

pub async fn a_resolution_is_recorded_once_with_its_credit<S: SettlementStore>(store: S) {
    let st = closed_statement(&store).await;
    let figures = store.statement_figures(&st.id).await.unwrap();
    let st = store
        .record_report(&record(&st, &figures, "R-1"), &entry("a-r1"))
        .await
        .unwrap();
    let item = store.get_item("R-1", 2).await.unwrap();
    let original = store
        .get_cdr(item.item.cdr_id.as_ref().unwrap())
        .await
        .unwrap();
    let credit = original
        .credit(
            &[],
            CreditRequest {
                id: CdrId::parse("CR-1").unwrap(),
                amount: Some(Money::new(Decimal::ONE)),
                reason: "accept theirs".into(),
                issued_by: "operator:op-1".into(),
                at: sh(4, 3, 9, 0),
            },
        )
        .unwrap();
    let mut totals = st.totals;
    totals.add(&StatementLine::new(
        CdrFigures::from(&credit),
        &st.terms,
        st.starts_at,
    ));
    let resolve = ResolveItem {
        statement_id: st.id.clone(),
        expected_version: st.version,
        report_id: "R-1".into(),
        seq: 2,
        resolution: ItemResolution {
            kind: ResolutionKind::AcceptTheirs,
            reason: "accept theirs".into(),
            resolved_by: "operator:op-1".into(),
            resolved_at: sh(4, 3, 9, 0),
            credit_cdr_id: Some(credit.id.clone()),
        },
        credit: Some(credit.clone()),
        totals,
    };
    let after = store.resolve_item(&resolve, &entry("a-res")).await.unwrap();
    assert_eq!(after.totals.credits, 1);
    assert_eq!(
        after.totals.total,
        st.totals.total - Money::new(Decimal::ONE)
    );
    assert_eq!(store.unresolved_count("R-1").await.unwrap(), 0);
    let stored = store.get_item("R-1", 2).await.unwrap();
    assert_eq!(stored.resolution, Some(resolve.resolution.clone()));
    let lines = store.statement_lines(&st.id, &first(10)).await.unwrap();
    assert!(lines.items.iter().any(|l| l.cdr.cdr_id == credit.id));
    // Twice: refused, and the second credit is not written.
    let mut again = resolve.clone();
    again.expected_version = after.version;
    again.credit = Some(
        CdrId::parse("CR-2")
            .map(|id| Cdr {
                id,
                ..credit.clone()
            })
            .unwrap(),
    );
    assert_conflict(
        store.resolve_item(&again, &entry("a-res2")).await,
        "reconciliation_items_resolved_check",
    );
    assert_not_found(store.get_cdr(&CdrId::parse("CR-2").unwrap()).await);
    // A matched item cannot be resolved at all; a stale version neither.
    let mut matched = again.clone();
    matched.seq = 1;
    matched.credit = None;
    assert_conflict(
        store.resolve_item(&matched, &entry("a-res3")).await,
        "reconciliation_items_resolved_check",
    );
    matched.expected_version = st.version;
    assert_conflict(
        store.resolve_item(&matched, &entry("a-res4")).await,
        "statements_version_check",
    );
}

pub async fn state_changes_check_state_and_version<S: SettlementStore>(store: S) {
    let st = closed_statement(&store).await;
    let change = |from, to, version, reference: Option<&str>| StatementChange {
        statement_id: st.id.clone(),
        expected_version: version,
        from,
        to,
        at: sh(4, 5, 9, 0),
        payment_reference: reference.map(str::to_string),
        event: event(StatementEventKind::Confirmed, &st),
    };
    // From the wrong state: refused.
    assert_conflict(
        store
            .change_statement(
                &change(
                    StatementState::Disputed,
                    StatementState::Confirmed,
                    st.version,
                    None,
                ),
                &entry("a-c0"),
            )
            .await,
        "statements_version_check",
    );
    let confirmed = store
        .change_statement(
            &change(
                StatementState::Draft,
                StatementState::Confirmed,
                st.version,
                None,
            ),
            &entry("a-c1"),
        )
        .await
        .unwrap();
    assert_eq!(confirmed.state, StatementState::Confirmed);
    assert!(confirmed.confirmed_at.is_some());
    let settled = store
        .change_statement(
            &change(
                StatementState::Confirmed,
                StatementState::Settled,
                confirmed.version,
                Some("BANK-2026-04-001"),
            ),
            &entry("a-c2"),
        )
        .await
        .unwrap();
    assert_eq!(settled.state, StatementState::Settled);
    assert_eq!(
        settled.payment_reference.as_deref(),
        Some("BANK-2026-04-001")
    );
    assert!(settled.settled_at.is_some());
    let by_state = store
        .list_statements(
            &StatementFilter {
                partner_id: None,
                state: Some(StatementState::Settled),
            },
            &first(10),
        )
        .await
        .unwrap();
    assert_eq!(by_state.items.len(), 1);
}

pub async fn cdrs_are_immutable<S: SettlementStore>(store: S) {
    // No port changes a CDR; the only way to correct one is a credit, which leaves it intact.
    let original = session_cdr("s-1", "P1", sh(3, 1, 10, 0), 10_000);
    store
        .import_cdrs(std::slice::from_ref(&original))
        .await
        .unwrap();
    let credit = original
        .credit(
            &[],
            CreditRequest {
                id: CdrId::parse("CR-1").unwrap(),
                amount: None,
                reason: "test session".into(),
                issued_by: "operator:op-1".into(),
                at: sh(3, 2, 9, 0),
            },
        )
        .unwrap();
    store.insert_credit(&credit, &entry("a-1")).await.unwrap();
    assert_eq!(store.get_cdr(&original.id).await.unwrap(), original);
    assert_eq!(credit.total, Money::ZERO - original.total);
}
