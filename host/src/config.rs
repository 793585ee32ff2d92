//! `plugins.toml`: tenants, the plugins each enables, their settings,
//! secrets and allowlists.
//!
//! Parsing is strict (unknown keys are errors) because a misspelt key that is
//! silently ignored is the most expensive kind of configuration bug. Every
//! error names the file and the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::capabilities::http::HostPattern;
use crate::scheduler::schedule::{MissedPolicy, Schedule, parse_zone};
use crate::store::DEFAULT_BUSY_TIMEOUT;

/// Where the host listens when neither the file nor `--listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// Webhook bodies above this are refused with 413; upstreams send far less.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A plugin call that has not finished by then is stopped. Generous enough
/// for a few upstream round trips, short enough that a stuck call frees its
/// slot quickly.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 10_000;

/// A delivery that failed this many times is set aside as dead.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// The store used when the file names none: SQLite beside the config file.
pub const DEFAULT_DATABASE: &str = "sqlite://.switchyard/switchyard.db";

/// The whole configuration, with paths resolved against the file's folder.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from, for error messages.
    pub path: PathBuf,
    /// Where `.wasm` plugins are loaded from.
    pub plugins_dir: PathBuf,
    /// `sqlite://…` URL of the store.
    pub database: String,
    /// Address of the HTTP server.
    pub listen: SocketAddr,
    /// Largest accepted webhook or event body.
    pub max_body_bytes: usize,
    /// Deadline of one plugin call.
    pub call_timeout: Duration,
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// How long a write waits for a locked database before the store gives
    /// up (and webhooks get 503).
    pub store_busy_timeout: Duration,
    /// Bearer token of the admin API; the admin API is off without one.
    pub admin_token: Option<SecretRef>,
    /// Tenants by name.
    pub tenants: BTreeMap<String, Tenant>,
    /// Limits of each plugin, with the defaults for those not named.
    pub limits: LimitsTable,
    /// Where compiled plugins are cached between runs.
    pub cache_dir: PathBuf,
}

/// Limits of every plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsTable {
    /// For plugins without a `[plugins.NAME]` table.
    pub default: PluginLimits,
    /// By plugin name.
    pub plugins: BTreeMap<String, PluginLimits>,
}

impl LimitsTable {
    /// The longest call deadline of any plugin.
    pub fn longest_timeout(&self) -> Duration {
        let named = self.plugins.values().map(|l| l.timeout);
        named.fold(self.default.timeout, Duration::max)
    }

    /// The limits of `plugin`.
    pub fn of(&self, plugin: &str) -> &PluginLimits {
        self.plugins.get(plugin).unwrap_or(&self.default)
    }
}

/// What one plugin may use. Every limit hit is a typed error, a metric and a
/// log line naming the plugin and tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// Wall-clock deadline of one call, host calls included.
    pub timeout: Duration,
    /// Largest linear memory of one instance.
    pub memory_bytes: usize,
    /// Fuel (roughly, wasm instructions) per call; none for no limit.
    pub fuel: Option<u64>,
    /// Instances of this plugin running at once.
    pub max_concurrency: usize,
    /// Of those, how many one tenant may hold, so a busy tenant leaves room
    /// for the others.
    pub max_concurrency_per_tenant: usize,
    /// Calls that may wait for a slot; more are refused at once.
    pub queue: usize,
    /// How long a call waits for a slot before giving up.
    pub queue_timeout: Duration,
}

/// Instances of one plugin at once, unless configured.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;

/// Memory of one instance, unless configured.
pub const DEFAULT_MEMORY_MB: usize = 64;

/// The most memory a plugin may be given: the pooling allocator reserves
/// address space for this much per slot.
pub const MAX_MEMORY_MB: usize = 1024;

/// Waiting calls per plugin, unless configured.
pub const DEFAULT_QUEUE: usize = 256;

/// How long a call waits for a slot, unless configured.
pub const DEFAULT_QUEUE_TIMEOUT_MS: u64 = 5_000;

impl PluginLimits {
    fn defaults(timeout: Duration) -> Self {
        Self {
            timeout,
            memory_bytes: DEFAULT_MEMORY_MB * 1024 * 1024,
            fuel: None,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_concurrency_per_tenant: per_tenant_share(DEFAULT_MAX_CONCURRENCY),
            queue: DEFAULT_QUEUE,
            queue_timeout: Duration::from_millis(DEFAULT_QUEUE_TIMEOUT_MS),
        }
    }
}

/// Three quarters of the slots: one tenant can be busy without shutting the
/// others out.
fn per_tenant_share(max: usize) -> usize {
    (max * 3 / 4).max(1)
}

/// One tenant: a marketplace (or one of its environments).
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The tenant's name, as used in URLs.
    pub name: String,
    /// Secret that signs Medusa's events posted to `/events/{tenant}`.
    pub events_secret: Option<SecretRef>,
    /// The IANA time zone the tenant's job schedules are read in.
    pub timezone: chrono_tz::Tz,
    /// Plugins this tenant enables, by plugin name.
    pub plugins: BTreeMap<String, TenantPlugin>,
}

/// How one tenant runs one plugin.
#[derive(Debug, Clone, Default)]
pub struct TenantPlugin {
    /// Hosts the plugin may call for this tenant.
    pub allow_hosts: Vec<HostPattern>,
    /// Internal ranges (loopback, private, link-local…) the plugin may reach
    /// anyway, such as `127.0.0.0/8` for local simulators.
    pub allow_private: Vec<ipnet::IpNet>,
    /// Serve the plugin's route aliases (fixed paths such as
    /// `/admin/integrations/stripe/webhook`) for this tenant. At most one
    /// tenant may claim each path.
    pub route_aliases: bool,
    /// Plain settings; strings as written, other values as JSON text.
    pub config: BTreeMap<String, String>,
    /// Secrets by the name the plugin uses.
    pub secrets: BTreeMap<String, SecretRef>,
    /// The tenant's changes to the plugin's jobs, by job name.
    pub jobs: BTreeMap<String, JobSettings>,
}

/// A tenant's settings for one plugin job; unset fields keep the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// Replaces the manifest's schedule (already checked to parse).
    pub schedule: Option<String>,
    /// What to do about runs missed while the host was down.
    pub missed: MissedPolicy,
    /// False stops the schedule; the job can still be run by hand.
    pub enabled: bool,
}

/// Where a secret's value comes from and where it may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Environment variable holding the value.
    pub env: String,
    /// Hosts the host may attach the secret to; empty means only for HMAC.
    pub hosts: Vec<HostPattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    plugins_dir: PathBuf,
    database: Option<String>,
    listen: Option<String>,
    max_body_bytes: Option<usize>,
    call_timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    store_busy_timeout_ms: Option<u64>,
    admin_token: Option<RawSecret>,
    cache_dir: Option<PathBuf>,
    #[serde(default)]
    tenants: BTreeMap<String, RawTenant>,
    #[serde(default)]
    plugins: BTreeMap<String, RawLimits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    timeout_ms: Option<u64>,
    memory_mb: Option<usize>,
    fuel: Option<u64>,
    max_concurrency: Option<usize>,
    max_concurrency_per_tenant: Option<usize>,
    queue: Option<usize>,
    queue_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    events_secret: Option<RawSecret>,
    timezone: Option<String>,
    #[serde(default)]
    plugins: BTreeMap<String, RawTenantPlugin>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    schedule: Option<String>,
    missed: Option<String>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenantPlugin {
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    #[serde(default)]
    allow_hosts: Vec<String>,
    #[serde(default)]
    allow_private: Vec<String>,
    #[serde(default)]
    route_aliases: bool,
    #[serde(default)]
    config: toml::Table,
    #[serde(default)]
    secrets: BTreeMap<String, RawSecret>,
    #[serde(default)]
    jobs: BTreeMap<String, RawJob>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a secret reference such as { env = \"VAR\" }"
)]
struct RawSecret {
    env: String,
    #[serde(default)]
    hosts: Vec<String>,
}

fn enabled_by_default() -> bool {
    true
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Validates `text` as if read from `path` (which only anchors relative
    /// paths and error messages).
    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let file = path.display().to_string();
        build(&file, base, raw)
    }
}

fn build(file: &str, base: &Path, raw: RawConfig) -> anyhow::Result<Config> {
    let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = listen
        .parse()
        .with_context(|| format!("{file}: key `listen`: {listen:?} is not an address:port"))?;
    let database = raw.database.as_deref().unwrap_or(DEFAULT_DATABASE);
    let database = resolve_database(file, base, database)?;

    let max_body_bytes = positive(file, "max_body_bytes", raw.max_body_bytes)?;
    let call_timeout_ms = positive(file, "call_timeout_ms", raw.call_timeout_ms)?;
    let max_attempts = positive(file, "max_attempts", raw.max_attempts)?;
    let busy_ms = positive(file, "store_busy_timeout_ms", raw.store_busy_timeout_ms)?;
    let admin_token = raw
        .admin_token
        .map(|secret| secret_ref(file, "admin_token", secret))
        .transpose()?;

    let timeout = Duration::from_millis(call_timeout_ms.unwrap_or(DEFAULT_CALL_TIMEOUT_MS));
    let default = PluginLimits::defaults(timeout);
    let mut plugins = BTreeMap::new();
    for (name, limits) in raw.plugins {
        check_name(file, "plugins", &name)?;
        let limits = build_limits(file, &format!("plugins.{name}"), &default, limits)?;
        plugins.insert(name, limits);
    }

    let mut tenants = BTreeMap::new();
    for (name, tenant) in raw.tenants {
        let tenant = build_tenant(file, name.clone(), tenant)?;
        tenants.insert(name, tenant);
    }

    Ok(Config {
        path: PathBuf::from(file),
        plugins_dir: base.join(raw.plugins_dir),
        database,
        listen,
        max_body_bytes: max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        call_timeout: timeout,
        max_attempts: max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
        store_busy_timeout: busy_ms.map_or(DEFAULT_BUSY_TIMEOUT, Duration::from_millis),
        admin_token,
        tenants,
        limits: LimitsTable { default, plugins },
        cache_dir: base.join(
            raw.cache_dir
                .unwrap_or_else(|| PathBuf::from(".switchyard/cache")),
        ),
    })
}

fn build_limits(
    file: &str,
    table: &str,
    default: &PluginLimits,
    raw: RawLimits,
) -> anyhow::Result<PluginLimits> {
    let key = |name: &str| format!("{table}.{name}");
    let timeout_ms = positive(file, &key("timeout_ms"), raw.timeout_ms)?;
    let memory_mb = positive(file, &key("memory_mb"), raw.memory_mb)?;
    if memory_mb.is_some_and(|mb| mb > MAX_MEMORY_MB) {
        bail!(
            "{file}: key `{}` must be at most {MAX_MEMORY_MB}",
            key("memory_mb")
        );
    }
    let fuel = positive(file, &key("fuel"), raw.fuel)?;
    let max = positive(file, &key("max_concurrency"), raw.max_concurrency)?;
    let max = max.unwrap_or(default.max_concurrency);
    let per_tenant = positive(
        file,
        &key("max_concurrency_per_tenant"),
        raw.max_concurrency_per_tenant,
    )?;
    if let Some(share) = per_tenant.filter(|&share| share > max) {
        bail!(
            "{file}: key `{}` is {share}, more than the {max} of `{}`: one tenant can \
             never use more than the whole plugin",
            key("max_concurrency_per_tenant"),
            key("max_concurrency")
        );
    }
    let queue_timeout_ms = positive(file, &key("queue_timeout_ms"), raw.queue_timeout_ms)?;
    Ok(PluginLimits {
        timeout: timeout_ms.map_or(default.timeout, Duration::from_millis),
        memory_bytes: memory_mb.map_or(default.memory_bytes, |mb| mb * 1024 * 1024),
        fuel,
        max_concurrency: max,
        max_concurrency_per_tenant: per_tenant.unwrap_or_else(|| per_tenant_share(max)),
        queue: raw.queue.unwrap_or(default.queue),
        queue_timeout: queue_timeout_ms.map_or(default.queue_timeout, Duration::from_millis),
    })
}

fn positive<T: Default + PartialEq>(
    file: &str,
    key: &str,
    value: Option<T>,
) -> anyhow::Result<Option<T>> {
    if value.as_ref() == Some(&T::default()) {
        bail!("{file}: key `{key}` must be greater than zero");
    }
    Ok(value)
}

fn build_tenant(file: &str, name: String, raw: RawTenant) -> anyhow::Result<Tenant> {
    check_name(file, "tenants", &name)?;
    let key = format!("tenants.{name}.events_secret");
    let events_secret = raw
        .events_secret
        .map(|s| secret_ref(file, &key, s))
        .transpose()?;
    let zone = raw.timezone.as_deref().unwrap_or("UTC");
    let timezone = parse_zone(zone)
        .map_err(|reason| anyhow::anyhow!("{file}: key `tenants.{name}.timezone`: {reason}"))?;

    let mut plugins = BTreeMap::new();
    for (plugin, settings) in raw.plugins {
        let prefix = format!("tenants.{name}.plugins.{plugin}");
        check_name(file, &format!("tenants.{name}.plugins"), &plugin)?;
        if settings.enabled {
            let built = build_tenant_plugin(file, &prefix, timezone, settings)?;
            plugins.insert(plugin, built);
        }
    }
    Ok(Tenant {
        name,
        events_secret,
        timezone,
        plugins,
    })
}

fn build_tenant_plugin(
    file: &str,
    prefix: &str,
    zone: chrono_tz::Tz,
    raw: RawTenantPlugin,
) -> anyhow::Result<TenantPlugin> {
    let allow_hosts = host_patterns(file, &format!("{prefix}.allow_hosts"), &raw.allow_hosts)?;

    let mut config = BTreeMap::new();
    for (key, value) in raw.config {
        let text = match value {
            toml::Value::String(text) => text,
            other => serde_json::to_string(&other)
                .with_context(|| format!("{file}: key `{prefix}.config.{key}`"))?,
        };
        config.insert(key, text);
    }

    let mut secrets = BTreeMap::new();
    for (name, secret) in raw.secrets {
        if config.contains_key(&name) {
            bail!("{file}: `{name}` appears under both `{prefix}.config` and `{prefix}.secrets`");
        }
        let key = format!("{prefix}.secrets.{name}");
        secrets.insert(name, secret_ref(file, &key, secret)?);
    }
    let mut allow_private = Vec::new();
    for range in &raw.allow_private {
        let net = range.parse().with_context(|| {
            format!("{file}: key `{prefix}.allow_private`: {range:?} is not a CIDR range")
        })?;
        allow_private.push(net);
    }
    let mut jobs = BTreeMap::new();
    for (job, settings) in raw.jobs {
        let key = format!("{prefix}.jobs.{job}");
        jobs.insert(job, build_job(file, &key, zone, settings)?);
    }
    Ok(TenantPlugin {
        allow_hosts,
        allow_private,
        route_aliases: raw.route_aliases,
        config,
        secrets,
        jobs,
    })
}

fn build_job(
    file: &str,
    key: &str,
    zone: chrono_tz::Tz,
    raw: RawJob,
) -> anyhow::Result<JobSettings> {
    if let Some(schedule) = &raw.schedule {
        Schedule::parse(schedule, zone)
            .map_err(|reason| anyhow::anyhow!("{file}: key `{key}.schedule`: {reason}"))?;
    }
    let missed = match raw.missed.as_deref() {
        None => MissedPolicy::default(),
        Some(text) => MissedPolicy::parse(text).with_context(|| {
            format!("{file}: key `{key}.missed`: {text:?} must be \"skip\" or \"run-once\"")
        })?,
    };
    Ok(JobSettings {
        schedule: raw.schedule,
        missed,
        enabled: raw.enabled,
    })
}

fn secret_ref(file: &str, key: &str, raw: RawSecret) -> anyhow::Result<SecretRef> {
    let valid = !raw.env.is_empty()
        && raw
            .env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !raw.env.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        bail!(
            "{file}: key `{key}.env`: {:?} is not an environment variable name",
            raw.env
        );
    }
    let hosts = host_patterns(file, &format!("{key}.hosts"), &raw.hosts)?;
    Ok(SecretRef {
        env: raw.env,
        hosts,
    })
}

fn host_patterns(file: &str, key: &str, hosts: &[String]) -> anyhow::Result<Vec<HostPattern>> {
    hosts
        .iter()
        .map(|host| {
            HostPattern::parse(host).with_context(|| format!("{file}: key `{key}`: {host:?}"))
        })
        .collect()
}

/// Tenant and plugin names appear in URLs and store keys, so they are kept to
/// a small safe alphabet.
fn check_name(file: &str, table: &str, name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "{file}: table `{table}`: name {name:?} must be 1-64 characters of a-z, 0-9, - and _"
        );
    }
    Ok(())
}

/// Resolves a relative SQLite path against the config file's folder, so the
/// host finds the same database whatever its working directory.
fn resolve_database(file: &str, base: &Path, url: &str) -> anyhow::Result<String> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        bail!("{file}: key `database`: {url:?} must start with sqlite://");
    };
    if path.is_empty() {
        bail!("{file}: key `database`: no path after sqlite://");
    }
    if path == ":memory:" || Path::new(path).is_absolute() {
        return Ok(url.to_owned());
    }
    Ok(format!("sqlite://{}", base.join(path).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::parse(Path::new("/etc/switchyard/plugins.toml"), text)
    }

    const GOOD: &str = r#"
        plugins_dir = "plugins"
        [tenants.demo.plugins.stripe-connect]
        allow_hosts = ["api.stripe.com", "127.0.0.1:8791"]
        config = { medusa_url = "http://127.0.0.1:8791", retries = 3 }
        secrets.stripe_secret_key = { env = "STRIPE_SECRET_KEY", hosts = ["api.stripe.com"] }
    "#;

    #[test]
    fn resolves_paths_against_the_config_folder() {
        let config = parse(GOOD).expect("valid");
        assert_eq!(config.plugins_dir, Path::new("/etc/switchyard/plugins"));
        assert_eq!(
            config.database,
            "sqlite:///etc/switchyard/.switchyard/switchyard.db"
        );
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn keeps_strings_as_written_and_other_values_as_json() {
        let config = parse(GOOD).expect("valid");
        let plugin = &config.tenants["demo"].plugins["stripe-connect"];
        assert_eq!(plugin.config["medusa_url"], "http://127.0.0.1:8791");
        assert_eq!(plugin.config["retries"], "3");
        assert_eq!(plugin.secrets["stripe_secret_key"].env, "STRIPE_SECRET_KEY");
    }

    #[test]
    fn unknown_keys_name_the_file_and_the_key() {
        let err = parse("plugins_dir = \"p\"\nlisten_on = \"x\"").expect_err("unknown key");
        let text = format!("{err:#}");
        assert!(text.contains("/etc/switchyard/plugins.toml"), "{text}");
        assert!(text.contains("listen_on"), "{text}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            ("plugins_dir = \"p\"\nlisten = \"nowhere\"", "listen"),
            ("plugins_dir = \"p\"\nmax_body_bytes = 0", "max_body_bytes"),
            ("plugins_dir = \"p\"\ndatabase = \"mysql://x\"", "database"),
            ("plugins_dir = \"p\"\n[tenants.Demo]", "Demo"),
            (
                "plugins_dir = \"p\"\n[tenants.a.plugins.b]\nsecrets.k = { env = \"1X\" }",
                "tenants.a.plugins.b.secrets.k.env",
            ),
            (
                "plugins_dir = \"p\"\n[tenants.a.plugins.b]\nallow_hosts = [\"http://x/\"]",
                "tenants.a.plugins.b.allow_hosts",
            ),
        ];
        for (text, key) in cases {
            let err = format!("{:#}", parse(text).expect_err(text));
            assert!(err.contains(key), "{key} not in {err}");
        }
    }

    #[test]
    fn job_overrides_and_time_zones_are_checked_with_their_key() {
        let good = "plugins_dir = \"p\"\nstore_busy_timeout_ms = 50\n\
            [tenants.a]\ntimezone = \"Europe/Berlin\"\n\
            [tenants.a.plugins.b.jobs.sync]\nschedule = \"0 30 2 * * *\"\nmissed = \"skip\"";
        let config = parse(good).expect("valid");
        assert_eq!(config.store_busy_timeout, Duration::from_millis(50));
        let tenant = &config.tenants["a"];
        assert_eq!(tenant.timezone, chrono_tz::Europe::Berlin);
        let job = &tenant.plugins["b"].jobs["sync"];
        assert_eq!(job.schedule.as_deref(), Some("0 30 2 * * *"));
        assert_eq!((job.missed, job.enabled), (MissedPolicy::Skip, true));

        let cases = [
            (
                "[tenants.a]\ntimezone = \"Mars/Base\"",
                "tenants.a.timezone",
            ),
            (
                "[tenants.a.plugins.b.jobs.sync]\nschedule = \"30 2 * * *\"",
                "tenants.a.plugins.b.jobs.sync.schedule",
            ),
            (
                "[tenants.a.plugins.b.jobs.sync]\nmissed = \"later\"",
                "tenants.a.plugins.b.jobs.sync.missed",
            ),
        ];
        for (text, key) in cases {
            let text = format!("plugins_dir = \"p\"\n{text}");
            let err = format!("{:#}", parse(&text).expect_err(&text));
            assert!(err.contains(key), "{key} not in {err}");
        }
    }

    #[test]
    fn plugin_limits_override_the_defaults() {
        let text = "plugins_dir = \"p\"\ncall_timeout_ms = 2000\n\
                    [plugins.spin]\ntimeout_ms = 50\nmemory_mb = 8\nmax_concurrency = 4";
        let config = parse(text).expect("valid");
        let spin = config.limits.of("spin");
        assert_eq!(spin.timeout, Duration::from_millis(50));
        assert_eq!(spin.memory_bytes, 8 * 1024 * 1024);
        assert_eq!(
            (spin.max_concurrency, spin.max_concurrency_per_tenant),
            (4, 3)
        );
        assert_eq!(config.limits.of("other").timeout, Duration::from_secs(2));
        let text = "plugins_dir = \"p\"\n[plugins.x]\nmax_concurrency = 2\n\
                    max_concurrency_per_tenant = 5";
        let err = parse(text).expect_err("share above the whole");
        assert!(
            format!("{err:#}").contains("plugins.x.max_concurrency_per_tenant"),
            "{err:#}"
        );
        let err = parse("plugins_dir = \"p\"\n[plugins.x]\nmemory_mb = 4096").expect_err("too big");
        assert!(format!("{err:#}").contains("plugins.x.memory_mb"));
    }

    #[test]
    fn a_disabled_plugin_is_left_out() {
        let text = "plugins_dir = \"p\"\n[tenants.a.plugins.b]\nenabled = false";
        assert!(parse(text).expect("valid").tenants["a"].plugins.is_empty());
    }
}
