//! The data of one plugin call: who is calling, for which tenant, until
//! when, and the sandbox's WASI context and resource limits.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::registry::Binding;
use crate::services::HostServices;
use crate::store::DeliveryTxn;

/// Guest stderr kept per call, so a panic message can be logged; more is cut.
const STDERR_CAPTURE_BYTES: usize = 4096;

/// Tables in Rust guests stay tiny; this only stops a runaway guest.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Store data of one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: CallLimits,
    pub(crate) stderr: MemoryOutputPipe,
    /// Capabilities shared by all calls.
    pub(crate) host: Arc<HostServices>,
    /// Name of the called plugin.
    pub(crate) plugin: Arc<str>,
    /// The tenant's settings; none while reading a manifest.
    pub(crate) binding: Option<Arc<Binding>>,
    /// Id of this call, in every log line it causes.
    pub(crate) call_id: Arc<str>,
    /// When the call must be over.
    pub(crate) deadline: Instant,
    /// While a delivery is processed: its kv writes and events, held back
    /// until the attempt succeeds. None for other calls, which write
    /// through.
    pub(crate) txn: Option<DeliveryTxn>,
}

impl CallState {
    /// State for a call to `plugin`, for `binding`'s tenant when given.
    pub fn new(
        host: Arc<HostServices>,
        plugin: Arc<str>,
        binding: Option<Arc<Binding>>,
        call_id: Arc<str>,
        deadline: Instant,
        memory_bytes: usize,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        // No preopened directories, no environment, no arguments, no
        // sockets: everything a plugin reaches goes through our interfaces.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limits: CallLimits::new(memory_bytes),
            stderr,
            host,
            plugin,
            binding,
            call_id,
            deadline,
            txn: None,
        }
    }

    /// The tenant of this call, or `-` while reading a manifest.
    pub fn tenant(&self) -> &str {
        self.binding.as_ref().map_or("-", |b| b.tenant.as_str())
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Memory and table limits of one instance. It remembers a refused growth,
/// because a Rust guest that cannot grow aborts with an unrelated trap code.
#[derive(Debug)]
pub struct CallLimits {
    memory_bytes: usize,
    pub(crate) memory_refused: bool,
}

impl CallLimits {
    fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            memory_refused: false,
        }
    }
}

impl ResourceLimiter for CallLimits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_refused = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.memory_bytes);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
