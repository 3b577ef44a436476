//! The CALLs a charger sends, as queued (with local session numbers) and as written on the
//! wire (typed OCPP 1.6 requests from `openpile_ocpp16::messages`).

use chrono::{DateTime, Utc};
use openpile_ocpp16::messages::OcppRequest;
use openpile_ocpp16::messages::core_profile::{
    AuthorizeRequest, BootNotificationRequest, HeartbeatRequest, MeterValuesRequest,
    StartTransactionRequest, StatusNotificationRequest, StopTransactionRequest,
};
use openpile_ocpp16::messages::firmware::{
    DiagnosticsStatus, DiagnosticsStatusNotificationRequest, FirmwareStatus,
    FirmwareStatusNotificationRequest,
};
use openpile_ocpp16::messages::frame::{Frame, MessageId};
use openpile_ocpp16::messages::types::{
    ChargePointErrorCode, ChargePointStatus, CiString20, CiString25, CiString50, IdToken, Location,
    Measurand, MeterValue, ReadingContext, Reason, SampledValue, Timestamp, UnitOfMeasure,
};

/// A CALL we will send. Transaction messages name their session by a local number, because a
/// session started offline has no central-system id until its StartTransaction is answered.
#[derive(Debug, Clone)]
pub(super) enum Outgoing {
    Boot,
    Heartbeat,
    Status {
        connector: u32,
        status: ChargePointStatus,
        error_code: ChargePointErrorCode,
        at: DateTime<Utc>,
    },
    Authorize {
        connector: u32,
        id_tag: IdToken,
    },
    Start {
        local: u64,
        connector: u32,
        id_tag: IdToken,
        meter_start: u64,
        at: DateTime<Utc>,
        reservation_id: Option<i64>,
    },
    Meter {
        connector: u32,
        /// `None`: not tied to a session (a triggered sample on an idle connector).
        local: Option<u64>,
        sample: Sample,
    },
    Stop {
        local: u64,
        meter_stop: u64,
        at: DateTime<Utc>,
        id_tag: IdToken,
        reason: Reason,
        begin: Sample,
        end: Sample,
    },
    DiagnosticsStatus,
    FirmwareStatus,
}

impl Outgoing {
    pub(super) fn action(&self) -> &'static str {
        match self {
            Self::Boot => "BootNotification",
            Self::Heartbeat => "Heartbeat",
            Self::Status { .. } => "StatusNotification",
            Self::Authorize { .. } => "Authorize",
            Self::Start { .. } => "StartTransaction",
            Self::Meter { .. } => "MeterValues",
            Self::Stop { .. } => "StopTransaction",
            Self::DiagnosticsStatus => "DiagnosticsStatusNotification",
            Self::FirmwareStatus => "FirmwareStatusNotification",
        }
    }

    /// Transaction messages survive disconnects (OCPP 1.6 §3.7); everything else is
    /// current-state information that is re-sent fresh after a reconnect.
    pub(super) fn is_transactional(&self) -> bool {
        matches!(
            self,
            Self::Start { .. } | Self::Stop { .. } | Self::Meter { local: Some(_), .. }
        )
    }
}

/// What a BootNotification says about the charger.
pub(super) struct Identity<'a> {
    pub(super) vendor: &'a str,
    pub(super) model: &'a str,
    pub(super) serial: &'a str,
    pub(super) firmware: &'a str,
}

/// Writes `msg` as a CALL with message id `id`. `tx_id` maps local session numbers to the
/// central system's transaction ids; `None` means a transaction message whose session never
/// got an id (its StartTransaction was discarded), which cannot be sent.
pub(super) fn call_text(
    id: MessageId,
    msg: &Outgoing,
    identity: &Identity<'_>,
    tx_id: impl Fn(u64) -> Option<i64>,
) -> Option<String> {
    fn text<R: OcppRequest>(id: MessageId, req: &R) -> Option<String> {
        Some(Frame::call(id, req).to_text())
    }
    match msg {
        Outgoing::Boot => text(
            id,
            &BootNotificationRequest {
                charge_point_vendor: CiString20::new(clip(identity.vendor, 20)).ok()?,
                charge_point_model: CiString20::new(clip(identity.model, 20)).ok()?,
                charge_point_serial_number: CiString25::new(clip(identity.serial, 25)).ok(),
                charge_box_serial_number: None,
                firmware_version: CiString50::new(clip(identity.firmware, 50)).ok(),
                iccid: None,
                imsi: None,
                meter_type: CiString25::new("SimMeter").ok(),
                meter_serial_number: None,
            },
        ),
        Outgoing::Heartbeat => text(id, &HeartbeatRequest {}),
        Outgoing::Status {
            connector,
            status,
            error_code,
            at,
        } => text(
            id,
            &StatusNotificationRequest {
                connector_id: i64::from(*connector),
                error_code: *error_code,
                info: None,
                status: *status,
                timestamp: Some(Timestamp(*at)),
                vendor_id: None,
                vendor_error_code: None,
            },
        ),
        Outgoing::Authorize { id_tag, .. } => text(
            id,
            &AuthorizeRequest {
                id_tag: id_tag.clone(),
            },
        ),
        Outgoing::Start {
            connector,
            id_tag,
            meter_start,
            at,
            reservation_id,
            ..
        } => text(
            id,
            &StartTransactionRequest {
                connector_id: i64::from(*connector),
                id_tag: id_tag.clone(),
                meter_start: wh(*meter_start),
                reservation_id: *reservation_id,
                timestamp: Timestamp(*at),
            },
        ),
        Outgoing::Meter {
            connector,
            local,
            sample,
        } => {
            let transaction_id = match local {
                Some(local) => Some(tx_id(*local)?),
                None => None,
            };
            text(
                id,
                &MeterValuesRequest {
                    connector_id: i64::from(*connector),
                    transaction_id,
                    meter_value: vec![sample.meter_value(false)],
                },
            )
        }
        Outgoing::Stop {
            local,
            meter_stop,
            at,
            id_tag,
            reason,
            begin,
            end,
        } => text(
            id,
            &StopTransactionRequest {
                id_tag: Some(id_tag.clone()),
                meter_stop: wh(*meter_stop),
                timestamp: Timestamp(*at),
                transaction_id: tx_id(*local)?,
                reason: Some(*reason),
                // StopTxnSampledData = the energy register, at the start and the end.
                transaction_data: Some(vec![begin.meter_value(true), end.meter_value(true)]),
            },
        ),
        Outgoing::DiagnosticsStatus => text(
            id,
            &DiagnosticsStatusNotificationRequest {
                status: DiagnosticsStatus::Idle,
            },
        ),
        Outgoing::FirmwareStatus => text(
            id,
            &FirmwareStatusNotificationRequest {
                status: FirmwareStatus::Idle,
            },
        ),
    }
}

fn wh(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Truncates to a schema's maxLength, counted in characters as JSON Schema does.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// One meter reading, taken when it is queued (so a reading made offline keeps its time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sample {
    pub(super) at: DateTime<Utc>,
    pub(super) context: ReadingContext,
    pub(super) energy_wh: u64,
    pub(super) power_w: u32,
    /// Tenths of an ampere and whole volts keep the arithmetic in integers.
    pub(super) current_deci_a: u32,
    pub(super) voltage_v: u32,
    pub(super) soc: Option<u8>,
}

impl Sample {
    /// The reading as an OCPP MeterValue; values are strings (§7.43).
    pub(super) fn meter_value(&self, energy_only: bool) -> MeterValue {
        let value = |v: String, measurand, unit, location| SampledValue {
            context: Some(self.context),
            measurand: Some(measurand),
            location: Some(location),
            unit: Some(unit),
            ..SampledValue::new(v)
        };
        let mut values = vec![value(
            self.energy_wh.to_string(),
            Measurand::EnergyActiveImportRegister,
            UnitOfMeasure::Wh,
            Location::Outlet,
        )];
        if !energy_only {
            values.push(value(
                self.power_w.to_string(),
                Measurand::PowerActiveImport,
                UnitOfMeasure::W,
                Location::Outlet,
            ));
            values.push(value(
                format!("{}.{}", self.current_deci_a / 10, self.current_deci_a % 10),
                Measurand::CurrentImport,
                UnitOfMeasure::A,
                Location::Outlet,
            ));
            values.push(value(
                self.voltage_v.to_string(),
                Measurand::Voltage,
                UnitOfMeasure::V,
                Location::Outlet,
            ));
            if let Some(soc) = self.soc {
                values.push(value(
                    soc.to_string(),
                    Measurand::SoC,
                    UnitOfMeasure::Percent,
                    Location::Ev,
                ));
            }
        }
        MeterValue {
            timestamp: Timestamp(self.at),
            sampled_value: values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn identity() -> Identity<'static> {
        Identity {
            vendor: "A vendor name longer than twenty",
            model: "M",
            serial: "S",
            firmware: "F",
        }
    }

    fn payload(text: &str) -> Value {
        let v: Value = serde_json::from_str(text).unwrap();
        v[3].clone()
    }

    #[test]
    fn boot_fields_are_clipped_to_their_schema_lengths() {
        let text = call_text(
            MessageId::new("1").unwrap(),
            &Outgoing::Boot,
            &identity(),
            |_| None,
        )
        .unwrap();
        let p = payload(&text);
        assert_eq!(p["chargePointVendor"], "A vendor name longer");
        assert_eq!(p["chargePointSerialNumber"], "S");
    }

    #[test]
    fn transaction_messages_need_the_central_system_id() {
        let sample = Sample {
            at: Utc::now(),
            context: ReadingContext::SamplePeriodic,
            energy_wh: 1_000_123,
            power_w: 7000,
            current_deci_a: 304,
            voltage_v: 230,
            soc: Some(55),
        };
        let meter = Outgoing::Meter {
            connector: 1,
            local: Some(7),
            sample: sample.clone(),
        };
        assert!(call_text(MessageId::new("1").unwrap(), &meter, &identity(), |_| None).is_none());
        let text = call_text(MessageId::new("1").unwrap(), &meter, &identity(), |l| {
            Some(l as i64 + 100)
        })
        .unwrap();
        let p = payload(&text);
        assert_eq!(p["transactionId"], 107);
        let values = &p["meterValue"][0]["sampledValue"];
        assert_eq!(
            values[0],
            json!({"value": "1000123", "context": "Sample.Periodic",
                   "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unit": "Wh"})
        );
        assert_eq!(values[2]["value"], "30.4");
        assert_eq!(values[4]["location"], "EV");
        assert!(!meter.is_transactional() || matches!(meter, Outgoing::Meter { .. }));
        assert!(
            !Outgoing::Meter {
                connector: 1,
                local: None,
                sample
            }
            .is_transactional()
        );
    }
}
