//! A plugin's manifest as the host keeps it: plain Rust types, checked once
//! at load so the rest of the host can trust them.

use std::collections::BTreeSet;

use anyhow::bail;
use serde::Serialize;

use super::bindings::guest;

/// Versions of the `switchyard:plugin` package this host can run. Keep the
/// newest last; bindings for older versions would sit beside the current
/// ones, one module per version.
pub const SUPPORTED_WIT_VERSIONS: [&str; 1] = ["0.1.0"];

/// What a plugin declares about itself.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Unique plugin name, as used in URLs and `plugins.toml`.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The WIT package version it was built against.
    pub wit_version: String,
    /// One line on what it does.
    pub description: String,
    /// Scheduled jobs it offers.
    pub jobs: Vec<JobSpec>,
    /// Event names it handles.
    pub subscriptions: Vec<String>,
    /// Admin actions it offers.
    pub actions: Vec<ActionSpec>,
    /// Configuration keys it reads.
    pub config: Vec<ConfigKey>,
    /// Hosts it needs to reach.
    pub hosts: Vec<String>,
    /// Extra routes mapped to it.
    pub routes: Vec<RouteAlias>,
}

/// A scheduled job.
#[derive(Debug, Clone, Serialize)]
pub struct JobSpec {
    /// Job name.
    pub name: String,
    /// Default cron schedule.
    pub schedule: String,
    /// What it does.
    pub description: String,
}

/// An admin action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionSpec {
    /// Action name.
    pub name: String,
    /// What it does.
    pub description: String,
}

/// A configuration key.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigKey {
    /// Key name.
    pub name: String,
    /// Configured under `secrets` rather than `config`.
    pub secret: bool,
    /// Must be present for every tenant that enables the plugin.
    pub required: bool,
    /// What it is for.
    pub description: String,
}

/// An extra route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteAlias {
    /// Absolute path.
    pub path: String,
    /// `webhook`, or the action it calls.
    pub action: Option<String>,
}

impl Manifest {
    /// Converts and checks what the guest returned.
    pub fn from_guest(raw: guest::PluginManifest) -> anyhow::Result<Self> {
        let manifest = Self {
            name: raw.name,
            version: raw.version,
            wit_version: raw.wit_version,
            description: raw.description,
            jobs: raw.jobs.into_iter().map(JobSpec::from).collect(),
            subscriptions: raw.subscriptions,
            actions: raw.actions.into_iter().map(ActionSpec::from).collect(),
            config: raw.config.into_iter().map(ConfigKey::from).collect(),
            hosts: raw.hosts,
            routes: raw.routes.into_iter().map(RouteAlias::from).collect(),
        };
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> anyhow::Result<()> {
        let name = &self.name;
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_name {
            bail!("manifest name {name:?} must be 1-64 characters of a-z, 0-9 and -");
        }
        if self.version.trim().is_empty() {
            bail!("plugin {name}: manifest version is empty");
        }
        if !SUPPORTED_WIT_VERSIONS.contains(&self.wit_version.as_str()) {
            bail!(
                "plugin {name} {}: built against switchyard:plugin@{}, but this host supports {}",
                self.version,
                self.wit_version,
                SUPPORTED_WIT_VERSIONS.join(", ")
            );
        }
        unique(name, "job", self.jobs.iter().map(|j| j.name.as_str()))?;
        unique(name, "action", self.actions.iter().map(|a| a.name.as_str()))?;
        unique(
            name,
            "config key",
            self.config.iter().map(|c| c.name.as_str()),
        )?;
        for route in &self.routes {
            if !route.path.starts_with('/') || route.path.contains("..") {
                bail!(
                    "plugin {name}: route alias {:?} must be an absolute path",
                    route.path
                );
            }
        }
        Ok(())
    }

    /// The config key called `name`.
    pub fn config_key(&self, name: &str) -> Option<&ConfigKey> {
        self.config.iter().find(|key| key.name == name)
    }
}

fn unique<'a>(
    plugin: &str,
    what: &str,
    names: impl Iterator<Item = &'a str>,
) -> anyhow::Result<()> {
    let mut seen = BTreeSet::new();
    for name in names {
        if name.is_empty() || !seen.insert(name) {
            bail!("plugin {plugin}: {what} name {name:?} is empty or repeated");
        }
    }
    Ok(())
}

impl From<guest::JobSpec> for JobSpec {
    fn from(raw: guest::JobSpec) -> Self {
        Self {
            name: raw.name,
            schedule: raw.schedule,
            description: raw.description,
        }
    }
}

impl From<guest::ActionSpec> for ActionSpec {
    fn from(raw: guest::ActionSpec) -> Self {
        Self {
            name: raw.name,
            description: raw.description,
        }
    }
}

impl From<guest::ConfigKey> for ConfigKey {
    fn from(raw: guest::ConfigKey) -> Self {
        Self {
            name: raw.name,
            secret: raw.secret,
            required: raw.required,
            description: raw.description,
        }
    }
}

impl From<guest::RouteAlias> for RouteAlias {
    fn from(raw: guest::RouteAlias) -> Self {
        let action = match raw.kind {
            guest::RouteKind::Webhook => None,
            guest::RouteKind::Action(name) => Some(name),
        };
        Self {
            path: raw.path,
            action,
        }
    }
}
