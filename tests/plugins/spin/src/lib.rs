//! `spin`: a test plugin whose `handle-webhook` and `call-action` never
//! return. The host's deadline tests use it: a guest stuck in pure
//! computation makes no host call that could time out, so only epoch
//! interruption can stop it, and the host must keep serving meanwhile.

use core::hint::black_box;

use switchyard_plugin_sdk::{
    Context, Delivery, Manifest, Plugin, PluginError, Verified, WebhookRequest, export_plugin,
};

struct Spin;

impl Plugin for Spin {
    fn manifest() -> Manifest {
        Manifest::new(
            "spin",
            env!("CARGO_PKG_VERSION"),
            "Loops forever in every call",
        )
        .action("run", "loops forever")
    }

    fn verify_webhook(_ctx: &Context, request: WebhookRequest) -> Result<Verified, String> {
        let event_id = request.header("x-probe-id").ok_or("missing x-probe-id")?;
        let event_type = "spin.webhook".to_owned();
        Ok(Verified {
            event_id: event_id.to_owned(),
            event_type,
        })
    }

    fn handle_webhook(_ctx: &Context, _delivery: Delivery) -> Result<String, PluginError> {
        spin()
    }

    fn call_action(_ctx: &Context, _name: &str, _input: &str) -> Result<String, PluginError> {
        spin()
    }
}

/// Counts forever. `black_box` keeps the optimizer from proving the loop
/// does nothing, which would let it collapse the loop or drop the call.
fn spin() -> ! {
    let mut count = 0u64;
    loop {
        count = black_box(count.wrapping_add(1));
    }
}

export_plugin!(Spin);
