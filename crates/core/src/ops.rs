//! Operator views: the read-only questions the operator console asks across every partner and
//! station at once (operator-wide session listing, the dashboard's aggregates, delivery health
//! of every partner's webhooks), which no use-case port answers because partners only ever see
//! their own slice. Nothing here changes state; the console changes state only through the
//! services (sessions, settlement, partners) so that their rules and audit apply.
//!
//! Also [`RateLimitHits`]: a small in-process counter the Open API's rate limiter increments
//! and the console reads. It lives in core so that neither face depends on the other; the
//! server creates one and hands it to both.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::charging::TransactionId;
use crate::energy::{Watts, Wh};
use crate::error::StoreError;
use crate::ids::{ChargerId, ConnectorId, PartnerId, SessionId, StationId};
use crate::money::Money;
use crate::page::{Page, PageRequest};
use crate::partner::credential::Environment;
use crate::session::SessionState;
use crate::sessions::model::{SessionCost, SessionOrigin};

/// Which sessions to list: every partner's and the operator's own, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFilter {
    pub state: Option<SessionState>,
    pub partner_id: Option<PartnerId>,
    pub station_id: Option<StationId>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Ordered by id, newest first; `after` is the last id seen (the next page has smaller
    /// ids).
    pub page: PageRequest,
}

/// A session as the operator sees it in lists and on its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub id: SessionId,
    pub origin: SessionOrigin,
    pub partner_id: Option<PartnerId>,
    /// The partner's company name, for display.
    pub partner_name: Option<String>,
    pub partner_order_id: Option<String>,
    pub station_id: StationId,
    pub charger_id: ChargerId,
    pub connector_id: ConnectorId,
    pub state: SessionState,
    /// The failure code (`charger_rejected`, …) and what more we know, for failed sessions.
    pub failure_reason: Option<String>,
    pub failure_detail: Option<String>,
    pub transaction_id: Option<TransactionId>,
    pub created_at: DateTime<Utc>,
    /// When the charger accepted RemoteStartTransaction.
    pub accepted_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    /// When RemoteStopTransaction was asked for (by the partner or a limit).
    pub stop_requested_at: Option<DateTime<Utc>>,
    pub stop_requested_by: Option<String>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stop_reason: Option<String>,
    pub energy: Wh,
    pub power: Option<Watts>,
    pub soc_percent: Option<Decimal>,
    pub cost: Option<SessionCost>,
    /// Why an operator should look at it, when one should.
    pub review_reason: Option<String>,
}

/// One thing that happened to a session, as the outbox recorded it (`session.started`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    pub at: DateTime<Utc>,
    pub event_type: String,
    /// The payload JSON as stored.
    pub data: String,
}

/// Sessions not completed or failed at one station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationActivity {
    pub station_id: StationId,
    pub active: u64,
}

/// What the CDRs booked in a time range add up to (credit CDRs count negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookedTotals {
    pub cdrs: u64,
    pub energy: Wh,
    pub revenue: Money,
}

/// One webhook endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    pub environment: Environment,
    pub url: String,
    pub enabled: bool,
    /// Set when deliveries were stopped for failing too long.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Since when every attempt failed (cleared by a success).
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The latest attempt answered with a 2xx.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Deliveries waiting for an attempt.
    pub pending: u64,
    /// Pending deliveries that failed at least once in their current round.
    pub failing: u64,
    /// Deliveries given up on (dead-lettered).
    pub dead: u64,
}

/// A partner's webhook endpoints (none when it has not set one up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerDeliveryHealth {
    pub partner_id: PartnerId,
    pub partner_name: String,
    pub endpoints: Vec<EndpointHealth>,
}

/// The operator views port. Reads only.
#[async_trait]
pub trait OperatorViews: Send + Sync {
    /// Sessions of every origin, newest first.
    async fn sessions(&self, filter: &SessionFilter) -> Result<Page<SessionSummary>, StoreError>;

    async fn session(&self, id: &SessionId) -> Result<SessionSummary, StoreError>;

    /// The session's events, oldest first.
    async fn session_events(&self, id: &SessionId) -> Result<Vec<SessionEvent>, StoreError>;

    /// Stations with at least one session that is not over, by station id.
    async fn active_sessions_by_station(&self) -> Result<Vec<StationActivity>, StoreError>;

    /// The CDRs booked in `[from, to)`.
    async fn booked_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BookedTotals, StoreError>;

    /// Every partner's webhook health (one partner's, when given), partners by name.
    async fn delivery_health(
        &self,
        partner: Option<&PartnerId>,
    ) -> Result<Vec<PartnerDeliveryHealth>, StoreError>;
}

/// How often one partner was refused for exceeding its rate limit, since this process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HitCount {
    pub total: u64,
    pub last_at: DateTime<Utc>,
}

/// Rate-limit refusals per partner and environment, in this process's memory (the limiter is
/// per process too). Cheap to share: wrap in an `Arc`.
#[derive(Debug, Default)]
pub struct RateLimitHits {
    counts: Mutex<HashMap<(PartnerId, Environment), HitCount>>,
}

impl RateLimitHits {
    /// Counts one refusal.
    pub fn record(&self, partner: &PartnerId, environment: Environment, at: DateTime<Utc>) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .entry((partner.clone(), environment))
            .and_modify(|c| {
                c.total += 1;
                c.last_at = c.last_at.max(at);
            })
            .or_insert(HitCount {
                total: 1,
                last_at: at,
            });
    }

    /// One partner's refusals, by environment (sandbox first).
    pub fn of(&self, partner: &PartnerId) -> Vec<(Environment, HitCount)> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        [Environment::Sandbox, Environment::Production]
            .into_iter()
            .filter_map(|e| counts.get(&(partner.clone(), e)).map(|c| (e, *c)))
            .collect()
    }

    /// One partner's refusals in all environments together.
    pub fn total_of(&self, partner: &PartnerId) -> u64 {
        self.of(partner).iter().map(|(_, c)| c.total).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn hits_are_counted_per_partner_and_environment() {
        let hits = RateLimitHits::default();
        let a = PartnerId::parse("p-a").unwrap();
        let b = PartnerId::parse("p-b").unwrap();
        let t0 = Utc::now();
        hits.record(&a, Environment::Production, t0);
        hits.record(&a, Environment::Production, t0 + TimeDelta::seconds(5));
        hits.record(&a, Environment::Sandbox, t0);
        assert_eq!(
            hits.of(&a),
            vec![
                (
                    Environment::Sandbox,
                    HitCount {
                        total: 1,
                        last_at: t0
                    }
                ),
                (
                    Environment::Production,
                    HitCount {
                        total: 2,
                        last_at: t0 + TimeDelta::seconds(5)
                    }
                ),
            ]
        );
        assert_eq!(hits.total_of(&a), 3);
        assert_eq!(hits.total_of(&b), 0);
    }
}
