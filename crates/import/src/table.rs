//! The CSV format: up to four kinds of file, each recognised by its header row rather than its
//! name — tariffs (one row per time-of-use segment, the tariff's own columns repeated on each),
//! stations, chargers (naming their `station_id`) and connectors (naming their `charger_id`).
//! Rows are numbered as a spreadsheet shows them (header = row 1), counting blank lines and not
//! counting line breaks inside quoted cells, so an operator finds a reported row at once.

use crate::error::Errors;
use crate::raw::{
    Fields, Parent, RawCharger, RawConnector, RawDocument, RawStation, RawTariff, Scalar,
};

/// What a column of a tariffs file feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The record itself (for tariffs: the tariff's own columns, repeated on each row).
    Record,
    /// A tariff segment.
    Segment,
    /// A tariff's idle fee.
    Idle,
}

struct Column {
    /// As the header spells it.
    name: &'static str,
    /// As the builder reads it.
    key: &'static str,
    part: Part,
    /// Must appear in the header (the cell may still be empty where the builder allows).
    required: bool,
}

const fn col(name: &'static str, required: bool) -> Column {
    Column {
        name,
        key: name,
        part: Part::Record,
        required,
    }
}

const fn renamed(name: &'static str, key: &'static str, part: Part, required: bool) -> Column {
    Column {
        name,
        key,
        part,
        required,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tariffs,
    Stations,
    Chargers,
    Connectors,
}

const KINDS: [Kind; 4] = [
    Kind::Tariffs,
    Kind::Stations,
    Kind::Chargers,
    Kind::Connectors,
];

const TARIFF_COLUMNS: &[Column] = &[
    renamed("tariff_id", "id", Part::Record, true),
    col("name", true),
    col("version", false),
    col("effective_from", true),
    renamed("start", "start", Part::Segment, true),
    renamed("end", "end", Part::Segment, true),
    renamed("label", "label", Part::Segment, false),
    renamed(
        "electricity_price",
        "electricity_price",
        Part::Segment,
        true,
    ),
    renamed("service_price", "service_price", Part::Segment, true),
    renamed(
        "idle_price_per_minute",
        "price_per_minute",
        Part::Idle,
        false,
    ),
    renamed("idle_grace_minutes", "grace_minutes", Part::Idle, false),
];

const STATION_COLUMNS: &[Column] = &[
    renamed("station_id", "id", Part::Record, true),
    col("name", true),
    col("address", true),
    col("area_code", true),
    col("province", true),
    col("city", true),
    col("district", true),
    col("lat", true),
    col("lng", true),
    col("datum", false),
    col("opening_hours", true),
    col("parking", false),
    col("service_phone", true),
    // URLs separated by spaces (a URL never contains one).
    col("photos", false),
    col("status", false),
    col("tariff_id", true),
    col("sandbox", false),
];

const CHARGER_COLUMNS: &[Column] = &[
    renamed("charger_id", "id", Part::Record, true),
    col("station_id", true),
    col("vendor", true),
    col("model", true),
    col("serial", false),
    col("current_type", true),
    col("max_power_kw", true),
    col("firmware", false),
    col("ocpp_password", false),
];

const CONNECTOR_COLUMNS: &[Column] = &[
    col("charger_id", true),
    col("number", true),
    renamed("connector_id", "id", Part::Record, false),
    col("standard", true),
    col("max_power_kw", true),
    col("voltage_v", true),
    col("current_a", true),
];

const TARIFF_SPELLING: &[(&str, &str)] = &[("id", "tariff_id")];
const IDLE_SPELLING: &[(&str, &str)] = &[
    ("price_per_minute", "idle_price_per_minute"),
    ("grace_minutes", "idle_grace_minutes"),
];
const STATION_SPELLING: &[(&str, &str)] = &[("id", "station_id")];
const CHARGER_SPELLING: &[(&str, &str)] = &[("id", "charger_id")];
const CONNECTOR_SPELLING: &[(&str, &str)] = &[("id", "connector_id")];

impl Kind {
    fn columns(self) -> &'static [Column] {
        match self {
            Self::Tariffs => TARIFF_COLUMNS,
            Self::Stations => STATION_COLUMNS,
            Self::Chargers => CHARGER_COLUMNS,
            Self::Connectors => CONNECTOR_COLUMNS,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Tariffs => "tariffs",
            Self::Stations => "stations",
            Self::Chargers => "chargers",
            Self::Connectors => "connectors",
        }
    }

    /// The kind whose columns the header shares most; `None` when it shares none.
    fn recognise(header: &[String]) -> Option<Kind> {
        let score = |k: Kind| {
            header
                .iter()
                .filter(|h| k.columns().iter().any(|c| c.name == h.as_str()))
                .count()
        };
        KINDS
            .into_iter()
            .map(|k| (score(k), k))
            .filter(|(s, _)| *s > 0)
            // `max_by_key` keeps the last of equals; reversing keeps the first kind instead.
            .rev()
            .max_by_key(|(s, _)| *s)
            .map(|(_, k)| k)
    }
}

/// One row, with its spreadsheet row number and its cells by header position.
struct Row {
    number: usize,
    /// `<file> row <number>`, once the file's name is known.
    loc: String,
    cells: Vec<String>,
}

/// A tariff version in a tariffs file: (tariff_id, version).
type VersionKey = (String, String);

/// Reads every file into one raw document, reporting header and row-shape problems in `errs`.
pub(crate) fn read(files: &[(String, String)], errs: &mut Errors) -> RawDocument {
    let mut doc = RawDocument::default();
    for (name, content) in files {
        read_file(name, content, &mut doc, errs);
    }
    doc
}

fn read_file(name: &str, content: &str, doc: &mut RawDocument, errs: &mut Errors) {
    // Spreadsheet programs (Excel above all) start UTF-8 CSV with a byte-order mark.
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let Some((header_row, header, rows)) = split_rows(name, content, errs) else {
        return;
    };
    let header_loc = format!("{name} row {header_row}");
    let Some(kind) = Kind::recognise(&header) else {
        errs.push(
            &header_loc,
            "",
            "the header matches no known file (tariffs, stations, chargers or connectors); \
             see the column names in the import documentation",
        );
        return;
    };
    let Some(columns) = map_header(kind, &header, &header_loc, errs) else {
        doc.unread_connectors |= kind == Kind::Connectors;
        return;
    };
    let mut records = Vec::new();
    for mut row in rows {
        row.loc = format!("{name} row {}", row.number);
        if row.cells.len() != header.len() {
            errs.push(
                &row.loc,
                "",
                format!(
                    "has {} columns but the header has {}",
                    row.cells.len(),
                    header.len()
                ),
            );
            doc.unread_connectors |= kind == Kind::Connectors;
            continue;
        }
        records.push(row);
    }
    match kind {
        Kind::Tariffs => tariffs(name, &columns, &records, doc, errs),
        Kind::Stations => {
            for row in &records {
                let mut fields = Fields::new(row.loc.clone(), STATION_SPELLING);
                let mut photos = Vec::new();
                for (column, cell) in columns.iter().zip(&row.cells) {
                    if column.key == "photos" {
                        photos = cell.split_whitespace().map(str::to_owned).collect();
                    } else if !cell.is_empty() {
                        fields.insert(column.key, Scalar::Cell(cell.clone()));
                    }
                }
                doc.stations.push(RawStation { fields, photos });
            }
        }
        Kind::Chargers => {
            for row in &records {
                doc.chargers.push(RawCharger {
                    fields: fields(CHARGER_SPELLING, &columns, row, Part::Record),
                    station: Parent::ByField,
                });
            }
        }
        Kind::Connectors => {
            for row in &records {
                doc.connectors.push(RawConnector {
                    fields: fields(CONNECTOR_SPELLING, &columns, row, Part::Record),
                    charger: Parent::ByField,
                });
            }
        }
    }
}

/// The header (with its row number) and the data rows, without rows that are entirely blank
/// (spreadsheets export trailing `,,,,` rows). `None` when the file has no header.
fn split_rows(
    name: &str,
    content: &str,
    errs: &mut Errors,
) -> Option<(usize, Vec<String>, Vec<Row>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(content.as_bytes());
    let mut rows = Vec::new();
    // Line breaks inside quoted cells so far: the csv crate counts them as lines, a spreadsheet
    // does not count them as rows.
    let mut breaks_in_cells = 0;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let at = e.position().map_or(String::new(), |p| {
                    format!(
                        " row {}",
                        (p.line() as usize).saturating_sub(breaks_in_cells)
                    )
                });
                errs.push(&format!("{name}{at}"), "", format!("cannot be read: {e}"));
                return None;
            }
        };
        // The csv crate positions a record where the previous one ended, before any blank
        // lines it skips; a spreadsheet shows those blank lines as rows.
        let (line, byte) = record
            .position()
            .map_or((1, 0), |p| (p.line() as usize, p.byte() as usize));
        let blank_lines = content.get(byte..).map_or(0, |rest| {
            rest.bytes()
                .take_while(|b| matches!(b, b'\n' | b'\r'))
                .filter(|b| *b == b'\n')
                .count()
        });
        let number = (line + blank_lines).saturating_sub(breaks_in_cells);
        breaks_in_cells += record
            .iter()
            .map(|c| c.matches('\n').count())
            .sum::<usize>();
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_owned()).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        rows.push(Row {
            number,
            loc: String::new(),
            cells,
        });
    }
    let mut rows = rows.into_iter();
    let Some(header) = rows.next() else {
        errs.push(name, "", "is empty (a header row is needed)");
        return None;
    };
    Some((header.number, header.cells, rows.collect()))
}

/// The column of each header cell, or `None` after reporting unknown, repeated or missing
/// columns (rows cannot be read reliably under a wrong header).
fn map_header(
    kind: Kind,
    header: &[String],
    loc: &str,
    errs: &mut Errors,
) -> Option<Vec<&'static Column>> {
    let before = errs.len();
    let mut mapped = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            errs.push(loc, name, "column appears twice");
            continue;
        }
        match kind.columns().iter().find(|c| c.name == name.as_str()) {
            Some(column) => mapped.push(column),
            None if name.is_empty() => {
                errs.push(loc, &format!("column {}", i + 1), "has no name");
            }
            None => {
                let expected: Vec<&str> = kind.columns().iter().map(|c| c.name).collect();
                errs.push(
                    loc,
                    name,
                    format!(
                        "unknown column for a {} file (expected {})",
                        kind.name(),
                        expected.join(", ")
                    ),
                );
            }
        }
    }
    for column in kind.columns().iter().filter(|c| c.required) {
        if !header.iter().any(|h| h == column.name) {
            errs.push(
                loc,
                column.name,
                format!("required column of a {} file is missing", kind.name()),
            );
        }
    }
    (errs.len() == before).then_some(mapped)
}

/// The non-empty cells of `row` that feed `part`.
fn fields(
    spelling: &'static [(&'static str, &'static str)],
    columns: &[&'static Column],
    row: &Row,
    part: Part,
) -> Fields {
    let mut fields = Fields::new(row.loc.clone(), spelling);
    for (column, cell) in columns.iter().zip(&row.cells) {
        if column.part == part && !cell.is_empty() {
            fields.insert(column.key, Scalar::Cell(cell.clone()));
        }
    }
    fields
}

/// Groups the rows of a tariffs file into tariff versions by (tariff_id, version), in order of
/// first appearance. The tariff's own columns and its idle fee must read the same on every row
/// of a version; its first row is where they are reported.
fn tariffs(
    name: &str,
    columns: &[&'static Column],
    records: &[Row],
    doc: &mut RawDocument,
    errs: &mut Errors,
) {
    let cell = |row: &Row, key: &str| -> Option<String> {
        columns
            .iter()
            .zip(&row.cells)
            .find(|(c, _)| c.part == Part::Record && c.key == key)
            .map(|(_, v)| v.clone())
    };
    // Rows without a tariff id cannot be grouped; each stands alone and reports the missing id.
    let mut groups: Vec<(Option<VersionKey>, Vec<&Row>)> = Vec::new();
    for record in records {
        let id = cell(record, "id").filter(|s| !s.is_empty());
        let version = cell(record, "version")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "1".to_owned());
        let key = id.map(|id| (id, version));
        match groups.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
            Some((_, rows)) => rows.push(record),
            None => groups.push((key, vec![record])),
        }
    }
    for (_, rows) in groups {
        let Some((first, others)) = rows.split_first() else {
            continue;
        };
        for row in others {
            for ((column, a), b) in columns.iter().zip(&first.cells).zip(&row.cells) {
                if matches!(column.part, Part::Record | Part::Idle) && a != b {
                    errs.push(
                        &row.loc,
                        column.name,
                        format!(
                            "{b:?} differs from {a:?} on {}: every row of a tariff \
                             version repeats its name, effective_from and idle fee",
                            first.loc
                        ),
                    );
                }
            }
        }
        let idle = fields(IDLE_SPELLING, columns, first, Part::Idle);
        let has_idle = columns
            .iter()
            .zip(&first.cells)
            .any(|(c, v)| c.part == Part::Idle && !v.is_empty());
        doc.tariffs.push(RawTariff {
            loc: rows_location(name, rows.iter().map(|r| r.number)),
            fields: fields(TARIFF_SPELLING, columns, first, Part::Record),
            segments: rows
                .iter()
                .map(|row| fields(&[], columns, row, Part::Segment))
                .collect(),
            idle_fee: has_idle.then_some(idle),
        });
    }
}

/// `tariffs.csv row 2`, `tariffs.csv rows 2-5` or `tariffs.csv rows 2, 4, 7`.
fn rows_location(name: &str, numbers: impl Iterator<Item = usize>) -> String {
    let numbers: Vec<usize> = numbers.collect();
    match numbers.as_slice() {
        [one] => format!("{name} row {one}"),
        [first, .., last] if numbers.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("{name} rows {first}-{last}")
        }
        _ => {
            let list: Vec<String> = numbers.iter().map(usize::to_string).collect();
            format!("{name} rows {}", list.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_recognised_by_their_columns() {
        let h = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            Kind::recognise(&h(
                "charger_id,number,standard,max_power_kw,voltage_v,current_a"
            )),
            Some(Kind::Connectors)
        );
        assert_eq!(
            Kind::recognise(&h(
                "charger_id,station_id,vendor,model,current_type,max_power_kw"
            )),
            Some(Kind::Chargers)
        );
        // A typo in one column still leaves the file recognisable, so the typo is reported.
        assert_eq!(
            Kind::recognise(&h(
                "tariff_id,name,effective_from,strat,end,electricity_price"
            )),
            Some(Kind::Tariffs)
        );
        assert_eq!(Kind::recognise(&h("foo,bar")), None);
    }

    #[test]
    fn row_ranges_read_naturally() {
        assert_eq!(rows_location("t.csv", [2].into_iter()), "t.csv row 2");
        assert_eq!(
            rows_location("t.csv", [2, 3, 4].into_iter()),
            "t.csv rows 2-4"
        );
        assert_eq!(
            rows_location("t.csv", [2, 4].into_iter()),
            "t.csv rows 2, 4"
        );
    }
}
