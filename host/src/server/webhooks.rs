//! `POST /webhooks/{plugin}/{tenant}`: verify in the plugin, store, answer,
//! then let the dispatcher run `handle-webhook`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Value, json};

use super::body::{header_pairs, read_limited};
use super::{ApiError, App};
use crate::inbox::{Webhook, store_webhook};
use crate::runtime::bindings::guest::WebhookRequest;
use crate::store::Inserted;

/// Longest event id accepted from a plugin's verification.
const MAX_EVENT_ID: usize = 255;

/// Receives one webhook.
pub async fn receive(
    State(app): State<App>,
    Path((plugin, tenant)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    accept(&app, &plugin, &tenant, &uri, &headers, body).await
}

/// Verifies and stores a webhook for `plugin` and `tenant`; shared with the
/// plugins' route aliases.
pub async fn accept(
    app: &App,
    plugin: &str,
    tenant: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let services = app.runtime.services();
    let registry = services.registry.load();
    let (loaded, binding) = super::lookup(&registry, plugin, tenant)?;
    let (loaded, binding) = (&loaded, &binding);
    let body = read_limited(headers, body, app.max_body_bytes).await?;
    let header_list = header_pairs(headers)?;

    let request = WebhookRequest {
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: header_list.clone(),
        body: body.to_vec(),
    };
    let verified = match app.runtime.verify_webhook(loaded, binding, request).await {
        Ok(Ok(verified)) => verified,
        Ok(Err(reason)) => {
            tracing::info!(plugin, tenant, reason, "webhook rejected");
            return Err(ApiError::bad_request("signature_rejected", reason));
        }
        Err(err) => {
            return Err(ApiError::from_call(plugin, &err));
        }
    };
    if verified.event_id.is_empty() || verified.event_id.len() > MAX_EVENT_ID {
        let message = format!(
            "plugin {plugin} returned an event id of {} bytes",
            verified.event_id.len()
        );
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "plugin_failed",
            message,
        ));
    }

    let event_id = verified.event_id.clone();
    let webhook = Webhook {
        plugin,
        tenant,
        event_id: verified.event_id,
        event_type: verified.event_type,
        headers: header_list,
        body: body.to_vec(),
    };
    let inserted = store_webhook(services, webhook)
        .await
        .map_err(|e| ApiError::store_unavailable(&e))?;
    let (status, delivery) = match inserted {
        Inserted::New(id) => ("accepted", id),
        Inserted::Duplicate(id) => ("duplicate", id),
    };
    tracing::info!(plugin, tenant, event_id, delivery, status, "webhook stored");
    Ok(Json(
        json!({ "status": status, "delivery": delivery, "event_id": event_id }),
    ))
}
