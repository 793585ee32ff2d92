//! The HTTP server: webhooks, Medusa events, health, metrics and the admin
//! API, on axum.

mod admin;
mod aliases;
mod body;
mod error;
mod events;
mod health;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::capabilities::secrets::Secret;
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;
pub use error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct App {
    /// The runtime, and through it the services and registry.
    pub runtime: Arc<Runtime>,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Bearer token of the admin API, when enabled.
    pub admin_token: Option<Secret>,
    /// The job scheduler, for runs by hand and the job list.
    pub scheduler: Arc<Scheduler>,
}

/// The full router.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/health/metrics", get(health::metrics))
        .route("/webhooks/{plugin}/{tenant}", post(webhooks::receive))
        .route("/events/{tenant}", post(events::receive))
        .nest("/admin/api", admin::router(app.clone()))
        .fallback(aliases::serve)
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// Counts and times every request by its route pattern (not its path, which
/// would make one series per tenant and id).
async fn observe(State(app): State<App>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &app.runtime.services().metrics;
    metrics.observe_http(&route, response.status().as_u16(), started.elapsed());
    response
}
