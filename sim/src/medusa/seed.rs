//! The demo marketplace: tenant `demo`, one vendor linked to the Stripe
//! account of the shared Connect fixtures and one without Stripe, two
//! products, a completed order and the pending payout it earned.
//!
//! The numbers agree with each other: the order totals $109.89, the vendor's
//! commission is 10% (1099 cents, rounded half up), so the payout is 9890.

use serde_json::json;

use super::store::Store;

/// The Stripe account of `fixtures/stripe/connect-events.synthesized.json`.
pub const DEMO_STRIPE_ACCOUNT: &str = "acct_1PgafTB7WZ01zgkW";

/// Fills `store` with the demo marketplace.
pub(crate) fn demo(store: &mut Store) -> anyhow::Result<()> {
    store.insert_tenant(json!({"id": "demo", "handle": "demo", "name": "Demo Marketplace"}))?;
    vendors(store)?;
    products(store)?;
    order(store)?;
    store.insert_payout(json!({
        "id": "payout_01DEMO",
        "vendor_id": "vendor_01DEMO",
        "amount": 9890,
        "currency": "usd",
        "status": "pending",
        "order_ids": ["order_01DEMO"],
        "transfer_group": "payout_01DEMO"
    }))?;
    Ok(())
}

fn vendors(store: &mut Store) -> anyhow::Result<()> {
    store.insert_vendor(json!({
        "id": "vendor_01DEMO",
        "tenant_id": "demo",
        "store_id": "store_01DEMO",
        "handle": "northwind-goods",
        "name": "Northwind Goods",
        "email": "owner@northwind.example",
        "status": "active",
        "stripe_account_id": DEMO_STRIPE_ACCOUNT,
        "onboarding_status": "pending",
        "payout_schedule": "manual",
        "commission_rate_bps": 1000
    }))?;
    store.insert_vendor(json!({
        "id": "vendor_01NOSTRIPE",
        "tenant_id": "demo",
        "store_id": "store_01DEMO",
        "handle": "harbour-ceramics",
        "name": "Harbour Ceramics",
        "email": "hello@harbour.example",
        "status": "active",
        "onboarding_status": "pending",
        "payout_schedule": "manual",
        "commission_rate_bps": 1500
    }))?;
    Ok(())
}

fn products(store: &mut Store) -> anyhow::Result<()> {
    store.insert_product(product(
        "prod_01DEMOMUG",
        "Enamel camp mug",
        "enamel-camp-mug",
        39.95,
    ))?;
    store.insert_product(product(
        "prod_01DEMOTEE",
        "Organic cotton tee",
        "organic-tee",
        34.97,
    ))?;
    Ok(())
}

fn product(id: &str, title: &str, handle: &str, price: f64) -> serde_json::Value {
    json!({
        "id": id,
        "title": title,
        "handle": handle,
        "status": "published",
        "subtitle": null,
        "description": format!("{title}, sold by Northwind Goods."),
        "thumbnail": null,
        "images": [],
        "discountable": true,
        "variants": [{
            "id": id.replace("prod_", "variant_"),
            "title": "Default",
            "sku": handle.to_ascii_uppercase(),
            "prices": [{"amount": price, "currency_code": "usd"}]
        }],
        "metadata": {"vendor_id": "vendor_01DEMO"}
    })
}

fn order(store: &mut Store) -> anyhow::Result<()> {
    store.insert_order(json!({
        "id": "order_01DEMO",
        "display_id": 1,
        "status": "completed",
        "email": "buyer@example.com",
        "currency_code": "usd",
        "payment_status": "captured",
        "fulfillment_status": "delivered",
        "items": [
            {"id": "ordli_01DEMOMUG", "title": "Enamel camp mug", "product_id": "prod_01DEMOMUG",
             "variant_id": "variant_01DEMOMUG", "quantity": 1, "unit_price": 39.95, "total": 39.95},
            {"id": "ordli_01DEMOTEE", "title": "Organic cotton tee", "product_id": "prod_01DEMOTEE",
             "variant_id": "variant_01DEMOTEE", "quantity": 2, "unit_price": 34.97, "total": 69.94}
        ],
        "subtotal": 109.89,
        "shipping_total": 0,
        "tax_total": 0,
        "total": 109.89,
        "shipping_address": {
            "first_name": "Ada", "last_name": "Buyer", "address_1": "1 Harbour Road",
            "city": "Portsmouth", "postal_code": "PO1 2AB", "country_code": "gb"
        },
        "metadata": {"vendor_id": "vendor_01DEMO", "tenant_id": "demo"}
    }))?;
    Ok(())
}
