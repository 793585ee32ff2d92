//! The dispatcher: takes due deliveries from the inbox, runs the owning
//! plugin on each, and records the outcome, retrying with backoff.
//!
//! A delivery is claimed with a lease before it runs. If the host dies
//! mid-call the lease runs out and the next poll (here or on another host)
//! takes it again, so nothing stored is ever lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::registry::Binding;
use crate::runtime::bindings::guest;
use crate::runtime::bindings::types::PluginError;
use crate::runtime::{CallError, Plugin, Runtime};
use crate::store::{AttemptOutcome, Delivery};

/// How often the inbox is polled for retries that came due, when nothing
/// wakes the dispatcher earlier.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Deliveries processed at once. Plugin calls are mostly waiting on
/// upstreams, so this is well above the core count.
const CONCURRENCY: usize = 32;

/// First retry delay; each later one doubles, up to `MAX_BACKOFF`.
const BASE_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Runs stored deliveries through their plugins.
pub struct Dispatcher {
    runtime: Arc<Runtime>,
    max_attempts: u32,
    lease: Duration,
    slots: Arc<Semaphore>,
}

impl Dispatcher {
    /// A dispatcher that gives up on a delivery after `max_attempts`.
    pub fn new(runtime: Arc<Runtime>, max_attempts: u32, call_timeout: Duration) -> Arc<Self> {
        // The lease outlives any call, so a live worker never loses its claim.
        let lease = call_timeout * 2 + Duration::from_secs(30);
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        Arc::new(Self {
            runtime,
            max_attempts,
            lease,
            slots,
        })
    }

    /// Polls forever; wakes early whenever a delivery is stored.
    pub async fn run(self: Arc<Self>) {
        let services = self.runtime.services().clone();
        loop {
            self.dispatch_due().await;
            tokio::select! {
                () = services.inbox_wakeup.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    async fn dispatch_due(self: &Arc<Self>) {
        let services = self.runtime.services();
        let limit = u32::try_from(self.slots.available_permits().max(1)).unwrap_or(1);
        let due = match services
            .store
            .due_deliveries(services.now_ms(), limit)
            .await
        {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the inbox; retrying");
                return;
            }
        };
        for id in due {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let this = self.clone();
            tokio::spawn(async move {
                this.process(&id).await;
                drop(slot);
            });
        }
    }

    /// Claims and processes one delivery; a delivery claimed elsewhere is
    /// left alone.
    pub async fn process(&self, id: &str) {
        let services = self.runtime.services();
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let delivery = match services
            .store
            .claim_delivery(id, services.now_ms(), lease_ms)
            .await
        {
            Ok(Some(delivery)) => delivery,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(delivery = id, error = %err, "cannot claim delivery");
                return;
            }
        };

        let registry = services.registry.load();
        let (outcome, version) = match registry.binding(&delivery.plugin, &delivery.tenant) {
            Some((plugin, binding)) => {
                let outcome = self.attempt(plugin, binding, &delivery).await;
                (outcome, plugin.manifest.version.clone())
            }
            None => {
                let error = format!(
                    "plugin {} is not running for tenant {}",
                    delivery.plugin, delivery.tenant
                );
                (self.retry_or_dead(&delivery, error), String::new())
            }
        };
        self.record(&delivery, &version, outcome).await;
    }

    async fn attempt(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        d: &Delivery,
    ) -> AttemptOutcome {
        let received_at_ms = u64::try_from(d.received_at_ms).unwrap_or(0);
        let result = if d.kind == "event" {
            let event = guest::Event {
                id: d.event_id.clone(),
                name: d.event_type.clone(),
                data: String::from_utf8_lossy(&d.body).into_owned(),
                source: d.source.clone(),
                received_at_ms,
                attempt: d.attempts,
            };
            self.runtime.handle_event(plugin, binding, event).await
        } else {
            let delivery = guest::Delivery {
                id: d.id.clone(),
                event_id: d.event_id.clone(),
                event_type: d.event_type.clone(),
                headers: d.headers.clone(),
                body: d.body.clone(),
                received_at_ms,
                attempt: d.attempts,
            };
            self.runtime.handle_webhook(plugin, binding, delivery).await
        };
        self.outcome(d, result)
    }

    fn outcome(
        &self,
        d: &Delivery,
        result: Result<Result<String, PluginError>, CallError>,
    ) -> AttemptOutcome {
        match result {
            Ok(Ok(summary)) => AttemptOutcome::Done(summary),
            Ok(Err(PluginError::Retryable(error))) => self.retry_or_dead(d, error),
            Ok(Err(PluginError::Permanent(error))) => AttemptOutcome::Dead(error),
            Ok(Err(PluginError::InvalidInput(error))) => {
                AttemptOutcome::Dead(format!("invalid input: {error}"))
            }
            Ok(Err(PluginError::Unsupported(error))) => {
                AttemptOutcome::Dead(format!("unsupported: {error}"))
            }
            // A trap or timeout may be load or a passing upstream stall;
            // the attempt limit stops a plugin that always fails.
            Err(err) => self.retry_or_dead(d, err.to_string()),
        }
    }

    fn retry_or_dead(&self, d: &Delivery, error: String) -> AttemptOutcome {
        if d.attempts >= self.max_attempts {
            return AttemptOutcome::Dead(format!("gave up after {} attempts: {error}", d.attempts));
        }
        let delay = backoff(d.attempts, rand::random::<f64>());
        let now = self.runtime.services().now_ms();
        let at_ms = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        AttemptOutcome::Retry { error, at_ms }
    }

    async fn record(&self, d: &Delivery, version: &str, outcome: AttemptOutcome) {
        let services = self.runtime.services();
        let label = match &outcome {
            AttemptOutcome::Done(_) => "done",
            AttemptOutcome::Retry { .. } => "retry",
            AttemptOutcome::Dead(_) => "dead",
        };
        services.metrics.observe_delivery(&d.plugin, label);
        match &outcome {
            AttemptOutcome::Done(summary) => tracing::info!(
                delivery = %d.id, plugin = %d.plugin, tenant = %d.tenant, event_id = %d.event_id,
                event_type = %d.event_type, attempt = d.attempts, summary, "delivery processed"
            ),
            AttemptOutcome::Retry { error, .. } => tracing::warn!(
                delivery = %d.id, plugin = %d.plugin, tenant = %d.tenant, event_id = %d.event_id,
                attempt = d.attempts, error, "delivery failed; will retry"
            ),
            AttemptOutcome::Dead(error) => tracing::error!(
                delivery = %d.id, plugin = %d.plugin, tenant = %d.tenant, event_id = %d.event_id,
                attempt = d.attempts, error, "delivery is dead; replay it once the cause is fixed"
            ),
        }
        let finished = services
            .store
            .finish_attempt(&d.id, version, &outcome, services.now_ms());
        if let Err(err) = finished.await {
            // The lease will run out and the delivery will be tried again.
            tracing::warn!(delivery = %d.id, error = %err, "cannot record the attempt");
        }
    }
}

/// Exponential backoff with jitter: the delay before attempt `attempts + 1`
/// lies in [d/2, d] for d = BASE * 2^(attempts-1), capped at MAX_BACKOFF.
/// `unit` is a random number in [0, 1).
pub fn backoff(attempts: u32, unit: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let full = BASE_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    full.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(4, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(30, 1.0), MAX_BACKOFF);
    }
}
