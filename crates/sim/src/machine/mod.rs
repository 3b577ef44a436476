//! The simulated charger's brain, without I/O: it takes events (a frame arrived, the link came
//! up or went down, a timer fired, a control command) and decides what to send and which
//! status each connector is in. The task in `charger.rs` feeds it and writes what it produces,
//! so every rule here is testable with plain function calls.
//!
//! Rules followed (OCPP 1.6 edition 2 unless noted; R-… are the rules of the protocol
//! reference): one outstanding CALL at a time (OCPP-J §4.1.1); nothing but BootNotification
//! before Boot is Accepted (§4.2); transaction messages queued while offline and delivered in
//! order (§3.7); no BootNotification on a plain reconnect (OCPP-J §5.4); statuses follow the
//! §4.9 connector state diagram.
//!
//! Layout: `outgoing` (what we send), `model` (connectors and configuration keys),
//! `operations` (the central system's CALLs), this file (link, queue, replies, sessions,
//! timers, controls).

mod model;
mod operations;
mod outgoing;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::Utc;
use openpile_core::network::CurrentType;
use openpile_ocpp16::messages::Payload;
use openpile_ocpp16::messages::core_profile::{
    AuthorizeResponse, BootNotificationResponse, RegistrationStatus, StartTransactionResponse,
};
use openpile_ocpp16::messages::decode::decode;
use openpile_ocpp16::messages::frame::{ErrorCode, Frame, FrameError, MessageId, call_error_text};
use openpile_ocpp16::messages::types::{
    AuthorizationStatus, ChargePointErrorCode, ChargePointStatus, IdToken, ReadingContext, Reason,
};
use serde_json::Value;
use tokio::time::Instant;

use self::model::{ConfigKey, Connector, PendingStart, Session};
use self::outgoing::{Identity, Outgoing, Sample, call_text};
use crate::config::{Behaviour, RemoteStartPolicy, SimConnector, kw_to_w};
use crate::handle::{BootStatus, ConnectorSnapshot, ControlKind, SimEvent, SimSnapshot};

#[derive(Debug, Clone)]
struct Queued {
    msg: Outgoing,
    attempts: u32,
}

#[derive(Debug)]
struct InFlight {
    id: MessageId,
    queued: Queued,
    deadline: Instant,
}

/// What happens to the link after the current step, decided by the machine and carried out
/// by the I/O task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkRequest {
    None,
    /// Close the socket; reconnect at the given time (`None` = the usual backoff, or never
    /// while the charger is told to stay offline).
    Drop(Option<Instant>),
}

pub(crate) struct Machine {
    id: String,
    password: Option<String>,
    b: Behaviour,
    conns: Vec<Connector>,
    charger_reported: ChargePointStatus,
    charger_operative: bool,
    charger_scheduled: Option<bool>,
    config: Vec<ConfigKey>,
    boot: BootStatus,
    boot_retry_at: Option<Instant>,
    need_boot: bool,
    connected: bool,
    queue: VecDeque<Queued>,
    in_flight: Option<InFlight>,
    hold_until: Option<Instant>,
    msg_seq: u64,
    heartbeat: Duration,
    next_heartbeat: Option<Instant>,
    tx_ids: HashMap<u64, i64>,
    local_seq: u64,
    online_wanted: bool,
    reconnect_at: Instant,
    backoff: Duration,
    link_request: LinkRequest,
    reset: Option<Reason>,
    shutdown: bool,
    remote_start: RemoteStartPolicy,
    connects: u64,
    calls_sent: u64,
    results_received: u64,
    calls_received: u64,
    invalid_replies: u64,
    stopped: u64,
    /// Central-system ids of transactions whose StopTransaction was answered, newest last.
    completed: Vec<i64>,
    events: Vec<SimEvent>,
}

impl Machine {
    pub(crate) fn new(
        id: String,
        password: Option<String>,
        connectors: Vec<SimConnector>,
        b: Behaviour,
        first_connect: Instant,
    ) -> Self {
        let conns: Vec<Connector> = connectors
            .into_iter()
            .map(|spec| Connector::new(spec, b.initial_meter_wh))
            .collect();
        Self {
            id,
            password,
            remote_start: b.remote_start,
            heartbeat: b.heartbeat_override.unwrap_or(Duration::from_secs(300)),
            backoff: b.reconnect_delay,
            config: model::initial_config(&b, conns.len()),
            b,
            conns,
            charger_reported: ChargePointStatus::Available,
            charger_operative: true,
            charger_scheduled: None,
            boot: BootStatus::NotBooted,
            boot_retry_at: None,
            need_boot: true,
            connected: false,
            queue: VecDeque::new(),
            in_flight: None,
            hold_until: None,
            msg_seq: 0,
            next_heartbeat: None,
            tx_ids: HashMap::new(),
            local_seq: 0,
            online_wanted: true,
            reconnect_at: first_connect,
            link_request: LinkRequest::None,
            reset: None,
            shutdown: false,
            connects: 0,
            calls_sent: 0,
            results_received: 0,
            calls_received: 0,
            invalid_replies: 0,
            stopped: 0,
            completed: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub(crate) fn max_message_bytes(&self) -> usize {
        self.b.max_message_bytes
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown
    }

    pub(crate) fn take_events(&mut self) -> Vec<SimEvent> {
        std::mem::take(&mut self.events)
    }

    pub(crate) fn take_link_request(&mut self) -> LinkRequest {
        std::mem::replace(&mut self.link_request, LinkRequest::None)
    }

    /// Whether the task should open a connection now.
    pub(crate) fn wants_connect(&self, now: Instant) -> bool {
        self.online_wanted && !self.shutdown && !self.connected && now >= self.reconnect_at
    }

    // ---- link ----------------------------------------------------------------------------

    pub(crate) fn on_connected(&mut self, now: Instant) {
        self.connected = true;
        self.connects += 1;
        self.backoff = self.b.reconnect_delay;
        self.hold_until = None;
        self.events.push(SimEvent::Connected);
        if self.need_boot || self.b.boot_on_reconnect || self.boot != BootStatus::Accepted {
            self.boot = BootStatus::NotBooted;
            self.queue.push_front(Queued {
                msg: Outgoing::Boot,
                attempts: 0,
            });
        } else {
            // A plain reconnect: queued transaction messages first, then the current state.
            self.queue_all_statuses();
            self.next_heartbeat = Some(now + self.heartbeat);
        }
    }

    pub(crate) fn on_connect_failed(&mut self, now: Instant, why: String) {
        self.events.push(SimEvent::ConnectFailed(why));
        self.reconnect_at = now + self.backoff;
        self.backoff = (self.backoff * 2).min(self.b.reconnect_max);
    }

    /// The socket is gone (closed by either side, or we dropped it). `reconnect_at` is when
    /// to try again; `None` = the machine's backoff.
    pub(crate) fn on_disconnected(&mut self, now: Instant, reconnect_at: Option<Instant>) {
        if !self.connected {
            return;
        }
        self.connected = false;
        self.events.push(SimEvent::Disconnected);
        if let Some(f) = self.in_flight.take()
            && f.queued.msg.is_transactional()
        {
            // Not acknowledged, so not delivered: send it again first (§3.7).
            self.queue.push_front(f.queued);
        }
        self.queue.retain(|q| q.msg.is_transactional());
        self.next_heartbeat = None;
        self.boot_retry_at = None;
        self.hold_until = None;
        // An Authorize that will never be answered: that start is abandoned.
        for c in &mut self.conns {
            if c.pending.as_ref().is_some_and(|p| !p.authorized) {
                c.pending = None;
                c.release_auto_cable();
            }
        }
        self.reconnect_at = reconnect_at.unwrap_or_else(|| {
            let at = now + self.backoff;
            self.backoff = (self.backoff * 2).min(self.b.reconnect_max);
            at
        });
        if self.reset.is_some() {
            self.perform_reset(now);
        }
        self.refresh_all();
    }

    // ---- sending -------------------------------------------------------------------------

    /// The next CALL to write, if one may be sent now.
    pub(crate) fn poll_send(&mut self, now: Instant) -> Option<String> {
        if !self.connected || self.in_flight.is_some() || self.hold_until.is_some_and(|t| now < t) {
            return None;
        }
        loop {
            let front = self.queue.front()?;
            if self.boot != BootStatus::Accepted && !matches!(front.msg, Outgoing::Boot) {
                return None;
            }
            let queued = self.queue.pop_front()?;
            self.msg_seq += 1;
            // Counters are unique per connection, as OCPP-J §4.1.1 asks, and short.
            let id =
                MessageId::new(self.msg_seq.to_string()).unwrap_or_else(|_| MessageId::random());
            let serial = self.b.serial.clone().unwrap_or_else(|| self.id.clone());
            let identity = Identity {
                vendor: &self.b.vendor,
                model: &self.b.model,
                serial: &serial,
                firmware: &self.b.firmware,
            };
            let Some(text) = call_text(id.clone(), &queued.msg, &identity, |local| {
                self.tx_ids.get(&local).copied()
            }) else {
                tracing::warn!(
                    charger = %self.id,
                    action = queued.msg.action(),
                    "dropping a transaction message whose StartTransaction was never accepted"
                );
                continue;
            };
            let action = queued.msg.action();
            self.in_flight = Some(InFlight {
                id,
                queued,
                deadline: now + self.b.call_timeout,
            });
            self.calls_sent += 1;
            self.events.push(SimEvent::CallSent { action });
            return Some(text);
        }
    }

    fn enqueue(&mut self, msg: Outgoing) {
        // Only transaction messages outlive the connection; the rest is re-sent fresh.
        if self.connected || msg.is_transactional() {
            self.queue.push_back(Queued { msg, attempts: 0 });
        }
    }

    // ---- receiving -----------------------------------------------------------------------

    /// Handles one text frame; returns our answer when it was a CALL.
    pub(crate) fn on_text(&mut self, now: Instant, text: &str) -> Option<String> {
        match Frame::parse(text) {
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => self.on_call(now, &id, action, &payload),
            Ok(Frame::CallResult { id, payload }) => {
                self.on_result(now, &id, &payload);
                None
            }
            Ok(Frame::CallError {
                id,
                code,
                description,
                ..
            }) => {
                self.on_error(now, &id, code.as_str(), &description);
                None
            }
            Err(FrameError::Rejected {
                id,
                code,
                description,
            }) => {
                self.calls_received += 1;
                self.events.push(SimEvent::Replied {
                    action: "(unreadable)".into(),
                    status: None,
                });
                Some(call_error_text(&id, code, &description))
            }
            Err(FrameError::BadReply { id, description }) => {
                // A reply we cannot read counts as a failed call.
                if let Ok(id) = MessageId::new(id) {
                    self.on_invalid_reply(now, &id, &description);
                }
                None
            }
            Err(e) => {
                tracing::warn!(charger = %self.id, error = %e, "frame ignored");
                None
            }
        }
    }

    fn take_in_flight(&mut self, id: &MessageId) -> Option<Queued> {
        if self.in_flight.as_ref().is_some_and(|f| &f.id == id) {
            self.in_flight.take().map(|f| f.queued)
        } else {
            // A late answer to a call that timed out, or a stray id: ignored (OCPP-J §4.1.3).
            tracing::debug!(charger = %self.id, %id, "answer to no outstanding call");
            None
        }
    }

    fn on_result(&mut self, now: Instant, id: &MessageId, p: &Value) {
        let Some(q) = self.take_in_flight(id) else {
            return;
        };
        // Every answer is checked against its schema: a central system that answers wrongly
        // is reported, which makes the simulator a conformance probe too.
        fn read<T: Payload>(p: &Value) -> Result<T, String> {
            decode::<T>(p).map_err(|e| e.to_string())
        }
        let action = q.msg.action();
        let outcome = match &q.msg {
            Outgoing::Boot => {
                read::<BootNotificationResponse>(p).map(|r| self.on_boot_result(now, &r))
            }
            Outgoing::Authorize { connector, id_tag } => read::<AuthorizeResponse>(p).map(|r| {
                let accepted = r.id_tag_info.status == AuthorizationStatus::Accepted;
                self.on_authorized(now, *connector, &id_tag.clone(), accepted);
            }),
            Outgoing::Start { local, .. } => read::<StartTransactionResponse>(p).map(|r| {
                self.tx_ids.insert(*local, r.transaction_id);
                if r.id_tag_info.status != AuthorizationStatus::Accepted {
                    // StopTransactionOnInvalidId = true: end it with DeAuthorized (R-T1,
                    // OCTT TC_037_3).
                    if let Some(idx) = self.conn_with_session(*local) {
                        self.stop_session(now, idx, Reason::DeAuthorized);
                    }
                }
            }),
            Outgoing::Stop { local, .. } => {
                if let Some(id) = self.tx_ids.remove(local) {
                    if self.completed.len() >= 100 {
                        self.completed.remove(0);
                    }
                    self.completed.push(id);
                }
                Ok(())
            }
            _ => Ok(()),
        };
        match outcome {
            Ok(()) => {
                self.results_received += 1;
                self.events.push(SimEvent::ResultReceived { action });
            }
            Err(reason) => {
                self.in_flight = Some(InFlight {
                    id: id.clone(),
                    queued: q,
                    deadline: now,
                });
                self.on_invalid_reply(now, id, &reason);
            }
        }
    }

    fn on_invalid_reply(&mut self, now: Instant, id: &MessageId, reason: &str) {
        if self.in_flight.as_ref().is_none_or(|f| &f.id != id) {
            return;
        }
        self.invalid_replies += 1;
        let action = self
            .in_flight
            .as_ref()
            .map_or("(unknown)", |f| f.queued.msg.action());
        tracing::warn!(charger = %self.id, action, reason, "central system answered against the schema");
        self.events.push(SimEvent::InvalidReply {
            action,
            reason: reason.to_owned(),
        });
        self.on_error(now, id, "(invalid reply)", reason);
    }

    fn on_error(&mut self, now: Instant, id: &MessageId, code: &str, description: &str) {
        let Some(mut q) = self.take_in_flight(id) else {
            return;
        };
        let action = q.msg.action();
        tracing::warn!(charger = %self.id, action, code, description, "CALLERROR from central system");
        self.events.push(SimEvent::ErrorReceived {
            action,
            code: code.to_owned(),
        });
        match &q.msg {
            Outgoing::Boot => {
                self.boot_retry_at = Some(now + self.b.reconnect_delay.max(Duration::from_secs(1)));
            }
            Outgoing::Authorize { connector, id_tag } => {
                let (connector, id_tag) = (*connector, id_tag.clone());
                self.on_authorized(now, connector, &id_tag, false);
            }
            msg if msg.is_transactional() => {
                // TransactionMessageAttempts / RetryInterval (§3.7.1): retry, then discard.
                q.attempts += 1;
                if q.attempts < self.b.transaction_message_attempts {
                    self.hold_until = Some(now + self.b.transaction_message_retry * q.attempts);
                    self.queue.push_front(q);
                } else if let Outgoing::Start { local, .. } = q.msg {
                    tracing::warn!(charger = %self.id, "StartTransaction discarded after retries");
                    self.tx_ids.remove(&local);
                }
            }
            _ => {}
        }
    }

    fn on_boot_result(&mut self, now: Instant, r: &BootNotificationResponse) {
        let interval = u64::try_from(r.interval)
            .ok()
            .filter(|i| *i > 0)
            .map(Duration::from_secs);
        let status = match r.status {
            RegistrationStatus::Accepted => BootStatus::Accepted,
            RegistrationStatus::Pending => BootStatus::Pending,
            RegistrationStatus::Rejected => BootStatus::Rejected,
        };
        self.boot = status;
        self.events.push(SimEvent::Booted(status));
        if status == BootStatus::Accepted {
            self.need_boot = false;
            if let Some(i) = interval {
                self.set_heartbeat(now, i);
            }
            self.next_heartbeat = Some(now + self.heartbeat);
            self.queue_all_statuses();
        } else {
            // R-B1: `interval` is the minimum wait before the next BootNotification.
            self.boot_retry_at = Some(now + interval.unwrap_or(Duration::from_secs(10)));
        }
    }

    fn set_heartbeat(&mut self, now: Instant, interval: Duration) {
        let interval = self.b.heartbeat_override.unwrap_or(interval);
        self.heartbeat = interval;
        self.set_config_value("HeartbeatInterval", interval.as_secs().to_string());
        if self.next_heartbeat.is_some() {
            self.next_heartbeat = Some(now + interval);
        }
    }

    fn set_config_value(&mut self, key: &str, value: String) {
        if let Some(k) = self.config.iter_mut().find(|k| k.key == key) {
            k.value = value;
        }
    }

    // ---- sessions ------------------------------------------------------------------------

    fn conn_index(&self, number: i64) -> Option<usize> {
        let idx = usize::try_from(number).ok()?.checked_sub(1)?;
        (idx < self.conns.len()).then_some(idx)
    }

    fn conn_with_session(&self, local: u64) -> Option<usize> {
        self.conns
            .iter()
            .position(|c| c.session.as_ref().is_some_and(|s| s.local == local))
    }

    /// A connector can begin a session for `id_tag`: working, idle, and not reserved for
    /// someone else.
    fn can_start(&self, idx: usize, id_tag: &str) -> bool {
        let c = &self.conns[idx];
        c.fault.is_none()
            && c.operative
            && c.scheduled_operative.is_none()
            && c.session.is_none()
            && c.pending.is_none()
            && !c.finishing
            && c.reservation.as_ref().is_none_or(|r| r.admits(id_tag))
    }

    fn on_authorized(&mut self, now: Instant, connector: u32, id_tag: &IdToken, accepted: bool) {
        let Some(idx) = self.conn_index(i64::from(connector)) else {
            return;
        };
        let c = &mut self.conns[idx];
        let Some(pending) = c.pending.as_mut().filter(|p| &p.id_tag == id_tag) else {
            return;
        };
        if accepted {
            pending.authorized = true;
            self.advance_pending(now, idx);
        } else {
            c.pending = None;
            c.release_auto_cable();
            self.refresh(idx);
        }
    }

    /// An authorised start: Preparing, and the session begins once a cable is in.
    fn advance_pending(&mut self, now: Instant, idx: usize) {
        let c = &mut self.conns[idx];
        if !c.plugged && self.b.plug_on_remote_start {
            c.plugged = true;
            c.auto_plugged = true;
        }
        // Show Preparing first (A2), as a real charger does while it locks the cable.
        self.refresh(idx);
        if self.conns[idx].plugged {
            self.begin_session(now, idx);
        }
    }

    fn begin_session(&mut self, now: Instant, idx: usize) {
        let Some(pending) = self.conns[idx].pending.take() else {
            return;
        };
        self.local_seq += 1;
        let local = self.local_seq;
        let at = Utc::now();
        let c = &mut self.conns[idx];
        if pending.reservation_id.is_some()
            && c.reservation.as_ref().map(|r| r.id) == pending.reservation_id
        {
            // R-V3: starting with the reservation terminates it.
            c.reservation = None;
        }
        let meter_start = c.meter_wh();
        let number = c.spec.number;
        c.session = Some(Session {
            local,
            id_tag: pending.id_tag.clone(),
            meter_start_wh: meter_start,
            begin: Sample {
                at,
                context: ReadingContext::TransactionBegin,
                energy_wh: meter_start,
                power_w: 0,
                current_deci_a: 0,
                voltage_v: 0,
                soc: None,
            },
            last_integrated: now,
            next_sample: now + self.b.meter_interval,
            full: false,
        });
        self.enqueue(Outgoing::Start {
            local,
            connector: number,
            id_tag: pending.id_tag,
            meter_start,
            at,
            reservation_id: pending.reservation_id,
        });
        self.refresh(idx);
    }

    /// Brings a session's energy register up to `now`.
    fn integrate(&mut self, now: Instant, idx: usize) {
        let power = self.power_w(idx);
        let battery = self.b.ev_battery_wh.max(1);
        let start_soc = u64::from(self.b.ev_start_soc_percent);
        let c = &mut self.conns[idx];
        let Some(s) = c.session.as_mut() else {
            return;
        };
        let elapsed_ms =
            u64::try_from(now.saturating_duration_since(s.last_integrated).as_millis())
                .unwrap_or(u64::MAX);
        s.last_integrated = now;
        // W × ms / 3600 = mWh.
        c.meter_mwh = c
            .meter_mwh
            .saturating_add(u64::from(power).saturating_mul(elapsed_ms) / 3600);
        let delivered_wh = (c.meter_mwh / 1000).saturating_sub(s.meter_start_wh);
        if start_soc + delivered_wh * 100 / battery >= 100 {
            s.full = true;
        }
    }

    fn soc(&self, idx: usize) -> Option<u8> {
        let c = &self.conns[idx];
        let s = c.session.as_ref()?;
        let delivered = c.meter_wh().saturating_sub(s.meter_start_wh);
        let soc =
            u64::from(self.b.ev_start_soc_percent) + delivered * 100 / self.b.ev_battery_wh.max(1);
        Some(u8::try_from(soc.min(100)).unwrap_or(100))
    }

    /// Power flowing on a connector: what the car asks for, capped by the connector.
    fn power_w(&self, idx: usize) -> u32 {
        let c = &self.conns[idx];
        match &c.session {
            Some(s) if !s.full => {
                let wanted = self.b.power_kw.map_or(u32::MAX, kw_to_w);
                wanted.min(c.spec.max_power_w())
            }
            _ => 0,
        }
    }

    fn sample(&self, idx: usize, context: ReadingContext) -> Sample {
        let c = &self.conns[idx];
        let power_w = self.power_w(idx);
        let soc = self.soc(idx);
        let (voltage_v, phases) = match c.spec.current {
            // Above 7.4 kW an AC charger uses three phases.
            CurrentType::Ac => (230, if c.spec.max_power_w() > 7400 { 3 } else { 1 }),
            // A DC battery's voltage rises with its charge.
            CurrentType::Dc => (350 + u32::from(soc.unwrap_or(50)) * 3 / 2, 1),
        };
        Sample {
            at: Utc::now(),
            context,
            energy_wh: c.meter_wh(),
            power_w,
            current_deci_a: power_w * 10 / (voltage_v * phases),
            voltage_v,
            soc,
        }
    }

    fn stop_session(&mut self, now: Instant, idx: usize, reason: Reason) {
        self.integrate(now, idx);
        let end = self.sample(idx, ReadingContext::TransactionEnd);
        let Some(s) = self.conns[idx].session.take() else {
            return;
        };
        self.stopped += 1;
        // StopTransaction first, then Finishing, then (cable out) Available (§4.9 C6→F1).
        self.enqueue(Outgoing::Stop {
            local: s.local,
            meter_stop: end.energy_wh,
            at: end.at,
            id_tag: s.id_tag,
            reason,
            begin: s.begin,
            end,
        });
        let c = &mut self.conns[idx];
        c.finishing = c.plugged;
        if let Some(op) = c.scheduled_operative.take() {
            c.operative = op;
        }
        self.refresh(idx);
        let c = &mut self.conns[idx];
        if c.auto_plugged && self.b.unplug_after_stop {
            c.release_auto_cable();
            c.finishing = false;
            self.refresh(idx);
        }
        if let Some(op) = self.charger_scheduled
            && self.conns.iter().all(|c| c.session.is_none())
        {
            self.charger_scheduled = None;
            self.charger_operative = op;
            self.refresh_charger();
        }
    }

    /// Reboots: off the network for `reboot_delay`, then BootNotification again.
    fn perform_reset(&mut self, now: Instant) {
        self.reset = None;
        self.need_boot = true;
        self.boot = BootStatus::NotBooted;
        self.queue.retain(|q| q.msg.is_transactional());
        for c in &mut self.conns {
            c.reservation = None;
            c.pending = None;
            c.finishing = false;
            c.release_auto_cable();
        }
        let at = now + self.b.reboot_delay;
        if self.connected {
            self.link_request = LinkRequest::Drop(Some(at));
        } else {
            self.reconnect_at = at;
        }
    }

    // ---- controls ------------------------------------------------------------------------

    pub(crate) fn on_control(&mut self, now: Instant, kind: ControlKind) -> Result<(), String> {
        let conn = |m: &Self, n: u32| {
            m.conn_index(i64::from(n))
                .ok_or_else(|| format!("no connector {n}"))
        };
        match kind {
            ControlKind::Plug(n) => {
                let idx = conn(self, n)?;
                let c = &mut self.conns[idx];
                c.plugged = true;
                c.auto_plugged = false;
                if c.pending.as_ref().is_some_and(|p| p.authorized) && c.session.is_none() {
                    self.begin_session(now, idx);
                }
                self.refresh(idx);
            }
            ControlKind::Unplug(n) => {
                let idx = conn(self, n)?;
                let c = &mut self.conns[idx];
                // The cable is out before the session ends, so no Finishing (§4.9 C1).
                c.plugged = false;
                c.auto_plugged = false;
                c.finishing = false;
                if c.session.is_some() {
                    // StopTransactionOnEVSideDisconnect = true.
                    self.stop_session(now, idx, Reason::EvDisconnected);
                }
                self.refresh(idx);
            }
            ControlKind::Fault {
                connector,
                error_code,
            } => {
                let idx = conn(self, connector)?;
                let code = ChargePointErrorCode::parse(&error_code)
                    .filter(|c| *c != ChargePointErrorCode::NoError)
                    .ok_or_else(|| format!("{error_code:?} is not an OCPP 1.6 fault code"))?;
                if self.conns[idx].session.is_some() {
                    self.stop_session(now, idx, Reason::Other);
                }
                let c = &mut self.conns[idx];
                c.pending = None;
                // G8: a fault ends a reservation.
                c.reservation = None;
                c.fault = Some(code);
                self.refresh(idx);
            }
            ControlKind::ClearFault(n) => {
                let idx = conn(self, n)?;
                self.conns[idx].fault = None;
                self.refresh(idx);
            }
            ControlKind::SetRemoteStart(policy) => self.remote_start = policy,
            ControlKind::SetRemoteStop(policy) => self.b.remote_stop = policy,
            ControlKind::GoOffline => {
                self.online_wanted = false;
                if self.connected {
                    self.link_request = LinkRequest::Drop(None);
                }
            }
            ControlKind::ComeOnline => {
                self.online_wanted = true;
                self.reconnect_at = now;
                self.backoff = self.b.reconnect_delay;
            }
            ControlKind::StartLocal { connector, id_tag } => {
                let idx = conn(self, connector)?;
                let id_tag = IdToken::new(id_tag).map_err(|e| format!("id tag: {e}"))?;
                if !self.can_start(idx, id_tag.as_str()) {
                    return Err(format!("connector {connector} cannot start a session now"));
                }
                let reservation_id = self.conns[idx].reservation.as_ref().map(|r| r.id);
                let online = self.connected && self.boot == BootStatus::Accepted;
                let c = &mut self.conns[idx];
                if !c.plugged {
                    c.plugged = true;
                    c.auto_plugged = true;
                }
                c.pending = Some(PendingStart {
                    id_tag: id_tag.clone(),
                    reservation_id,
                    // Offline: LocalAuthorizeOffline / AllowOfflineTxForUnknownId.
                    authorized: !online,
                    deadline: now + self.b.connection_timeout,
                });
                if online {
                    self.enqueue(Outgoing::Authorize { connector, id_tag });
                    self.refresh(idx);
                } else {
                    self.advance_pending(now, idx);
                }
            }
            ControlKind::StopLocal(n) => {
                let idx = conn(self, n)?;
                if self.conns[idx].session.is_none() {
                    return Err(format!("no session on connector {n}"));
                }
                self.stop_session(now, idx, Reason::Local);
            }
            ControlKind::Shutdown => {
                self.shutdown = true;
                if self.connected {
                    self.link_request = LinkRequest::Drop(None);
                }
            }
        }
        Ok(())
    }

    // ---- time ----------------------------------------------------------------------------

    /// Runs whatever is due at `now`; called after every event, so it is also where a reset
    /// notices that its Stop messages have gone out.
    pub(crate) fn on_tick(&mut self, now: Instant) {
        if self.connected && self.in_flight.as_ref().is_some_and(|f| now >= f.deadline) {
            // No answer: the link is presumed broken (a real charger reconnects too).
            tracing::warn!(charger = %self.id, "call timed out; reconnecting");
            self.link_request = LinkRequest::Drop(None);
        }
        if self.connected {
            if self.boot == BootStatus::Accepted
                && !self.heartbeat.is_zero()
                && self.next_heartbeat.is_some_and(|t| now >= t)
            {
                self.next_heartbeat = Some(now + self.heartbeat);
                self.enqueue(Outgoing::Heartbeat);
            }
            if self.boot_retry_at.is_some_and(|t| now >= t) {
                self.boot_retry_at = None;
                self.queue.push_front(Queued {
                    msg: Outgoing::Boot,
                    attempts: 0,
                });
            }
        }
        for idx in 0..self.conns.len() {
            self.tick_connector(now, idx);
        }
        if self.reset.is_some()
            && self.in_flight.is_none()
            && !self.queue.iter().any(|q| q.msg.is_transactional())
        {
            self.perform_reset(now);
        }
    }

    fn tick_connector(&mut self, now: Instant, idx: usize) {
        let c = &mut self.conns[idx];
        if c.reservation.as_ref().is_some_and(|r| now >= r.expires) {
            // R-V4: expiry happens at the charger; only the status tells.
            c.reservation = None;
            self.refresh(idx);
        }
        let c = &mut self.conns[idx];
        if c.pending.as_ref().is_some_and(|p| now >= p.deadline) {
            // R-R2: no cable within ConnectionTimeOut: back to Available, no Start.
            c.pending = None;
            c.release_auto_cable();
            self.refresh(idx);
        }
        if self.conns[idx]
            .session
            .as_ref()
            .is_some_and(|s| now >= s.next_sample)
        {
            self.integrate(now, idx);
            let sample = self.sample(idx, ReadingContext::SamplePeriodic);
            let interval = self.b.meter_interval;
            let c = &mut self.conns[idx];
            if let Some(s) = c.session.as_mut() {
                // MeterValueSampleInterval = 0 turns periodic samples off.
                s.next_sample = now
                    + if interval.is_zero() {
                        Duration::from_secs(60)
                    } else {
                        interval
                    };
                let (local, connector) = (s.local, c.spec.number);
                if !interval.is_zero() {
                    self.enqueue(Outgoing::Meter {
                        connector,
                        local: Some(local),
                        sample,
                    });
                }
            }
            self.refresh(idx);
        }
    }

    /// The earliest time something is due.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let conn_times = self.conns.iter().flat_map(|c| {
            [
                c.reservation.as_ref().map(|r| r.expires),
                c.pending.as_ref().map(|p| p.deadline),
                c.session.as_ref().map(|s| s.next_sample),
            ]
        });
        let link =
            (self.online_wanted && !self.connected && !self.shutdown).then_some(self.reconnect_at);
        let connected = |t: Option<Instant>| t.filter(|_| self.connected);
        [
            link,
            connected(self.in_flight.as_ref().map(|f| f.deadline)),
            connected(self.next_heartbeat),
            connected(self.boot_retry_at),
            connected(self.hold_until),
        ]
        .into_iter()
        .chain(conn_times)
        .flatten()
        .min()
    }

    // ---- statuses ------------------------------------------------------------------------

    /// Re-derives a connector's status and reports it when it changed.
    fn refresh(&mut self, idx: usize) {
        let desired = self.conns[idx].desired();
        if self.conns[idx].reported != desired {
            self.conns[idx].reported = desired;
            let number = self.conns[idx].spec.number;
            self.enqueue_status(number, desired.0, desired.1);
        }
    }

    fn refresh_all(&mut self) {
        for idx in 0..self.conns.len() {
            self.refresh(idx);
        }
    }

    fn refresh_charger(&mut self) {
        let status = if self.charger_operative {
            ChargePointStatus::Available
        } else {
            ChargePointStatus::Unavailable
        };
        if status != self.charger_reported {
            self.charger_reported = status;
            self.enqueue_status(0, status, ChargePointErrorCode::NoError);
        }
    }

    fn enqueue_status(
        &mut self,
        connector: u32,
        status: ChargePointStatus,
        error_code: ChargePointErrorCode,
    ) {
        if self.boot == BootStatus::Accepted {
            self.enqueue(Outgoing::Status {
                connector,
                status,
                error_code,
                at: Utc::now(),
            });
        }
    }

    /// Connector 0 and every connector, as after a boot or a reconnect.
    fn queue_all_statuses(&mut self) {
        self.enqueue_status(0, self.charger_reported, ChargePointErrorCode::NoError);
        for idx in 0..self.conns.len() {
            let desired = self.conns[idx].desired();
            self.conns[idx].reported = desired;
            let number = self.conns[idx].spec.number;
            self.enqueue_status(number, desired.0, desired.1);
        }
    }

    pub(crate) fn snapshot(&self) -> SimSnapshot {
        SimSnapshot {
            id: self.id.clone(),
            connected: self.connected,
            boot: self.boot,
            heartbeat_interval: self.heartbeat,
            charger_status: self.charger_reported.to_domain(),
            connectors: (0..self.conns.len())
                .map(|idx| {
                    let c = &self.conns[idx];
                    ConnectorSnapshot {
                        number: c.spec.number,
                        status: c.reported.0.to_domain(),
                        error_code: c.reported.1.as_str().to_owned(),
                        plugged: c.plugged,
                        in_session: c.session.is_some(),
                        transaction_id: c
                            .session
                            .as_ref()
                            .and_then(|s| self.tx_ids.get(&s.local).copied()),
                        id_tag: c.session.as_ref().map(|s| s.id_tag.as_str().to_owned()),
                        meter_wh: c.meter_wh(),
                        power_w: self.power_w(idx),
                        soc_percent: self.soc(idx),
                        reservation_id: c.reservation.as_ref().map(|r| r.id),
                    }
                })
                .collect(),
            queued_transaction_messages: self
                .queue
                .iter()
                .filter(|q| q.msg.is_transactional())
                .count()
                + usize::from(
                    self.in_flight
                        .as_ref()
                        .is_some_and(|f| f.queued.msg.is_transactional()),
                ),
            connects: self.connects,
            calls_sent: self.calls_sent,
            results_received: self.results_received,
            calls_received: self.calls_received,
            invalid_replies: self.invalid_replies,
            transactions_stopped: self.stopped,
            completed_transactions: self.completed.clone(),
        }
    }
}

/// Replies to CALLs the simulator cannot process.
fn error_reply(id: &MessageId, code: ErrorCode, description: &str) -> String {
    call_error_text(id.as_str(), code, description)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use serde_json::json;

    use super::*;
    use crate::config::uniform_connectors;

    fn machine(b: Behaviour) -> (Machine, Instant) {
        let now = Instant::now();
        let m = Machine::new(
            "CP".into(),
            None,
            uniform_connectors(1, Decimal::from(7)),
            b,
            now,
        );
        (m, now)
    }

    /// Sends the next CALL and returns (id, action, payload).
    fn next_call(m: &mut Machine, now: Instant) -> Option<(String, String, Value)> {
        let text = m.poll_send(now)?;
        let v: Value = serde_json::from_str(&text).unwrap();
        Some((
            v[1].as_str().unwrap().to_owned(),
            v[2].as_str().unwrap().to_owned(),
            v[3].clone(),
        ))
    }

    fn answer(m: &mut Machine, now: Instant, id: &str, payload: Value) {
        let frame = Value::Array(vec![json!(3), json!(id), payload]);
        assert!(m.on_text(now, &frame.to_string()).is_none());
    }

    fn boot(m: &mut Machine, now: Instant) {
        m.on_connected(now);
        let (id, action, _) = next_call(m, now).unwrap();
        assert_eq!(action, "BootNotification");
        answer(
            m,
            now,
            &id,
            json!({"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 60}),
        );
    }

    /// Answers every queued CALL with `{}` and returns their actions.
    fn drain(m: &mut Machine, now: Instant) -> Vec<String> {
        let mut actions = Vec::new();
        while let Some((id, action, _)) = next_call(m, now) {
            let reply = match action.as_str() {
                "StartTransaction" => {
                    json!({"transactionId": 5, "idTagInfo": {"status": "Accepted"}})
                }
                "Heartbeat" => json!({"currentTime": "2026-01-01T00:00:00Z"}),
                _ => json!({}),
            };
            answer(m, now, &id, reply);
            actions.push(action);
        }
        actions
    }

    #[test]
    fn only_one_call_is_outstanding_and_nothing_precedes_the_boot() {
        let (mut m, now) = machine(Behaviour::default());
        m.on_connected(now);
        let (boot_id, action, _) = next_call(&mut m, now).unwrap();
        assert_eq!(action, "BootNotification");
        assert!(
            m.poll_send(now).is_none(),
            "a second CALL while Boot is outstanding"
        );
        answer(
            &mut m,
            now,
            &boot_id,
            json!({"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 60}),
        );
        assert_eq!(m.snapshot().heartbeat_interval, Duration::from_secs(60));
        let (id, action, p) = next_call(&mut m, now).unwrap();
        assert_eq!(
            (action.as_str(), &p["connectorId"]),
            ("StatusNotification", &json!(0))
        );
        assert!(m.poll_send(now).is_none());
        answer(&mut m, now, &id, json!({}));
        assert_eq!(drain(&mut m, now), ["StatusNotification"]);
        // The heartbeat falls due after the interval.
        m.on_tick(now + Duration::from_secs(60));
        assert_eq!(drain(&mut m, now + Duration::from_secs(60)), ["Heartbeat"]);
    }

    #[test]
    fn a_pending_boot_is_retried_after_the_interval_and_blocks_other_calls() {
        let (mut m, now) = machine(Behaviour::default());
        m.on_connected(now);
        let (id, _, _) = next_call(&mut m, now).unwrap();
        answer(
            &mut m,
            now,
            &id,
            json!({"status": "Pending", "currentTime": "2026-01-01T00:00:00Z", "interval": 5}),
        );
        assert_eq!(m.snapshot().boot, BootStatus::Pending);
        assert!(m.poll_send(now).is_none());
        m.on_tick(now + Duration::from_secs(5));
        let (_, action, _) = next_call(&mut m, now + Duration::from_secs(5)).unwrap();
        assert_eq!(action, "BootNotification");
    }

    #[test]
    fn a_reply_against_the_schema_is_reported_and_the_boot_retried() {
        let (mut m, now) = machine(Behaviour::default());
        m.on_connected(now);
        let (id, _, _) = next_call(&mut m, now).unwrap();
        // The spec's own example uses heartbeatInterval; the schema says interval.
        answer(
            &mut m,
            now,
            &id,
            json!({"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "heartbeatInterval": 60}),
        );
        let snap = m.snapshot();
        assert_eq!(snap.invalid_replies, 1);
        assert_eq!(snap.boot, BootStatus::NotBooted);
        assert!(m.take_events().iter().any(|e| matches!(
            e,
            SimEvent::InvalidReply {
                action: "BootNotification",
                ..
            }
        )));
        let later = now + Duration::from_secs(2);
        m.on_tick(later);
        assert_eq!(next_call(&mut m, later).unwrap().1, "BootNotification");
    }

    #[test]
    fn energy_is_integrated_at_the_capped_power_and_a_full_car_suspends() {
        let b = Behaviour {
            power_kw: Some(Decimal::from(50)),
            ev_battery_wh: 10_000,
            ev_start_soc_percent: 20,
            meter_interval: Duration::from_secs(60),
            ..Behaviour::default()
        };
        let (mut m, now) = machine(b);
        boot(&mut m, now);
        drain(&mut m, now);
        m.on_control(
            now,
            ControlKind::StartLocal {
                connector: 1,
                id_tag: "T".into(),
            },
        )
        .unwrap();
        // Preparing (cable in), then, the Authorize answer `{}` being invalid, Available.
        assert_eq!(
            drain(&mut m, now),
            ["Authorize", "StatusNotification", "StatusNotification"]
        );
        assert!(!m.snapshot().connectors[0].in_session);
        m.on_control(
            now,
            ControlKind::StartLocal {
                connector: 1,
                id_tag: "T".into(),
            },
        )
        .unwrap();
        let (id, action, _) = next_call(&mut m, now).unwrap();
        assert_eq!(action, "Authorize");
        answer(
            &mut m,
            now,
            &id,
            json!({"idTagInfo": {"status": "Accepted"}}),
        );
        assert_eq!(
            drain(&mut m, now),
            [
                "StatusNotification",
                "StartTransaction",
                "StatusNotification"
            ]
        );
        // One minute at 7 kW (50 asked, connector capped): 116 Wh.
        let t1 = now + Duration::from_secs(60);
        m.on_tick(t1);
        let c = &m.snapshot().connectors[0];
        assert_eq!(c.meter_wh, 1_000_116);
        assert_eq!(c.power_w, 7000);
        assert_eq!(c.soc_percent, Some(21));
        // 8 kWh more fills the 10 kWh battery from 20 %: SuspendedEV, no power.
        let t2 = t1 + Duration::from_secs(3600 * 8 / 7 + 60);
        m.on_tick(t2);
        let c = &m.snapshot().connectors[0];
        assert_eq!(
            c.status,
            openpile_core::status::ChargePointStatus::SuspendedEV
        );
        assert_eq!(c.power_w, 0);
        assert_eq!(c.soc_percent, Some(100));
    }

    #[test]
    fn transaction_messages_are_retried_after_a_callerror_then_dropped() {
        let b = Behaviour {
            transaction_message_attempts: 2,
            transaction_message_retry: Duration::from_secs(1),
            ..Behaviour::default()
        };
        let (mut m, now) = machine(b);
        boot(&mut m, now);
        drain(&mut m, now);
        m.go_local_offline_session(now);
        m.on_connected(now);
        let (id, action, _) = next_call(&mut m, now).unwrap();
        assert_eq!(action, "StartTransaction");
        m.on_text(
            now,
            &json!([4, id, "InternalError", "db down", {}]).to_string(),
        );
        assert!(m.poll_send(now).is_none(), "held for the retry interval");
        let t1 = now + Duration::from_secs(1);
        let (id, action, _) = next_call(&mut m, t1).unwrap();
        assert_eq!(action, "StartTransaction");
        m.on_text(
            t1,
            &json!([4, id, "InternalError", "db down", {}]).to_string(),
        );
        // Attempts exhausted: the Start is discarded, and so is the Stop that needs its id.
        let t2 = t1 + Duration::from_secs(2);
        let rest = drain(&mut m, t2);
        assert!(!rest.contains(&"StopTransaction".to_owned()), "{rest:?}");
        assert!(!rest.contains(&"StartTransaction".to_owned()), "{rest:?}");
        assert_eq!(m.snapshot().queued_transaction_messages, 0);
    }

    impl Machine {
        /// Goes offline (as if the socket dropped), runs a whole session, and leaves its
        /// Start and Stop queued.
        fn go_local_offline_session(&mut self, now: Instant) {
            self.on_disconnected(now, Some(now));
            self.on_control(
                now,
                ControlKind::StartLocal {
                    connector: 1,
                    id_tag: "OFF".into(),
                },
            )
            .unwrap();
            self.on_control(now, ControlKind::StopLocal(1)).unwrap();
            assert_eq!(self.snapshot().queued_transaction_messages, 2);
        }
    }
}
