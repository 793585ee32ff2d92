//! `/health` (liveness and readiness) and `/health/metrics` (Prometheus).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::App;

/// Live when it answers; ready when the store answers too.
pub async fn health(State(app): State<App>) -> (StatusCode, Json<Value>) {
    let services = app.runtime.services();
    let registry = services.registry.load();
    let store_ok = services.store.ping().await.is_ok();
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if store_ok { "ok" } else { "degraded" },
        "store": if store_ok { "ok" } else { "unavailable" },
        "plugins": registry.plugins().count(),
        "problems": registry.problems().len(),
    });
    (status, Json(body))
}

/// Every metric in Prometheus' text format.
pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let text = app.runtime.services().metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
