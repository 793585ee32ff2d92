//! `POST /events/{tenant}`: Medusa's events, signed with the tenant's events
//! secret the way Stripe signs webhooks, stored once per subscribed plugin.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_signature::{DEFAULT_TOLERANCE_SECS, SignatureError, SignatureHeader};

use super::body::read_limited;
use super::{ApiError, App};
use crate::capabilities::events::check_event;
use crate::inbox::{DomainEvent, fan_out};
use crate::store::Inserted;

/// The header Medusa's subscriber signs with.
pub const SIGNATURE_HEADER: &str = "switchyard-signature";

#[derive(Debug, Deserialize)]
struct IncomingEvent {
    id: String,
    name: String,
    #[serde(default)]
    data: Value,
}

/// Receives one Medusa event.
pub async fn receive(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let services = app.runtime.services();
    let registry = services.registry.load();
    if !registry.has_tenant(&tenant) {
        return Err(ApiError::not_found(
            "unknown_tenant",
            format!("no tenant named {tenant}"),
        ));
    }
    let Some(secret) = registry.events_secret(&tenant) else {
        let message = format!("tenant {tenant} has no events_secret configured");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "events_not_configured",
            message,
        ));
    };
    let body = read_limited(&headers, body, app.max_body_bytes).await?;

    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let header = header.ok_or(SignatureError::Missing);
    let verified = header.and_then(SignatureHeader::parse).and_then(|parsed| {
        parsed.check_time(services.clock.now_secs(), DEFAULT_TOLERANCE_SECS)?;
        let payload = parsed.signed_payload(&body);
        parsed.verify_with(|sig| secret.verify_hmac_sha256(&payload, sig))
    });
    if let Err(reason) = verified {
        tracing::info!(tenant, %reason, "event rejected");
        return Err(ApiError::bad_request(
            "signature_rejected",
            reason.to_string(),
        ));
    }

    let event: IncomingEvent = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request("invalid_event", format!("not an event: {err}")))?;
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(ApiError::bad_request(
            "invalid_event",
            "id must be 1-255 bytes",
        ));
    }
    let data = event.data.to_string();
    check_event(&event.name, &data)
        .map_err(|reason| ApiError::bad_request("invalid_event", reason))?;

    let event_id = event.id.clone();
    let domain = DomainEvent {
        tenant: &tenant,
        source: "medusa",
        id: event.id,
        name: event.name,
        data,
    };
    let stored = fan_out(services, domain)
        .await
        .map_err(|e| ApiError::store_unavailable(&e))?;
    let deliveries: Vec<Value> = stored
        .into_iter()
        .map(|(plugin, inserted)| match inserted {
            Inserted::New(id) => json!({ "plugin": plugin, "delivery": id, "duplicate": false }),
            Inserted::Duplicate(id) => {
                json!({ "plugin": plugin, "delivery": id, "duplicate": true })
            }
        })
        .collect();
    tracing::info!(
        tenant,
        event_id,
        subscribers = deliveries.len(),
        "event stored"
    );
    // A repeat of an event already stored for every subscriber is a
    // duplicate, as for webhooks; anything new makes it accepted.
    let repeat = !deliveries.is_empty() && deliveries.iter().all(|d| d["duplicate"] == true);
    let status = if repeat { "duplicate" } else { "accepted" };
    Ok(Json(
        json!({ "status": status, "event_id": event_id, "deliveries": deliveries }),
    ))
}
