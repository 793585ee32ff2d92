//! The request log every simulator keeps, so a test can assert on what a
//! plugin actually sent (how many writes, which headers, which body).

use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::lock;

/// Bodies larger than this are refused with 413; the plugins send far less.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One request a simulator received, with the status it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query string, e.g. `/admin/vendors/vendor_01DEMO`.
    pub path: String,
    /// The raw query string without `?`; empty when there was none.
    pub query: String,
    /// Every header as sent, names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The body parsed with bracket nesting, when it was sent as
    /// `application/x-www-form-urlencoded` (Stripe requests).
    pub form: Option<Value>,
    /// The status code the simulator answered with.
    pub status: u16,
}

impl RecordedRequest {
    fn new(parts: &Parts, body: &[u8]) -> Self {
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), lossy(value.as_bytes())))
            .collect();
        let is_form = headers.iter().any(|(name, value)| {
            name == "content-type" && value.starts_with("application/x-www-form-urlencoded")
        });
        Self {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers,
            body: lossy(body),
            json: serde_json::from_slice(body).ok(),
            form: is_form
                .then(|| crate::form::parse(body).ok().map(Value::Object))
                .flatten(),
            status: 0,
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut matching = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name));
        matching.next().map(|(_, value)| value.as_str())
    }

    /// Whether this is `method` on exactly `path`.
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path == path
    }

    /// A top-level field of the body, read from the JSON or form payload.
    pub fn field(&self, name: &str) -> Option<&Value> {
        let payload = self.json.as_ref().or(self.form.as_ref())?;
        payload.get(name)
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A shared, append-only list of recorded requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl Recorder {
    /// A copy of every request recorded so far, oldest first.
    pub(crate) fn all(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// Forgets the recorded requests.
    pub(crate) fn clear(&self) {
        lock(&self.requests).clear();
    }

    fn push(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }
}

/// Middleware that buffers the body, lets the request through and then
/// records it with the answered status. It records after the handler so
/// the entry is in place by the time the client reads the response.
pub(crate) async fn record(
    State(recorder): State<Recorder>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let mut entry = RecordedRequest::new(&parts, &bytes);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    entry.status = response.status().as_u16();
    tracing::debug!(method = %entry.method, path = %entry.path, status = entry.status, "request");
    recorder.push(entry);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;

    fn entry(content_type: &str, body: &str) -> RecordedRequest {
        let request = HttpRequest::post("/v1/transfers?x=1")
            .header("Content-Type", content_type)
            .body(())
            .expect("valid request");
        RecordedRequest::new(&request.into_parts().0, body.as_bytes())
    }

    #[test]
    fn parses_form_bodies_and_reads_fields() {
        let recorded = entry(
            "application/x-www-form-urlencoded",
            "amount=5&metadata[k]=v",
        );
        assert!(recorded.is("post", "/v1/transfers"));
        assert_eq!(recorded.query, "x=1");
        assert_eq!(recorded.field("amount"), Some(&Value::from("5")));
        assert_eq!(
            recorded.header("CONTENT-TYPE"),
            Some("application/x-www-form-urlencoded")
        );
        assert!(recorded.json.is_none());
    }

    #[test]
    fn parses_json_bodies() {
        let recorded = entry("application/json", r#"{"onboarding_status":"complete"}"#);
        assert_eq!(
            recorded.field("onboarding_status"),
            Some(&Value::from("complete"))
        );
        assert!(recorded.form.is_none());
    }
}
