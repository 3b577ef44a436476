//! The central system: the registry of live charger connections, the [`ChargerGateway`] through
//! which the rest of OpenPile sends commands to chargers, operator visibility of connections,
//! and the liveness sweeper. Connections themselves run in `connection.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use openpile_core::charging::TransactionStore;
use openpile_core::clock::Clock;
use openpile_core::ids::ChargerId;
use openpile_core::ports::{
    ChargerCommand, ChargerGateway, ChargerStore, CommandReply, GatewayError,
};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::auth::PasswordCheck;
use crate::commands;
use crate::config::Ocpp16Config;
use crate::messages::decode::decode;
use crate::messages::{Action, OcppRequest};

/// The OCPP 1.6J central system. Cheap to clone (one `Arc` inside); hand one clone to
/// [`crate::router`], one to [`CentralSystem::run_liveness_sweeper`], and use it as the
/// application's [`ChargerGateway`].
#[derive(Clone)]
pub struct CentralSystem {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Ocpp16Config,
    pub(crate) chargers: Arc<dyn ChargerStore>,
    pub(crate) transactions: Arc<dyn TransactionStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) passwords: Arc<PasswordCheck>,
    connections: Mutex<HashMap<ChargerId, Arc<Connection>>>,
    next_connection: AtomicU64,
}

/// Why we close a connection (sent in the WebSocket close frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CloseReason {
    /// Not closed by us.
    None = 0,
    /// The charger connected again; the new connection wins.
    Replaced = 1,
    /// Nothing received for longer than the liveness timeout.
    Silent = 2,
    /// The server is shutting down.
    Shutdown = 3,
}

impl CloseReason {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Replaced,
            2 => Self::Silent,
            3 => Self::Shutdown,
            _ => Self::None,
        }
    }
}

/// A CALL another part of OpenPile wants sent to a charger.
pub(crate) struct OutgoingCall {
    pub(crate) action: Action,
    pub(crate) payload: Value,
    /// The CALLRESULT payload, or why there is none.
    pub(crate) reply: oneshot::Sender<Result<Value, GatewayError>>,
}

/// One live WebSocket connection of a charger. Kept small: there may be 20,000 of them.
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) charger_id: ChargerId,
    pub(crate) connected_at: DateTime<Utc>,
    /// Milliseconds since the epoch of the last message received.
    last_message_ms: AtomicI64,
    /// When `last_seen_at` was last written to the store.
    last_seen_written_ms: AtomicI64,
    /// Booted and accepted (now or on an earlier connection: OCPP-J §5.4 lets a charger
    /// reconnect without booting again). RemoteStart/Stop need it (OCPP 1.6 §4.2.1).
    accepted: AtomicBool,
    pub(crate) calls: mpsc::Sender<Box<OutgoingCall>>,
    close: Notify,
    close_reason: AtomicU8,
}

impl Connection {
    pub(crate) fn touch(&self, now: DateTime<Utc>) {
        self.last_message_ms
            .fetch_max(now.timestamp_millis(), Ordering::Relaxed);
    }

    pub(crate) fn last_message_at(&self) -> DateTime<Utc> {
        millis(self.last_message_ms.load(Ordering::Relaxed))
    }

    /// True (once per interval) when `last_seen_at` should be written again.
    pub(crate) fn seen_write_due(&self, now: DateTime<Utc>, interval: std::time::Duration) -> bool {
        let now_ms = now.timestamp_millis();
        let last = self.last_seen_written_ms.load(Ordering::Relaxed);
        let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        if now_ms.saturating_sub(last) < interval_ms {
            return false;
        }
        self.last_seen_written_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    pub(crate) fn is_accepted(&self) -> bool {
        self.accepted.load(Ordering::Relaxed)
    }

    pub(crate) fn set_accepted(&self, accepted: bool) {
        self.accepted.store(accepted, Ordering::Relaxed);
    }

    /// Asks the connection's task to close.
    pub(crate) fn close(&self, reason: CloseReason) {
        let _ = self.close_reason.compare_exchange(
            CloseReason::None as u8,
            reason as u8,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        // notify_one stores a permit if the task is not waiting yet.
        self.close.notify_one();
    }

    pub(crate) async fn closed(&self) -> CloseReason {
        self.close.notified().await;
        self.close_reason()
    }

    pub(crate) fn close_reason(&self) -> CloseReason {
        CloseReason::from_u8(self.close_reason.load(Ordering::Relaxed))
    }
}

fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A charger connected to this process, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedCharger {
    pub charger_id: ChargerId,
    pub connected_at: DateTime<Utc>,
    /// The last message of any kind (any message proves the charger alive, OCPP 1.6 §4.6).
    pub last_message_at: DateTime<Utc>,
    /// Booted and accepted, so remote start/stop may be sent.
    pub accepted: bool,
}

impl CentralSystem {
    pub fn new(
        config: Ocpp16Config,
        chargers: Arc<dyn ChargerStore>,
        transactions: Arc<dyn TransactionStore>,
        clock: Arc<dyn Clock>,
    ) -> CentralSystem {
        let passwords = Arc::new(PasswordCheck::new(config.max_concurrent_password_checks));
        CentralSystem {
            inner: Arc::new(Inner {
                config,
                chargers,
                transactions,
                clock,
                passwords,
                connections: Mutex::new(HashMap::new()),
                next_connection: AtomicU64::new(1),
            }),
        }
    }

    pub fn config(&self) -> &Ocpp16Config {
        &self.inner.config
    }

    fn connections(&self) -> MutexGuard<'_, HashMap<ChargerId, Arc<Connection>>> {
        // The map is only touched by short, non-panicking sections; a poisoned lock still holds
        // a consistent map.
        self.inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn connection(&self, charger: &ChargerId) -> Option<Arc<Connection>> {
        self.connections().get(charger).cloned()
    }

    /// Registers a new connection of `charger`, closing the one it replaces (OCPP-J §5.4: a
    /// reconnecting charger's old socket may linger half-open).
    pub(crate) fn register(
        &self,
        charger: ChargerId,
        accepted: bool,
    ) -> (Arc<Connection>, mpsc::Receiver<Box<OutgoingCall>>) {
        let now = self.inner.clock.now();
        let (calls, rx) = mpsc::channel(self.inner.config.max_queued_calls.max(1));
        let conn = Arc::new(Connection {
            id: self.inner.next_connection.fetch_add(1, Ordering::Relaxed),
            charger_id: charger.clone(),
            connected_at: now,
            last_message_ms: AtomicI64::new(now.timestamp_millis()),
            last_seen_written_ms: AtomicI64::new(0),
            accepted: AtomicBool::new(accepted),
            calls,
            close: Notify::new(),
            close_reason: AtomicU8::new(CloseReason::None as u8),
        });
        let old = self.connections().insert(charger, Arc::clone(&conn));
        if let Some(old) = old {
            tracing::info!(charger = %conn.charger_id, "charger reconnected; closing its old connection");
            old.close(CloseReason::Replaced);
        }
        (conn, rx)
    }

    /// Removes `conn` from the registry unless a newer connection replaced it. True if removed
    /// (the charger is now offline).
    pub(crate) fn unregister(&self, conn: &Connection) -> bool {
        let mut map = self.connections();
        if map.get(&conn.charger_id).is_some_and(|c| c.id == conn.id) {
            map.remove(&conn.charger_id);
            true
        } else {
            false
        }
    }

    /// Whether `charger` holds a connection to this process now.
    pub fn is_connected(&self, charger: &ChargerId) -> bool {
        self.connections().contains_key(charger)
    }

    /// How many chargers are connected.
    pub fn connected_count(&self) -> usize {
        self.connections().len()
    }

    /// The chargers connected to this process, ordered by id.
    pub fn connected_chargers(&self) -> Vec<ConnectedCharger> {
        let mut list: Vec<ConnectedCharger> =
            self.connections().values().map(|c| describe(c)).collect();
        list.sort_by(|a, b| a.charger_id.cmp(&b.charger_id));
        list
    }

    /// One charger's connection, if it has one.
    pub fn connection_info(&self, charger: &ChargerId) -> Option<ConnectedCharger> {
        self.connection(charger).map(|c| describe(&c))
    }

    /// Closes the connection of `charger`, if any (it will reconnect). True if there was one.
    pub fn disconnect(&self, charger: &ChargerId) -> bool {
        match self.connection(charger) {
            Some(conn) => {
                conn.close(CloseReason::Shutdown);
                true
            }
            None => false,
        }
    }

    /// Closes every connection (at shutdown: upgraded WebSockets are not covered by the HTTP
    /// server's graceful shutdown).
    pub fn close_all(&self) {
        for conn in self.connections().values() {
            conn.close(CloseReason::Shutdown);
        }
    }

    /// Closes the connections of chargers silent for longer than the liveness timeout; their
    /// tasks then mark them offline. Returns how many were closed.
    pub fn sweep_silent(&self) -> usize {
        let now = self.inner.clock.now();
        let limit = chrono::Duration::from_std(self.inner.config.liveness_timeout())
            .unwrap_or(chrono::Duration::MAX);
        let silent: Vec<Arc<Connection>> = self
            .connections()
            .values()
            .filter(|c| now - c.last_message_at() > limit)
            .cloned()
            .collect();
        for conn in &silent {
            tracing::info!(charger = %conn.charger_id, last = %conn.last_message_at(),
                "no message within the liveness timeout; closing");
            conn.close(CloseReason::Silent);
        }
        silent.len()
    }

    /// Runs [`CentralSystem::sweep_silent`] every `sweep_interval` until `shutdown` completes.
    pub async fn run_liveness_sweeper(self, shutdown: impl Future<Output = ()> + Send) {
        let mut tick = tokio::time::interval(self.inner.config.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.sweep_silent();
                }
                () = &mut shutdown => break,
            }
        }
    }

    /// Sends any OCPP 1.6 request to a charger and returns its typed response: the door for
    /// commands beyond [`ChargerCommand`] (smart charging, local lists, firmware, …).
    /// RemoteStart/Stop are refused with `NotAccepted` before the charger was accepted.
    pub async fn call<R: OcppRequest>(
        &self,
        charger: &ChargerId,
        request: &R,
    ) -> Result<R::Response, GatewayError> {
        let payload = serde_json::to_value(request).map_err(|e| GatewayError::CallError {
            code: "GenericError".into(),
            description: format!("request not sent: {e}"),
        })?;
        let reply = self.send_call(charger, R::ACTION, payload).await?;
        decode::<R::Response>(&reply).map_err(|e| GatewayError::CallError {
            code: e.code.as_str().into(),
            description: format!("invalid {} response: {}", R::ACTION, e.message),
        })
    }

    /// Queues a CALL on the charger's connection and waits for its result.
    pub(crate) async fn send_call(
        &self,
        charger: &ChargerId,
        action: Action,
        payload: Value,
    ) -> Result<Value, GatewayError> {
        let conn = self.connection(charger).ok_or(GatewayError::Offline)?;
        // OCPP 1.6 §4.2.1 (R-B2): no remote start/stop before the charger is accepted.
        if matches!(
            action,
            Action::RemoteStartTransaction | Action::RemoteStopTransaction
        ) && !conn.is_accepted()
        {
            return Err(GatewayError::NotAccepted);
        }
        let timeout = self.inner.config.call_timeout;
        let (reply, answer) = oneshot::channel();
        let call = Box::new(OutgoingCall {
            action,
            payload,
            reply,
        });
        // The queue is bounded: waiting longer than one call's timeout to get in line counts as
        // the charger not answering in time.
        match tokio::time::timeout(timeout, conn.calls.send(call)).await {
            Err(_) => return Err(GatewayError::Timeout),
            Ok(Err(_)) => return Err(GatewayError::Offline),
            Ok(Ok(())) => {}
        }
        drop(conn);
        // The connection enforces the per-call timeout once the CALL is on the wire; this outer
        // bound only guards against a connection task that can no longer make progress.
        let queued = u32::try_from(self.inner.config.max_queued_calls).unwrap_or(u32::MAX);
        let backstop = timeout.saturating_mul(queued.saturating_add(2));
        match tokio::time::timeout(backstop, answer).await {
            Err(_) => Err(GatewayError::Timeout),
            Ok(Err(_)) => Err(GatewayError::Offline),
            Ok(Ok(result)) => result,
        }
    }
}

fn describe(c: &Connection) -> ConnectedCharger {
    ConnectedCharger {
        charger_id: c.charger_id.clone(),
        connected_at: c.connected_at,
        last_message_at: c.last_message_at(),
        accepted: c.is_accepted(),
    }
}

#[async_trait]
impl ChargerGateway for CentralSystem {
    async fn send(
        &self,
        charger: &ChargerId,
        command: ChargerCommand,
    ) -> Result<CommandReply, GatewayError> {
        let (action, payload) = commands::encode(&command)?;
        let reply = self.send_call(charger, action, payload).await?;
        commands::decode_reply(action, &reply)
    }

    fn is_connected(&self, charger: &ChargerId) -> bool {
        CentralSystem::is_connected(self, charger)
    }
}
