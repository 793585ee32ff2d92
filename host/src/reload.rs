//! Hot reload: the host watches the plugins directory and the config file,
//! and on a change (or SIGHUP) builds a new registry beside the serving one
//! and swaps it in atomically; the scheduler then re-plans the jobs.
//!
//! Calls in flight hold the registry they started with, so they finish on
//! the plugin version they began on; new calls see the new registry. A file
//! that fails to compile or validate leaves its previous version serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::registry::{Registry, Severity};
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;

/// Writes arrive in bursts (a copy is many writes, an editor saves twice):
/// the reload waits until the directory has been quiet this long.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Reloads the registry and the job schedules from the config file.
pub struct Reloader {
    runtime: Arc<Runtime>,
    scheduler: Arc<Scheduler>,
    config_path: PathBuf,
    serving: Config,
}

impl Reloader {
    /// A reloader for the host started with `config` from `config_path`.
    pub fn new(
        runtime: Arc<Runtime>,
        scheduler: Arc<Scheduler>,
        config_path: PathBuf,
        config: Config,
    ) -> Self {
        Self {
            runtime,
            scheduler,
            config_path,
            serving: config,
        }
    }

    /// Watches the plugins directory and the config file's folder, and
    /// reloads on changes or SIGHUP until the process ends. The watcher is
    /// returned so it lives as long as the caller keeps it.
    pub fn spawn(self) -> anyhow::Result<RecommendedWatcher> {
        let (tx, rx) = mpsc::unbounded_channel();
        let watcher = self.watch(tx.clone())?;
        spawn_sighup(tx);
        tokio::spawn(self.run(rx));
        Ok(watcher)
    }

    fn watch(&self, tx: mpsc::UnboundedSender<()>) -> anyhow::Result<RecommendedWatcher> {
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    // The receiver lives as long as the host; a send after it is
                    // gone has nobody left to tell.
                    let _ = tx.send(());
                }
            })?;
        let config_dir = self
            .config_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        let config_dir = config_dir.unwrap_or(Path::new("."));
        watcher.watch(&self.serving.plugins_dir, RecursiveMode::NonRecursive)?;
        watcher.watch(config_dir, RecursiveMode::NonRecursive)?;
        Ok(watcher)
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<()>) {
        while rx.recv().await.is_some() {
            // Drain the burst: reload once things have been quiet.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            self.reload().await;
        }
    }

    /// Re-reads the config and the plugins, swaps the registry in, then
    /// re-plans the jobs against it.
    pub async fn reload(&mut self) {
        let config = match Config::load(&self.config_path) {
            Ok(config) => config,
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "config not reloaded; still serving the previous one");
                return;
            }
        };
        if config.listen != self.serving.listen || config.database != self.serving.database {
            tracing::warn!("listen and database changes take effect after a restart");
        }

        let services = self.runtime.services();
        let previous = services.registry.load_full();
        self.runtime.set_limits(config.limits.clone());
        let registry = Registry::reload(&self.runtime, &config, &previous).await;
        log_changes(&previous, &registry);
        services.registry.store(Arc::new(registry));
        self.scheduler.reload(&config);
        self.serving = config;
    }
}

fn log_changes(before: &Registry, after: &Registry) {
    for plugin in after.plugins() {
        let old = before.plugin(&plugin.manifest.name);
        if old.is_none_or(|old| old.digest != plugin.digest) {
            tracing::info!(plugin = %plugin.manifest.name, version = %plugin.manifest.version, "plugin swapped in");
        }
    }
    for plugin in before.plugins() {
        if after.plugin(&plugin.manifest.name).is_none() {
            tracing::info!(plugin = %plugin.manifest.name, "plugin removed");
        }
    }
    for problem in after.problems() {
        match problem.severity {
            Severity::Error => tracing::error!(%problem, "plugin problem"),
            Severity::Warning => tracing::warn!(%problem, "plugin problem"),
        }
    }
}

#[cfg(unix)]
fn spawn_sighup(tx: mpsc::UnboundedSender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => {
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading");
                    if tx.send(()).is_err() {
                        return;
                    }
                }
            });
        }
        Err(err) => tracing::warn!(error = %err, "cannot listen for SIGHUP"),
    }
}

#[cfg(not(unix))]
fn spawn_sighup(_tx: mpsc::UnboundedSender<()>) {}
