//! An in-memory host for native unit tests of plugins and of the SDK.
//!
//! Off wasm, every SDK capability call lands here instead of on the WIT
//! imports. Each test thread has its own host: [`TestHost::install`] resets
//! it, then the test sets config, secrets, the clock and an HTTP responder,
//! calls plugin code, and inspects requests, kv, logs, metrics and events.
//!
//! ```ignore
//! let host = TestHost::install();
//! host.config("medusa_url", "https://medusa.test").secret("medusa_api_key", b"sk_1");
//! host.on_http(|req| Ok(Response::json_value(200, &json!({"vendors": []}))));
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::http::{HttpError, Request, Response};
use crate::log::Level;

/// What the HTTP responder of a test does with each request.
type Responder = Box<dyn FnMut(&Request) -> Result<Response, HttpError>>;

/// One log line a plugin emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its severity.
    pub level: Level,
    /// Its message.
    pub message: String,
    /// Its fields.
    pub fields: Vec<(String, String)>,
}

/// One metric observation a plugin made.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// The metric's name.
    pub name: String,
    /// The value added, set or observed.
    pub value: f64,
    /// Its labels.
    pub labels: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    now_ms: u64,
    config: BTreeMap<String, String>,
    secrets: HashMap<String, Vec<u8>>,
    kv: BTreeMap<String, (Vec<u8>, Option<u64>)>,
    kv_unavailable: bool,
    responder: Option<Responder>,
    requests: Vec<Request>,
    logs: Vec<LogLine>,
    metrics: Vec<MetricPoint>,
    events: Vec<(String, String)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    STATE.with(|state| f(&mut state.borrow_mut()))
}

/// A handle on this thread's in-memory host.
#[derive(Debug, Clone, Copy)]
pub struct TestHost(());

impl TestHost {
    /// Resets this thread's host to empty: no config, secrets, kv or
    /// responder, and the clock at 2026-01-01T00:00:00Z.
    pub fn install() -> Self {
        with(|s| {
            *s = State {
                now_ms: 1_767_225_600_000,
                ..State::default()
            }
        });
        Self(())
    }

    /// Sets a plain setting.
    pub fn config(&self, key: &str, value: &str) -> &Self {
        with(|s| s.config.insert(key.to_owned(), value.to_owned()));
        self
    }

    /// Configures a secret; its value is only used to compute HMACs.
    pub fn secret(&self, name: &str, value: &[u8]) -> &Self {
        with(|s| s.secrets.insert(name.to_owned(), value.to_vec()));
        self
    }

    /// Fixes the clock.
    pub fn set_now_ms(&self, now_ms: u64) -> &Self {
        with(|s| s.now_ms = now_ms);
        self
    }

    /// The clock's current reading (sleeps advance it).
    pub fn now_ms(&self) -> u64 {
        with(|s| s.now_ms)
    }

    /// Answers every outbound request with `responder`; without one,
    /// requests fail to connect.
    pub fn on_http(
        &self,
        responder: impl FnMut(&Request) -> Result<Response, HttpError> + 'static,
    ) {
        with(|s| s.responder = Some(Box::new(responder)));
    }

    /// Every request sent so far, in order, with the timeout and credential
    /// the host would have seen.
    pub fn requests(&self) -> Vec<Request> {
        with(|s| s.requests.clone())
    }

    /// Stores a raw kv value, as if written earlier.
    pub fn kv_put(&self, key: &str, value: &[u8]) {
        with(|s| s.kv.insert(key.to_owned(), (value.to_vec(), None)));
    }

    /// The raw kv value under `key`.
    pub fn kv_value(&self, key: &str) -> Option<Vec<u8>> {
        backend::kv_get(key).ok().flatten()
    }

    /// Makes every kv call fail as unavailable (or work again).
    pub fn kv_unavailable(&self, unavailable: bool) {
        with(|s| s.kv_unavailable = unavailable);
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<LogLine> {
        with(|s| s.logs.clone())
    }

    /// Every metric observation so far.
    pub fn metrics(&self) -> Vec<MetricPoint> {
        with(|s| s.metrics.clone())
    }

    /// The sum of everything added to counter `name` with all of `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let has = |p: &MetricPoint| {
            labels
                .iter()
                .all(|(k, v)| p.labels.iter().any(|l| l.0 == *k && l.1 == *v))
        };
        let points = self
            .metrics()
            .into_iter()
            .filter(|p| p.kind == "counter" && p.name == name);
        points.filter(has).map(|p| p.value as u64).sum()
    }

    /// Every event emitted so far, as (name, JSON data).
    pub fn events(&self) -> Vec<(String, String)> {
        with(|s| s.events.clone())
    }
}

/// HMAC-SHA256 of `message` under `key`, as the real host computes it, for
/// tests that sign webhooks.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; this arm is never reached.
        Err(_) => Vec::new(),
    }
}

/// The capability calls, with the same signatures as the wasm backend in
/// `host.rs`.
pub(crate) mod backend {
    use super::{LogLine, MetricPoint, hmac_sha256, with};
    use crate::host::{HostError, HostResult, MetricKind, Page};
    use crate::http::{HttpError, Request, Response};
    use crate::log::Level;

    pub(crate) fn fetch(request: &Request) -> Result<Response, HttpError> {
        with(|s| s.requests.push(request.clone()));
        // The responder runs outside the borrow so it may use the SDK too.
        let responder = with(|s| s.responder.take());
        let Some(mut responder) = responder else {
            return Err(HttpError::Connect(
                "the test host has no HTTP responder".into(),
            ));
        };
        let answer = responder(request);
        with(|s| s.responder = Some(responder));
        answer
    }

    fn kv<T>(f: impl FnOnce(&mut super::State) -> T) -> HostResult<T> {
        with(|s| {
            if s.kv_unavailable {
                return Err(HostError::Unavailable(
                    "the test host's store is down".into(),
                ));
            }
            let now = s.now_ms;
            s.kv.retain(|_, (_, expires)| expires.is_none_or(|e| e > now));
            Ok(f(s))
        })
    }

    pub(crate) fn kv_get(key: &str) -> HostResult<Option<Vec<u8>>> {
        kv(|s| s.kv.get(key).map(|(v, _)| v.clone()))
    }

    pub(crate) fn kv_set(key: &str, value: &[u8], ttl_seconds: Option<u64>) -> HostResult<()> {
        kv(|s| {
            let expires = ttl_seconds.map(|ttl| s.now_ms.saturating_add(ttl.saturating_mul(1000)));
            s.kv.insert(key.to_owned(), (value.to_vec(), expires));
        })
    }

    pub(crate) fn kv_delete(key: &str) -> HostResult<bool> {
        kv(|s| s.kv.remove(key).is_some())
    }

    pub(crate) fn kv_list(prefix: &str, cursor: Option<&str>, limit: u32) -> HostResult<Page> {
        kv(|s| {
            let after = |k: &&String| cursor.is_none_or(|c| k.as_str() > c);
            let keys: Vec<String> =
                s.kv.keys()
                    .filter(|k| k.starts_with(prefix))
                    .filter(after)
                    .take(limit as usize + 1)
                    .cloned()
                    .collect();
            let more = keys.len() > limit as usize;
            let keys: Vec<String> = keys.into_iter().take(limit as usize).collect();
            let cursor = if more { keys.last().cloned() } else { None };
            Page { keys, cursor }
        })
    }

    pub(crate) fn kv_compare_and_swap(
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> HostResult<bool> {
        kv(|s| {
            if s.kv.get(key).map(|(v, _)| v.as_slice()) != expected {
                return false;
            }
            match new {
                Some(value) => s.kv.insert(key.to_owned(), (value.to_vec(), None)),
                None => s.kv.remove(key),
            };
            true
        })
    }

    pub(crate) fn kv_increment(key: &str, delta: i64) -> HostResult<i64> {
        let current = kv_get(key)?;
        let text = current.map(|v| String::from_utf8_lossy(&v).into_owned());
        let value = text
            .map_or(Ok(0), |t| t.parse::<i64>())
            .map_err(|_| HostError::Invalid(format!("{key} does not hold a counter")))?;
        let next = value.saturating_add(delta);
        kv_set(key, next.to_string().as_bytes(), None)?;
        Ok(next)
    }

    pub(crate) fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let line = LogLine {
            level,
            message: message.to_owned(),
            fields,
        };
        with(|s| s.logs.push(line));
    }

    pub(crate) fn metric(kind: MetricKind, name: &str, labels: &[(&str, &str)]) {
        let (kind, value) = match kind {
            MetricKind::Counter(v) => ("counter", v as f64),
            MetricKind::Gauge(v) => ("gauge", v),
            MetricKind::Histogram(v) => ("histogram", v),
        };
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        with(|s| {
            s.metrics.push(MetricPoint {
                kind,
                name: name.to_owned(),
                value,
                labels,
            })
        });
    }

    pub(crate) fn now_ms() -> u64 {
        with(|s| s.now_ms)
    }

    /// Advances the fake clock instead of waiting, so retry tests are quick
    /// and see the time pass.
    pub(crate) fn sleep_ms(ms: u64) {
        with(|s| s.now_ms = s.now_ms.saturating_add(ms));
    }

    pub(crate) fn config_get(key: &str) -> Option<String> {
        with(|s| s.config.get(key).cloned())
    }

    pub(crate) fn config_all() -> Vec<(String, String)> {
        with(|s| {
            s.config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    pub(crate) fn secret_has(name: &str) -> bool {
        with(|s| s.secrets.contains_key(name))
    }

    pub(crate) fn secret_hmac_sha256(name: &str, message: &[u8]) -> HostResult<Vec<u8>> {
        let key = with(|s| s.secrets.get(name).cloned());
        let key = key.ok_or_else(|| HostError::NotFound(name.to_owned()))?;
        Ok(hmac_sha256(&key, message))
    }

    pub(crate) fn secret_verify_hmac_sha256(
        name: &str,
        msg: &[u8],
        sig: &[u8],
    ) -> HostResult<bool> {
        Ok(secret_hmac_sha256(name, msg)? == sig)
    }

    pub(crate) fn emit(name: &str, data: &str) -> HostResult<()> {
        if name.is_empty() || serde_json::from_str::<serde_json::Value>(data).is_err() {
            return Err(HostError::Invalid("empty name or data not JSON".into()));
        }
        with(|s| s.events.push((name.to_owned(), data.to_owned())));
        Ok(())
    }
}
