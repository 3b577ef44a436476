//! One charger's WebSocket connection: a single task that reads frames, answers the charger's
//! CALLs in order, sends our CALLs one at a time (OCPP-J §4.1.1) with a timeout each, and on
//! the way out fails what is pending and marks the charger offline unless a newer connection
//! replaced it.
//!
//! Flood control is structural: a charger's CALLs are handled one after the other, and while
//! one is handled nothing more is read from its socket, so a flooding charger is slowed down
//! by TCP itself and costs no more memory than its socket buffers.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use openpile_core::ports::GatewayError;

use crate::central::{CentralSystem, CloseReason, Connection, OutgoingCall};
use crate::handlers::{self, Ctx};
use crate::messages::frame::{ErrorCode, Frame, FrameError, MessageId, call_error_text};

/// Our CALL on the wire, waiting for its answer.
struct InFlight {
    id: MessageId,
    reply: oneshot::Sender<Result<Value, GatewayError>>,
    deadline: Instant,
}

/// Why the session loop ended.
enum Ended {
    /// The charger closed or the socket failed.
    Gone,
    /// We close with this code and reason.
    Close(u16, &'static str),
}

/// Runs a registered connection to its end.
pub(crate) async fn serve(
    cs: CentralSystem,
    conn: Arc<Connection>,
    mut calls: mpsc::Receiver<Box<OutgoingCall>>,
    mut socket: WebSocket,
) {
    tracing::info!(charger = %conn.charger_id, "charger connected");
    let ended = tokio::select! {
        ended = session(&cs, &conn, &mut calls, &mut socket) => ended,
        reason = conn.closed() => match reason {
            CloseReason::Replaced => Ended::Close(close_code::NORMAL, "replaced by a newer connection"),
            CloseReason::Silent => Ended::Close(close_code::AWAY, "no message within the liveness timeout"),
            CloseReason::Shutdown | CloseReason::None => Ended::Close(close_code::AWAY, "server closing the connection"),
        },
    };
    if let Ended::Close(code, reason) = ended {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        // Best effort: a dead peer must not hold the task.
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            socket.send(Message::Close(Some(frame))),
        )
        .await;
    }
    drop(socket);
    // Calls still queued will never be sent. The one in flight, if any, was dropped with the
    // session: its caller sees the channel close, which also reads as Offline.
    calls.close();
    while let Ok(call) = calls.try_recv() {
        let _ = call.reply.send(Err(GatewayError::Offline));
    }
    if cs.unregister(&conn) {
        let now = cs.inner.clock.now();
        tracing::info!(charger = %conn.charger_id, "charger disconnected; marking offline");
        if let Err(e) = cs.inner.chargers.mark_offline(&conn.charger_id, now).await {
            tracing::error!(charger = %conn.charger_id, error = %e, "could not mark the charger offline");
        }
    } else {
        tracing::info!(charger = %conn.charger_id, "replaced connection closed");
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn session(
    cs: &CentralSystem,
    conn: &Connection,
    calls: &mut mpsc::Receiver<Box<OutgoingCall>>,
    socket: &mut WebSocket,
) -> Ended {
    let mut in_flight: Option<InFlight> = None;
    loop {
        let deadline = in_flight.as_ref().map(|f| f.deadline);
        tokio::select! {
            incoming = socket.recv() => {
                let message = match incoming {
                    None => return Ended::Gone,
                    Some(Err(e)) => return read_failed(conn, &e),
                    Some(Ok(message)) => message,
                };
                let now = cs.inner.clock.now();
                conn.touch(now);
                if conn.seen_write_due(now, cs.inner.config.seen_write_interval)
                    && let Err(e) = cs.inner.chargers.record_seen(&conn.charger_id, now).await
                {
                    tracing::warn!(charger = %conn.charger_id, error = %e, "could not record liveness");
                }
                match message {
                    Message::Text(text) => {
                        let answer = on_text(cs, conn, text.as_str(), &mut in_flight).await;
                        if let Some(answer) = answer
                            && socket.send(Message::text(answer)).await.is_err()
                        {
                            return Ended::Gone;
                        }
                    }
                    // OCPP-J §4.1.2: JSON in text frames only.
                    Message::Binary(_) => {
                        tracing::warn!(charger = %conn.charger_id, "binary frame; closing");
                        return Ended::Close(close_code::UNSUPPORTED, "OCPP-J uses text frames");
                    }
                    Message::Close(_) => return Ended::Gone,
                    // tungstenite answers pings itself; both still prove the charger alive.
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            call = calls.recv(), if in_flight.is_none() => {
                let Some(call) = call else {
                    return Ended::Close(close_code::AWAY, "server closing the connection");
                };
                if call.reply.is_closed() {
                    continue; // The caller gave up while it waited in line.
                }
                let id = MessageId::random();
                let text = Frame::Call { id: id.clone(), action: call.action, payload: call.payload }.to_text();
                if socket.send(Message::text(text)).await.is_err() {
                    let _ = call.reply.send(Err(GatewayError::Offline));
                    return Ended::Gone;
                }
                in_flight = Some(InFlight {
                    id,
                    reply: call.reply,
                    deadline: Instant::now() + cs.inner.config.call_timeout,
                });
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                if let Some(call) = in_flight.take() {
                    tracing::warn!(charger = %conn.charger_id, id = %call.id, "CALL timed out");
                    let _ = call.reply.send(Err(GatewayError::Timeout));
                }
            }
        }
    }
}

fn read_failed(conn: &Connection, e: &axum::Error) -> Ended {
    tracing::info!(charger = %conn.charger_id, error = %e, "WebSocket read failed");
    // An oversize message or frame (our cap) is worth telling the charger: close 1009.
    let too_big = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tungstenite::Error>())
        .is_some_and(|t| matches!(t, tungstenite::Error::Capacity(_)));
    if too_big {
        Ended::Close(close_code::SIZE, "message too big")
    } else {
        Ended::Gone
    }
}

/// Handles one text frame; returns the text to answer with, if any.
async fn on_text(
    cs: &CentralSystem,
    conn: &Connection,
    text: &str,
    in_flight: &mut Option<InFlight>,
) -> Option<String> {
    match Frame::parse(text) {
        Ok(Frame::Call {
            id,
            action,
            payload,
        }) => {
            let ctx = Ctx {
                cs,
                conn,
                now: cs.inner.clock.now(),
            };
            // Boxed so the connection's idle future stays small: handler state exists only
            // while a CALL is being handled.
            let answer = Box::pin(handlers::dispatch(&ctx, action, &payload)).await;
            Some(match answer {
                Ok(result) => Frame::CallResult {
                    id,
                    payload: result,
                }
                .to_text(),
                Err(failure) => {
                    tracing::info!(charger = %conn.charger_id, %action, code = %failure.code,
                        description = %failure.description, "answering with CALLERROR");
                    call_error_text(id.as_str(), failure.code, &failure.description)
                }
            })
        }
        Ok(Frame::CallResult { id, payload }) => {
            complete(conn, in_flight, &id, Ok(payload));
            None
        }
        Ok(Frame::CallError {
            id,
            code,
            description,
            ..
        }) => {
            let error = GatewayError::CallError {
                code: code.as_str().to_owned(),
                description,
            };
            complete(conn, in_flight, &id, Err(error));
            None
        }
        Err(FrameError::Rejected {
            id,
            code,
            description,
        }) => {
            tracing::info!(charger = %conn.charger_id, %code, %description, "rejecting a malformed CALL");
            Some(call_error_text(&id, code, &description))
        }
        Err(FrameError::BadReply { id, description }) => {
            if let Ok(id) = MessageId::new(id) {
                let error = GatewayError::CallError {
                    code: ErrorCode::FormationViolation.as_str().to_owned(),
                    description: format!("malformed reply: {description}"),
                };
                complete(conn, in_flight, &id, Err(error));
            }
            None
        }
        Err(FrameError::UnknownMessageType(t)) => {
            tracing::debug!(charger = %conn.charger_id, message_type = %t, "ignoring unknown message type");
            None
        }
        Err(FrameError::Unanswerable(why)) => {
            tracing::warn!(charger = %conn.charger_id, %why, "dropping a frame without a usable id");
            None
        }
    }
}

/// Hands a reply to the CALL it answers; replies to anything else (late, after a timeout, or
/// never asked) are dropped.
fn complete(
    conn: &Connection,
    in_flight: &mut Option<InFlight>,
    id: &MessageId,
    result: Result<Value, GatewayError>,
) {
    if in_flight.as_ref().is_some_and(|f| &f.id == id) {
        if let Some(call) = in_flight.take() {
            let _ = call.reply.send(result);
        }
    } else {
        tracing::info!(charger = %conn.charger_id, %id, "reply to no pending CALL; dropped");
    }
}
