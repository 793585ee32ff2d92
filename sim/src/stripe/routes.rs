//! The Stripe simulator's router: `/v1/*` behind the secret key with
//! idempotency, `/oauth/*` with its own flat errors, the onboarding pages
//! account links point to, a `Request-Id` on every answer and every
//! request recorded.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, Method, Uri};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::Value;

use super::error::ApiError;
use super::idempotency::{Keys, idempotency};
use super::state::State as Ledger;
use super::{accounts, auth, oauth, payouts, transfers};
use crate::ids;
use crate::recorder::{Recorder, record};

/// State behind every route.
pub(crate) struct Shared {
    pub state: Mutex<Ledger>,
    pub keys: Arc<Mutex<Keys>>,
    pub secret_key: String,
    /// Where this simulator is reachable, for the links it hands out.
    pub base_url: String,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of debug output.
        f.debug_struct("Shared")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

pub(crate) type AppState = Arc<Shared>;
/// What an API route answers.
pub(crate) type AnswerJson = Result<Json<Value>, ApiError>;

/// The whole simulator.
pub(crate) fn router(shared: AppState, recorder: Recorder) -> Router {
    let api = api_routes()
        .fallback(unknown_route)
        .layer(from_fn_with_state(shared.keys.clone(), idempotency))
        .layer(from_fn_with_state(shared.clone(), auth::authenticate))
        .with_state(shared.clone());
    let open = Router::new()
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/deauthorize", post(oauth::deauthorize))
        .route("/setup/s/{account}/{token}", get(accounts::visit_link))
        .with_state(shared);
    Router::new()
        .merge(open)
        .merge(api)
        .layer(map_response(with_request_id))
        .layer(from_fn_with_state(recorder, record))
}

fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts",
            get(accounts::list_accounts).post(accounts::create_account),
        )
        .route(
            "/v1/accounts/{id}",
            get(accounts::get_account).post(accounts::update_account),
        )
        .route("/v1/account_links", post(accounts::create_link))
        .route(
            "/v1/transfers",
            get(transfers::list).post(transfers::create),
        )
        .route("/v1/transfers/{id}", get(transfers::get))
        .route(
            "/v1/transfers/{id}/reversals",
            get(transfers::list_reversals).post(transfers::reverse),
        )
        .route("/v1/payouts", get(payouts::list).post(payouts::create))
        .route("/v1/payouts/{id}", get(payouts::get))
        .route("/v1/balance", get(payouts::balance))
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::unknown_route(method.as_str(), uri.path())
}

/// Stripe tags every answer with a `Request-Id`; clients log it.
async fn with_request_id(mut response: Response) -> Response {
    if let Ok(id) = HeaderValue::from_str(&ids::stripe("req")) {
        response.headers_mut().insert("request-id", id);
    }
    response
}
