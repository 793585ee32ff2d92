//! What the plugin declares to the host: its settings, hosts, routes,
//! actions and job.

use switchyard_plugin_sdk::{ConfigKey, Manifest, RouteKind};

use crate::actions::{ACTIONS, CONNECT_VENDOR};
use crate::job;
use crate::settings::*;

/// The path of the marketplace's existing Stripe webhook endpoint, kept as
/// an alias of this plugin's webhook route.
pub const WEBHOOK_ROUTE: &str = "/admin/integrations/stripe/webhook";

/// The path of the marketplace's existing "connect a vendor" endpoint,
/// kept as an alias of the `connect-vendor` action.
pub const CONNECT_ROUTE: &str = "/admin/integrations/stripe/connect";

/// The manifest.
pub fn manifest() -> Manifest {
    let manifest = Manifest::new(
        "stripe-connect",
        env!("CARGO_PKG_VERSION"),
        "Stripe Connect for marketplace vendors: onboarding, transfers and payouts",
    );
    let manifest = config_keys().into_iter().fold(manifest, Manifest::config);
    let manifest = ACTIONS.iter().fold(manifest, |m, (name, description)| {
        m.action(name, description)
    });
    manifest
        .job(
            job::NAME,
            job::SCHEDULE,
            "Transfer pending vendor payouts to onboarded vendors",
        )
        .host("api.stripe.com")
        .host("connect.stripe.com")
        .route(WEBHOOK_ROUTE, RouteKind::Webhook)
        .route(CONNECT_ROUTE, RouteKind::Action(CONNECT_VENDOR.to_owned()))
}

fn config_keys() -> Vec<ConfigKey> {
    vec![
        ConfigKey::required(MEDUSA_URL, "Base URL of the marketplace's Medusa backend"),
        ConfigKey::secret(MEDUSA_API_KEY, "Medusa secret API key (sk_…)"),
        ConfigKey::optional(
            STRIPE_API_URL,
            &format!("Stripe API base URL; default {DEFAULT_STRIPE_API_URL}"),
        ),
        ConfigKey::optional(
            STRIPE_CONNECT_URL,
            &format!("Stripe Connect (OAuth) base URL; default {DEFAULT_STRIPE_CONNECT_URL}"),
        ),
        ConfigKey::secret(STRIPE_SECRET_KEY, "The platform's Stripe secret key (sk_…)"),
        ConfigKey::secret(
            STRIPE_WEBHOOK_SECRET,
            "Signing secret of the webhook endpoint (whsec_…)",
        ),
        ConfigKey::optional_secret(
            STRIPE_CONNECT_WEBHOOK_SECRET,
            "Signing secret of a separate Connect webhook endpoint, if there is one",
        ),
        ConfigKey::optional(
            STRIPE_CLIENT_ID,
            "The platform's Connect client id (ca_…), for OAuth",
        ),
        ConfigKey::optional(
            WEBHOOK_TOLERANCE_SECONDS,
            "Seconds a webhook's signed time may differ from the host clock; default 300",
        ),
        ConfigKey::optional(
            OAUTH_REDIRECT_URI,
            "Where Stripe returns the vendor after OAuth, unless the action names one",
        ),
        ConfigKey::optional(
            OAUTH_STATE_TTL_SECONDS,
            "Seconds an OAuth state stays valid; default 600",
        ),
        ConfigKey::optional(
            ONBOARDING_REFRESH_URL,
            "Where an expired onboarding link sends the vendor",
        ),
        ConfigKey::optional(
            ONBOARDING_RETURN_URL,
            "Where a finished onboarding link sends the vendor",
        ),
        ConfigKey::optional(
            DEFAULT_COUNTRY,
            "Country (ISO 3166 alpha-2) of new Express accounts; default Stripe's",
        ),
        ConfigKey::optional(
            JOB_BUDGET_MS,
            "Milliseconds after which the payout job starts no new transfer; default 7000",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declares_every_setting_with_its_kind() {
        let manifest = manifest();
        let key = |name: &str| {
            manifest
                .config
                .iter()
                .find(|k| k.name == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(manifest.config.len(), 15);
        assert!(key(MEDUSA_URL).required && !key(MEDUSA_URL).secret);
        assert!(key(STRIPE_WEBHOOK_SECRET).secret && key(STRIPE_WEBHOOK_SECRET).required);
        let connect = key(STRIPE_CONNECT_WEBHOOK_SECRET);
        assert!(connect.secret && !connect.required);
        assert!(!key(WEBHOOK_TOLERANCE_SECONDS).required);
        assert_eq!(manifest.hosts, ["api.stripe.com", "connect.stripe.com"]);
        assert_eq!(manifest.routes[0].path, WEBHOOK_ROUTE);
        assert_eq!(
            manifest.routes[1].kind,
            RouteKind::Action("connect-vendor".to_owned())
        );
        assert_eq!(manifest.jobs[0].name, "process-vendor-payouts");
        assert_eq!(manifest.jobs[0].schedule, "0 0 3 * * *");
        assert_eq!(manifest.actions.len(), 9);
    }
}
