//! The control handle of one simulated charger: what tests and the demo use to look at it
//! (a snapshot of its state, a stream of protocol events) and to act on it the way a person at
//! the charger would (plug a car in, fault a connector, pull the network cable).

use std::time::Duration;

use openpile_core::status::ChargePointStatus;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::config::{RemoteStartPolicy, RemoteStopPolicy};
use crate::error::SimError;

/// Where the charger stands with the central system's BootNotification answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootStatus {
    /// No BootNotification answered yet (since start-up or the last reset).
    NotBooted,
    Accepted,
    Pending,
    Rejected,
}

/// One connector as the simulated charger sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorSnapshot {
    pub number: u32,
    /// The status last decided by the charger (sent, or to be sent once connected).
    pub status: ChargePointStatus,
    /// OCPP errorCode, `NoError` unless faulted.
    pub error_code: String,
    pub plugged: bool,
    /// True while a transaction runs (locally; it may not be known to the server yet).
    pub in_session: bool,
    /// The central system's transaction id of the running session, once StartTransaction
    /// was answered.
    pub transaction_id: Option<i64>,
    pub id_tag: Option<String>,
    /// Energy import register, Wh.
    pub meter_wh: u64,
    /// Power flowing now, W.
    pub power_w: u32,
    pub soc_percent: Option<u8>,
    pub reservation_id: Option<i64>,
}

/// A simulated charger's state, republished after every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSnapshot {
    pub id: String,
    pub connected: bool,
    pub boot: BootStatus,
    /// Heartbeat interval in use (from BootNotification or HeartbeatInterval).
    pub heartbeat_interval: Duration,
    /// Status of connector 0, the charger as a whole.
    pub charger_status: ChargePointStatus,
    pub connectors: Vec<ConnectorSnapshot>,
    /// Transaction messages (Start/MeterValues/Stop) waiting to be delivered.
    pub queued_transaction_messages: usize,
    /// Successful WebSocket connections so far.
    pub connects: u64,
    /// CALLs sent, CALLRESULTs received for them, CALLs received from the central system.
    pub calls_sent: u64,
    pub results_received: u64,
    pub calls_received: u64,
    /// Answers from the central system that broke the OCPP 1.6 schemas (each is also a
    /// [`SimEvent::InvalidReply`]); a conformant central system keeps this at 0.
    pub invalid_replies: u64,
    /// Transactions stopped so far (StopTransaction queued).
    pub transactions_stopped: u64,
    /// Central-system ids of the last (up to 100) transactions whose StopTransaction was
    /// answered, oldest first.
    pub completed_transactions: Vec<i64>,
}

impl SimSnapshot {
    pub fn connector(&self, number: u32) -> Option<&ConnectorSnapshot> {
        self.connectors.iter().find(|c| c.number == number)
    }
}

/// Something that happened on the wire or the link, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimEvent {
    Connected,
    Disconnected,
    /// A connection attempt failed (refused, HTTP 401/404, wrong subprotocol, timeout).
    ConnectFailed(String),
    Booted(BootStatus),
    /// We sent a CALL.
    CallSent {
        action: &'static str,
    },
    /// The central system answered our CALL with a CALLRESULT.
    ResultReceived {
        action: &'static str,
    },
    /// The central system answered our CALL with a CALLERROR.
    ErrorReceived {
        action: &'static str,
        code: String,
    },
    /// The central system answered our CALL with a CALLRESULT that breaks the schema.
    InvalidReply {
        action: &'static str,
        reason: String,
    },
    /// The central system sent us a CALL.
    CallReceived {
        action: String,
    },
    /// We answered a CALL; `status` is the `status` field of our answer, when it has one,
    /// `None` for a CALLERROR, and `Some("(no answer)")` when the policy was to ignore it.
    Replied {
        action: String,
        status: Option<String>,
    },
}

/// Things a handle asks the charger task to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ControlKind {
    Plug(u32),
    Unplug(u32),
    Fault { connector: u32, error_code: String },
    ClearFault(u32),
    SetRemoteStart(RemoteStartPolicy),
    SetRemoteStop(RemoteStopPolicy),
    GoOffline,
    ComeOnline,
    StartLocal { connector: u32, id_tag: String },
    StopLocal(u32),
    Shutdown,
}

pub(crate) struct Control {
    pub(crate) kind: ControlKind,
    pub(crate) done: oneshot::Sender<Result<(), String>>,
}

/// Controls one simulated charger. Cheap to clone; the charger runs until
/// [`SimHandle::shutdown`] or until every handle is dropped.
#[derive(Debug, Clone)]
pub struct SimHandle {
    pub(crate) id: String,
    pub(crate) control: mpsc::Sender<Control>,
    pub(crate) snapshot: watch::Receiver<SimSnapshot>,
    pub(crate) events: broadcast::Sender<SimEvent>,
}

impl SimHandle {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The charger's state now.
    pub fn snapshot(&self) -> SimSnapshot {
        self.snapshot.borrow().clone()
    }

    /// A receiver that sees every later snapshot (for `wait_for` loops of your own).
    pub fn watch(&self) -> watch::Receiver<SimSnapshot> {
        self.snapshot.clone()
    }

    /// Protocol events from now on (a bounded buffer: a slow reader sees `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<SimEvent> {
        self.events.subscribe()
    }

    /// Waits until `pred` holds for the charger's state, for at most `timeout`. `what` names
    /// the condition in the timeout error.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&SimSnapshot) -> bool,
    ) -> Result<SimSnapshot, SimError> {
        let mut rx = self.snapshot.clone();
        match tokio::time::timeout(timeout, rx.wait_for(pred)).await {
            Ok(Ok(s)) => Ok(s.clone()),
            Ok(Err(_)) => Err(SimError::Stopped(self.id.clone())),
            Err(_) => Err(SimError::Timeout(
                timeout,
                format!("{what} on charger {}", self.id),
            )),
        }
    }

    /// A car is plugged into `connector`: a session authorised before starts now, otherwise
    /// the connector goes `Preparing`.
    pub async fn plug(&self, connector: u32) -> Result<(), SimError> {
        self.send(ControlKind::Plug(connector)).await
    }

    /// The car is unplugged: a running session stops with `EVDisconnected`.
    pub async fn unplug(&self, connector: u32) -> Result<(), SimError> {
        self.send(ControlKind::Unplug(connector)).await
    }

    /// The connector reports `Faulted` with this OCPP errorCode (e.g. `GroundFailure`); a
    /// running session stops with reason `Other` and a reservation on it ends.
    pub async fn fault(&self, connector: u32, error_code: &str) -> Result<(), SimError> {
        self.send(ControlKind::Fault {
            connector,
            error_code: error_code.to_owned(),
        })
        .await
    }

    pub async fn clear_fault(&self, connector: u32) -> Result<(), SimError> {
        self.send(ControlKind::ClearFault(connector)).await
    }

    pub async fn set_remote_start_policy(&self, policy: RemoteStartPolicy) -> Result<(), SimError> {
        self.send(ControlKind::SetRemoteStart(policy)).await
    }

    pub async fn set_remote_stop_policy(&self, policy: RemoteStopPolicy) -> Result<(), SimError> {
        self.send(ControlKind::SetRemoteStop(policy)).await
    }

    /// Drops the WebSocket and stays off the network; sessions go on and their messages are
    /// queued.
    pub async fn go_offline(&self) -> Result<(), SimError> {
        self.send(ControlKind::GoOffline).await
    }

    /// Reconnects (without BootNotification, as OCPP-J §5.4 asks) and delivers what was
    /// queued, in order, then the current statuses.
    pub async fn come_online(&self) -> Result<(), SimError> {
        self.send(ControlKind::ComeOnline).await
    }

    /// A driver badges `id_tag` at the charger with a car plugged into `connector`:
    /// Authorize when online (starting anyway when offline), then StartTransaction.
    pub async fn start_local(&self, connector: u32, id_tag: &str) -> Result<(), SimError> {
        self.send(ControlKind::StartLocal {
            connector,
            id_tag: id_tag.to_owned(),
        })
        .await
    }

    /// The driver stops the session at the charger (reason `Local`).
    pub async fn stop_local(&self, connector: u32) -> Result<(), SimError> {
        self.send(ControlKind::StopLocal(connector)).await
    }

    /// Closes the connection and ends the charger's task; waits until it has ended.
    pub async fn shutdown(&self) -> Result<(), SimError> {
        match self.send(ControlKind::Shutdown).await {
            Ok(()) | Err(SimError::Stopped(_)) => {}
            Err(e) => return Err(e),
        }
        let mut rx = self.snapshot.clone();
        // The task drops its sender when it ends; `changed` then fails.
        while rx.changed().await.is_ok() {}
        Ok(())
    }

    async fn send(&self, kind: ControlKind) -> Result<(), SimError> {
        let (done, result) = oneshot::channel();
        self.control
            .send(Control { kind, done })
            .await
            .map_err(|_| SimError::Stopped(self.id.clone()))?;
        match result.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(SimError::Refused {
                charger: self.id.clone(),
                reason,
            }),
            Err(_) => Err(SimError::Stopped(self.id.clone())),
        }
    }
}
