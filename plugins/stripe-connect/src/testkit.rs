//! Test support: a fake of the marketplace's Medusa vendor routes, served
//! through the SDK's in-memory host.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Value, json};
use switchyard_plugin_sdk::http::{Method, Request, Response};
use switchyard_plugin_sdk::testing::TestHost;

/// Where the fake Medusa lives.
pub const MEDUSA: &str = "https://medusa.test";

/// The vendors the fake holds, shared with the test for inspection.
pub type Vendors = Rc<RefCell<Vec<Value>>>;

/// A fresh host configured for the plugin, with a fake Medusa holding
/// `vendors`. With `honour_filter` false the fake ignores the
/// `stripe_account_id` filter, as a backend without it would.
pub fn setup(vendors: Vec<Value>, honour_filter: bool) -> (TestHost, Vendors) {
    let host = TestHost::install();
    host.config("medusa_url", &format!("{MEDUSA}/"));
    host.secret("medusa_api_key", b"sk_test")
        .secret("stripe_webhook_secret", b"whsec_p");
    let store: Vendors = Rc::new(RefCell::new(vendors));
    let shared = Rc::clone(&store);
    host.on_http(move |request| Ok(route(&shared, request, honour_filter)));
    (host, store)
}

fn route(vendors: &Vendors, request: &Request, honour_filter: bool) -> Response {
    let url = request.url();
    let rest = url.strip_prefix(MEDUSA).unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    match (request.method(), path.strip_prefix("/admin/vendors")) {
        (Method::Get, Some("")) => list(vendors, query, honour_filter),
        (Method::Get, Some(id)) => found(find(vendors, id.trim_start_matches('/'))),
        (Method::Post, Some(id)) => update(vendors, id.trim_start_matches('/'), request),
        _ => Response::json_value(404, &json!({"type": "not_found", "message": "no route"})),
    }
}

fn list(vendors: &Vendors, query: &str, honour_filter: bool) -> Response {
    let account = query
        .split('&')
        .find_map(|p| p.strip_prefix("stripe_account_id="));
    let matches = |v: &&Value| !honour_filter || v["stripe_account_id"].as_str() == account;
    let found: Vec<Value> = vendors.borrow().iter().filter(matches).cloned().collect();
    let count = found.len();
    Response::json_value(
        200,
        &json!({"vendors": found, "count": count, "offset": 0, "limit": 10}),
    )
}

fn find(vendors: &Vendors, id: &str) -> Option<Value> {
    vendors.borrow().iter().find(|v| v["id"] == id).cloned()
}

fn found(vendor: Option<Value>) -> Response {
    match vendor {
        Some(vendor) => Response::json_value(200, &json!({ "vendor": vendor })),
        None => Response::json_value(404, &json!({"type": "not_found", "message": "no vendor"})),
    }
}

fn update(vendors: &Vendors, id: &str, request: &Request) -> Response {
    let body: Value =
        serde_json::from_slice(request.body_bytes().unwrap_or_default()).unwrap_or(Value::Null);
    let mut all = vendors.borrow_mut();
    let Some(vendor) = all.iter_mut().find(|v| v["id"] == id) else {
        return found(None);
    };
    for (key, value) in body.as_object().into_iter().flatten() {
        vendor[key] = value.clone();
    }
    Response::json_value(200, &json!({ "vendor": vendor.clone() }))
}

/// A vendor as Medusa's marketplace extension returns it.
pub fn vendor(id: &str, account: Option<&str>, status: &str) -> Value {
    json!({"id": id, "name": "Vendor", "stripe_account_id": account,
           "onboarding_status": status, "commission_rate_bps": 1000})
}

/// The `POST` requests sent so far.
pub fn posts(host: &TestHost) -> Vec<Request> {
    host.requests()
        .into_iter()
        .filter(|r| r.method() == Method::Post)
        .collect()
}
