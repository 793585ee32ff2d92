//! Transfers to vendors (UPSTREAMS.md §1.5): the platform-fee arithmetic,
//! the `POST /v1/transfers` both the `transfer` action and the payout job
//! make, and recording a transfer against its marketplace payout.
//!
//! Transfers have no fee parameter: with separate charges and transfers the
//! platform keeps its fee by transferring less (gross minus fee).

use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_plugin_sdk::http::Form;
use switchyard_plugin_sdk::{PluginError, clock, kv, metrics, money};

use crate::actions::{account_of, amount, currency, output, plain, vendor};
use crate::medusa::{Medusa, Payout, PayoutUpdate};
use crate::payout_events::transfer_link;
use crate::payout_state::{Position, Status, record_key};
use crate::settle::{Observation, read_record, settle};
use crate::stripe::{Stripe, StripeError, Write, id_field};

/// Basis points in a whole.
const WHOLE_BPS: i64 = 10_000;
/// Stripe's limit on an idempotency key.
const MAX_KEY_LEN: usize = 255;

/// A gross amount split into the platform's fee and the vendor's share,
/// in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// What the sale brought in.
    pub gross: i64,
    /// What the platform keeps.
    pub fee: i64,
    /// What is transferred: gross minus fee.
    pub net: i64,
}

/// The commission on `gross` at `bps` basis points, rounded half up to the
/// minor unit (as the marketplace computes vendor balances).
pub fn commission(gross: i64, bps: u32) -> Option<i64> {
    let scaled = gross
        .checked_mul(i64::from(bps))?
        .checked_add(WHOLE_BPS / 2)?;
    Some(scaled / WHOLE_BPS)
}

/// Splits `gross`: the fee as given, else the vendor's commission (none
/// known counts as no fee). The vendor must be left something.
pub fn split(gross: i64, fee: Option<i64>, bps: Option<u32>) -> Result<Split, String> {
    if gross <= 0 {
        return Err("the amount must be positive".to_owned());
    }
    if bps.is_some_and(|b| i64::from(b) > WHOLE_BPS) {
        return Err("the vendor's commission rate is over 100%".to_owned());
    }
    let fee = match fee {
        Some(fee) => fee,
        None => commission(gross, bps.unwrap_or(0)).ok_or("the amount is too large")?,
    };
    if fee < 0 || fee >= gross {
        return Err("the fee must be at least 0 and less than the amount".to_owned());
    }
    Ok(Split {
        gross,
        fee,
        net: gross - fee,
    })
}

/// One transfer to make.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO code.
    pub currency: &'a str,
    /// The vendor's `acct_…`.
    pub destination: &'a str,
    /// Groups the transfer with its payout.
    pub transfer_group: Option<&'a str>,
    /// The charge the money comes from, when paying from one.
    pub source_transaction: Option<&'a str>,
    /// `metadata[…]` pairs.
    pub metadata: Vec<(&'a str, String)>,
    /// Makes a repeat of this transfer a replay.
    pub idempotency_key: &'a str,
}

/// `POST /v1/transfers`.
pub fn create(stripe: &Stripe, spec: &Spec<'_>) -> Result<Value, StripeError> {
    let mut form = Form::new()
        .field("amount", spec.amount)
        .field("currency", spec.currency)
        .field("destination", spec.destination);
    let optional = [
        ("transfer_group", spec.transfer_group),
        ("source_transaction", spec.source_transaction),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            form = form.field(name, value);
        }
    }
    for (key, value) in &spec.metadata {
        form = form.nested(&["metadata", key], value);
    }
    let write = Write {
        idempotency_key: Some(spec.idempotency_key),
        account: None,
    };
    let transfer = stripe.post("/v1/transfers", &form, &write)?;
    let amount = u64::try_from(spec.amount).unwrap_or_default();
    metrics::counter("stripe_transfers_total", 1, &[]);
    metrics::counter(
        "stripe_transferred_minor_units_total",
        amount,
        &[("currency", spec.currency)],
    );
    Ok(transfer)
}

/// Records `transfer` as paying `payout`: the kv link for later events,
/// then the payout's state (kv first, Medusa after; see `settle`).
pub fn record(medusa: &Medusa, payout: &Payout, transfer: &Value) -> Result<String, PluginError> {
    let id = id_field(transfer, "id", "tr_")?;
    kv::set(&transfer_link(&id), payout.id.as_bytes(), None)?;
    let created = transfer.get("created").and_then(Value::as_u64);
    let observation = Observation {
        position: Position {
            object_id: id.clone(),
            object_created: created.unwrap_or_else(clock::now_secs),
            status: Status::Transferred,
        },
        update: PayoutUpdate {
            status: Status::Transferred.as_str().to_owned(),
            stripe_transfer_id: Some(id.clone()),
            ..PayoutUpdate::default()
        },
        event_id: None,
    };
    settle(medusa, payout, &observation)?;
    Ok(id)
}

/// The transfer already recorded for a payout, if any.
pub fn recorded_transfer(payout_id: &str) -> Result<Option<String>, PluginError> {
    Ok(read_record(&record_key(payout_id))?.and_then(|r| r.transfer_id))
}

/// Input of the `transfer` action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    vendor_id: String,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    amount_decimal: Option<String>,
    currency: String,
    /// The platform's fee in minor units; absent, the vendor's commission.
    #[serde(default)]
    fee: Option<i64>,
    /// The marketplace payout this transfer pays.
    #[serde(default)]
    payout_id: Option<String>,
    #[serde(default)]
    transfer_group: Option<String>,
    #[serde(default)]
    source_transaction: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// The `transfer` action: checks everything, then transfers (or answers
/// the transfer already made for the payout).
pub fn action(input: Input) -> Result<String, PluginError> {
    let medusa = Medusa::from_config()?;
    let vendor = vendor(&medusa, &input.vendor_id)?;
    let payout = payout_for(&medusa, &input, &vendor.id)?;
    let existing = payout
        .as_ref()
        .map(|p| recorded_transfer(&p.id))
        .transpose()?;
    if let Some(id) = existing.flatten() {
        return output(&json!({"transfer_id": id, "replayed": true}));
    }
    let plan = Plan::of(&input, &vendor)?;
    let spec = plan.spec(&vendor.id, payout.as_ref());
    let transfer = create(&Stripe::from_config()?, &spec)?;
    let id = match &payout {
        Some(payout) => record(&medusa, payout, &transfer)?,
        None => id_field(&transfer, "id", "tr_")?,
    };
    output(&plan.answer(&id))
}

/// A checked `transfer` request.
struct Plan {
    account: String,
    currency: String,
    split: Split,
    group: Option<String>,
    key: String,
    source: Option<String>,
}

impl Plan {
    fn of(input: &Input, vendor: &crate::medusa::Vendor) -> Result<Self, PluginError> {
        let currency = currency(&input.currency)?;
        let gross = amount(input.amount, input.amount_decimal.as_deref(), &currency)?;
        let split = split(gross, input.fee, vendor.commission_rate_bps)
            .map_err(PluginError::invalid_input)?;
        let group = input
            .transfer_group
            .as_deref()
            .or(input.payout_id.as_deref());
        let group = group.map(|g| plain("transfer_group", g)).transpose()?;
        Ok(Self {
            account: account_of(vendor)?,
            key: idempotency_key(input, group)?,
            source: source_transaction(input.source_transaction.as_deref())?.map(str::to_owned),
            group: group.map(str::to_owned),
            currency,
            split,
        })
    }

    fn spec(&self, vendor_id: &str, payout: Option<&Payout>) -> Spec<'_> {
        let mut metadata = vec![
            ("vendor_id", vendor_id.to_owned()),
            ("platform_fee", self.split.fee.to_string()),
        ];
        if let Some(payout) = payout {
            metadata.push(("payout_id", payout.id.clone()));
        }
        Spec {
            amount: self.split.net,
            currency: &self.currency,
            destination: &self.account,
            transfer_group: self.group.as_deref(),
            source_transaction: self.source.as_deref(),
            metadata,
            idempotency_key: &self.key,
        }
    }

    fn answer(&self, id: &str) -> Value {
        let (split, currency) = (self.split, self.currency.as_str());
        json!({
            "transfer_id": id,
            "destination": self.account,
            "currency": currency,
            "gross": split.gross,
            "fee": split.fee,
            "amount": split.net,
            "amount_display": money::to_major_string(split.net, currency),
            "transfer_group": self.group,
        })
    }
}

/// The marketplace payout named in the input: it must exist, belong to
/// the vendor and still be pending.
fn payout_for(
    medusa: &Medusa,
    input: &Input,
    vendor_id: &str,
) -> Result<Option<Payout>, PluginError> {
    let Some(id) = input.payout_id.as_deref() else {
        return Ok(None);
    };
    let payout = medusa.payout(plain("payout_id", id)?)?;
    let payout = payout.ok_or_else(|| PluginError::invalid_input(format!("no payout {id}")))?;
    if payout.vendor_id != vendor_id {
        return Err(PluginError::invalid_input(format!(
            "payout {id} is not the vendor's"
        )));
    }
    if payout.status != "pending" && recorded_transfer(id)?.is_none() {
        return Err(PluginError::invalid_input(format!(
            "payout {id} is {}",
            payout.status
        )));
    }
    Ok(Some(payout))
}

/// The key given, or one derived from the payout or group: a transfer the
/// caller cannot name again could not be made safely twice.
fn idempotency_key(input: &Input, group: Option<&str>) -> Result<String, PluginError> {
    if let Some(key) = input.idempotency_key.as_deref() {
        let usable =
            !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.chars().any(char::is_control);
        return usable.then(|| key.to_owned()).ok_or_else(|| {
            PluginError::invalid_input(
                "idempotency_key is empty, too long or has control characters",
            )
        });
    }
    let Some(group) = group else {
        return Err(PluginError::invalid_input(
            "give payout_id, transfer_group or idempotency_key",
        ));
    };
    Ok(format!("transfer-{group}"))
}

fn source_transaction(source: Option<&str>) -> Result<Option<&str>, PluginError> {
    let Some(source) = source else {
        return Ok(None);
    };
    let charge = source.starts_with("ch_") || source.starts_with("py_");
    if charge && plain("source_transaction", source).is_ok() {
        Ok(Some(source))
    } else {
        Err(PluginError::invalid_input(
            "source_transaction is not a ch_ or py_ id",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{World, field, medusa_host, payout, vendor as medusa_vendor};
    use switchyard_plugin_sdk::http::Response;
    use switchyard_plugin_sdk::testing::TestHost;

    #[test]
    fn the_fee_is_what_the_platform_keeps() {
        assert_eq!(
            split(10_000, None, Some(1000)),
            Ok(Split {
                gross: 10_000,
                fee: 1000,
                net: 9000
            })
        );
        assert_eq!(
            split(10_989, None, Some(1000)),
            Ok(Split {
                gross: 10_989,
                fee: 1099,
                net: 9890
            })
        );
        assert_eq!(
            split(10_000, Some(250), Some(1000)),
            Ok(Split {
                gross: 10_000,
                fee: 250,
                net: 9750
            })
        );
        assert_eq!(
            split(10_000, Some(0), Some(1000)).map(|s| s.net),
            Ok(10_000)
        );
        assert_eq!(split(5000, None, None).map(|s| s.fee), Ok(0));
    }

    #[test]
    fn commission_rounds_half_up() {
        assert_eq!(commission(5, 1000), Some(1));
        assert_eq!(commission(4, 1000), Some(0));
        assert_eq!(commission(i64::MAX, 2), None);
    }

    #[test]
    fn refuses_splits_that_leave_the_vendor_nothing() {
        assert!(split(0, None, None).is_err());
        assert!(split(100, Some(100), None).is_err());
        assert!(split(100, Some(-1), None).is_err());
        assert!(split(100, None, Some(10_000)).is_err());
        assert!(split(100, None, Some(10_001)).is_err());
    }

    fn transferring_world() -> (TestHost, World) {
        let vendors = vec![medusa_vendor("ven_1", Some("acct_1"), "complete")];
        let (host, world) = medusa_host(vendors, vec![payout("payout_1", "ven_1", 9000, "usd")]);
        world.on_stripe(|_| Response::json_value(200, &json!({"id": "tr_1", "created": 5})));
        (host, world)
    }

    fn input(value: Value) -> Input {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn transfers_gross_minus_the_vendors_commission_and_records_the_payout() {
        let (host, world) = transferring_world();
        let answer = action(input(
            json!({"vendor_id": "ven_1", "amount_decimal": "100.00",
            "currency": "USD", "payout_id": "payout_1", "source_transaction": "ch_1"}),
        ))
        .unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(
            (answer["amount"].clone(), answer["fee"].clone()),
            (json!(9000), json!(1000))
        );
        assert_eq!(answer["amount_display"], "90.00");
        let sent = host
            .requests()
            .into_iter()
            .find(|r| r.url().ends_with("/v1/transfers"))
            .unwrap();
        assert_eq!(field(&sent, "amount").as_deref(), Some("9000"));
        assert_eq!(field(&sent, "currency").as_deref(), Some("usd"));
        assert_eq!(field(&sent, "destination").as_deref(), Some("acct_1"));
        assert_eq!(field(&sent, "transfer_group").as_deref(), Some("payout_1"));
        assert_eq!(field(&sent, "source_transaction").as_deref(), Some("ch_1"));
        assert_eq!(
            field(&sent, "metadata[payout_id]").as_deref(),
            Some("payout_1")
        );
        assert_eq!(
            sent.header_value("Idempotency-Key"),
            Some("transfer-payout_1")
        );
        assert_eq!(world.payout("payout_1").status, "transferred");

        let again: Value = serde_json::from_str(
            &action(input(json!({"vendor_id": "ven_1",
            "amount": 10000, "currency": "usd", "payout_id": "payout_1"})))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(again, json!({"transfer_id": "tr_1", "replayed": true}));
    }

    #[test]
    fn transfers_without_a_fee_in_a_zero_decimal_currency() {
        let (host, _world) = transferring_world();
        action(input(
            json!({"vendor_id": "ven_1", "amount_decimal": "5000", "currency": "jpy",
            "fee": 0, "transfer_group": "G1"}),
        ))
        .unwrap();
        let sent = host
            .requests()
            .into_iter()
            .find(|r| r.url().ends_with("/v1/transfers"))
            .unwrap();
        assert_eq!(field(&sent, "amount").as_deref(), Some("5000"));
        assert_eq!(sent.header_value("Idempotency-Key"), Some("transfer-G1"));
    }

    #[test]
    fn refuses_transfers_it_could_not_repeat_safely() {
        let (_host, _world) = transferring_world();
        let outcome = action(input(
            json!({"vendor_id": "ven_1", "amount": 100, "currency": "usd"}),
        ));
        assert!(matches!(outcome, Err(PluginError::InvalidInput(_))));
        let outcome = action(input(
            json!({"vendor_id": "ven_1", "amount": 100, "currency": "usd",
            "transfer_group": "g", "source_transaction": "tr_1"}),
        ));
        assert!(matches!(outcome, Err(PluginError::InvalidInput(_))));
    }
}
