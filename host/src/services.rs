//! What every plugin call and every route shares: the clock, the outbound
//! client, the store, metrics, and the current registry of plugins.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::capabilities::clock::Clock;
use crate::registry::Registry;
use crate::store::Store;
use crate::telemetry::Metrics;

/// Shared host services.
#[derive(Debug)]
pub struct HostServices {
    /// The host's clock.
    pub clock: Clock,
    /// The durable store.
    pub store: Store,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The plugins and tenants in force; replaced whole on reload.
    pub registry: ArcSwap<Registry>,
    /// Wakes the dispatcher when a delivery is stored.
    pub inbox_wakeup: Notify,
}

impl HostServices {
    /// Services with an empty registry, to be filled once the runtime exists.
    pub fn new(clock: Clock, store: Store) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            clock,
            store,
            metrics: Metrics::new()?,
            registry: ArcSwap::from_pointee(Registry::default()),
            inbox_wakeup: Notify::new(),
        }))
    }

    /// Now, as the store wants it.
    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX)
    }
}
