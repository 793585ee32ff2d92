//! The host serving the real `stripe-connect` plugin for tenant `acme`
//! against fresh Medusa and Stripe simulators on 127.0.0.1: the world of
//! the Stripe Connect end-to-end tests.

use switchyard_sim::medusa::{Medusa, MedusaConfig};
use switchyard_sim::stripe::{Stripe, StripeConfig};

use crate::{Host, HostBuilder};

/// What differs between the tests' marketplaces.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// The admin API's bearer token.
    pub admin_token: &'a str,
    /// The Stripe webhook signing secret the plugin checks against.
    pub webhook_secret: &'a str,
    /// Lines added under `[tenants.acme.plugins.stripe-connect]`.
    pub binding: &'a str,
    /// Lines added to that binding's `config` table.
    pub config: &'a str,
    /// Arguments after `serve --config …`, such as a fixed clock.
    pub host_args: &'a [&'a str],
}

/// A running marketplace: the host and both simulators.
pub struct Marketplace {
    /// The host, serving `stripe-connect` for `acme`.
    pub host: Host,
    /// The demo marketplace (`MedusaConfig::demo`).
    pub medusa: Medusa,
    /// An empty Stripe; seed it as the test needs.
    pub stripe: Stripe,
}

impl Marketplace {
    /// Starts both simulators, then the host with the plugin allowed to
    /// reach them (and only them) and its secrets bound to their hosts.
    pub async fn start(settings: Settings<'_>) -> Self {
        let medusa = Medusa::start(MedusaConfig::demo())
            .await
            .expect("medusa simulator");
        let stripe = Stripe::start(StripeConfig::default())
            .await
            .expect("stripe simulator");
        let mut builder = HostBuilder::new(&config_text(&medusa, &stripe, settings))
            .plugin("stripe-connect")
            .env("ADMIN_TOKEN", settings.admin_token)
            .env("WHSEC", settings.webhook_secret)
            .env("STRIPE_KEY", stripe.secret_key())
            .env("MEDUSA_KEY", medusa.api_key());
        for arg in settings.host_args {
            builder = builder.arg(arg);
        }
        let host = builder.start().await;
        Self {
            host,
            medusa,
            stripe,
        }
    }
}

fn config_text(medusa: &Medusa, stripe: &Stripe, settings: Settings<'_>) -> String {
    let (m, s) = (medusa.addr(), stripe.addr());
    let Settings {
        binding, config, ..
    } = settings;
    format!(
        r#"
admin_token = {{ env = "ADMIN_TOKEN" }}
[tenants.acme.plugins.stripe-connect]
allow_hosts = ["{m}", "{s}"]
allow_private = ["127.0.0.0/8"]
{binding}
[tenants.acme.plugins.stripe-connect.config]
medusa_url = "http://{m}"
stripe_api_url = "http://{s}"
stripe_connect_url = "http://{s}"
{config}
[tenants.acme.plugins.stripe-connect.secrets]
stripe_webhook_secret = {{ env = "WHSEC" }}
stripe_secret_key = {{ env = "STRIPE_KEY", hosts = ["{s}"] }}
medusa_api_key = {{ env = "MEDUSA_KEY", hosts = ["{m}"] }}
# Run by hand in the tests: one crossing 03:00 UTC would see a scheduled run.
[tenants.acme.plugins.stripe-connect.jobs.process-vendor-payouts]
enabled = false
"#
    )
}
