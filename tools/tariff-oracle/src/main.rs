//! The tariff oracle: an independent calculator for OpenPile's tariff engine.
//!
//! Reads on stdin a JSON document `{"cases": [{"name", "time_zone", "cdr"}]}` where each `cdr`
//! is an OCPI 2.2.1 CDR with its tariff(s) embedded, prices every CDR with the `ocpi-tariffs`
//! crate (TandemDrive's reference implementation of OCPI tariff calculation), and prints one
//! JSON document on stdout:
//!
//! ```json
//! {"results": [{"name": "...", "total_cost": "31.5000", "energy_cost": "31.5000",
//!               "idle_cost": "0", "periods": [{"start": "...", "energy_cost": "...",
//!               "idle_cost": "..."}]}]}
//! ```
//!
//! or, for a case that cannot be priced, `{"name": "...", "error": "..."}`. Amounts are the
//! crate's own (excluding VAT; its scale is 4 decimals, rounded half-to-even); no rounding of
//! ours is applied here, so the comparison stays independent.
//!
//! It lives outside the OpenPile workspace because `ocpi-tariffs` turns on serde_json's
//! `arbitrary_precision`, which must not reach the platform's build.

use std::io::Read;
use std::process::ExitCode;

use ocpi_tariffs::{cdr, price, Price, Version};
use serde_json::{json, Value};

/// An amount as text: the crate's `Money` prints 4 decimals with `{:#}` (and `0` for zero).
fn money(p: Option<&Price>) -> String {
    p.map_or_else(|| "0".to_string(), |p| format!("{:#}", p.excl_vat))
}

fn price_case(name: &str, time_zone: &str, cdr_value: &Value) -> Value {
    let tz: chrono_tz::Tz = match time_zone.parse() {
        Ok(tz) => tz,
        Err(e) => return json!({"name": name, "error": format!("time zone: {e}")}),
    };
    let text = cdr_value.to_string();
    let parsed = match cdr::parse_with_version(&text, Version::V221) {
        Ok(p) => p,
        Err(e) => return json!({"name": name, "error": format!("parse: {e}")}),
    };
    if !parsed.unexpected_fields.is_empty() {
        let fields: Vec<String> = parsed
            .unexpected_fields
            .iter()
            .map(|f| f.to_string())
            .collect();
        return json!({"name": name, "error": format!("unexpected fields: {fields:?}")});
    }
    let report = match cdr::price(&parsed.cdr, price::TariffSource::UseCdr, tz) {
        Ok(r) => r,
        Err(set) => {
            let (error, _warnings) = set.into_parts();
            return json!({
                "name": name,
                "error": format!("price: {} at {}", error.warning(), error.element().path()),
            });
        }
    };
    let (report, _warnings) = report.into_parts();
    let periods: Vec<Value> = report
        .periods
        .iter()
        .map(|p| {
            let energy = p.dimensions.energy.as_ref().and_then(|d| d.cost());
            let idle = p.dimensions.duration_idle.as_ref().and_then(|d| d.cost());
            json!({
                "start": p.start_date_time.to_rfc3339(),
                "energy_cost": money(energy.as_ref()),
                "idle_cost": money(idle.as_ref()),
            })
        })
        .collect();
    json!({
        "name": name,
        "total_cost": money(report.total_cost.calculated.as_ref()),
        "energy_cost": money(report.total_energy_cost.calculated.as_ref()),
        "idle_cost": money(report.total_idle_cost.calculated.as_ref()),
        "periods": periods,
    })
}

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("tariff-oracle: cannot read stdin: {e}");
        return ExitCode::FAILURE;
    }
    let doc: Value = match serde_json::from_str(&input) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("tariff-oracle: stdin is not JSON: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(cases) = doc.get("cases").and_then(Value::as_array) else {
        eprintln!("tariff-oracle: expected {{\"cases\": [...]}}");
        return ExitCode::FAILURE;
    };
    let results: Vec<Value> = cases
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
            let tz = c
                .get("time_zone")
                .and_then(Value::as_str)
                .unwrap_or("Asia/Shanghai");
            match c.get("cdr") {
                Some(cdr) => price_case(name, tz, cdr),
                None => json!({"name": name, "error": "no cdr"}),
            }
        })
        .collect();
    println!("{}", json!({ "results": results }));
    ExitCode::SUCCESS
}
