//! `switchyard serve`: load everything, then serve until stopped.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::ServeArgs;
use crate::capabilities::clock::Clock;
use crate::capabilities::secrets::read_env;
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::registry::{Registry, Severity};
use crate::reload::Reloader;
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;
use crate::server::{self, App};
use crate::services::HostServices;
use crate::store::Store;
use crate::telemetry::init_logging;
use tokio_util::sync::CancellationToken;

/// Expired kv entries are removed this often.
const KV_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = Config::load(&args.config.config)?;
    let listen = args.listen.unwrap_or(config.listen);
    // The port first: a second host started on the same config fails here,
    // before it touches the shared database. Connections wait in the
    // kernel's queue until everything below is ready.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let clock = args
        .fixed_clock
        .map_or_else(Clock::system, |secs| Clock::fixed(secs * 1000));

    let store = Store::open_with(&config.database, config.store_busy_timeout).await?;
    let services = HostServices::new(clock, store)?;
    let runtime = Arc::new(Runtime::new(services.clone(), &config)?);
    let registry = Registry::load(&runtime, &config).await;
    report(&registry);
    services.registry.store(Arc::new(registry));
    let admin_token = config.admin_token.as_ref().and_then(|r| read_env(&r.env));
    if let (Some(reference), None) = (&config.admin_token, &admin_token) {
        tracing::warn!(variable = %reference.env, "admin_token is not set; the admin API is off");
    }
    if admin_token.as_ref().is_some_and(|token| token.is_demo()) {
        tracing::warn!("the admin API answers to the published demo token");
    }

    let longest_call = config.limits.longest_timeout();
    let dispatcher = Dispatcher::new(runtime.clone(), config.max_attempts, longest_call);
    let stop = CancellationToken::new();
    tokio::spawn(dispatcher.run(stop.clone()));
    tokio::spawn(sweep_kv(services.clone()));
    let scheduler = Scheduler::new(runtime.clone(), &config);
    scheduler.start().await;

    let config_path = args.config.config.clone();
    let reloader = Reloader::new(
        runtime.clone(),
        scheduler.clone(),
        config_path,
        config.clone(),
    );
    reloader
        .spawn()
        .context("cannot watch the plugins directory")?;

    let app = App {
        runtime,
        max_body_bytes: config.max_body_bytes,
        admin_token,
        scheduler: scheduler.clone(),
    };
    let address = listener.local_addr().unwrap_or(listen);
    tracing::info!(%address, config = %config.path.display(), "listening");
    // On SIGTERM or Ctrl-C: no new connections, deliveries or job runs;
    // what is in flight gets the server's grace period.
    let stopping = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stopping.cancel();
        scheduler.stop();
        // A second signal means: do not wait for the grace period.
        shutdown_signal().await;
        tracing::warn!("second stop signal: stopping now");
        std::process::exit(130);
    });
    server::serve(listener, server::router(app), stop).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn report(registry: &Registry) {
    for problem in registry.problems() {
        match problem.severity {
            Severity::Error => tracing::error!(%problem, "plugin problem"),
            Severity::Warning => tracing::warn!(%problem, "plugin problem"),
        }
    }
    let demo: Vec<String> = registry
        .demo_secrets()
        .into_iter()
        .map(|(tenant, plugin, secret)| format!("{tenant}/{plugin}/{secret}"))
        .collect();
    if !demo.is_empty() {
        tracing::warn!(
            secrets = demo.join(", "),
            "running with published demo secrets: fine on a laptop, never in production"
        );
    }
    let plugins = registry.plugins().count();
    let bindings = registry.bindings().count();
    tracing::info!(
        plugins,
        bindings,
        problems = registry.problems().len(),
        "plugins ready"
    );
}

async fn sweep_kv(services: Arc<HostServices>) {
    let mut tick = tokio::time::interval(KV_SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        match services.store.kv_sweep(services.now_ms()).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "expired kv entries removed"),
            Err(err) => tracing::warn!(error = %err, "kv sweep failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
