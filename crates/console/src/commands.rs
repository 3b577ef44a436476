//! Remote commands to a charger (reset, unlock, change availability, trigger a status report)
//! through the `ChargerGateway`, and the OCPP password reset. Each shows the charger's own
//! answer or exactly why there was none, and each is audited. Only network managers (admin,
//! operations) may use them.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use openpile_core::ids::ConnectorNumber;
use openpile_core::ports::{ChargerCommand, CommandReply, GatewayError, TriggerableMessage};
use serde_json::json;

use crate::ConsoleState;
use crate::audit;
use crate::auth::{Staff, redirect};
use crate::error::ConsoleError;
use crate::form::FormData;
use crate::i18n::{Messages, fill};
use crate::nav::{Permission, Screen};
use crate::network::{all_connectors, charger_id};
use crate::nonce::claim_or_return;
use crate::page::{Chrome, render};
use openpile_secrets as secrets;

/// `GET /console/chargers/{id}/commands` and `…/password`: the forms live on the charger page.
pub(crate) async fn back_to_charger(Path(id): Path<String>) -> Response {
    match charger_id(&id) {
        Ok(id) => redirect(&format!("/console/chargers/{id}")),
        Err(_) => redirect("/console/stations"),
    }
}

#[derive(Template)]
#[template(path = "command_result.html")]
struct ResultPage {
    t: &'static Messages,
    chrome: Chrome,
    charger_id: String,
    command: &'static str,
    accepted: bool,
    outcome: String,
    detail: String,
}

/// Reads the command form. The selects offer only valid values, so anything else is a
/// malformed request rather than a field error.
fn parse_command(
    form: &FormData,
    connectors: &[u32],
    t: &'static Messages,
) -> Result<(ChargerCommand, &'static str), ConsoleError> {
    let bad = |what: &str| ConsoleError::BadRequest(format!("command form: {what}"));
    let connector = |zero_is_charger: bool| -> Result<Option<ConnectorNumber>, ConsoleError> {
        let n: u32 = form
            .get("connector")
            .parse()
            .map_err(|_| bad("connector"))?;
        if n == 0 && zero_is_charger {
            return Ok(None);
        }
        if !connectors.contains(&n) {
            return Err(bad(t.cmd_bad_connector));
        }
        ConnectorNumber::new(n)
            .map(Some)
            .map_err(|_| bad("connector"))
    };
    Ok(match form.get("command") {
        "reset" => {
            let hard = match form.get("kind") {
                "soft" => false,
                "hard" => true,
                _ => return Err(bad("kind")),
            };
            (ChargerCommand::Reset { hard }, t.cmd_reset)
        }
        "unlock" => {
            let connector = connector(false)?.ok_or_else(|| bad("connector"))?;
            (ChargerCommand::UnlockConnector { connector }, t.cmd_unlock)
        }
        "availability" => {
            let operative = match form.get("availability") {
                "operative" => true,
                "inoperative" => false,
                _ => return Err(bad("availability")),
            };
            (
                ChargerCommand::ChangeAvailability {
                    connector: connector(true)?,
                    operative,
                },
                t.cmd_availability,
            )
        }
        "trigger_status" => (
            ChargerCommand::TriggerMessage {
                message: TriggerableMessage::StatusNotification,
                connector: connector(true)?,
            },
            t.cmd_trigger_status,
        ),
        _ => return Err(bad("command")),
    })
}

fn command_details(cmd: &ChargerCommand) -> serde_json::Value {
    match cmd {
        ChargerCommand::Reset { hard } => json!({ "hard": hard }),
        ChargerCommand::UnlockConnector { connector } => json!({ "connector": connector.get() }),
        ChargerCommand::ChangeAvailability {
            connector,
            operative,
        } => json!({ "connector": connector.map(ConnectorNumber::get), "operative": operative }),
        ChargerCommand::TriggerMessage { connector, .. } => {
            json!({ "message": "StatusNotification", "connector": connector.map(ConnectorNumber::get) })
        }
        _ => json!({}),
    }
}

/// What to tell the operator, and what to write in the audit trail.
fn outcome(
    result: &Result<CommandReply, GatewayError>,
    t: &'static Messages,
) -> (bool, String, String, serde_json::Value) {
    match result {
        Ok(CommandReply::Status(status)) => {
            let accepted = result.as_ref().is_ok_and(CommandReply::is_accepted);
            let words = if accepted {
                t.cmd_accepted
            } else {
                t.cmd_refused
            };
            (
                accepted,
                fill(words, status),
                String::new(),
                json!({ "status": status }),
            )
        }
        Ok(CommandReply::Configuration { .. }) => (
            true,
            fill(t.cmd_accepted, "Configuration"),
            String::new(),
            json!({ "status": "Configuration" }),
        ),
        Err(GatewayError::Offline) => (
            false,
            t.cmd_offline.to_owned(),
            String::new(),
            json!({ "error": "offline" }),
        ),
        Err(GatewayError::Timeout) => (
            false,
            t.cmd_timeout.to_owned(),
            String::new(),
            json!({ "error": "timeout" }),
        ),
        Err(GatewayError::NotAccepted) => (
            false,
            t.cmd_not_booted.to_owned(),
            String::new(),
            json!({ "error": "not_booted" }),
        ),
        Err(GatewayError::CallError { code, description }) => (
            false,
            fill(t.cmd_call_error, code),
            description.clone(),
            json!({ "error": "call_error", "code": code, "description": description }),
        ),
    }
}

/// `POST /console/chargers/{id}/commands`
pub(crate) async fn send(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageNetwork)?;
    let t = staff.t();
    let id = charger_id(&id)?;
    state.network.get_charger(&id).await?;
    let numbers: Vec<u32> = all_connectors(
        &state,
        &openpile_core::ports::ConnectorFilter {
            charger_id: Some(id.clone()),
            ..Default::default()
        },
    )
    .await?
    .iter()
    .map(|c| c.connector.number.get())
    .collect();
    let (command, label) = parse_command(&form, &numbers, t)?;
    let guard = claim_or_return!(&state.nonces, &form);

    let result = tokio::time::timeout(
        state.config.command_timeout,
        state.gateway.send(&id, command.clone()),
    )
    .await
    .unwrap_or(Err(GatewayError::Timeout));
    let (accepted, outcome_text, detail, result_json) = outcome(&result, t);
    audit::record(
        &state,
        staff.actor(),
        "charger.command",
        format!("charger:{id}"),
        json!({
            "command": command.action(),
            "params": command_details(&command),
            "result": result_json,
            "via": "console",
        }),
    )
    .await?;
    guard.complete(None);

    let path = format!("/console/chargers/{id}");
    render(
        StatusCode::OK,
        &ResultPage {
            t,
            chrome: Chrome::for_staff(&staff, Some(Screen::Stations), &path),
            charger_id: id.to_string(),
            command: label,
            accepted,
            outcome: outcome_text,
            detail,
        },
    )
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    t: &'static Messages,
    chrome: Chrome,
    charger_id: String,
    password: String,
}

/// `POST /console/chargers/{id}/password`: a new random OCPP password, shown once.
pub(crate) async fn reset_password(
    State(state): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageNetwork)?;
    let id = charger_id(&id)?;
    state.network.get_charger(&id).await?;
    let guard = claim_or_return!(&state.nonces, &form);
    let password = secrets::generate_password(24);
    let hash = secrets::hash_password_blocking(password.clone())
        .await
        .map_err(ConsoleError::internal)?;
    state.network.set_charger_password(&id, &hash).await?;
    audit::record(
        &state,
        staff.actor(),
        "charger.password_reset",
        format!("charger:{id}"),
        json!({ "generated": true, "via": "console" }),
    )
    .await?;
    guard.complete(None);
    let path = format!("/console/chargers/{id}");
    render(
        StatusCode::OK,
        &PasswordPage {
            t: staff.t(),
            chrome: Chrome::for_staff(&staff, Some(Screen::Stations), &path),
            charger_id: id.to_string(),
            password,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::EN;

    #[test]
    fn command_forms_become_charger_commands() {
        let f = |pairs: &[(&str, &str)]| parse_command(&FormData::from_pairs(pairs), &[1, 2], &EN);
        assert_eq!(
            f(&[("command", "reset"), ("kind", "hard")]).unwrap().0,
            ChargerCommand::Reset { hard: true }
        );
        assert_eq!(
            f(&[
                ("command", "availability"),
                ("connector", "0"),
                ("availability", "inoperative")
            ])
            .unwrap()
            .0,
            ChargerCommand::ChangeAvailability {
                connector: None,
                operative: false
            }
        );
        assert!(f(&[("command", "unlock"), ("connector", "0")]).is_err());
        assert!(f(&[("command", "unlock"), ("connector", "3")]).is_err());
        assert!(f(&[("command", "format_disk")]).is_err());
    }

    #[test]
    fn gateway_errors_are_told_precisely() {
        let (ok, text, detail, _) = outcome(
            &Err(GatewayError::CallError {
                code: "NotSupported".into(),
                description: "no such connector".into(),
            }),
            &EN,
        );
        assert!(!ok);
        assert!(text.contains("NotSupported"));
        assert_eq!(detail, "no such connector");
        let (ok, text, _, _) = outcome(&Ok(CommandReply::Status("Rejected".into())), &EN);
        assert!(!ok && text.contains("Rejected"));
        let (ok, _, _, _) = outcome(&Ok(CommandReply::Status("Unlocked".into())), &EN);
        assert!(ok);
    }
}
