//! What one plugin call costs (a fresh instance from the pre-instantiated
//! component, a trivial export, drop), and how long a restart takes to be
//! ready with four plugins whose compiled form is cached.
//!
//! Needs the plugins built: `cargo xtask plugins`, then
//! `cargo bench -p switchyard --bench plugin_call`.

#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented functions"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::capabilities::clock::Clock;
use switchyard::config::Config;
use switchyard::registry::Registry;
use switchyard::runtime::Runtime;
use switchyard::services::HostServices;
use switchyard::store::Store;

const PLUGINS: [&str; 4] = ["probe", "stripe-connect", "netprobe", "exfil"];

fn built(name: &str) -> PathBuf {
    // `cargo bench` says where this checkout is; the compile-time path may
    // be another checkout's that shares the target dir.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let root = dir.join("..").join("target");
    let found = ["plugins", "test-plugins"].map(|dir| root.join(dir).join(format!("{name}.wasm")));
    let path = found.into_iter().find(|p| p.exists());
    path.unwrap_or_else(|| panic!("{name}.wasm is not built: run `cargo xtask plugins`"))
}

/// A folder with the four plugins and a config enabling them for one tenant.
fn setup() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("plugins")).expect("plugins dir");
    for name in PLUGINS {
        std::fs::copy(
            built(name),
            dir.path().join("plugins").join(format!("{name}.wasm")),
        )
        .expect("copy plugin");
    }
    let text = "plugins_dir = \"plugins\"\n[tenants.bench.plugins.probe]\n";
    let config = Config::parse(&dir.path().join("plugins.toml"), text).expect("config");
    (dir, config)
}

/// Everything `serve` does before it listens: store, engine, plugins.
async fn start(config: &Config) -> (Arc<Runtime>, Arc<Registry>) {
    let store = Store::open("sqlite::memory:").await.expect("store");
    let services = HostServices::new(Clock::system(), store).expect("services");
    let runtime = Runtime::new(services, config).expect("runtime");
    let registry = Registry::load(&runtime, config).await;
    assert_eq!(
        registry.plugins().count(),
        PLUGINS.len(),
        "{:?}",
        registry.problems()
    );
    (Arc::new(runtime), Arc::new(registry))
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let (_dir, config) = setup();
    // The first start compiles and fills the cache; the benchmark measures
    // the starts after it.
    let (runtime, registry) = rt.block_on(start(&config));

    let (plugin, binding) = registry.binding("probe", "bench").expect("probe for bench");
    c.bench_function("plugin call: instantiate, trivial export, drop", |b| {
        b.to_async(&rt).iter(|| async {
            let answer = runtime.run_job(plugin, binding, "none".into()).await;
            assert!(matches!(answer, Ok(Err(_))), "probe offers no jobs");
        });
    });

    let mut group = c.benchmark_group("restart");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("ready with 4 cached plugins", |b| {
        b.to_async(&rt).iter(|| start(&config));
    });
    group.finish();
}

criterion_group!(plugin_call, benches);
criterion_main!(plugin_call);
