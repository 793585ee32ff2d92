//! HTTP routes of the Medusa simulator: secret-key auth, the admin list
//! and detail routes, and the marketplace write-backs.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::MedusaError;
use super::list::ListQuery;
use super::model::{PayoutStatus, Vendor};
use super::store::{Store, parse_body};
use crate::lock;
use crate::recorder::{Recorder, record};

/// Medusa's default page size for products, customers and most lists.
const DEFAULT_LIMIT: usize = 50;
/// Medusa's default page size for orders.
const ORDERS_LIMIT: usize = 15;

/// State behind every route.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub api_key: String,
    /// Failures a test asked for, served before the real routes.
    pub faults: Mutex<Vec<Fault>>,
}

/// A failure to serve instead of the real answer, as a crashed or
/// overloaded backend would: `remaining` more requests of `method` on
/// `path` get a 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub method: String,
    pub path: String,
    pub remaining: u32,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of debug output.
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

type AppState = Arc<Shared>;
type Answer = Result<Json<Value>, MedusaError>;

/// The whole simulator: `/health` open, `/admin/*` behind the secret key,
/// every request recorded.
pub(crate) fn router(shared: AppState, recorder: Recorder) -> Router {
    let admin = admin_routes()
        .fallback(unknown_route)
        .layer(from_fn_with_state(shared.clone(), inject_faults))
        .layer(from_fn_with_state(shared.clone(), authenticate))
        .with_state(shared);
    Router::new()
        .route("/health", get(|| async { "OK" }))
        .merge(admin)
        .layer(from_fn_with_state(recorder, record))
}

fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/tenants", get(list_tenants))
        .route("/admin/tenants/{id}", get(get_tenant))
        .route("/admin/vendors", get(list_vendors))
        .route("/admin/vendors/{id}", get(get_vendor).post(update_vendor))
        .route("/admin/vendors/{id}/balance", get(vendor_balance))
        .route("/admin/vendors/{id}/orders", get(vendor_orders))
        .route("/admin/payouts", get(list_payouts).post(create_payout))
        .route("/admin/payouts/{id}", get(get_payout).post(update_payout))
        .route("/admin/products", get(list_products))
        .route(
            "/admin/products/{id}",
            get(get_product).post(update_product),
        )
        .route("/admin/orders", get(list_orders))
        .route("/admin/orders/{id}", get(get_order))
}

/// Lets a request through when it carries the configured secret key;
/// anything else gets Medusa's plain-text `Unauthorized`.
async fn authenticate(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    if secret_key(request.headers()).as_deref() == Some(shared.api_key.as_str()) {
        return next.run(request).await;
    }
    (StatusCode::UNAUTHORIZED, "Unauthorized").into_response()
}

/// Answers 500 `database_error` when a test asked this request to fail.
async fn inject_faults(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    if take_fault(&shared, &method, &path) {
        return MedusaError::database("simulated failure").into_response();
    }
    next.run(request).await
}

fn take_fault(shared: &Shared, method: &str, path: &str) -> bool {
    let mut faults = lock(&shared.faults);
    let matching = faults.iter_mut().find(|fault| {
        fault.remaining > 0 && fault.method.eq_ignore_ascii_case(method) && fault.path == path
    });
    let Some(fault) = matching else {
        return false;
    };
    fault.remaining -= 1;
    true
}

/// The key of `Authorization: Basic base64("sk_…:")`, or of the raw
/// `Basic sk_…` form Medusa also accepts.
pub(crate) fn secret_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let token = token.trim();
    let decoded = if token.starts_with("sk_") {
        token.to_owned()
    } else {
        String::from_utf8(BASE64.decode(token).ok()?).ok()?
    };
    Some(decoded.strip_suffix(':').unwrap_or(&decoded).to_owned())
}

async fn unknown_route(uri: Uri) -> MedusaError {
    MedusaError::not_found("Route", uri.path())
}

/// `{name: item}`, the detail envelope.
fn single<T: Serialize>(name: &str, item: &T) -> Answer {
    let value = serde_json::to_value(item)
        .map_err(|error| MedusaError::unknown(format!("serialising {name}: {error}")))?;
    Ok(Json(Value::Object(Map::from_iter([(
        name.to_owned(),
        value,
    )]))))
}

/// A request body as JSON; an empty body reads as `{}`, like Express does.
fn json_body(body: &Bytes) -> Result<Value, MedusaError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body)
        .map_err(|error| MedusaError::invalid_data(format!("Invalid JSON: {error}")))
}

async fn list_tenants(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Answer {
    let query = ListQuery::parse(raw.as_deref())?;
    let store = lock(&shared.store);
    Ok(Json(
        query
            .page(DEFAULT_LIMIT)?
            .envelope("tenants", &store.tenants)?,
    ))
}

async fn get_tenant(State(shared): State<AppState>, Path(id): Path<String>) -> Answer {
    single("tenant", lock(&shared.store).tenant(&id)?)
}

async fn list_vendors(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Answer {
    let query = ListQuery::parse(raw.as_deref())?;
    let (ids, tenant) = (query.filter("id")?, query.filter("tenant_id")?);
    let account = query.filter("stripe_account_id")?;
    let store = lock(&shared.store);
    let vendors: Vec<&Vendor> = store
        .vendors
        .iter()
        .filter(|vendor| ids.admits(Some(&vendor.id)) && tenant.admits(Some(&vendor.tenant_id)))
        .filter(|vendor| account.admits(vendor.stripe_account_id.as_deref()))
        .collect();
    Ok(Json(
        query.page(DEFAULT_LIMIT)?.envelope("vendors", &vendors)?,
    ))
}

async fn get_vendor(State(shared): State<AppState>, Path(id): Path<String>) -> Answer {
    single("vendor", lock(&shared.store).vendor(&id)?)
}

async fn update_vendor(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let update = parse_body(json_body(&body)?)?;
    let vendor = lock(&shared.store).update_vendor(&id, update)?;
    single("vendor", &vendor)
}

async fn vendor_balance(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = ListQuery::parse(raw.as_deref())?;
    let currency = query.text("currency")?.unwrap_or("usd").to_owned();
    single("balance", &lock(&shared.store).balance(&id, &currency)?)
}

async fn vendor_orders(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = ListQuery::parse(raw.as_deref())?;
    let status = query.filter("status")?;
    let store = lock(&shared.store);
    store.vendor(&id)?;
    let orders: Vec<&Value> = store
        .vendor_orders(&id)
        .filter(|order| status.admits(order["status"].as_str()))
        .collect();
    Ok(Json(query.page(ORDERS_LIMIT)?.envelope("orders", &orders)?))
}

async fn list_payouts(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Answer {
    let query = ListQuery::parse(raw.as_deref())?;
    let (vendor, status) = (query.filter("vendor_id")?, query.filter("status")?);
    status.check("status", PayoutStatus::NAMES)?;
    let store = lock(&shared.store);
    let payouts: Vec<_> = store
        .payouts
        .iter()
        .filter(|payout| vendor.admits(Some(&payout.vendor_id)))
        .filter(|payout| status.admits(Some(payout.status.as_str())))
        .collect();
    Ok(Json(
        query.page(DEFAULT_LIMIT)?.envelope("payouts", &payouts)?,
    ))
}

async fn create_payout(State(shared): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok());
    let payout = lock(&shared.store).create_payout(key, json_body(&body)?)?;
    single("payout", &payout)
}

async fn get_payout(State(shared): State<AppState>, Path(id): Path<String>) -> Answer {
    single("payout", lock(&shared.store).payout(&id)?)
}

async fn update_payout(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let update = parse_body(json_body(&body)?)?;
    let payout = lock(&shared.store).update_payout(&id, update)?;
    single("payout", &payout)
}

async fn list_products(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Answer {
    let query = ListQuery::parse(raw.as_deref())?;
    let (ids, status, handle) = (
        query.filter("id")?,
        query.filter("status")?,
        query.filter("handle")?,
    );
    let search = query.text("q")?.map(str::to_lowercase);
    let store = lock(&shared.store);
    let products: Vec<&Value> = store
        .products
        .iter()
        .filter(|product| {
            ids.admits(product["id"].as_str()) && status.admits(product["status"].as_str())
        })
        .filter(|product| handle.admits(product["handle"].as_str()))
        .filter(|product| search.as_ref().is_none_or(|q| title_contains(product, q)))
        .collect();
    Ok(Json(
        query.page(DEFAULT_LIMIT)?.envelope("products", &products)?,
    ))
}

fn title_contains(product: &Value, lowercase_query: &str) -> bool {
    let title = product["title"].as_str().unwrap_or_default().to_lowercase();
    title.contains(lowercase_query)
}

async fn get_product(State(shared): State<AppState>, Path(id): Path<String>) -> Answer {
    let store = lock(&shared.store);
    single("product", Store::entity(&store.products, "Product", &id)?)
}

async fn update_product(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let product = lock(&shared.store).update_product(&id, json_body(&body)?)?;
    single("product", &product)
}

async fn list_orders(State(shared): State<AppState>, RawQuery(raw): RawQuery) -> Answer {
    let query = ListQuery::parse(raw.as_deref())?;
    let (ids, status) = (query.filter("id")?, query.filter("status")?);
    let (created, updated) = (query.range("created_at")?, query.range("updated_at")?);
    let store = lock(&shared.store);
    let orders: Vec<&Value> = store
        .orders
        .iter()
        .filter(|order| ids.admits(order["id"].as_str()) && status.admits(order["status"].as_str()))
        .filter(|order| created.admits(order["created_at"].as_str()))
        .filter(|order| updated.admits(order["updated_at"].as_str()))
        .collect();
    Ok(Json(query.page(ORDERS_LIMIT)?.envelope("orders", &orders)?))
}

async fn get_order(State(shared): State<AppState>, Path(id): Path<String>) -> Answer {
    let store = lock(&shared.store);
    single("order", Store::entity(&store.orders, "Order", &id)?)
}
