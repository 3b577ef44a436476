//! Handlers of the CALLs chargers send us: one function per action, each citing the spec.
//! They convert the wire message into domain terms, call the stores and build the answer.
//!
//! Rules that cut across them:
//! - A payload that breaks its schema gets the CALLERROR [`decode`] chose.
//! - Transaction messages (Start, MeterValues, Stop) are always answered when they are
//!   well-formed, whatever their content: bad data is parked for review, because a refused
//!   transaction message is retried and then discarded by the charger (OCPP 1.6 §3.7.1,
//!   §4.7–4.10, protocol reference R-T4/R-T5).
//! - A store failure is an InternalError: the charger retries, and nothing half-done remains
//!   (each store call is one transaction).

use chrono::{DateTime, Utc};
use openpile_core::charging::{
    MeterReport, ParkedMessage, StopReason, StopRecorded, TagStatus, TagVerdict, TransactionStart,
    TransactionStop,
};
use openpile_core::energy::Wh;
use openpile_core::error::StoreError;
use openpile_core::ids::ConnectorNumber;
use openpile_core::ports::{BootInfo, ReportedStatus};
use serde_json::Value;

use crate::central::{CentralSystem, Connection};
use crate::messages::core_profile::{
    AuthorizeRequest, AuthorizeResponse, BootNotificationRequest, BootNotificationResponse,
    DataTransferRequest, DataTransferResponse, DataTransferStatus, HeartbeatRequest,
    HeartbeatResponse, MeterValuesRequest, MeterValuesResponse, RegistrationStatus,
    StartTransactionRequest, StartTransactionResponse, StatusNotificationRequest,
    StatusNotificationResponse, StopTransactionRequest, StopTransactionResponse,
};
use crate::messages::decode::decode;
use crate::messages::firmware::{
    DiagnosticsStatusNotificationRequest, DiagnosticsStatusNotificationResponse,
    FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse,
};
use crate::messages::frame::ErrorCode;
use crate::messages::types::{
    AuthorizationStatus, ChargePointErrorCode, IdTagInfo, Reason, Timestamp,
};
use crate::messages::{Action, Initiator, Payload};
use crate::meter;

/// Longest errorDescription we send, in characters.
const MAX_DESCRIPTION: usize = 200;

/// Why a CALL is answered with a CALLERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: ErrorCode,
    pub(crate) description: String,
}

impl Failure {
    fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let mut description: String = description.into();
        // Descriptions may quote the offending value; a 60 KiB string is not echoed back.
        if let Some((cut, _)) = description.char_indices().nth(MAX_DESCRIPTION) {
            description.truncate(cut);
            description.push('…');
        }
        Self { code, description }
    }

    fn store(action: Action, e: &StoreError) -> Self {
        tracing::error!(%action, error = %e, "store failed while handling a charger message");
        // The description goes to the charger: no internals.
        Self::new(
            ErrorCode::InternalError,
            "temporarily unable to process; retry later",
        )
    }
}

/// What a handler has at hand.
pub(crate) struct Ctx<'a> {
    pub(crate) cs: &'a CentralSystem,
    pub(crate) conn: &'a Connection,
    /// When the message arrived.
    pub(crate) now: DateTime<Utc>,
}

fn to_value<P: Payload>(p: &P) -> Value {
    serde_json::to_value(p).unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
}

fn input<P: Payload>(payload: &Value) -> Result<P, Failure> {
    decode::<P>(payload).map_err(|e| Failure::new(e.code, e.message))
}

/// Handles one CALL and returns the CALLRESULT payload.
pub(crate) async fn dispatch(
    ctx: &Ctx<'_>,
    action: Action,
    payload: &Value,
) -> Result<Value, Failure> {
    if action.initiator() == Initiator::CentralSystem {
        // OCPP-J Table 7: a known action we do not take from chargers.
        return Err(Failure::new(
            ErrorCode::NotSupported,
            format!("{action} is sent by the central system, not to it"),
        ));
    }
    match action {
        Action::Authorize => authorize(ctx, input(payload)?).await.map(|r| to_value(&r)),
        Action::BootNotification => boot_notification(ctx, input(payload)?)
            .await
            .map(|r| to_value(&r)),
        Action::DataTransfer => Ok(to_value(&data_transfer(ctx, &input(payload)?))),
        Action::DiagnosticsStatusNotification => Ok(to_value(&diagnostics_status_notification(
            ctx,
            &input(payload)?,
        ))),
        Action::FirmwareStatusNotification => Ok(to_value(&firmware_status_notification(
            ctx,
            &input(payload)?,
        ))),
        Action::Heartbeat => Ok(to_value(&heartbeat(ctx, &input(payload)?))),
        Action::MeterValues => meter_values(ctx, input(payload)?, payload)
            .await
            .map(|r| to_value(&r)),
        Action::StartTransaction => start_transaction(ctx, input(payload)?, payload)
            .await
            .map(|r| to_value(&r)),
        Action::StatusNotification => status_notification(ctx, input(payload)?, payload)
            .await
            .map(|r| to_value(&r)),
        Action::StopTransaction => stop_transaction(ctx, input(payload)?, payload)
            .await
            .map(|r| to_value(&r)),
        other => Err(Failure::new(
            ErrorCode::NotSupported,
            format!("{other} is not supported"),
        )),
    }
}

/// Keeps a message we answered but could not fully use. Parking must not fail the answer.
async fn park(ctx: &Ctx<'_>, action: Action, payload: &Value, reason: String) {
    tracing::warn!(charger = %ctx.conn.charger_id, %action, %reason, "parking charger data");
    let message = ParkedMessage {
        charger_id: ctx.conn.charger_id.clone(),
        action: action.as_str().to_owned(),
        payload: payload.to_string(),
        reason,
        received_at: ctx.now,
    };
    if let Err(e) = ctx.cs.inner.transactions.park_message(&message).await {
        tracing::error!(charger = %ctx.conn.charger_id, error = %e, "could not park a message");
    }
}

fn id_tag_info(v: &TagVerdict) -> IdTagInfo {
    IdTagInfo {
        expiry_date: v.expires_at.map(Timestamp),
        parent_id_tag: v
            .parent_id_tag
            .as_deref()
            .and_then(|p| crate::messages::types::IdToken::new(p).ok()),
        status: authorization_status(v.status),
    }
}

fn authorization_status(s: TagStatus) -> AuthorizationStatus {
    match s {
        TagStatus::Accepted => AuthorizationStatus::Accepted,
        TagStatus::Blocked => AuthorizationStatus::Blocked,
        TagStatus::Expired => AuthorizationStatus::Expired,
        TagStatus::Invalid => AuthorizationStatus::Invalid,
        TagStatus::ConcurrentTx => AuthorizationStatus::ConcurrentTx,
    }
}

/// A connector number as chargers send it: `Ok(None)` for 0 (the charger itself / its main
/// meter), `Err` for numbers no connector can have.
fn connector(n: i64) -> Result<Option<ConnectorNumber>, String> {
    if n == 0 {
        return Ok(None);
    }
    u32::try_from(n)
        .ok()
        .and_then(|n| ConnectorNumber::new(n).ok())
        .map(Some)
        .ok_or_else(|| format!("connectorId {n} cannot exist"))
}

/// OCPP 1.6 §4.1 Authorize: accept tags bound to a pending session of this charger or
/// configured by the operator; unknown tags are Invalid.
async fn authorize(ctx: &Ctx<'_>, req: AuthorizeRequest) -> Result<AuthorizeResponse, Failure> {
    let verdict = ctx
        .cs
        .inner
        .transactions
        .authorize_tag(&ctx.conn.charger_id, req.id_tag.as_str(), ctx.now)
        .await
        .map_err(|e| Failure::store(Action::Authorize, &e))?;
    Ok(AuthorizeResponse {
        id_tag_info: id_tag_info(&verdict),
    })
}

/// OCPP 1.6 §4.2 BootNotification: provisioned chargers are Accepted with our heartbeat
/// interval and their boot data recorded; a charger the store no longer knows is Rejected.
async fn boot_notification(
    ctx: &Ctx<'_>,
    req: BootNotificationRequest,
) -> Result<BootNotificationResponse, Failure> {
    let interval = i64::try_from(ctx.cs.config().heartbeat_interval.as_secs()).unwrap_or(i64::MAX);
    let boot = BootInfo {
        vendor: req.charge_point_vendor.into_inner(),
        model: req.charge_point_model.into_inner(),
        // chargeBoxSerialNumber is deprecated in 1.6 but still sent by older firmware.
        serial: req
            .charge_point_serial_number
            .or(req.charge_box_serial_number)
            .map(|s| s.into_inner()),
        firmware: req.firmware_version.map(|s| s.into_inner()),
    };
    let status = match ctx
        .cs
        .inner
        .chargers
        .record_boot(&ctx.conn.charger_id, &boot, ctx.now)
        .await
    {
        Ok(()) => {
            ctx.conn.set_accepted(true);
            RegistrationStatus::Accepted
        }
        Err(StoreError::NotFound) => {
            ctx.conn.set_accepted(false);
            RegistrationStatus::Rejected
        }
        Err(e) => return Err(Failure::store(Action::BootNotification, &e)),
    };
    tracing::info!(charger = %ctx.conn.charger_id, vendor = %boot.vendor, model = %boot.model,
        firmware = ?boot.firmware, %status, "BootNotification");
    Ok(BootNotificationResponse {
        status,
        current_time: Timestamp(ctx.now),
        // R-B1: the heartbeat period when accepted, the retry wait otherwise.
        interval,
    })
}

/// OCPP 1.6 §4.3 DataTransfer: no vendor extensions are handled (R-D1: a CALLRESULT, not a
/// CALLERROR).
fn data_transfer(ctx: &Ctx<'_>, req: &DataTransferRequest) -> DataTransferResponse {
    tracing::info!(charger = %ctx.conn.charger_id, vendor = %req.vendor_id,
        message_id = ?req.message_id.as_ref().map(|m| m.as_str()), "DataTransfer from unknown vendor");
    DataTransferResponse {
        status: DataTransferStatus::UnknownVendorId,
        data: None,
    }
}

/// OCPP 1.6 §4.4 DiagnosticsStatusNotification: logged.
fn diagnostics_status_notification(
    ctx: &Ctx<'_>,
    req: &DiagnosticsStatusNotificationRequest,
) -> DiagnosticsStatusNotificationResponse {
    tracing::info!(charger = %ctx.conn.charger_id, status = %req.status, "DiagnosticsStatusNotification");
    DiagnosticsStatusNotificationResponse {}
}

/// OCPP 1.6 §4.5 FirmwareStatusNotification: logged.
fn firmware_status_notification(
    ctx: &Ctx<'_>,
    req: &FirmwareStatusNotificationRequest,
) -> FirmwareStatusNotificationResponse {
    tracing::info!(charger = %ctx.conn.charger_id, status = %req.status, "FirmwareStatusNotification");
    FirmwareStatusNotificationResponse {}
}

/// OCPP 1.6 §4.6 Heartbeat: our time, UTC with milliseconds. Liveness is recorded for every
/// message by the connection, not here (R-B4).
fn heartbeat(ctx: &Ctx<'_>, _req: &HeartbeatRequest) -> HeartbeatResponse {
    HeartbeatResponse {
        current_time: Timestamp(ctx.now),
    }
}

/// OCPP 1.6 §4.7 MeterValues: samples are stored with their transaction when it is ours;
/// unreadable values and impossible connectors are parked, and the answer is always `{}`.
async fn meter_values(
    ctx: &Ctx<'_>,
    req: MeterValuesRequest,
    raw: &Value,
) -> Result<MeterValuesResponse, Failure> {
    let mut problems = Vec::new();
    let connector = connector(req.connector_id).unwrap_or_else(|p| {
        problems.push(p);
        None
    });
    let converted = meter::convert(&req.meter_value);
    problems.extend(converted.problems);
    if !converted.samples.is_empty() {
        let report = MeterReport {
            charger_id: ctx.conn.charger_id.clone(),
            connector,
            transaction_id: req.transaction_id,
            samples: converted.samples,
            received_at: ctx.now,
        };
        let recorded = ctx
            .cs
            .inner
            .transactions
            .record_meter_values(&report)
            .await
            .map_err(|e| Failure::store(Action::MeterValues, &e))?;
        if !recorded.linked && req.transaction_id.is_some() {
            tracing::info!(charger = %ctx.conn.charger_id, transaction = ?req.transaction_id,
                "MeterValues for a transaction we do not know; kept unlinked");
        }
    }
    if !problems.is_empty() {
        park(ctx, Action::MeterValues, raw, problems.join("; ")).await;
    }
    Ok(MeterValuesResponse {})
}

/// OCPP 1.6 §4.8 StartTransaction: we issue the transaction id (never 0, persisted, the same
/// one for a retransmitted start, R-T1/R-T6) and re-judge the tag (R-T2). An impossible
/// connector or meter reading is parked, not refused.
async fn start_transaction(
    ctx: &Ctx<'_>,
    req: StartTransactionRequest,
    raw: &Value,
) -> Result<StartTransactionResponse, Failure> {
    let mut problems = Vec::new();
    let connector = connector(req.connector_id)
        .and_then(|c| c.ok_or_else(|| "connectorId 0 cannot start a transaction".to_owned()))
        .map_err(|p| problems.push(p))
        .ok();
    if req.meter_start < 0 {
        problems.push(format!("negative meterStart {}", req.meter_start));
    }
    let start = TransactionStart {
        charger_id: ctx.conn.charger_id.clone(),
        connector,
        id_tag: req.id_tag.into_inner(),
        meter_start: Wh(req.meter_start),
        // Billing follows the charger's clock (OCPP 1.6 §3.7: old timestamps are processed as
        // normal).
        started_at: req.timestamp.0,
        reservation_id: req.reservation_id,
        received_at: ctx.now,
    };
    let recorded = ctx
        .cs
        .inner
        .transactions
        .start_transaction(&start)
        .await
        .map_err(|e| Failure::store(Action::StartTransaction, &e))?;
    if recorded.duplicate {
        tracing::info!(charger = %ctx.conn.charger_id, transaction = %recorded.transaction_id,
            "retransmitted StartTransaction; answering with the same id");
    } else if !problems.is_empty() {
        park(ctx, Action::StartTransaction, raw, problems.join("; ")).await;
    }
    Ok(StartTransactionResponse {
        id_tag_info: id_tag_info(&recorded.verdict),
        transaction_id: recorded.transaction_id.get(),
    })
}

/// OCPP 1.6 §4.9 StatusNotification: drives the connector status model; connector 0 is the
/// whole charger. A connector we do not know is answered and parked, never refused.
async fn status_notification(
    ctx: &Ctx<'_>,
    req: StatusNotificationRequest,
    raw: &Value,
) -> Result<StatusNotificationResponse, Failure> {
    let connector = match connector(req.connector_id) {
        Ok(c) => c,
        Err(problem) => {
            park(ctx, Action::StatusNotification, raw, problem).await;
            return Ok(StatusNotificationResponse {});
        }
    };
    // Absent timestamp: the time of receipt (§4.9). Charger clocks drift, so the time is kept
    // within this connection's life: a status sent now reflects the charger now, and must win
    // over the offline mark made when its previous connection ended (which is earlier than
    // this connection) and must not, by a clock running ahead, shadow a later offline mark.
    let reported = req.timestamp.map_or(ctx.now, |t| t.0);
    let at = reported.max(ctx.conn.connected_at).min(ctx.now);
    let error = (req.error_code != ChargePointErrorCode::NoError).then(|| {
        let mut e = req.error_code.as_str().to_owned();
        for detail in [
            req.info.as_ref().map(|s| s.as_str()),
            req.vendor_id.as_ref().map(|s| s.as_str()),
            req.vendor_error_code.as_ref().map(|s| s.as_str()),
        ]
        .into_iter()
        .flatten()
        {
            e.push_str(": ");
            e.push_str(detail);
        }
        e
    });
    let status = ReportedStatus {
        connector,
        status: req.status.to_domain(),
        error,
        at,
    };
    match ctx
        .cs
        .inner
        .chargers
        .record_status(&ctx.conn.charger_id, &status)
        .await
    {
        Ok(changes) => {
            for c in &changes {
                tracing::debug!(connector = %c.connector_id, from = %c.previous,
                    to = %c.state.status, seq = c.state.status_seq, "connector status changed");
            }
        }
        Err(StoreError::NotFound) => {
            park(
                ctx,
                Action::StatusNotification,
                raw,
                format!("connector {} is not provisioned", req.connector_id),
            )
            .await;
        }
        Err(e) => return Err(Failure::store(Action::StatusNotification, &e)),
    }
    Ok(StatusNotificationResponse {})
}

fn stop_reason(r: Option<Reason>) -> StopReason {
    // Absent means Local (OCPP 1.6 §7.39).
    match r.unwrap_or(Reason::Local) {
        Reason::Local => StopReason::Local,
        Reason::Remote => StopReason::Remote,
        Reason::EvDisconnected => StopReason::EvDisconnected,
        Reason::DeAuthorized => StopReason::DeAuthorized,
        Reason::EmergencyStop => StopReason::EmergencyStop,
        Reason::HardReset => StopReason::HardReset,
        Reason::SoftReset => StopReason::SoftReset,
        Reason::PowerLoss => StopReason::PowerLoss,
        Reason::Reboot => StopReason::Reboot,
        Reason::UnlockCommand => StopReason::UnlockCommand,
        Reason::Other => StopReason::Other,
    }
}

/// OCPP 1.6 §4.10 StopTransaction: always answered (R-T5). A stop for a transaction we did not
/// issue is recorded as an orphan; a repeated stop changes nothing and gets the same answer;
/// `transactionData` is kept with the transaction.
async fn stop_transaction(
    ctx: &Ctx<'_>,
    req: StopTransactionRequest,
    raw: &Value,
) -> Result<StopTransactionResponse, Failure> {
    let mut problems = Vec::new();
    let converted = meter::convert(req.transaction_data.as_deref().unwrap_or_default());
    problems.extend(converted.problems);
    let stop = TransactionStop {
        charger_id: ctx.conn.charger_id.clone(),
        transaction_id: req.transaction_id,
        id_tag: req.id_tag.as_ref().map(|t| t.as_str().to_owned()),
        meter_stop: Wh(req.meter_stop),
        stopped_at: req.timestamp.0,
        reason: stop_reason(req.reason),
        samples: converted.samples,
        received_at: ctx.now,
    };
    let recorded = ctx
        .cs
        .inner
        .transactions
        .stop_transaction(&stop)
        .await
        .map_err(|e| Failure::store(Action::StopTransaction, &e))?;
    let transaction = match &recorded {
        StopRecorded::Stopped(tx) | StopRecorded::AlreadyStopped(tx) => Some(tx),
        StopRecorded::Orphan => {
            tracing::warn!(charger = %ctx.conn.charger_id, transaction = req.transaction_id,
                "StopTransaction for a transaction we did not issue; recorded as orphan");
            None
        }
    };
    if let StopRecorded::Stopped(tx) = &recorded {
        if req.meter_stop < 0 {
            problems.push(format!(
                "transaction {}: negative meterStop {}",
                tx.id, req.meter_stop
            ));
        } else if req.meter_stop < tx.meter_start.0 {
            problems.push(format!(
                "transaction {}: meterStop {} below meterStart {}",
                tx.id, req.meter_stop, tx.meter_start.0
            ));
        }
    }
    if !problems.is_empty() && !matches!(recorded, StopRecorded::AlreadyStopped(_)) {
        park(ctx, Action::StopTransaction, raw, problems.join("; ")).await;
    }
    // idTagInfo only when the stop names a tag (§4.10). The tag that started the transaction
    // keeps the verdict it got then; another tag is judged now. Failing to judge it must not
    // fail the stop, so the field is then left out.
    let id_tag_info = match &req.id_tag {
        None => None,
        Some(tag) => match transaction.filter(|tx| tag.eq_ignore_case(&tx.id_tag)) {
            Some(tx) => Some(IdTagInfo::status(authorization_status(tx.tag_status))),
            None => ctx
                .cs
                .inner
                .transactions
                .authorize_tag(&ctx.conn.charger_id, tag.as_str(), ctx.now)
                .await
                .map(|v| id_tag_info(&v))
                .map_err(|e| tracing::error!(error = %e, "could not judge the stop's id tag"))
                .ok(),
        },
    };
    Ok(StopTransactionResponse { id_tag_info })
}
