//! The Medusa simulator's in-memory data and the rules for changing it,
//! kept apart from HTTP so the rules can be tested directly.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::MedusaError;
use super::model::{
    Payout, PayoutCreate, PayoutStatus, PayoutUpdate, ProductUpdate, Tenant, Vendor, VendorUpdate,
    merge_metadata,
};
use crate::clock::Stamps;
use crate::ids;

/// Everything the simulated marketplace holds, in insertion order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub tenants: Vec<Tenant>,
    pub vendors: Vec<Vendor>,
    pub payouts: Vec<Payout>,
    pub products: Vec<Value>,
    pub orders: Vec<Value>,
    /// `Idempotency-Key` of `POST /admin/payouts` → what it created.
    payout_keys: HashMap<String, IssuedKey>,
    stamps: Stamps,
}

/// A payout created under an idempotency key, with the body that made it.
#[derive(Debug)]
struct IssuedKey {
    body: Value,
    payout_id: String,
}

/// The largest payout accepted, in minor units: far above any real payout
/// and far enough below `i64::MAX` that balance sums cannot overflow.
const MAX_PAYOUT_AMOUNT: i64 = 1_000_000_000_000;

/// Reads a JSON body into a request type, answering 400 `invalid_data`
/// on a wrong type, a missing field or an unknown field.
pub(crate) fn parse_body<T: DeserializeOwned>(body: Value) -> Result<T, MedusaError> {
    serde_json::from_value(body)
        .map_err(|error| MedusaError::invalid_data(format!("Invalid request: {error}")))
}

impl Store {
    /// A vendor by id, or 404.
    pub(crate) fn vendor(&self, id: &str) -> Result<&Vendor, MedusaError> {
        let found = self.vendors.iter().find(|vendor| vendor.id == id);
        found.ok_or_else(|| MedusaError::not_found("Vendor", id))
    }

    /// A payout by id, or 404.
    pub(crate) fn payout(&self, id: &str) -> Result<&Payout, MedusaError> {
        let found = self.payouts.iter().find(|payout| payout.id == id);
        found.ok_or_else(|| MedusaError::not_found("Payout", id))
    }

    /// A tenant by id, or 404.
    pub(crate) fn tenant(&self, id: &str) -> Result<&Tenant, MedusaError> {
        let found = self.tenants.iter().find(|tenant| tenant.id == id);
        found.ok_or_else(|| MedusaError::not_found("Tenant", id))
    }

    /// A product or order (by `list`) by id, or 404 naming `entity`.
    pub(crate) fn entity<'a>(
        list: &'a [Value],
        entity: &str,
        id: &str,
    ) -> Result<&'a Value, MedusaError> {
        let found = list.iter().find(|item| item["id"] == id);
        found.ok_or_else(|| MedusaError::not_found(entity, id))
    }

    /// `POST /admin/vendors/{id}`: links or unlinks the Stripe account, moves
    /// the onboarding status and merges metadata; `updated_at` moves on.
    pub(crate) fn update_vendor(
        &mut self,
        id: &str,
        update: VendorUpdate,
    ) -> Result<Vendor, MedusaError> {
        let account = requested_account(update.stripe_account_id)?;
        let stamp = self.stamps.next();
        let vendor = self.vendors.iter_mut().find(|vendor| vendor.id == id);
        let vendor = vendor.ok_or_else(|| MedusaError::not_found("Vendor", id))?;
        if let Some(account) = account {
            vendor.stripe_account_id = account;
        }
        if let Some(status) = update.onboarding_status {
            vendor.onboarding_status = status;
        }
        merge_metadata(&mut vendor.metadata, update.metadata.unwrap_or_default());
        vendor.updated_at = stamp;
        Ok(vendor.clone())
    }

    /// `POST /admin/payouts`: records a pending payout. A repeated
    /// `Idempotency-Key` with the same body returns the payout it made; with
    /// another body it is a 409 conflict.
    pub(crate) fn create_payout(
        &mut self,
        key: Option<&str>,
        body: Value,
    ) -> Result<Payout, MedusaError> {
        if let Some(issued) = key.and_then(|key| self.payout_keys.get(key)) {
            return self.replay_payout(issued, &body);
        }
        let input: PayoutCreate = parse_body(body.clone())?;
        let payout = self.new_payout(input)?;
        if let Some(key) = key {
            let issued = IssuedKey {
                body,
                payout_id: payout.id.clone(),
            };
            self.payout_keys.insert(key.to_owned(), issued);
        }
        self.payouts.push(payout.clone());
        Ok(payout)
    }

    fn replay_payout(&self, issued: &IssuedKey, body: &Value) -> Result<Payout, MedusaError> {
        if issued.body != *body {
            let message = "Idempotency-Key was already used with a different request body";
            return Err(MedusaError::conflict(message));
        }
        self.payout(&issued.payout_id).cloned()
    }

    fn new_payout(&mut self, input: PayoutCreate) -> Result<Payout, MedusaError> {
        if !(1..=MAX_PAYOUT_AMOUNT).contains(&input.amount) {
            let message = format!("Invalid request: amount must be 1 to {MAX_PAYOUT_AMOUNT}");
            return Err(MedusaError::invalid_data(message));
        }
        let currency = currency_code(&input.currency)?;
        self.vendor(&input.vendor_id)?;
        let stamp = self.stamps.next();
        Ok(Payout {
            id: ids::medusa("payout"),
            vendor_id: input.vendor_id,
            amount: input.amount,
            currency,
            order_ids: input.order_ids,
            transfer_group: input.transfer_group,
            metadata: input.metadata,
            created_at: stamp.clone(),
            updated_at: stamp,
            ..Payout::default()
        })
    }

    /// `POST /admin/payouts/{id}`: the host reports what Stripe did.
    /// Fields left out keep their value; metadata is merged.
    pub(crate) fn update_payout(
        &mut self,
        id: &str,
        update: PayoutUpdate,
    ) -> Result<Payout, MedusaError> {
        if update.status == PayoutStatus::Pending {
            let message =
                "Invalid request: status must be one of transferred, paid, failed, reversed";
            return Err(MedusaError::invalid_data(message));
        }
        let stamp = self.stamps.next();
        let payout = self.payouts.iter_mut().find(|payout| payout.id == id);
        let payout = payout.ok_or_else(|| MedusaError::not_found("Payout", id))?;
        payout.status = update.status;
        replace_if_given(&mut payout.stripe_transfer_id, update.stripe_transfer_id);
        replace_if_given(&mut payout.stripe_payout_id, update.stripe_payout_id);
        replace_if_given(&mut payout.failure_code, update.failure_code);
        replace_if_given(&mut payout.failure_message, update.failure_message);
        merge_metadata(&mut payout.metadata, update.metadata.unwrap_or_default());
        payout.updated_at = stamp;
        Ok(payout.clone())
    }

    /// `POST /admin/products/{id}`: checks the body's types, then sets each
    /// field, merging `metadata` and giving new `images` ids.
    pub(crate) fn update_product(&mut self, id: &str, body: Value) -> Result<Value, MedusaError> {
        parse_body::<ProductUpdate>(body.clone())?;
        let Value::Object(fields) = body else {
            return Err(MedusaError::invalid_data(
                "Invalid request: expected an object",
            ));
        };
        let stamp = self.stamps.next();
        let product = self.products.iter_mut().find(|product| product["id"] == id);
        let product = product.ok_or_else(|| MedusaError::not_found("Product", id))?;
        for (key, value) in fields {
            apply_product_field(product, key, value);
        }
        product["updated_at"] = json!(stamp);
        Ok(product.clone())
    }

    /// `GET /admin/vendors/{id}/balance`: what the vendor earned on completed
    /// orders after commission, what is pending or paid out, and the rest.
    pub(crate) fn balance(&self, vendor_id: &str, currency: &str) -> Result<Value, MedusaError> {
        let vendor = self.vendor(vendor_id)?;
        let currency = currency_code(currency)?;
        let earned = self.earned(vendor, &currency);
        let pending = self.payout_total(vendor_id, &currency, &[PayoutStatus::Pending]);
        let paid = [PayoutStatus::Transferred, PayoutStatus::Paid];
        let paid_out = self.payout_total(vendor_id, &currency, &paid);
        let available = earned.saturating_sub(pending).saturating_sub(paid_out);
        Ok(json!({
            "currency": currency,
            "earned": earned,
            "pending": pending,
            "paid_out": paid_out,
            "available": available
        }))
    }

    /// The vendor's share of its completed orders in `currency`.
    fn earned(&self, vendor: &Vendor, currency: &str) -> i64 {
        let completed = self
            .vendor_orders(&vendor.id)
            .filter(|order| order["status"] == "completed" && order["currency_code"] == currency);
        completed
            .map(|order| vendor_share(minor_units(&order["total"], currency), vendor))
            .fold(0, i64::saturating_add)
    }

    /// The sum of the vendor's payouts in `currency` with one of `statuses`.
    fn payout_total(&self, vendor_id: &str, currency: &str, statuses: &[PayoutStatus]) -> i64 {
        let matching = self.payouts.iter().filter(|payout| {
            payout.vendor_id == vendor_id
                && payout.currency == currency
                && statuses.contains(&payout.status)
        });
        matching
            .map(|payout| payout.amount)
            .fold(0, i64::saturating_add)
    }

    /// The vendor's child orders: those whose `metadata.vendor_id` names it.
    pub(crate) fn vendor_orders<'a>(
        &'a self,
        vendor_id: &'a str,
    ) -> impl Iterator<Item = &'a Value> {
        self.orders
            .iter()
            .filter(move |order| order["metadata"]["vendor_id"] == vendor_id)
    }
}

/// Seeding and test hooks: whole records in, defaults filled, same id replaced.
impl Store {
    pub(crate) fn insert_tenant(&mut self, tenant: Value) -> anyhow::Result<Tenant> {
        let mut tenant: Tenant = from_record("tenant", tenant)?;
        fill_default(&mut tenant.id, || ids::medusa("tenant"));
        fill_default(&mut tenant.handle, || tenant.id.clone());
        upsert(&mut self.tenants, tenant.clone(), |item| &item.id);
        Ok(tenant)
    }

    pub(crate) fn insert_vendor(&mut self, vendor: Value) -> anyhow::Result<Vendor> {
        let mut vendor: Vendor = from_record("vendor", vendor)?;
        anyhow::ensure!(
            vendor.commission_rate_bps <= 10_000,
            "commission_rate_bps over 10000"
        );
        fill_default(&mut vendor.id, || ids::medusa("vendor"));
        fill_default(&mut vendor.handle, || vendor.id.clone());
        fill_default(&mut vendor.status, || "active".to_owned());
        fill_default(&mut vendor.payout_schedule, || "manual".to_owned());
        fill_default(&mut vendor.created_at, || self.stamps.next());
        fill_default(&mut vendor.updated_at, || vendor.created_at.clone());
        upsert(&mut self.vendors, vendor.clone(), |item| &item.id);
        Ok(vendor)
    }

    pub(crate) fn insert_payout(&mut self, payout: Value) -> anyhow::Result<Payout> {
        let mut payout: Payout = from_record("payout", payout)?;
        fill_default(&mut payout.id, || ids::medusa("payout"));
        fill_default(&mut payout.currency, || "usd".to_owned());
        fill_default(&mut payout.created_at, || self.stamps.next());
        fill_default(&mut payout.updated_at, || payout.created_at.clone());
        upsert(&mut self.payouts, payout.clone(), |item| &item.id);
        Ok(payout)
    }

    pub(crate) fn insert_product(&mut self, product: Value) -> anyhow::Result<Value> {
        let product = self.complete_record("prod", product)?;
        upsert(&mut self.products, product.clone(), |item| {
            item["id"].as_str().unwrap_or_default()
        });
        Ok(product)
    }

    pub(crate) fn insert_order(&mut self, order: Value) -> anyhow::Result<Value> {
        let order = self.complete_record("order", order)?;
        upsert(&mut self.orders, order.clone(), |item| {
            item["id"].as_str().unwrap_or_default()
        });
        Ok(order)
    }

    /// Gives a free-form record an id, timestamps and a metadata object.
    fn complete_record(&mut self, prefix: &str, record: Value) -> anyhow::Result<Value> {
        let Value::Object(mut fields) = record else {
            anyhow::bail!("a {prefix} record must be a JSON object");
        };
        let stamp = self.stamps.next();
        let id = fields.get("id").and_then(Value::as_str).map(str::to_owned);
        fields.insert(
            "id".into(),
            json!(id.unwrap_or_else(|| ids::medusa(prefix))),
        );
        fields.entry("metadata").or_insert_with(|| json!({}));
        fields.entry("created_at").or_insert_with(|| json!(stamp));
        let created_at = fields["created_at"].clone();
        fields.entry("updated_at").or_insert(created_at);
        Ok(Value::Object(fields))
    }
}

/// The vendor's part of an order total: the total less the commission,
/// which rounds half up to the minor unit.
fn vendor_share(total: i64, vendor: &Vendor) -> i64 {
    let scaled = total.saturating_mul(i64::from(vendor.commission_rate_bps));
    let commission = scaled.saturating_add(5_000) / 10_000;
    total.saturating_sub(commission)
}

/// Converts Medusa's decimal major units to integer minor units with the
/// currency's real precision (none for JPY or KRW, three for KWD…).
pub(crate) fn minor_units(amount: &Value, currency: &str) -> i64 {
    let major = match amount {
        Value::Number(number) => number.as_f64().unwrap_or_default(),
        Value::String(text) => text.parse().unwrap_or_default(),
        _ => 0.0,
    };
    let scale = 10_f64.powi(currency_exponent(currency));
    // `as` saturates on overflow and maps NaN to 0, which is what we want.
    (major * scale).round() as i64
}

fn currency_exponent(currency: &str) -> i32 {
    const ZERO: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "isk", "jpy", "kmf", "krw", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    const THREE: [&str; 7] = ["bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"];
    if ZERO.contains(&currency) {
        0
    } else if THREE.contains(&currency) {
        3
    } else {
        2
    }
}

/// A three-letter currency code, lower-cased.
fn currency_code(text: &str) -> Result<String, MedusaError> {
    if text.len() != 3 || !text.chars().all(|c| c.is_ascii_alphabetic()) {
        let message = format!("Invalid request: `{text}` is not a currency code");
        return Err(MedusaError::invalid_data(message));
    }
    Ok(text.to_ascii_lowercase())
}

/// The account change a vendor update asks for: `Some(None)` unlinks (sent
/// as `null` or `""`), `Some(Some(id))` links a checked `acct_…` id.
fn requested_account(value: Option<Option<String>>) -> Result<Option<Option<String>>, MedusaError> {
    match value.map(|account| account.filter(|id| !id.is_empty())) {
        Some(Some(id)) if !id.starts_with("acct_") || id.len() <= 5 => {
            let message = format!("Invalid request: stripe_account_id `{id}` is not an acct_ id");
            Err(MedusaError::invalid_data(message))
        }
        other => Ok(other),
    }
}

/// Sets one product field from an update body.
fn apply_product_field(product: &mut Value, key: String, value: Value) {
    match key.as_str() {
        "additional_data" => {}
        "metadata" => {
            let mut metadata = product["metadata"].as_object().cloned().unwrap_or_default();
            merge_metadata(
                &mut metadata,
                value.as_object().cloned().unwrap_or_default(),
            );
            product["metadata"] = Value::Object(metadata);
        }
        "images" => product["images"] = with_image_ids(value),
        _ => product[key] = value,
    }
}

/// Product images as stored: each keeps its `url`, gets an id and a rank.
fn with_image_ids(images: Value) -> Value {
    let images = images.as_array().cloned().unwrap_or_default();
    let stored = images.into_iter().enumerate().map(|(rank, image)| {
        let id = image["id"]
            .as_str()
            .map_or_else(|| ids::medusa("img"), str::to_owned);
        json!({"id": id, "url": image["url"], "rank": rank})
    });
    Value::Array(stored.collect())
}

fn replace_if_given(field: &mut Option<String>, value: Option<String>) {
    if value.is_some() {
        *field = value;
    }
}

fn fill_default(field: &mut String, default: impl FnOnce() -> String) {
    if field.is_empty() {
        *field = default();
    }
}

fn from_record<T: DeserializeOwned>(kind: &str, record: Value) -> anyhow::Result<T> {
    serde_json::from_value(record)
        .map_err(|error| anyhow::anyhow!("invalid {kind} record: {error}"))
}

fn upsert<T>(list: &mut Vec<T>, item: T, id: impl Fn(&T) -> &str) {
    match list.iter().position(|existing| id(existing) == id(&item)) {
        Some(index) => list[index] = item,
        None => list.push(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_vendor() -> Store {
        let mut store = Store::default();
        let vendor = json!({"id": "v1", "tenant_id": "t", "commission_rate_bps": 1000});
        store.insert_vendor(vendor).expect("valid vendor");
        store
    }

    fn update(body: Value) -> VendorUpdate {
        parse_body(body).expect("valid update")
    }

    #[test]
    fn vendor_update_merges_metadata_and_moves_updated_at() {
        let mut store = store_with_vendor();
        store
            .update_vendor("v1", update(json!({"metadata": {"a": "1", "b": "2"}})))
            .expect("ok");
        let before = store.vendor("v1").expect("exists").updated_at.clone();
        let body = json!({"metadata": {"a": "", "c": 3}, "onboarding_status": "complete"});
        let vendor = store.update_vendor("v1", update(body)).expect("ok");
        assert_eq!(Value::Object(vendor.metadata), json!({"b": "2", "c": 3}));
        assert_eq!(vendor.onboarding_status.as_str(), "complete");
        assert!(vendor.updated_at > before);
    }

    #[test]
    fn vendor_update_links_and_unlinks_accounts() {
        let mut store = store_with_vendor();
        let linked = store.update_vendor("v1", update(json!({"stripe_account_id": "acct_1"})));
        assert_eq!(
            linked.expect("ok").stripe_account_id.as_deref(),
            Some("acct_1")
        );
        let unlinked = store.update_vendor("v1", update(json!({"stripe_account_id": null})));
        assert_eq!(unlinked.expect("ok").stripe_account_id, None);
        let invalid = store.update_vendor("v1", update(json!({"stripe_account_id": "nope"})));
        assert_eq!(invalid.expect_err("refused").kind(), "invalid_data");
    }

    #[test]
    fn unknown_vendor_is_not_found() {
        let mut store = store_with_vendor();
        let error = store
            .update_vendor("v2", update(json!({})))
            .expect_err("missing");
        assert_eq!(error.kind(), "not_found");
    }

    #[test]
    fn payout_idempotency_replays_same_body_and_refuses_another() {
        let mut store = store_with_vendor();
        let body = json!({"vendor_id": "v1", "amount": 500, "currency": "USD"});
        let first = store
            .create_payout(Some("k"), body.clone())
            .expect("created");
        let again = store.create_payout(Some("k"), body).expect("replayed");
        assert_eq!(first.id, again.id);
        assert_eq!(store.payouts.len(), 1);
        let other = json!({"vendor_id": "v1", "amount": 501, "currency": "usd"});
        let error = store.create_payout(Some("k"), other).expect_err("conflict");
        assert_eq!(error.kind(), "conflict");
    }

    #[test]
    fn payout_creation_validates_its_input() {
        let mut store = store_with_vendor();
        let cases = [
            (
                json!({"vendor_id": "v1", "amount": 0, "currency": "usd"}),
                "invalid_data",
            ),
            (
                json!({"vendor_id": "v1", "amount": 9.5, "currency": "usd"}),
                "invalid_data",
            ),
            (
                json!({"vendor_id": "v1", "amount": 5, "currency": "dollars"}),
                "invalid_data",
            ),
            (
                json!({"vendor_id": "v9", "amount": 5, "currency": "usd"}),
                "not_found",
            ),
        ];
        for (body, kind) in cases {
            let error = store
                .create_payout(None, body.clone())
                .expect_err("refused");
            assert_eq!(error.kind(), kind, "{body}");
        }
    }

    #[test]
    fn balance_counts_completed_orders_after_commission() {
        let mut store = store_with_vendor();
        let order = json!({"status": "completed", "currency_code": "usd", "total": 109.89,
            "metadata": {"vendor_id": "v1"}});
        store.insert_order(order).expect("valid order");
        let payout = json!({"vendor_id": "v1", "amount": 1000, "currency": "usd"});
        store.create_payout(None, payout).expect("created");
        let balance = store.balance("v1", "usd").expect("balance");
        let expected = json!({"currency": "usd", "earned": 9890, "pending": 1000,
            "paid_out": 0, "available": 8890});
        assert_eq!(balance, expected);
    }

    #[test]
    fn huge_amounts_neither_overflow_nor_pass() {
        let mut store = store_with_vendor();
        let order = json!({"status": "completed", "currency_code": "usd", "total": 1e300,
            "metadata": {"vendor_id": "v1"}});
        store.insert_order(order.clone()).expect("valid order");
        store
            .insert_order(
                json!({"id": "o2", "status": "completed", "currency_code": "usd",
            "total": 1e300, "metadata": {"vendor_id": "v1"}}),
            )
            .expect("valid order");
        let payout = json!({"vendor_id": "v1", "amount": i64::MAX, "currency": "usd"});
        assert!(store.create_payout(None, payout.clone()).is_err());
        store.insert_payout(payout).expect("hooks take any amount");
        store
            .insert_payout(json!({"vendor_id": "v1", "amount": i64::MAX}))
            .expect("again");
        assert!(store.balance("v1", "usd").is_ok());
    }

    #[test]
    fn minor_units_follow_currency_precision() {
        assert_eq!(minor_units(&json!(109.89), "usd"), 10989);
        assert_eq!(minor_units(&json!(1500), "jpy"), 1500);
        assert_eq!(minor_units(&json!("1.234"), "kwd"), 1234);
        assert_eq!(minor_units(&json!(null), "usd"), 0);
    }

    #[test]
    fn product_update_merges_metadata_and_checks_types() {
        let mut store = Store::default();
        let product = json!({"id": "p1", "title": "Mug", "metadata": {"seo": "x", "keep": 1}});
        store.insert_product(product).expect("valid product");
        let body = json!({"metadata": {"seo": null, "new": "y"}, "images": [{"url": "u"}]});
        let updated = store.update_product("p1", body).expect("updated");
        assert_eq!(updated["metadata"], json!({"keep": 1, "new": "y"}));
        assert_eq!(updated["images"][0]["url"], "u");
        let error = store
            .update_product("p1", json!({"title": 5}))
            .expect_err("refused");
        assert_eq!(error.kind(), "invalid_data");
        let error = store
            .update_product("p1", json!({"colour": "red"}))
            .expect_err("unknown");
        assert_eq!(error.kind(), "invalid_data");
    }
}
