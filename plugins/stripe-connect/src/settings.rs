//! The tenant settings this plugin reads: their names, defaults and
//! checks. The manifest declares the same keys.

use switchyard_plugin_sdk::{PluginError, config};

/// Base URL of the marketplace's Medusa backend.
pub const MEDUSA_URL: &str = "medusa_url";
/// Secret: Medusa secret API key, sent as Basic user name.
pub const MEDUSA_API_KEY: &str = "medusa_api_key";
/// Stripe's API base URL (a simulator's in tests).
pub const STRIPE_API_URL: &str = "stripe_api_url";
/// Stripe's Connect (OAuth) base URL.
pub const STRIPE_CONNECT_URL: &str = "stripe_connect_url";
/// Secret: the platform's Stripe secret key.
pub const STRIPE_SECRET_KEY: &str = "stripe_secret_key";
/// Secret: signing secret of the platform webhook endpoint.
pub const STRIPE_WEBHOOK_SECRET: &str = "stripe_webhook_secret";
/// Secret: signing secret of the Connect webhook endpoint, when it differs.
pub const STRIPE_CONNECT_WEBHOOK_SECRET: &str = "stripe_connect_webhook_secret";
/// The platform's Connect client id (`ca_…`), for OAuth.
pub const STRIPE_CLIENT_ID: &str = "stripe_client_id";
/// Seconds a webhook's timestamp may differ from the host clock.
pub const WEBHOOK_TOLERANCE_SECONDS: &str = "webhook_tolerance_seconds";
/// Where Stripe sends the vendor back after OAuth, when the action names none.
pub const OAUTH_REDIRECT_URI: &str = "oauth_redirect_uri";
/// Seconds an OAuth `state` stays valid.
pub const OAUTH_STATE_TTL_SECONDS: &str = "oauth_state_ttl_seconds";
/// Where an expired onboarding link sends the vendor.
pub const ONBOARDING_REFRESH_URL: &str = "onboarding_refresh_url";
/// Where a finished onboarding link sends the vendor.
pub const ONBOARDING_RETURN_URL: &str = "onboarding_return_url";
/// Country of new Express accounts when the action names none.
pub const DEFAULT_COUNTRY: &str = "default_country";
/// Milliseconds after which the payout job starts no new transfer.
pub const JOB_BUDGET_MS: &str = "job_budget_ms";

/// Stripe's API, unless a tenant points elsewhere.
pub const DEFAULT_STRIPE_API_URL: &str = "https://api.stripe.com";
/// Stripe's OAuth host, unless a tenant points elsewhere.
pub const DEFAULT_STRIPE_CONNECT_URL: &str = "https://connect.stripe.com";

/// Ten minutes: long enough to fill in Stripe's form, short enough that a
/// leaked `state` is soon useless.
pub const DEFAULT_OAUTH_STATE_TTL_SECONDS: u64 = 600;
/// The host gives a call ten seconds by default; stopping new transfers
/// after seven leaves time to record the last one and report.
pub const DEFAULT_JOB_BUDGET_MS: u64 = 7_000;

/// The signing secrets a webhook may be signed with, in the order tried.
pub const WEBHOOK_SECRETS: [&str; 2] = [STRIPE_WEBHOOK_SECRET, STRIPE_CONNECT_WEBHOOK_SECRET];

/// The webhook tolerance; Stripe's own default is 300 s.
pub fn webhook_tolerance_secs() -> Result<u64, PluginError> {
    config::parse_or(
        WEBHOOK_TOLERANCE_SECONDS,
        switchyard_plugin_sdk::signature::DEFAULT_TOLERANCE_SECS,
    )
}

/// Medusa's base URL without a trailing slash. Only `http(s)://` URLs are
/// accepted; the host's allowlist decides which hosts are reachable.
pub fn medusa_url() -> Result<String, PluginError> {
    base_url(MEDUSA_URL, &config::require(MEDUSA_URL)?)
}

/// Stripe's API base URL without a trailing slash.
pub fn stripe_api_url() -> Result<String, PluginError> {
    base_url(
        STRIPE_API_URL,
        &config::get_or(STRIPE_API_URL, DEFAULT_STRIPE_API_URL),
    )
}

/// Stripe's OAuth base URL without a trailing slash.
pub fn stripe_connect_url() -> Result<String, PluginError> {
    let value = config::get_or(STRIPE_CONNECT_URL, DEFAULT_STRIPE_CONNECT_URL);
    base_url(STRIPE_CONNECT_URL, &value)
}

/// The platform's Connect client id, checked to look like `ca_…`: it goes
/// into URLs the vendor's browser opens.
pub fn client_id() -> Result<String, PluginError> {
    let id = config::require(STRIPE_CLIENT_ID)?;
    let plain = id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !(id.starts_with("ca_") && plain) {
        return Err(PluginError::permanent(format!(
            "setting {STRIPE_CLIENT_ID} is not a ca_ id"
        )));
    }
    Ok(id)
}

/// How long an OAuth `state` stays valid, in seconds.
pub fn oauth_state_ttl_secs() -> Result<u64, PluginError> {
    config::parse_or(OAUTH_STATE_TTL_SECONDS, DEFAULT_OAUTH_STATE_TTL_SECONDS)
}

/// The payout job's time budget, in milliseconds.
pub fn job_budget_ms() -> Result<u64, PluginError> {
    config::parse_or(JOB_BUDGET_MS, DEFAULT_JOB_BUDGET_MS)
}

/// An optional URL setting, checked when present.
pub fn optional_url(key: &str) -> Result<Option<String>, PluginError> {
    config::get(key).map(|v| checked_url(key, &v)).transpose()
}

/// `value` checked as an absolute HTTP(S) URL, kept as given otherwise:
/// URLs handed to Stripe for the vendor's browser.
pub fn checked_url(key: &str, value: &str) -> Result<String, PluginError> {
    let value = value.trim();
    let http = value.starts_with("https://") || value.starts_with("http://");
    if !http || value.len() > MAX_URL_LEN || value.chars().any(char::is_control) {
        return Err(PluginError::invalid_input(format!(
            "{key} is not an http(s) URL"
        )));
    }
    Ok(value.to_owned())
}

/// Longer URLs are refused: Stripe caps its URL parameters well below.
const MAX_URL_LEN: usize = 2048;

/// `value` checked as an absolute HTTP(S) URL, trailing slashes removed.
fn base_url(key: &str, value: &str) -> Result<String, PluginError> {
    let value = value.trim();
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        return Err(PluginError::permanent(format!(
            "setting {key} is not an http(s) URL"
        )));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::testing::TestHost;

    #[test]
    fn tolerance_defaults_to_300_and_refuses_nonsense() {
        let host = TestHost::install();
        assert_eq!(webhook_tolerance_secs(), Ok(300));
        host.config(WEBHOOK_TOLERANCE_SECONDS, "600");
        assert_eq!(webhook_tolerance_secs(), Ok(600));
        host.config(WEBHOOK_TOLERANCE_SECONDS, "-1");
        assert!(webhook_tolerance_secs().is_err());
    }

    #[test]
    fn medusa_url_must_be_http_and_loses_its_trailing_slash() {
        let host = TestHost::install();
        assert!(medusa_url().is_err());
        host.config(MEDUSA_URL, "https://medusa.test/");
        assert_eq!(medusa_url(), Ok("https://medusa.test".to_owned()));
        host.config(MEDUSA_URL, "file:///etc/passwd");
        assert!(medusa_url().is_err());
    }
}
