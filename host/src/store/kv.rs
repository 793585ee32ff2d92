//! Plugin key-value data. Every query is scoped by (plugin, tenant), which
//! the host sets from the call and the plugin cannot name.

use sqlx::{Row, SqliteConnection};

use super::Store;

/// Longest key accepted: keys are identifiers, not data.
pub const KV_MAX_KEY_BYTES: usize = 512;

/// Largest value accepted; bigger state belongs upstream, not in the host.
pub const KV_MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Most keys one `list` page returns, whatever the plugin asks.
pub const KV_LIST_MAX: u32 = 1000;

/// The (plugin, tenant) a kv operation is confined to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvScope {
    /// Plugin name.
    pub plugin: String,
    /// Tenant name.
    pub tenant: String,
}

/// Why a kv operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The key, value or stored data breaks the rules.
    #[error("{0}")]
    Invalid(String),
    /// The database failed; worth retrying.
    #[error("store unavailable: {0}")]
    Store(#[from] sqlx::Error),
}

pub(super) fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > KV_MAX_KEY_BYTES {
        return Err(KvError::Invalid(format!(
            "keys must be 1 to {KV_MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

pub(super) fn check_value(value: &[u8]) -> Result<(), KvError> {
    if value.len() > KV_MAX_VALUE_BYTES {
        return Err(KvError::Invalid(format!(
            "values must be at most {KV_MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

const LIVE: &str = "(expires_at IS NULL OR expires_at > ?)";

impl Store {
    /// The live value under `key`.
    pub async fn kv_get(
        &self,
        scope: &KvScope,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        Ok(live_value(&self.pool, scope, key, now_ms).await?)
    }

    /// Writes `value`, expiring at `expires_at_ms` when given.
    pub async fn kv_set(
        &self,
        scope: &KvScope,
        key: &str,
        value: &[u8],
        expires_at_ms: Option<i64>,
    ) -> Result<(), KvError> {
        check_key(key)?;
        check_value(value)?;
        sqlx::query(
            "INSERT INTO kv (plugin, tenant, key, value, expires_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (plugin, tenant, key)
             DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
        )
        .bind(&scope.plugin)
        .bind(&scope.tenant)
        .bind(key)
        .bind(value)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes `key`; true when a live value was there.
    pub async fn kv_delete(
        &self,
        scope: &KvScope,
        key: &str,
        now_ms: i64,
    ) -> Result<bool, KvError> {
        check_key(key)?;
        let sql = format!("DELETE FROM kv WHERE plugin = ? AND tenant = ? AND key = ? AND {LIVE}");
        let done = sqlx::query(&sql)
            .bind(&scope.plugin)
            .bind(&scope.tenant)
            .bind(key)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Up to `limit` live keys starting with `prefix` and sorting after
    /// `after`, plus whether more follow.
    pub async fn kv_list(
        &self,
        scope: &KvScope,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        now_ms: i64,
    ) -> Result<(Vec<String>, bool), KvError> {
        let limit = limit.clamp(1, KV_LIST_MAX);
        // substr() compares the prefix literally, where LIKE would treat `%`
        // and `_` in a plugin's prefix as wildcards.
        let sql = format!(
            "SELECT key FROM kv WHERE plugin = ? AND tenant = ? AND substr(key, 1, ?) = ?
             AND key > ? AND {LIVE} ORDER BY key LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(&scope.plugin)
            .bind(&scope.tenant)
            .bind(prefix.chars().count() as i64)
            .bind(prefix)
            .bind(after.unwrap_or(""))
            .bind(now_ms)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut keys: Vec<String> = rows.into_iter().map(|row| row.get(0)).collect();
        let more = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        Ok((keys, more))
    }

    /// Replaces the value only when the live value equals `expected` (none
    /// meaning absent). `new` of none deletes. True when it wrote.
    pub async fn kv_compare_and_swap(
        &self,
        scope: &KvScope,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<bool, KvError> {
        check_key(key)?;
        if let Some(value) = new {
            check_value(value)?;
        }
        let swapped = self
            .write_txn(async |conn| {
                let current = live_value(&mut *conn, scope, key, now_ms).await?;
                if current.as_deref() != expected {
                    return Ok(false);
                }
                write_value(conn, scope, key, new.map(|v| (v, None))).await?;
                Ok(true)
            })
            .await?;
        Ok(swapped)
    }

    /// Adds `delta` to the counter under `key` and returns the new value.
    pub async fn kv_increment(
        &self,
        scope: &KvScope,
        key: &str,
        delta: i64,
        now_ms: i64,
    ) -> Result<i64, KvError> {
        check_key(key)?;
        let outcome = self
            .write_txn(async |conn| {
                let current = live_value(&mut *conn, scope, key, now_ms).await?;
                let Some(next) =
                    parse_counter(current.as_deref()).and_then(|n| n.checked_add(delta))
                else {
                    return Ok(None);
                };
                let text = next.to_string();
                write_value(conn, scope, key, Some((text.as_bytes(), None))).await?;
                Ok(Some(next))
            })
            .await?;
        outcome.ok_or_else(|| KvError::Invalid(format!("{key} does not hold a counter in range")))
    }

    /// Removes expired keys; returns how many.
    pub async fn kv_sweep(&self, now_ms: i64) -> Result<u64, KvError> {
        let done = sqlx::query("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

pub(super) fn parse_counter(value: Option<&[u8]>) -> Option<i64> {
    match value {
        None => Some(0),
        Some(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
    }
}

pub(super) async fn live_value(
    conn: impl sqlx::SqliteExecutor<'_>,
    scope: &KvScope,
    key: &str,
    now_ms: i64,
) -> sqlx::Result<Option<Vec<u8>>> {
    let sql =
        format!("SELECT value FROM kv WHERE plugin = ? AND tenant = ? AND key = ? AND {LIVE}");
    let row = sqlx::query(&sql)
        .bind(&scope.plugin)
        .bind(&scope.tenant)
        .bind(key)
        .bind(now_ms)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Stores `value` under `key` (with its expiry time, if any) or, for
/// none, deletes the key.
pub(super) async fn write_value(
    conn: &mut SqliteConnection,
    scope: &KvScope,
    key: &str,
    value: Option<(&[u8], Option<i64>)>,
) -> sqlx::Result<()> {
    let query = match value {
        Some((value, expires_at)) => sqlx::query(
            "INSERT INTO kv (plugin, tenant, key, value, expires_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (plugin, tenant, key)
             DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
        )
        .bind(&scope.plugin)
        .bind(&scope.tenant)
        .bind(key)
        .bind(value)
        .bind(expires_at),
        None => sqlx::query("DELETE FROM kv WHERE plugin = ? AND tenant = ? AND key = ?")
            .bind(&scope.plugin)
            .bind(&scope.tenant)
            .bind(key),
    };
    query.execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> Store {
        Store::open("sqlite::memory:")
            .await
            .expect("in-memory store")
    }

    fn scope(plugin: &str, tenant: &str) -> KvScope {
        KvScope {
            plugin: plugin.into(),
            tenant: tenant.into(),
        }
    }

    #[tokio::test]
    async fn tenants_never_see_each_others_keys() {
        let store = store().await;
        let (a, b) = (scope("p", "a"), scope("p", "b"));
        store.kv_set(&a, "k", b"secret-a", None).await.expect("set");
        assert_eq!(store.kv_get(&b, "k", 0).await.expect("get"), None);
        assert_eq!(
            store.kv_get(&scope("q", "a"), "k", 0).await.expect("get"),
            None
        );
        assert!(!store.kv_delete(&b, "k", 0).await.expect("delete"));
        assert_eq!(
            store.kv_get(&a, "k", 0).await.expect("get").as_deref(),
            Some(&b"secret-a"[..])
        );
    }

    #[tokio::test]
    async fn expired_values_are_gone() {
        let store = store().await;
        let s = scope("p", "t");
        store.kv_set(&s, "k", b"v", Some(1_000)).await.expect("set");
        assert!(store.kv_get(&s, "k", 999).await.expect("get").is_some());
        assert!(store.kv_get(&s, "k", 1_000).await.expect("get").is_none());
        assert_eq!(store.kv_sweep(1_000).await.expect("sweep"), 1);
    }

    #[tokio::test]
    async fn lists_by_literal_prefix_in_pages() {
        let store = store().await;
        let s = scope("p", "t");
        for key in ["a%1", "a%2", "a%3", "ab", "b"] {
            store.kv_set(&s, key, b"1", None).await.expect("set");
        }
        let (page, more) = store.kv_list(&s, "a%", None, 2, 0).await.expect("list");
        assert_eq!(page, ["a%1", "a%2"]);
        assert!(more);
        let (page, more) = store
            .kv_list(&s, "a%", Some("a%2"), 2, 0)
            .await
            .expect("list");
        assert_eq!(page, ["a%3"]);
        assert!(!more);
    }

    #[tokio::test]
    async fn compare_and_swap_writes_only_on_a_match() {
        let store = store().await;
        let s = scope("p", "t");
        assert!(
            store
                .kv_compare_and_swap(&s, "k", None, Some(b"1"), 0)
                .await
                .expect("cas")
        );
        assert!(
            !store
                .kv_compare_and_swap(&s, "k", None, Some(b"2"), 0)
                .await
                .expect("cas")
        );
        assert!(
            !store
                .kv_compare_and_swap(&s, "k", Some(b"0"), Some(b"2"), 0)
                .await
                .expect("cas")
        );
        assert!(
            store
                .kv_compare_and_swap(&s, "k", Some(b"1"), None, 0)
                .await
                .expect("cas")
        );
        assert_eq!(store.kv_get(&s, "k", 0).await.expect("get"), None);
    }

    #[tokio::test]
    async fn increments_counters_and_refuses_other_values() {
        let store = store().await;
        let s = scope("p", "t");
        assert_eq!(store.kv_increment(&s, "n", 5, 0).await.expect("incr"), 5);
        assert_eq!(store.kv_increment(&s, "n", -7, 0).await.expect("incr"), -2);
        store.kv_set(&s, "text", b"hello", None).await.expect("set");
        assert!(matches!(
            store.kv_increment(&s, "text", 1, 0).await,
            Err(KvError::Invalid(_))
        ));
        store
            .kv_set(&s, "max", i64::MAX.to_string().as_bytes(), None)
            .await
            .expect("set");
        assert!(matches!(
            store.kv_increment(&s, "max", 1, 0).await,
            Err(KvError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn refuses_oversized_keys_and_values() {
        let store = store().await;
        let s = scope("p", "t");
        let long_key = "k".repeat(KV_MAX_KEY_BYTES + 1);
        assert!(matches!(
            store.kv_set(&s, &long_key, b"", None).await,
            Err(KvError::Invalid(_))
        ));
        let big = vec![0; KV_MAX_VALUE_BYTES + 1];
        assert!(matches!(
            store.kv_set(&s, "k", &big, None).await,
            Err(KvError::Invalid(_))
        ));
        assert!(matches!(
            store.kv_get(&s, "", 0).await,
            Err(KvError::Invalid(_))
        ));
    }
}
