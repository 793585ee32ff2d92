//! `secrets`: values read from the environment at load time and used by name.
//!
//! A secret's bytes never cross into a plugin. Plugins ask for an HMAC, a
//! constant-time comparison, or (through `http`) for the secret to be attached
//! to a request bound for a host the operator tied it to.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::capabilities::http::HostPattern;
use crate::config::SecretRef;
use crate::runtime::bindings::secrets;
use crate::runtime::state::CallState;

/// Secret values containing this marker are the demo's published values; the
/// host warns loudly when it runs with any of them.
pub const DEMO_MARKER: &str = "switchyard_demo";

/// A secret value. Its `Debug` and `Display` never show the bytes.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into().into())
    }

    /// The raw bytes, for the few host functions that must use them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// True for the demo's published values.
    pub fn is_demo(&self) -> bool {
        self.0
            .windows(DEMO_MARKER.len())
            .any(|w| w == DEMO_MARKER.as_bytes())
    }

    /// HMAC-SHA256 of `message` keyed with this secret.
    pub fn hmac_sha256(&self, message: &[u8]) -> Vec<u8> {
        self.mac(message).finalize().into_bytes().to_vec()
    }

    /// Compares `signature` with the HMAC of `message` in constant time.
    pub fn verify_hmac_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.mac(message).verify_slice(signature).is_ok()
    }

    fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(message);
        mac
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A loaded secret and the hosts it may be sent to.
#[derive(Debug, Clone)]
pub struct BoundSecret {
    /// The value.
    pub value: Secret,
    /// Hosts that may receive it in a request; empty means none.
    pub hosts: Vec<HostPattern>,
}

/// A configured secret whose environment variable is unset or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSecret {
    /// The name the plugin uses.
    pub name: String,
    /// The environment variable that should hold it.
    pub env: String,
}

/// The secrets of one plugin for one tenant.
#[derive(Debug, Clone, Default)]
pub struct SecretSet {
    secrets: BTreeMap<String, BoundSecret>,
}

impl SecretSet {
    /// Reads every configured secret from the environment. Secrets whose
    /// variable is missing are left out and returned so the caller can say
    /// which required ones are absent.
    pub fn load(refs: &BTreeMap<String, SecretRef>) -> (Self, Vec<MissingSecret>) {
        let mut secrets = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, reference) in refs {
            match read_env(&reference.env) {
                Some(value) => {
                    let hosts = reference.hosts.clone();
                    secrets.insert(name.clone(), BoundSecret { value, hosts });
                }
                None => missing.push(MissingSecret {
                    name: name.clone(),
                    env: reference.env.clone(),
                }),
            }
        }
        (Self { secrets }, missing)
    }

    /// A set built from values in hand, for tests and tools.
    pub fn from_values<'a>(
        values: impl IntoIterator<Item = (&'a str, Secret, Vec<HostPattern>)>,
    ) -> Self {
        let secrets = values
            .into_iter()
            .map(|(name, value, hosts)| (name.to_owned(), BoundSecret { value, hosts }))
            .collect();
        Self { secrets }
    }

    /// The secret called `name`.
    pub fn get(&self, name: &str) -> Option<&BoundSecret> {
        self.secrets.get(name)
    }

    /// Names of secrets whose values are the demo's.
    pub fn demo_names(&self) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .filter(|(_, s)| s.value.is_demo())
            .map(|(n, _)| n.as_str())
    }

    /// Every value, so tests and log scrubbing can check none leaked.
    pub fn values(&self) -> impl Iterator<Item = &Secret> {
        self.secrets.values().map(|s| &s.value)
    }
}

/// Reads a secret from the environment; an empty value counts as missing.
pub fn read_env(var: &str) -> Option<Secret> {
    let value = std::env::var_os(var)?;
    let bytes = value.into_encoded_bytes();
    (!bytes.is_empty()).then(|| Secret::new(bytes))
}

impl CallState {
    fn secret(&self, name: &str) -> Result<&BoundSecret, secrets::Error> {
        let found = self.binding.as_ref().and_then(|b| b.secrets.get(name));
        found.ok_or_else(|| secrets::Error::NotFound(name.to_owned()))
    }
}

impl secrets::Host for CallState {
    async fn has(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.secret(&name).is_ok())
    }

    async fn hmac_sha256(
        &mut self,
        name: String,
        message: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, secrets::Error>> {
        Ok(self.secret(&name).map(|s| s.value.hmac_sha256(&message)))
    }

    async fn verify_hmac_sha256(
        &mut self,
        name: String,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<bool, secrets::Error>> {
        Ok(self
            .secret(&name)
            .map(|s| s.value.verify_hmac_sha256(&message, &signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_value() {
        let secret = Secret::new("whsec_do_not_print");
        assert!(!format!("{secret:?}").contains("do_not_print"));
    }

    #[test]
    fn verifies_its_own_mac_and_refuses_another() {
        let secret = Secret::new("k");
        let mac = secret.hmac_sha256(b"message");
        assert!(secret.verify_hmac_sha256(b"message", &mac));
        assert!(!secret.verify_hmac_sha256(b"messagE", &mac));
        assert!(!secret.verify_hmac_sha256(b"message", &mac[..31]));
    }

    #[test]
    fn recognises_demo_values() {
        assert!(Secret::new("whsec_switchyard_demo").is_demo());
        assert!(!Secret::new("whsec_live_123").is_demo());
    }
}
