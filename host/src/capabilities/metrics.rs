//! `metrics`: business and technical metrics reported by plugins. The host
//! names and labels them (see `telemetry`), so plugins cannot collide or
//! blow up cardinality.

use crate::runtime::bindings::metrics;
use crate::runtime::state::CallState;
use crate::telemetry::{PluginMetricKind, PluginSample};

impl CallState {
    fn record_metric(
        &self,
        name: &str,
        kind: PluginMetricKind,
        value: f64,
        labels: &[(String, String)],
    ) {
        let sample = PluginSample {
            plugin: &self.plugin,
            tenant: self.tenant(),
            name,
            kind,
            value,
            labels,
        };
        if let Err(reason) = self.host.metrics.record_plugin(sample) {
            tracing::debug!(
                plugin = %self.plugin, tenant = self.tenant(), call_id = %self.call_id,
                metric = name, reason, "plugin metric dropped"
            );
        }
    }
}

impl metrics::Host for CallState {
    async fn counter_add(
        &mut self,
        name: String,
        value: u64,
        labels: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.record_metric(&name, PluginMetricKind::Counter, value as f64, &labels);
        Ok(())
    }

    async fn gauge_set(
        &mut self,
        name: String,
        value: f64,
        labels: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.record_metric(&name, PluginMetricKind::Gauge, value, &labels);
        Ok(())
    }

    async fn histogram_observe(
        &mut self,
        name: String,
        value: f64,
        labels: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.record_metric(&name, PluginMetricKind::Histogram, value, &labels);
        Ok(())
    }
}
