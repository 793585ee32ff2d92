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

use anyhow::Context;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::registry::{Problem, Registry, Severity, is_partial};
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
    /// The config the process started with: what the settings that need a
    /// restart are compared against.
    started: Config,
    /// The plugins directory being watched.
    watched_dir: PathBuf,
    /// Set once watching starts.
    watcher: Option<RecommendedWatcher>,
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
            watched_dir: config.plugins_dir.clone(),
            watcher: None,
            started: config,
        }
    }

    /// Watches the plugins directory and the config file's folder, and
    /// reloads on changes or SIGHUP until the process ends.
    pub fn spawn(mut self) -> anyhow::Result<()> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.watcher = Some(self.watch(tx.clone())?);
        spawn_sighup(tx);
        tokio::spawn(self.run(rx));
        Ok(())
    }

    fn watch(&self, tx: mpsc::UnboundedSender<()>) -> anyhow::Result<RecommendedWatcher> {
        let relevant = Relevant {
            config_name: self.config_path.file_name().map(|n| n.to_owned()),
        };
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if !event.kind.is_access() && relevant.any(&event.paths) {
                    // The receiver lives as long as the host; a send after it is
                    // gone has nobody left to tell.
                    let _ = tx.send(());
                }
            })?;
        watcher
            .watch(&self.watched_dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", self.watched_dir.display()))?;
        let config_dir = self.config_dir();
        watcher
            .watch(&config_dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", config_dir.display()))?;
        Ok(watcher)
    }

    fn config_dir(&self) -> PathBuf {
        let dir = self
            .config_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        dir.unwrap_or(Path::new(".")).to_owned()
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<()>) {
        while rx.recv().await.is_some() {
            // Drain the burst: reload once things have been quiet.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            self.reload().await;
        }
    }

    /// Re-reads the config and the plugins, swaps the registry in, then
    /// re-plans the jobs against it. A config that does not parse, or whose
    /// plugins directory cannot be read, is refused: the previous one keeps
    /// serving and the reason shows among the problems.
    pub async fn reload(&mut self) {
        let config = match self.read_config() {
            Ok(config) => config,
            Err(err) => return self.refuse(&err),
        };
        let pending = self.needs_restart(&config);

        // Watching the new folder before loading from it: a file dropped
        // there from now on is seen by this load or causes the next one.
        self.follow_plugins_dir(&config.plugins_dir);
        let services = self.runtime.services();
        let previous = services.registry.load_full();
        self.runtime.set_limits(config.limits.clone());
        let mut registry = Registry::reload(&self.runtime, &config, &previous).await;
        if !pending.is_empty() {
            let keys = pending.join(", ");
            tracing::warn!(keys, file = %config.path.display(), "settings wait for a restart");
            let message = format!("changed, and read only at start-up: {keys}; restart to apply");
            registry.note(Problem::in_config(
                Severity::Warning,
                config.path.clone(),
                message,
            ));
        }
        log_changes(&previous, &registry);
        let (plugins, problems) = (registry.plugins().count(), registry.problems().len());
        services.registry.store(Arc::new(registry));
        self.scheduler.reload(&config);
        tracing::info!(plugins, problems, file = %config.path.display(), "config reloaded");
    }

    /// Watches the plugins directory of the config just read: a new one,
    /// or the same one again, since a folder deleted and made anew is
    /// another folder to the kernel and the old watch died with it.
    fn follow_plugins_dir(&mut self, dir: &Path) {
        let config_dir = self.config_dir();
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        // A folder that is gone has no watch left to remove; the config's
        // own folder stays watched.
        if self.watched_dir != config_dir {
            let _ = watcher.unwatch(&self.watched_dir);
        }
        if let Err(err) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::error!(
                dir = %dir.display(), error = %err,
                "cannot watch the plugins directory: send SIGHUP after changing it"
            );
        }
        if dir != self.watched_dir {
            tracing::info!(dir = %dir.display(), "watching the new plugins directory");
        }
        self.watched_dir = dir.to_owned();
    }

    fn read_config(&self) -> anyhow::Result<Config> {
        let config = Config::load(&self.config_path)?;
        let dir = &config.plugins_dir;
        std::fs::read_dir(dir).with_context(|| {
            format!(
                "{}: plugins_dir {} cannot be read",
                config.path.display(),
                dir.display()
            )
        })?;
        Ok(config)
    }

    fn refuse(&self, err: &anyhow::Error) {
        let reason = format!("{err:#}");
        tracing::error!(error = %reason, "config not reloaded; still serving the previous one");
        let message = format!("config not reloaded, still serving the previous one: {reason}");
        let problem = Problem::in_config(Severity::Error, self.config_path.clone(), message);
        let registry = self.runtime.services().registry.load_full();
        self.runtime
            .services()
            .registry
            .store(Arc::new(registry.refusing(problem)));
    }

    /// Top-level settings read once at start-up that differ in `config`.
    fn needs_restart(&self, config: &Config) -> Vec<&'static str> {
        let old = &self.started;
        let changed = [
            ("listen", old.listen != config.listen),
            ("database", old.database != config.database),
            (
                "max_body_bytes",
                old.max_body_bytes != config.max_body_bytes,
            ),
            ("max_attempts", old.max_attempts != config.max_attempts),
            (
                "store_busy_timeout_ms",
                old.store_busy_timeout != config.store_busy_timeout,
            ),
            ("admin_token", old.admin_token != config.admin_token),
            ("cache_dir", old.cache_dir != config.cache_dir),
        ];
        changed
            .into_iter()
            .filter_map(|(key, differs)| differs.then_some(key))
            .collect()
    }
}

fn log_changes(before: &Registry, after: &Registry) {
    for plugin in after.plugins() {
        let old = before.plugin(&plugin.manifest.name);
        if old.is_none_or(|old| old.digest != plugin.digest) {
            let (name, version) = (&plugin.manifest.name, &plugin.manifest.version);
            tracing::info!(plugin = %name, version = %version, "plugin swapped in");
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

fn partial(name: &std::ffi::OsStr) -> bool {
    is_partial(&name.to_string_lossy())
}

/// Which changes are worth a reload: the config file itself, a `.wasm`
/// file, or a folder (the plugins directory made, moved or removed).
/// Anything else beside the config (a log, the database) is not, or every
/// write to it would reload.
struct Relevant {
    config_name: Option<std::ffi::OsString>,
}

impl Relevant {
    fn any(&self, paths: &[PathBuf]) -> bool {
        paths.iter().any(|path| {
            let name = path.file_name();
            name.is_some() && name == self.config_name.as_deref()
                || path.extension().is_some_and(|e| e == "wasm") && !name.is_some_and(partial)
                || path.extension().is_none() && !path.is_file()
        })
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
