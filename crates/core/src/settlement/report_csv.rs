//! The settlement report as CSV (`Content-Type: text/csv` on `POST /v1/statements/{id}/report`,
//! and the partner portal's upload): a header `order_id,session_id,energy_kwh,amount` (any
//! order), one row per order, and a last row `TOTAL,,<energy_kwh>,<amount>`; RFC 4180 quoting,
//! CRLF or LF, a leading byte order mark and blank lines ignored.
//!
//! [`csv_report`] only reads the structure into a [`RawReport`], every number still as text:
//! structural problems (the header, a row's field count, the TOTAL row) are rejections naming
//! the file's line, like the errors [`RawReport::validate`] then finds in the lines themselves.
//! It lives in core so that both faces read a file the same way and reject it with the same
//! words.

use super::report::{
    MAX_REPORT_LINES, RawReport, RawReportLine, RawReportTotals, ReportError, ReportFormat,
    ReportRejected,
};

/// The column names of a CSV report.
const REPORT_COLUMNS: [&str; 4] = ["order_id", "session_id", "energy_kwh", "amount"];

/// Splits CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF) into records, each
/// with the line it starts on. `Err` names the line of an unterminated quote.
fn csv_records(text: &str) -> Result<Vec<(u64, Vec<String>)>, u64> {
    let mut records = Vec::new();
    let mut field = String::new();
    let mut fields = Vec::new();
    let mut line: u64 = 1;
    let mut start_line: u64 = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => fields.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push((start_line, std::mem::take(&mut fields)));
                line += 1;
                start_line = line;
                any = false;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(start_line);
    }
    if any {
        fields.push(field);
        records.push((start_line, fields));
    }
    // Blank lines carry nothing.
    records.retain(|(_, f)| !(f.len() == 1 && f[0].trim().is_empty()));
    Ok(records)
}

/// Reads a CSV report into a raw report; structural problems (header, column count, the TOTAL
/// row) are errors naming the line.
pub fn csv_report(text: &str) -> Result<RawReport, ReportRejected> {
    let reject = |line: Option<u64>, field: &str, reason: String| ReportRejected {
        count: 1,
        errors: vec![ReportError {
            line,
            field: field.into(),
            reason,
        }],
    };
    let records = csv_records(text)
        .map_err(|line| reject(Some(line), "csv", "a quoted field is not closed".into()))?;
    let mut records = records.into_iter();
    let (header_line, header) = records
        .next()
        .ok_or_else(|| reject(None, "csv", "is empty; expected a header row".into()))?;
    let mut index = [usize::MAX; 4];
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}');
        match REPORT_COLUMNS.iter().position(|c| *c == name) {
            Some(j) if index[j] == usize::MAX => index[j] = i,
            Some(_) => {
                return Err(reject(
                    Some(header_line),
                    name,
                    "appears twice in the header".into(),
                ));
            }
            None => {
                return Err(reject(
                    Some(header_line),
                    "header",
                    format!(
                        "{name:?} is not a column (expected {})",
                        REPORT_COLUMNS.join(",")
                    ),
                ));
            }
        }
    }
    if let Some(j) = index.iter().position(|i| *i == usize::MAX) {
        return Err(reject(
            Some(header_line),
            "header",
            format!("lacks the column {}", REPORT_COLUMNS[j]),
        ));
    }
    let rows: Vec<(u64, Vec<String>)> = records.collect();
    let Some(((total_line, total), rows)) = rows.split_last() else {
        return Err(reject(
            None,
            "TOTAL",
            "the last row must be TOTAL,,<energy_kwh>,<amount>".into(),
        ));
    };
    let get = |row: &[String], j: usize| row.get(index[j]).map(|s| s.trim().to_string());
    if get(total, 0).as_deref() != Some("TOTAL") {
        return Err(reject(
            Some(*total_line),
            "order_id",
            "the last row must be the totals: TOTAL,,<energy_kwh>,<amount>".into(),
        ));
    }
    if rows.len() > MAX_REPORT_LINES {
        return Err(reject(
            None,
            "lines",
            format!(
                "has {} lines; at most {MAX_REPORT_LINES} are accepted",
                rows.len()
            ),
        ));
    }
    let mut lines = Vec::with_capacity(rows.len());
    for (n, row) in rows {
        if row.len() != header.len() {
            return Err(reject(
                Some(*n),
                "csv",
                format!("has {} fields; the header has {}", row.len(), header.len()),
            ));
        }
        if get(row, 0).as_deref() == Some("TOTAL") {
            return Err(reject(
                Some(*n),
                "order_id",
                "TOTAL may only be the last row".into(),
            ));
        }
        lines.push(RawReportLine {
            line: *n,
            order_id: get(row, 0).unwrap_or_default(),
            session_id: get(row, 1).unwrap_or_default(),
            energy_kwh: get(row, 2).unwrap_or_default(),
            amount: get(row, 3).unwrap_or_default(),
        });
    }
    Ok(RawReport {
        format: ReportFormat::Csv,
        lines,
        totals: RawReportTotals {
            line: *total_line,
            lines: None,
            energy_kwh: get(total, 2).unwrap_or_default(),
            amount: get(total, 3).unwrap_or_default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_follow_rfc_4180() {
        let r = csv_records("a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\n\nlast,\"multi\nline\"").unwrap();
        assert_eq!(
            r,
            vec![
                (1, vec!["a".to_string(), "b".to_string()]),
                (2, vec!["x,1".to_string(), "say \"hi\"".to_string()]),
                (4, vec!["last".to_string(), "multi\nline".to_string()]),
            ]
        );
        assert_eq!(csv_records("a,\"open\nstill"), Err(1));
    }

    #[test]
    fn a_csv_report_needs_its_header_and_total_row() {
        let e = csv_report("amount,order_id,energy_kwh,session_id\nO-1,bad").unwrap_err();
        assert_eq!(
            (e.errors[0].line, e.errors[0].field.as_str()),
            (Some(2), "order_id")
        );
        let e =
            csv_report("order_id,session_id,energy_kwh,amount\nO-1,,1\nTOTAL,,1,1").unwrap_err();
        assert_eq!(
            (e.errors[0].line, e.errors[0].field.as_str()),
            (Some(2), "csv")
        );
        let r = csv_report(
            "amount,order_id,energy_kwh,session_id\r\n1.00,O-1,2.000,\r\n1.00,TOTAL,2.000,\r\n",
        )
        .unwrap();
        assert_eq!(r.lines[0].order_id, "O-1");
        assert_eq!(r.lines[0].amount, "1.00");
        assert_eq!(r.lines[0].line, 2);
        assert_eq!(r.totals.line, 3);
        let e = csv_report("order_id,session_id,energy_kwh,amount\nO-1,,1,1\n").unwrap_err();
        assert_eq!(e.errors[0].line, Some(2));
        let e = csv_report("order_id,energy_kwh,amount\nTOTAL,0,0\n").unwrap_err();
        assert!(e.errors[0].reason.contains("session_id"));
        let e = csv_report("order_id,session_id,energy_kwh,amount,x\n").unwrap_err();
        assert!(e.errors[0].reason.contains("\"x\""));
    }

    #[test]
    fn a_byte_order_mark_and_blank_lines_are_ignored() {
        let r = csv_report(
            "\u{feff}order_id,session_id,energy_kwh,amount\n\nO-1,,2.5,1.50\nTOTAL,,2.5,1.50\n",
        )
        .unwrap();
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.lines[0].line, 3);
        let e = csv_report("").unwrap_err();
        assert_eq!(
            (e.errors[0].line, e.errors[0].field.as_str()),
            (None, "csv")
        );
    }
}
