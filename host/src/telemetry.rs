//! Logging setup and the Prometheus metrics the host exports at
//! `/health/metrics`, including those plugins report through `metrics`.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// Distinct label sets one plugin metric may have; past it, new series are
/// dropped, so a plugin labelling by order id cannot exhaust memory.
pub const MAX_SERIES_PER_METRIC: usize = 500;

/// Labels a plugin may add to a metric, besides `plugin` and `tenant`.
pub const MAX_PLUGIN_LABELS: usize = 4;

/// Plugin metrics a host keeps, across all plugins.
pub const MAX_PLUGIN_METRICS: usize = 200;

/// Crates whose debug logs describe every function the compiler compiles,
/// thousands of lines per plugin: kept at `warn` unless `LOG_LEVEL` names
/// them.
const COMPILER_TARGETS: [&str; 2] = ["cranelift", "wasmtime"];

/// Starts `tracing`: JSON lines when `LOG_FORMAT=json`, readable lines
/// otherwise, at the level `LOG_LEVEL` gives (default `info`). A value
/// that means nothing is reported rather than ignored.
pub fn init_logging() {
    let level = std::env::var("LOG_LEVEL").ok();
    let default = || log_filter("info").unwrap_or_default();
    let (filter, bad_level) = match level.as_deref().map(log_filter) {
        None => (default(), None),
        Some(Ok(filter)) => (filter, None),
        Some(Err(err)) => (default(), Some(err)),
    };
    let format = std::env::var("LOG_FORMAT").ok();
    let json = format
        .as_deref()
        .is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let bad_format = format.filter(|f| !json && !f.eq_ignore_ascii_case("text"));
    // Colours only for a terminal: a log file should not hold escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber; nothing to report.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Some(err) = bad_level {
        tracing::warn!(LOG_LEVEL = level.as_deref().unwrap_or(""), error = %err,
            "LOG_LEVEL is not a level or filter; logging at info");
    }
    if let Some(format) = bad_format {
        tracing::warn!(LOG_FORMAT = %format, "LOG_FORMAT is `json` or `text`; logging text");
    }
}

/// The filter `LOG_LEVEL` asks for, with the compiler's internals at
/// `warn` at most unless it names them.
fn log_filter(
    level: &str,
) -> Result<tracing_subscriber::EnvFilter, tracing_subscriber::filter::ParseError> {
    let given: Vec<&str> = level.split(',').map(str::trim).collect();
    // A bare `error` or `off` is quieter than `warn`: the compiler follows it.
    let cap = given
        .iter()
        .find(|d| ["error", "off"].contains(&d.to_ascii_lowercase().as_str()))
        .copied()
        .unwrap_or("warn");
    let mut directives = level.to_owned();
    for target in COMPILER_TARGETS {
        if !given.iter().any(|d| d.starts_with(target)) {
            directives.push_str(&format!(",{target}={cap}"));
        }
    }
    tracing_subscriber::EnvFilter::try_new(directives)
}

/// The host's metrics.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    plugin_calls: IntCounterVec,
    plugin_call_seconds: HistogramVec,
    outbound_requests: IntCounterVec,
    outbound_seconds: HistogramVec,
    deliveries: IntCounterVec,
    plugin_metrics: Mutex<PluginMetrics>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers every host metric.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("switchyard".into()), None)?;
        let http_requests = counter(
            &registry,
            "http_requests_total",
            "HTTP requests served",
            &["route", "status"],
        )?;
        let http_seconds = histogram(
            &registry,
            "http_request_seconds",
            "HTTP request latency",
            &["route"],
        )?;
        let plugin_calls = counter(
            &registry,
            "plugin_calls_total",
            "Calls into plugins",
            &["plugin", "export", "outcome"],
        )?;
        let plugin_call_seconds = histogram(
            &registry,
            "plugin_call_seconds",
            "Plugin call latency",
            &["plugin", "export"],
        )?;
        let outbound_requests = counter(
            &registry,
            "outbound_requests_total",
            "Requests plugins sent upstream",
            &["plugin", "host", "outcome"],
        )?;
        let outbound_seconds = histogram(
            &registry,
            "outbound_request_seconds",
            "Upstream request latency",
            &["plugin", "host"],
        )?;
        let deliveries = counter(
            &registry,
            "deliveries_total",
            "Delivery attempts by outcome",
            &["plugin", "outcome"],
        )?;
        Ok(Self {
            registry,
            http_requests,
            http_seconds,
            plugin_calls,
            plugin_call_seconds,
            outbound_requests,
            outbound_seconds,
            deliveries,
            plugin_metrics: Mutex::new(PluginMetrics::default()),
        })
    }

    /// Counts one served HTTP request.
    pub fn observe_http(&self, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
        self.http_seconds
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one plugin call.
    pub fn observe_call(&self, plugin: &str, export: &str, outcome: &str, elapsed: Duration) {
        self.plugin_calls
            .with_label_values(&[plugin, export, outcome])
            .inc();
        let seconds = elapsed.as_secs_f64();
        self.plugin_call_seconds
            .with_label_values(&[plugin, export])
            .observe(seconds);
    }

    /// Counts one outbound request.
    pub fn observe_outbound(&self, plugin: &str, host: &str, outcome: &str, elapsed: Duration) {
        self.outbound_requests
            .with_label_values(&[plugin, host, outcome])
            .inc();
        self.outbound_seconds
            .with_label_values(&[plugin, host])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one delivery attempt's outcome.
    pub fn observe_delivery(&self, plugin: &str, outcome: &str) {
        self.deliveries.with_label_values(&[plugin, outcome]).inc();
    }

    /// Records a plugin-reported metric; returns why it was dropped, if it was.
    pub fn record_plugin(&self, sample: PluginSample<'_>) -> Result<(), String> {
        let mut plugin_metrics = self
            .plugin_metrics
            .lock()
            .map_err(|_| "metrics lock poisoned")?;
        plugin_metrics.record(&self.registry, sample)
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> anyhow::Result<IntCounterVec> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> anyhow::Result<HistogramVec> {
    let metric = HistogramVec::new(HistogramOpts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// Which kind of metric a plugin reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginMetricKind {
    /// Only goes up.
    Counter,
    /// Set to a value.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

/// One value reported by a plugin.
#[derive(Debug)]
pub struct PluginSample<'a> {
    /// Reporting plugin.
    pub plugin: &'a str,
    /// Its tenant.
    pub tenant: &'a str,
    /// The plugin's metric name.
    pub name: &'a str,
    /// Kind.
    pub kind: PluginMetricKind,
    /// Value.
    pub value: f64,
    /// The plugin's labels.
    pub labels: &'a [(String, String)],
}

enum Family {
    Counter(CounterVec),
    Gauge(GaugeVec),
    Histogram(HistogramVec),
}

struct PluginFamily {
    kind: PluginMetricKind,
    label_names: Vec<String>,
    family: Family,
    series: HashSet<Vec<String>>,
}

#[derive(Default)]
struct PluginMetrics {
    families: HashMap<String, PluginFamily>,
}

impl PluginMetrics {
    fn record(&mut self, registry: &Registry, sample: PluginSample<'_>) -> Result<(), String> {
        let name = metric_name(sample.plugin, sample.name)?;
        let mut labels: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        labels.sort_unstable();
        let label_names: Vec<String> = labels
            .iter()
            .map(|(k, _)| label_name(k))
            .collect::<Result<_, _>>()?;
        if label_names.len() > MAX_PLUGIN_LABELS {
            return Err(format!(
                "metric {} has more than {MAX_PLUGIN_LABELS} labels",
                sample.name
            ));
        }

        if !self.families.contains_key(&name) {
            if self.families.len() >= MAX_PLUGIN_METRICS {
                return Err("too many plugin metrics".into());
            }
            let family = PluginFamily::register(registry, &name, sample.kind, label_names.clone())?;
            self.families.insert(name.clone(), family);
        }
        let Some(family) = self.families.get_mut(&name) else {
            return Err("metric vanished".into());
        };
        if family.kind != sample.kind || family.label_names != label_names {
            return Err(format!(
                "metric {} was first reported with another kind or labels",
                sample.name
            ));
        }

        let mut values = vec![sample.tenant.to_owned()];
        values.extend(
            labels
                .iter()
                .map(|(_, v)| v.chars().take(128).collect::<String>()),
        );
        if !family.series.contains(&values) && family.series.len() >= MAX_SERIES_PER_METRIC {
            return Err(format!(
                "metric {} reached {MAX_SERIES_PER_METRIC} series",
                sample.name
            ));
        }
        family.series.insert(values.clone());
        let mut all = vec![sample.plugin];
        all.extend(values.iter().map(String::as_str));
        family.observe(&all, sample.value)
    }
}

impl PluginFamily {
    fn register(
        registry: &Registry,
        name: &str,
        kind: PluginMetricKind,
        label_names: Vec<String>,
    ) -> Result<Self, String> {
        let mut names = vec!["plugin", "tenant"];
        names.extend(label_names.iter().map(String::as_str));
        let help = "Reported by a plugin";
        let family = match kind {
            PluginMetricKind::Counter => Family::Counter(
                CounterVec::new(Opts::new(name, help), &names).map_err(|e| e.to_string())?,
            ),
            PluginMetricKind::Gauge => Family::Gauge(
                GaugeVec::new(Opts::new(name, help), &names).map_err(|e| e.to_string())?,
            ),
            PluginMetricKind::Histogram => Family::Histogram(
                HistogramVec::new(HistogramOpts::new(name, help), &names)
                    .map_err(|e| e.to_string())?,
            ),
        };
        let collector: Box<dyn prometheus::core::Collector> = match &family {
            Family::Counter(m) => Box::new(m.clone()),
            Family::Gauge(m) => Box::new(m.clone()),
            Family::Histogram(m) => Box::new(m.clone()),
        };
        registry.register(collector).map_err(|e| e.to_string())?;
        Ok(Self {
            kind,
            label_names,
            family,
            series: HashSet::new(),
        })
    }

    fn observe(&self, values: &[&str], value: f64) -> Result<(), String> {
        if !value.is_finite() {
            return Err("metric values must be finite".into());
        }
        match &self.family {
            Family::Counter(m) if value >= 0.0 => m.with_label_values(values).inc_by(value),
            Family::Counter(_) => return Err("counters only go up".into()),
            Family::Gauge(m) => m.with_label_values(values).set(value),
            Family::Histogram(m) => m.with_label_values(values).observe(value),
        }
        Ok(())
    }
}

/// `switchyard_plugin_<plugin>_<name>`, so plugins never collide with each
/// other or with the host's own metrics.
fn metric_name(plugin: &str, name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(format!(
            "metric name {name:?} must match [a-z][a-z0-9_]{{0,63}}"
        ));
    }
    Ok(format!("plugin_{}_{name}", plugin.replace('-', "_")))
}

fn label_name(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name != "plugin"
        && name != "tenant";
    if !valid {
        return Err(format!(
            "label name {name:?} is reserved or not [a-z][a-z0-9_]{{0,31}}"
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_logs_leave_the_compiler_quiet_unless_named() {
        use tracing::Level;
        use tracing_subscriber::layer::SubscriberExt;
        let enabled = |level: &str| {
            let filter = log_filter(level).expect("a filter");
            let subscriber = tracing_subscriber::registry().with(filter);
            tracing::subscriber::with_default(subscriber, || {
                (
                    tracing::enabled!(target: "switchyard::runtime", Level::DEBUG),
                    tracing::enabled!(target: "cranelift_codegen::context", Level::DEBUG),
                    tracing::enabled!(target: "wasmtime_internal_cranelift", Level::DEBUG),
                )
            })
        };
        assert_eq!(enabled("debug"), (true, false, false));
        assert_eq!(
            enabled("debug,cranelift_codegen=debug"),
            (true, true, false)
        );
        assert_eq!(enabled("info"), (false, false, false));
        let warns = |level: &str| {
            let filter = log_filter(level).expect("a filter");
            let subscriber = tracing_subscriber::registry().with(filter);
            tracing::subscriber::with_default(
                subscriber,
                || tracing::enabled!(target: "cranelift_codegen::context", Level::WARN),
            )
        };
        assert!(warns("info"));
        assert!(
            !warns("error"),
            "a quieter level keeps the compiler as quiet"
        );
        assert!(log_filter("switchyard=loud").is_err());
    }

    fn sample<'a>(name: &'a str, labels: &'a [(String, String)]) -> PluginSample<'a> {
        PluginSample {
            plugin: "stripe-connect",
            tenant: "demo",
            name,
            kind: PluginMetricKind::Counter,
            value: 1.0,
            labels,
        }
    }

    #[test]
    fn plugin_metrics_carry_plugin_and_tenant() {
        let metrics = Metrics::new().expect("metrics");
        let labels = [("type".to_owned(), "account.updated".to_owned())];
        metrics
            .record_plugin(sample("webhooks_total", &labels))
            .expect("recorded");
        let text = metrics.render();
        assert!(text.contains(
            r#"switchyard_plugin_stripe_connect_webhooks_total{plugin="stripe-connect",tenant="demo",type="account.updated"} 1"#
        ), "{text}");
    }

    #[test]
    fn caps_series_per_metric() {
        let metrics = Metrics::new().expect("metrics");
        for i in 0..MAX_SERIES_PER_METRIC {
            let labels = [("order".to_owned(), i.to_string())];
            metrics
                .record_plugin(sample("orders_total", &labels))
                .expect("under the cap");
        }
        let labels = [("order".to_owned(), "one-too-many".to_owned())];
        assert!(
            metrics
                .record_plugin(sample("orders_total", &labels))
                .is_err()
        );
    }

    #[test]
    fn refuses_bad_names_and_changed_labels() {
        let metrics = Metrics::new().expect("metrics");
        assert!(metrics.record_plugin(sample("Bad-Name", &[])).is_err());
        let reserved = [("tenant".to_owned(), "other".to_owned())];
        assert!(metrics.record_plugin(sample("x_total", &reserved)).is_err());
        metrics
            .record_plugin(sample("y_total", &[]))
            .expect("first use");
        let extra = [("k".to_owned(), "v".to_owned())];
        assert!(metrics.record_plugin(sample("y_total", &extra)).is_err());
    }
}
