//! Test support: a fake of the marketplace's Medusa vendor and payout
//! routes, and a hook for Stripe answers, served through the SDK's
//! in-memory host.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Value, json};
use switchyard_plugin_sdk::http::{Method, Request, Response};
use switchyard_plugin_sdk::testing::TestHost;

use crate::medusa::Payout;

/// Where the fake Medusa lives.
pub const MEDUSA: &str = "https://medusa.test";
/// Where the fake Stripe lives.
pub const STRIPE: &str = "https://stripe.test";

/// The vendors the fake holds, shared with the test for inspection.
pub type Vendors = Rc<RefCell<Vec<Value>>>;

/// What answers Stripe requests in a test.
type StripeResponder = Box<dyn FnMut(&Request) -> Response>;

/// The fake upstreams' state, shared with the test.
#[derive(Clone)]
pub struct World {
    /// The vendors.
    pub vendors: Vendors,
    payouts: Rc<RefCell<Vec<Value>>>,
    failing_writes: Rc<RefCell<u32>>,
    stripe: Rc<RefCell<Option<StripeResponder>>>,
    honour_filter: bool,
}

impl World {
    /// A payout as the fake holds it.
    pub fn payout(&self, id: &str) -> Payout {
        let all = self.payouts.borrow();
        let found = all.iter().find(|p| p["id"] == id).cloned();
        serde_json::from_value(found.unwrap_or(Value::Null)).unwrap()
    }

    /// The raw payout, with every field Medusa keeps.
    pub fn payout_json(&self, id: &str) -> Value {
        let all = self.payouts.borrow();
        all.iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Makes the next `n` Medusa writes answer 500.
    pub fn fail_writes(&self, n: u32) {
        *self.failing_writes.borrow_mut() = n;
    }

    /// Answers Stripe requests with `responder`.
    pub fn on_stripe(&self, responder: impl FnMut(&Request) -> Response + 'static) {
        *self.stripe.borrow_mut() = Some(Box::new(responder));
    }
}

/// A fresh host configured for the plugin, with a fake Medusa holding
/// `vendors`. With `honour_filter` false the fake ignores the
/// `stripe_account_id` filter, as a backend without it would.
pub fn setup(vendors: Vec<Value>, honour_filter: bool) -> (TestHost, Vendors) {
    let (host, world) = world(vendors, Vec::new(), honour_filter);
    (host, world.vendors)
}

/// A fresh host with a fake Medusa holding `vendors` and `payouts`.
pub fn medusa_host(vendors: Vec<Value>, payouts: Vec<Value>) -> (TestHost, World) {
    world(vendors, payouts, true)
}

fn world(vendors: Vec<Value>, payouts: Vec<Value>, honour_filter: bool) -> (TestHost, World) {
    let host = TestHost::install();
    host.config("medusa_url", &format!("{MEDUSA}/"))
        .config("stripe_api_url", STRIPE)
        .config("stripe_connect_url", STRIPE)
        .config("stripe_client_id", "ca_test");
    host.secret("medusa_api_key", b"sk_test")
        .secret("stripe_secret_key", b"sk_stripe")
        .secret("stripe_webhook_secret", b"whsec_p");
    let world = World {
        vendors: Rc::new(RefCell::new(vendors)),
        payouts: Rc::new(RefCell::new(payouts)),
        failing_writes: Rc::default(),
        stripe: Rc::default(),
        honour_filter,
    };
    let shared = world.clone();
    host.on_http(move |request| Ok(route(&shared, request)));
    (host, world)
}

fn route(world: &World, request: &Request) -> Response {
    let url = request.url();
    if url.starts_with(STRIPE) {
        let mut responder = world.stripe.borrow_mut();
        return match responder.as_mut() {
            Some(answer) => answer(request),
            None => not_found(),
        };
    }
    let rest = url.strip_prefix(MEDUSA).unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if request.method() == Method::Post && take_failure(world) {
        return Response::json_value(500, &json!({"type": "unknown_error", "message": "down"}));
    }
    medusa_route(world, request, path, query)
}

fn medusa_route(world: &World, request: &Request, path: &str, query: &str) -> Response {
    let trim = |p: &str| p.trim_start_matches('/').to_owned();
    match (request.method(), path) {
        (Method::Get, "/admin/vendors") => list_vendors(world, query),
        (Method::Get, "/admin/payouts") => list_payouts(world, query),
        (method, p) if p.starts_with("/admin/vendors/") => {
            let id = trim(&p["/admin/vendors".len()..]);
            entity(&world.vendors, "vendor", &id, method, request)
        }
        (method, p) if p.starts_with("/admin/payouts/") => {
            let id = trim(&p["/admin/payouts".len()..]);
            entity(&world.payouts, "payout", &id, method, request)
        }
        _ => not_found(),
    }
}

fn take_failure(world: &World) -> bool {
    let mut left = world.failing_writes.borrow_mut();
    if *left == 0 {
        return false;
    }
    *left -= 1;
    true
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

fn list_vendors(world: &World, query: &str) -> Response {
    let account = param(query, "stripe_account_id");
    let matches = |v: &&Value| !world.honour_filter || v["stripe_account_id"].as_str() == account;
    let found: Vec<Value> = world
        .vendors
        .borrow()
        .iter()
        .filter(matches)
        .cloned()
        .collect();
    let count = found.len();
    Response::json_value(
        200,
        &json!({"vendors": found, "count": count, "offset": 0, "limit": 10}),
    )
}

/// Pages like Medusa: `limit` and `offset`, with the total in `count`.
fn list_payouts(world: &World, query: &str) -> Response {
    let status = param(query, "status");
    let vendor = param(query, "vendor_id");
    let number = |name: &str, default: usize| {
        param(query, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (limit, offset) = (number("limit", 50), number("offset", 0));
    let matching: Vec<Value> = world
        .payouts
        .borrow()
        .iter()
        .filter(|p| status.is_none_or(|s| p["status"] == s))
        .filter(|p| vendor.is_none_or(|v| p["vendor_id"] == v))
        .cloned()
        .collect();
    let count = matching.len();
    let page: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    Response::json_value(
        200,
        &json!({"payouts": page, "count": count, "offset": offset, "limit": limit}),
    )
}

fn entity(
    store: &Rc<RefCell<Vec<Value>>>,
    name: &str,
    id: &str,
    method: Method,
    request: &Request,
) -> Response {
    let mut all = store.borrow_mut();
    let Some(item) = all.iter_mut().find(|v| v["id"] == id) else {
        return not_found();
    };
    if method == Method::Post {
        let body = request.body_bytes().unwrap_or_default();
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        for (key, value) in body.as_object().into_iter().flatten() {
            item[key] = value.clone();
        }
    }
    Response::json_value(200, &json!({ name: item.clone() }))
}

fn not_found() -> Response {
    Response::json_value(
        404,
        &json!({"type": "not_found", "message": "no such thing"}),
    )
}

/// A vendor as Medusa's marketplace extension returns it.
pub fn vendor(id: &str, account: Option<&str>, status: &str) -> Value {
    json!({"id": id, "name": "Vendor", "stripe_account_id": account,
           "onboarding_status": status, "commission_rate_bps": 1000})
}

/// A pending payout of `amount` minor units.
pub fn payout(id: &str, vendor_id: &str, amount: i64, currency: &str) -> Value {
    json!({"id": id, "vendor_id": vendor_id, "amount": amount, "currency": currency,
           "status": "pending", "transfer_group": null, "stripe_transfer_id": null,
           "stripe_payout_id": null})
}

/// The `POST` requests sent so far.
pub fn posts(host: &TestHost) -> Vec<Request> {
    host.requests()
        .into_iter()
        .filter(|r| r.method() == Method::Post)
        .collect()
}

/// The form fields of a request's body, decoded enough for tests.
pub fn form(request: &Request) -> Vec<(String, String)> {
    let body = String::from_utf8_lossy(request.body_bytes().unwrap_or_default()).into_owned();
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%20", " ")))
        .collect()
}

/// The value of one form field.
pub fn field(request: &Request, name: &str) -> Option<String> {
    form(request)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
