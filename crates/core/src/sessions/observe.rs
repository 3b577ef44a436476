//! How what chargers report reaches the sessions service: decorators of the charger-facing
//! store ports ([`TransactionStore`], [`ChargerStore`]) that forward every call to the store
//! and then let the service react. The OCPP face keeps talking to store ports only, knows
//! nothing of sessions, and answers the charger whatever the reaction does: a reaction that
//! fails is reported and left to the service's sweep and reconciliation, never turned into an
//! error for the charger (its message was recorded, and a refused transaction message would be
//! retried and then dropped by the charger).
//!
//! The service is attached after construction ([`SessionHooks::attach`]), because it needs the
//! charger gateway, which needs these stores.

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::charging::{
    ChargingTransaction, IdTagBinding, LocalIdTag, MeterRecorded, MeterReport, MeterSample,
    ParkedMessage, StartRecorded, StopRecorded, TagVerdict, TransactionId, TransactionStart,
    TransactionStop, TransactionStore,
};
use crate::error::StoreError;
use crate::ids::{ChargerId, SessionId};
use crate::ports::{
    BootInfo, ChargerCredentials, ChargerStore, ConnectorStatusChanged, ReportedStatus,
};
use crate::sessions::service::{SessionError, SessionService};

/// The late-bound link from the observers to the service.
#[derive(Default)]
pub struct SessionHooks {
    service: OnceLock<Weak<SessionService>>,
}

impl SessionHooks {
    pub fn new() -> Arc<SessionHooks> {
        Arc::new(SessionHooks::default())
    }

    /// Connects the service; later calls are ignored.
    pub fn attach(&self, service: &Arc<SessionService>) {
        let _ = self.service.set(Arc::downgrade(service));
    }

    fn service(&self) -> Option<Arc<SessionService>> {
        self.service.get().and_then(Weak::upgrade)
    }
}

fn report(service: &SessionService, what: &str, result: Result<(), SessionError>) {
    if let Err(e) = result {
        service.warn(format!("sessions: reacting to {what} failed: {e}"));
    }
}

/// [`TransactionStore`] that tells the sessions service about starts, meter values and stops.
pub struct ObservedTransactions {
    inner: Arc<dyn TransactionStore>,
    hooks: Arc<SessionHooks>,
}

impl ObservedTransactions {
    pub fn new(inner: Arc<dyn TransactionStore>, hooks: Arc<SessionHooks>) -> Self {
        Self { inner, hooks }
    }
}

#[async_trait]
impl TransactionStore for ObservedTransactions {
    async fn authorize_tag(
        &self,
        charger: &ChargerId,
        id_tag: &str,
        at: DateTime<Utc>,
    ) -> Result<TagVerdict, StoreError> {
        self.inner.authorize_tag(charger, id_tag, at).await
    }

    async fn start_transaction(
        &self,
        start: &TransactionStart,
    ) -> Result<StartRecorded, StoreError> {
        let recorded = self.inner.start_transaction(start).await?;
        if let Some(service) = self.hooks.service() {
            let result = service.on_transaction_started(start, &recorded).await;
            report(&service, "StartTransaction", result);
        }
        Ok(recorded)
    }

    async fn record_meter_values(
        &self,
        report_: &MeterReport,
    ) -> Result<MeterRecorded, StoreError> {
        let recorded = self.inner.record_meter_values(report_).await?;
        if let Some(service) = self.hooks.service() {
            let result = service.on_meter_values(report_, &recorded).await;
            report(&service, "MeterValues", result);
        }
        Ok(recorded)
    }

    async fn stop_transaction(&self, stop: &TransactionStop) -> Result<StopRecorded, StoreError> {
        let recorded = self.inner.stop_transaction(stop).await?;
        if let Some(service) = self.hooks.service() {
            let result = service.on_transaction_stopped(&recorded).await;
            report(&service, "StopTransaction", result);
        }
        Ok(recorded)
    }

    async fn park_message(&self, message: &ParkedMessage) -> Result<(), StoreError> {
        self.inner.park_message(message).await
    }

    async fn bind_id_tag(
        &self,
        binding: &IdTagBinding,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.bind_id_tag(binding, at).await
    }

    async fn unbind_id_tag(&self, session: &SessionId) -> Result<(), StoreError> {
        self.inner.unbind_id_tag(session).await
    }

    async fn put_local_id_tag(&self, tag: &LocalIdTag) -> Result<(), StoreError> {
        self.inner.put_local_id_tag(tag).await
    }

    async fn get_transaction(&self, id: TransactionId) -> Result<ChargingTransaction, StoreError> {
        self.inner.get_transaction(id).await
    }

    async fn transaction_of_session(
        &self,
        session: &SessionId,
    ) -> Result<Option<ChargingTransaction>, StoreError> {
        self.inner.transaction_of_session(session).await
    }

    async fn transaction_samples(&self, id: TransactionId) -> Result<Vec<MeterSample>, StoreError> {
        self.inner.transaction_samples(id).await
    }

    async fn open_transactions(
        &self,
        charger: &ChargerId,
    ) -> Result<Vec<ChargingTransaction>, StoreError> {
        self.inner.open_transactions(charger).await
    }

    async fn list_parked(&self, limit: u32) -> Result<Vec<ParkedMessage>, StoreError> {
        self.inner.list_parked(limit).await
    }
}

/// [`ChargerStore`] that tells the sessions service about connector status changes (faults,
/// chargers gone and back, reservations the charger dropped).
pub struct ObservedChargers {
    inner: Arc<dyn ChargerStore>,
    hooks: Arc<SessionHooks>,
}

impl ObservedChargers {
    pub fn new(inner: Arc<dyn ChargerStore>, hooks: Arc<SessionHooks>) -> Self {
        Self { inner, hooks }
    }

    async fn observe(&self, changes: &[ConnectorStatusChanged]) {
        if changes.is_empty() {
            return;
        }
        if let Some(service) = self.hooks.service() {
            let result = service.on_status_changes(changes).await;
            report(&service, "a status change", result);
        }
    }
}

#[async_trait]
impl ChargerStore for ObservedChargers {
    async fn charger_credentials(&self, id: &ChargerId) -> Result<ChargerCredentials, StoreError> {
        self.inner.charger_credentials(id).await
    }

    async fn record_boot(
        &self,
        id: &ChargerId,
        boot: &BootInfo,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.record_boot(id, boot, at).await
    }

    async fn record_seen(&self, id: &ChargerId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.record_seen(id, at).await
    }

    async fn record_status(
        &self,
        id: &ChargerId,
        status: &ReportedStatus,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError> {
        let changes = self.inner.record_status(id, status).await?;
        self.observe(&changes).await;
        Ok(changes)
    }

    async fn mark_offline(
        &self,
        id: &ChargerId,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError> {
        let changes = self.inner.mark_offline(id, at).await?;
        self.observe(&changes).await;
        Ok(changes)
    }

    async fn mark_all_offline(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConnectorStatusChanged>, StoreError> {
        let changes = self.inner.mark_all_offline(at).await?;
        self.observe(&changes).await;
        Ok(changes)
    }
}
