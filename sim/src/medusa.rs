//! A Medusa v2 simulator: the admin routes the plugins read (products,
//! orders) and the marketplace extension of `UPSTREAMS.md` §5.6 (tenants,
//! vendors, vendor balances, payouts), behind a secret API key.
//!
//! Routes, all under `Authorization: Basic base64("sk_…:")` (or the raw
//! `Basic sk_…`), answering `{type, message, code?}` on error:
//!
//! - `GET /admin/tenants`, `GET /admin/tenants/{id}`;
//! - `GET /admin/vendors?id=&tenant_id=&stripe_account_id=`;
//!   `GET`, `POST /admin/vendors/{id}`;
//!   `GET /admin/vendors/{id}/balance?currency=`;
//!   `GET /admin/vendors/{id}/orders?status=`;
//! - `GET /admin/payouts?vendor_id=&status=`, `POST /admin/payouts`;
//!   `GET`, `POST /admin/payouts/{id}`;
//! - `GET /admin/products?id=&status=&handle=&q=`;
//!   `GET`, `POST /admin/products/{id}`;
//! - `GET /admin/orders?id=&status=&created_at[$gte]=&updated_at[$gte]=`;
//!   `GET /admin/orders/{id}`.
//!
//! Lists answer `{<entities>, count, offset, limit}` and details
//! `{<entity>}`.
//!
//! `GET /health` answers `OK` without a key.

mod error;
mod list;
mod model;
mod routes;
mod seed;
mod store;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

use crate::lock;
use crate::recorder::{RecordedRequest, Recorder};
use crate::server::{Server, bind};
pub use seed::DEMO_STRIPE_ACCOUNT;
use store::Store;

/// The secret key the binary accepts unless `MEDUSA_API_KEY` says otherwise.
pub const DEMO_API_KEY: &str = "sk_switchyard_demo_medusa";

/// How to start a Medusa simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedusaConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The only secret API key (`sk_…`) accepted.
    pub api_key: String,
    /// Start with the demo marketplace (see the `seed` module docs):
    /// tenant `demo`, vendors `vendor_01DEMO` and `vendor_01NOSTRIPE`,
    /// products, the completed order `order_01DEMO` and the pending payout
    /// `payout_01DEMO` of 9890 usd.
    pub seed_demo: bool,
}

impl Default for MedusaConfig {
    /// Any free port, [`DEMO_API_KEY`], no demo data.
    fn default() -> Self {
        Self {
            port: 0,
            api_key: DEMO_API_KEY.to_owned(),
            seed_demo: false,
        }
    }
}

impl MedusaConfig {
    /// Any free port, [`DEMO_API_KEY`] and the demo data.
    pub fn demo() -> Self {
        Self {
            seed_demo: true,
            ..Self::default()
        }
    }
}

/// A running Medusa simulator. Clones share the server and its state; the
/// server shuts down when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Medusa {
    server: Arc<Server>,
    shared: Arc<routes::Shared>,
    recorder: Recorder,
}

impl Medusa {
    /// Binds `127.0.0.1:{config.port}` and serves in a tokio task. Must be
    /// called inside a tokio runtime.
    pub async fn start(config: MedusaConfig) -> anyhow::Result<Self> {
        Self::start_at(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port)), config).await
    }

    /// Like [`Medusa::start`] but binds `addr`; `config.port` is ignored.
    pub async fn start_at(addr: SocketAddr, config: MedusaConfig) -> anyhow::Result<Self> {
        let mut store = Store::default();
        if config.seed_demo {
            seed::demo(&mut store).context("seeding the demo marketplace")?;
        }
        let shared = Arc::new(routes::Shared {
            store: Mutex::new(store),
            api_key: config.api_key,
            faults: Mutex::default(),
        });
        let recorder = Recorder::default();
        let router = routes::router(shared.clone(), recorder.clone());
        let server = Arc::new(bind("medusa", addr).await?.serve(router));
        Ok(Self {
            server,
            shared,
            recorder,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:{port}`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The secret key requests must carry.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Every request received so far, oldest first (including refused ones).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorder.all()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.recorder.clear();
    }

    /// A vendor as `GET /admin/vendors/{id}` would show it.
    pub fn vendor(&self, id: &str) -> Option<Value> {
        let store = lock(&self.shared.store);
        store.vendor(id).ok().and_then(to_json)
    }

    /// Every vendor, in insertion order.
    pub fn vendors(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .vendors
            .iter()
            .filter_map(to_json)
            .collect()
    }

    /// A payout by id.
    pub fn payout(&self, id: &str) -> Option<Value> {
        let store = lock(&self.shared.store);
        store.payout(id).ok().and_then(to_json)
    }

    /// Every payout, in insertion order.
    pub fn payouts(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .payouts
            .iter()
            .filter_map(to_json)
            .collect()
    }

    /// A tenant by id.
    pub fn tenant(&self, id: &str) -> Option<Value> {
        let store = lock(&self.shared.store);
        store.tenant(id).ok().and_then(to_json)
    }

    /// A product by id.
    pub fn product(&self, id: &str) -> Option<Value> {
        let store = lock(&self.shared.store);
        Store::entity(&store.products, "Product", id).ok().cloned()
    }

    /// Every product, in insertion order.
    pub fn products(&self) -> Vec<Value> {
        lock(&self.shared.store).products.clone()
    }

    /// An order by id.
    pub fn order(&self, id: &str) -> Option<Value> {
        let store = lock(&self.shared.store);
        Store::entity(&store.orders, "Order", id).ok().cloned()
    }

    /// Every order, in insertion order.
    pub fn orders(&self) -> Vec<Value> {
        lock(&self.shared.store).orders.clone()
    }
}

/// Test hooks that write state directly. Each takes a whole record,
/// fills what is missing (an id, timestamps, `status: "active"`…),
/// replaces a record with the same id, and returns what was stored.
impl Medusa {
    /// Adds or replaces a tenant (`{id, handle, name, metadata}`).
    pub fn insert_tenant(&self, tenant: Value) -> anyhow::Result<Value> {
        let tenant = lock(&self.shared.store).insert_tenant(tenant)?;
        to_json(&tenant).context("serialising the tenant")
    }

    /// Adds or replaces a vendor; unknown fields or wrong types are an error.
    pub fn insert_vendor(&self, vendor: Value) -> anyhow::Result<Value> {
        let vendor = lock(&self.shared.store).insert_vendor(vendor)?;
        to_json(&vendor).context("serialising the vendor")
    }

    /// Adds or replaces a payout (`status` defaults to `pending`).
    pub fn insert_payout(&self, payout: Value) -> anyhow::Result<Value> {
        let payout = lock(&self.shared.store).insert_payout(payout)?;
        to_json(&payout).context("serialising the payout")
    }

    /// Adds or replaces a product (free-form JSON object).
    pub fn insert_product(&self, product: Value) -> anyhow::Result<Value> {
        lock(&self.shared.store).insert_product(product)
    }

    /// Makes the next `count` requests of `method` on exactly `path` fail
    /// with a 500 `database_error` (after authentication, recorded like
    /// any other), as a backend that crashed mid-way would: for tests of
    /// what a plugin does when a write-back is lost.
    pub fn fail_next(&self, method: &str, path: &str, count: u32) {
        let fault = routes::Fault {
            method: method.to_owned(),
            path: path.to_owned(),
            remaining: count,
        };
        lock(&self.shared.faults).push(fault);
    }

    /// Adds or replaces an order (free-form JSON object; a vendor's child
    /// orders carry `metadata.vendor_id`, and only `status: "completed"`
    /// orders count towards its balance, via `total` and `currency_code`).
    pub fn insert_order(&self, order: Value) -> anyhow::Result<Value> {
        lock(&self.shared.store).insert_order(order)
    }
}

fn to_json<T: Serialize>(item: &T) -> Option<Value> {
    serde_json::to_value(item).ok()
}
