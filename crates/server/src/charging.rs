//! Wiring of the sessions service (issue 5): its settings from `[charging]` (and the OCPP call
//! timeout it must wait out), the tokio runtime it spawns and sleeps on, and the task that runs
//! its sweep (timeouts, limits, reservation expiries) until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openpile_core::sessions::ports::{Runtime, Task};
use openpile_core::sessions::service::{SessionConfig, SessionService};

use crate::config::Config;

/// [`Runtime`] on tokio: the process's runtime, and its log for background failures.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> Task {
        Box::pin(tokio::time::sleep(duration))
    }

    fn log_warning(&self, message: String) {
        tracing::warn!(target: "openpile::sessions", "{message}");
    }
}

/// The sessions service's settings, from `[charging]`, `[ocpp]` and `[local]`.
pub fn session_settings(config: &Config) -> SessionConfig {
    let c = &config.charging;
    SessionConfig {
        start_timeout: Duration::from_secs(c.start_timeout_s),
        call_timeout: Duration::from_secs(config.ocpp.call_timeout_s.into()),
        connection_lost_timeout: Duration::from_secs(c.connection_lost_timeout_s),
        stop_retry: Duration::from_secs(c.stop_retry_s),
        stop_timeout: Duration::from_secs(c.stop_timeout_s),
        stop_retries: c.stop_retries,
        idle_cap: Duration::from_secs(c.idle_cap_s),
        max_reservation: Duration::from_secs(c.max_reservation_s),
        update_event_interval: Duration::from_secs(c.update_event_interval_s),
        meter_write_interval: Duration::from_secs(c.meter_write_interval_s),
        timezone: config.local.tz(),
        ..SessionConfig::default()
    }
}

/// Sweeps every `every` until `stop` completes: start timeouts, chargers that did not come
/// back, duration limits and stops to retry, reservations that expired.
pub async fn run_sweeper(
    sessions: Arc<SessionService>,
    every: Duration,
    stop: impl Future<Output = ()> + Send,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match sessions.sweep().await {
                    Ok(report) if report != Default::default() => {
                        tracing::info!(?report, "sessions sweep");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sessions sweep failed"),
                }
            }
            () = &mut stop => break,
        }
    }
}
