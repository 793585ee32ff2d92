//! The admin actions: their names, and the input checks they share.
//! Input is JSON from an operator or the marketplace, checked field by
//! field; output is JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_plugin_sdk::{Context, PluginError, money};

use crate::event::is_plain_id;
use crate::medusa::{Medusa, Vendor};
use crate::{funds, links, oauth, onboarding, transfer};

/// Builds the Standard-account OAuth link.
pub const OAUTH_AUTHORIZE_URL: &str = "oauth-authorize-url";
/// Finishes OAuth with the code Stripe sent back.
pub const OAUTH_COMPLETE: &str = "oauth-complete";
/// Creates a vendor's Express account.
pub const CREATE_EXPRESS_ACCOUNT: &str = "create-express-account";
/// Makes an onboarding link for a vendor's account.
pub const ONBOARDING_LINK: &str = "onboarding-link";
/// Creates the account if needed and returns its onboarding link.
pub const CONNECT_VENDOR: &str = "connect-vendor";
/// Moves money to a vendor's account.
pub const TRANSFER: &str = "transfer";
/// Pays a connected account's balance out to its bank.
pub const PAYOUT: &str = "payout";
/// Reads the platform's or an account's balance.
pub const BALANCE: &str = "balance";
/// Disconnects a vendor's account from the platform.
pub const DEAUTHORIZE: &str = "deauthorize";

/// Every action with its description, for the manifest.
pub const ACTIONS: [(&str, &str); 9] = [
    (
        OAUTH_AUTHORIZE_URL,
        "Stripe OAuth link for a vendor's Standard account",
    ),
    (
        OAUTH_COMPLETE,
        "Finish OAuth: check state, exchange the code, link the vendor",
    ),
    (
        CREATE_EXPRESS_ACCOUNT,
        "Create a vendor's Express account and link it in Medusa",
    ),
    (
        ONBOARDING_LINK,
        "A fresh onboarding link for a vendor's account",
    ),
    (
        CONNECT_VENDOR,
        "Create a vendor's account if needed and return its onboarding link",
    ),
    (TRANSFER, "Transfer to a vendor, keeping the platform fee"),
    (PAYOUT, "Pay a vendor's Stripe balance out to their bank"),
    (BALANCE, "Balance of the platform or of a vendor's account"),
    (
        DEAUTHORIZE,
        "Disconnect a vendor's account and unlink it in Medusa",
    ),
];

/// Runs the action `name`.
pub fn call(ctx: &Context, name: &str, input: &str) -> Result<String, PluginError> {
    match name {
        OAUTH_AUTHORIZE_URL => oauth::authorize_url(ctx, parse(input)?),
        OAUTH_COMPLETE => oauth::complete(parse(input)?),
        CREATE_EXPRESS_ACCOUNT => onboarding::create_account(parse(input)?),
        ONBOARDING_LINK => onboarding::link(parse(input)?),
        CONNECT_VENDOR => onboarding::connect(parse(input)?),
        TRANSFER => transfer::action(parse(input)?),
        PAYOUT => funds::payout(parse(input)?),
        BALANCE => funds::balance(parse(input)?),
        DEAUTHORIZE => oauth::deauthorize(parse(input)?),
        other => Err(PluginError::unsupported(format!("no action named {other}"))),
    }
}

/// The input decoded as `T`; anything else is invalid input.
fn parse<T: DeserializeOwned>(input: &str) -> Result<T, PluginError> {
    serde_json::from_str(input).map_err(|e| PluginError::invalid_input(format!("input: {e}")))
}

/// The answer as JSON text.
pub fn output<T: Serialize>(value: &T) -> Result<String, PluginError> {
    serde_json::to_string(value)
        .map_err(|e| PluginError::permanent(format!("encoding the answer: {e}")))
}

/// `id` checked as a plain id, since it goes into paths and kv keys.
pub fn plain<'a>(field: &str, id: &'a str) -> Result<&'a str, PluginError> {
    if is_plain_id(id) {
        Ok(id)
    } else {
        Err(PluginError::invalid_input(format!(
            "{field} is not a plain id"
        )))
    }
}

/// The vendor `id` from Medusa; an unknown vendor is invalid input.
pub fn vendor(medusa: &Medusa, id: &str) -> Result<Vendor, PluginError> {
    let id = plain("vendor_id", id)?;
    medusa
        .vendor(id)?
        .ok_or_else(|| PluginError::invalid_input(format!("no vendor {id}")))
}

/// The account linked to `vendor` in Medusa, else the one the plugin
/// remembers giving it; none is invalid input.
pub fn account_of(vendor: &Vendor) -> Result<String, PluginError> {
    let linked = vendor.stripe_account_id.clone().filter(|a| is_plain_id(a));
    let account = match linked {
        Some(account) => Some(account),
        None => links::vendor_account(&vendor.id)?,
    };
    account.ok_or_else(|| {
        PluginError::invalid_input(format!("vendor {} has no Stripe account", vendor.id))
    })
}

/// A currency code checked and lower-cased, as Stripe wants it.
pub fn currency(code: &str) -> Result<String, PluginError> {
    let code = code.trim();
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(code.to_ascii_lowercase())
    } else {
        Err(PluginError::invalid_input(format!(
            "{code:?} is not a currency code"
        )))
    }
}

/// An amount given as integer minor units (`amount`) or as decimal major
/// units (`amount_decimal`, such as `"98.90"`), in minor units, positive.
pub fn amount(
    minor: Option<i64>,
    decimal: Option<&str>,
    currency: &str,
) -> Result<i64, PluginError> {
    let amount = match (minor, decimal) {
        (Some(minor), None) => minor,
        (None, Some(text)) => money::decimal_to_minor(text, currency)?,
        _ => {
            let message = "give exactly one of amount (minor units) and amount_decimal";
            return Err(PluginError::invalid_input(message));
        }
    };
    if amount <= 0 {
        return Err(PluginError::invalid_input("amount must be positive"));
    }
    Ok(amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_amounts_in_either_unit_with_the_currencys_precision() {
        assert_eq!(amount(Some(9890), None, "usd"), Ok(9890));
        assert_eq!(amount(None, Some("98.90"), "usd"), Ok(9890));
        assert_eq!(amount(None, Some("5000"), "jpy"), Ok(5000));
        assert_eq!(amount(None, Some("10000"), "krw"), Ok(10000));
        assert!(amount(None, Some("50.5"), "jpy").is_err());
        assert!(amount(Some(1), Some("1"), "usd").is_err());
        assert!(amount(None, None, "usd").is_err());
        assert!(amount(Some(0), None, "usd").is_err());
    }

    #[test]
    fn checks_currencies_and_ids() {
        assert_eq!(currency(" USD "), Ok("usd".to_owned()));
        assert!(currency("dollars").is_err());
        assert!(plain("vendor_id", "../x").is_err());
    }

    #[test]
    fn unknown_actions_are_unsupported() {
        let outcome = call(&Context::default(), "refund", "{}");
        assert!(matches!(outcome, Err(PluginError::Unsupported(_))));
        let outcome = call(&Context::default(), BALANCE, "[");
        assert!(matches!(outcome, Err(PluginError::InvalidInput(_))));
    }
}
