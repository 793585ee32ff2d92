//! `panicker`: a test plugin whose `handle-webhook` and `call-action`
//! panic. The host's trap tests use it: with `panic = "abort"` a panic
//! prints its message to the guest's stderr and then traps, and the host
//! must fail only that call and report it as a plugin failure.

use switchyard_plugin_sdk::{
    Context, Delivery, Manifest, Plugin, PluginError, Verified, WebhookRequest, export_plugin,
};

struct Panicker;

impl Plugin for Panicker {
    fn manifest() -> Manifest {
        Manifest::new(
            "panicker",
            env!("CARGO_PKG_VERSION"),
            "Panics in every call",
        )
        .action("run", "panics")
    }

    fn verify_webhook(_ctx: &Context, request: WebhookRequest) -> Result<Verified, String> {
        let event_id = request.header("x-probe-id").ok_or("missing x-probe-id")?;
        let event_type = "panicker.webhook".to_owned();
        Ok(Verified {
            event_id: event_id.to_owned(),
            event_type,
        })
    }

    fn handle_webhook(_ctx: &Context, _delivery: Delivery) -> Result<String, PluginError> {
        panic!("deliberate panic in the guest")
    }

    fn call_action(_ctx: &Context, _name: &str, _input: &str) -> Result<String, PluginError> {
        panic!("deliberate panic in the guest")
    }
}

export_plugin!(Panicker);
