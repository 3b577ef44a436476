//! Test support (feature `testing`): a real SMTP server to send to, `tests/python/smtp_sink.py`
//! on aiosmtpd (PyPI), which shares no code with lettre. Without python3 and aiosmtpd the tests
//! that need it skip with a loud message, except under `CI=true`, where that is a failure
//! (`.ci/run` installs tests/python/requirements.txt).

#![allow(clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::sync::mpsc;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/python/smtp_sink.py"
);

/// True when python3 with aiosmtpd is available; otherwise false (skip) or, under `CI=true`,
/// a panic.
pub fn python_ready() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if probe.is_ok_and(|s| s.success()) {
        return true;
    }
    let msg = "python3 with the `aiosmtpd` package is missing \
               (pip install -r tests/python/requirements.txt)";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {msg}"
    );
    // Written past the test harness's output capture, so that the skip is seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!! SKIPPING an SMTP e-mail test: {msg} !!!\n"
    );
    false
}

/// A port nothing listens on (bound, read back and released): an SMTP server that is down.
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// The SMTP sink as a child process; each message it receives arrives as one JSON line.
pub struct SmtpSink {
    child: Child,
    port: u16,
    lines: mpsc::UnboundedReceiver<String>,
}

impl SmtpSink {
    /// Starts the sink on `port` (0: any free one) and waits until it listens.
    pub async fn start(port: u16) -> SmtpSink {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tests/python/smtp_sink.py");
        let stdout = child.stdout.take().expect("the sink's stdout");
        let (tx, mut lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = tokio::time::timeout(Duration::from_secs(20), lines.recv())
            .await
            .expect("the SMTP sink starts within 20 s")
            .expect("the SMTP sink prints its port");
        let port = first
            .trim()
            .strip_prefix("{\"listening\": ")
            .and_then(|s| s.strip_suffix('}'))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the SMTP sink: {first}"));
        SmtpSink { child, port, lines }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next message received (its JSON line), or `None` if none came `within`.
    pub async fn next_message(&mut self, within: Duration) -> Option<String> {
        tokio::time::timeout(within, self.lines.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Closing stdin ends the script; kill covers a script that hangs.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
