//! The JSON shapes of the Stripe objects the simulator returns, field for
//! field as in `fixtures/stripe/connect-objects.subset.json` (a test below
//! compares them with that file when it is present).

use serde_json::{Value, json};

use crate::ids;

/// Which kind of connected account, and so which controller and dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountKind {
    Express,
    Standard,
    Custom,
}

impl AccountKind {
    /// Reads `type=express|standard|custom`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "express" => Some(Self::Express),
            "standard" => Some(Self::Standard),
            "custom" => Some(Self::Custom),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Express => "express",
            Self::Standard => "standard",
            Self::Custom => "custom",
        }
    }

    /// The `controller` hash Stripe shows for an account of this kind
    /// created by the platform.
    fn controller(self) -> Value {
        let (dashboard, collection) = match self {
            Self::Express => ("express", "stripe"),
            Self::Standard => ("full", "stripe"),
            Self::Custom => ("none", "application"),
        };
        json!({
            "fees": {"payer": "application"},
            "is_controller": true,
            "losses": {"payments": "application"},
            "requirement_collection": collection,
            "stripe_dashboard": {"type": dashboard},
            "type": "application"
        })
    }
}

/// What Stripe still needs before a new account may take charges and payouts.
const INITIAL_REQUIREMENTS: [&str; 6] = [
    "business_profile.product_description",
    "business_profile.url",
    "external_account",
    "representative.first_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
];

/// A freshly created account: nothing enabled, requirements due.
pub(crate) fn account(id: &str, kind: AccountKind, country: &str, created: u64) -> Value {
    json!({
        "business_profile": {"mcc": null, "name": null, "product_description": null,
            "support_email": null, "support_phone": null, "support_url": null, "url": null},
        "business_type": null,
        "capabilities": {},
        "charges_enabled": false,
        "controller": kind.controller(),
        "country": country,
        "created": created,
        "default_currency": default_currency(country),
        "details_submitted": false,
        "email": null,
        "external_accounts": list(&format!("/v1/accounts/{id}/external_accounts")),
        "future_requirements": requirements(&[]),
        "id": id,
        "metadata": {},
        "object": "account",
        "payouts_enabled": false,
        "requirements": requirements(&INITIAL_REQUIREMENTS),
        "settings": {
            "dashboard": {"display_name": null, "timezone": "Etc/UTC"},
            "payouts": {"debit_negative_balances": true,
                "schedule": {"delay_days": 2, "interval": "daily"}, "statement_descriptor": null}
        },
        "tos_acceptance": {"date": null, "ip": null, "user_agent": null},
        "type": kind.name()
    })
}

/// A Standard account connected through OAuth: its own controller, already
/// onboarded with Stripe.
pub(crate) fn standard_oauth_account(id: &str, created: u64) -> Value {
    let mut account = account(id, AccountKind::Standard, "US", created);
    account["controller"] = json!({"type": "account"});
    account["capabilities"] = json!({"card_payments": "active", "transfers": "active"});
    account["charges_enabled"] = json!(true);
    account["payouts_enabled"] = json!(true);
    account["details_submitted"] = json!(true);
    account["requirements"] = requirements(&[]);
    account
}

/// The `requirements` hash with `due` currently and eventually due.
pub(crate) fn requirements(due: &[&str]) -> Value {
    let disabled_reason = if due.is_empty() {
        Value::Null
    } else {
        json!("requirements.past_due")
    };
    json!({
        "alternatives": [],
        "current_deadline": null,
        "currently_due": due,
        "disabled_reason": disabled_reason,
        "errors": [],
        "eventually_due": due,
        "past_due": [],
        "pending_verification": []
    })
}

/// A test bank account, as onboarding attaches one.
pub(crate) fn bank_account(account: &str, country: &str, currency: &str) -> Value {
    json!({
        "account": account,
        "account_holder_name": null,
        "account_holder_type": null,
        "bank_name": "STRIPE TEST BANK",
        "country": country,
        "currency": currency,
        "default_for_currency": true,
        "id": ids::stripe("ba"),
        "last4": "6789",
        "metadata": {},
        "object": "bank_account",
        "routing_number": "110000000",
        "status": "new"
    })
}

/// An empty list object at `url`.
pub(crate) fn list(url: &str) -> Value {
    json!({"data": [], "has_more": false, "object": "list", "url": url})
}

/// `POST /v1/account_links`.
pub(crate) fn account_link(url: &str, created: u64, expires_at: u64) -> Value {
    json!({"created": created, "expires_at": expires_at, "object": "account_link", "url": url})
}

/// The parts of a transfer that come from the request.
pub(crate) struct TransferFields<'a> {
    pub amount: i64,
    pub currency: &'a str,
    pub destination: &'a str,
    pub description: Option<&'a str>,
    pub source_transaction: Option<&'a str>,
    pub source_type: &'a str,
    pub transfer_group: Option<&'a str>,
}

/// A new transfer, nothing reversed yet.
pub(crate) fn transfer(fields: &TransferFields<'_>, created: u64) -> Value {
    let id = ids::stripe("tr");
    json!({
        "amount": fields.amount,
        "amount_reversed": 0,
        "balance_transaction": ids::stripe("txn"),
        "created": created,
        "currency": fields.currency,
        "description": fields.description,
        "destination": fields.destination,
        "destination_payment": ids::stripe("py"),
        "id": id,
        "livemode": false,
        "metadata": {},
        "object": "transfer",
        "reversals": list(&format!("/v1/transfers/{id}/reversals")),
        "reversed": false,
        "source_transaction": fields.source_transaction,
        "source_type": fields.source_type,
        "transfer_group": fields.transfer_group
    })
}

/// A reversal of `amount` of `transfer`.
pub(crate) fn transfer_reversal(
    transfer: &str,
    amount: i64,
    currency: &str,
    created: u64,
) -> Value {
    json!({
        "amount": amount,
        "balance_transaction": ids::stripe("txn"),
        "created": created,
        "currency": currency,
        "destination_payment_refund": ids::stripe("pyr"),
        "id": ids::stripe("trr"),
        "metadata": {},
        "object": "transfer_reversal",
        "source_refund": null,
        "transfer": transfer
    })
}

/// The parts of a payout that come from the request.
pub(crate) struct PayoutFields<'a> {
    pub amount: i64,
    pub currency: &'a str,
    pub description: Option<&'a str>,
    pub destination: &'a str,
    pub method: &'a str,
    pub source_type: &'a str,
    pub statement_descriptor: Option<&'a str>,
}

/// Two days, the usual arrival delay of a standard payout in test mode.
const ARRIVAL_DELAY_SECS: u64 = 2 * 86_400;

/// A new manual payout, `pending`.
pub(crate) fn payout(fields: &PayoutFields<'_>, created: u64) -> Value {
    json!({
        "amount": fields.amount,
        "application_fee": null,
        "application_fee_amount": null,
        "arrival_date": created + ARRIVAL_DELAY_SECS,
        "automatic": false,
        "balance_transaction": ids::stripe("txn"),
        "created": created,
        "currency": fields.currency,
        "description": fields.description,
        "destination": fields.destination,
        "failure_balance_transaction": null,
        "failure_code": null,
        "failure_message": null,
        "id": ids::stripe("po"),
        "livemode": false,
        "metadata": {},
        "method": fields.method,
        "object": "payout",
        "original_payout": null,
        "payout_method": null,
        "reconciliation_status": "not_applicable",
        "reversed_by": null,
        "source_type": fields.source_type,
        "statement_descriptor": fields.statement_descriptor,
        "status": "pending",
        "trace_id": {"status": "pending", "value": null},
        "type": "bank_account"
    })
}

/// A balance with `available` per currency, nothing pending or reserved.
pub(crate) fn balance<'a>(available: impl Iterator<Item = (&'a String, &'a i64)>) -> Value {
    let mut entries: Vec<(String, i64)> = available.map(|(c, a)| (c.clone(), *a)).collect();
    if entries.is_empty() {
        entries.push(("usd".to_owned(), 0));
    }
    let funds = |amount: i64, currency: &str| {
        let sources = json!({"card": amount});
        json!({"amount": amount, "currency": currency, "source_types": sources})
    };
    let available: Vec<Value> = entries.iter().map(|(c, a)| funds(*a, c)).collect();
    let pending: Vec<Value> = entries.iter().map(|(c, _)| funds(0, c)).collect();
    let reserved: Vec<Value> = entries
        .iter()
        .map(|(c, _)| json!({"amount": 0, "currency": c}))
        .collect();
    json!({"available": available, "connect_reserved": reserved, "livemode": false,
        "object": "balance", "pending": pending})
}

/// The currency Stripe settles in for a country (a short list; others usd).
fn default_currency(country: &str) -> &'static str {
    match country {
        "GB" => "gbp",
        "CA" => "cad",
        "AU" => "aud",
        "JP" => "jpy",
        "CH" => "chf",
        "AT" | "BE" | "DE" | "ES" | "FI" | "FR" | "IE" | "IT" | "NL" | "PT" => "eur",
        _ => "usd",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The shared fixtures live beside the checkout; CI has them, a bare
    /// checkout may not, and then there is nothing to compare against.
    fn fixture_resources() -> Option<Value> {
        // Where this checkout is at run time: a binary built by another
        // checkout sharing the target dir keeps that checkout's path.
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        let path = std::path::Path::new(&dir)
            .join("../../shared/fixtures/stripe/connect-objects.subset.json");
        let text = std::fs::read_to_string(path).ok()?;
        let document: Value = serde_json::from_str(&text).ok()?;
        Some(document["resources"].clone())
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn objects_have_the_fixture_fields() {
        let Some(resources) = fixture_resources() else {
            return;
        };
        let fields = TransferFields {
            amount: 1,
            currency: "usd",
            destination: "acct_1",
            description: None,
            source_transaction: None,
            source_type: "card",
            transfer_group: None,
        };
        let payout_fields = PayoutFields {
            amount: 1,
            currency: "usd",
            description: None,
            destination: "ba_1",
            method: "standard",
            source_type: "card",
            statement_descriptor: None,
        };
        let balances = [("usd".to_owned(), 5)];
        let built = [
            ("transfer", transfer(&fields, 1)),
            ("transfer_reversal", transfer_reversal("tr_1", 1, "usd", 1)),
            ("payout", payout(&payout_fields, 1)),
            ("balance", balance(balances.iter().map(|(c, a)| (c, a)))),
            ("account_link", account_link("u", 1, 2)),
        ];
        for (name, object) in built {
            assert_eq!(keys(&object), keys(&resources[name]), "{name}");
        }
    }

    #[test]
    fn account_fields_are_a_subset_of_the_fixture() {
        let Some(resources) = fixture_resources() else {
            return;
        };
        let account = account("acct_1", AccountKind::Express, "US", 1);
        let fixture = keys(&resources["account"]);
        assert!(keys(&account).is_subset(&fixture), "{:?}", keys(&account));
        let requirement_keys = keys(&resources["account"]["requirements"]);
        assert_eq!(keys(&account["requirements"]), requirement_keys);
    }
}
