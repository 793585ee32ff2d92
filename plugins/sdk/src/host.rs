//! The one seam between the SDK and the host: every capability call goes
//! through a function here.
//!
//! Built for `wasm32`, these functions call the WIT imports. Built for any
//! other target (native unit tests), they call the in-memory host in
//! [`crate::testing`] instead, so a native test binary never reaches the
//! stub bodies wit-bindgen generates for imports off wasm.

/// A failure of a kv, secrets or events call, in the WIT's own kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostError {
    /// The key, value, name or data breaks the host's limits.
    Invalid(String),
    /// The store could not be reached; worth retrying.
    Unavailable(String),
    /// No secret of that name is configured.
    NotFound(String),
}

/// An unreachable store is worth retrying; a refused key or value, or a
/// secret that is not configured, needs a fix or an operator instead.
impl From<HostError> for crate::PluginError {
    fn from(error: HostError) -> Self {
        match error {
            HostError::Unavailable(m) => Self::retryable(format!("store unavailable: {m}")),
            HostError::Invalid(m) => Self::permanent(format!("refused by the host: {m}")),
            HostError::NotFound(m) => Self::permanent(format!("no secret named {m}")),
        }
    }
}

/// One metric observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MetricKind {
    /// Adds to a counter.
    Counter(u64),
    /// Sets a gauge.
    Gauge(f64),
    /// Records one histogram observation.
    Histogram(f64),
}

/// One page of kv keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Page {
    /// The keys, in order.
    pub keys: Vec<String>,
    /// Where the next page starts; none at the end.
    pub cursor: Option<String>,
}

/// What the kv, secrets and events calls of both backends return.
pub(crate) type HostResult<T> = Result<T, HostError>;

#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::*;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::backend::*;

#[cfg(target_arch = "wasm32")]
mod wasm {
    //! The WIT imports, converted from and to the SDK's types.

    use super::{HostError, HostResult, MetricKind, Page};
    use crate::bindings::switchyard::plugin as wit;
    use crate::http::{Credential, HttpError, Method, Request, Response};
    use crate::log::Level;

    pub(crate) fn fetch(request: &Request) -> Result<Response, HttpError> {
        let wit_request = wit::http::Request {
            method: method(request.method()),
            url: request.url(),
            headers: request.headers().to_vec(),
            body: request.body_bytes().map(<[u8]>::to_vec),
            timeout_ms: request.timeout(),
            credential: request.credential_ref().map(credential),
        };
        let response = wit::http::fetch(&wit_request).map_err(http_error)?;
        Ok(Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }

    fn method(method: Method) -> wit::http::Method {
        match method {
            Method::Get => wit::http::Method::Get,
            Method::Head => wit::http::Method::Head,
            Method::Post => wit::http::Method::Post,
            Method::Put => wit::http::Method::Put,
            Method::Patch => wit::http::Method::Patch,
            Method::Delete => wit::http::Method::Delete,
        }
    }

    fn credential(credential: &Credential) -> wit::http::Credential {
        match credential.clone() {
            Credential::Bearer(name) => wit::http::Credential::Bearer(name),
            Credential::Basic { username, password } => {
                wit::http::Credential::Basic(wit::http::BasicCredential { username, password })
            }
            Credential::Header { name, template } => {
                wit::http::Credential::Header(wit::http::HeaderTemplate { name, template })
            }
        }
    }

    fn http_error(error: wit::http::Error) -> HttpError {
        match error {
            wit::http::Error::Denied(m) => HttpError::Denied(m),
            wit::http::Error::Timeout => HttpError::Timeout,
            wit::http::Error::Connect(m) => HttpError::Connect(m),
            wit::http::Error::TooLarge(n) => HttpError::TooLarge(n),
            wit::http::Error::Invalid(m) => HttpError::Invalid(m),
        }
    }

    fn kv_error(error: wit::kv::Error) -> HostError {
        match error {
            wit::kv::Error::Invalid(m) => HostError::Invalid(m),
            wit::kv::Error::Unavailable(m) => HostError::Unavailable(m),
        }
    }

    pub(crate) fn kv_get(key: &str) -> HostResult<Option<Vec<u8>>> {
        wit::kv::get(key).map_err(kv_error)
    }

    pub(crate) fn kv_set(key: &str, value: &[u8], ttl_seconds: Option<u64>) -> HostResult<()> {
        wit::kv::set(key, value, ttl_seconds).map_err(kv_error)
    }

    pub(crate) fn kv_delete(key: &str) -> HostResult<bool> {
        wit::kv::delete(key).map_err(kv_error)
    }

    pub(crate) fn kv_list(prefix: &str, cursor: Option<&str>, limit: u32) -> HostResult<Page> {
        let page = wit::kv::list_keys(prefix, cursor, limit).map_err(kv_error)?;
        Ok(Page {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    pub(crate) fn kv_compare_and_swap(
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> HostResult<bool> {
        wit::kv::compare_and_swap(key, expected, new).map_err(kv_error)
    }

    pub(crate) fn kv_increment(key: &str, delta: i64) -> HostResult<i64> {
        wit::kv::increment(key, delta).map_err(kv_error)
    }

    pub(crate) fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let level = match level {
            Level::Trace => wit::log::Level::Trace,
            Level::Debug => wit::log::Level::Debug,
            Level::Info => wit::log::Level::Info,
            Level::Warn => wit::log::Level::Warn,
            Level::Error => wit::log::Level::Error,
        };
        wit::log::log(level, message, &owned(fields));
    }

    pub(crate) fn metric(kind: MetricKind, name: &str, labels: &[(&str, &str)]) {
        let labels = owned(labels);
        match kind {
            MetricKind::Counter(v) => wit::metrics::counter_add(name, v, &labels),
            MetricKind::Gauge(v) => wit::metrics::gauge_set(name, v, &labels),
            MetricKind::Histogram(v) => wit::metrics::histogram_observe(name, v, &labels),
        }
    }

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    pub(crate) fn now_ms() -> u64 {
        wit::clock::now_ms()
    }

    /// Sleeps through WASI's monotonic clock; the host's deadline still
    /// interrupts a call that sleeps too long.
    pub(crate) fn sleep_ms(ms: u64) {
        std::thread::sleep(core::time::Duration::from_millis(ms));
    }

    pub(crate) fn config_get(key: &str) -> Option<String> {
        wit::config::get(key)
    }

    pub(crate) fn config_all() -> Vec<(String, String)> {
        wit::config::all()
    }

    pub(crate) fn secret_has(name: &str) -> bool {
        wit::secrets::has(name)
    }

    fn secret_error(error: wit::secrets::Error) -> HostError {
        match error {
            wit::secrets::Error::NotFound(m) => HostError::NotFound(m),
        }
    }

    pub(crate) fn secret_hmac_sha256(name: &str, message: &[u8]) -> HostResult<Vec<u8>> {
        wit::secrets::hmac_sha256(name, message).map_err(secret_error)
    }

    pub(crate) fn secret_verify_hmac_sha256(
        name: &str,
        msg: &[u8],
        sig: &[u8],
    ) -> HostResult<bool> {
        wit::secrets::verify_hmac_sha256(name, msg, sig).map_err(secret_error)
    }

    pub(crate) fn emit(name: &str, data: &str) -> HostResult<()> {
        wit::events::emit(name, data).map_err(|error| match error {
            wit::events::Error::Invalid(m) => HostError::Invalid(m),
            wit::events::Error::Unavailable(m) => HostError::Unavailable(m),
        })
    }
}
