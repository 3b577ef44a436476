//! Importing a network from a file, in the formats `openpile import` reads (one JSON document,
//! or a CSV file of tariffs, stations, chargers or connectors; see `openpile-import`). Two
//! steps: the preview parses and checks everything — core's types and rules through the import
//! crate, then every reference against the store — and lists every error with its place
//! (`stations[3].chargers[0]`, `connectors.csv row 7`) and field, or else what would be added
//! and what would be replaced; nothing is written. Confirming sends the same text again, which
//! is parsed and checked again (a preview is never trusted), then written in one transaction
//! and audited (`network.import`).
//!
//! The file travels as text in the form: a small script reads a chosen file into the text area
//! (there is no multipart parsing here), and without JavaScript the text can be pasted.
//! `Permission::ManageNetwork` (admin, operations).

use std::collections::{HashMap, VecDeque};

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use openpile_core::error::StoreError;
use openpile_import::{ExistingNetwork, ImportDocument, ImportError, ReferenceTarget};
use openpile_secrets::{self as secrets, HashCost};
use serde_json::json;

use crate::ConsoleState;
use crate::audit;
use crate::auth::{Staff, redirect};
use crate::error::{ConsoleError, exists};
use crate::form::{FieldErrors, FormData};
use crate::i18n::Messages;
use crate::nav::{Permission, Screen};
use crate::nonce::{Proceed, claim_form};
use crate::page::{Chrome, render};
use crate::views::Choice;

fn digest(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// At most this much text (a network of a few thousand stations fits).
const MAX_BYTES: usize = 4 << 20;

/// One record the import would write.
struct Change {
    kind: &'static str,
    id: String,
    /// `new` or `update`.
    action: &'static str,
    action_label: &'static str,
    detail: String,
}

struct ErrorRow {
    location: String,
    field: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "ops_import.html")]
struct ImportPage {
    t: &'static Messages,
    chrome: Chrome,
    formats: Vec<Choice>,
    filename: String,
    content: String,
    /// The SHA-256 of the text the preview showed: a confirmation of other text is refused.
    previewed: String,
    errors: FieldErrors,
    problems: Vec<ErrorRow>,
    changes: Vec<Change>,
    /// Counts of the preview: (new, updated).
    counts: Option<(usize, usize)>,
    notice: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn page(
    staff: &Staff,
    format: &str,
    filename: &str,
    content: &str,
    errors: FieldErrors,
    problems: Vec<ErrorRow>,
    changes: Vec<Change>,
    notice: Option<String>,
) -> Result<Response, ConsoleError> {
    let t = staff.t();
    let status = if errors.any() || !problems.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let counts = (!changes.is_empty()).then(|| {
        let new = changes.iter().filter(|c| c.action == "new").count();
        (new, changes.len() - new)
    });
    render(
        status,
        &ImportPage {
            t,
            chrome: Chrome::for_staff(staff, Some(Screen::Stations), "/console/network/import"),
            formats: vec![
                Choice::new("json", "JSON", format),
                Choice::new("csv", "CSV", format),
            ],
            filename: filename.to_owned(),
            content: content.to_owned(),
            previewed: counts.map_or_else(String::new, |_| digest(content)),
            errors,
            problems,
            changes,
            counts,
            notice,
        },
    )
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct ImportQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/network/import`
pub(crate) async fn form(
    staff: Staff,
    axum::extract::Query(q): axum::extract::Query<ImportQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Permission::ManageNetwork)?;
    let notice = q
        .done
        .map(|d| crate::i18n::fill(staff.t().ops_import_done, d));
    page(
        &staff,
        "json",
        "",
        "",
        FieldErrors::default(),
        Vec::new(),
        Vec::new(),
        notice,
    )
}

fn problems(errors: &[ImportError]) -> Vec<ErrorRow> {
    errors
        .iter()
        .map(|e| ErrorRow {
            location: e.location.clone(),
            field: e.field.clone(),
            reason: e.reason.clone(),
        })
        .collect()
}

/// Looks up, in the store, what the document refers to without defining it (as
/// `openpile import` does).
async fn existing_targets(
    state: &ConsoleState,
    doc: &ImportDocument,
) -> Result<ExistingNetwork, StoreError> {
    let mut existing = ExistingNetwork::default();
    for reference in doc.missing_references() {
        match reference.target {
            ReferenceTarget::Tariff(id) => {
                if !existing.tariffs.contains(&id) {
                    match state.network.tariff_versions(&id).await {
                        Ok(v) if !v.is_empty() => {
                            existing.tariffs.insert(id);
                        }
                        Ok(_) | Err(StoreError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            ReferenceTarget::Station(id) => {
                if !existing.stations.contains(&id) {
                    match state.network.get_station(&id).await {
                        Ok(s) if s.retired_at.is_none() => {
                            existing.stations.insert(id);
                        }
                        Ok(_) | Err(StoreError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            ReferenceTarget::Charger(id) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = existing.chargers.entry(id)
                {
                    match state.network.get_charger(slot.key()).await {
                        Ok(v) if v.charger.retired_at.is_none() => {
                            slot.insert(v.charger);
                        }
                        Ok(_) | Err(StoreError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    Ok(existing)
}

/// What the document would add and replace, record by record.
async fn changes(
    state: &ConsoleState,
    doc: &ImportDocument,
    t: &'static Messages,
) -> Result<Vec<Change>, StoreError> {
    let action = |exists: bool| {
        if exists {
            ("update", t.ops_import_update)
        } else {
            ("new", t.ops_import_new)
        }
    };
    let mut out = Vec::new();
    for tariff in doc.tariffs() {
        let found = match state.network.tariff_versions(&tariff.id).await {
            Ok(v) => v.iter().any(|x| x.version == tariff.version),
            Err(StoreError::NotFound) => false,
            Err(e) => return Err(e),
        };
        let (a, l) = action(found);
        out.push(Change {
            kind: t.tariff,
            id: format!("{} v{}", tariff.id, tariff.version),
            action: a,
            action_label: l,
            detail: tariff.name.clone(),
        });
    }
    for s in doc.stations() {
        let found = exists(state.network.get_station(&s.id).await)?;
        let (a, l) = action(found);
        out.push(Change {
            kind: t.station,
            id: s.id.to_string(),
            action: a,
            action_label: l,
            detail: format!("{} · {}", s.name, s.district),
        });
    }
    for c in doc.chargers() {
        let found = exists(state.network.get_charger(&c.charger.id).await)?;
        let (a, l) = action(found);
        out.push(Change {
            kind: t.charger,
            id: c.charger.id.to_string(),
            action: a,
            action_label: l,
            detail: format!(
                "{} {} {} kW",
                c.charger.vendor, c.charger.model, c.charger.max_power_kw
            ),
        });
    }
    for k in doc.connectors() {
        let found = exists(state.network.get_connector(&k.id).await)?;
        let (a, l) = action(found);
        out.push(Change {
            kind: t.connector_no,
            id: k.id.to_string(),
            action: a,
            action_label: l,
            detail: format!("{} · {} kW", k.standard.as_str(), k.max_power_kw),
        });
    }
    Ok(out)
}

/// Parses and checks the posted text: the document, or every problem.
async fn check(
    state: &ConsoleState,
    format: &str,
    filename: &str,
    content: &str,
) -> Result<Result<ImportDocument, Vec<ImportError>>, StoreError> {
    let parsed = match format {
        "csv" => {
            let name = if filename.is_empty() {
                "upload.csv".to_owned()
            } else {
                filename.to_owned()
            };
            openpile_import::parse_csv(&[(name, content.to_owned())])
        }
        _ => openpile_import::parse_json(content),
    };
    let doc = match parsed {
        Ok(doc) => doc,
        Err(e) => return Ok(Err(e.into_vec())),
    };
    let existing = existing_targets(state, &doc).await?;
    Ok(match doc.verify_references(&existing) {
        Ok(()) => Ok(doc),
        Err(e) => Err(e.into_vec()),
    })
}

/// `POST /console/network/import`: `intent=preview` or `intent=confirm`.
pub(crate) async fn submit(
    State(state): State<ConsoleState>,
    staff: Staff,
    form: FormData,
) -> Result<Response, ConsoleError> {
    staff.check_csrf(&form)?;
    staff.require(Permission::ManageNetwork)?;
    let t = staff.t();
    let format = match form.get("format") {
        "csv" => "csv",
        _ => "json",
    };
    let filename = form.get("filename").trim();
    let content = form.get("content");
    let mut errors = FieldErrors::default();
    if content.trim().is_empty() {
        errors.add("content", t.ops_err_import_empty);
    } else if content.len() > MAX_BYTES {
        errors.add("content", t.ops_err_import_large);
    }
    if errors.any() {
        return page(
            &staff,
            format,
            filename,
            content,
            errors,
            Vec::new(),
            Vec::new(),
            None,
        );
    }
    // A confirmation writes exactly the text that was previewed; edited text is previewed again.
    let confirm = form.get("intent") == "confirm" && form.get("previewed") == digest(content);
    let changed =
        (form.get("intent") == "confirm" && !confirm).then(|| t.ops_err_import_changed.to_owned());
    // Only the confirming submission claims its nonce: previews change nothing.
    let guard = if confirm {
        match claim_form(&state.nonces, &form)? {
            Proceed::Go(g) => Some(g),
            Proceed::Repeat(r) => return Ok(r),
        }
    } else {
        None
    };
    let doc = match check(&state, format, filename, content).await? {
        Ok(doc) => doc,
        Err(list) => {
            errors.add(
                "content",
                crate::i18n::fill(t.ops_err_import_problems, list.len()),
            );
            return page(
                &staff,
                format,
                filename,
                content,
                errors,
                problems(&list),
                Vec::new(),
                None,
            );
        }
    };
    let planned = changes(&state, &doc, t).await?;
    let Some(guard) = guard else {
        return page(
            &staff,
            format,
            filename,
            content,
            errors,
            Vec::new(),
            planned,
            changed,
        );
    };
    // OCPP passwords in the file are hashed (argon2, off the async workers) before writing.
    let passwords: Vec<String> = doc
        .chargers()
        .iter()
        .filter_map(|c| c.ocpp_password.as_ref().map(|p| p.expose().to_owned()))
        .collect();
    let hashed = tokio::task::spawn_blocking(move || {
        let mut by_password: HashMap<String, VecDeque<String>> = HashMap::new();
        for p in passwords {
            let h = secrets::hash_password_with(&p, HashCost::Standard)?;
            by_password.entry(p).or_default().push_back(h);
        }
        Ok::<_, secrets::HashError>(by_password)
    })
    .await
    .map_err(ConsoleError::internal)?
    .map_err(ConsoleError::internal)?;
    let hashed = std::sync::Mutex::new(hashed);
    let batch = doc.into_batch(|plain| {
        hashed
            .lock()
            .ok()
            .and_then(|mut m| m.get_mut(plain).and_then(VecDeque::pop_front))
            .unwrap_or_default()
    });
    let summary = match state.network.import_network(&batch).await {
        Ok(s) => s,
        Err(StoreError::Conflict { constraint }) => {
            errors.add(
                "form",
                crate::i18n::fill(t.ops_err_import_conflict, constraint),
            );
            return page(
                &staff,
                format,
                filename,
                content,
                errors,
                Vec::new(),
                planned,
                None,
            );
        }
        Err(e) => return Err(e.into()),
    };
    let counts = format!(
        "{} / {} / {} / {}",
        batch.tariffs.len(),
        batch.stations.len(),
        batch.chargers.len(),
        batch.connectors.len()
    );
    audit::record(
        &state,
        staff.actor(),
        "network.import",
        "network".into(),
        json!({
            "format": format,
            "file": filename,
            "tariffs": batch.tariffs.len(),
            "stations": batch.stations.len(),
            "chargers": batch.chargers.len(),
            "connectors": batch.connectors.len(),
            "summary": format!("{summary:?}"),
            "via": "console",
        }),
    )
    .await?;
    let to = format!(
        "/console/network/import?done={}",
        crate::page::url_encode(&counts)
    );
    guard.complete(Some(to.clone()));
    Ok(redirect(&to))
}
