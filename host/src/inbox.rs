//! Putting deliveries into the durable inbox: a verified webhook for one
//! plugin, or a domain event fanned out to every subscribed plugin. Nothing
//! is acknowledged before this commits.

use crate::services::HostServices;
use crate::store::{Inserted, NewDelivery};

/// Request headers never stored with a delivery: credentials of whoever
/// called us are not the plugin's business and must not rest on disk.
const UNSTORED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// A verified webhook to store.
#[derive(Debug)]
pub struct Webhook<'a> {
    /// Receiving plugin.
    pub plugin: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// The upstream's event id.
    pub event_id: String,
    /// The upstream's event type.
    pub event_type: String,
    /// Received headers.
    pub headers: Vec<(String, String)>,
    /// The exact body.
    pub body: Vec<u8>,
}

/// A domain event to fan out.
#[derive(Debug)]
pub struct DomainEvent<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// `medusa` or the emitting plugin.
    pub source: &'a str,
    /// Unique id from the source.
    pub id: String,
    /// Event name such as `order.placed`.
    pub name: String,
    /// JSON data.
    pub data: String,
}

/// Stores a webhook; duplicates of a stored event id are reported, not
/// stored again.
pub async fn store_webhook(
    services: &HostServices,
    webhook: Webhook<'_>,
) -> sqlx::Result<Inserted> {
    let delivery = NewDelivery {
        kind: "webhook",
        plugin: webhook.plugin.to_owned(),
        tenant: webhook.tenant.to_owned(),
        event_id: webhook.event_id,
        event_type: webhook.event_type,
        source: "webhook".into(),
        headers: storable_headers(webhook.headers),
        body: webhook.body,
        received_at_ms: services.now_ms(),
    };
    let mut inserted = services
        .store
        .insert_deliveries(std::slice::from_ref(&delivery))
        .await?;
    services.inbox_wakeup.notify_one();
    inserted.pop().ok_or(sqlx::Error::RowNotFound)
}

/// Stores one delivery per subscribed plugin, all or none; returns the
/// plugins with what happened for each.
pub async fn fan_out(
    services: &HostServices,
    event: DomainEvent<'_>,
) -> sqlx::Result<Vec<(String, Inserted)>> {
    let subscribers = services
        .registry
        .load()
        .subscribers(event.tenant, &event.name, event.source);
    let now = services.now_ms();
    let deliveries: Vec<NewDelivery> = subscribers
        .iter()
        .map(|plugin| NewDelivery {
            kind: "event",
            plugin: plugin.clone(),
            tenant: event.tenant.to_owned(),
            event_id: event.id.clone(),
            event_type: event.name.clone(),
            source: event.source.to_owned(),
            headers: Vec::new(),
            body: event.data.clone().into_bytes(),
            received_at_ms: now,
        })
        .collect();
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = services.store.insert_deliveries(&deliveries).await?;
    services.inbox_wakeup.notify_one();
    Ok(subscribers.into_iter().zip(inserted).collect())
}

fn storable_headers(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(name, _)| !UNSTORED_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
        .collect()
}
