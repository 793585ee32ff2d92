//! Secrets, used by name only: the host computes with their values, which
//! never enter the plugin.

use crate::{PluginError, host};

/// True when the tenant configured a secret called `name`.
pub fn has(name: &str) -> bool {
    host::secret_has(name)
}

/// HMAC-SHA256 of `message` keyed with the secret `name`. For signing
/// outbound requests; to check a signature use [`verify_hmac_sha256`],
/// which compares in constant time on the host.
pub fn hmac_sha256(name: &str, message: &[u8]) -> Result<Vec<u8>, PluginError> {
    host::secret_hmac_sha256(name, message).map_err(PluginError::from)
}

/// True when `signature` is the HMAC-SHA256 of `message` keyed with the
/// secret `name`, compared in constant time.
pub fn verify_hmac_sha256(
    name: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, PluginError> {
    host::secret_verify_hmac_sha256(name, message, signature).map_err(PluginError::from)
}
