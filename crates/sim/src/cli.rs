//! `openpile sim`: a fleet of simulated chargers speaking real OCPP 1.6J to any central
//! system. The server binary owns the command line; it flattens [`SimArgs`] into its `sim`
//! subcommand and calls [`run_cli`].

use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::{Behaviour, SimConnector, uniform_connectors};
use crate::error::SimError;
use crate::fleet::{Fleet, FleetCharger};

/// Options of `openpile sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Central system OCPP endpoint; charger `X` connects to `<url>/X`.
    #[arg(long, env = "OPENPILE_SIM_URL")]
    pub url: String,
    /// Number of chargers (ignored with --charger-file).
    #[arg(long, default_value_t = 1)]
    pub chargers: u32,
    /// Connectors per charger (ignored with --charger-file).
    #[arg(long, default_value_t = 1)]
    pub connectors: u32,
    /// OCPP password (HTTP Basic) of every charger; omit for none.
    #[arg(long, env = "OPENPILE_SIM_PASSWORD")]
    pub password: Option<String>,
    /// Charger ids are this prefix and a 5-digit number: SIM-00001, SIM-00002, ...
    #[arg(long, default_value = "SIM-")]
    pub id_prefix: String,
    /// Number of the first charger.
    #[arg(long, default_value_t = 1)]
    pub first: u32,
    /// Power limit of each connector, kW.
    #[arg(long, default_value = "22")]
    pub max_power_kw: Decimal,
    /// Power a simulated car draws, kW (capped by the connector; default: the limit).
    #[arg(long)]
    pub power_kw: Option<Decimal>,
    /// Seconds between MeterValues of a running session.
    #[arg(long, default_value_t = 10)]
    pub meter_interval_s: u64,
    /// Send Authorize before a remotely started session (AuthorizeRemoteTxRequests).
    #[arg(long)]
    pub authorize_remote_start: bool,
    /// Connection attempts per second while the fleet comes up.
    #[arg(long, default_value_t = 100)]
    pub ramp_per_s: u32,
    /// JSON file listing the chargers instead of --chargers/--connectors:
    /// `[{"id": "CP1", "password": "…", "connectors": [{"number": 1, "max_power_kw": 7}]}]`,
    /// or a network file in `openpile import` format (e.g. demo/network.json).
    #[arg(long)]
    pub charger_file: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration_s: Option<u64>,
    /// For wss:// (Security Profile 2): PEM file of the certificate(s) to trust.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 10)]
    pub report_every_s: u64,
}

#[derive(Deserialize)]
struct FileCharger {
    id: String,
    password: Option<String>,
    connectors: Vec<FileConnector>,
}

#[derive(Deserialize)]
struct FileConnector {
    number: u32,
    /// A number or a decimal string.
    max_power_kw: serde_json::Value,
}

/// Reads a charger list file (the `--charger-file` format).
pub fn read_charger_file(path: &std::path::Path) -> Result<Vec<FleetCharger>, SimError> {
    let err = |reason: String| SimError::ChargerFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    if text.trim_start().starts_with('{') {
        // An `openpile import` network file (e.g. demo/network.json).
        return crate::fleet::chargers_from_network_json(&text).map_err(|e| match e {
            SimError::ChargerFile { reason, .. } => err(reason),
            other => other,
        });
    }
    let list: Vec<FileCharger> = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    list.into_iter()
        .map(|c| {
            let connectors = c
                .connectors
                .into_iter()
                .map(|k| {
                    let raw = match &k.max_power_kw {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Decimal::from_str(&raw)
                        .map(|kw| SimConnector::new(k.number, kw))
                        .map_err(|_| err(format!("{}: max_power_kw {raw:?} is not a number", c.id)))
                })
                .collect::<Result<_, _>>()?;
            Ok(FleetCharger {
                id: c.id,
                password: c.password,
                connectors,
            })
        })
        .collect()
}

fn generated_chargers(args: &SimArgs) -> Vec<FleetCharger> {
    (0..args.chargers)
        .map(|i| FleetCharger {
            id: format!(
                "{}{:05}",
                args.id_prefix,
                u64::from(args.first) + u64::from(i)
            ),
            password: args.password.clone(),
            connectors: uniform_connectors(args.connectors, args.max_power_kw),
        })
        .collect()
}

/// Runs `openpile sim`: starts the fleet, prints a progress line every `report_every_s`, and
/// stops on Ctrl-C or after `duration_s`.
pub async fn run_cli(args: SimArgs) -> Result<(), SimError> {
    let chargers = match &args.charger_file {
        Some(path) => read_charger_file(path)?,
        None => generated_chargers(&args),
    };
    let behaviour = Behaviour {
        power_kw: args.power_kw,
        meter_interval: Duration::from_secs(args.meter_interval_s),
        authorize_remote_start: args.authorize_remote_start,
        ca_certificate: args.ca_cert.clone(),
        ..Behaviour::default()
    };
    let fleet = Fleet::spawn(&args.url, chargers, &behaviour, Some(args.ramp_per_s))?;
    println!(
        "simulating {} chargers against {} (Ctrl-C to stop)",
        fleet.len(),
        args.url
    );
    let started = Instant::now();
    let stop_at = args.duration_s.map(|s| started + Duration::from_secs(s));
    let mut ticker = tokio::time::interval(Duration::from_secs(args.report_every_s.max(1)));
    ticker.tick().await;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let until_stop = async {
            match stop_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut ctrl_c => break,
            () = until_stop => break,
            _ = ticker.tick() => {
                let s = fleet.summary();
                println!(
                    "t={:>5}s connected={}/{} booted={} charging={} faulted={} queued={} sent={} received={}",
                    started.elapsed().as_secs(),
                    s.connected,
                    s.chargers,
                    s.booted,
                    s.charging,
                    s.faulted,
                    s.queued_transaction_messages,
                    s.calls_sent,
                    s.calls_received,
                );
            }
        }
    }
    let s = fleet.summary();
    fleet.shutdown().await;
    println!(
        "stopped after {}s: {} chargers, {} calls sent, {} received",
        started.elapsed().as_secs(),
        s.chargers,
        s.calls_sent,
        s.calls_received
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_numbered_from_first() {
        let args = SimArgs {
            url: "ws://127.0.0.1:1/ocpp".into(),
            chargers: 2,
            connectors: 2,
            password: Some("pw".into()),
            id_prefix: "SIM-".into(),
            first: 9,
            max_power_kw: Decimal::from(7),
            power_kw: None,
            meter_interval_s: 10,
            authorize_remote_start: false,
            ramp_per_s: 10,
            charger_file: None,
            duration_s: None,
            ca_cert: None,
            report_every_s: 10,
        };
        let chargers = generated_chargers(&args);
        assert_eq!(chargers[0].id, "SIM-00009");
        assert_eq!(chargers[1].id, "SIM-00010");
        assert_eq!(chargers[1].connectors.len(), 2);
        assert_eq!(chargers[0].password.as_deref(), Some("pw"));
    }

    #[test]
    fn charger_files_accept_numbers_and_decimal_strings() {
        let dir = std::env::temp_dir().join(format!("openpile-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chargers.json");
        std::fs::write(
            &path,
            r#"[{"id":"CP1","password":"x","connectors":[{"number":1,"max_power_kw":7.4},{"number":2,"max_power_kw":"120"}]}]"#,
        )
        .unwrap();
        let chargers = read_charger_file(&path).unwrap();
        assert_eq!(chargers[0].connectors[0].max_power_kw, Decimal::new(74, 1));
        assert_eq!(chargers[0].connectors[1].max_power_kw, Decimal::from(120));
        std::fs::write(
            &path,
            r#"[{"id":"CP1","connectors":[{"number":1,"max_power_kw":"x"}]}]"#,
        )
        .unwrap();
        assert!(read_charger_file(&path).is_err());
        std::fs::write(
            &path,
            r#"{"stations":[{"chargers":[{"id":"CP9","ocpp_password":"p","connectors":[{"number":1,"max_power_kw":60}]}]}]}"#,
        )
        .unwrap();
        let chargers = read_charger_file(&path).unwrap();
        assert_eq!(chargers[0].id, "CP9");
        assert_eq!(chargers[0].password.as_deref(), Some("p"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
