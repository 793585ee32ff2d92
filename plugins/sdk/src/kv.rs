//! The plugin's key-value store, scoped by the host to (plugin, tenant),
//! with JSON helpers for typed records.
//!
//! An unreachable store is a retryable failure; a key or value the store
//! refuses (too long, too large) is permanent, since retrying would send the
//! same key again (see `From<HostError> for PluginError`).

use std::collections::VecDeque;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PluginError;
use crate::host::{self, HostError};

/// Keys asked for per page by [`list`]; the host may cap it lower.
const PAGE_SIZE: u32 = 100;

fn failed(operation: &str, key: &str) -> impl FnOnce(HostError) -> PluginError {
    let context = format!("kv {operation} {key}");
    move |e| PluginError::from(e).context(context)
}

/// The bytes under `key`, or none when absent or expired.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, PluginError> {
    host::kv_get(key).map_err(failed("get", key))
}

/// Stores `value` under `key`, expiring after `ttl_seconds` when given.
pub fn set(key: &str, value: &[u8], ttl_seconds: Option<u64>) -> Result<(), PluginError> {
    host::kv_set(key, value, ttl_seconds).map_err(failed("set", key))
}

/// The JSON value under `key`, decoded as `T`. A stored value that no longer
/// decodes is a permanent error naming the key.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, PluginError> {
    let Some(bytes) = get(key)? else {
        return Ok(None);
    };
    let value = serde_json::from_slice(&bytes).map_err(|e| {
        PluginError::permanent(format!("kv value under {key} does not decode: {e}"))
    })?;
    Ok(Some(value))
}

/// Stores `value` as JSON under `key`, expiring after `ttl_seconds` when
/// given.
pub fn set_json<T: Serialize + ?Sized>(
    key: &str,
    value: &T,
    ttl_seconds: Option<u64>,
) -> Result<(), PluginError> {
    set(key, &to_json(key, value)?, ttl_seconds)
}

/// `value` encoded as the JSON bytes [`set_json`] would store, for use with
/// [`compare_and_swap`].
pub fn to_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, PluginError> {
    serde_json::to_vec(value)
        .map_err(|e| PluginError::permanent(format!("encoding kv value for {key}: {e}")))
}

/// Removes `key`; true when it existed.
pub fn delete(key: &str) -> Result<bool, PluginError> {
    host::kv_delete(key).map_err(failed("delete", key))
}

/// Writes `new` (or deletes when none) only if the current value equals
/// `expected` (none meaning absent); true when it wrote. The building block
/// for read-modify-write without lost updates.
pub fn compare_and_swap(
    key: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Result<bool, PluginError> {
    host::kv_compare_and_swap(key, expected, new).map_err(failed("compare-and-swap", key))
}

/// Adds `delta` to the counter under `key` (absent counts as zero) and
/// returns the new value, atomically.
pub fn increment(key: &str, delta: i64) -> Result<i64, PluginError> {
    host::kv_increment(key, delta).map_err(failed("increment", key))
}

/// Every key starting with `prefix`, in order, fetched a page at a time as
/// the iterator is read. A failure is yielded once and ends the iteration.
pub fn list(prefix: &str) -> Keys {
    Keys {
        prefix: prefix.to_owned(),
        cursor: None,
        buffer: VecDeque::new(),
        done: false,
    }
}

/// The iterator [`list`] returns.
#[derive(Debug)]
pub struct Keys {
    prefix: String,
    cursor: Option<String>,
    buffer: VecDeque<String>,
    done: bool,
}

impl Keys {
    fn fetch_page(&mut self) -> Result<(), PluginError> {
        let page = host::kv_list(&self.prefix, self.cursor.as_deref(), PAGE_SIZE)
            .map_err(failed("list", &self.prefix))?;
        // A cursor that does not move would loop for ever; treat it as the end.
        self.done = page.cursor.is_none() || page.cursor == self.cursor;
        self.cursor = page.cursor;
        self.buffer.extend(page.keys);
        Ok(())
    }
}

impl Iterator for Keys {
    type Item = Result<String, PluginError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffer.is_empty() && !self.done {
            if let Err(error) = self.fetch_page() {
                self.done = true;
                return Some(Err(error));
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestHost;

    #[test]
    fn round_trips_json_records() {
        let _host = TestHost::install();
        set_json("a", &vec![1, 2, 3], None).unwrap();
        assert_eq!(get_json::<Vec<u8>>("a").unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(get_json::<Vec<u8>>("b").unwrap(), None);
    }

    #[test]
    fn undecodable_value_is_a_permanent_error_naming_the_key() {
        let host = TestHost::install();
        host.kv_put("k", b"not json");
        let error = get_json::<u32>("k").unwrap_err();
        assert!(matches!(&error, PluginError::Permanent(m) if m.contains("under k")));
    }

    #[test]
    fn lists_every_page_in_order() {
        let host = TestHost::install();
        for i in 0..250 {
            host.kv_put(&format!("p/{i:03}"), b"1");
        }
        host.kv_put("q/0", b"1");
        let keys: Vec<String> = list("p/").collect::<Result<_, _>>().unwrap();
        assert_eq!(keys.len(), 250);
        assert_eq!(keys.first().map(String::as_str), Some("p/000"));
        assert_eq!(keys.last().map(String::as_str), Some("p/249"));
    }

    #[test]
    fn compare_and_swap_writes_only_over_the_expected_value() {
        let _host = TestHost::install();
        assert!(compare_and_swap("k", None, Some(b"1")).unwrap());
        assert!(!compare_and_swap("k", None, Some(b"2")).unwrap());
        assert!(compare_and_swap("k", Some(b"1"), Some(b"2")).unwrap());
        assert_eq!(get("k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(increment("n", 5).unwrap(), 5);
        assert_eq!(increment("n", -2).unwrap(), 3);
    }

    #[test]
    fn an_unavailable_store_is_retryable() {
        let host = TestHost::install();
        host.kv_unavailable(true);
        assert!(get("k").unwrap_err().is_retryable());
        let mut keys = list("p/");
        assert!(keys.next().is_some_and(|r| r.is_err()));
        assert!(keys.next().is_none());
    }
}
