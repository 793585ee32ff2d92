//! The `stripe-connect` Switchyard plugin: Stripe Connect for the vendors of
//! a Medusa marketplace.
//!
//! This slice verifies Stripe webhooks and keeps vendors' onboarding status
//! in Medusa in line with their connected accounts (`account.updated`).
//! The pure decisions live in [`account`] and [`event`]; [`account_updated`]
//! and [`medusa`] act on them through the host.

mod account;
mod account_updated;
mod event;
mod manifest;
mod medusa;
mod settings;
mod webhook;

use switchyard_plugin_sdk::{
    Context, Delivery, Manifest, Plugin, PluginError, Verified, WebhookRequest, export_plugin,
};

/// The plugin, as the host sees it.
struct StripeConnect;

impl Plugin for StripeConnect {
    fn manifest() -> Manifest {
        manifest::manifest()
    }

    fn verify_webhook(_ctx: &Context, request: WebhookRequest) -> Result<Verified, String> {
        webhook::verify(&request)
    }

    fn handle_webhook(_ctx: &Context, delivery: Delivery) -> Result<String, PluginError> {
        webhook::handle(&delivery)
    }
}

export_plugin!(StripeConnect);

#[cfg(test)]
mod testkit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_the_plugin_with_the_sdk() {
        let manifest = (SWITCHYARD_PLUGIN.manifest)();
        assert_eq!(manifest.name, "stripe-connect");
        let ctx = Context::default();
        let job = (SWITCHYARD_PLUGIN.run_job)(&ctx, "process-vendor-payouts");
        assert!(matches!(job, Err(PluginError::Unsupported(_))));
    }
}
