//! Meter samples as stored: one JSON array per report in `ocpp_meter_values.samples` (see
//! migration 0012), written and read only here.

use chrono::{DateTime, Utc};
use openpile_core::charging::{Measurement, MeterSample};
use openpile_core::error::StoreError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::CorruptValue;
use crate::columns::ts;

/// One sample in the array. Values are decimal text, as in the protocol.
#[derive(Serialize)]
struct Stored<'a> {
    at: String,
    kind: &'static str,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phase: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a str>,
}

#[derive(Deserialize)]
struct Read {
    at: DateTime<Utc>,
    kind: String,
    value: Decimal,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    context: Option<String>,
}

/// The `samples` column of a report.
pub(crate) fn to_column(samples: &[MeterSample]) -> Result<String, StoreError> {
    let stored: Vec<Stored<'_>> = samples
        .iter()
        .map(|s| Stored {
            at: ts(s.at),
            kind: s.measurement.kind(),
            value: s.measurement.value().to_string(),
            phase: s.phase.as_deref(),
            context: s.context.as_deref(),
        })
        .collect();
    serde_json::to_string(&stored).map_err(|e| CorruptValue::new("ocpp_meter_values.samples", e))
}

/// The samples of a report's `samples` column.
pub(crate) fn from_column(column: &str) -> Result<Vec<MeterSample>, StoreError> {
    let corrupt = |reason: String| CorruptValue::new("ocpp_meter_values.samples", reason);
    let read: Vec<Read> = serde_json::from_str(column).map_err(|e| corrupt(e.to_string()))?;
    read.into_iter()
        .map(|r| {
            let measurement = Measurement::from_parts(&r.kind, r.value)
                .ok_or_else(|| corrupt(format!("{} {}", r.kind, r.value)))?;
            Ok(MeterSample {
                at: r.at,
                measurement,
                phase: r.phase,
                context: r.context,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openpile_core::energy::Wh;

    #[test]
    fn samples_read_back_as_written() {
        let at = DateTime::parse_from_rfc3339("2026-11-29T01:02:03.456Z")
            .unwrap()
            .with_timezone(&Utc);
        let samples = vec![
            MeterSample {
                at,
                measurement: Measurement::EnergyImportRegister(Wh(12_345)),
                phase: None,
                context: Some("Sample.Periodic".into()),
            },
            MeterSample {
                at,
                measurement: Measurement::from_parts("voltage_v", Decimal::new(2301, 1)).unwrap(),
                phase: Some("L1-N".into()),
                context: None,
            },
        ];
        let column = to_column(&samples).unwrap();
        assert_eq!(from_column(&column).unwrap(), samples);
        // What the migration wrote for earlier rows: nulls instead of absent fields.
        let migrated = r#"[{"at":"2026-11-29T01:02:03.456Z","kind":"energy_import_register_wh","value":"12345","phase":null,"context":"Sample.Periodic"}]"#;
        assert_eq!(from_column(migrated).unwrap(), samples[..1]);
        assert!(from_column(r#"[{"at":"x","kind":"k","value":"1"}]"#).is_err());
        assert!(from_column(r#"[{"at":"2026-11-29T01:02:03Z","kind":"k","value":"1"}]"#).is_err());
    }

    /// Migration 0012 turns each earlier sample row into a report of one sample, readable here.
    #[test]
    fn migration_0012_keeps_every_earlier_sample() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let (before, from): (Vec<_>, Vec<_>) = files
            .into_iter()
            .partition(|f| f.file_name().unwrap().to_str().unwrap() < "0012");
        let db = rusqlite::Connection::open_in_memory().unwrap();
        // Only the sample rows matter here, not the chargers and transactions they name.
        db.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        for f in &before {
            db.execute_batch(&std::fs::read_to_string(f).unwrap())
                .unwrap();
        }
        db.execute_batch(
            "INSERT INTO ocpp_meter_samples (charger_id, connector_number, transaction_id, \
                 reported_transaction_id, source, sampled_at, kind, value, phase, context, \
                 received_at) VALUES \
             ('C1', 1, 7, 7, 'meter_values', '2026-11-29T01:00:00.000Z', \
              'energy_import_register_wh', '1000', NULL, 'Sample.Periodic', \
              '2026-11-29T01:00:01.000Z'), \
             ('C1', 1, 7, 7, 'meter_values', '2026-11-29T01:00:00.000Z', 'voltage_v', \
              '230.1', 'L1-N', NULL, '2026-11-29T01:00:01.000Z'), \
             ('C1', NULL, NULL, 99, 'stop_transaction', '2026-11-29T00:59:00.000Z', \
              'energy_import_register_wh', '900', NULL, NULL, '2026-11-29T01:00:02.000Z');",
        )
        .unwrap();
        db.execute_batch(&std::fs::read_to_string(&from[0]).unwrap())
            .unwrap();
        let mut stmt = db
            .prepare(
                "SELECT transaction_id, reported_transaction_id, source, samples \
                 FROM ocpp_meter_values ORDER BY id",
            )
            .unwrap();
        let rows: Vec<(Option<i64>, Option<i64>, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let samples: Vec<Vec<MeterSample>> =
            rows.iter().map(|r| from_column(&r.3).unwrap()).collect();
        assert_eq!(rows.len(), 3);
        // In sampled order: the stop's earlier sample first.
        assert_eq!(
            (rows[0].0, rows[0].1, rows[0].2.as_str()),
            (None, Some(99), "stop_transaction")
        );
        assert_eq!(
            samples[0][0].measurement,
            Measurement::EnergyImportRegister(Wh(900))
        );
        assert_eq!(rows[1].0, Some(7));
        assert_eq!(samples[1][0].context.as_deref(), Some("Sample.Periodic"));
        assert_eq!(samples[2][0].phase.as_deref(), Some("L1-N"));
        assert_eq!(
            samples[2][0].measurement.value(),
            Decimal::new(2301, 1),
            "values keep their decimals"
        );
    }
}
