//! The kv writes and events of one delivery attempt, held back until the
//! attempt succeeds and then committed in the same transaction that marks
//! the delivery done.
//!
//! This is what makes "processed exactly once" hold for a plugin's own
//! state: a host killed mid-attempt, an attempt that fails, or a worker
//! whose lease ran out leaves no trace in kv. Reads see the attempt's own
//! writes. Compare-and-swap and increment are optimistic: the value they
//! were based on is checked again at commit, and if another call changed it
//! meanwhile the attempt is retried instead of committed.

use std::collections::BTreeMap;

use sqlx::SqliteConnection;

use super::deliveries::{NewDelivery, insert_one};
use super::kv::{check_key, check_value, live_value, parse_counter, write_value};
use super::{KvError, KvScope, Store};

/// A value written by the attempt: bytes and expiry, or none for deleted.
type Written = Option<(Vec<u8>, Option<i64>)>;

/// The pending effects of one attempt.
#[derive(Debug)]
pub struct DeliveryTxn {
    scope: KvScope,
    writes: BTreeMap<String, Written>,
    /// Stored values that a write was based on, as first read.
    basis: BTreeMap<String, Option<Vec<u8>>>,
    events: Vec<NewDelivery>,
}

impl DeliveryTxn {
    /// An empty transaction for the kv of `scope`.
    pub fn new(scope: KvScope) -> Self {
        Self {
            scope,
            writes: BTreeMap::new(),
            basis: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// The live value of `key` as this attempt sees it.
    pub async fn get(
        &self,
        store: &Store,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        match self.writes.get(key) {
            Some(written) => Ok(live(written, now_ms)),
            None => store.kv_get(&self.scope, key, now_ms).await,
        }
    }

    /// Writes `value`, expiring at `expires_at_ms` when given.
    pub fn set(
        &mut self,
        key: &str,
        value: Vec<u8>,
        expires_at_ms: Option<i64>,
    ) -> Result<(), KvError> {
        check_key(key)?;
        check_value(&value)?;
        self.writes
            .insert(key.to_owned(), Some((value, expires_at_ms)));
        Ok(())
    }

    /// Deletes `key`; true when a live value was there.
    pub async fn delete(&mut self, store: &Store, key: &str, now_ms: i64) -> Result<bool, KvError> {
        let existed = self.get(store, key, now_ms).await?.is_some();
        self.writes.insert(key.to_owned(), None);
        Ok(existed)
    }

    /// Writes `new` when the current value equals `expected`.
    pub async fn compare_and_swap(
        &mut self,
        store: &Store,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        now_ms: i64,
    ) -> Result<bool, KvError> {
        if let Some(value) = &new {
            check_value(value)?;
        }
        let current = self.read_for_write(store, key, now_ms).await?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        self.writes.insert(key.to_owned(), new.map(|v| (v, None)));
        Ok(true)
    }

    /// Adds `delta` to the counter under `key`.
    pub async fn increment(
        &mut self,
        store: &Store,
        key: &str,
        delta: i64,
        now_ms: i64,
    ) -> Result<i64, KvError> {
        let current = self.read_for_write(store, key, now_ms).await?;
        let next = parse_counter(current.as_deref())
            .and_then(|n| n.checked_add(delta))
            .ok_or_else(|| KvError::Invalid(format!("{key} does not hold a counter in range")))?;
        let bytes = next.to_string().into_bytes();
        self.writes.insert(key.to_owned(), Some((bytes, None)));
        Ok(next)
    }

    /// Adjusts one page of stored keys (those after `after`, with `more`
    /// telling whether the store had more) for this attempt's writes.
    pub fn merge_page(
        &self,
        stored: Vec<String>,
        more: bool,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> (Vec<String>, bool) {
        let after = after.unwrap_or("");
        // Beyond the last stored key the store's next page decides.
        let bound = if more { stored.last().cloned() } else { None };
        let mut keys: std::collections::BTreeSet<String> = stored
            .into_iter()
            .filter(|k| !self.writes.contains_key(k))
            .collect();
        for (key, written) in &self.writes {
            let in_range = key.starts_with(prefix)
                && key.as_str() > after
                && bound.as_ref().is_none_or(|b| key <= b);
            if in_range && live(written, now_ms).is_some() {
                keys.insert(key.clone());
            }
        }
        let more = more || keys.len() > limit;
        (keys.into_iter().take(limit).collect(), more)
    }

    /// True when the attempt emitted events, which the dispatcher should
    /// look for once they are committed.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Holds `events` back until the attempt commits.
    pub fn emit(&mut self, events: Vec<NewDelivery>) {
        self.events.extend(events);
    }

    async fn read_for_write(
        &mut self,
        store: &Store,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        if let Some(written) = self.writes.get(key) {
            return Ok(live(written, now_ms));
        }
        let stored = store.kv_get(&self.scope, key, now_ms).await?;
        self.basis
            .entry(key.to_owned())
            .or_insert_with(|| stored.clone());
        Ok(stored)
    }

    /// True when every value a write was based on is still the stored one.
    pub(super) async fn still_valid(
        &self,
        conn: &mut SqliteConnection,
        now_ms: i64,
    ) -> sqlx::Result<bool> {
        for (key, seen) in &self.basis {
            if live_value(&mut *conn, &self.scope, key, now_ms).await? != *seen {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Applies the writes and stores the events, inside the caller's
    /// transaction.
    pub(super) async fn apply(&self, conn: &mut SqliteConnection) -> sqlx::Result<()> {
        for (key, written) in &self.writes {
            let value = written
                .as_ref()
                .map(|(v, expires)| (v.as_slice(), *expires));
            write_value(conn, &self.scope, key, value).await?;
        }
        for event in &self.events {
            insert_one(conn, event).await?;
        }
        Ok(())
    }
}

fn live(written: &Written, now_ms: i64) -> Option<Vec<u8>> {
    match written {
        Some((value, expires)) if expires.is_none_or(|at| at > now_ms) => Some(value.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> KvScope {
        KvScope {
            plugin: "p".into(),
            tenant: "t".into(),
        }
    }

    #[tokio::test]
    async fn reads_see_the_attempts_own_writes_and_nothing_is_stored_early() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let mut txn = DeliveryTxn::new(scope());
        assert_eq!(txn.increment(&store, "n", 2, 0).await.expect("incr"), 2);
        assert_eq!(txn.increment(&store, "n", 3, 0).await.expect("incr"), 5);
        assert_eq!(
            txn.get(&store, "n", 0).await.expect("get"),
            Some(b"5".to_vec())
        );
        assert_eq!(store.kv_get(&scope(), "n", 0).await.expect("get"), None);
    }

    #[tokio::test]
    async fn a_changed_basis_invalidates_the_attempt() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let mut txn = DeliveryTxn::new(scope());
        txn.increment(&store, "n", 1, 0).await.expect("incr");
        store
            .kv_increment(&scope(), "n", 10, 0)
            .await
            .expect("other call");
        let mut conn = store.pool.acquire().await.expect("conn");
        assert!(!txn.still_valid(&mut conn, 0).await.expect("check"));
    }

    #[test]
    fn pages_include_written_keys_and_drop_deleted_ones() {
        let mut txn = DeliveryTxn::new(scope());
        txn.set("a/2", b"x".to_vec(), None).expect("set");
        txn.writes.insert("a/3".into(), None);
        txn.set("a/9", b"x".to_vec(), None).expect("set");
        let stored = vec!["a/1".to_owned(), "a/3".to_owned(), "a/5".to_owned()];
        let (keys, more) = txn.merge_page(stored, true, "a/", None, 10, 0);
        assert_eq!(keys, ["a/1", "a/2", "a/5"]);
        assert!(more);
    }
}
