//! The domain's [`ChargerCommand`]s as OCPP 1.6 CALLs, and the charger's CALLRESULTs back as
//! [`CommandReply`]s. A command whose values do not fit the wire (an id tag over 20 characters)
//! is never sent; it fails as a PropertyConstraintViolation the caller can read.

use openpile_core::ports::{
    ChargerCommand, CommandReply, ConfigurationEntry, GatewayError, TriggerableMessage,
};
use serde_json::Value;

use crate::messages::core_profile::{
    AvailabilityType, ChangeAvailabilityRequest, ChangeAvailabilityResponse,
    ChangeConfigurationRequest, ChangeConfigurationResponse, ClearCacheRequest, ClearCacheResponse,
    GetConfigurationRequest, GetConfigurationResponse, RemoteStartTransactionRequest,
    RemoteStartTransactionResponse, RemoteStopTransactionRequest, RemoteStopTransactionResponse,
    ResetRequest, ResetResponse, ResetType, UnlockConnectorRequest, UnlockConnectorResponse,
};
use crate::messages::decode::{PayloadError, decode};
use crate::messages::remote_trigger::{
    MessageTrigger, TriggerMessageRequest, TriggerMessageResponse,
};
use crate::messages::reservation::{
    CancelReservationRequest, CancelReservationResponse, ReserveNowRequest, ReserveNowResponse,
};
use crate::messages::types::{CiString20, CiString50, CiString500, StringTooLong, Timestamp};
use crate::messages::{Action, OcppRequest};

fn not_sent(field: &str, e: &StringTooLong) -> GatewayError {
    GatewayError::CallError {
        code: "PropertyConstraintViolation".into(),
        description: format!("not sent: {field}: {e}"),
    }
}

fn payload<R: OcppRequest>(request: &R) -> Result<(Action, Value), GatewayError> {
    serde_json::to_value(request)
        .map(|v| (R::ACTION, v))
        .map_err(|e| GatewayError::CallError {
            code: "GenericError".into(),
            description: format!("not sent: {e}"),
        })
}

fn id_tag(tag: &str) -> Result<CiString20, GatewayError> {
    CiString20::new(tag).map_err(|e| not_sent("idTag", &e))
}

/// The CALL for `command`.
pub(crate) fn encode(command: &ChargerCommand) -> Result<(Action, Value), GatewayError> {
    match command {
        // OCPP 1.6 §5.11: we always name the connector (a charger MAY reject a RemoteStart
        // without one), and send no charging profile.
        ChargerCommand::RemoteStartTransaction {
            connector,
            id_tag: tag,
        } => payload(&RemoteStartTransactionRequest {
            connector_id: Some(i64::from(connector.get())),
            id_tag: id_tag(tag)?,
            charging_profile: None,
        }),
        // §5.12
        ChargerCommand::RemoteStopTransaction { transaction_id } => {
            payload(&RemoteStopTransactionRequest {
                transaction_id: *transaction_id,
            })
        }
        // §5.13
        ChargerCommand::ReserveNow {
            connector,
            expiry,
            id_tag: tag,
            reservation_id,
        } => payload(&ReserveNowRequest {
            connector_id: i64::from(connector.get()),
            expiry_date: Timestamp(*expiry),
            id_tag: id_tag(tag)?,
            parent_id_tag: None,
            reservation_id: *reservation_id,
        }),
        // §5.1
        ChargerCommand::CancelReservation { reservation_id } => {
            payload(&CancelReservationRequest {
                reservation_id: *reservation_id,
            })
        }
        // §5.2: connector 0 is the whole charger.
        ChargerCommand::ChangeAvailability {
            connector,
            operative,
        } => payload(&ChangeAvailabilityRequest {
            connector_id: connector.map_or(0, |c| i64::from(c.get())),
            kind: if *operative {
                AvailabilityType::Operative
            } else {
                AvailabilityType::Inoperative
            },
        }),
        // §5.17
        ChargerCommand::TriggerMessage { message, connector } => payload(&TriggerMessageRequest {
            requested_message: trigger(*message),
            connector_id: connector.map(|c| i64::from(c.get())),
        }),
        // §5.18
        ChargerCommand::UnlockConnector { connector } => payload(&UnlockConnectorRequest {
            connector_id: i64::from(connector.get()),
        }),
        // §5.14
        ChargerCommand::Reset { hard } => payload(&ResetRequest {
            kind: if *hard {
                ResetType::Hard
            } else {
                ResetType::Soft
            },
        }),
        // §5.8: no keys asks for all of them.
        ChargerCommand::GetConfiguration { keys } => {
            let key = if keys.is_empty() {
                None
            } else {
                Some(
                    keys.iter()
                        .map(|k| CiString50::new(k.as_str()).map_err(|e| not_sent("key", &e)))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            };
            payload(&GetConfigurationRequest { key })
        }
        // §5.3
        ChargerCommand::ChangeConfiguration { key, value } => {
            payload(&ChangeConfigurationRequest {
                key: CiString50::new(key.as_str()).map_err(|e| not_sent("key", &e))?,
                value: CiString500::new(value.as_str()).map_err(|e| not_sent("value", &e))?,
            })
        }
        // §5.4
        ChargerCommand::ClearCache => payload(&ClearCacheRequest {}),
    }
}

fn trigger(m: TriggerableMessage) -> MessageTrigger {
    match m {
        TriggerableMessage::BootNotification => MessageTrigger::BootNotification,
        TriggerableMessage::DiagnosticsStatusNotification => {
            MessageTrigger::DiagnosticsStatusNotification
        }
        TriggerableMessage::FirmwareStatusNotification => {
            MessageTrigger::FirmwareStatusNotification
        }
        TriggerableMessage::Heartbeat => MessageTrigger::Heartbeat,
        TriggerableMessage::MeterValues => MessageTrigger::MeterValues,
        TriggerableMessage::StatusNotification => MessageTrigger::StatusNotification,
    }
}

fn invalid(action: Action, e: &PayloadError) -> GatewayError {
    GatewayError::CallError {
        code: e.code.as_str().into(),
        description: format!("invalid {action} response: {}", e.message),
    }
}

fn status<R: crate::messages::Payload>(
    action: Action,
    reply: &Value,
    pick: impl FnOnce(R) -> &'static str,
) -> Result<CommandReply, GatewayError> {
    let response = decode::<R>(reply).map_err(|e| invalid(action, &e))?;
    Ok(CommandReply::Status(pick(response).to_owned()))
}

/// The charger's CALLRESULT payload for `action`, checked against its schema.
pub(crate) fn decode_reply(action: Action, reply: &Value) -> Result<CommandReply, GatewayError> {
    match action {
        Action::RemoteStartTransaction => {
            status(action, reply, |r: RemoteStartTransactionResponse| {
                r.status.as_str()
            })
        }
        Action::RemoteStopTransaction => {
            status(action, reply, |r: RemoteStopTransactionResponse| {
                r.status.as_str()
            })
        }
        Action::ReserveNow => status(action, reply, |r: ReserveNowResponse| r.status.as_str()),
        Action::CancelReservation => status(action, reply, |r: CancelReservationResponse| {
            r.status.as_str()
        }),
        Action::ChangeAvailability => status(action, reply, |r: ChangeAvailabilityResponse| {
            r.status.as_str()
        }),
        Action::TriggerMessage => {
            status(action, reply, |r: TriggerMessageResponse| r.status.as_str())
        }
        Action::UnlockConnector => status(action, reply, |r: UnlockConnectorResponse| {
            r.status.as_str()
        }),
        Action::Reset => status(action, reply, |r: ResetResponse| r.status.as_str()),
        Action::ChangeConfiguration => status(action, reply, |r: ChangeConfigurationResponse| {
            r.status.as_str()
        }),
        Action::ClearCache => status(action, reply, |r: ClearCacheResponse| r.status.as_str()),
        Action::GetConfiguration => {
            let r: GetConfigurationResponse = decode(reply).map_err(|e| invalid(action, &e))?;
            Ok(CommandReply::Configuration {
                known: r
                    .configuration_key
                    .unwrap_or_default()
                    .into_iter()
                    .map(|kv| ConfigurationEntry {
                        key: kv.key.into_inner(),
                        value: kv.value.map(CiString500::into_inner),
                        readonly: kv.readonly,
                    })
                    .collect(),
                unknown: r
                    .unknown_key
                    .unwrap_or_default()
                    .into_iter()
                    .map(CiString50::into_inner)
                    .collect(),
            })
        }
        other => Err(GatewayError::CallError {
            code: "GenericError".into(),
            description: format!("{other} is not a ChargerCommand"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use openpile_core::ids::ConnectorNumber;
    use serde_json::json;

    fn n(x: u32) -> ConnectorNumber {
        ConnectorNumber::new(x).unwrap()
    }

    #[test]
    fn commands_become_their_calls() {
        let expiry = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        let cases = [
            (
                ChargerCommand::RemoteStartTransaction {
                    connector: n(1),
                    id_tag: "T1".into(),
                },
                Action::RemoteStartTransaction,
                json!({"connectorId": 1, "idTag": "T1"}),
            ),
            (
                ChargerCommand::ReserveNow {
                    connector: n(2),
                    expiry,
                    id_tag: "T2".into(),
                    reservation_id: 9,
                },
                Action::ReserveNow,
                json!({"connectorId": 2, "expiryDate": "2026-03-01T08:00:00.000Z",
                       "idTag": "T2", "reservationId": 9}),
            ),
            (
                ChargerCommand::ChangeAvailability {
                    connector: None,
                    operative: false,
                },
                Action::ChangeAvailability,
                json!({"connectorId": 0, "type": "Inoperative"}),
            ),
            (
                ChargerCommand::TriggerMessage {
                    message: TriggerableMessage::StatusNotification,
                    connector: None,
                },
                Action::TriggerMessage,
                json!({"requestedMessage": "StatusNotification"}),
            ),
            (
                ChargerCommand::GetConfiguration { keys: vec![] },
                Action::GetConfiguration,
                json!({}),
            ),
            (
                ChargerCommand::Reset { hard: true },
                Action::Reset,
                json!({"type": "Hard"}),
            ),
            (ChargerCommand::ClearCache, Action::ClearCache, json!({})),
        ];
        for (command, action, want) in cases {
            assert_eq!(encode(&command).unwrap(), (action, want), "{command:?}");
        }
    }

    #[test]
    fn commands_that_do_not_fit_are_not_sent() {
        let err = encode(&ChargerCommand::RemoteStartTransaction {
            connector: n(1),
            id_tag: "x".repeat(21),
        })
        .unwrap_err();
        assert!(
            matches!(err, GatewayError::CallError { ref code, .. } if code == "PropertyConstraintViolation")
        );
    }

    #[test]
    fn replies_are_checked_and_mapped() {
        assert_eq!(
            decode_reply(Action::UnlockConnector, &json!({"status": "Unlocked"})).unwrap(),
            CommandReply::Status("Unlocked".into())
        );
        let bad = decode_reply(Action::Reset, &json!({"status": "Maybe"})).unwrap_err();
        assert!(
            matches!(bad, GatewayError::CallError { ref code, .. } if code == "PropertyConstraintViolation")
        );
        let conf = decode_reply(
            Action::GetConfiguration,
            &json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": false, "value": "300"}],
                    "unknownKey": ["Nope"]}),
        )
        .unwrap();
        assert_eq!(
            conf,
            CommandReply::Configuration {
                known: vec![ConfigurationEntry {
                    key: "HeartbeatInterval".into(),
                    value: Some("300".into()),
                    readonly: false
                }],
                unknown: vec!["Nope".into()],
            }
        );
    }
}
