//! `hog`: a test plugin whose `handle-webhook` and `call-action` allocate
//! memory until something stops them. The host's memory-cap tests use it: a
//! call must fail with the memory limit, not take the host's memory, and
//! the next call must start from a fresh instance.

use core::hint::black_box;

use switchyard_plugin_sdk::{
    Context, Delivery, Manifest, Plugin, PluginError, Verified, WebhookRequest, export_plugin,
};

/// Bytes per allocation: big steps reach any cap quickly, while each one
/// is still a request the guest's allocator can meet by growing memory.
const CHUNK: usize = 1 << 20;

struct Hog;

impl Plugin for Hog {
    fn manifest() -> Manifest {
        Manifest::new(
            "hog",
            env!("CARGO_PKG_VERSION"),
            "Grows memory without bound",
        )
        .action("run", "allocates until stopped")
    }

    fn verify_webhook(_ctx: &Context, request: WebhookRequest) -> Result<Verified, String> {
        let event_id = request.header("x-probe-id").ok_or("missing x-probe-id")?;
        let event_type = "hog.webhook".to_owned();
        Ok(Verified {
            event_id: event_id.to_owned(),
            event_type,
        })
    }

    fn handle_webhook(_ctx: &Context, _delivery: Delivery) -> Result<String, PluginError> {
        hog()
    }

    fn call_action(_ctx: &Context, _name: &str, _input: &str) -> Result<String, PluginError> {
        hog()
    }
}

/// Keeps every chunk alive. A non-zero fill writes every page, so the
/// memory is really used rather than only reserved, and `black_box` keeps
/// the optimizer from dropping chunks nobody reads.
fn hog() -> ! {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(vec![0xA5; CHUNK]);
        black_box(&kept);
    }
}

export_plugin!(Hog);
