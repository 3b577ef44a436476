//! Interoperability with an independent OCPP 1.6J charger: `tests/python/charger_16.py`, built
//! on the PyPI `ocpp` package (mobilityhouse), which shares no code with OpenPile and checks
//! every answer against the official 1.6 schemas. It runs a whole transaction against the real
//! server — boot, statuses, remote start (sent through the server's gateway), meter values,
//! remote stop, stop transaction — and the test then checks what the server stored.
//!
//! Without python3 and the `ocpp` package the tests skip with a loud message, except under
//! `CI=true`, where that is a failure (`.ci/run` installs tests/python/requirements.txt).

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use openpile_core::charging::{Measurement, StopReason, TagStatus, TransactionId};
use openpile_core::ids::{ChargerId, ConnectorNumber};
use openpile_core::ports::{ChargerCommand, CommandReply};
use openpile_core::status::ConnectorStatus;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::sim::{Server, TAG, demo_charger};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/python/charger_16.py"
);
const CHARGER: &str = "SH0101-01";

/// True when python3 with `ocpp` and `websockets` is available; otherwise false (skip) or,
/// under CI=true, a panic.
fn python_ready() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import ocpp, websockets"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if probe.is_ok_and(|s| s.success()) {
        return true;
    }
    let msg = "python3 with the `ocpp` and `websockets` packages is missing \
               (pip install -r tests/python/requirements.txt)";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {msg}"
    );
    // Written past the test harness's output capture, so that the skip is seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!! SKIPPING the Python OCPP interop test: {msg} !!!\n"
    );
    false
}

/// The Python charger as a child process; its stdout JSON lines arrive on `lines`.
struct PyCharger {
    child: std::process::Child,
    lines: mpsc::UnboundedReceiver<Value>,
}

impl PyCharger {
    fn start(url: &str, password: &str, extra: &[&str]) -> PyCharger {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .args(["--url", url, "--id", CHARGER, "--password", password])
            .args([
                "--connectors",
                "2",
                "--samples",
                "3",
                "--sample-interval",
                "0.1",
            ])
            .args(["--wait", "20", "--stop-wait", "20"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        let _ = tx.send(v);
                    }
                    Err(_) => eprintln!("charger_16.py: {line}"),
                }
            }
        });
        PyCharger { child, lines }
    }

    /// The next event line named `event` (a summary with ok=false fails the test).
    async fn expect(&mut self, event: &str) -> Value {
        let wait = async {
            loop {
                let v = self.lines.recv().await.expect("charger_16.py ended early");
                if v["event"] == "summary" && v["ok"] == false {
                    panic!("charger_16.py failed: {v}");
                }
                if v["event"] == event {
                    return v;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("no {event:?} from charger_16.py"))
    }

    fn finish(mut self) {
        let status = self.child.wait().expect("python3 exits");
        assert!(status.success(), "charger_16.py exited with {status}");
    }
}

impl Drop for PyCharger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the Python charger through a transaction; `local` badges the tag at the charger
/// instead of waiting for a remote start. Returns the summary and the transaction id.
async fn run_transaction(server: &Server, local: bool) -> (Value, i64) {
    let password = demo_charger(CHARGER).password.expect("a demo password");
    let mode: &[&str] = if local {
        &["--mode", "local", "--id-tag", TAG]
    } else {
        &["--mode", "remote", "--authorize"]
    };
    let mut py = PyCharger::start(&server.ocpp_url, &password, mode);
    py.expect("ready").await;
    server
        .wait_statuses(
            CHARGER,
            &[ConnectorStatus::Available, ConnectorStatus::Available],
        )
        .await;
    if !local {
        let reply = server
            .command(
                CHARGER,
                ChargerCommand::RemoteStartTransaction {
                    connector: ConnectorNumber::new(1).expect("1"),
                    id_tag: TAG.into(),
                },
            )
            .await;
        assert_eq!(reply, CommandReply::Status("Accepted".into()));
    }
    let charging = py.expect("charging").await;
    let tx = charging["transaction_id"]
        .as_i64()
        .expect("a transaction id");
    server
        .wait_statuses(
            CHARGER,
            &[ConnectorStatus::Charging, ConnectorStatus::Available],
        )
        .await;
    let reply = server
        .command(
            CHARGER,
            ChargerCommand::RemoteStopTransaction { transaction_id: tx },
        )
        .await;
    assert_eq!(reply, CommandReply::Status("Accepted".into()));
    let summary = py.expect("summary").await;
    py.finish();
    (summary, tx)
}

/// What every run must have left in the store.
async fn check_stored(server: &Server, summary: &Value, tx: i64) {
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["boot_status"], "Accepted");
    assert!(
        summary["heartbeat_interval"]
            .as_u64()
            .is_some_and(|i| i > 0)
    );
    assert_eq!(summary["start_id_tag_status"], "Accepted");
    assert_eq!(summary["stop_reason"], "Remote");
    assert_eq!(summary["meter_values_sent"], 3);
    let statuses: Vec<(i64, String)> = summary["statuses"]
        .as_array()
        .expect("statuses")
        .iter()
        .map(|s| {
            (
                s[0].as_i64().unwrap_or(-1),
                s[1].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let sent = |c: i64, s: &str| (c, s.to_owned());
    assert_eq!(
        statuses,
        [
            sent(0, "Available"),
            sent(1, "Available"),
            sent(2, "Available"),
            sent(1, "Preparing"),
            sent(1, "Charging"),
            sent(1, "Finishing"),
            sent(1, "Available"),
        ]
    );

    let id = TransactionId::new(tx).expect("a valid transaction id");
    let stored = server
        .stores
        .transactions
        .get_transaction(id)
        .await
        .expect("the transaction is stored");
    assert_eq!(stored.charger_id.as_str(), CHARGER);
    assert_eq!(stored.connector, ConnectorNumber::new(1).ok());
    assert_eq!(stored.id_tag, TAG);
    assert_eq!(stored.tag_status, TagStatus::Accepted);
    assert_eq!(Some(stored.meter_start.0), summary["meter_start"].as_i64());
    assert_eq!(
        stored.meter_stop.map(|w| w.0),
        summary["meter_stop"].as_i64()
    );
    assert_eq!(stored.stop_reason, Some(StopReason::Remote));
    assert_eq!(stored.stop_id_tag.as_deref(), Some(TAG));
    // 3 × 250 Wh of periodic readings plus 250 Wh before the stop.
    assert_eq!(stored.energy().map(|w| w.0), Some(1000));

    let samples = server
        .stores
        .transactions
        .transaction_samples(id)
        .await
        .expect("samples");
    let registers: Vec<i64> = samples
        .iter()
        .filter_map(|s| match s.measurement {
            Measurement::EnergyImportRegister(wh) => Some(wh.0),
            _ => None,
        })
        .collect();
    assert_eq!(
        registers,
        [1_000_250, 1_000_500, 1_000_750, 1_001_000],
        "{samples:?}"
    );
    for kind in ["power", "soc", "voltage", "current"] {
        assert!(
            samples.iter().any(|s| matches!(
                (&s.measurement, kind),
                (Measurement::PowerImport(_), "power")
                    | (Measurement::StateOfCharge(_), "soc")
                    | (Measurement::Voltage(_), "voltage")
                    | (Measurement::CurrentImport(_), "current")
            )),
            "no {kind} sample stored"
        );
    }
    assert!(
        samples
            .iter()
            .any(|s| s.context.as_deref() == Some("Transaction.End")),
        "the stop's transactionData is kept"
    );

    // The charger has gone: its connectors are offline until it comes back.
    server
        .wait_statuses(
            CHARGER,
            &[ConnectorStatus::Offline, ConnectorStatus::Offline],
        )
        .await;
    let view = server
        .stores
        .network
        .get_charger(&ChargerId::parse(CHARGER).expect("an id"))
        .await
        .expect("the charger");
    assert!(view.last_boot_at.is_some());
    assert!(view.last_seen_at.is_some());
}

#[tokio::test]
async fn the_python_ocpp_charger_runs_a_remote_transaction() {
    if !python_ready() {
        return;
    }
    let server = Server::start().await;
    let (summary, tx) = run_transaction(&server, false).await;
    assert_eq!(summary["authorize_status"], "Accepted");
    assert_eq!(summary["received"].as_array().map(Vec::len), Some(2));
    check_stored(&server, &summary, tx).await;
}

#[tokio::test]
async fn the_python_ocpp_charger_runs_a_locally_badged_transaction() {
    if !python_ready() {
        return;
    }
    let server = Server::start().await;
    let (summary, tx) = run_transaction(&server, true).await;
    assert_eq!(summary["authorize_status"], "Accepted");
    check_stored(&server, &summary, tx).await;
}
