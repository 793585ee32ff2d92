//! `kv`: the plugin's key-value data for the calling tenant. The scope comes
//! from the call, so a plugin can only ever name its own tenant's keys.
//!
//! While a delivery is processed the operations go to the attempt's
//! [`DeliveryTxn`](crate::store::DeliveryTxn), which commits them together
//! with the delivery's success; other calls write straight to the store.

use crate::runtime::bindings::kv::{self, Error, Page};
use crate::runtime::state::CallState;
use crate::store::{KV_LIST_MAX, KvError, KvScope};

impl CallState {
    fn kv_scope(&self) -> Result<KvScope, Error> {
        let binding = self
            .binding
            .as_ref()
            .ok_or_else(|| Error::Invalid("no tenant".into()))?;
        Ok(KvScope {
            plugin: binding.plugin.clone(),
            tenant: binding.tenant.clone(),
        })
    }

    fn kv_now(&self) -> i64 {
        i64::try_from(self.host.clock.now_ms()).unwrap_or(i64::MAX)
    }

    fn kv_error(&self, err: KvError) -> Error {
        match err {
            KvError::Invalid(message) => Error::Invalid(message),
            KvError::Store(err) => {
                // The guest gets a short stable text; the detail stays here.
                tracing::warn!(
                    plugin = %self.plugin, tenant = self.tenant(), call_id = %self.call_id,
                    error = %err, "kv store failed"
                );
                Error::Unavailable("store unavailable".into())
            }
        }
    }
}

impl kv::Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let scope = match self.kv_scope() {
            Ok(scope) => scope,
            Err(err) => return Ok(Err(err)),
        };
        let (store, now) = (&self.host.store, self.kv_now());
        let found = match &self.txn {
            Some(txn) => txn.get(store, &key, now).await,
            None => store.kv_get(&scope, &key, now).await,
        };
        Ok(found.map_err(|err| self.kv_error(err)))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u64>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let scope = match self.kv_scope() {
            Ok(scope) => scope,
            Err(err) => return Ok(Err(err)),
        };
        let ttl_ms = ttl_seconds.map(|s| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX));
        let expires = ttl_ms.map(|ttl| self.kv_now().saturating_add(ttl));
        let done = match &mut self.txn {
            Some(txn) => txn.set(&key, value, expires),
            None => self.host.store.kv_set(&scope, &key, &value, expires).await,
        };
        Ok(done.map_err(|err| self.kv_error(err)))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, Error>> {
        let scope = match self.kv_scope() {
            Ok(scope) => scope,
            Err(err) => return Ok(Err(err)),
        };
        let now = self.kv_now();
        let done = match &mut self.txn {
            Some(txn) => txn.delete(&self.host.store, &key, now).await,
            None => self.host.store.kv_delete(&scope, &key, now).await,
        };
        Ok(done.map_err(|err| self.kv_error(err)))
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Page, Error>> {
        let scope = match self.kv_scope() {
            Ok(scope) => scope,
            Err(err) => return Ok(Err(err)),
        };
        let now = self.kv_now();
        let listed = self
            .host
            .store
            .kv_list(&scope, &prefix, cursor.as_deref(), limit, now)
            .await;
        let listed = listed.map(|(keys, more)| match &self.txn {
            Some(txn) => {
                let limit = limit.clamp(1, KV_LIST_MAX) as usize;
                txn.merge_page(keys, more, &prefix, cursor.as_deref(), limit, now)
            }
            None => (keys, more),
        });
        Ok(listed
            .map_err(|err| self.kv_error(err))
            .map(|(keys, more)| {
                // The cursor is the last key: listing resumes strictly after it.
                let cursor = if more { keys.last().cloned() } else { None };
                Page { keys, cursor }
            }))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let scope = match self.kv_scope() {
            Ok(scope) => scope,
            Err(err) => return Ok(Err(err)),
        };
        let (store, now) = (&self.host.store, self.kv_now());
        let swapped = match &mut self.txn {
            Some(txn) => {
                txn.compare_and_swap(store, &key, expected.as_deref(), new, now)
                    .await
            }
            None => {
                store
                    .kv_compare_and_swap(&scope, &key, expected.as_deref(), new.as_deref(), now)
                    .await
            }
        };
        Ok(swapped.map_err(|err| self.kv_error(err)))
    }

    async fn increment(&mut self, key: String, delta: i64) -> wasmtime::Result<Result<i64, Error>> {
        let scope = match self.kv_scope() {
            Ok(scope) => scope,
            Err(err) => return Ok(Err(err)),
        };
        let (store, now) = (&self.host.store, self.kv_now());
        let value = match &mut self.txn {
            Some(txn) => txn.increment(store, &key, delta, now).await,
            None => store.kv_increment(&scope, &key, delta, now).await,
        };
        Ok(value.map_err(|err| self.kv_error(err)))
    }
}
