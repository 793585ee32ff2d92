//! The `stripe-connect` Switchyard plugin: Stripe Connect for the vendors of
//! a Medusa marketplace.
//!
//! It verifies Stripe webhooks and keeps Medusa in line with them (vendor
//! onboarding, deauthorization, transfers and payouts), offers the admin
//! actions of onboarding (OAuth and Express), transfers, payouts and
//! balances, and runs the daily job that pays vendors. Pure decisions live
//! in [`account`], [`payout_state`] and [`transfer`]'s fee arithmetic; the
//! other modules act on them through the host.

mod account;
mod account_updated;
mod actions;
mod deauthorized;
mod event;
mod funds;
mod job;
mod links;
mod manifest;
mod medusa;
mod oauth;
mod onboarding;
mod payout_events;
mod payout_state;
mod settings;
mod settle;
mod stripe;
mod transfer;
mod webhook;

use switchyard_plugin_sdk::{
    Context, Delivery, JobReport, Manifest, Plugin, PluginError, Verified, WebhookRequest,
    export_plugin,
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

    fn run_job(_ctx: &Context, name: &str) -> Result<JobReport, PluginError> {
        match name {
            job::NAME => job::run(),
            other => Err(PluginError::unsupported(format!("no job named {other}"))),
        }
    }

    fn call_action(ctx: &Context, name: &str, input: &str) -> Result<String, PluginError> {
        actions::call(ctx, name, input)
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
        let job = (SWITCHYARD_PLUGIN.run_job)(&ctx, "nightly");
        assert!(matches!(job, Err(PluginError::Unsupported(_))));
    }
}
