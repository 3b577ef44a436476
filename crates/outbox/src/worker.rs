//! The delivery worker: claims due deliveries, sends each one, records what happened.
//!
//! One loop hands deliveries to tasks bounded by a global semaphore (`concurrency`); the store
//! bounds each webhook's share (`per_endpoint`) and hands out only the head of each (webhook,
//! subject) queue. Results come back to the same loop, which writes them together with its
//! next claim ([`EventStore::record_and_claim`]: one transaction for many attempts and the
//! claim): a finished delivery frees its endpoint's slot and makes the next one of its queue
//! due, and the claim that follows in the same transaction sees both. Recording results in a
//! separate transaction before claiming kept finished requests counted against their
//! endpoint's slots while they waited for the writer, which capped each endpoint at
//! `per_endpoint` over that wait (measured on the shared 2-core machine, 500 status changes/s
//! to 10 partners: p99 0.2–2 s before, 33–37 ms with results and claims together). The loop
//! also wakes when a store in this process commits events, when a retry comes due, and every
//! `poll_interval` (events written by other processes, expired leases of crashed ones).
//!
//! Nothing here is durable: a delivery in flight when the process dies is still leased in the
//! database and is claimed again when the lease runs out — at least once, same event id.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openpile_core::clock::Clock;
use openpile_core::event::{
    AttemptOutcome, ClaimRequest, ClaimedDelivery, DeliveryAttempt, EventStore, NextStep,
};
use openpile_core::partner::credential::Environment;
use tokio::sync::{Semaphore, mpsc};

use crate::config::DeliveryConfig;
use crate::message;
use crate::target::{self, TargetError};

/// Most attempts written in one transaction (more wait for the next).
const RECORD_BATCH: usize = 1000;

/// How often recording is retried before the results are dropped (their deliveries are then
/// attempted again once their leases run out).
const RECORD_TRIES: u32 = 5;

/// Longest error text kept per attempt.
const MAX_ERROR_LEN: usize = 300;

/// The worker could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client")]
pub struct WorkerError(#[source] reqwest::Error);

/// Delivers webhooks until shut down. See the module documentation.
pub struct Worker {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    config: DeliveryConfig,
    production: reqwest::Client,
    sandbox: reqwest::Client,
}

impl Worker {
    pub fn new(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        config: DeliveryConfig,
    ) -> Result<Self, WorkerError> {
        let client = |allow| {
            target::client(allow, config.connect_timeout, config.request_timeout)
                .map_err(WorkerError)
        };
        Ok(Self {
            production: client(config.allow_private_targets)?,
            sandbox: client(config.allow_private_sandbox_targets)?,
            store,
            clock,
            config,
        })
    }

    /// Runs until `shutdown` resolves, then lets the requests in flight finish (bounded by the
    /// request timeout) and records them.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let worker = Arc::new(self);
        let concurrency = worker.config.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(concurrency));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<AttemptOutcome>();
        // Results not yet written, and how often writing them has failed.
        let mut results: Vec<AttemptOutcome> = Vec::new();
        let mut failures = 0u32;
        let signal = worker.store.event_signal();
        let poll = worker.config.poll_interval;
        tokio::pin!(shutdown);
        loop {
            while results.len() < RECORD_BATCH {
                match done_rx.try_recv() {
                    Ok(o) => results.push(o),
                    Err(_) => break,
                }
            }
            let generation = signal.generation();
            let free = permits.available_permits();
            let mut wait = poll;
            if free > 0 || !results.is_empty() {
                let limit = u32::try_from(free).unwrap_or(u32::MAX);
                let now = worker.clock.now();
                let request = ClaimRequest {
                    now,
                    limit,
                    lease: chrono::Duration::from_std(worker.config.lease)
                        .unwrap_or(chrono::Duration::seconds(60)),
                    per_webhook: worker.config.per_endpoint.max(1),
                };
                // The results and the next claim in one step: a finished request frees its
                // endpoint's slot in the same transaction that fills it again.
                match worker.store.record_and_claim(&results, &request).await {
                    Ok(batch) => {
                        results.clear();
                        failures = 0;
                        let full = free > 0 && batch.len() == free;
                        for delivery in batch {
                            let Ok(permit) = permits.clone().try_acquire_owned() else {
                                // Only this loop takes permits, and it claimed no more than
                                // were free; the lease brings the delivery back regardless.
                                break;
                            };
                            let worker = worker.clone();
                            let done = done_tx.clone();
                            tokio::spawn(async move {
                                let outcome = worker.deliver(&delivery).await;
                                let _ = done.send(outcome);
                                drop(permit);
                            });
                        }
                        if full {
                            // More may be due right now.
                            continue;
                        }
                        wait = match worker.store.next_due().await {
                            Ok(Some(due)) if due > now => (due - now).to_std().unwrap_or(poll),
                            _ => poll,
                        }
                        .min(poll);
                    }
                    Err(e) => {
                        failures += 1;
                        if !results.is_empty() && failures >= RECORD_TRIES {
                            tracing::error!(
                                error = %e,
                                attempts = results.len(),
                                "recording webhook attempts failed; they will be retried after their leases"
                            );
                            results.clear();
                            failures = 0;
                        } else {
                            tracing::warn!(error = %e, failures, "claiming webhook deliveries failed");
                        }
                        wait = Duration::from_millis(100 * u64::from(failures.max(1))).min(poll);
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = signal.changed_since(generation) => {
                    // Gather the events committed right behind this one into the same claim:
                    // under load one claim transaction then serves many events instead of one
                    // each, leaving the write lock to the chargers' transactions. Not while
                    // results wait: they hold their endpoints' slots until written.
                    if results.is_empty() {
                        tokio::time::sleep(worker.config.coalesce).await;
                    }
                }
                Some(outcome) = done_rx.recv() => {
                    // A finished request frees a slot and may make its queue's next delivery
                    // due; the results that finish meanwhile are written with it.
                    results.push(outcome);
                    tokio::task::yield_now().await;
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
        // Let what is in flight finish; whatever does not is leased and comes back.
        let grace = worker.config.request_timeout + Duration::from_secs(2);
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(grace, permits.acquire_many(all)).await;
        drop(done_tx);
        while let Ok(o) = done_rx.try_recv() {
            results.push(o);
        }
        for chunk in results.chunks(RECORD_BATCH) {
            record(worker.store.as_ref(), chunk).await;
        }
    }

    /// One attempt, and what to do next.
    pub async fn deliver(&self, delivery: &ClaimedDelivery) -> AttemptOutcome {
        let at = self.clock.now();
        let started = Instant::now();
        let (status, error) = self.send(delivery).await;
        let attempt = DeliveryAttempt {
            at,
            status,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            error,
        };
        let next = if attempt.error.is_none() {
            NextStep::Delivered
        } else {
            let now = self.clock.now();
            match self.config.retry.next_attempt(
                delivery.round_attempts.saturating_add(1),
                delivery.round_started_at,
                now,
                rand::random::<f64>(),
            ) {
                Some(t) => NextStep::RetryAt(t),
                None => NextStep::Dead,
            }
        };
        if next == NextStep::Dead {
            tracing::info!(
                delivery = delivery.id,
                partner = %delivery.feed.partner_id,
                "webhook delivery dead-lettered after its retry window"
            );
        }
        AttemptOutcome {
            delivery_id: delivery.id,
            attempt,
            next,
        }
    }

    /// Sends the request: the response status if one came, and the error unless it was a 2xx.
    async fn send(&self, delivery: &ClaimedDelivery) -> (Option<u16>, Option<String>) {
        let allow_private = match delivery.feed.environment {
            Environment::Sandbox => self.config.allow_private_sandbox_targets,
            Environment::Production => self.config.allow_private_targets,
        };
        let client = match delivery.feed.environment {
            Environment::Sandbox => &self.sandbox,
            Environment::Production => &self.production,
        };
        let Ok(url) = reqwest::Url::parse(&delivery.url) else {
            return (None, Some(TargetError::InvalidUrl.to_string()));
        };
        if let Err(e) = target::check_literal(&url, allow_private) {
            return (None, Some(e.to_string()));
        }
        let body = message::body(delivery);
        let event_id = delivery.event_id.to_string();
        let timestamp = self.clock.now().timestamp();
        let mut secrets = vec![&delivery.secret];
        secrets.extend(delivery.previous_secret.as_ref());
        let signature = match message::signature(&event_id, timestamp, &body, &secrets) {
            Ok(s) => s,
            Err(e) => return (None, Some(e.to_string())),
        };
        let response = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return (None, Some(describe(&e))),
        };
        let status = response.status();
        // Read (and discard) a bounded amount, so a well-behaved endpoint's connection can be
        // reused and a misbehaving one cannot make us read forever.
        let mut read = 0usize;
        let mut body_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    if read > self.config.max_response_bytes {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(describe(&e));
                    break;
                }
            }
        }
        let code = Some(status.as_u16());
        if status.is_success() {
            (code, None)
        } else if status.is_redirection() {
            (
                code,
                Some(format!("HTTP {status}: redirects are not followed")),
            )
        } else {
            (
                code,
                Some(body_error.unwrap_or_else(|| format!("HTTP {status}"))),
            )
        }
    }
}

/// A short, partner-readable account of a failed request.
fn describe(e: &reqwest::Error) -> String {
    if let Some(refused) = target::refusal(e) {
        return refused.to_string();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(e);
    // The innermost cause says most (refused, reset, certificate).
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(cause) = last {
        text.push_str(": ");
        text.push_str(&cause);
    }
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Writes the results left at shutdown, retrying a few times.
async fn record(store: &dyn EventStore, batch: &[AttemptOutcome]) {
    let mut tries = 0;
    loop {
        tries += 1;
        match store.record_attempts(batch).await {
            Ok(()) => return,
            Err(e) if tries < RECORD_TRIES => {
                tracing::warn!(error = %e, tries, "recording webhook attempts failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    attempts = batch.len(),
                    "recording webhook attempts failed; they will be retried after their leases"
                );
                return;
            }
        }
    }
}
