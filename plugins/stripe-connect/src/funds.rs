//! Money already on Stripe (UPSTREAMS.md §1.6): payouts from a vendor's
//! connected account to its bank (`Stripe-Account`, manual schedule), and
//! the balance of the platform or of an account.

use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_plugin_sdk::http::Form;
use switchyard_plugin_sdk::{PluginError, kv, money};

use crate::actions::{account_of, amount, currency, output, plain, vendor};
use crate::event::is_plain_id;
use crate::medusa::Medusa;
use crate::payout_events::stripe_payout_link;
use crate::stripe::{Stripe, Write, id_field};

/// Balance entries kept per list: Stripe has one per currency.
const MAX_BALANCE_ENTRIES: usize = 50;

/// Input of `payout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutInput {
    vendor_id: String,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    amount_decimal: Option<String>,
    currency: String,
    /// The marketplace payout this bank payout settles.
    #[serde(default)]
    payout_id: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// Input of `balance`: a vendor's account, or the platform without one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceInput {
    #[serde(default)]
    vendor_id: Option<String>,
}

/// `payout`: `POST /v1/payouts` as the vendor's account. The Stripe payout
/// names the marketplace payout in its metadata and in a kv link, so
/// `payout.paid` and `payout.failed` find it.
pub fn payout(input: PayoutInput) -> Result<String, PluginError> {
    let medusa = Medusa::from_config()?;
    let vendor = vendor(&medusa, &input.vendor_id)?;
    let account = account_of(&vendor)?;
    let currency = currency(&input.currency)?;
    let amount = amount(input.amount, input.amount_decimal.as_deref(), &currency)?;
    let marketplace = input
        .payout_id
        .as_deref()
        .map(|id| plain("payout_id", id))
        .transpose()?;
    let key = match (input.idempotency_key.as_deref(), marketplace) {
        (Some(key), _) => plain("idempotency_key", key)?.to_owned(),
        (None, Some(id)) => format!("bank-payout-{id}"),
        (None, None) => {
            return Err(PluginError::invalid_input(
                "give payout_id or idempotency_key",
            ));
        }
    };
    let mut form = Form::new()
        .field("amount", amount)
        .field("currency", &currency)
        .nested(&["metadata", "vendor_id"], &vendor.id);
    if let Some(id) = marketplace {
        form = form.nested(&["metadata", "payout_id"], id);
    }
    let write = Write {
        idempotency_key: Some(&key),
        account: Some(&account),
    };
    let created = Stripe::from_config()?.post("/v1/payouts", &form, &write)?;
    let id = id_field(&created, "id", "po_")?;
    if let Some(marketplace) = marketplace {
        kv::set(&stripe_payout_link(&id), marketplace.as_bytes(), None)?;
    }
    output(&json!({
        "payout_id": id,
        "account_id": account,
        "status": created.get("status").and_then(Value::as_str).filter(|s| is_plain_id(s)),
        "amount": amount,
        "currency": currency,
        "amount_display": money::to_major_string(amount, &currency),
        "arrival_date": created.get("arrival_date").and_then(Value::as_u64),
    }))
}

/// `balance`: `GET /v1/balance`, as a vendor's account when one is named.
pub fn balance(input: BalanceInput) -> Result<String, PluginError> {
    let account = match input.vendor_id.as_deref() {
        Some(id) => Some(account_of(&vendor(&Medusa::from_config()?, id)?)?),
        None => None,
    };
    let balance = Stripe::from_config()?.get("/v1/balance", account.as_deref())?;
    output(&json!({
        "account_id": account,
        "available": entries(balance.get("available")),
        "pending": entries(balance.get("pending")),
    }))
}

/// A balance list (`[{amount, currency}]`) read defensively: entries
/// without an integer amount and a currency code are left out.
fn entries(list: Option<&Value>) -> Vec<Value> {
    let items = list
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| {
            let amount = item.get("amount").and_then(Value::as_i64)?;
            let code = item.get("currency").and_then(Value::as_str)?;
            let code = currency(code).ok()?;
            let display = money::to_major_string(amount, &code);
            Some(json!({"amount": amount, "currency": code, "amount_display": display}))
        })
        .take(MAX_BALANCE_ENTRIES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{field, medusa_host, vendor as medusa_vendor};
    use switchyard_plugin_sdk::http::Response;

    #[test]
    fn pays_out_as_the_connected_account_and_links_the_payout() {
        let (host, world) = medusa_host(
            vec![medusa_vendor("ven_1", Some("acct_1"), "complete")],
            vec![],
        );
        world.on_stripe(|_| Response::json_value(200, &json!({"id": "po_1", "status": "pending"})));
        let input: PayoutInput = serde_json::from_value(json!({"vendor_id": "ven_1",
            "amount": 5000, "currency": "JPY", "payout_id": "payout_1"}))
        .unwrap();
        let answer: Value = serde_json::from_str(&payout(input).unwrap()).unwrap();
        assert_eq!(answer["amount_display"], "5000");
        let sent = host
            .requests()
            .into_iter()
            .find(|r| r.url().ends_with("/v1/payouts"))
            .unwrap();
        assert_eq!(sent.header_value("Stripe-Account"), Some("acct_1"));
        assert_eq!(
            sent.header_value("Idempotency-Key"),
            Some("bank-payout-payout_1")
        );
        assert_eq!(field(&sent, "amount").as_deref(), Some("5000"));
        assert_eq!(field(&sent, "currency").as_deref(), Some("jpy"));
        assert_eq!(
            host.kv_value("stripe-payout/po_1").as_deref(),
            Some(&b"payout_1"[..])
        );
    }

    #[test]
    fn reads_balances_with_each_currencys_precision() {
        let (host, world) = medusa_host(
            vec![medusa_vendor("ven_1", Some("acct_1"), "complete")],
            vec![],
        );
        world.on_stripe(|_| {
            Response::json_value(
                200,
                &json!({"object": "balance",
            "available": [{"amount": 9890, "currency": "usd"}, {"amount": 5000, "currency": "jpy"},
                          {"amount": "lots", "currency": "usd"}],
            "pending": [{"amount": 0, "currency": "usd"}]}),
            )
        });
        let answer = balance(BalanceInput { vendor_id: None }).unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(
            answer["available"],
            json!([
            {"amount": 9890, "currency": "usd", "amount_display": "98.90"},
            {"amount": 5000, "currency": "jpy", "amount_display": "5000"}])
        );
        assert_eq!(host.requests()[0].header_value("Stripe-Account"), None);
        balance(BalanceInput {
            vendor_id: Some("ven_1".into()),
        })
        .unwrap();
        let last = host.requests().pop().unwrap();
        assert_eq!(last.header_value("Stripe-Account"), Some("acct_1"));
    }
}
