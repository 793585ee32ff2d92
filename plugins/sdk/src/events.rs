//! Domain events to other plugins. Delivery happens after the current call
//! returns, to every plugin the tenant has subscribed to the name.

use serde::Serialize;

use crate::PluginError;
use crate::host::{self, HostError};

/// Emits `name` with `data` encoded as JSON.
pub fn emit<T: Serialize + ?Sized>(name: &str, data: &T) -> Result<(), PluginError> {
    let json = serde_json::to_string(data)
        .map_err(|e| PluginError::permanent(format!("encoding event {name}: {e}")))?;
    emit_json(name, &json)
}

/// Emits `name` with data that already is JSON text.
pub fn emit_json(name: &str, json: &str) -> Result<(), PluginError> {
    host::emit(name, json).map_err(|e| match e {
        HostError::Invalid(m) => PluginError::permanent(format!("event {name} refused: {m}")),
        other => PluginError::from(other).context(format!("emitting {name}")),
    })
}
