//! `Idempotency-Key` replay for `POST /v1/*`, as Stripe documents it:
//! the first answer (status and body, errors included) is kept per
//! (key, path, `Stripe-Account`) and replayed for the same parameters; the
//! same key with other parameters is an `idempotency_error`; a request
//! refused during validation is not kept, so it may be retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, Unstored};
use crate::lock;
use crate::recorder::MAX_BODY_BYTES;

/// Stripe's limit on the key's length.
const MAX_KEY_CHARS: usize = 255;

/// Where a key applies: Stripe scopes keys per account, and the simulator
/// also per path so that one key cannot be replayed onto another route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    key: String,
    path: String,
    account: Option<String>,
}

#[derive(Debug)]
enum Entry {
    Running {
        params: Value,
    },
    Done {
        params: Value,
        status: StatusCode,
        body: Bytes,
    },
}

/// What to do with an incoming request.
#[derive(Debug, PartialEq)]
pub(crate) enum Begin {
    /// First use: run it.
    Fresh,
    /// Seen before with the same parameters: answer this.
    Replay(StatusCode, Bytes),
    /// Seen before with other parameters.
    Mismatch,
    /// The first request with this key is still running.
    InUse,
}

/// Every key seen, with its answer.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    entries: HashMap<Scope, Entry>,
}

impl Keys {
    /// Decides how to treat a request and, when fresh, marks it running.
    pub(crate) fn begin(&mut self, scope: &Scope, params: &Value) -> Begin {
        match self.entries.get(scope) {
            Some(Entry::Running { .. }) => Begin::InUse,
            Some(Entry::Done { params: first, .. }) if first != params => Begin::Mismatch,
            Some(Entry::Done { status, body, .. }) => Begin::Replay(*status, body.clone()),
            None => {
                self.entries.insert(
                    scope.clone(),
                    Entry::Running {
                        params: params.clone(),
                    },
                );
                Begin::Fresh
            }
        }
    }

    /// Keeps the answer of a request that ran.
    pub(crate) fn finish(&mut self, scope: &Scope, status: StatusCode, body: Bytes) {
        if let Some(Entry::Running { params }) = self.entries.remove(scope) {
            self.entries.insert(
                scope.clone(),
                Entry::Done {
                    params,
                    status,
                    body,
                },
            );
        }
    }

    /// Forgets a request that did not run (or whose client went away).
    pub(crate) fn abandon(&mut self, scope: &Scope) {
        if let Some(Entry::Running { .. }) = self.entries.get(scope) {
            self.entries.remove(scope);
        }
    }

    /// Forgets every key, as Stripe does after 24 hours.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Removes a running entry unless the answer was kept, so a dropped
/// request (client gone mid-way) does not block its key forever.
struct Running {
    keys: Arc<Mutex<Keys>>,
    scope: Scope,
    settled: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.settled {
            lock(&self.keys).abandon(&self.scope);
        }
    }
}

impl Scope {
    fn of(request: &Request) -> Option<Self> {
        if request.method() != Method::POST {
            return None;
        }
        let headers = request.headers();
        let key = headers.get("idempotency-key")?;
        let key = String::from_utf8_lossy(key.as_bytes()).into_owned();
        let account = headers.get("stripe-account");
        let account =
            account.map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned());
        Some(Self {
            key,
            path: request.uri().path().to_owned(),
            account,
        })
    }
}

/// The parameters to compare: the parsed form (order of fields does not
/// matter), or the raw text when it does not parse.
fn fingerprint(body: &[u8]) -> Value {
    crate::form::parse(body)
        .map(Value::Object)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// The middleware: replays, refuses or runs and keeps.
pub(crate) async fn idempotency(
    State(keys): State<Arc<Mutex<Keys>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(scope) = Scope::of(&request) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    if let Some(answer) = early_answer(&keys, &scope, &body) {
        return answer;
    }
    let running = Running {
        keys,
        scope,
        settled: false,
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    settle(running, response).await
}

/// The answer to give at once, if any: to an over-long key, a replay, a
/// mismatch or a key in use. `None` means run the request.
fn early_answer(keys: &Mutex<Keys>, scope: &Scope, body: &[u8]) -> Option<Response> {
    if scope.key.chars().count() > MAX_KEY_CHARS {
        let message = format!("Idempotency-Key is limited to {MAX_KEY_CHARS} characters.");
        return Some(ApiError::malformed(message).into_response());
    }
    match lock(keys).begin(scope, &fingerprint(body)) {
        Begin::Fresh => None,
        Begin::Replay(status, body) => Some(replayed(scope, status, body)),
        Begin::Mismatch => Some(ApiError::idempotency_mismatch(&scope.key).into_response()),
        Begin::InUse => Some(ApiError::idempotency_in_use(&scope.key).into_response()),
    }
}

/// Keeps the answer unless the handler marked it [`Unstored`].
async fn settle(mut running: Running, response: Response) -> Response {
    if response.extensions().get::<Unstored>().is_some() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        let message = "could not buffer the response body";
        return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
    };
    lock(&running.keys).finish(&running.scope, parts.status, body.clone());
    running.settled = true;
    echo_key(&mut parts.headers, &running.scope);
    Response::from_parts(parts, Body::from(body))
}

fn replayed(scope: &Scope, status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    echo_key(headers, scope);
    response
}

fn echo_key(headers: &mut axum::http::HeaderMap, scope: &Scope) {
    if let Ok(value) = HeaderValue::from_str(&scope.key) {
        headers.insert("idempotency-key", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(key: &str, account: Option<&str>) -> Scope {
        let account = account.map(str::to_owned);
        Scope {
            key: key.to_owned(),
            path: "/v1/transfers".to_owned(),
            account,
        }
    }

    #[test]
    fn replays_the_first_answer_for_the_same_parameters() {
        let mut keys = Keys::default();
        let params = json!({"amount": "100"});
        assert_eq!(keys.begin(&scope("k", None), &params), Begin::Fresh);
        keys.finish(
            &scope("k", None),
            StatusCode::OK,
            Bytes::from_static(b"{\"id\":1}"),
        );
        let replay = keys.begin(&scope("k", None), &params);
        assert_eq!(
            replay,
            Begin::Replay(StatusCode::OK, Bytes::from_static(b"{\"id\":1}"))
        );
    }

    #[test]
    fn refuses_the_same_key_with_other_parameters() {
        let mut keys = Keys::default();
        keys.begin(&scope("k", None), &json!({"amount": "100"}));
        keys.finish(&scope("k", None), StatusCode::OK, Bytes::new());
        assert_eq!(
            keys.begin(&scope("k", None), &json!({"amount": "101"})),
            Begin::Mismatch
        );
    }

    #[test]
    fn scopes_keys_by_account_and_reports_running_requests() {
        let mut keys = Keys::default();
        let params = json!({});
        assert_eq!(keys.begin(&scope("k", None), &params), Begin::Fresh);
        assert_eq!(keys.begin(&scope("k", None), &params), Begin::InUse);
        assert_eq!(
            keys.begin(&scope("k", Some("acct_1")), &params),
            Begin::Fresh
        );
    }

    #[test]
    fn abandoned_and_cleared_keys_can_be_used_again() {
        let mut keys = Keys::default();
        keys.begin(&scope("k", None), &json!({}));
        keys.abandon(&scope("k", None));
        assert_eq!(
            keys.begin(&scope("k", None), &json!({"x": "1"})),
            Begin::Fresh
        );
        keys.finish(&scope("k", None), StatusCode::BAD_REQUEST, Bytes::new());
        keys.clear();
        assert_eq!(
            keys.begin(&scope("k", None), &json!({"x": "2"})),
            Begin::Fresh
        );
    }

    #[test]
    fn fingerprints_ignore_field_order() {
        assert_eq!(fingerprint(b"a=1&b[c]=2"), fingerprint(b"b[c]=2&a=1"));
        assert_ne!(fingerprint(b"a=1"), fingerprint(b"a=2"));
    }
}
