//! Settings of the OCPP 1.6J face. Defaults suit a production server; tests shorten the times.

use std::time::Duration;

/// How the central system treats its chargers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ocpp16Config {
    /// Sent in BootNotification.conf `interval` (OCPP 1.6 §4.2): how often chargers heartbeat.
    pub heartbeat_interval: Duration,
    /// A charger silent for `heartbeat_interval × liveness_factor` is closed and its connectors
    /// turn offline. Any message counts, not only heartbeats (OCPP 1.6 §4.6).
    pub liveness_factor: u32,
    /// How often the liveness sweeper looks for silent chargers.
    pub sweep_interval: Duration,
    /// How long a charger has to answer one of our CALLs (OCPP-J §4.1.1 leaves it to us; the
    /// `ocpp` library and OCTT use 30 s).
    pub call_timeout: Duration,
    /// CALLs waiting behind the one in flight, per charger (OCPP-J §4.1.1: one at a time).
    pub max_queued_calls: usize,
    /// Largest WebSocket message (and frame) accepted from a charger. OCPP 1.6 messages are
    /// small; the largest real ones (GetConfiguration, long transactionData) fit in 64 KiB.
    pub max_message_size: usize,
    /// Per-connection WebSocket read buffer, allocated up front for every connection.
    /// tungstenite's default (128 KiB) would cost 2.4 GB for 19,000 idle chargers; OCPP frames
    /// are mostly under 1 KiB, and a larger one is read in several chunks.
    pub read_buffer_size: usize,
    /// Minimum time between two writes of a charger's `last_seen_at` (liveness itself is kept in
    /// memory; the database copy is for operators and restarts).
    pub seen_write_interval: Duration,
    /// How many argon2 password verifications may run at once (each takes ~19 MiB and tens of
    /// milliseconds of CPU); the rest wait, so a reconnect storm cannot exhaust memory.
    pub max_concurrent_password_checks: usize,
}

impl Default for Ocpp16Config {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(300),
            liveness_factor: 2,
            sweep_interval: Duration::from_secs(15),
            call_timeout: Duration::from_secs(30),
            max_queued_calls: 16,
            max_message_size: 64 * 1024,
            read_buffer_size: 4 * 1024,
            seen_write_interval: Duration::from_secs(60),
            max_concurrent_password_checks: 2,
        }
    }
}

impl Ocpp16Config {
    /// Silence after which a charger counts as gone.
    pub fn liveness_timeout(&self) -> Duration {
        self.heartbeat_interval * self.liveness_factor.max(1)
    }
}
