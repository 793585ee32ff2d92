//! `trap`: a test plugin whose `handle-webhook` and `call-action` execute
//! the wasm `unreachable` instruction. The host's trap tests use it: a
//! trap that is not a Rust panic (no message, no panic hook) must still
//! fail only that call and be reported as a plugin failure.

use switchyard_plugin_sdk::{
    Context, Delivery, Manifest, Plugin, PluginError, Verified, WebhookRequest, export_plugin,
};

struct Trap;

impl Plugin for Trap {
    fn manifest() -> Manifest {
        Manifest::new("trap", env!("CARGO_PKG_VERSION"), "Traps in every call")
            .action("run", "executes `unreachable`")
    }

    fn verify_webhook(_ctx: &Context, request: WebhookRequest) -> Result<Verified, String> {
        let event_id = request.header("x-probe-id").ok_or("missing x-probe-id")?;
        let event_type = "trap.webhook".to_owned();
        Ok(Verified {
            event_id: event_id.to_owned(),
            event_type,
        })
    }

    fn handle_webhook(_ctx: &Context, _delivery: Delivery) -> Result<String, PluginError> {
        core::arch::wasm32::unreachable()
    }

    fn call_action(_ctx: &Context, _name: &str, _input: &str) -> Result<String, PluginError> {
        core::arch::wasm32::unreachable()
    }
}

export_plugin!(Trap);
