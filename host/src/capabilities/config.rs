//! `config`: the tenant's plain settings for the calling plugin. Secrets live
//! in another table and are never returned here.

use crate::runtime::bindings::config;
use crate::runtime::state::CallState;

impl config::Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let binding = self.binding.as_ref();
        Ok(binding.and_then(|b| b.settings.config.get(&key).cloned()))
    }

    async fn all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        let Some(binding) = &self.binding else {
            return Ok(Vec::new());
        };
        Ok(binding
            .settings
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
