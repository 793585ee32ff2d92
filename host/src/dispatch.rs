//! The dispatcher: takes due deliveries from the inbox, runs the owning
//! plugin on each, and records the outcome, retrying with backoff.
//!
//! A delivery is claimed with a lease before it runs. If the host dies
//! mid-call the lease runs out and the next poll (here or on another host)
//! takes it again, so nothing stored is ever lost. The outcome is recorded
//! only while the claim still holds, in the same transaction as the
//! attempt's kv writes and events, so nothing is processed twice either:
//! a worker that lost its claim, or died before recording, leaves no trace.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::registry::Binding;
use crate::runtime::bindings::guest;
use crate::runtime::bindings::types::PluginError;
use crate::runtime::{CallError, Plugin, Runtime};
use crate::store::{AttemptOutcome, Delivery, DeliveryTxn, Finished, KvScope};

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

/// A claim outlives the call deadline by this much, time to record the
/// outcome. A claim that runs out early only costs a wasted attempt: the
/// late worker's outcome is refused.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

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
        let lease = call_timeout + LEASE_MARGIN;
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        Arc::new(Self {
            runtime,
            max_attempts,
            lease,
            slots,
        })
    }

    /// Polls until `stop` is cancelled; wakes early whenever a delivery is
    /// stored. Deliveries already started finish on their own.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        tokio::select! {
            () = self.poll() => {}
            () = stop.cancelled() => tracing::info!("dispatcher stopped"),
        }
    }

    async fn poll(self: &Arc<Self>) {
        let services = self.runtime.services().clone();
        loop {
            // A full batch means more may be waiting: look again at once
            // (taking a slot paces it), rather than a poll interval later.
            if self.dispatch_due().await {
                continue;
            }
            tokio::select! {
                () = services.inbox_wakeup.notified() => {}
                () = services.clock.moved() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    /// Starts the deliveries that are due, as many as there are free slots;
    /// true when it found that many, so that more may be due.
    async fn dispatch_due(self: &Arc<Self>) -> bool {
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
                return false;
            }
        };
        let full = due.len() == limit as usize;
        for id in due {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return false;
            };
            let this = self.clone();
            tokio::spawn(async move {
                this.process(&id).await;
                drop(slot);
            });
        }
        full
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
        let scope = KvScope {
            plugin: delivery.plugin.clone(),
            tenant: delivery.tenant.clone(),
        };
        let (outcome, version, txn) = match registry.binding(&delivery.plugin, &delivery.tenant) {
            Some((plugin, binding)) => {
                let (outcome, txn) = self.attempt(plugin, binding, &delivery, scope).await;
                (outcome, plugin.manifest.version.clone(), txn)
            }
            None => {
                let error = format!(
                    "plugin {} is not running for tenant {}",
                    delivery.plugin, delivery.tenant
                );
                let outcome = self.retry_or_dead(&delivery, error);
                (outcome, String::new(), DeliveryTxn::new(scope))
            }
        };
        self.record(&delivery, &version, outcome, &txn).await;
    }

    async fn attempt(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        d: &Delivery,
        scope: KvScope,
    ) -> (AttemptOutcome, DeliveryTxn) {
        let received_at_ms = u64::try_from(d.received_at_ms).unwrap_or(0);
        let txn = DeliveryTxn::new(scope.clone());
        let (result, txn) = if d.kind == "event" {
            let event = guest::Event {
                id: d.event_id.clone(),
                name: d.event_type.clone(),
                data: String::from_utf8_lossy(&d.body).into_owned(),
                source: d.source.clone(),
                received_at_ms,
                attempt: d.attempts,
            };
            self.runtime.handle_event(plugin, binding, event, txn).await
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
            self.runtime
                .handle_webhook(plugin, binding, delivery, txn)
                .await
        };
        let txn = txn.unwrap_or_else(|| DeliveryTxn::new(scope));
        (self.outcome(d, result), txn)
    }

    fn outcome(
        &self,
        d: &Delivery,
        result: Result<Result<String, PluginError>, CallError>,
    ) -> AttemptOutcome {
        let now = self.runtime.services().now_ms();
        decide(
            d.attempts,
            self.max_attempts,
            result,
            now,
            rand::random::<f64>(),
        )
    }

    fn retry_or_dead(&self, d: &Delivery, error: String) -> AttemptOutcome {
        let now = self.runtime.services().now_ms();
        retry_or_dead(
            d.attempts,
            self.max_attempts,
            error,
            now,
            rand::random::<f64>(),
        )
    }

    /// Records the outcome; an attempt whose kv basis changed meanwhile is
    /// recorded as a failure instead, without its writes.
    async fn record(
        &self,
        d: &Delivery,
        version: &str,
        outcome: AttemptOutcome,
        txn: &DeliveryTxn,
    ) {
        let store = &self.runtime.services().store;
        let now = self.runtime.services().now_ms();
        let mut finished = store
            .finish_attempt(&d.id, d.attempts, version, &outcome, txn, now)
            .await;
        let mut outcome = outcome;
        if matches!(finished, Ok(Finished::Conflict)) {
            let error = "kv values this attempt relied on changed meanwhile".to_owned();
            outcome = self.retry_or_dead(d, error);
            let empty = DeliveryTxn::new(KvScope {
                plugin: d.plugin.clone(),
                tenant: d.tenant.clone(),
            });
            finished = store
                .finish_attempt(&d.id, d.attempts, version, &outcome, &empty, now)
                .await;
        }
        match finished {
            Ok(Finished::Recorded) => self.report(d, &outcome),
            Ok(Finished::LostClaim | Finished::Conflict) => tracing::warn!(
                delivery = %d.id, plugin = %d.plugin, tenant = %d.tenant, attempt = d.attempts,
                "the claim ran out before the attempt was recorded; its outcome is dropped"
            ),
            // The lease will run out and the delivery will be tried again.
            Err(err) => tracing::warn!(
                delivery = %d.id, plugin = %d.plugin, error = %err, "cannot record the attempt"
            ),
        }
        if txn.has_events() {
            self.runtime.services().inbox_wakeup.notify_one();
        }
    }

    fn report(&self, d: &Delivery, outcome: &AttemptOutcome) {
        let label = match outcome {
            AttemptOutcome::Done(_) => "done",
            AttemptOutcome::Retry { .. } => "retry",
            AttemptOutcome::Dead(_) => "dead",
        };
        let services = self.runtime.services();
        services.metrics.observe_delivery(&d.plugin, label);
        match outcome {
            AttemptOutcome::Done(summary) => tracing::info!(
                delivery = %d.id, plugin = %d.plugin, tenant = %d.tenant, event_id = %d.event_id,
                event_type = %d.event_type, attempt = d.attempts, summary, "delivery processed"
            ),
            AttemptOutcome::Retry { error, at_ms } => tracing::warn!(
                delivery = %d.id, plugin = %d.plugin, tenant = %d.tenant, event_id = %d.event_id,
                attempt = d.attempts, error, retry_at_ms = at_ms, "delivery failed; will retry"
            ),
            AttemptOutcome::Dead(error) => tracing::error!(
                delivery = %d.id, plugin = %d.plugin, tenant = %d.tenant, event_id = %d.event_id,
                attempt = d.attempts, error, "delivery is dead; replay it once the cause is fixed"
            ),
        }
    }
}

/// What attempt number `attempts` of a delivery comes to, given what the
/// plugin answered, at `now_ms`; `unit` in [0, 1) is the backoff's jitter.
pub fn decide(
    attempts: u32,
    max_attempts: u32,
    result: Result<Result<String, PluginError>, CallError>,
    now_ms: i64,
    unit: f64,
) -> AttemptOutcome {
    let error = match result {
        Ok(Ok(summary)) => return AttemptOutcome::Done(summary),
        Ok(Err(PluginError::Retryable(error))) => error,
        Ok(Err(PluginError::Permanent(error))) => return AttemptOutcome::Dead(error),
        Ok(Err(PluginError::InvalidInput(error))) => {
            return AttemptOutcome::Dead(format!("invalid input: {error}"));
        }
        Ok(Err(PluginError::Unsupported(error))) => {
            return AttemptOutcome::Dead(format!("unsupported: {error}"));
        }
        // A trap or timeout may be load or a passing upstream stall; the
        // attempt limit stops a plugin that always fails.
        Err(err) => err.to_string(),
    };
    retry_or_dead(attempts, max_attempts, error, now_ms, unit)
}

/// A retry after the backoff for `attempts`, or dead once `attempts` has
/// reached `max_attempts`.
pub fn retry_or_dead(
    attempts: u32,
    max_attempts: u32,
    error: String,
    now_ms: i64,
    unit: f64,
) -> AttemptOutcome {
    if attempts >= max_attempts {
        return AttemptOutcome::Dead(format!("gave up after {attempts} attempts: {error}"));
    }
    let delay = backoff(attempts, unit);
    let at_ms = now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
    AttemptOutcome::Retry { error, at_ms }
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

    fn retryable() -> Result<Result<String, PluginError>, CallError> {
        Ok(Err(PluginError::Retryable("upstream 503".into())))
    }

    #[test]
    fn retryable_failures_back_off_from_the_clock_then_go_dead() {
        let now = 1_000_000;
        let schedule: Vec<AttemptOutcome> = (1..=4)
            .map(|attempt| decide(attempt, 4, retryable(), now, 1.0))
            .collect();
        let delays: Vec<i64> = schedule
            .iter()
            .filter_map(|o| match o {
                AttemptOutcome::Retry { at_ms, .. } => Some(at_ms - now),
                _ => None,
            })
            .collect();
        assert_eq!(delays, [1_000, 2_000, 4_000]);
        let AttemptOutcome::Dead(error) = &schedule[3] else {
            panic!("the fourth of four attempts is the last: {schedule:?}")
        };
        assert!(
            error.contains("gave up after 4 attempts: upstream 503"),
            "{error}"
        );
        let jittered = decide(3, 4, retryable(), now, 0.0);
        assert!(matches!(jittered, AttemptOutcome::Retry { at_ms, .. } if at_ms - now == 2_000));
    }

    #[test]
    fn permanent_failures_are_dead_at_once_and_traps_are_retried() {
        let permanent = Ok(Err(PluginError::Permanent("bad account".into())));
        assert!(
            matches!(decide(1, 8, permanent, 0, 0.5), AttemptOutcome::Dead(e) if e == "bad account")
        );
        let invalid = Ok(Err(PluginError::InvalidInput("no id".into())));
        assert!(matches!(
            decide(1, 8, invalid, 0, 0.5),
            AttemptOutcome::Dead(_)
        ));
        let trap = Err(CallError::Trap("unreachable".into()));
        assert!(matches!(
            decide(1, 8, trap, 0, 0.5),
            AttemptOutcome::Retry { .. }
        ));
        let done = Ok(Ok("ok".into()));
        assert!(matches!(
            decide(8, 8, done, 0, 0.5),
            AttemptOutcome::Done(_)
        ));
    }
}
