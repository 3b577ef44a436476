//! Many simulated chargers at once: the `openpile sim` command, the demo (a charger for every
//! demo station) and tests use a [`Fleet`]. Connections are spread over time (`ramp`) so that
//! a big fleet does not hit the server with every handshake in the same millisecond.

use std::time::Duration;

use openpile_core::status::ChargePointStatus;
use tokio::time::Instant;

use crate::charger::SimCharger;
use crate::config::{Behaviour, SimConnector};
use crate::error::SimError;
use crate::handle::{BootStatus, SimHandle};

/// One charger of a fleet: its OCPP identity, password and connectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetCharger {
    pub id: String,
    pub password: Option<String>,
    pub connectors: Vec<SimConnector>,
}

/// Counts over a fleet, for progress lines and assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetSummary {
    pub chargers: usize,
    pub connected: usize,
    pub booted: usize,
    pub connectors: usize,
    pub charging: usize,
    pub faulted: usize,
    pub queued_transaction_messages: usize,
    pub calls_sent: u64,
    pub calls_received: u64,
}

/// A set of running simulated chargers.
#[derive(Debug)]
pub struct Fleet {
    handles: Vec<SimHandle>,
}

impl Fleet {
    /// Starts every charger with the same behaviour. `ramp` is the number of connection
    /// attempts per second (`None` = all at once). Returns at once; the chargers connect in
    /// the background.
    pub fn spawn(
        endpoint: &str,
        chargers: Vec<FleetCharger>,
        behaviour: &Behaviour,
        ramp: Option<u32>,
    ) -> Result<Self, SimError> {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(chargers.len());
        for (i, c) in chargers.into_iter().enumerate() {
            let offset = match ramp {
                Some(per_s) if per_s > 0 => {
                    let i = u64::try_from(i).unwrap_or(u64::MAX);
                    Duration::from_micros(i.saturating_mul(1_000_000) / u64::from(per_s))
                }
                _ => Duration::ZERO,
            };
            let handle = SimCharger::spawn_at(
                endpoint,
                &c.id,
                c.password.as_deref(),
                c.connectors,
                behaviour.clone(),
                start + offset,
            );
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // Do not leave half a fleet running behind an error.
                    for h in &handles {
                        let _ = h.control.try_send(crate::handle::Control {
                            kind: crate::handle::ControlKind::Shutdown,
                            done: tokio::sync::oneshot::channel().0,
                        });
                    }
                    return Err(e);
                }
            }
        }
        Ok(Self { handles })
    }

    pub fn handles(&self) -> &[SimHandle] {
        &self.handles
    }

    pub fn get(&self, id: &str) -> Option<&SimHandle> {
        self.handles.iter().find(|h| h.id() == id)
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    pub fn summary(&self) -> FleetSummary {
        let mut s = FleetSummary {
            chargers: self.handles.len(),
            ..FleetSummary::default()
        };
        for h in &self.handles {
            let snap = h.snapshot.borrow();
            s.connected += usize::from(snap.connected);
            s.booted += usize::from(snap.connected && snap.boot == BootStatus::Accepted);
            s.connectors += snap.connectors.len();
            for c in &snap.connectors {
                s.charging += usize::from(c.in_session);
                s.faulted += usize::from(c.status == ChargePointStatus::Faulted);
            }
            s.queued_transaction_messages += snap.queued_transaction_messages;
            s.calls_sent += snap.calls_sent;
            s.calls_received += snap.calls_received;
        }
        s
    }

    /// Waits until every charger is connected and accepted by BootNotification.
    pub async fn wait_all_booted(&self, timeout: Duration) -> Result<(), SimError> {
        let deadline = Instant::now() + timeout;
        for h in &self.handles {
            let left = deadline.saturating_duration_since(Instant::now());
            h.wait_until("boot accepted", left, |s| {
                s.connected && s.boot == BootStatus::Accepted
            })
            .await?;
        }
        Ok(())
    }

    /// Stops every charger and waits until all have closed their connections.
    pub async fn shutdown(self) {
        for h in &self.handles {
            // Ask all first, so they close in parallel.
            let _ = h.control.try_send(crate::handle::Control {
                kind: crate::handle::ControlKind::Shutdown,
                done: tokio::sync::oneshot::channel().0,
            });
        }
        for h in &self.handles {
            let _ = h.shutdown().await;
        }
    }
}

/// The chargers of a network file in `openpile import`'s JSON format (`stations[].chargers[]`
/// with `id`, `ocpp_password` and `connectors[]` of `number` and `max_power_kw`), e.g. the
/// demo network: what the demo needs to simulate every charger it loaded.
pub fn chargers_from_network_json(text: &str) -> Result<Vec<FleetCharger>, SimError> {
    use std::str::FromStr as _;

    use rust_decimal::Decimal;
    use serde_json::Value;

    let bad = |reason: String| SimError::ChargerFile {
        path: "(network JSON)".into(),
        reason,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let stations = doc["stations"]
        .as_array()
        .ok_or_else(|| bad("no stations array".into()))?;
    let mut out = Vec::new();
    for charger in stations
        .iter()
        .flat_map(|s| s["chargers"].as_array().into_iter().flatten())
    {
        let id = charger["id"]
            .as_str()
            .ok_or_else(|| bad("a charger without id".into()))?;
        let mut connectors = Vec::new();
        for c in charger["connectors"].as_array().into_iter().flatten() {
            let number = c["number"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("{id}: connector without number")))?;
            let kw = match &c["max_power_kw"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let kw = Decimal::from_str(&kw)
                .map_err(|_| bad(format!("{id}: max_power_kw {kw:?} is not a number")))?;
            connectors.push(SimConnector::new(number, kw));
        }
        connectors.sort_by_key(|c| c.number);
        out.push(FleetCharger {
            id: id.to_owned(),
            password: charger["ocpp_password"].as_str().map(str::to_owned),
            connectors,
        });
    }
    Ok(out)
}

/// Connects a simulated charger for each of the demo's chargers (`openpile demo`): the
/// default behaviour (sessions report every 10 s), 50 connections per second.
pub fn spawn_demo_fleet(endpoint: &str, chargers: Vec<FleetCharger>) -> Result<Fleet, SimError> {
    spawn_demo_fleet_tls(endpoint, chargers, None)
}

/// [`spawn_demo_fleet`] for a `wss://` endpoint: `ca_certificate` is a PEM file the chargers
/// trust (the server's self-signed certificate, or the CA that signed it).
pub fn spawn_demo_fleet_tls(
    endpoint: &str,
    chargers: Vec<FleetCharger>,
    ca_certificate: Option<std::path::PathBuf>,
) -> Result<Fleet, SimError> {
    let behaviour = Behaviour {
        model: "SimCharger-Demo".into(),
        ca_certificate,
        ..Behaviour::default()
    };
    Fleet::spawn(endpoint, chargers, &behaviour, Some(50))
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn reads_the_chargers_of_an_import_file() {
        let text = r#"{"tariffs": [], "stations": [
            {"id": "S1", "chargers": [
                {"id": "CP-B", "ocpp_password": "pw-b", "connectors": [
                    {"number": 2, "max_power_kw": "7.4"}, {"number": 1, "max_power_kw": 7.4}]},
                {"id": "CP-C", "connectors": [{"number": 1, "max_power_kw": 120}]}]},
            {"id": "S2"}]}"#;
        let chargers = chargers_from_network_json(text).unwrap();
        assert_eq!(chargers.len(), 2);
        assert_eq!(chargers[0].id, "CP-B");
        assert_eq!(chargers[0].password.as_deref(), Some("pw-b"));
        assert_eq!(chargers[0].connectors[0].number, 1);
        assert_eq!(chargers[0].connectors[1].max_power_kw, Decimal::new(74, 1));
        assert_eq!(chargers[1].password, None);
        assert!(chargers_from_network_json("[]").is_err());
    }

    #[test]
    fn the_demo_network_has_simulatable_chargers() {
        let text = include_str!("../../../demo/network.json");
        let chargers = chargers_from_network_json(text).unwrap();
        assert!(chargers.len() >= 20);
        for c in &chargers {
            assert!(c.password.is_some(), "{} has no password", c.id);
            crate::config::validate_connectors(&c.connectors).unwrap();
        }
    }
}
