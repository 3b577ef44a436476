//! Settlement benchmark (issue 7): on this machine, how long it takes to
//!
//! 1. build and close the statement of one partner with 1,000,000 CDRs in its month, and
//! 2. accept and reconcile a 100,000-line settlement report (validation, order-by-order
//!    comparison, storing the report and every item, moving the statement on) — against a
//!    statement of 100,000 CDRs, and, as a harder variant, against the 1,000,000-CDR statement
//!    (900,000 orders then come out `missing_on_partner`).
//!
//! Both go through core's `SettlementService` over the real SQLite store (a WAL file in a
//! temporary directory), as the API would. The target is under 10 s each.
//!
//! `--smoke` runs the same path with 10,000 CDRs and a 1,000-line report and checks the
//! outcome, for CI. `--cdrs N` and `--report-lines N` change the sizes.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use openpile_core::clock::Clock;
use openpile_core::energy::Wh;
use openpile_core::error::StoreError;
use openpile_core::ids::{
    ChargerId, ConnectorId, PartnerId, SessionId, StationId, TariffId, UuidV7Ids,
};
use openpile_core::money::{Money, UnitPrice};
use openpile_core::operator::{AuditEntry, Email};
use openpile_core::page::{Page, PageRequest};
use openpile_core::partner::application::{
    Application, ApplicationDecision, ApplicationRevision, ApplicationStatus,
};
use openpile_core::partner::contract::{
    Contract, RateLimit, RevenueShare, SettlementCycle, ShareRate, StationScope,
};
use openpile_core::partner::credential::{
    AccessToken, ClientId, ClientSecret, Credential, Partner, PartnerStatus, ScopeSet, TokenGrant,
};
use openpile_core::partner::notification::{
    EmailAttempt, EmailStatus, MailRetryQueue, Notification,
};
use openpile_core::partner::ports::{
    ApplicantAccount, NewApplication, PartnerStatusChange, PartnerStore,
};
use openpile_core::pricing::{MeterSample, price_session};
use openpile_core::settlement::cdr::{Cdr, SessionCdr};
use openpile_core::settlement::ports::SettlementStore;
use openpile_core::settlement::reconcile::Tolerance;
use openpile_core::settlement::report::{
    RawReport, RawReportLine, RawReportTotals, ReportFormat, kwh_text,
};
use openpile_core::settlement::service::{SettlementConfig, SettlementService};
use openpile_core::settlement::statement::StatementState;
use openpile_core::tariff::{DayMinute, Tariff, TariffSegment};
use openpile_store_sqlite::SqliteStore;
use rust_decimal::Decimal;

/// CPU time (user + system) this process has used so far, all threads, from
/// `/proc/self/stat` (clock ticks of 10 ms); `None` off Linux. On a shared machine it says how
/// much work a step was, where the wall time also counts waiting for other processes.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Wall and CPU seconds of `f`.
struct Timer {
    wall: Instant,
    cpu: Option<f64>,
}

impl Timer {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: cpu_seconds(),
        }
    }

    /// (wall, cpu) seconds since the start.
    fn stop(&self) -> (f64, f64) {
        let cpu = match (self.cpu, cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        (self.wall.elapsed().as_secs_f64(), cpu)
    }
}

/// What to run.
struct Args {
    smoke: bool,
    cdrs: usize,
    report_lines: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        smoke: false,
        cdrs: 1_000_000,
        report_lines: 100_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => {
                a.smoke = true;
                a.cdrs = 10_000;
                a.report_lines = 1_000;
            }
            "--cdrs" => a.cdrs = it.next().context("--cdrs N")?.parse()?,
            "--report-lines" => a.report_lines = it.next().context("--report-lines N")?.parse()?,
            other => bail!("unknown argument {other:?} (use --smoke, --cdrs N, --report-lines N)"),
        }
    }
    if a.report_lines > a.cdrs {
        bail!("--report-lines must not exceed --cdrs");
    }
    Ok(a)
}

/// Time stands at 2 April 2026, so March is closed.
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 2, 1, 0, 0)
            .single()
            .unwrap_or_default()
    }
}

/// The partners the benchmark settles with: active, monthly, 10 % revenue share. Only
/// `get_partner` is needed by settlement; the rest of the port is never called here.
struct Partners;

fn partner(id: &PartnerId) -> Result<Partner, StoreError> {
    let at = FixedClock.now();
    Ok(Partner {
        id: id.clone(),
        name: format!("Bench {id}"),
        application_id: "app".into(),
        email: Email::parse("bench@example.com").map_err(|e| StoreError::Other(Box::new(e)))?,
        status: PartnerStatus::Active,
        contract: Some(Contract {
            station_scope: StationScope::All,
            // The example: the partner keeps 10 % of the service fee only.
            revenue_share: RevenueShare::per_fee(
                ShareRate::ZERO,
                ShareRate::new("revenue_share.service", Decimal::new(1, 1))
                    .map_err(|e| StoreError::Other(Box::new(e)))?,
                ShareRate::ZERO,
            ),
            rate_limit: RateLimit::new(100, 100).map_err(|e| StoreError::Other(Box::new(e)))?,
            settlement_cycle: SettlementCycle::Monthly,
            scopes: ScopeSet::all(),
        }),
        suspended_at: None,
        suspension_reason: None,
        created_at: at,
        updated_at: at,
    })
}

#[async_trait]
impl PartnerStore for Partners {
    async fn create_application(&self, _: &NewApplication) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn get_application(&self, _: &str) -> Result<Application, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn list_applications(
        &self,
        _: Option<ApplicationStatus>,
        _: &PageRequest,
    ) -> Result<Page<Application>, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn find_account(&self, _: &Email) -> Result<ApplicantAccount, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn resubmit_application(
        &self,
        _: &str,
        _: &ApplicationRevision,
        _: &Notification,
    ) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn decide_application(
        &self,
        _: &str,
        _: &ApplicationDecision,
        _: Option<&Credential>,
        _: &Notification,
        _: &AuditEntry,
    ) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn get_partner(&self, id: &PartnerId) -> Result<Partner, StoreError> {
        partner(id)
    }
    async fn list_partners(&self, _: &PageRequest) -> Result<Page<Partner>, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn set_partner_status(
        &self,
        _: &PartnerStatusChange,
        _: &Notification,
        _: &AuditEntry,
    ) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn get_credential(&self, _: &ClientId) -> Result<Credential, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn list_credentials(&self, _: &PartnerId) -> Result<Vec<Credential>, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn add_secret(
        &self,
        _: &ClientId,
        _: &ClientSecret,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: Option<&Notification>,
    ) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn revoke_secret(
        &self,
        _: &ClientId,
        _: &str,
        _: DateTime<Utc>,
        _: &Notification,
    ) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn create_token(&self, _: &AccessToken) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn find_token(&self, _: &str) -> Result<TokenGrant, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn purge_tokens(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn list_notifications(
        &self,
        _: &PartnerId,
        _: &PageRequest,
    ) -> Result<Page<Notification>, StoreError> {
        Err(StoreError::NotFound)
    }
    async fn set_email_status(&self, _: &str, _: EmailStatus) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn record_email_attempt(&self, _: &str, _: &EmailAttempt) -> Result<(), StoreError> {
        Err(StoreError::NotFound)
    }
    async fn due_mail_retries(
        &self,
        _: DateTime<Utc>,
        _: u32,
    ) -> Result<MailRetryQueue, StoreError> {
        Err(StoreError::NotFound)
    }
}

/// Shanghai's two periods: valley 22:00–08:00 at 0.3 + 0.4, flat 08:00–22:00 at 0.8 + 0.6.
fn tariff() -> anyhow::Result<Tariff> {
    let seg = |start, end, e, s| -> anyhow::Result<TariffSegment> {
        Ok(TariffSegment {
            start: DayMinute::parse("start", start)?,
            end: DayMinute::parse("end", end)?,
            label: None,
            electricity_price: UnitPrice::parse("e", e)?,
            service_price: UnitPrice::parse("s", s)?,
        })
    };
    Ok(Tariff::new(
        TariffId::parse("T-BENCH")?,
        "bench".into(),
        1,
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default(),
        vec![
            seg("22:00", "08:00", "0.3", "0.4")?,
            seg("08:00", "22:00", "0.8", "0.6")?,
        ],
        None,
    )?)
}

/// `n` priced sessions of `partner` spread over March 2026 (local time), 5–60 kWh each, some
/// across the 22:00 boundary.
fn cdrs(partner: &str, n: usize, tariff: &Tariff) -> anyhow::Result<Vec<Cdr>> {
    let tz = chrono_tz::Asia::Shanghai;
    let month_start = tz
        .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .context("a date")?
        .with_timezone(&Utc);
    // 30 days of seconds, leaving the last day for sessions to finish within March.
    let span = 30 * 24 * 3600i64;
    let pid = PartnerId::parse(partner)?;
    let station = StationId::parse("ST-BENCH")?;
    let charger = ChargerId::parse("CP-BENCH")?;
    let connector = ConnectorId::parse("CP-BENCH-1")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // A cheap, deterministic spread (a multiplicative hash of i).
        let h = (i as i64).wrapping_mul(2_654_435_761) & 0x7fff_ffff;
        let start = month_start + Duration::seconds(h % span);
        let minutes = 20 + h % 160;
        let wh = 5_000 + (h % 55_000);
        let stop = start + Duration::minutes(minutes);
        let priced = price_session(
            tariff,
            tz,
            &[
                MeterSample {
                    at: start,
                    register: Wh(1_000_000),
                },
                MeterSample {
                    at: stop,
                    register: Wh(1_000_000 + wh),
                },
            ],
            None,
        );
        out.push(Cdr::for_session(SessionCdr {
            session_id: SessionId::parse(format!("{partner}-s{i:07}"))?,
            partner_id: Some(pid.clone()),
            partner_order_id: Some(format!("{partner}-O{i:07}")),
            station_id: station.clone(),
            charger_id: charger.clone(),
            connector_id: connector.clone(),
            started_at: start,
            stopped_at: stop,
            meter_start: Wh(1_000_000),
            meter_stop: Wh(1_000_000 + wh),
            tariff_id: tariff.id.clone(),
            time_zone: "Asia/Shanghai".into(),
            priced,
            created_at: stop,
        })?);
    }
    Ok(out)
}

async fn load(store: &SqliteStore, cdrs: &[Cdr]) -> anyhow::Result<f64> {
    let t = Instant::now();
    for chunk in cdrs.chunks(50_000) {
        store.import_cdrs(chunk).await?;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// The partner's report for `lines` of its orders: ours, except that every 100th amount is a
/// cent short, every 250th energy a Wh over, and the last order is one we never had.
fn report(cdrs: &[Cdr], lines: usize) -> RawReport {
    let mut raw: Vec<RawReportLine> = cdrs
        .iter()
        .take(lines)
        .enumerate()
        .map(|(i, c)| {
            let mut amount = c.total;
            let mut energy = c.energy;
            if i % 100 == 7 {
                amount = amount - Money::new(Decimal::new(1, 2));
            } else if i % 250 == 11 {
                energy = energy + Wh(1);
            }
            RawReportLine {
                line: i as u64 + 2,
                order_id: c.partner_order_id.clone().unwrap_or_default(),
                session_id: String::new(),
                energy_kwh: kwh_text(energy),
                amount: format!("{:.2}", amount.amount()),
            }
        })
        .collect();
    if let Some(last) = raw.last_mut() {
        last.order_id = "NEVER-OURS".into();
    }
    let energy = Wh(raw
        .iter()
        .map(|l| {
            Wh::from_kwh(l.energy_kwh.parse().unwrap_or_default())
                .unwrap_or_default()
                .0
        })
        .sum());
    let amount: Money = raw
        .iter()
        .map(|l| Money::new(l.amount.parse().unwrap_or_default()))
        .sum();
    RawReport {
        format: ReportFormat::Csv,
        totals: RawReportTotals {
            line: raw.len() as u64 + 2,
            lines: None,
            energy_kwh: kwh_text(energy),
            amount: format!("{:.2}", amount.amount()),
        },
        lines: raw,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::connect(&url).await?;
    let service = SettlementService::new(
        Arc::new(store.clone()),
        Arc::new(Partners),
        Arc::new(FixedClock),
        Arc::new(UuidV7Ids),
        SettlementConfig {
            time_zone: chrono_tz::Asia::Shanghai,
            tolerance: Tolerance::default(),
        },
    );
    let tariff = tariff()?;
    println!(
        "settlement benchmark: {} CDRs in one statement, {}-line report{}",
        args.cdrs,
        args.report_lines,
        if args.smoke { " (smoke)" } else { "" }
    );

    // Setup (not the figures asked for, reported for context).
    let t = Instant::now();
    let big = cdrs("P-BIG", args.cdrs, &tariff)?;
    let small = cdrs("P-SMALL", args.report_lines, &tariff)?;
    let priced_s = t.elapsed().as_secs_f64();
    let load_s = load(&store, &big).await? + load(&store, &small).await?;
    println!(
        "setup: priced {} sessions in {priced_s:.1} s, wrote their CDRs in {load_s:.1} s",
        args.cdrs + args.report_lines
    );

    // 1. The statement of 1,000,000 CDRs.
    let t = Timer::start();
    let st = service
        .build("bench", &PartnerId::parse("P-BIG")?, "2026-03", true)
        .await?;
    let (build_s, build_cpu) = t.stop();
    println!(
        "build+close statement ({} CDRs): {build_s:.2} s wall, {build_cpu:.2} s CPU — total {} CNY, commission {} CNY, due {} CNY",
        st.totals.sessions,
        st.totals.total.amount(),
        st.totals.commission.amount(),
        st.totals.due_to_operator.amount()
    );
    if st.totals.sessions != args.cdrs as u64 {
        bail!(
            "the statement holds {} CDRs, not {}",
            st.totals.sessions,
            args.cdrs
        );
    }

    // 2a. A report of `report_lines` orders against its own statement.
    let small_st = service
        .build("bench", &PartnerId::parse("P-SMALL")?, "2026-03", true)
        .await?;
    let raw = report(&small, args.report_lines);
    let t = Timer::start();
    let outcome = service
        .submit_report(&PartnerId::parse("P-SMALL")?, small_st.id.as_str(), raw)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (reconcile_s, reconcile_cpu) = t.stop();
    let s = &outcome.report.summary;
    println!(
        "reconcile {}-line report vs {} CDRs: {reconcile_s:.2} s wall, {reconcile_cpu:.2} s CPU — matched {}, amount {}, energy {}, \
         missing on operator {}, missing on partner {}",
        s.report_lines,
        small_st.totals.sessions,
        s.matched,
        s.amount_mismatch,
        s.energy_mismatch,
        s.missing_on_operator,
        s.missing_on_partner
    );
    let expected_amount = (0..args.report_lines - 1).filter(|i| i % 100 == 7).count() as u64;
    if outcome.statement.state != StatementState::Disputed
        || s.amount_mismatch != expected_amount
        || s.missing_on_operator != 1
        || s.missing_on_partner != 1
    {
        bail!("unexpected reconciliation: {s:?}");
    }

    // 2b. The same size of report against the 1,000,000-CDR statement.
    let raw = report(&big, args.report_lines);
    let t = Timer::start();
    let outcome = service
        .submit_report(&PartnerId::parse("P-BIG")?, st.id.as_str(), raw)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (reconcile_big_s, reconcile_big_cpu) = t.stop();
    println!(
        "reconcile {}-line report vs {} CDRs: {reconcile_big_s:.2} s wall, {reconcile_big_cpu:.2} s CPU — {} items stored ({} missing on partner)",
        args.report_lines,
        args.cdrs,
        outcome.report.summary.report_lines + outcome.report.summary.missing_on_partner,
        outcome.report.summary.missing_on_partner
    );
    let listed = store.list_reports(&st.id).await?.len();
    if listed != 1 {
        bail!("expected one stored report, found {listed}");
    }
    println!(
        "{{\"cdrs\":{},\"report_lines\":{},\"build_close_s\":{build_s:.3},\"build_close_cpu_s\":{build_cpu:.3},\"reconcile_s\":{reconcile_s:.3},\"reconcile_cpu_s\":{reconcile_cpu:.3},\"reconcile_vs_big_s\":{reconcile_big_s:.3},\"reconcile_vs_big_cpu_s\":{reconcile_big_cpu:.3},\"load_average\":{:?}}}",
        args.cdrs,
        args.report_lines,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?")
    );
    if args.smoke {
        println!("smoke: ok");
    }
    Ok(())
}
