//! `events`: domain events a plugin emits for the other plugins of its
//! tenant. They are stored in the inbox, so an emitted event survives a
//! crash like any webhook: during an action or a job at once, while a
//! delivery is processed together with that delivery's success (a failed
//! attempt emits nothing).

use crate::inbox::{DomainEvent, event_deliveries, fan_out};
use crate::runtime::bindings::events::{self, Error};
use crate::runtime::state::CallState;

/// Largest event data accepted; events carry ids and small facts.
const MAX_EVENT_BYTES: usize = 256 * 1024;

impl events::Host for CallState {
    async fn emit(&mut self, name: String, data: String) -> wasmtime::Result<Result<(), Error>> {
        let Some(binding) = self.binding.clone() else {
            return Ok(Err(Error::Invalid("no tenant".into())));
        };
        if let Err(reason) = check_event(&name, &data) {
            return Ok(Err(Error::Invalid(reason)));
        }
        let id = format!(
            "evt_{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let event = DomainEvent {
            tenant: &binding.tenant,
            source: &self.plugin,
            id,
            name,
            data,
        };
        let event_name = event.name.clone();
        if self.txn.is_some() {
            let deliveries = event_deliveries(&self.host, event);
            tracing::debug!(
                plugin = %self.plugin, tenant = self.tenant(), call_id = %self.call_id,
                event = event_name, subscribers = deliveries.len(),
                "event held until the delivery succeeds"
            );
            if let Some(txn) = &mut self.txn {
                txn.emit(deliveries);
            }
            return Ok(Ok(()));
        }
        match fan_out(&self.host, event).await {
            Ok(stored) => {
                tracing::info!(
                    plugin = %self.plugin, tenant = self.tenant(), call_id = %self.call_id,
                    event = event_name, subscribers = stored.len(), "event emitted"
                );
                Ok(Ok(()))
            }
            Err(err) => {
                tracing::warn!(
                    plugin = %self.plugin, tenant = self.tenant(), call_id = %self.call_id,
                    error = %err, "event could not be stored"
                );
                Ok(Err(Error::Unavailable("store unavailable".into())))
            }
        }
    }
}

/// Event names are dotted identifiers such as `delivery.completed`.
pub fn check_event(name: &str, data: &str) -> Result<(), String> {
    let valid_name = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !valid_name {
        return Err(format!(
            "event name {name:?} must be 1-128 characters of a-z, 0-9, . _ -"
        ));
    }
    if data.len() > MAX_EVENT_BYTES {
        return Err(format!("event data is larger than {MAX_EVENT_BYTES} bytes"));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(data)
        .map_err(|err| format!("event data is not JSON: {err}"))?;
    Ok(())
}
