//! A Stripe Connect simulator: the API subset the `stripe-connect` plugin
//! uses, plus helpers that sign and send webhook events.
//!
//! Requests are form-encoded with bracket nesting and authenticated with
//! the configured secret key (HTTP Basic `sk_…:` or `Bearer sk_…`); a
//! `Stripe-Account` header acts as a connected account; `Idempotency-Key`
//! replays the first answer of a `POST /v1/*`. Routes:
//!
//! - `GET`, `POST /v1/accounts`; `GET`, `POST /v1/accounts/{id}`: Express,
//!   Standard and Custom accounts;
//! - `POST /v1/account_links`: the link opens `GET /setup/s/{acct}/{token}`
//!   on the simulator, which completes onboarding and redirects;
//! - `GET`, `POST /v1/transfers`; `GET /v1/transfers/{id}`: debit the
//!   sender, credit the destination;
//! - `GET`, `POST /v1/transfers/{id}/reversals`: move money back;
//! - `GET`, `POST /v1/payouts`; `GET /v1/payouts/{id}`: from the acting
//!   owner's balance;
//! - `GET /v1/balance`: the platform's, or a connected account's with
//!   `Stripe-Account`;
//! - `POST /oauth/token`, `POST /oauth/deauthorize`: flat OAuth errors.
//!
//! Nothing moves by itself: payouts stay `pending` and accounts stay
//! un-onboarded until a test calls [`Stripe::set_payout_status`] or
//! [`Stripe::complete_onboarding`] (or a browser opens the account link).

mod accounts;
mod auth;
mod error;
mod idempotency;
mod list;
mod oauth;
mod objects;
mod params;
mod payouts;
mod routes;
mod state;
mod transfers;
pub mod webhook;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::lock;
use crate::recorder::{RecordedRequest, Recorder};
use crate::server::{Server, bind};
use objects::AccountKind;
use state::{State as Ledger, merge_into};

/// The secret key the binary accepts unless `STRIPE_SECRET_KEY` says otherwise.
pub const DEMO_SECRET_KEY: &str = "sk_test_switchyard_demo";
/// The webhook signing secret the demo host is configured with.
pub const DEMO_WEBHOOK_SECRET: &str = "whsec_switchyard_demo";
/// The connected account of the shared Connect fixtures and the demo vendor.
pub const DEMO_ACCOUNT: &str = crate::medusa::DEMO_STRIPE_ACCOUNT;
/// The platform's available balance after [`Stripe::seed_demo`]: $10,000.
pub const DEMO_PLATFORM_BALANCE: i64 = 1_000_000;

/// How to start a Stripe simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The only platform secret key accepted.
    pub secret_key: String,
}

impl Default for StripeConfig {
    /// Any free port and [`DEMO_SECRET_KEY`].
    fn default() -> Self {
        Self {
            port: 0,
            secret_key: DEMO_SECRET_KEY.to_owned(),
        }
    }
}

/// A running Stripe simulator. Clones share the server and its state; the
/// server shuts down when the last clone is dropped. It starts empty: no
/// accounts and no balance (see [`Stripe::seed_demo`]).
#[derive(Debug, Clone)]
pub struct Stripe {
    server: Arc<Server>,
    shared: Arc<routes::Shared>,
    recorder: Recorder,
}

impl Stripe {
    /// Binds `127.0.0.1:{config.port}` and serves in a tokio task. Must be
    /// called inside a tokio runtime.
    pub async fn start(config: StripeConfig) -> anyhow::Result<Self> {
        Self::start_at(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port)), config).await
    }

    /// Like [`Stripe::start`] but binds `addr`; `config.port` is ignored.
    pub async fn start_at(addr: SocketAddr, config: StripeConfig) -> anyhow::Result<Self> {
        let bound = bind("stripe", addr).await?;
        let shared = Arc::new(routes::Shared {
            state: Mutex::new(Ledger::default()),
            keys: Arc::default(),
            secret_key: config.secret_key,
            base_url: format!("http://{}", bound.addr()),
        });
        let recorder = Recorder::default();
        let server = Arc::new(bound.serve(routes::router(shared.clone(), recorder.clone())));
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

    /// `http://127.0.0.1:{port}`, without a trailing slash; stands in for
    /// both `https://api.stripe.com` and `https://connect.stripe.com`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The platform secret key requests must carry.
    pub fn secret_key(&self) -> &str {
        &self.shared.secret_key
    }

    /// Every request received so far, oldest first (including refused ones).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorder.all()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.recorder.clear();
    }

    /// Adds the demo data: [`DEMO_ACCOUNT`] as an onboarded Express account
    /// able to take transfers and payouts, and [`DEMO_PLATFORM_BALANCE`]
    /// cents of usd available on the platform.
    pub fn seed_demo(&self) {
        let mut state = lock(&self.shared.state);
        state
            .accounts
            .retain(|account| account["id"] != DEMO_ACCOUNT);
        let mut account = objects::account(DEMO_ACCOUNT, AccountKind::Express, "US", 1_234_567_890);
        account["capabilities"] =
            serde_json::json!({"card_payments": "inactive", "transfers": "inactive"});
        state.accounts.push(account);
        state.complete_onboarding(DEMO_ACCOUNT);
        state.set_available(None, "usd", DEMO_PLATFORM_BALANCE);
    }
}

/// Reading state, newest objects last.
impl Stripe {
    /// Every connected account, oldest first (disconnected ones included).
    pub fn accounts(&self) -> Vec<Value> {
        lock(&self.shared.state).accounts.clone()
    }

    /// An account by id.
    pub fn account(&self, id: &str) -> Option<Value> {
        lock(&self.shared.state).account(id).cloned()
    }

    /// Whether the platform may still act for `account` (it exists and has
    /// not deauthorized).
    pub fn is_connected(&self, account: &str) -> bool {
        lock(&self.shared.state).connected(account).is_some()
    }

    /// Every transfer, whoever sent it, oldest first.
    pub fn transfers(&self) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state
            .transfers
            .iter()
            .map(|owned| owned.object.clone())
            .collect()
    }

    /// A transfer by id.
    pub fn transfer(&self, id: &str) -> Option<Value> {
        self.transfers()
            .into_iter()
            .find(|transfer| transfer["id"] == id)
    }

    /// Every payout, of the platform and of every account, oldest first.
    pub fn payouts(&self) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state
            .payouts
            .iter()
            .map(|owned| owned.object.clone())
            .collect()
    }

    /// A payout by id.
    pub fn payout(&self, id: &str) -> Option<Value> {
        self.payouts().into_iter().find(|payout| payout["id"] == id)
    }

    /// The balance object of the platform (`None`) or a connected account.
    pub fn balance(&self, account: Option<&str>) -> Value {
        lock(&self.shared.state).balance(&account.map(str::to_owned))
    }

    /// The available amount, in minor units, of the platform (`None`) or a
    /// connected account.
    pub fn available(&self, account: Option<&str>, currency: &str) -> i64 {
        lock(&self.shared.state).available(&account.map(str::to_owned), currency)
    }
}

/// Test hooks that change state directly.
impl Stripe {
    /// Sets the platform's available balance in `currency` (minor units).
    pub fn set_platform_balance(&self, currency: &str, amount: i64) {
        lock(&self.shared.state).set_available(None, &currency.to_ascii_lowercase(), amount);
    }

    /// Sets a connected account's available balance in `currency`.
    pub fn set_account_balance(&self, account: &str, currency: &str, amount: i64) {
        let owner = Some(account.to_owned());
        lock(&self.shared.state).set_available(owner, &currency.to_ascii_lowercase(), amount);
    }

    /// Adds a connected account: a new Express account (fresh id unless
    /// `overrides` has one) with `overrides` deep-merged over it. Replaces
    /// an account with the same id.
    pub fn insert_account(&self, overrides: Value) -> anyhow::Result<Value> {
        let Value::Object(overrides) = overrides else {
            anyhow::bail!("an account must be a JSON object");
        };
        let id = overrides
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| crate::ids::stripe("acct"), str::to_owned);
        let mut account =
            objects::account(&id, AccountKind::Express, "US", crate::clock::unix_secs());
        merge_into(&mut account, &overrides);
        let mut state = lock(&self.shared.state);
        state
            .accounts
            .retain(|existing| existing["id"] != id.as_str());
        state.accounts.push(account.clone());
        Ok(account)
    }

    /// Finishes onboarding as if the user completed Stripe's form: charges
    /// and payouts enabled, details submitted, nothing due, capabilities
    /// active, a test bank account attached. Returns the account, ready to
    /// wrap in an `account.updated` event with [`webhook::event`].
    pub fn complete_onboarding(&self, account: &str) -> Option<Value> {
        lock(&self.shared.state).complete_onboarding(account)
    }

    /// Deep-merges `patch` into an account (for instance new
    /// `requirements.currently_due`) and returns the result.
    pub fn patch_account(&self, account: &str, patch: &Value) -> Option<Value> {
        let mut state = lock(&self.shared.state);
        let stored = state.account_mut(account)?;
        merge_into(stored, patch.as_object()?);
        Some(stored.clone())
    }

    /// Moves a payout to `status` (`in_transit`, `paid`, `failed`,
    /// `canceled`), with an optional `(failure_code, failure_message)`; a
    /// failed or canceled payout returns its funds.
    pub fn set_payout_status(
        &self,
        payout: &str,
        status: &str,
        failure: Option<(&str, &str)>,
    ) -> Option<Value> {
        lock(&self.shared.state).set_payout_status(payout, status, failure)
    }

    /// A one-time OAuth code for `POST /oauth/token`: it connects `account`
    /// (created as a Standard account if unknown) or, with `None`, a new one.
    pub fn issue_oauth_code(&self, account: Option<&str>) -> String {
        lock(&self.shared.state).issue_code(account)
    }

    /// Forgets every idempotency key, as Stripe does after 24 hours, so a
    /// key whose first answer was an error can be tried afresh.
    pub fn forget_idempotency_keys(&self) {
        lock(&self.shared.keys).clear();
    }
}

/// Webhook helpers, also available as free functions in [`webhook`].
impl Stripe {
    /// The `Stripe-Signature` header value for `body` signed with `secret`
    /// at `timestamp`: `t=…,v1=…`.
    pub fn sign_event(secret: &str, timestamp: u64, body: &[u8]) -> String {
        webhook::signature_header(&[secret], timestamp, body)
    }

    /// Like [`Stripe::sign_event`] with one `v1` per secret (secret rotation).
    pub fn signature_header(secrets: &[&str], timestamp: u64, body: &[u8]) -> String {
        webhook::signature_header(secrets, timestamp, body)
    }

    /// Serialises `event` once and posts those exact bytes to `url` with a
    /// `Stripe-Signature` carrying one `v1` per secret.
    pub async fn send_event(
        url: &str,
        secrets: &[&str],
        event: &Value,
        timestamp: u64,
    ) -> anyhow::Result<reqwest::Response> {
        webhook::send_event(url, secrets, event, timestamp).await
    }

    /// Posts raw `body` bytes, signed as [`Stripe::send_event`] does.
    pub async fn send_payload(
        url: &str,
        secrets: &[&str],
        body: Vec<u8>,
        timestamp: u64,
    ) -> anyhow::Result<reqwest::Response> {
        webhook::send_payload(url, secrets, body, timestamp).await
    }
}
