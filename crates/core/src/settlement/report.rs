//! A partner's settlement report: its own order list for a statement (order id, our session id
//! when it knows it, energy, the amount it collected) and its totals. Faces turn JSON or CSV
//! into [`RawReport`] — every number still as the text the partner wrote — and
//! [`RawReport::validate`] checks it line by line; every error names the line (as the face
//! numbers them: the JSON array position or the CSV line) and the field.
//!
//! Exactness: an amount must have at most 2 decimals and energy at most 3 (kWh to the Wh). A
//! JSON number is judged by its shortest decimal form, so `12.3` and `12.30` are the same and
//! accepted, while a float artefact such as `0.30000000000000004` is rejected for its decimals.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::energy::Wh;
use crate::error::ValidationError;
use crate::ids::SessionId;
use crate::money::{Money, parse_plain_decimal};
use crate::settlement::cdr::validate_order_id;

/// Most lines a report may have.
pub const MAX_REPORT_LINES: usize = 100_000;

/// Most errors a rejection lists (the rest are counted).
pub const MAX_REPORTED_ERRORS: usize = 100;

/// How the report arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Json,
    Csv,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }
}

/// One order as the partner wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReportLine {
    /// The number errors name: the 1-based position in the JSON array, or the CSV line.
    pub line: u64,
    pub order_id: String,
    /// Empty when the partner did not give one.
    pub session_id: String,
    /// kWh, as written.
    pub energy_kwh: String,
    /// CNY, as written.
    pub amount: String,
}

/// The partner's declared totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReportTotals {
    /// Where the totals were written (CSV line of the `TOTAL` row; 0 for JSON).
    pub line: u64,
    /// How many orders the partner says it sent, when it says.
    pub lines: Option<String>,
    pub energy_kwh: String,
    pub amount: String,
}

/// A report as received, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReport {
    pub format: ReportFormat,
    pub lines: Vec<RawReportLine>,
    pub totals: RawReportTotals,
}

/// One validated order of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLine {
    pub line: u64,
    pub order_id: String,
    pub session_id: Option<SessionId>,
    pub energy: Wh,
    pub amount: Money,
}

/// A validated report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerReport {
    pub format: ReportFormat,
    pub lines: Vec<ReportLine>,
    pub total_energy: Wh,
    pub total_amount: Money,
}

/// What is wrong with one line (or the totals, `line` 0 for JSON totals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportError {
    /// The line as the face numbers them; `None` for the report as a whole.
    pub line: Option<u64>,
    /// The field, as the face spells it (`amount`, `totals.energy_kwh`).
    pub field: String,
    pub reason: String,
}

/// Why a report was rejected: the first [`MAX_REPORTED_ERRORS`] errors, in line order, and how
/// many there were in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("the report has {count} error(s); first: {}", first_error(.errors))]
pub struct ReportRejected {
    pub count: usize,
    pub errors: Vec<ReportError>,
}

fn first_error(errors: &[ReportError]) -> String {
    errors.first().map_or_else(String::new, |e| match e.line {
        Some(n) => format!("line {n}: {}: {}", e.field, e.reason),
        None => format!("{}: {}", e.field, e.reason),
    })
}

/// Collects errors, keeping the first few.
#[derive(Default)]
struct Errors {
    count: usize,
    kept: Vec<ReportError>,
}

impl Errors {
    fn push(&mut self, line: Option<u64>, e: ValidationError) {
        self.count += 1;
        if self.kept.len() < MAX_REPORTED_ERRORS {
            self.kept.push(ReportError {
                line,
                field: e.field,
                reason: e.reason,
            });
        }
    }
}

/// Reads a non-negative amount of CNY with at most 2 decimals.
fn amount(field: &str, s: &str) -> Result<Money, ValidationError> {
    let m = Money::parse_amount(field, s)?;
    if m.is_negative() {
        return Err(ValidationError::new(
            field,
            "must not be negative (report what was collected for the order)",
        ));
    }
    Ok(m)
}

/// Reads non-negative kWh with at most 3 decimals, as Wh.
fn energy(field: &str, s: &str) -> Result<Wh, ValidationError> {
    let d = parse_plain_decimal(field, s)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(ValidationError::new(field, "must not be negative"));
    }
    if d.normalize().scale() > 3 {
        return Err(ValidationError::new(
            field,
            "must have at most 3 decimal places (kWh to the Wh)",
        ));
    }
    Wh::from_kwh(d).ok_or_else(|| ValidationError::new(field, "is too large"))
}

impl RawReport {
    /// Checks every line and the totals; all or nothing.
    pub fn validate(self) -> Result<PartnerReport, ReportRejected> {
        let mut errors = Errors::default();
        if self.lines.len() > MAX_REPORT_LINES {
            errors.push(
                None,
                ValidationError::new(
                    "lines",
                    format!(
                        "has {} lines; at most {MAX_REPORT_LINES} are accepted",
                        self.lines.len()
                    ),
                ),
            );
            return Err(ReportRejected {
                count: errors.count,
                errors: errors.kept,
            });
        }
        let mut first_seen: HashMap<&str, u64> = HashMap::with_capacity(self.lines.len());
        let mut lines = Vec::with_capacity(self.lines.len());
        for raw in &self.lines {
            let at = Some(raw.line);
            let order_id = raw.order_id.trim();
            if let Err(e) = validate_order_id("order_id", order_id) {
                errors.push(at, e);
            } else if let Some(first) = first_seen.insert(order_id, raw.line) {
                // Keep the first occurrence as the one later lines are compared with.
                first_seen.insert(order_id, first);
                errors.push(
                    at,
                    ValidationError::new(
                        "order_id",
                        format!("{order_id:?} is already on line {first}"),
                    ),
                );
            }
            let session_id = match raw.session_id.trim() {
                "" => None,
                s => match SessionId::parse(s) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        errors.push(at, e);
                        None
                    }
                },
            };
            let energy = energy("energy_kwh", &raw.energy_kwh).map_err(|e| errors.push(at, e));
            let amount = amount("amount", &raw.amount).map_err(|e| errors.push(at, e));
            if let (Ok(energy), Ok(amount)) = (energy, amount) {
                lines.push(ReportLine {
                    line: raw.line,
                    order_id: order_id.to_string(),
                    session_id,
                    energy,
                    amount,
                });
            }
        }
        let t = &self.totals;
        let totals_at = (t.line > 0).then_some(t.line);
        let total_energy =
            energy("totals.energy_kwh", &t.energy_kwh).map_err(|e| errors.push(totals_at, e));
        let total_amount =
            amount("totals.amount", &t.amount).map_err(|e| errors.push(totals_at, e));
        if let Some(n) = &t.lines {
            match n.trim().parse::<usize>() {
                Ok(n) if n == self.lines.len() => {}
                Ok(n) => errors.push(
                    totals_at,
                    ValidationError::new(
                        "totals.lines",
                        format!("says {n} but the report has {} lines", self.lines.len()),
                    ),
                ),
                Err(_) => errors.push(
                    totals_at,
                    ValidationError::new("totals.lines", format!("{n:?} is not a whole number")),
                ),
            }
        }
        // Totals are compared only when every line could be read: otherwise the sums mean
        // nothing and the line errors already say what to fix.
        if errors.count == 0
            && let (Ok(total_energy), Ok(total_amount)) = (total_energy, total_amount)
        {
            let sum_energy = Wh(lines.iter().map(|l| l.energy.0).sum());
            let sum_amount: Money = lines.iter().map(|l| l.amount).sum();
            if sum_energy != total_energy {
                errors.push(
                    totals_at,
                    ValidationError::new(
                        "totals.energy_kwh",
                        format!(
                            "is {} but the lines add up to {}",
                            total_energy.kwh(),
                            sum_energy.kwh()
                        ),
                    ),
                );
            }
            if sum_amount != total_amount {
                errors.push(
                    totals_at,
                    ValidationError::new(
                        "totals.amount",
                        format!(
                            "is {} but the lines add up to {}",
                            total_amount.amount(),
                            sum_amount.amount()
                        ),
                    ),
                );
            }
            if errors.count == 0 {
                return Ok(PartnerReport {
                    format: self.format,
                    lines,
                    total_energy,
                    total_amount,
                });
            }
        }
        Err(ReportRejected {
            count: errors.count,
            errors: errors.kept,
        })
    }
}

/// The text of a JSON number as the partner meant it: its shortest decimal form, without an
/// exponent (Rust's `Display` for `f64` is the shortest string that reads back to the same
/// float). Faces that parse JSON numbers into `f64` hand this to [`RawReport`].
pub fn json_number_text(n: f64) -> String {
    if n.is_finite() {
        format!("{n}")
    } else {
        "NaN".into()
    }
}

/// Formats Wh as kWh text with exactly 3 decimals, as reports and exports write it.
pub fn kwh_text(wh: Wh) -> String {
    let d: Decimal = wh.kwh();
    format!("{d:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64, order: &str, session: &str, kwh: &str, amount: &str) -> RawReportLine {
        RawReportLine {
            line: n,
            order_id: order.into(),
            session_id: session.into(),
            energy_kwh: kwh.into(),
            amount: amount.into(),
        }
    }

    fn report(lines: Vec<RawReportLine>, kwh: &str, amount: &str) -> RawReport {
        RawReport {
            format: ReportFormat::Json,
            lines,
            totals: RawReportTotals {
                line: 0,
                lines: None,
                energy_kwh: kwh.into(),
                amount: amount.into(),
            },
        }
    }

    fn errors(r: RawReport) -> Vec<(Option<u64>, String)> {
        r.validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| (e.line, e.field))
            .collect()
    }

    #[test]
    fn a_clean_report_is_read_exactly() {
        let r = report(
            vec![
                line(1, "A-1", "s-1", "12.345", "20.10"),
                line(2, "A-2", "", "0.5", "1"),
            ],
            "12.845",
            "21.1",
        )
        .validate()
        .unwrap();
        assert_eq!(r.lines[0].energy, Wh(12_345));
        assert_eq!(r.lines[0].session_id.as_ref().unwrap().as_str(), "s-1");
        assert_eq!(r.lines[1].session_id, None);
        assert_eq!(r.total_energy, Wh(12_845));
        assert_eq!(r.total_amount.amount(), Decimal::new(2110, 2));
    }

    #[test]
    fn bad_lines_are_named() {
        let r = report(
            vec![
                line(1, "A-1", "", "1.0", "1.005"),             // 3 decimals
                line(2, "A-2", "", "-1", "1.00"),               // negative energy
                line(3, "A-3", "", "1.2345", "1.00"),           // sub-Wh energy
                line(4, "A-1", "", "1", "1"),                   // duplicate order
                line(5, "", "", "1", "1"),                      // no order id
                line(6, "A-6", "", "1", "0.30000000000000004"), // float artefact
                line(7, "A-7", "", "1", "-2.00"),               // negative amount
                line(8, "A-8", "bad id!", "1", "1"),            // malformed session id
                line(9, "A-9", "", "1e3", "1"),                 // exponent
            ],
            "0",
            "0",
        );
        assert_eq!(
            errors(r),
            vec![
                (Some(1), "amount".to_string()),
                (Some(2), "energy_kwh".to_string()),
                (Some(3), "energy_kwh".to_string()),
                (Some(4), "order_id".to_string()),
                (Some(5), "order_id".to_string()),
                (Some(6), "amount".to_string()),
                (Some(7), "amount".to_string()),
                (Some(8), "session_id".to_string()),
                (Some(9), "energy_kwh".to_string()),
            ]
        );
    }

    #[test]
    fn a_duplicate_names_the_first_line() {
        let e = report(
            vec![line(2, "A-1", "", "1", "1"), line(7, "A-1", "", "1", "1")],
            "2",
            "2",
        )
        .validate()
        .unwrap_err();
        assert_eq!(e.count, 1);
        assert_eq!(e.errors[0].line, Some(7));
        assert!(
            e.errors[0].reason.contains("line 2"),
            "{}",
            e.errors[0].reason
        );
    }

    #[test]
    fn totals_must_add_up() {
        let lines = || {
            vec![
                line(1, "A-1", "", "1.000", "1.10"),
                line(2, "A-2", "", "2.000", "2.20"),
            ]
        };
        let e = report(lines(), "3", "3.31").validate().unwrap_err();
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].field, "totals.amount");
        assert!(
            e.errors[0].reason.contains("3.30"),
            "{}",
            e.errors[0].reason
        );
        let e = report(lines(), "3.001", "3.30").validate().unwrap_err();
        assert_eq!(e.errors[0].field, "totals.energy_kwh");
        let mut r = report(lines(), "3", "3.30");
        r.totals.lines = Some("3".into());
        assert_eq!(r.validate().unwrap_err().errors[0].field, "totals.lines");
    }

    #[test]
    fn an_empty_report_with_zero_totals_is_fine() {
        assert!(report(vec![], "0", "0.00").validate().is_ok());
    }

    #[test]
    fn too_many_lines_are_refused_outright() {
        let lines = (1..=MAX_REPORT_LINES as u64 + 1)
            .map(|n| line(n, &format!("A-{n}"), "", "1", "1"))
            .collect();
        let e = report(lines, "0", "0").validate().unwrap_err();
        assert_eq!(e.errors[0].field, "lines");
    }

    #[test]
    fn errors_are_capped_but_counted() {
        let lines = (1..=500).map(|n| line(n, "", "", "1", "1")).collect();
        let e = report(lines, "500", "500").validate().unwrap_err();
        assert_eq!(e.count, 500);
        assert_eq!(e.errors.len(), MAX_REPORTED_ERRORS);
    }

    #[test]
    fn json_numbers_keep_their_shortest_form() {
        assert_eq!(json_number_text(12.3), "12.3");
        assert_eq!(json_number_text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(json_number_text(1e21), "1000000000000000000000");
        assert_eq!(kwh_text(Wh(12_345)), "12.345");
        assert_eq!(kwh_text(Wh(500)), "0.500");
    }
}
