//! A small JSON-and-forms HTTP client over the host's `http.fetch`.
//!
//! Credentials are attached by the host from secrets the request names, so
//! no key ever passes through the plugin. Answers are classified the way
//! the host's retry logic needs: 408, 429 and 5xx (and timeouts or failed
//! connections) are retryable, every other 4xx is permanent.

use core::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{Header, find_header};
use crate::{PluginError, clock, host};

/// The longest upstream error message kept in an error, in characters:
/// enough to say what went wrong, too short to carry a whole body.
const MAX_UPSTREAM_MESSAGE: usize = 200;

/// Request methods the host forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// A credential the host builds from secrets named here; their values never
/// enter the plugin, and the host attaches them only for hosts they are
/// bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer <secret>`.
    Bearer(String),
    /// `Authorization: Basic base64(<username secret>:<password secret>)`;
    /// no password secret means an empty password.
    Basic {
        /// The secret used as the user name.
        username: String,
        /// The secret used as the password, if any.
        password: Option<String>,
    },
    /// A header whose value is a template with `{secret_name}` placeholders.
    Header {
        /// The header's name.
        name: String,
        /// Its value, such as `token {api_key}:{api_secret}`.
        template: String,
    },
}

impl Credential {
    /// Bearer authentication with the named secret.
    pub fn bearer(secret: &str) -> Self {
        Self::Bearer(secret.to_owned())
    }

    /// Basic authentication with the named secret as user name and an empty
    /// password, as Stripe and Medusa secret keys are sent.
    pub fn basic(username_secret: &str) -> Self {
        Self::Basic {
            username: username_secret.to_owned(),
            password: None,
        }
    }

    /// A header built from a template naming secrets.
    pub fn header(name: &str, template: &str) -> Self {
        Self::Header {
            name: name.to_owned(),
            template: template.to_owned(),
        }
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused it: a host not allowed, a forbidden address, or a
    /// secret not bound to that host.
    Denied(String),
    /// No answer in time.
    Timeout,
    /// The connection failed (refused, reset, TLS, DNS).
    Connect(String),
    /// The answer was larger than the host accepts, in bytes.
    TooLarge(u64),
    /// The request itself was malformed.
    Invalid(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(m) => write!(f, "denied by the host: {m}"),
            Self::Timeout => f.write_str("timed out"),
            Self::Connect(m) => write!(f, "connection failed: {m}"),
            Self::TooLarge(n) => write!(f, "response too large ({n} bytes)"),
            Self::Invalid(m) => write!(f, "invalid request: {m}"),
        }
    }
}

/// Timeouts and failed connections pass; a refusal by the host or a
/// malformed request needs an operator or a fix, not another try.
impl From<HttpError> for PluginError {
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Timeout | HttpError::Connect(_) => Self::retryable(error.to_string()),
            _ => Self::permanent(error.to_string()),
        }
    }
}

/// One outbound request, built step by step and sent with [`Request::send`]
/// or one of its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<Header>,
    body: Option<Vec<u8>>,
    timeout_ms: Option<u32>,
    credential: Option<Credential>,
}

impl Request {
    /// A request with no headers, query or body yet.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            credential: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a query parameter; names and values are percent-encoded.
    pub fn query(mut self, name: &str, value: impl fmt::Display) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    /// Sends `value` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, PluginError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| PluginError::permanent(format!("encoding a request body: {e}")))?;
        Ok(self.header("Content-Type", "application/json").body(body))
    }

    /// Sends `form` as an `application/x-www-form-urlencoded` body, the way
    /// Stripe takes its parameters.
    pub fn form(self, form: &Form) -> Self {
        let body = form.encode().into_bytes();
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// Sends raw bytes as the body; set `Content-Type` yourself.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// Has the host attach a credential built from named secrets.
    pub fn credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Limits this request to `ms` milliseconds; the host also caps it at
    /// the call's own deadline.
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Adds an `Idempotency-Key`, which also lets [`Request::send_with_retry`]
    /// retry a `POST` or `PATCH`.
    pub fn idempotency_key(self, key: &str) -> Self {
        self.header("Idempotency-Key", key)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The full URL, query included.
    pub fn url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}{}", self.url, encode_pairs(&self.query))
    }

    /// The headers added so far.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The first header called `name`, ignoring case.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body, if any.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The timeout, if one was set.
    pub fn timeout(&self) -> Option<u32> {
        self.timeout_ms
    }

    /// The credential, if one was set.
    pub fn credential_ref(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    /// `METHOD url` without the query, for errors and logs: queries may hold
    /// customer data, paths of ids do not.
    pub fn describe(&self) -> String {
        let base = self.url.split('?').next().unwrap_or_default();
        format!("{} {base}", self.method.as_str())
    }

    /// Sends the request once and returns whatever the upstream answered.
    pub fn send(&self) -> Result<Response, HttpError> {
        host::fetch(self)
    }

    /// Sends once and turns transport failures and non-2xx answers into a
    /// [`PluginError`] that names the request.
    pub fn send_ok(&self) -> Result<Response, PluginError> {
        self.attempt().and_then(|response| self.success(response))
    }

    /// Like [`Request::send_ok`], retrying retryable failures as `policy`
    /// allows. Only idempotent requests are retried (`GET`, `HEAD`, `PUT`,
    /// `DELETE`, or any request with an `Idempotency-Key`); others are sent
    /// once.
    pub fn send_with_retry(&self, policy: &Retry) -> Result<Response, PluginError> {
        self.send_retrying(policy)
            .and_then(|response| self.success(response))
    }

    /// Like [`Request::send_with_retry`], but hands back any answer not
    /// worth retrying, whatever its status, for callers that read a 404 or
    /// a 409 themselves. Transport failures, and retryable statuses still
    /// there after the last try, are errors.
    pub fn send_retrying(&self, policy: &Retry) -> Result<Response, PluginError> {
        let attempts = if self.is_idempotent() {
            policy.attempts.max(1)
        } else {
            1
        };
        let deadline = clock::now_ms().saturating_add(policy.budget_ms);
        let mut attempt = 1;
        loop {
            let error = match self.with_deadline(deadline).attempt() {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let delay = policy.delay_ms(attempt);
            let in_budget = clock::now_ms().saturating_add(delay) < deadline;
            if !(error.is_retryable() && attempt < attempts && in_budget) {
                return Err(error);
            }
            host::sleep_ms(delay);
            attempt += 1;
        }
    }

    /// One try: transport failures and retryable statuses are errors, any
    /// other answer is returned.
    fn attempt(&self) -> Result<Response, PluginError> {
        let response = self
            .send()
            .map_err(|e| PluginError::from(e).context(self.describe()))?;
        if is_retryable_status(response.status) {
            return Err(status_error(response.status, &response.body).context(self.describe()));
        }
        Ok(response)
    }

    /// Keeps a 2xx answer to this request; any other becomes an error that
    /// names the request, for answers read after [`Request::send_retrying`].
    pub fn success(&self, response: Response) -> Result<Response, PluginError> {
        response
            .error_for_status()
            .map_err(|e| e.context(self.describe()))
    }

    fn is_idempotent(&self) -> bool {
        let safe = matches!(
            self.method,
            Method::Get | Method::Head | Method::Put | Method::Delete
        );
        safe || self.header_value("Idempotency-Key").is_some()
    }

    /// A copy whose timeout ends no later than `deadline_ms`.
    fn with_deadline(&self, deadline_ms: u64) -> Self {
        let left = deadline_ms.saturating_sub(clock::now_ms());
        let left = u32::try_from(left).unwrap_or(u32::MAX).max(1);
        let mut copy = self.clone();
        copy.timeout_ms = Some(self.timeout_ms.map_or(left, |t| t.min(left)));
        copy
    }
}

/// How [`Request::send_with_retry`] retries: exponential backoff from
/// `base_delay_ms`, at most `attempts` tries, all within `budget_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first one included.
    pub attempts: u32,
    /// Milliseconds for all tries and the waits between them; no retry
    /// starts after it runs out.
    pub budget_ms: u64,
    /// The wait before the second try; it doubles each time.
    pub base_delay_ms: u64,
}

impl Default for Retry {
    /// Three tries within ten seconds: a host call has a deadline of its
    /// own, and a delivery that keeps failing is retried later by the host,
    /// so waiting long inside one call helps nobody.
    fn default() -> Self {
        Self {
            attempts: 3,
            budget_ms: 10_000,
            base_delay_ms: 250,
        }
    }
}

impl Retry {
    fn delay_ms(&self, attempt: u32) -> u64 {
        let factor = 1u64
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u64::MAX);
        self.base_delay_ms.saturating_mul(factor)
    }
}

/// An upstream's answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers as received.
    pub headers: Vec<Header>,
    /// The body as received (the host caps its size).
    pub body: Vec<u8>,
}

impl Response {
    /// An answer with `status` and `body`, for tests and simulators.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// An answer with `status` and a JSON body, for tests and simulators.
    pub fn json_value(status: u16, value: &serde_json::Value) -> Self {
        let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        Self {
            status,
            headers,
            body: value.to_string().into_bytes(),
        }
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// True for 4xx.
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }

    /// True for 5xx.
    pub fn is_server_error(&self) -> bool {
        (500..600).contains(&self.status)
    }

    /// The first header called `name`, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Decodes the body as JSON of type `T`. A body that does not decode is
    /// a permanent error: the upstream answered something unexpected.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PluginError::permanent(format!(
                "unexpected response body (status {}): {e}",
                self.status
            ))
        })
    }

    /// Keeps a 2xx answer and turns any other into an error classified by
    /// [`status_error`].
    pub fn error_for_status(self) -> Result<Self, PluginError> {
        if self.is_success() {
            return Ok(self);
        }
        Err(status_error(self.status, &self.body))
    }
}

/// Classifies a non-2xx status: 408, 429 and 5xx are retryable (the
/// upstream was slow, busy or broken), others permanent. Keeps a short
/// message from the body when it is JSON with one.
pub fn status_error(status: u16, body: &[u8]) -> PluginError {
    let detail = upstream_message(body)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let message = format!("answered {status}{detail}");
    if status == 408 || status == 429 || (500..600).contains(&status) {
        PluginError::retryable(message)
    } else {
        PluginError::permanent(message)
    }
}

/// True for the statuses worth another try: 408 (the upstream gave up
/// waiting), 429 (rate limited) and every 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// The message an upstream put in its JSON error body, shortened and with
/// control characters removed: Stripe's `error.message`, OAuth's
/// `error_description`, Medusa's or Payload's `message`.
pub fn upstream_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let candidates = [
        "/error/message",
        "/error_description",
        "/message",
        "/errors/0/message",
    ];
    let text = candidates
        .iter()
        .find_map(|p| value.pointer(p).and_then(|v| v.as_str()))?;
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_UPSTREAM_MESSAGE)
        .collect();
    Some(clean)
}

/// An `application/x-www-form-urlencoded` body with Stripe's bracket
/// nesting: `metadata[vendor_id]=v_1`, `expand[0]=data.account`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`; booleans render as `true`/`false`, as Stripe wants.
    pub fn field(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.pairs.push((key.to_owned(), value.to_string()));
        self
    }

    /// Adds a nested field: `["capabilities", "transfers", "requested"]`
    /// becomes `capabilities[transfers][requested]`.
    pub fn nested(self, path: &[&str], value: impl fmt::Display) -> Self {
        let key = bracket_key(path);
        self.field(&key, value)
    }

    /// Adds a list as indexed fields: `expand[0]=a&expand[1]=b`.
    pub fn list<V: fmt::Display>(mut self, key: &str, values: impl IntoIterator<Item = V>) -> Self {
        for (i, value) in values.into_iter().enumerate() {
            self = self.field(&format!("{key}[{i}]"), value);
        }
        self
    }

    /// The pairs added so far, unencoded.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The encoded body.
    pub fn encode(&self) -> String {
        encode_pairs(&self.pairs)
    }
}

/// `a`, `b`, `c` → `a[b][c]`.
pub fn bracket_key(path: &[&str]) -> String {
    let mut parts = path.iter();
    let mut key = parts.next().map(|p| (*p).to_owned()).unwrap_or_default();
    for part in parts {
        key.push('[');
        key.push_str(part);
        key.push(']');
    }
    key
}

fn encode_pairs(pairs: &[(String, String)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_key(k), encode_component(v)))
        .collect();
    encoded.join("&")
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so the
/// result is safe in a query, a form body or one path segment.
pub fn encode_component(text: &str) -> String {
    encode_except(text, |_| false)
}

/// Like [`encode_component`], but keeps `[` and `]`, which Stripe reads
/// unescaped in keys and which keep logged bodies readable.
fn encode_key(text: &str) -> String {
    encode_except(text, |b| b == b'[' || b == b']')
}

fn encode_except(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestHost;
    use serde_json::json;

    #[test]
    fn builds_stripe_style_nested_forms() {
        let form = Form::new()
            .field("type", "express")
            .nested(&["capabilities", "transfers", "requested"], true)
            .nested(&["metadata", "vendor_id"], "v 1&x")
            .list("expand", ["a", "b"]);
        assert_eq!(
            form.encode(),
            "type=express&capabilities[transfers][requested]=true\
             &metadata[vendor_id]=v%201%26x&expand[0]=a&expand[1]=b"
        );
    }

    #[test]
    fn appends_encoded_query_parameters() {
        let request = Request::get("https://m.example/admin/vendors").query("q", "a b/c");
        assert_eq!(request.url(), "https://m.example/admin/vendors?q=a%20b%2Fc");
        let request = Request::get("https://m.example/x?limit=1").query("offset", 2);
        assert_eq!(request.url(), "https://m.example/x?limit=1&offset=2");
    }

    #[test]
    fn describe_leaves_the_query_out() {
        let request = Request::get("https://m.example/a?email=x@y").query("b", 1);
        assert_eq!(request.describe(), "GET https://m.example/a");
    }

    #[test]
    fn classifies_statuses_for_retry() {
        for status in [408, 429, 500, 502, 503] {
            assert!(status_error(status, b"").is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 422] {
            assert!(
                matches!(status_error(status, b""), PluginError::Permanent(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn keeps_a_short_clean_upstream_message() {
        let body = json!({"error": {"message": "No such account\n: 'acct_x'"}}).to_string();
        let error = status_error(404, body.as_bytes());
        assert_eq!(error.message(), "answered 404: No such account: 'acct_x'");
        let long = json!({"message": "x".repeat(5000)}).to_string();
        let message = upstream_message(long.as_bytes()).unwrap_or_default();
        assert_eq!(message.len(), MAX_UPSTREAM_MESSAGE);
        assert_eq!(upstream_message(b"<html>oops</html>"), None);
    }

    #[test]
    fn maps_transport_errors() {
        assert!(PluginError::from(HttpError::Timeout).is_retryable());
        assert!(PluginError::from(HttpError::Connect("reset".into())).is_retryable());
        let denied = PluginError::from(HttpError::Denied("not allowed".into()));
        assert!(matches!(denied, PluginError::Permanent(_)));
    }

    #[test]
    fn retries_idempotent_requests_within_the_budget() {
        let host = TestHost::install();
        let mut answers = vec![503, 502, 200].into_iter();
        host.on_http(move |_| Ok(Response::new(answers.next().unwrap_or(500), "{}")));
        let response = Request::get("https://x.example/").send_with_retry(&Retry::default());
        assert_eq!(response.map(|r| r.status), Ok(200));
        assert_eq!(host.requests().len(), 3);
    }

    #[test]
    fn does_not_retry_a_post_without_idempotency_key() {
        let host = TestHost::install();
        host.on_http(|_| Ok(Response::new(503, "")));
        let outcome = Request::post("https://x.example/").send_with_retry(&Retry::default());
        assert!(outcome.is_err_and(|e| e.is_retryable()));
        assert_eq!(host.requests().len(), 1);
    }

    #[test]
    fn stops_retrying_when_the_budget_is_spent() {
        let host = TestHost::install();
        host.on_http(|_| Err(HttpError::Timeout));
        let policy = Retry {
            attempts: 10,
            budget_ms: 1_000,
            base_delay_ms: 300,
        };
        let outcome = Request::put("https://x.example/").send_with_retry(&policy);
        assert!(outcome.is_err_and(|e| e.is_retryable()));
        // Tries at 0, 300 and 900 ms; the next wait (1200 ms) would pass the
        // 1000 ms budget. Each try's timeout ends with the budget.
        let timeouts: Vec<Option<u32>> = host.requests().iter().map(Request::timeout).collect();
        assert_eq!(timeouts, [Some(1_000), Some(700), Some(100)]);
    }

    #[test]
    fn send_retrying_hands_back_a_404_for_the_caller_to_read() {
        let host = TestHost::install();
        let mut answers = vec![503, 404].into_iter();
        host.on_http(move |_| Ok(Response::new(answers.next().unwrap_or(500), "")));
        let response = Request::get("https://x.example/").send_retrying(&Retry::default());
        assert_eq!(response.map(|r| r.status), Ok(404));
        assert_eq!(host.requests().len(), 2);
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let host = TestHost::install();
        host.on_http(|_| Ok(Response::new(404, "")));
        let outcome = Request::get("https://x.example/").send_with_retry(&Retry::default());
        assert!(matches!(outcome, Err(PluginError::Permanent(_))));
        assert_eq!(host.requests().len(), 1);
    }
}
