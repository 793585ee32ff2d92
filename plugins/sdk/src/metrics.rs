//! Business and technical metrics through the host, which prefixes names,
//! adds `plugin` and `tenant` labels and caps label cardinality. Keep label
//! values to small known sets.

use crate::host::{self, MetricKind};

/// Adds `value` to the counter `name`.
pub fn counter(name: &str, value: u64, labels: &[(&str, &str)]) {
    host::metric(MetricKind::Counter(value), name, labels);
}

/// Sets the gauge `name` to `value`.
pub fn gauge(name: &str, value: f64, labels: &[(&str, &str)]) {
    host::metric(MetricKind::Gauge(value), name, labels);
}

/// Records one observation of `value` in the histogram `name`.
pub fn histogram(name: &str, value: f64, labels: &[(&str, &str)]) {
    host::metric(MetricKind::Histogram(value), name, labels);
}
