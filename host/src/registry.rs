//! The plugins loaded from the plugins directory and, for each tenant that
//! enables one, the binding that holds its settings and secrets.
//!
//! A registry is built whole and then only read; a reload builds a new one.
//! Problems are collected rather than fatal, so one bad plugin or tenant
//! never keeps the others from serving.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::capabilities::addresses::AddressPolicy;
use crate::capabilities::http::HttpClient;
use crate::capabilities::secrets::{Secret, SecretSet, read_env};
use crate::config::{Config, Tenant, TenantPlugin};
use crate::runtime::{Manifest, Plugin, Runtime};

/// One tenant's use of one plugin.
#[derive(Debug)]
pub struct Binding {
    /// Plugin name.
    pub plugin: String,
    /// Tenant name.
    pub tenant: String,
    /// Settings and allowlist from `plugins.toml`.
    pub settings: TenantPlugin,
    /// Secret values, loaded from the environment.
    pub secrets: SecretSet,
    /// The outbound client, bound to this tenant's address policy.
    pub http: HttpClient,
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is not running.
    Error,
    /// Running, but probably not as intended.
    Warning,
}

/// Something wrong with a plugin file or a tenant's settings.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The plugin concerned, when known.
    pub plugin: Option<String>,
    /// The tenant concerned, when any.
    pub tenant: Option<String>,
    /// The plugin file concerned, when any.
    pub file: Option<PathBuf>,
    /// What is wrong, naming the key or import.
    pub message: String,
}

impl Problem {
    /// A problem with the config file as a whole, not one plugin or tenant.
    pub fn in_config(severity: Severity, file: PathBuf, message: String) -> Self {
        Self {
            severity,
            plugin: None,
            tenant: None,
            file: Some(file),
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}:")?;
        if let Some(file) = &self.file {
            write!(f, " {}:", file.display())?;
        }
        if let Some(plugin) = &self.plugin {
            write!(f, " plugin {plugin}:")?;
        }
        if let Some(tenant) = &self.tenant {
            write!(f, " tenant {tenant}:")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Everything loaded, by name.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    plugins: BTreeMap<String, Arc<Plugin>>,
    bindings: BTreeMap<(String, String), Arc<Binding>>,
    events_secrets: BTreeMap<String, Secret>,
    tenants: BTreeSet<String>,
    aliases: BTreeMap<String, Alias>,
    problems: Vec<Problem>,
}

/// A fixed path mapped to one plugin and tenant.
#[derive(Debug, Clone)]
pub struct Alias {
    /// Plugin name.
    pub plugin: String,
    /// Tenant name.
    pub tenant: String,
    /// The action it calls; none for a webhook route.
    pub action: Option<String>,
}

impl Registry {
    /// Loads every plugin in the configured directory and binds it to the
    /// tenants that enable it.
    pub async fn load(runtime: &Runtime, config: &Config) -> Self {
        Self::reload(runtime, config, &Self::default()).await
    }

    /// Like [`Registry::load`], reusing `previous`'s plugins whose files did
    /// not change, and keeping a previous version serving when its file was
    /// replaced by one that fails to load.
    pub async fn reload(runtime: &Runtime, config: &Config, previous: &Registry) -> Self {
        let mut registry = Self::default();
        registry
            .load_plugins(runtime, &config.plugins_dir, previous)
            .await;
        let file = config.path.display().to_string();
        for tenant in config.tenants.values() {
            registry.bind_tenant(&file, tenant);
        }
        registry.check_limits_names(&file, config);
        registry
    }

    /// Limits set for a plugin that is not loaded are probably set under a
    /// mistyped name, and would silently never apply.
    fn check_limits_names(&mut self, file: &str, config: &Config) {
        for name in config.limits.plugins.keys() {
            if !self.plugins.contains_key(name) {
                let message = format!(
                    "limits are set for plugin {name}, but no plugin of that name is loaded \
                     ({file}: plugins.{name})"
                );
                self.problem(Severity::Warning, Some(name), None, None, message);
            }
        }
    }

    async fn load_plugins(&mut self, runtime: &Runtime, dir: &Path, previous: &Registry) {
        let files = match plugin_files(dir) {
            Ok(files) => files,
            Err(err) => {
                let message = format!("cannot read plugins directory {}: {err}", dir.display());
                self.problem(Severity::Error, None, None, None, message);
                return;
            }
        };
        for file in &files {
            let serving = previous.plugins.values().find(|p| &p.file == file).cloned();
            let digest = file_digest(file);
            let unchanged = serving
                .as_ref()
                .filter(|p| digest.as_deref() == Some(&p.digest));
            if let Some(plugin) = unchanged {
                self.add_plugin(plugin.clone());
                continue;
            }
            let loaded = runtime.load(file).await;
            let loaded = loaded.and_then(|plugin| not_taken(plugin, file, previous, &files));
            match loaded {
                Ok(plugin) => self.add_plugin(Arc::new(plugin)),
                Err(err) => self.keep_serving(file.clone(), serving, &err),
            }
        }
    }

    /// A file that no longer loads: report it, and keep the version loaded
    /// from it before, if any, so its tenants are not left without it.
    fn keep_serving(&mut self, file: PathBuf, serving: Option<Arc<Plugin>>, err: &anyhow::Error) {
        let Some(old) = serving else {
            self.problem(Severity::Error, None, None, Some(file), format!("{err:#}"));
            return;
        };
        let name = old.manifest.name.clone();
        let message = format!(
            "{err:#}; still serving the previous version {} (sha256 {})",
            old.manifest.version,
            &old.digest[..12]
        );
        self.problem(Severity::Error, Some(&name), None, Some(file), message);
        self.add_plugin(old);
    }

    fn add_plugin(&mut self, plugin: Arc<Plugin>) {
        let name = plugin.manifest.name.clone();
        if let Some(first) = self.plugins.get(&name) {
            let message = format!(
                "plugin name {name} is already taken by {}",
                first.file.display()
            );
            self.problem(
                Severity::Error,
                Some(&name),
                None,
                Some(plugin.file.clone()),
                message,
            );
            return;
        }
        self.plugins.insert(name, plugin);
    }

    fn bind_tenant(&mut self, file: &str, tenant: &Tenant) {
        self.tenants.insert(tenant.name.clone());
        if let Some(secret) = &tenant.events_secret {
            match read_env(&secret.env) {
                Some(value) => {
                    self.events_secrets.insert(tenant.name.clone(), value);
                }
                None => {
                    let message = format!(
                        "events secret is not set: environment variable {} is missing or empty \
                         ({file}: tenants.{}.events_secret)",
                        secret.env, tenant.name
                    );
                    self.problem(Severity::Error, None, Some(&tenant.name), None, message);
                }
            }
        }
        for (plugin, settings) in &tenant.plugins {
            self.bind(file, &tenant.name, plugin, settings);
        }
    }

    fn bind(&mut self, file: &str, tenant: &str, plugin: &str, settings: &TenantPlugin) {
        let Some(loaded) = self.plugins.get(plugin).cloned() else {
            let message = "enabled in the config, but no plugin of that name is loaded".to_owned();
            self.problem(Severity::Error, Some(plugin), Some(tenant), None, message);
            return;
        };
        let (secrets, missing) = SecretSet::load(&settings.secrets);
        let prefix = format!("{file}: tenants.{tenant}.plugins.{plugin}");
        let mut errors = Vec::new();
        let mut warnings = Vec::new();

        for key in &loaded.manifest.config {
            let in_config = settings.config.contains_key(&key.name);
            let in_secrets = settings.secrets.contains_key(&key.name);
            let name = &key.name;
            if key.secret && in_config {
                errors.push(format!(
                    "{name} is a secret: move it to {prefix}.secrets.{name}"
                ));
            } else if !key.secret && in_secrets {
                errors.push(format!(
                    "{name} is not a secret: move it to {prefix}.config.{name}"
                ));
            } else if key.required && key.secret && !in_secrets {
                errors.push(format!(
                    "required secret {name} is not configured ({prefix}.secrets)"
                ));
            } else if key.required && !key.secret && !in_config {
                errors.push(format!(
                    "required config key {name} is missing ({prefix}.config)"
                ));
            }
        }
        for gone in &missing {
            let required = loaded
                .manifest
                .config_key(&gone.name)
                .is_some_and(|k| k.required);
            let text = format!(
                "secret {} is not set: environment variable {} is missing or empty \
                 ({prefix}.secrets.{})",
                gone.name, gone.env, gone.name
            );
            if required {
                errors.push(text)
            } else {
                warnings.push(text)
            }
        }
        let declared = |name: &String| loaded.manifest.config_key(name).is_some();
        for name in settings.config.keys().chain(settings.secrets.keys()) {
            if !declared(name) {
                warnings.push(format!("{name} is not a key this plugin reads ({prefix})"));
            }
        }

        for message in warnings {
            self.problem(Severity::Warning, Some(plugin), Some(tenant), None, message);
        }
        // An override under a job name the plugin lacks silently does
        // nothing, so it is an error; but it leaves the binding serving: a
        // typo must not take a tenant's webhooks offline.
        for message in stray_job_overrides(&prefix, settings, &loaded.manifest) {
            self.problem(Severity::Error, Some(plugin), Some(tenant), None, message);
        }
        if !errors.is_empty() {
            for message in errors {
                self.problem(Severity::Error, Some(plugin), Some(tenant), None, message);
            }
            return;
        }
        if settings.route_aliases {
            self.claim_aliases(file, tenant, &loaded);
        }
        let policy = Arc::new(AddressPolicy::allowing(settings.allow_private.clone()));
        let http = match HttpClient::new(policy) {
            Ok(http) => http,
            Err(err) => {
                let message = format!("cannot build the HTTP client: {err:#}");
                self.problem(Severity::Error, Some(plugin), Some(tenant), None, message);
                return;
            }
        };
        let binding = Binding {
            plugin: plugin.to_owned(),
            tenant: tenant.to_owned(),
            settings: settings.clone(),
            secrets,
            http,
        };
        self.bindings
            .insert((plugin.to_owned(), tenant.to_owned()), Arc::new(binding));
    }

    fn claim_aliases(&mut self, file: &str, tenant: &str, plugin: &Plugin) {
        let name = &plugin.manifest.name;
        for route in &plugin.manifest.routes {
            if let Some(taken) = self.aliases.get(&route.path) {
                let message = format!(
                    "route {} is already served for tenant {} \
                     ({file}: tenants.{tenant}.plugins.{name}.route_aliases)",
                    route.path, taken.tenant
                );
                self.problem(Severity::Error, Some(name), Some(tenant), None, message);
                continue;
            }
            let alias = Alias {
                plugin: name.clone(),
                tenant: tenant.to_owned(),
                action: route.action.clone(),
            };
            self.aliases.insert(route.path.clone(), alias);
        }
    }

    /// The alias registered for `path`.
    pub fn alias(&self, path: &str) -> Option<&Alias> {
        self.aliases.get(path)
    }

    fn problem(
        &mut self,
        severity: Severity,
        plugin: Option<&str>,
        tenant: Option<&str>,
        file: Option<PathBuf>,
        message: String,
    ) {
        let plugin = plugin.map(str::to_owned);
        let tenant = tenant.map(str::to_owned);
        // One line each: some compiler errors print byte arrays over many.
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        self.problems.push(Problem {
            severity,
            plugin,
            tenant,
            file,
            message,
        });
    }

    /// The plugin called `name`.
    pub fn plugin(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(name)
    }

    /// Every loaded plugin, by name.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.values()
    }

    /// The plugin and its binding for `tenant`, when that tenant runs it.
    pub fn binding(&self, plugin: &str, tenant: &str) -> Option<(&Arc<Plugin>, &Arc<Binding>)> {
        let binding = self.bindings.get(&(plugin.to_owned(), tenant.to_owned()))?;
        Some((self.plugins.get(plugin)?, binding))
    }

    /// Every binding.
    pub fn bindings(&self) -> impl Iterator<Item = &Arc<Binding>> {
        self.bindings.values()
    }

    /// Plugins of `tenant` that subscribe to `event`, except `source`.
    pub fn subscribers(&self, tenant: &str, event: &str, source: &str) -> Vec<String> {
        let subscribed = |plugin: &str| {
            let manifest = self.plugins.get(plugin).map(|p| &p.manifest);
            manifest.is_some_and(|m| m.subscriptions.iter().any(|s| s == event))
        };
        self.bindings
            .keys()
            .filter(|(plugin, t)| t == tenant && plugin != source && subscribed(plugin))
            .map(|(plugin, _)| plugin.clone())
            .collect()
    }

    /// True when `tenant` is configured.
    pub fn has_tenant(&self, tenant: &str) -> bool {
        self.tenants.contains(tenant)
    }

    /// The secret that signs Medusa's events for `tenant`.
    pub fn events_secret(&self, tenant: &str) -> Option<&Secret> {
        self.events_secrets.get(tenant)
    }

    /// Plugins with their manifests, files and tenants, and the problems:
    /// what the admin API and `plugins list` show.
    pub fn describe(&self) -> serde_json::Value {
        let plugins: Vec<serde_json::Value> = self
            .plugins
            .values()
            .map(|plugin| {
                let name = &plugin.manifest.name;
                let tenants: Vec<&str> = self
                    .bindings
                    .keys()
                    .filter(|(p, _)| p == name)
                    .map(|(_, t)| t.as_str())
                    .collect();
                serde_json::json!({
                    "manifest": plugin.manifest,
                    "file": plugin.file,
                    "sha256": plugin.digest,
                    "load_ms": plugin.load_time.as_millis() as u64,
                    "tenants": tenants,
                })
            })
            .collect();
        serde_json::json!({ "plugins": plugins, "problems": self.problems })
    }

    /// This registry, still serving, with `problem` saying why a newer
    /// config was refused; it replaces the reason of an earlier refusal.
    pub fn refusing(&self, mut problem: Problem) -> Self {
        // One line, like every problem: a TOML error quotes the file over
        // several.
        problem.message = problem
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut kept = self.clone();
        kept.problems
            .retain(|p| p.file != problem.file || p.plugin.is_some());
        kept.problems.push(problem);
        kept
    }

    /// Adds a problem found outside loading (a setting that waits for a
    /// restart), so it is listed with the others.
    pub fn note(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// Everything found wrong while loading.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// True when any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// (tenant, plugin, secret name) of every demo secret in use.
    pub fn demo_secrets(&self) -> Vec<(String, String, String)> {
        let mut found = Vec::new();
        for binding in self.bindings.values() {
            for name in binding.secrets.demo_names() {
                found.push((
                    binding.tenant.clone(),
                    binding.plugin.clone(),
                    name.to_owned(),
                ));
            }
        }
        for (tenant, secret) in &self.events_secrets {
            if secret.is_demo() {
                found.push((tenant.clone(), "-".into(), "events_secret".into()));
            }
        }
        found
    }
}

/// One message per job override in `settings` naming no job of the plugin.
fn stray_job_overrides(prefix: &str, settings: &TenantPlugin, manifest: &Manifest) -> Vec<String> {
    let known: Vec<&str> = manifest.jobs.iter().map(|j| j.name.as_str()).collect();
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    settings
        .jobs
        .keys()
        .filter(|job| !manifest.jobs.iter().any(|j| &j.name == *job))
        .map(|job| format!("{prefix}.jobs.{job}: this plugin has no job {job} (its jobs: {known})"))
        .collect()
}

/// Refuses a changed file that now declares the name another file still
/// in the folder serves: the plugin serving keeps its name, rather than
/// losing it to whichever file sorts first.
fn not_taken(
    plugin: Plugin,
    file: &Path,
    previous: &Registry,
    files: &[PathBuf],
) -> anyhow::Result<Plugin> {
    let name = &plugin.manifest.name;
    match previous.plugins.get(name) {
        Some(holder) if holder.file != file && files.contains(&holder.file) => {
            anyhow::bail!(
                "declares the plugin name {name}, which {} serves already",
                holder.file.display()
            )
        }
        _ => Ok(plugin),
    }
}

/// SHA-256 of a file, hex; none when it cannot be read.
fn file_digest(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(hex::encode(Sha256::digest(bytes)))
}

/// True for a file name editors and copies write before the real one:
/// hidden, or with a `~` or `.tmp`.
pub fn is_partial(name: &str) -> bool {
    name.starts_with('.') || name.contains('~') || name.contains(".tmp")
}

/// `.wasm` files directly in `dir`, sorted. Hidden files and names with a
/// `~` or `.tmp` are skipped: editors and copies write those first.
pub fn plugin_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let partial = is_partial(&name);
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() && !partial {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
