//! The WebSocket endpoint `GET /ocpp/{charge_point_id}`: identifies the charger from the
//! (percent-decoded) last path segment, authenticates it (Security Profile 1/2: HTTP Basic,
//! username = identity), negotiates the `ocpp1.6` subprotocol and hands the socket to its
//! connection task. Rejections happen before the upgrade: unknown charger 404, bad or missing
//! credentials, disabled or retired charger 401 (OCPP-J §5.2, security whitepaper §2).

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use openpile_core::error::StoreError;
use openpile_core::ids::ChargerId;
use openpile_core::network::Registration;

use crate::auth::BasicCredentials;
use crate::central::CentralSystem;
use crate::connection;

/// The only subprotocol we speak (OCPP-J §3.1.2; names are exact and lower-case).
pub const SUBPROTOCOL: &str = "ocpp1.6";

/// The router serving `/ocpp/{charge_point_id}`; merge it at the root of the server's router.
pub fn router(cs: CentralSystem) -> Router {
    Router::new()
        .route("/ocpp/{charge_point_id}", get(upgrade))
        .with_state(cs)
}

/// Why an upgrade is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    UnknownCharger,
    Unauthorized,
    StoreUnavailable,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::UnknownCharger => {
                (StatusCode::NOT_FOUND, "unknown charge point").into_response()
            }
            Refusal::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="OpenPile OCPP", charset="UTF-8""#),
                )],
                "charge point authentication failed",
            )
                .into_response(),
            Refusal::StoreUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response()
            }
        }
    }
}

async fn upgrade(
    State(cs): State<CentralSystem>,
    Path(identity): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    match admit(&cs, &identity, &headers).await {
        Err(refusal) => {
            tracing::info!(charger = %identity, ?refusal, "charger refused at the upgrade");
            refusal.into_response()
        }
        Ok((charger, accepted)) => {
            let config = cs.config();
            let ws = ws
                .read_buffer_size(config.read_buffer_size)
                // Each message is written out at once: OCPP answers are small and go one by one.
                .write_buffer_size(0)
                .max_write_buffer_size(config.max_message_size.saturating_mul(2))
                .max_message_size(config.max_message_size)
                .max_frame_size(config.max_message_size);
            let offered = ws
                .requested_protocols()
                .any(|p| p.as_bytes() == SUBPROTOCOL.as_bytes());
            if !offered {
                // OCPP-J §3.1.2: complete the handshake without Sec-WebSocket-Protocol, then
                // close at once. Clients that asked for other protocols fail their handshake.
                tracing::info!(%charger, "no ocpp1.6 subprotocol offered; closing");
                return ws.on_upgrade(|mut socket| async move {
                    let frame = CloseFrame {
                        code: close_code::PROTOCOL,
                        reason: "subprotocol ocpp1.6 required".into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                });
            }
            ws.protocols([SUBPROTOCOL])
                .on_upgrade(move |socket| async move {
                    let (conn, calls) = cs.register(charger, accepted);
                    connection::serve(cs, conn, calls, socket).await;
                })
        }
    }
}

/// Checks identity and credentials; on success, the charger and whether it was accepted
/// before (registration survives reconnects, OCPP-J §5.4).
async fn admit(
    cs: &CentralSystem,
    identity: &str,
    headers: &HeaderMap,
) -> Result<(ChargerId, bool), Refusal> {
    let charger = ChargerId::parse(identity).map_err(|_| Refusal::UnknownCharger)?;
    let credentials = match cs.inner.chargers.charger_credentials(&charger).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Err(Refusal::UnknownCharger),
        Err(e) => {
            tracing::error!(%charger, error = %e, "could not read charger credentials");
            return Err(Refusal::StoreUnavailable);
        }
    };
    if credentials.retired || credentials.registration == Registration::Disabled {
        return Err(Refusal::Unauthorized);
    }
    let hash = credentials
        .password_hash
        .as_deref()
        .ok_or(Refusal::Unauthorized)?;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(BasicCredentials::parse)
        .ok_or(Refusal::Unauthorized)?;
    // A00.FR.203: the username is the charge point identity.
    if basic.username != identity {
        return Err(Refusal::Unauthorized);
    }
    if !cs
        .inner
        .passwords
        .verify(&charger, hash, &basic.password)
        .await
    {
        return Err(Refusal::Unauthorized);
    }
    Ok((
        charger,
        credentials.registration == Registration::Registered,
    ))
}
