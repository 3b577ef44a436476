//! The audit trail: every console action is recorded (who, what, which object, details without
//! secrets), and admins read it back here, newest first.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use openpile_core::operator::AuditEntry;
use openpile_core::page::PageRequest;
use serde::Deserialize;

use crate::ConsoleState;
use crate::auth::Staff;
use crate::error::ConsoleError;
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::page::{Chrome, fmt_time, render, url_encode};

/// Appends one line to the audit trail.
pub(crate) async fn record(
    state: &ConsoleState,
    actor: String,
    action: &str,
    object: String,
    details: serde_json::Value,
) -> Result<(), ConsoleError> {
    state
        .operators
        .append_audit(&AuditEntry {
            id: state.ids.next(),
            at: state.clock.now(),
            actor,
            action: action.to_owned(),
            object,
            details: details.to_string(),
        })
        .await?;
    Ok(())
}

struct Row {
    at: String,
    actor: String,
    action: String,
    object: String,
    details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    t: &'static Messages,
    chrome: Chrome,
    entries: Vec<Row>,
    /// The next page's cursor, already URL-encoded.
    next: Option<String>,
    paged: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    after: Option<String>,
}

const PAGE_SIZE: u32 = 50;

/// `GET /console/audit`
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ViewAudit)?;
    let after = q.after.filter(|a| !a.is_empty());
    let paged = after.is_some();
    let page = state
        .operators
        .list_audit(&PageRequest {
            limit: PAGE_SIZE,
            after,
        })
        .await?;
    let entries = page
        .items
        .into_iter()
        .map(|e| Row {
            at: fmt_time(&state, e.at),
            actor: e.actor,
            action: e.action,
            object: e.object,
            details: e.details,
        })
        .collect();
    render(
        StatusCode::OK,
        &AuditPage {
            t: staff.t(),
            chrome: Chrome::for_staff(&staff, Some(Screen::Audit), "/console/audit"),
            entries,
            next: page.next.as_deref().map(url_encode),
            paged,
        },
    )
}
