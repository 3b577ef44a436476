//! Periodic upkeep of the outbox: disabling webhooks that have failed for too long (the store
//! tells the partner with a `webhook.disabled` event, visible in the feed, the stream and any
//! other endpoint) and purging events, feeds and deliveries past their retention. Both are
//! idempotent, so every node may run them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openpile_core::clock::Clock;
use openpile_core::event::EventStore;

/// How long things are kept and how often upkeep runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HousekeepingConfig {
    /// Events older than this are purged; feed cursors before them expire.
    pub retention: Duration,
    /// A webhook failing continuously for this long is disabled.
    pub disable_after: Duration,
    /// How often to check for failing webhooks.
    pub check_every: Duration,
    /// How often to purge.
    pub purge_every: Duration,
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 24 * 3600),
            disable_after: Duration::from_secs(3 * 24 * 3600),
            check_every: Duration::from_secs(60),
            purge_every: Duration::from_secs(600),
        }
    }
}

/// One round: disables failing webhooks, and purges when `purge` is set. Returns (webhooks
/// disabled, events purged).
pub async fn run_once(
    store: &dyn EventStore,
    clock: &dyn Clock,
    config: &HousekeepingConfig,
    purge: bool,
) -> (u64, u64) {
    let now = clock.now();
    let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let disabled = match store
        .disable_failing_webhooks(now - span(config.disable_after), now)
        .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "disabling failing webhooks failed");
            0
        }
    };
    if disabled > 0 {
        tracing::info!(webhooks = disabled, "disabled webhooks that kept failing");
    }
    let purged = if purge {
        match store.purge_events(now - span(config.retention)).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "purging old events failed");
                0
            }
        }
    } else {
        0
    };
    if purged > 0 {
        tracing::info!(events = purged, "purged events past their retention");
    }
    (disabled, purged)
}

/// Runs [`run_once`] periodically until `shutdown`.
pub async fn run(
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    config: HousekeepingConfig,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(config.check_every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let purge = last_purge.is_none_or(|t| t.elapsed() >= config.purge_every);
        if purge {
            last_purge = Some(tokio::time::Instant::now());
        }
        run_once(store.as_ref(), clock.as_ref(), &config, purge).await;
    }
}
