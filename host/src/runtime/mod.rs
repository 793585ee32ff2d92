//! The WebAssembly runtime: one engine, one linker, one epoch ticker, and
//! the code that turns a `.wasm` file into a [`Plugin`] and calls it.
//!
//! Each call gets a fresh store and instance made from the plugin's
//! pre-instantiated component, so nothing survives between calls except
//! what the plugin put in `kv`.

pub mod bindings;
mod cache;
mod calls;
mod gate;
mod manifest;
pub mod state;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::config::{Config, LimitsTable, MAX_MEMORY_MB, PluginLimits};
use crate::registry::Binding;
use crate::services::HostServices;
use crate::store::DeliveryTxn;
use arc_swap::ArcSwap;
use bindings::guest::CallContext;
use bindings::{Integration, IntegrationPre};
use cache::ComponentCache;
use gate::Gates;
pub use manifest::{Manifest, SUPPORTED_WIT_VERSIONS};
use state::CallState;

/// The epoch advances this often; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances that may exist at once across all plugins. The pooling
/// allocator reserves address space for this many up front.
const MAX_INSTANCES: u32 = 128;

/// Bytes of each linear memory kept mapped between calls and reset in
/// place, when the kernel reports which pages a call wrote: only those are
/// cleared, so a large span costs nothing extra.
const KEEP_RESIDENT_SCANNED: usize = 4 * 1024 * 1024;

/// The same without the kernel's report, where every call clears the whole
/// span with `memset`: kept small, since clearing it costs time per call.
const KEEP_RESIDENT_MEMSET: usize = 64 * 1024;

/// Freed memory slots unmapped together.
const DECOMMIT_BATCH: usize = 16;

/// Interfaces the host provides, by the name a plugin imports them under.
const HOST_INTERFACES: [&str; 8] = [
    "http", "kv", "log", "metrics", "clock", "config", "secrets", "events",
];

/// How a call into a plugin failed on the host's side.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The call ran past its deadline, in guest code or waiting on the host.
    #[error("call exceeded its deadline of {0:?}")]
    Timeout(Duration),
    /// The guest asked for more memory than its cap.
    #[error("call exceeded the memory limit of {0} bytes")]
    MemoryLimit(usize),
    /// The guest used up its fuel.
    #[error("call ran out of fuel ({0} units)")]
    FuelExhausted(u64),
    /// Too many calls were already waiting for this plugin.
    #[error("plugin is overloaded: {0} calls already waiting")]
    Overloaded(usize),
    /// No slot came free while the call waited.
    #[error("no free slot within {0:?}")]
    QueueTimeout(Duration),
    /// The guest trapped (a panic, an abort, a bug).
    #[error("plugin trapped: {0}")]
    Trap(String),
}

impl CallError {
    /// A short stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::MemoryLimit(_) => "memory_limit",
            Self::FuelExhausted(_) => "fuel_exhausted",
            Self::Overloaded(_) => "overloaded",
            Self::QueueTimeout(_) => "queue_timeout",
            Self::Trap(_) => "trap",
        }
    }
}

/// A loaded plugin: its compiled component, ready to instantiate, and what
/// its manifest says.
pub struct Plugin {
    /// What the plugin declared.
    pub manifest: Manifest,
    /// Where it was loaded from.
    pub file: PathBuf,
    /// SHA-256 of the file, hex.
    pub digest: String,
    /// How long compiling and validating took.
    pub load_time: Duration,
    pre: IntegrationPre<CallState>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// The engine and everything shared by every plugin call.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    services: Arc<HostServices>,
    limits: ArcSwap<LimitsTable>,
    gates: Gates,
    cache: ComponentCache,
    instances: Semaphore,
}

impl Runtime {
    /// Builds the engine (pooling allocator where the address space allows
    /// it), links WASI and the host interfaces, and starts the epoch ticker.
    pub fn new(services: Arc<HostServices>, config: &Config) -> anyhow::Result<Self> {
        let engine = build_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|err| anyhow::anyhow!("cannot link WASI: {err:#}"))?;
        Integration::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|err| anyhow::anyhow!("cannot link the host interfaces: {err:#}"))?;
        start_epoch_ticker(&engine);
        let instances = Semaphore::new(MAX_INSTANCES as usize);
        let cache = ComponentCache::new(config.cache_dir.clone(), &engine);
        Ok(Self {
            engine,
            linker,
            services,
            limits: ArcSwap::from_pointee(config.limits.clone()),
            gates: Gates::default(),
            cache,
            instances,
        })
    }

    /// Applies new limits to calls that start from now on.
    pub fn set_limits(&self, limits: LimitsTable) {
        self.limits.store(Arc::new(limits));
    }

    /// The capabilities shared by calls.
    pub fn services(&self) -> &Arc<HostServices> {
        &self.services
    }

    /// Compiles, checks and describes the plugin in `path`. The error names
    /// the file and what is wrong with it.
    pub async fn load(&self, path: &Path) -> anyhow::Result<Plugin> {
        let started = Instant::now();
        let bytes = tokio::fs::read(path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        let digest = hex::encode(Sha256::digest(&bytes));

        let component = self.compile(bytes, &digest).await?;
        check_imports(&self.engine, &component).with_context(|| {
            format!(
                "plugin {} (file {}) refused",
                file_stem(path),
                path.display()
            )
        })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|err| anyhow::anyhow!("cannot link: {err:#}"))?;
        let pre = IntegrationPre::new(pre).map_err(|err| anyhow::anyhow!("{err:#}"))?;

        let manifest = self.read_manifest(&pre, path).await?;
        let load_time = started.elapsed();
        tracing::info!(
            plugin = %manifest.name, version = %manifest.version, file = %path.display(),
            load_ms = load_time.as_millis() as u64, "plugin loaded"
        );
        Ok(Plugin {
            manifest,
            file: path.to_owned(),
            digest,
            load_time,
            pre,
        })
    }

    /// The compiled component, from the cache when it holds a sound entry.
    async fn compile(&self, bytes: Vec<u8>, digest: &str) -> anyhow::Result<Component> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let digest = digest.to_owned();
        let compiled = tokio::task::spawn_blocking(move || {
            if let Some(component) = cache.get(&engine, &digest) {
                return Ok(component);
            }
            let component = Component::new(&engine, &bytes)?;
            cache.put(&digest, &component);
            Ok(component)
        });
        compiled
            .await
            .context("compiler task failed")?
            .map_err(|err: wasmtime::Error| anyhow::anyhow!("not a valid component: {err:#}"))
    }

    async fn read_manifest(
        &self,
        pre: &IntegrationPre<CallState>,
        path: &Path,
    ) -> anyhow::Result<Manifest> {
        let name: Arc<str> = Arc::from(file_stem(path));
        let raw = self
            .run(pre, name, None, None, "manifest", |inst, store, _| {
                Box::pin(async move { inst.switchyard_plugin_plugin().call_manifest(store).await })
            })
            .await
            .0
            .context("manifest() failed")?;
        Manifest::from_guest(raw)
    }

    /// Calls `export` on a fresh instance of `plugin` for `binding`'s
    /// tenant. With a `txn` (a delivery being processed) the call's kv
    /// writes and emitted events go into it instead of the store, and it is
    /// handed back with the result.
    pub async fn call<T: Send>(
        &self,
        plugin: &Plugin,
        binding: &Arc<Binding>,
        txn: Option<DeliveryTxn>,
        export: &'static str,
        call: impl for<'a> FnOnce(
            &'a Integration,
            &'a mut Store<CallState>,
            CallContext,
        ) -> GuestCall<'a, T>
        + Send,
    ) -> (Result<T, CallError>, Option<DeliveryTxn>) {
        let name: Arc<str> = Arc::from(plugin.manifest.name.as_str());
        let binding = Some(binding.clone());
        self.run(&plugin.pre, name, binding, txn, export, call)
            .await
    }

    async fn run<T: Send>(
        &self,
        pre: &IntegrationPre<CallState>,
        plugin: Arc<str>,
        binding: Option<Arc<Binding>>,
        txn: Option<DeliveryTxn>,
        export: &'static str,
        call: impl for<'a> FnOnce(
            &'a Integration,
            &'a mut Store<CallState>,
            CallContext,
        ) -> GuestCall<'a, T>
        + Send,
    ) -> (Result<T, CallError>, Option<DeliveryTxn>) {
        let started = Instant::now();
        let call_id: Arc<str> = Arc::from(new_call_id());
        let tenant = binding
            .as_ref()
            .map_or_else(|| "-".to_owned(), |b| b.tenant.clone());
        let limits = self.limits.load().of(&plugin).clone();
        let admitted = match &binding {
            Some(_) => self
                .gates
                .get(&plugin, &limits)
                .admit(&tenant)
                .await
                .map(Some),
            None => Ok(None),
        };
        let _admission = match admitted {
            Ok(admission) => admission,
            Err(err) => {
                self.report_failure(&plugin, &tenant, &call_id, export, &err, "", started);
                return (Err(err), txn);
            }
        };
        // A closed semaphore is impossible (we never close it); waiting here
        // keeps the pooling allocator from running out of slots.
        let _slot = self.instances.acquire().await;
        let deadline = started + limits.timeout;
        let mut state = CallState::new(
            self.services.clone(),
            plugin.clone(),
            binding,
            call_id.clone(),
            deadline,
            limits.memory_bytes,
        );
        state.txn = txn;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // Fuel is always metered (the engine cannot switch per plugin);
        // plugins without a budget get more than any call can burn.
        let fuel = limits.fuel.unwrap_or(u64::MAX);
        if let Err(err) = store.set_fuel(fuel) {
            tracing::error!(error = %err, "fuel metering is off; fuel limits do not apply");
        }
        // Yield to tokio on every tick, so that a guest spinning in a loop
        // lets other tasks run and the timeout below can fire.
        store.epoch_deadline_async_yield_and_update(1);
        store.set_epoch_deadline(1);

        let ctx = CallContext {
            tenant: tenant.clone(),
            call_id: call_id.to_string(),
        };
        let work = async {
            let instance = pre.instantiate_async(&mut store).await?;
            call(&instance, &mut store, ctx).await
        };
        let outcome = tokio::time::timeout(limits.timeout, work).await;
        let result = classify(outcome, &store, &limits);
        match &result {
            Ok(_) => self
                .services
                .metrics
                .observe_call(&plugin, export, "ok", started.elapsed()),
            Err(err) => {
                let stderr = String::from_utf8_lossy(&store.data().stderr.contents()).into_owned();
                self.report_failure(&plugin, &tenant, &call_id, export, err, &stderr, started);
            }
        }
        let txn = store.data_mut().txn.take();
        (result, txn)
    }

    /// A limit hit or a crash: a metric and a log line naming plugin and
    /// tenant. The guest's stderr carries a panic's message.
    #[expect(clippy::too_many_arguments, reason = "each is a field of the log line")]
    fn report_failure(
        &self,
        plugin: &str,
        tenant: &str,
        call_id: &str,
        export: &str,
        err: &CallError,
        stderr: &str,
        started: Instant,
    ) {
        self.services
            .metrics
            .observe_call(plugin, export, err.kind(), started.elapsed());
        tracing::warn!(
            plugin, tenant, call_id, export, kind = err.kind(), error = %err,
            guest_stderr = stderr.trim(), "plugin call failed"
        );
    }
}

/// The future a typed call into the guest returns.
pub type GuestCall<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

fn classify<T>(
    outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    store: &Store<CallState>,
    limits: &PluginLimits,
) -> Result<T, CallError> {
    let err = match outcome {
        Err(_) => return Err(CallError::Timeout(limits.timeout)),
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(err)) => err,
    };
    // A refused growth surfaces as whatever the guest did next (a Rust
    // guest aborts), so the limiter's record decides.
    if store.data().limits.memory_refused {
        return Err(CallError::MemoryLimit(limits.memory_bytes));
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => return Err(CallError::Timeout(limits.timeout)),
        Some(Trap::OutOfFuel) => return Err(CallError::FuelExhausted(limits.fuel.unwrap_or(0))),
        _ => {}
    }
    // The guest-facing text is the trap's cause; the backtrace, with the
    // guest's symbol names, goes to the host log only.
    tracing::debug!(error = format!("{err:?}"), "guest trap in detail");
    Err(CallError::Trap(err.root_cause().to_string()))
}

/// The fastest engine this system can run: pooled instances whose memory
/// is reset by the kernel's dirty-page scan, else pooled instances reset by
/// `memset`, else instances allocated on demand.
fn build_engine() -> anyhow::Result<Engine> {
    let pooled = [
        (Enabled::Yes, KEEP_RESIDENT_SCANNED),
        (Enabled::No, KEEP_RESIDENT_MEMSET),
    ];
    for (pagemap_scan, keep_resident) in pooled {
        let mut config = engine_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config(
            pagemap_scan,
            keep_resident,
        )));
        match Engine::new(&config) {
            Ok(engine) => {
                tracing::debug!(?pagemap_scan, keep_resident, "pooling instance allocator");
                return Ok(engine);
            }
            // PAGEMAP_SCAN needs Linux 6.7; a small address space (ulimit
            // -v, some containers) cannot hold the pool's reservation.
            Err(err) => tracing::info!(
                error = %err, ?pagemap_scan, "pooling allocator setting unavailable"
            ),
        }
    }
    tracing::warn!("pooling allocator unavailable, allocating instances on demand");
    Engine::new(&engine_config()).map_err(|err| anyhow::anyhow!("cannot start wasmtime: {err}"))
}

fn pool_config(pagemap_scan: Enabled, keep_resident: usize) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * 8)
        .total_memories(MAX_INSTANCES)
        .total_tables(MAX_INSTANCES * 4)
        .max_memories_per_component(2)
        .max_memory_size(MAX_MEMORY_MB * 1024 * 1024)
        // Memory a call touched is reset in place rather than unmapped, so
        // the next call on the slot takes no page faults.
        .pagemap_scan(pagemap_scan)
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(64 * 1024)
        // What is unmapped is unmapped in batches: one TLB shootdown across
        // cores per batch instead of one per call.
        .decommit_batch_size(DECOMMIT_BATCH);
    pool
}

fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(true);
    config
}

/// One thread advances every engine's epoch; guests check it at loop heads
/// and function entries, which is what lets a deadline stop a spinning guest.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(err) = spawned {
        tracing::error!(
            error = %err,
            "cannot start the epoch ticker: deadlines will not interrupt guests"
        );
    }
}

/// Refuses a component that imports anything but WASI and this host's
/// interfaces at a supported version, naming the first offending import.
fn check_imports(engine: &Engine, component: &Component) -> anyhow::Result<()> {
    for (name, _) in component.component_type().imports(engine) {
        if name.starts_with("wasi:") {
            continue;
        }
        let Some(rest) = name.strip_prefix("switchyard:plugin/") else {
            bail!(
                "imports `{name}`, which this host does not provide \
                 (plugins may import switchyard:plugin interfaces and WASI 0.2)"
            );
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, "none"));
        if !SUPPORTED_WIT_VERSIONS.contains(&version) {
            bail!(
                "imports `{name}`: built against switchyard:plugin@{version}, \
                 but this host supports {}",
                SUPPORTED_WIT_VERSIONS.join(", ")
            );
        }
        if !HOST_INTERFACES.contains(&interface) && interface != "types" {
            bail!("imports `{name}`, an interface switchyard:plugin@{version} does not have");
        }
    }
    Ok(())
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "plugin".to_owned(), |s| s.to_string_lossy().into_owned())
}

fn new_call_id() -> String {
    format!("call_{:016x}", rand::random::<u64>())
}
