//! The central system's CALLs (OCPP 1.6 §5), as a charger answers them. Payloads are decoded
//! strictly with the ocpp16 message types, so a malformed request gets the CALLERROR the
//! schema defect deserves.

use openpile_ocpp16::messages::core_profile::{
    AvailabilityStatus, AvailabilityType, ChangeAvailabilityRequest, ChangeAvailabilityResponse,
    ChangeConfigurationRequest, ChangeConfigurationResponse, ClearCacheResponse, ClearCacheStatus,
    ConfigurationStatus, DataTransferRequest, DataTransferResponse, DataTransferStatus,
    GetConfigurationRequest, GetConfigurationResponse, KeyValue, RemoteStartStopStatus,
    RemoteStartTransactionRequest, RemoteStartTransactionResponse, RemoteStopTransactionRequest,
    RemoteStopTransactionResponse, ResetRequest, ResetResponse, ResetStatus, ResetType,
    UnlockConnectorRequest, UnlockConnectorResponse, UnlockStatus,
};
use openpile_ocpp16::messages::decode::{PayloadError, decode};
use openpile_ocpp16::messages::firmware::{GetDiagnosticsResponse, UpdateFirmwareResponse};
use openpile_ocpp16::messages::frame::{ErrorCode, Frame, MessageId};
use openpile_ocpp16::messages::local_auth_list::{
    GetLocalListVersionResponse, SendLocalListResponse, UpdateStatus,
};
use openpile_ocpp16::messages::remote_trigger::{
    MessageTrigger, TriggerMessageRequest, TriggerMessageResponse, TriggerMessageStatus,
};
use openpile_ocpp16::messages::reservation::{
    CancelReservationRequest, CancelReservationResponse, CancelReservationStatus,
    ReservationStatus, ReserveNowRequest, ReserveNowResponse,
};
use openpile_ocpp16::messages::smart_charging::{
    ChargingProfileStatus, ClearChargingProfileResponse, ClearChargingProfileStatus,
    GetCompositeScheduleResponse, GetCompositeScheduleStatus, SetChargingProfileResponse,
};
use openpile_ocpp16::messages::types::{
    ChargePointErrorCode, CiString50, CiString500, ReadingContext, Reason,
};
use openpile_ocpp16::messages::{Action, Initiator, Payload};
use serde_json::Value;
use tokio::time::Instant;

use super::model::{PendingStart, Reservation};
use super::outgoing::Outgoing;
use super::{LinkRequest, Machine, Queued, error_reply};
use crate::config::{RemoteStartPolicy, RemoteStopPolicy};
use crate::handle::SimEvent;

/// Our answer: the frame text and, for the event log, its `status` field.
type Answer = (String, Option<&'static str>);

fn answer<P: Payload>(id: &MessageId, payload: &P, status: Option<&'static str>) -> Answer {
    (Frame::result(id.clone(), payload).to_text(), status)
}

impl Machine {
    pub(super) fn on_call(
        &mut self,
        now: Instant,
        id: &MessageId,
        action: Action,
        p: &Value,
    ) -> Option<String> {
        self.calls_received += 1;
        self.events.push(SimEvent::CallReceived {
            action: action.as_str().to_owned(),
        });
        let (text, status) = match self.dispatch(now, id, action, p) {
            Ok(Some((text, status))) => (Some(text), status.map(str::to_owned)),
            // Deliberately unanswered (RemoteStartPolicy::Ignore).
            Ok(None) => (None, Some("(no answer)".to_owned())),
            Err(e) => (Some(error_reply(id, e.code, &e.message)), None),
        };
        self.events.push(SimEvent::Replied {
            action: action.as_str().to_owned(),
            status,
        });
        text
    }

    fn dispatch(
        &mut self,
        now: Instant,
        id: &MessageId,
        action: Action,
        p: &Value,
    ) -> Result<Option<Answer>, PayloadError> {
        let answer = match action {
            Action::RemoteStartTransaction => return Ok(self.remote_start(now, id, decode(p)?)),
            Action::RemoteStopTransaction => {
                let status = self.remote_stop(now, &decode(p)?);
                answer(
                    id,
                    &RemoteStopTransactionResponse { status },
                    Some(status.as_str()),
                )
            }
            Action::ReserveNow => {
                let status = self.reserve_now(now, decode(p)?);
                answer(id, &ReserveNowResponse { status }, Some(status.as_str()))
            }
            Action::CancelReservation => {
                let status = self.cancel_reservation(&decode(p)?);
                answer(
                    id,
                    &CancelReservationResponse { status },
                    Some(status.as_str()),
                )
            }
            Action::UnlockConnector => {
                let status = self.unlock(now, &decode(p)?);
                answer(
                    id,
                    &UnlockConnectorResponse { status },
                    Some(status.as_str()),
                )
            }
            Action::ChangeAvailability => {
                let status = self.change_availability(&decode(p)?);
                answer(
                    id,
                    &ChangeAvailabilityResponse { status },
                    Some(status.as_str()),
                )
            }
            Action::Reset => {
                let status = self.reset_request(now, &decode(p)?);
                answer(id, &ResetResponse { status }, Some(status.as_str()))
            }
            Action::TriggerMessage => {
                let status = self.trigger(&decode(p)?);
                answer(
                    id,
                    &TriggerMessageResponse { status },
                    Some(status.as_str()),
                )
            }
            Action::GetConfiguration => {
                let reply = self.get_configuration(decode(p)?);
                answer(id, &reply, None)
            }
            Action::ChangeConfiguration => {
                let status = self.change_configuration(now, decode(p)?);
                answer(
                    id,
                    &ChangeConfigurationResponse { status },
                    Some(status.as_str()),
                )
            }
            Action::ClearCache => answer(
                id,
                &ClearCacheResponse {
                    status: ClearCacheStatus::Accepted,
                },
                Some("Accepted"),
            ),
            Action::DataTransfer => {
                decode::<DataTransferRequest>(p)?;
                // R-D1: an unknown vendor is a CALLRESULT, not a CALLERROR.
                let status = DataTransferStatus::UnknownVendorId;
                answer(
                    id,
                    &DataTransferResponse { status, data: None },
                    Some(status.as_str()),
                )
            }
            Action::GetLocalListVersion => {
                answer(id, &GetLocalListVersionResponse { list_version: 0 }, None)
            }
            Action::SendLocalList => answer(
                id,
                &SendLocalListResponse {
                    status: UpdateStatus::NotSupported,
                },
                Some("NotSupported"),
            ),
            Action::SetChargingProfile => answer(
                id,
                &SetChargingProfileResponse {
                    status: ChargingProfileStatus::NotSupported,
                },
                Some("NotSupported"),
            ),
            Action::ClearChargingProfile => answer(
                id,
                &ClearChargingProfileResponse {
                    status: ClearChargingProfileStatus::Unknown,
                },
                Some("Unknown"),
            ),
            Action::GetCompositeSchedule => answer(
                id,
                &GetCompositeScheduleResponse {
                    status: GetCompositeScheduleStatus::Rejected,
                    connector_id: None,
                    schedule_start: None,
                    charging_schedule: None,
                },
                Some("Rejected"),
            ),
            Action::GetDiagnostics => answer(id, &GetDiagnosticsResponse { file_name: None }, None),
            Action::UpdateFirmware => answer(id, &UpdateFirmwareResponse {}, None),
            // Charger → central system actions: known, but not ours to answer (Table 7).
            a if a.initiator() == Initiator::ChargePoint => {
                return Err(PayloadError::new(
                    ErrorCode::NotSupported,
                    format!("{a} is sent by chargers, not to them"),
                ));
            }
            a => {
                return Err(PayloadError::new(
                    ErrorCode::NotSupported,
                    format!("{a} is not supported by this charger"),
                ));
            }
        };
        Ok(Some(answer))
    }

    fn remote_start(
        &mut self,
        now: Instant,
        id: &MessageId,
        req: RemoteStartTransactionRequest,
    ) -> Option<Answer> {
        let reply = |status: RemoteStartStopStatus| {
            Some(answer(
                id,
                &RemoteStartTransactionResponse { status },
                Some(status.as_str()),
            ))
        };
        match self.remote_start {
            RemoteStartPolicy::Ignore => return None,
            RemoteStartPolicy::Reject => return reply(RemoteStartStopStatus::Rejected),
            RemoteStartPolicy::Accept => {}
        }
        let tag = req.id_tag.as_str();
        let idx = match req.connector_id {
            // §5.11: connectorId SHALL be > 0 when present.
            Some(n) => self.conn_index(n).filter(|&i| self.can_start(i, tag)),
            // Without one: the connector reserved for this tag, else the first free one.
            None => (0..self.conns.len())
                .find(|&i| self.conns[i].reservation.is_some() && self.can_start(i, tag))
                .or_else(|| (0..self.conns.len()).find(|&i| self.can_start(i, tag))),
        };
        let Some(idx) = idx else {
            return reply(RemoteStartStopStatus::Rejected);
        };
        let reservation_id = self.conns[idx].reservation.as_ref().map(|r| r.id);
        let authorize = self.b.authorize_remote_start;
        self.conns[idx].pending = Some(PendingStart {
            id_tag: req.id_tag.clone(),
            reservation_id,
            authorized: !authorize,
            deadline: now + self.b.connection_timeout,
        });
        if authorize {
            let connector = self.conns[idx].spec.number;
            self.enqueue(Outgoing::Authorize {
                connector,
                id_tag: req.id_tag,
            });
        } else {
            self.advance_pending(now, idx);
        }
        reply(RemoteStartStopStatus::Accepted)
    }

    fn remote_stop(
        &mut self,
        now: Instant,
        req: &RemoteStopTransactionRequest,
    ) -> RemoteStartStopStatus {
        let idx = self.conns.iter().position(|c| {
            c.session
                .as_ref()
                .is_some_and(|s| self.tx_ids.get(&s.local) == Some(&req.transaction_id))
        });
        // R-R3: Accepted only for an ongoing transaction.
        match idx {
            // The firmware bug the policy simulates: accepted, yet nothing happens.
            Some(_) if self.b.remote_stop == RemoteStopPolicy::AcceptAndIgnore => {
                RemoteStartStopStatus::Accepted
            }
            Some(idx) => {
                self.stop_session(now, idx, Reason::Remote);
                RemoteStartStopStatus::Accepted
            }
            None => RemoteStartStopStatus::Rejected,
        }
    }

    fn reserve_now(&mut self, now: Instant, req: ReserveNowRequest) -> ReservationStatus {
        // ReserveConnectorZeroSupported = false, and an unknown connector: Rejected (R-V1).
        let Some(idx) = self.conn_index(req.connector_id) else {
            return ReservationStatus::Rejected;
        };
        let Ok(left) = (req.expiry_date.0 - chrono::Utc::now()).to_std() else {
            return ReservationStatus::Rejected;
        };
        let c = &self.conns[idx];
        let status = if c.fault.is_some() {
            ReservationStatus::Faulted
        } else if !c.operative || !self.charger_operative {
            ReservationStatus::Unavailable
        } else if c.session.is_some()
            || c.pending.is_some()
            || c.plugged
            || c.finishing
            || c.reservation
                .as_ref()
                .is_some_and(|r| r.id != req.reservation_id)
        {
            ReservationStatus::Occupied
        } else {
            ReservationStatus::Accepted
        };
        if status == ReservationStatus::Accepted {
            // A known reservationId replaces that reservation, wherever it was (R-V1).
            if let Some(old) = self.conns.iter().position(|c| {
                c.reservation
                    .as_ref()
                    .is_some_and(|r| r.id == req.reservation_id)
            }) {
                self.conns[old].reservation = None;
                self.refresh(old);
            }
            self.conns[idx].reservation = Some(Reservation {
                id: req.reservation_id,
                id_tag: req.id_tag,
                parent_id_tag: req.parent_id_tag,
                expires: now + left,
            });
            self.refresh(idx);
        }
        status
    }

    fn cancel_reservation(&mut self, req: &CancelReservationRequest) -> CancelReservationStatus {
        let idx = self.conns.iter().position(|c| {
            c.reservation
                .as_ref()
                .is_some_and(|r| r.id == req.reservation_id)
        });
        match idx {
            Some(idx) => {
                self.conns[idx].reservation = None;
                self.refresh(idx);
                CancelReservationStatus::Accepted
            }
            // R-V5: unknown, used or expired.
            None => CancelReservationStatus::Rejected,
        }
    }

    fn unlock(&mut self, now: Instant, req: &UnlockConnectorRequest) -> UnlockStatus {
        let Some(idx) = self.conn_index(req.connector_id) else {
            return UnlockStatus::NotSupported;
        };
        // R-A3: a running session is stopped first, with UnlockCommand.
        if self.conns[idx].session.is_some() {
            self.stop_session(now, idx, Reason::UnlockCommand);
        }
        let c = &mut self.conns[idx];
        c.plugged = false;
        c.auto_plugged = false;
        c.finishing = false;
        self.refresh(idx);
        UnlockStatus::Unlocked
    }

    fn change_availability(&mut self, req: &ChangeAvailabilityRequest) -> AvailabilityStatus {
        let operative = req.kind == AvailabilityType::Operative;
        let targets: Vec<usize> = if req.connector_id == 0 {
            (0..self.conns.len()).collect()
        } else if let Some(idx) = self.conn_index(req.connector_id) {
            vec![idx]
        } else {
            return AvailabilityStatus::Rejected;
        };
        let mut scheduled = false;
        for idx in targets {
            let c = &mut self.conns[idx];
            if c.session.is_some() {
                // R-A1: the change waits for the session to end.
                let change = c.operative != operative;
                c.scheduled_operative = change.then_some(operative);
                scheduled |= change;
            } else {
                c.operative = operative;
                c.scheduled_operative = None;
                if !operative {
                    c.reservation = None;
                    c.pending = None;
                }
                self.refresh(idx);
            }
        }
        if req.connector_id == 0 {
            if scheduled {
                self.charger_scheduled = Some(operative);
            } else {
                self.charger_operative = operative;
                self.charger_scheduled = None;
                self.refresh_charger();
            }
        }
        if scheduled {
            AvailabilityStatus::Scheduled
        } else {
            AvailabilityStatus::Accepted
        }
    }

    fn reset_request(&mut self, now: Instant, req: &ResetRequest) -> ResetStatus {
        let reason = match req.kind {
            ResetType::Hard => Reason::HardReset,
            ResetType::Soft => Reason::SoftReset,
        };
        // R-A2: stop sessions first; the reboot follows once their messages are out.
        for idx in 0..self.conns.len() {
            if self.conns[idx].session.is_some() {
                self.stop_session(now, idx, reason);
            }
            self.conns[idx].pending = None;
        }
        self.reset = Some(reason);
        ResetStatus::Accepted
    }

    fn trigger(&mut self, req: &TriggerMessageRequest) -> TriggerMessageStatus {
        let targets: Vec<usize> = match req.connector_id {
            None => (0..self.conns.len()).collect(),
            Some(n) => match self.conn_index(n) {
                Some(idx) => vec![idx],
                None => return TriggerMessageStatus::Rejected,
            },
        };
        // R-A4: the .conf goes first; these are queued behind it.
        match req.requested_message {
            MessageTrigger::BootNotification => self.enqueue(Outgoing::Boot),
            MessageTrigger::Heartbeat => self.enqueue(Outgoing::Heartbeat),
            MessageTrigger::DiagnosticsStatusNotification => {
                self.enqueue(Outgoing::DiagnosticsStatus);
            }
            MessageTrigger::FirmwareStatusNotification => self.enqueue(Outgoing::FirmwareStatus),
            MessageTrigger::StatusNotification => {
                if req.connector_id.is_none() {
                    self.enqueue_status(0, self.charger_reported, ChargePointErrorCode::NoError);
                }
                for idx in targets {
                    let (status, code) = self.conns[idx].reported;
                    self.enqueue_status(self.conns[idx].spec.number, status, code);
                }
            }
            MessageTrigger::MeterValues => {
                for idx in targets {
                    let sample = self.sample(idx, ReadingContext::Trigger);
                    let c = &self.conns[idx];
                    // A triggered reading is not a transaction message (it is not queued
                    // offline); it names the session only once the session has its id.
                    let local = c
                        .session
                        .as_ref()
                        .map(|s| s.local)
                        .filter(|l| self.tx_ids.contains_key(l));
                    let msg = Outgoing::Meter {
                        connector: c.spec.number,
                        local,
                        sample,
                    };
                    self.queue.push_back(Queued { msg, attempts: 0 });
                }
            }
        }
        TriggerMessageStatus::Accepted
    }

    fn get_configuration(&self, req: GetConfigurationRequest) -> GetConfigurationResponse {
        let entry = |k: &super::ConfigKey| {
            Some(KeyValue {
                key: CiString50::new(k.key).ok()?,
                readonly: k.readonly,
                value: CiString500::new(k.value.clone()).ok(),
            })
        };
        let keys = req.key.unwrap_or_default();
        if keys.is_empty() {
            return GetConfigurationResponse {
                configuration_key: Some(self.config.iter().filter_map(entry).collect()),
                unknown_key: None,
            };
        }
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for k in keys {
            // AuthorizationKey is write-only (whitepaper A01): it is reported as unknown.
            match self.config.iter().find(|c| k.eq_ignore_case(c.key)) {
                Some(c) => known.extend(entry(c)),
                None => unknown.push(k),
            }
        }
        GetConfigurationResponse {
            configuration_key: (!known.is_empty()).then_some(known),
            unknown_key: (!unknown.is_empty()).then_some(unknown),
        }
    }

    fn change_configuration(
        &mut self,
        now: Instant,
        req: ChangeConfigurationRequest,
    ) -> ConfigurationStatus {
        let value = req.value.into_inner();
        if req.key.eq_ignore_case("AuthorizationKey") {
            // A01: take the new password, then reconnect with it.
            self.password = Some(value);
            self.link_request = LinkRequest::Drop(Some(now));
            return ConfigurationStatus::Accepted;
        }
        let Some(entry) = self.config.iter().find(|k| req.key.eq_ignore_case(k.key)) else {
            return ConfigurationStatus::NotSupported;
        };
        if entry.readonly {
            return ConfigurationStatus::Rejected;
        }
        let (name, was_bool) = (entry.key, matches!(entry.value.as_str(), "true" | "false"));
        let secs = value
            .parse::<u64>()
            .ok()
            .map(std::time::Duration::from_secs);
        let is_bool = matches!(value.as_str(), "true" | "false");
        match (name, secs) {
            ("HeartbeatInterval", Some(d)) => self.set_heartbeat(now, d),
            ("MeterValueSampleInterval", Some(d)) => self.b.meter_interval = d,
            ("ConnectionTimeOut", Some(d)) => self.b.connection_timeout = d,
            (
                "HeartbeatInterval"
                | "MeterValueSampleInterval"
                | "ConnectionTimeOut"
                | "TransactionMessageAttempts"
                | "TransactionMessageRetryInterval"
                | "ResetRetries"
                | "ClockAlignedDataInterval"
                | "WebSocketPingInterval",
                None,
            ) => return ConfigurationStatus::Rejected,
            _ if was_bool && !is_bool => return ConfigurationStatus::Rejected,
            ("AuthorizeRemoteTxRequests", _) => {
                self.b.authorize_remote_start = value == "true";
            }
            _ => {}
        }
        self.set_config_value(name, value);
        ConfigurationStatus::Accepted
    }
}
