//! Express onboarding (UPSTREAMS.md §1.3, §1.4): create a vendor's
//! connected account once, and hand out onboarding links for it.
//!
//! Creation is idempotent three ways: a vendor already linked in Medusa
//! keeps its account; an account the plugin created but could not yet
//! write to Medusa is found in kv; and the `Idempotency-Key` derived from
//! the vendor id makes Stripe replay a creation that was cut short.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_plugin_sdk::http::Form;
use switchyard_plugin_sdk::{PluginError, config, log, metrics};

use crate::actions::{account_of, output, vendor};
use crate::links::{self, Kind};
use crate::medusa::{Medusa, Vendor};
use crate::settings::{self, DEFAULT_COUNTRY, ONBOARDING_REFRESH_URL, ONBOARDING_RETURN_URL};
use crate::stripe::{Stripe, Write, id_field};

/// Input of `create-express-account`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    vendor_id: String,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    business_type: Option<String>,
}

/// Input of `onboarding-link`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    vendor_id: String,
    #[serde(default)]
    refresh_url: Option<String>,
    #[serde(default)]
    return_url: Option<String>,
}

/// Input of `connect-vendor`, which also serves the marketplace's old
/// `POST /admin/integrations/stripe/connect`: unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct ConnectInput {
    vendor_id: String,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    refresh_url: Option<String>,
    #[serde(default)]
    return_url: Option<String>,
}

/// A vendor's account, and whether this call created it.
#[derive(Debug, Serialize)]
struct Account {
    vendor_id: String,
    account_id: String,
    created: bool,
}

/// An onboarding link.
#[derive(Debug, Serialize)]
struct OnboardingLink {
    vendor_id: String,
    account_id: String,
    url: String,
    expires_at: Option<u64>,
}

/// `create-express-account`.
pub fn create_account(input: CreateInput) -> Result<String, PluginError> {
    output(&ensure_account(&input)?)
}

/// `onboarding-link`.
pub fn link(input: LinkInput) -> Result<String, PluginError> {
    let medusa = Medusa::from_config()?;
    let vendor = vendor(&medusa, &input.vendor_id)?;
    let account = account_of(&vendor)?;
    output(&make_link(&vendor.id, &account, &input)?)
}

/// `connect-vendor`: the account (made if missing) and its link.
pub fn connect(input: ConnectInput) -> Result<String, PluginError> {
    let create = CreateInput {
        vendor_id: input.vendor_id,
        country: input.country,
        email: input.email,
        business_type: None,
    };
    let account = ensure_account(&create)?;
    let link_input = LinkInput {
        vendor_id: account.vendor_id.clone(),
        refresh_url: input.refresh_url,
        return_url: input.return_url,
    };
    let link = make_link(&account.vendor_id, &account.account_id, &link_input)?;
    let mut answer = serde_json::to_value(&link).unwrap_or_default();
    answer["created"] = Value::Bool(account.created);
    output(&answer)
}

fn ensure_account(input: &CreateInput) -> Result<Account, PluginError> {
    let medusa = Medusa::from_config()?;
    let vendor = vendor(&medusa, &input.vendor_id)?;
    if let Ok(account_id) = account_of(&vendor) {
        if vendor.stripe_account_id.as_deref() != Some(account_id.as_str()) {
            medusa.link_account(&vendor.id, &account_id, None)?;
        }
        let (vendor_id, created) = (vendor.id, false);
        return Ok(Account {
            vendor_id,
            account_id,
            created,
        });
    }
    let account_id = create_express(&vendor, input)?;
    links::remember(&vendor.id, &account_id, Kind::Express)?;
    medusa.link_account(&vendor.id, &account_id, None)?;
    report_created(&vendor.id, &account_id);
    let (vendor_id, created) = (vendor.id, true);
    Ok(Account {
        vendor_id,
        account_id,
        created,
    })
}

/// `POST /v1/accounts` for an Express account that takes transfers, whose
/// payouts the platform triggers (`manual`).
fn create_express(vendor: &Vendor, input: &CreateInput) -> Result<String, PluginError> {
    let mut form = Form::new()
        .field("type", "express")
        .nested(&["capabilities", "transfers", "requested"], true)
        .nested(&["metadata", "vendor_id"], &vendor.id)
        .nested(&["settings", "payouts", "schedule", "interval"], "manual");
    let country = input
        .country
        .clone()
        .or_else(|| config::get(DEFAULT_COUNTRY));
    let email = input.email.clone().or_else(|| vendor.email.clone());
    let optional = [
        ("country", country),
        ("email", email),
        ("business_type", input.business_type.clone()),
    ];
    for (name, value) in optional {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            form = form.field(name, value.trim());
        }
    }
    let key = format!("express-account-{}", vendor.id);
    let write = Write {
        idempotency_key: Some(&key),
        account: None,
    };
    let account = Stripe::from_config()?.post("/v1/accounts", &form, &write)?;
    id_field(&account, "id", "acct_")
}

fn report_created(vendor_id: &str, account_id: &str) {
    metrics::counter("stripe_accounts_created_total", 1, &[("type", "express")]);
    let fields = [("vendor_id", vendor_id), ("account", account_id)];
    log::info("express account created", &fields);
}

/// `POST /v1/account_links` for onboarding. Links are single-use and short
/// lived, so each call asks for a fresh one (no idempotency key).
fn make_link(
    vendor_id: &str,
    account: &str,
    input: &LinkInput,
) -> Result<OnboardingLink, PluginError> {
    let mut form = Form::new()
        .field("account", account)
        .field("type", "account_onboarding");
    let urls = [
        ("refresh_url", &input.refresh_url, ONBOARDING_REFRESH_URL),
        ("return_url", &input.return_url, ONBOARDING_RETURN_URL),
    ];
    for (name, given, setting) in urls {
        let url = match given {
            Some(url) => Some(settings::checked_url(name, url)?),
            None => settings::optional_url(setting)?,
        };
        if let Some(url) = url {
            form = form.field(name, url);
        }
    }
    let link = Stripe::from_config()?.post("/v1/account_links", &form, &Write::default())?;
    let url = link.get("url").and_then(Value::as_str).unwrap_or_default();
    let url = settings::checked_url("url", url)
        .map_err(|_| PluginError::permanent("stripe answered no usable link url"))?;
    Ok(OnboardingLink {
        vendor_id: vendor_id.to_owned(),
        account_id: account.to_owned(),
        url,
        expires_at: link.get("expires_at").and_then(Value::as_u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{field, medusa_host, vendor as medusa_vendor};
    use serde_json::json;
    use switchyard_plugin_sdk::http::{Method, Response};

    fn stripe_answers(world: &crate::testkit::World) {
        world.on_stripe(|request| match request.url().as_str() {
            u if u.ends_with("/v1/accounts") => {
                Response::json_value(200, &json!({"id": "acct_new", "object": "account"}))
            }
            _ => Response::json_value(
                200,
                &json!({"object": "account_link",
                "url": "https://connect.test/setup/s/acct_new/x", "expires_at": 99}),
            ),
        });
    }

    #[test]
    fn creates_an_express_account_once_and_links_it() {
        let mut listed = medusa_vendor("ven_1", None, "pending");
        listed["email"] = json!("v@example.com");
        let (host, world) = medusa_host(vec![listed], vec![]);
        stripe_answers(&world);
        let input = || CreateInput {
            vendor_id: "ven_1".into(),
            country: Some("US".into()),
            email: None,
            business_type: None,
        };
        let answer: Value = serde_json::from_str(&create_account(input()).unwrap()).unwrap();
        assert_eq!(
            answer,
            json!({"vendor_id": "ven_1", "account_id": "acct_new", "created": true})
        );
        let sent = &host.requests()[1];
        assert_eq!(
            sent.header_value("Idempotency-Key"),
            Some("express-account-ven_1")
        );
        assert_eq!(field(sent, "type").as_deref(), Some("express"));
        assert_eq!(
            field(sent, "capabilities[transfers][requested]").as_deref(),
            Some("true")
        );
        assert_eq!(field(sent, "metadata[vendor_id]").as_deref(), Some("ven_1"));
        assert_eq!(
            field(sent, "settings[payouts][schedule][interval]").as_deref(),
            Some("manual")
        );
        assert_eq!(field(sent, "email").as_deref(), Some("v%40example.com"));
        assert_eq!(world.vendors.borrow()[0]["stripe_account_id"], "acct_new");

        let again: Value = serde_json::from_str(&create_account(input()).unwrap()).unwrap();
        assert_eq!(again["created"], false);
        let creations = host
            .requests()
            .iter()
            .filter(|r| r.url().ends_with("/v1/accounts"))
            .count();
        assert_eq!(creations, 1);
    }

    #[test]
    fn a_lost_medusa_write_is_made_on_the_retry_without_a_second_account() {
        let (host, world) = medusa_host(vec![medusa_vendor("ven_1", None, "pending")], vec![]);
        stripe_answers(&world);
        world.fail_writes(1);
        let input = || CreateInput {
            vendor_id: "ven_1".into(),
            country: None,
            email: None,
            business_type: None,
        };
        assert!(create_account(input()).is_err());
        let again: Value = serde_json::from_str(&create_account(input()).unwrap()).unwrap();
        assert_eq!(again["account_id"], "acct_new");
        assert_eq!(world.vendors.borrow()[0]["stripe_account_id"], "acct_new");
        let creations = host
            .requests()
            .iter()
            .filter(|r| r.url().ends_with("/v1/accounts"))
            .count();
        assert_eq!(creations, 1);
    }

    #[test]
    fn connect_returns_the_onboarding_link() {
        let (host, world) = medusa_host(vec![medusa_vendor("ven_1", None, "pending")], vec![]);
        stripe_answers(&world);
        host.config("onboarding_return_url", "https://market.test/done");
        let input = ConnectInput {
            vendor_id: "ven_1".into(),
            country: None,
            email: None,
            refresh_url: Some("https://market.test/again".into()),
            return_url: None,
        };
        let answer: Value = serde_json::from_str(&connect(input).unwrap()).unwrap();
        assert_eq!(answer["url"], "https://connect.test/setup/s/acct_new/x");
        assert_eq!(answer["created"], true);
        let link = host
            .requests()
            .into_iter()
            .rfind(|r| r.method() == Method::Post && r.url().ends_with("/v1/account_links"))
            .unwrap();
        assert_eq!(field(&link, "type").as_deref(), Some("account_onboarding"));
        assert_eq!(field(&link, "account").as_deref(), Some("acct_new"));
        assert_eq!(
            field(&link, "return_url").as_deref(),
            Some("https%3A%2F%2Fmarket.test%2Fdone")
        );
        assert_eq!(link.header_value("Idempotency-Key"), None);
    }

    #[test]
    fn a_link_needs_an_account() {
        let (_host, _world) = medusa_host(vec![medusa_vendor("ven_1", None, "pending")], vec![]);
        let input = LinkInput {
            vendor_id: "ven_1".into(),
            refresh_url: None,
            return_url: None,
        };
        assert!(matches!(link(input), Err(PluginError::InvalidInput(_))));
    }
}
