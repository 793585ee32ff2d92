//! Putting deliveries into the durable inbox: a verified webhook for one
//! plugin, or a domain event fanned out to every subscribed plugin. Nothing
//! is acknowledged before this commits.

use crate::services::HostServices;
use crate::store::{IngestError, Inserted, NewDelivery};

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
) -> Result<Inserted, IngestError> {
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
    let mut inserted = services.store.insert_deliveries(vec![delivery]).await?;
    services.inbox_wakeup.notify_one();
    inserted
        .pop()
        .ok_or_else(|| IngestError::from("the inbox answered no outcome".to_owned()))
}

/// Stores one delivery per subscribed plugin, all or none; returns the
/// plugins with what happened for each.
pub async fn fan_out(
    services: &HostServices,
    event: DomainEvent<'_>,
) -> Result<Vec<(String, Inserted)>, IngestError> {
    let deliveries = event_deliveries(services, event);
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let plugins: Vec<String> = deliveries.iter().map(|d| d.plugin.clone()).collect();
    let inserted = services.store.insert_deliveries(deliveries).await?;
    services.inbox_wakeup.notify_one();
    Ok(plugins.into_iter().zip(inserted).collect())
}

/// One delivery of `event` per plugin of its tenant subscribed to it,
/// except the plugin that emitted it.
pub fn event_deliveries(services: &HostServices, event: DomainEvent<'_>) -> Vec<NewDelivery> {
    let subscribers = services
        .registry
        .load()
        .subscribers(event.tenant, &event.name, event.source);
    let now = services.now_ms();
    subscribers
        .into_iter()
        .map(|plugin| NewDelivery {
            kind: "event",
            plugin,
            tenant: event.tenant.to_owned(),
            event_id: event.id.clone(),
            event_type: event.name.clone(),
            source: event.source.to_owned(),
            headers: Vec::new(),
            body: event.data.clone().into_bytes(),
            received_at_ms: now,
        })
        .collect()
}

fn storable_headers(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(name, _)| !UNSTORED_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
        .collect()
}
