//! The one documented error table is complete: every code the Open API can answer with — from
//! the error types, and from every place that writes a problem or an SSE error by hand — is a
//! row of the table published in `/openapi.json`, with the HTTP status it is sent with.

use std::collections::{BTreeMap, BTreeSet};

use openpile_api::error::{ApiError, ErrorCode};
use openpile_api::sessions::ChargingCode;

/// The published table: code → HTTP status, read back from the API description.
fn published_table() -> BTreeMap<String, u16> {
    let doc = serde_json::to_value(openpile_api::api_doc()).unwrap();
    let description = doc["info"]["description"].as_str().unwrap();
    let mut table = BTreeMap::new();
    for row in description.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let code = cells[1].trim_matches('`').to_string();
        let status: u16 = cells[2].parse().unwrap();
        assert!(table.insert(code.clone(), status).is_none(), "{code} twice");
    }
    table
}

/// Snake-case code literals in `text` after each occurrence of `marker`, resolving
/// `{CONSTANT}` placeholders through `consts`.
fn codes_after(text: &str, marker: &str, consts: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(marker) {
        let rest = &text[at + marker.len()..];
        let code: String = if let Some(name) = rest.strip_prefix('{') {
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            if name.is_empty() {
                // `{name}`: a code from one of the typed tables, checked above.
                continue;
            }
            consts
                .get(&name)
                .unwrap_or_else(|| panic!("{{{name}}} after {marker:?} is not a known constant"))
                .clone()
        } else {
            rest.chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect()
        };
        if !code.is_empty() {
            out.push(code);
        }
    }
    out
}

/// The sources that write problems: the face, and the server's fallback for unknown routes
/// and methods (which answers `/v1` paths too).
fn sources() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.push(root.join("../server/src/http.rs"));
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_code_the_api_can_answer_with_is_in_the_one_table() {
    let table = published_table();
    // The typed codes, with the status each is sent with.
    let mut emitted: BTreeMap<String, u16> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str().to_string(), c.status().as_u16()))
        .chain(ChargingCode::ALL.iter().map(|c| {
            let (code, status, _, _) = c.describe();
            (code.to_string(), status.as_u16())
        }))
        .collect();
    for (code, status) in &emitted {
        assert_eq!(
            table.get(code),
            Some(status),
            "{code} ({status}) not in the table"
        );
    }
    // Problems and stream errors written by hand: `urn:openpile:problem:<code>`, `code:
    // "<code>"`, `{"code":"<code>"}` in SSE data, and the server's `problem(status, "<code>"`.
    let files = sources();
    let mut consts = BTreeMap::new();
    for (_, text) in &files {
        for (at, _) in text.match_indices("pub const ") {
            let decl = &text[at + "pub const ".len()..];
            if let Some((name, rest)) = decl.split_once(": &str = \"") {
                let value: String = rest.chars().take_while(|c| *c != '"').collect();
                consts.insert(name.to_string(), value);
            }
        }
    }
    let mut by_hand = BTreeSet::new();
    for (file, text) in &files {
        for marker in [
            "urn:openpile:problem:",
            "code: \"",
            "\\\"code\\\":\\\"",
            "code: format!(\"",
        ] {
            for code in codes_after(text, marker, &consts) {
                by_hand.insert((code, file.clone()));
            }
        }
        for (at, _) in text.match_indices("problem(\n        StatusCode::") {
            let call = &text[at..];
            let literal = call.split('"').nth(1).unwrap();
            by_hand.insert((literal.to_string(), file.clone()));
        }
    }
    // The scan finds what is known to be written by hand (a guard against it finding nothing).
    let found: BTreeSet<&str> = by_hand.iter().map(|(c, _)| c.as_str()).collect();
    for known in [
        "cursor_expired",
        "validation_failed",
        "method_not_allowed",
        "not_found",
        "invalid_token",
    ] {
        assert!(found.contains(known), "the scan missed {known}: {found:?}");
    }
    for (code, file) in &by_hand {
        assert!(
            table.contains_key(code),
            "{file} answers with `{code}`, which the error table does not document"
        );
    }
    emitted.extend(by_hand.into_iter().map(|(c, _)| (c, 0)));
    // And the table documents nothing that is never sent.
    for code in table.keys() {
        assert!(
            emitted.contains_key(code),
            "{code} is documented but never sent"
        );
    }
}

#[test]
fn problems_of_the_table_have_its_status_and_the_enum_lists_the_general_codes() {
    let e = ApiError::from(openpile_core::error::StoreError::NotFound);
    assert_eq!(e.problem().status, ErrorCode::NotFound.status().as_u16());
    let doc = serde_json::to_value(openpile_api::api_doc()).unwrap();
    let codes: BTreeSet<&str> =
        doc["components"]["schemas"]["ApiProblem"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
    assert!(codes.contains("cursor_expired") && codes.contains("method_not_allowed"));
    assert_eq!(codes.len(), ErrorCode::ALL.len());
    assert_eq!(published_table()["cursor_expired"], 410);
}
