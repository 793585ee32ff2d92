//! The HTTP server: webhooks, Medusa events, health, metrics and the admin
//! API, on axum.

mod admin;
mod aliases;
mod body;
mod error;
mod events;
mod health;
mod listen;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::capabilities::secrets::Secret;
use crate::registry::{Binding, Registry};
use crate::runtime::Plugin;
use crate::runtime::Runtime;
use crate::scheduler::Scheduler;
pub use error::ApiError;
pub use listen::serve;

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
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

async fn method_not_allowed() -> ApiError {
    let message = "this route does not accept that method";
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        message,
    )
}

/// The plugin and its binding for `tenant`, or the 404 that says which of
/// the two is unknown.
pub fn lookup(
    registry: &Registry,
    plugin: &str,
    tenant: &str,
) -> Result<(Arc<Plugin>, Arc<Binding>), ApiError> {
    if registry.plugin(plugin).is_none() {
        return Err(ApiError::not_found(
            "unknown_plugin",
            format!("no plugin named {plugin}"),
        ));
    }
    let Some((loaded, binding)) = registry.binding(plugin, tenant) else {
        let message = format!("tenant {tenant} does not run plugin {plugin}");
        return Err(ApiError::not_found("unknown_tenant", message));
    };
    Ok((loaded.clone(), binding.clone()))
}

/// Longest framework message kept when it is rewritten as JSON.
const MAX_REJECTION_TEXT: usize = 1024;

/// Rewrites error answers the framework made in plain text (a path, query
/// or body that does not parse) as JSON with a stable `error` code, like
/// every answer of ours. JSON answers pass untouched.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), MAX_REJECTION_TEXT)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        message
    };
    let code = rejection_code(status, &message);
    ApiError::new(status, code, message).into_response()
}

/// The code of a framework rejection: the same as the handlers give for the
/// same mistake where the framework's text says which it is, else by status.
fn rejection_code(status: StatusCode, message: &str) -> &'static str {
    if message.starts_with("Failed to deserialize query string") {
        "invalid_query"
    } else if message.starts_with("Failed to parse the request body as JSON")
        || message.starts_with("Failed to deserialize the JSON body")
    {
        "invalid_json"
    } else {
        ApiError::code_for(status)
    }
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
