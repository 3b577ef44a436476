//! The network as partners read it, held in memory.
//!
//! Partner reads (station lists, statuses) are the hottest path of the platform and must stay
//! fast whatever the database, so they are answered from an immutable [`Snapshot`] of every
//! live station with its chargers, connectors (live state included) and tariffs. The
//! [`Catalog`] keeps the snapshot current through the [`StationCatalog`] port: every change
//! in the store advances a revision, and a refresh applies only what changed since the
//! snapshot's revision (a changed station is replaced as a whole, copy-on-write), so a
//! status change costs one station's reload, not the network's.
//!
//! Freshness: a snapshot is trusted for at most `max_staleness`; then the next reader checks
//! the revision (one indexed read) while concurrent readers keep using the current snapshot.
//! With a zero bound every read checks first, so a write is visible to the next read.
//!
//! Scope: every query takes the caller's [`Visibility`]; what it does not cover behaves as if
//! it did not exist.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::clock::Clock;
use crate::error::{StoreError, ValidationError};
use crate::geo::Coordinates;
use crate::ids::{ConnectorId, StationId, TariffId};
use crate::network::{
    AreaCode, Charger, ConnectorStandard, ConnectorView, OpeningHours, Station, StationStatus,
};
use crate::partner::contract::StationScope;
use crate::partner::ports::StationCatalog;
use crate::status::ConnectorStatus;
use crate::tariff::Tariff;

/// The time zone of opening hours and tariffs: every station we run is in mainland China.
pub const NETWORK_TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A live charger with its live connectors (by number).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogCharger {
    pub charger: Charger,
    pub connectors: Vec<ConnectorView>,
}

/// A live station as partners see it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogStation {
    pub station: Station,
    /// By charger id.
    pub chargers: Vec<CatalogCharger>,
    /// The latest change to anything in it: the station, a charger, a connector or a
    /// connector's status.
    pub updated_at: DateTime<Utc>,
}

impl CatalogStation {
    /// Every connector with its charger.
    pub fn connectors(&self) -> impl Iterator<Item = (&Charger, &ConnectorView)> {
        self.chargers
            .iter()
            .flat_map(|c| c.connectors.iter().map(move |v| (&c.charger, v)))
    }

    /// Whether the opening hours cover `at` (local time of [`NETWORK_TZ`]).
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        match self.station.opening_hours {
            OpeningHours::AlwaysOpen => true,
            OpeningHours::Daily { open, close } => {
                let t = at.with_timezone(&NETWORK_TZ).time();
                if open < close {
                    open <= t && t < close
                } else {
                    // Closes after midnight.
                    t >= open || t < close
                }
            }
        }
    }
}

/// What the store hands the catalog: changes after a revision, or everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogDelta {
    /// The revision this delta brings the catalog to.
    pub revision: i64,
    /// Everything is here: replace, do not merge.
    pub complete: bool,
    /// Live stations that changed (or all of them), each whole.
    pub stations: Vec<CatalogStation>,
    /// Stations that were retired or deleted.
    pub removed: Vec<StationId>,
    /// Every version of each tariff that changed (or of all tariffs).
    pub tariffs: Vec<Tariff>,
}

/// Which stations a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Sandbox credentials: only stations marked sandbox.
    Sandbox,
    /// Production credentials: the contract's stations, never sandbox ones.
    Production(Arc<StationScope>),
}

impl Visibility {
    pub fn sees(&self, station: &Station) -> bool {
        match self {
            Self::Sandbox => station.sandbox,
            Self::Production(scope) => !station.sandbox && scope.contains(&station.id),
        }
    }
}

/// A `near=` search: stations within `radius_m` of `center`, nearest first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub center: Coordinates,
    pub radius_m: u32,
}

impl Near {
    /// A city is well within 50 km; a larger radius would make every query a full scan of
    /// the country.
    pub const MAX_RADIUS_M: u32 = 50_000;

    pub fn new(center: Coordinates, radius_m: u32) -> Result<Self, ValidationError> {
        if !(1..=Self::MAX_RADIUS_M).contains(&radius_m) {
            return Err(ValidationError::new(
                "radius_m",
                format!("must be between 1 and {}", Self::MAX_RADIUS_M),
            ));
        }
        Ok(Self { center, radius_m })
    }
}

/// Filters of the station list. Connector filters (`connector_standard`, `min_power_kw`,
/// `available_now`) must hold for one and the same connector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StationFilter {
    /// Stations where anything changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Province, city or district (prefix semantics of GB/T 2260).
    pub area_code: Option<AreaCode>,
    pub near: Option<Near>,
    pub connector_standard: Option<ConnectorStandard>,
    pub min_power_kw: Option<Decimal>,
    /// An operational, open station with an available connector (matching the other
    /// connector filters).
    pub available_now: bool,
}

impl StationFilter {
    pub fn validate_min_power(kw: Decimal) -> Result<Decimal, ValidationError> {
        if kw <= Decimal::ZERO || kw > Decimal::from(1000) {
            return Err(ValidationError::new(
                "min_power_kw",
                "must be greater than 0 and at most 1000",
            ));
        }
        Ok(kw)
    }

    fn has_connector_filter(&self) -> bool {
        self.connector_standard.is_some() || self.min_power_kw.is_some() || self.available_now
    }

    fn matches(&self, st: &CatalogStation, now: DateTime<Utc>) -> bool {
        if self
            .updated_since
            .is_some_and(|since| st.updated_at < since)
        {
            return false;
        }
        if self
            .area_code
            .is_some_and(|area| !st.station.area_code.within(area))
        {
            return false;
        }
        if !self.has_connector_filter() {
            return true;
        }
        if self.available_now
            && (st.station.status != StationStatus::Operational || !st.is_open_at(now))
        {
            return false;
        }
        st.connectors().any(|(_, c)| {
            self.connector_standard
                .is_none_or(|s| c.connector.standard == s)
                && self
                    .min_power_kw
                    .is_none_or(|kw| c.connector.max_power_kw >= kw)
                && (!self.available_now || c.state.status == ConnectorStatus::Available)
        })
    }
}

/// Where the next page of stations starts: after this key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationCursor {
    /// Lists ordered by station id.
    Id(StationId),
    /// `near=` lists ordered by distance (whole millimetres), then id.
    Distance { millimetres: u64, id: StationId },
}

/// A station in a list, with its distance for `near=` searches.
#[derive(Debug, Clone)]
pub struct StationHit {
    pub station: Arc<CatalogStation>,
    pub distance_m: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct StationPage {
    pub items: Vec<StationHit>,
    pub next: Option<StationCursor>,
}

/// A connector inside its station.
#[derive(Debug, Clone)]
pub struct ConnectorRef {
    pub station: Arc<CatalogStation>,
    charger: usize,
    connector: usize,
}

impl ConnectorRef {
    pub fn charger(&self) -> &Charger {
        &self.station.chargers[self.charger].charger
    }

    pub fn connector(&self) -> &ConnectorView {
        &self.station.chargers[self.charger].connectors[self.connector]
    }
}

#[derive(Debug, Clone)]
pub struct StatusPage {
    pub items: Vec<ConnectorRef>,
    pub next: Option<ConnectorId>,
}

/// An immutable view of the whole partner-visible network at one revision.
#[derive(Debug, Default)]
pub struct Snapshot {
    revision: i64,
    loaded: bool,
    stations: BTreeMap<StationId, Arc<CatalogStation>>,
    connectors: BTreeMap<ConnectorId, ConnectorRef>,
    /// Versions in version order.
    tariffs: HashMap<TariffId, Arc<Vec<Tariff>>>,
}

fn distance_mm(d: f64) -> u64 {
    // Distances are at most the radius (≤ 50 km), far inside u64 millimetres.
    (d * 1000.0).round() as u64
}

impl Snapshot {
    /// A snapshot from a complete delta.
    pub fn build(delta: CatalogDelta) -> Self {
        Self::default().apply(delta)
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }

    pub fn station_count(&self) -> usize {
        self.stations.len()
    }

    /// The snapshot after `delta` (copy-on-write: `self` is unchanged).
    pub fn apply(&self, delta: CatalogDelta) -> Self {
        let (mut stations, mut connectors, mut tariffs) = if delta.complete {
            Default::default()
        } else {
            (
                self.stations.clone(),
                self.connectors.clone(),
                self.tariffs.clone(),
            )
        };
        // Drop every changed station first: a connector may have moved between two of them.
        for id in delta
            .removed
            .iter()
            .chain(delta.stations.iter().map(|s| &s.station.id))
        {
            if let Some(old) = stations.remove(id) {
                for (_, c) in old.connectors() {
                    connectors.remove(&c.connector.id);
                }
            }
        }
        for st in delta.stations {
            let st = Arc::new(st);
            for (ci, ch) in st.chargers.iter().enumerate() {
                for (ki, c) in ch.connectors.iter().enumerate() {
                    connectors.insert(
                        c.connector.id.clone(),
                        ConnectorRef {
                            station: st.clone(),
                            charger: ci,
                            connector: ki,
                        },
                    );
                }
            }
            stations.insert(st.station.id.clone(), st);
        }
        let mut grouped: HashMap<TariffId, Vec<Tariff>> = HashMap::new();
        for t in delta.tariffs {
            grouped.entry(t.id.clone()).or_default().push(t);
        }
        for (id, mut versions) in grouped {
            versions.sort_by_key(|t| t.version);
            tariffs.insert(id, Arc::new(versions));
        }
        Self {
            revision: delta.revision,
            loaded: true,
            stations,
            connectors,
            tariffs,
        }
    }

    /// A station the caller may see.
    pub fn station(&self, vis: &Visibility, id: &StationId) -> Option<&Arc<CatalogStation>> {
        self.stations.get(id).filter(|s| vis.sees(&s.station))
    }

    /// A connector the caller may see.
    pub fn connector(&self, vis: &Visibility, id: &ConnectorId) -> Option<&ConnectorRef> {
        self.connectors
            .get(id)
            .filter(|c| vis.sees(&c.station.station))
    }

    /// Every version of a tariff, oldest first.
    pub fn tariff_versions(&self, id: &TariffId) -> &[Tariff] {
        self.tariffs.get(id).map_or(&[], |v| v.as_slice())
    }

    /// The version in force at `at`: the latest whose `effective_from` is not after it.
    pub fn tariff_in_force(&self, id: &TariffId, at: DateTime<Utc>) -> Option<&Tariff> {
        self.tariff_versions(id)
            .iter()
            .rev()
            .find(|t| t.effective_from <= at)
    }

    /// One page of the stations the caller may see that match `filter`, after `after`.
    pub fn stations(
        &self,
        vis: &Visibility,
        filter: &StationFilter,
        now: DateTime<Utc>,
        limit: usize,
        after: Option<&StationCursor>,
    ) -> Result<StationPage, ValidationError> {
        let limit = limit.max(1);
        let wrong_cursor = || {
            ValidationError::new(
                "cursor",
                "was issued for a list in another order (with or without near)",
            )
        };
        let Some(near) = filter.near else {
            let start = match after {
                None => Bound::Unbounded,
                Some(StationCursor::Id(id)) => Bound::Excluded(id),
                Some(StationCursor::Distance { .. }) => return Err(wrong_cursor()),
            };
            let mut items: Vec<StationHit> = Vec::with_capacity(limit);
            let mut next = None;
            for st in self
                .stations
                .range::<StationId, _>((start, Bound::Unbounded))
                .map(|(_, s)| s)
                .filter(|s| vis.sees(&s.station) && filter.matches(s, now))
            {
                if items.len() == limit {
                    next = items
                        .last()
                        .map(|h| StationCursor::Id(h.station.station.id.clone()));
                    break;
                }
                items.push(StationHit {
                    station: st.clone(),
                    distance_m: None,
                });
            }
            return Ok(StationPage { items, next });
        };
        let after_key = match after {
            None => None,
            Some(StationCursor::Distance { millimetres, id }) => Some((*millimetres, id)),
            Some(StationCursor::Id(_)) => return Err(wrong_cursor()),
        };
        let radius = f64::from(near.radius_m);
        let mut hits: Vec<(u64, f64, &Arc<CatalogStation>)> = self
            .stations
            .values()
            .filter(|s| vis.sees(&s.station))
            .filter_map(|s| {
                let d = near.center.distance_m(s.station.location);
                (d <= radius).then_some((distance_mm(d), d, s))
            })
            .filter(|(mm, _, s)| {
                after_key.is_none_or(|(amm, aid)| (*mm, &s.station.id) > (amm, aid))
            })
            .filter(|(_, _, s)| filter.matches(s, now))
            .collect();
        hits.sort_by(|a, b| (a.0, &a.2.station.id).cmp(&(b.0, &b.2.station.id)));
        let more = hits.len() > limit;
        hits.truncate(limit);
        let next = if more {
            hits.last().map(|(mm, _, s)| StationCursor::Distance {
                millimetres: *mm,
                id: s.station.id.clone(),
            })
        } else {
            None
        };
        Ok(StationPage {
            items: hits
                .into_iter()
                .map(|(_, d, s)| StationHit {
                    station: s.clone(),
                    distance_m: Some(d),
                })
                .collect(),
            next,
        })
    }

    /// Live connector states by connector id, after `after`: of one station (`None` when the
    /// caller cannot see it) or of every station the caller can see.
    pub fn statuses(
        &self,
        vis: &Visibility,
        station: Option<&StationId>,
        updated_since: Option<DateTime<Utc>>,
        limit: usize,
        after: Option<&ConnectorId>,
    ) -> Option<StatusPage> {
        let limit = limit.max(1);
        let fresh =
            |r: &ConnectorRef| updated_since.is_none_or(|t| r.connector().state.changed_at >= t);
        let mut items: Vec<ConnectorRef> = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        if let Some(id) = station {
            let st = self.station(vis, id)?;
            let mut refs: Vec<ConnectorRef> = st
                .chargers
                .iter()
                .enumerate()
                .flat_map(|(ci, ch)| {
                    (0..ch.connectors.len()).map(move |ki| ConnectorRef {
                        station: st.clone(),
                        charger: ci,
                        connector: ki,
                    })
                })
                .filter(|r| after.is_none_or(|a| &r.connector().connector.id > a))
                .filter(|r| fresh(r))
                .collect();
            refs.sort_by(|a, b| a.connector().connector.id.cmp(&b.connector().connector.id));
            more = refs.len() > limit;
            refs.truncate(limit);
            items = refs;
        } else {
            let start = after.map_or(Bound::Unbounded, Bound::Excluded);
            for r in self
                .connectors
                .range::<ConnectorId, _>((start, Bound::Unbounded))
                .map(|(_, r)| r)
                .filter(|r| vis.sees(&r.station.station) && fresh(r))
            {
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(r.clone());
            }
        }
        let next = if more {
            items.last().map(|r| r.connector().connector.id.clone())
        } else {
            None
        };
        Some(StatusPage { items, next })
    }
}

/// Resets the "a refresh is running" flag however the refresh ends, including when the
/// request that ran it is dropped mid-way.
struct RefreshGuard<'a>(&'a AtomicBool);

impl Drop for RefreshGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// How many staleness bounds old a snapshot may be and still be served while another reader
/// refreshes it.
const STALE_WHILE_REFRESHING: i64 = 10;

/// The in-memory catalog: a current [`Snapshot`], refreshed from the store when it is older
/// than the staleness bound.
pub struct Catalog {
    source: Arc<dyn StationCatalog>,
    clock: Arc<dyn Clock>,
    max_staleness_ms: i64,
    current: RwLock<Arc<Snapshot>>,
    checked_at_ms: AtomicI64,
    /// When [`Catalog::snapshot`] was last called: a refresh ahead of readers is wasted while
    /// there are none.
    read_at_ms: AtomicI64,
    refreshing: AtomicBool,
}

impl Catalog {
    /// Default staleness bound: far below how fast chargers report (seconds) and partners
    /// poll, while 10 000 reads a second cost ten revision checks.
    pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_millis(100);

    pub fn new(
        source: Arc<dyn StationCatalog>,
        clock: Arc<dyn Clock>,
        max_staleness: Duration,
    ) -> Self {
        Self {
            source,
            clock,
            max_staleness_ms: i64::try_from(max_staleness.as_millis()).unwrap_or(i64::MAX),
            current: RwLock::new(Arc::new(Snapshot::default())),
            checked_at_ms: AtomicI64::new(i64::MIN),
            read_at_ms: AtomicI64::new(i64::MIN),
            refreshing: AtomicBool::new(false),
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A snapshot no older than the staleness bound (or the current one while another reader
    /// refreshes it).
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let cur = self.current();
        let now = self.clock.now().timestamp_millis();
        self.read_at_ms.fetch_max(now, Ordering::Relaxed);
        let checked = self.checked_at_ms.load(Ordering::Acquire);
        let age = now.saturating_sub(checked);
        if cur.loaded && age < self.max_staleness_ms {
            return Ok(cur);
        }
        // A little stale (the background refresh is running late): one reader refreshes and
        // the others keep the current snapshot meanwhile. Older than that (nobody refreshed
        // for a while, or a write invalidated it), every reader waits for a fresh one.
        if cur.loaded
            && self.max_staleness_ms > 0
            && age < self.max_staleness_ms.saturating_mul(STALE_WHILE_REFRESHING)
        {
            if self.refreshing.swap(true, Ordering::AcqRel) {
                return Ok(cur);
            }
            let _guard = RefreshGuard(&self.refreshing);
            return self.refresh().await;
        }
        self.refresh().await
    }

    /// Brings the snapshot up to the store's revision now. Call once at start-up so the first
    /// requests do not each load the whole network.
    pub async fn refresh(&self) -> Result<Arc<Snapshot>, StoreError> {
        let started = self.clock.now().timestamp_millis();
        let cur = self.current();
        let since = cur.loaded.then_some(cur.revision);
        let delta = self.source.catalog_changes(since).await?;
        let fresh = if delta.complete || !cur.loaded {
            Arc::new(Snapshot::build(delta))
        } else if delta.revision == cur.revision {
            cur
        } else {
            Arc::new(cur.apply(delta))
        };
        let installed = {
            let mut slot = self.current.write().unwrap_or_else(PoisonError::into_inner);
            // Concurrent refreshes may finish out of order; never go back in time.
            if !slot.loaded || fresh.revision >= slot.revision {
                *slot = fresh;
            }
            slot.clone()
        };
        self.checked_at_ms.fetch_max(started, Ordering::AcqRel);
        Ok(installed)
    }

    /// Whether anyone read a snapshot within `window`: a background refresh only pays off for
    /// readers to come, and with none, a stale snapshot costs nothing until the next read
    /// refreshes it.
    pub fn read_within(&self, window: Duration) -> bool {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now().timestamp_millis();
        now.saturating_sub(self.read_at_ms.load(Ordering::Relaxed)) <= window_ms
    }

    /// Makes the next read check the store (after a write this process knows about).
    pub fn invalidate(&self) {
        self.checked_at_ms.store(i64::MIN, Ordering::Release);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::geo::Datum;
    use crate::ids::{ChargerId, ConnectorNumber};
    use crate::network::{Connector, CurrentType, Registration};
    use crate::status::ConnectorState;
    use chrono::TimeZone;
    use std::str::FromStr;

    pub(crate) fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_767_225_600 + s, 0).unwrap() // 2026-01-01T00:00:00Z
    }

    pub(crate) fn station(id: &str, lat: f64, lng: f64, sandbox: bool) -> CatalogStation {
        let sid = StationId::parse(id).unwrap();
        let cid = ChargerId::parse(format!("{id}-C")).unwrap();
        let charger = Charger {
            id: cid.clone(),
            station_id: sid.clone(),
            vendor: "v".into(),
            model: "m".into(),
            serial: None,
            current_type: CurrentType::Dc,
            max_power_kw: Decimal::from(120),
            firmware: None,
            registration: Registration::Registered,
            retired_at: None,
        };
        let connector = |n: u32, standard, kw: i64, status| ConnectorView {
            connector: Connector {
                id: ConnectorId::parse(format!("{id}-C-{n}")).unwrap(),
                charger_id: cid.clone(),
                number: ConnectorNumber::new(n).unwrap(),
                standard,
                max_power_kw: Decimal::from(kw),
                voltage_v: 750,
                current_a: 200,
                retired_at: None,
            },
            state: ConnectorState {
                status,
                ocpp_status: None,
                changed_at: t(n as i64),
                status_seq: 1,
            },
        };
        CatalogStation {
            station: Station {
                id: sid,
                name: format!("站 {id}"),
                address: "路".into(),
                area_code: AreaCode::parse("310115").unwrap(),
                province: "上海市".into(),
                city: "上海市".into(),
                district: "浦东新区".into(),
                location: Coordinates::new(lat, lng, Datum::Wgs84).unwrap(),
                opening_hours: OpeningHours::AlwaysOpen,
                parking: None,
                service_phone: "400-000-0000".into(),
                photos: vec![],
                status: StationStatus::Operational,
                tariff_id: TariffId::parse("T1").unwrap(),
                sandbox,
                retired_at: None,
            },
            chargers: vec![CatalogCharger {
                charger,
                connectors: vec![
                    connector(1, ConnectorStandard::GbtDc, 120, ConnectorStatus::Available),
                    connector(2, ConnectorStandard::GbtDc, 60, ConnectorStatus::Charging),
                ],
            }],
            updated_at: t(10),
        }
    }

    fn snapshot(stations: Vec<CatalogStation>) -> Snapshot {
        Snapshot::build(CatalogDelta {
            revision: 1,
            complete: true,
            stations,
            removed: vec![],
            tariffs: vec![],
        })
    }

    fn all() -> Visibility {
        Visibility::Production(Arc::new(StationScope::All))
    }

    fn ids(page: &StationPage) -> Vec<&str> {
        page.items
            .iter()
            .map(|h| h.station.station.id.as_str())
            .collect()
    }

    #[test]
    fn pages_walk_the_stations_in_id_order_without_gaps() {
        let snap = snapshot(
            ["S3", "S1", "S2", "S5", "S4"]
                .iter()
                .map(|id| station(id, 31.2, 121.5, false))
                .collect(),
        );
        let f = StationFilter::default();
        let p1 = snap.stations(&all(), &f, t(0), 2, None).unwrap();
        assert_eq!(ids(&p1), ["S1", "S2"]);
        let p2 = snap
            .stations(&all(), &f, t(0), 2, p1.next.as_ref())
            .unwrap();
        assert_eq!(ids(&p2), ["S3", "S4"]);
        let p3 = snap
            .stations(&all(), &f, t(0), 2, p2.next.as_ref())
            .unwrap();
        assert_eq!(ids(&p3), ["S5"]);
        assert!(p3.next.is_none());
    }

    #[test]
    fn visibility_hides_sandbox_and_out_of_scope_stations() {
        let snap = snapshot(vec![
            station("P1", 31.2, 121.5, false),
            station("P2", 31.2, 121.5, false),
            station("SB", 31.2, 121.5, true),
        ]);
        let f = StationFilter::default();
        let sandbox = snap
            .stations(&Visibility::Sandbox, &f, t(0), 10, None)
            .unwrap();
        assert_eq!(ids(&sandbox), ["SB"]);
        let scoped = Visibility::Production(Arc::new(
            StationScope::list([StationId::parse("P2").unwrap()]).unwrap(),
        ));
        assert_eq!(
            ids(&snap.stations(&scoped, &f, t(0), 10, None).unwrap()),
            ["P2"]
        );
        assert!(
            snap.station(&scoped, &StationId::parse("P1").unwrap())
                .is_none()
        );
        assert!(
            snap.station(&all(), &StationId::parse("SB").unwrap())
                .is_none()
        );
        assert!(
            snap.connector(&scoped, &ConnectorId::parse("P1-C-1").unwrap())
                .is_none()
        );
        assert!(
            snap.statuses(
                &scoped,
                Some(&StationId::parse("P1").unwrap()),
                None,
                10,
                None
            )
            .is_none()
        );
    }

    #[test]
    fn near_sorts_by_distance_and_pages_by_distance_cursor() {
        let snap = snapshot(vec![
            station("FAR", 31.30, 121.5, false),
            station("MID", 31.21, 121.5, false),
            station("NEAR", 31.2001, 121.5, false),
            station("OUT", 32.5, 121.5, false),
        ]);
        let center = Coordinates::new(31.2, 121.5, crate::geo::Datum::Wgs84).unwrap();
        let f = StationFilter {
            near: Some(Near::new(center, 20_000).unwrap()),
            ..Default::default()
        };
        let p1 = snap.stations(&all(), &f, t(0), 2, None).unwrap();
        assert_eq!(ids(&p1), ["NEAR", "MID"]);
        assert!(p1.items[0].distance_m.unwrap() < 20.0);
        let p2 = snap
            .stations(&all(), &f, t(0), 2, p1.next.as_ref())
            .unwrap();
        assert_eq!(ids(&p2), ["FAR"]);
        assert!(p2.next.is_none());
        // A cursor of the other order is refused, naming the field.
        let e = snap
            .stations(&all(), &StationFilter::default(), t(0), 2, p1.next.as_ref())
            .unwrap_err();
        assert_eq!(e.field, "cursor");
        assert_eq!(Near::new(center, 0).unwrap_err().field, "radius_m");
    }

    #[test]
    fn connector_filters_must_hold_for_one_connector() {
        let snap = snapshot(vec![station("S1", 31.2, 121.5, false)]);
        let q = |standard, kw: i64, available_now| StationFilter {
            connector_standard: standard,
            min_power_kw: Some(Decimal::from(kw)),
            available_now,
            ..Default::default()
        };
        let hit = |f: StationFilter| {
            !snap
                .stations(&all(), &f, t(0), 10, None)
                .unwrap()
                .items
                .is_empty()
        };
        assert!(hit(q(Some(ConnectorStandard::GbtDc), 100, true)));
        // The 60 kW connector is charging and the available one is 120 kW: ≥ 150 fails.
        assert!(!hit(q(Some(ConnectorStandard::GbtDc), 150, false)));
        assert!(!hit(q(Some(ConnectorStandard::Ccs2), 1, false)));
        assert!(hit(q(None, 50, false)));
        assert!(StationFilter::validate_min_power(Decimal::ZERO).is_err());
        assert!(StationFilter::validate_min_power(Decimal::from_str("7.5").unwrap()).is_ok());
    }

    #[test]
    fn area_codes_match_by_prefix_and_updated_since_by_time() {
        let snap = snapshot(vec![station("S1", 31.2, 121.5, false)]);
        let f = |area: &str, since| StationFilter {
            area_code: Some(AreaCode::parse(area).unwrap()),
            updated_since: since,
            ..Default::default()
        };
        let n = |f: StationFilter| {
            snap.stations(&all(), &f, t(0), 10, None)
                .unwrap()
                .items
                .len()
        };
        assert_eq!(n(f("310000", None)), 1);
        assert_eq!(n(f("310100", None)), 1);
        assert_eq!(n(f("310115", None)), 1);
        assert_eq!(n(f("310104", None)), 0);
        assert_eq!(n(f("320000", None)), 0);
        assert_eq!(n(f("310000", Some(t(10)))), 1);
        assert_eq!(n(f("310000", Some(t(11)))), 0);
    }

    #[test]
    fn opening_hours_wrap_past_midnight_in_shanghai_time() {
        let mut st = station("S1", 31.2, 121.5, false);
        st.station.opening_hours = OpeningHours::parse("22:00-06:00").unwrap();
        // 2026-01-01T15:00Z is 23:00 in Shanghai; 00:00Z is 08:00.
        assert!(st.is_open_at(t(15 * 3600)));
        assert!(!st.is_open_at(t(0)));
        st.station.opening_hours = OpeningHours::parse("07:00-23:00").unwrap();
        assert!(st.is_open_at(t(0)));
        assert!(!st.is_open_at(t(15 * 3600)));
    }

    #[test]
    fn deltas_replace_changed_stations_and_drop_removed_ones() {
        let snap = snapshot(vec![
            station("S1", 31.2, 121.5, false),
            station("S2", 31.2, 121.5, false),
        ]);
        let mut changed = station("S1", 31.2, 121.5, false);
        changed.chargers[0].connectors[0].state.status = ConnectorStatus::Faulted;
        let next = snap.apply(CatalogDelta {
            revision: 2,
            complete: false,
            stations: vec![changed],
            removed: vec![StationId::parse("S2").unwrap()],
            tariffs: vec![],
        });
        assert_eq!(next.revision(), 2);
        assert_eq!(next.station_count(), 1);
        let c = next
            .connector(&all(), &ConnectorId::parse("S1-C-1").unwrap())
            .unwrap();
        assert_eq!(c.connector().state.status, ConnectorStatus::Faulted);
        assert!(
            next.connector(&all(), &ConnectorId::parse("S2-C-1").unwrap())
                .is_none()
        );
        // The old snapshot is untouched.
        assert_eq!(snap.station_count(), 2);
    }

    #[test]
    fn statuses_page_by_connector_id_and_filter_by_change_time() {
        let snap = snapshot(vec![
            station("S1", 31.2, 121.5, false),
            station("S2", 31.2, 121.5, false),
        ]);
        let p = snap.statuses(&all(), None, None, 3, None).unwrap();
        let got: Vec<_> = p
            .items
            .iter()
            .map(|r| r.connector().connector.id.to_string())
            .collect();
        assert_eq!(got, ["S1-C-1", "S1-C-2", "S2-C-1"]);
        let p2 = snap
            .statuses(&all(), None, None, 3, p.next.as_ref())
            .unwrap();
        assert_eq!(p2.items.len(), 1);
        assert!(p2.next.is_none());
        let since = snap.statuses(&all(), None, Some(t(2)), 10, None).unwrap();
        assert_eq!(since.items.len(), 2);
        let one = snap
            .statuses(
                &all(),
                Some(&StationId::parse("S2").unwrap()),
                None,
                1,
                None,
            )
            .unwrap();
        assert_eq!(one.items.len(), 1);
        assert_eq!(one.next.as_ref().map(ConnectorId::as_str), Some("S2-C-1"));
    }

    struct FixedClock(std::sync::Mutex<DateTime<Utc>>);
    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    struct CountingSource {
        calls: std::sync::Mutex<Vec<Option<i64>>>,
    }

    #[async_trait::async_trait]
    impl StationCatalog for CountingSource {
        async fn catalog_changes(&self, since: Option<i64>) -> Result<CatalogDelta, StoreError> {
            self.calls.lock().unwrap().push(since);
            let revision = since.map_or(5, |s| s + 1);
            Ok(CatalogDelta {
                revision,
                complete: since.is_none(),
                stations: vec![station("S1", 31.2, 121.5, false)],
                removed: vec![],
                tariffs: vec![],
            })
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The catalog never awaits anything but the source, which is ready at once here.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn the_catalog_checks_the_store_only_when_its_snapshot_is_stale() {
        let source = Arc::new(CountingSource {
            calls: std::sync::Mutex::new(vec![]),
        });
        let clock = Arc::new(FixedClock(std::sync::Mutex::new(t(0))));
        let catalog = Catalog::new(source.clone(), clock.clone(), Duration::from_millis(100));
        assert_eq!(block_on(catalog.snapshot()).unwrap().revision(), 5);
        assert_eq!(block_on(catalog.snapshot()).unwrap().revision(), 5);
        assert_eq!(*source.calls.lock().unwrap(), vec![None]);
        *clock.0.lock().unwrap() = t(1);
        assert_eq!(block_on(catalog.snapshot()).unwrap().revision(), 6);
        assert_eq!(*source.calls.lock().unwrap(), vec![None, Some(5)]);
        catalog.invalidate();
        assert_eq!(block_on(catalog.snapshot()).unwrap().revision(), 7);
    }

    #[test]
    fn the_catalog_tells_whether_it_was_read_lately() {
        let source = Arc::new(CountingSource {
            calls: std::sync::Mutex::new(vec![]),
        });
        let clock = Arc::new(FixedClock(std::sync::Mutex::new(t(0))));
        let catalog = Catalog::new(source, clock.clone(), Duration::from_millis(100));
        block_on(catalog.refresh()).unwrap();
        assert!(
            !catalog.read_within(Duration::from_secs(10)),
            "a refresh is not a read"
        );
        block_on(catalog.snapshot()).unwrap();
        *clock.0.lock().unwrap() = t(10);
        assert!(catalog.read_within(Duration::from_secs(10)));
        *clock.0.lock().unwrap() = t(11);
        assert!(!catalog.read_within(Duration::from_secs(10)));
    }
}
