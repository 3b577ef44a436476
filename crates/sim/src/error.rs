//! The simulator's error type.

/// What the simulator's public functions can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A charger or fleet description that cannot be simulated.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// The central system URL is not a `ws://` or `wss://` URL.
    #[error("invalid central system URL {0:?}: expected ws://host:port/path")]
    Url(String),
    /// The charger's task has ended (shut down), so it takes no more commands.
    #[error("simulated charger {0} has stopped")]
    Stopped(String),
    /// The charger refused a control command (unknown connector, connector busy, ...).
    #[error("simulated charger {charger} refused: {reason}")]
    Refused { charger: String, reason: String },
    /// A wait for a charger state did not finish in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
    /// A charger list file could not be read or parsed.
    #[error("cannot read charger list {path}: {reason}")]
    ChargerFile { path: String, reason: String },
}
