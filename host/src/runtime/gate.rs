//! Admission to a plugin: at most `max_concurrency` instances of it run at
//! once, one tenant holds at most its share, and calls beyond that wait in a
//! bounded queue with a deadline instead of failing at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::CallError;
use crate::config::PluginLimits;

/// The slots of one plugin.
#[derive(Debug)]
pub struct Gate {
    limits: PluginLimits,
    slots: Arc<Semaphore>,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    waiting: AtomicUsize,
}

/// Held while a call runs; dropping it frees the slots.
#[derive(Debug)]
pub struct Admission {
    _tenant: OwnedSemaphorePermit,
    _plugin: OwnedSemaphorePermit,
}

impl Gate {
    /// A gate enforcing `limits`.
    pub fn new(limits: PluginLimits) -> Self {
        let slots = Arc::new(Semaphore::new(limits.max_concurrency));
        Self {
            limits,
            slots,
            tenants: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The limits this gate enforces.
    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Waits for a slot for `tenant`: the tenant's share first, then the
    /// plugin's, both FIFO, so waiting calls are served in arrival order.
    pub async fn admit(&self, tenant: &str) -> Result<Admission, CallError> {
        let tenant_slots = self.tenant_slots(tenant);
        if let (Ok(t), Ok(p)) = (
            tenant_slots.clone().try_acquire_owned(),
            self.slots.clone().try_acquire_owned(),
        ) {
            return Ok(Admission {
                _tenant: t,
                _plugin: p,
            });
        }

        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(CallError::Overloaded(self.limits.queue));
        }
        let slots = self.slots.clone();
        let wait = async move {
            let tenant = tenant_slots.acquire_owned().await;
            let plugin = slots.acquire_owned().await;
            (tenant, plugin)
        };
        let admitted = tokio::time::timeout(self.limits.queue_timeout, wait).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match admitted {
            Ok((Ok(t), Ok(p))) => Ok(Admission {
                _tenant: t,
                _plugin: p,
            }),
            // The semaphores are never closed; treat it like a full queue.
            Ok(_) => Err(CallError::Overloaded(self.limits.queue)),
            Err(_) => Err(CallError::QueueTimeout(self.limits.queue_timeout)),
        }
    }

    fn tenant_slots(&self, tenant: &str) -> Arc<Semaphore> {
        // A poisoned map only means another call panicked mid-insert; the
        // map itself is still consistent.
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let share = self.limits.max_concurrency_per_tenant;
        tenants
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(share)))
            .clone()
    }
}

/// The gates of all plugins, rebuilt for a plugin when its limits change
/// (calls admitted by the old gate keep their slots there).
#[derive(Debug, Default)]
pub struct Gates {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

impl Gates {
    /// The gate of `plugin` under `limits`.
    pub fn get(&self, plugin: &str, limits: &PluginLimits) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        let current = gates.get(plugin).filter(|gate| gate.limits() == limits);
        if let Some(gate) = current {
            return gate.clone();
        }
        let gate = Arc::new(Gate::new(limits.clone()));
        gates.insert(plugin.to_owned(), gate.clone());
        gate
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(max: usize, per_tenant: usize, queue: usize) -> PluginLimits {
        PluginLimits {
            timeout: Duration::from_secs(1),
            memory_bytes: 1 << 20,
            fuel: None,
            max_concurrency: max,
            max_concurrency_per_tenant: per_tenant,
            queue,
            queue_timeout: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn a_busy_tenant_leaves_room_for_another() {
        let gate = Gate::new(limits(4, 3, 8));
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(gate.admit("busy").await.expect("within the share"));
        }
        assert!(matches!(
            gate.admit("busy").await,
            Err(CallError::QueueTimeout(_))
        ));
        gate.admit("quiet")
            .await
            .expect("the last slot is the other tenant's");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let gate = Arc::new(Gate::new(limits(1, 1, 1)));
        let _running = gate.admit("t").await.expect("first");
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.admit("t").await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(matches!(
            gate.admit("t").await,
            Err(CallError::Overloaded(1))
        ));
        let waited = waiter.await.expect("task");
        assert!(matches!(waited, Err(CallError::QueueTimeout(_))));
    }

    #[tokio::test]
    async fn a_waiting_call_gets_the_freed_slot() {
        let gate = Arc::new(Gate::new(limits(1, 1, 4)));
        let running = gate.admit("t").await.expect("first");
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.admit("t").await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(running);
        assert!(waiter.await.expect("task").is_ok());
    }
}
