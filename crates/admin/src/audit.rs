//! The audit trail: every admin write records who did what to which object, and admins can read
//! it back, newest first. Details never carry secrets (passwords, tokens).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use openpile_core::operator::AuditEntry;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AdminState;
use crate::auth::OperatorAuth;
use crate::error::{AdminError, Problem};
use crate::extract::{PageDto, PageParams, QueryParams};

/// Appends one line to the audit trail.
pub(crate) async fn record(
    state: &AdminState,
    actor: String,
    action: &str,
    object: String,
    details: serde_json::Value,
) -> Result<(), AdminError> {
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

/// One line of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193b2a4-6c1e-7d1a-9f1e-3c2b1a0f9e8d",
    "at": "2026-11-30T08:15:00.123Z",
    "actor": "operator:0193b2a4-0000-7000-8000-000000000001",
    "action": "charger.password_reset",
    "object": "charger:SH0001-01",
    "details": {"generated": true}
}))]
pub struct AuditEntryDto {
    pub id: String,
    pub at: DateTime<Utc>,
    /// `operator:<id>`, `partner:<id>` or `system`.
    pub actor: String,
    /// e.g. `station.create`, `charger.password_reset`.
    pub action: String,
    /// e.g. `station:SH-0001`.
    pub object: String,
    /// What changed (never secrets).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        // Details are JSON we wrote; should an old row not parse, show it as a string.
        let details =
            serde_json::from_str(&e.details).unwrap_or(serde_json::Value::String(e.details));
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            object: e.object,
            details,
        }
    }
}

/// The audit trail, newest first (admins only).
#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    tag = "admin-audit",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of audit entries", body = PageDto<AuditEntryDto>),
        (status = 400, description = "Bad `limit` or `cursor` (`invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No live token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_audit(
    State(state): State<AdminState>,
    auth: OperatorAuth,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<PageDto<AuditEntryDto>>, AdminError> {
    auth.require_admin()?;
    let page = state.operators.list_audit(&params.to_request()?).await?;
    Ok(Json(PageDto::from_page(page, AuditEntryDto::from)))
}
