//! A small Stripe client: form-encoded requests authenticated with the
//! platform's secret key (attached by the host as Basic `sk_…:`), an
//! `Idempotency-Key` on every write that may be repeated, `Stripe-Account`
//! to act as a connected account, and Stripe's error bodies read into a
//! typed refusal so callers can tell insufficient funds from the rest.

use serde_json::Value;
use switchyard_plugin_sdk::PluginError;
use switchyard_plugin_sdk::http::{Credential, Form, Request, Response, Retry, upstream_message};

use crate::event::is_plain_id;
use crate::settings::{self, STRIPE_SECRET_KEY};

/// The API version the plugin reads objects in; events are rendered in
/// the endpoint's version, which the plugin reads just as defensively.
const STRIPE_VERSION: &str = "2026-08-26.dahlia";

/// Per-request timeout; the host's deadline for the call is the real limit.
const TIMEOUT_MS: u32 = 8_000;

/// Stripe's error code for a platform balance that cannot cover a transfer.
pub const INSUFFICIENT_FUNDS: &str = "balance_insufficient";

/// How a Stripe call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeError {
    /// Stripe answered 4xx: the request was refused and repeating it as is
    /// will not help.
    Refused(Refusal),
    /// No usable answer: transport failure, 5xx or 429 after retries, or a
    /// body that is not what Stripe sends.
    Failed(PluginError),
}

/// A 4xx answer from Stripe, reduced to short, safe fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// `error.code` (API) or `error` (OAuth), when it is a plain word.
    pub code: Option<String>,
    /// A short message, control characters removed.
    pub message: String,
}

impl StripeError {
    /// True when Stripe refused because the platform balance is too low.
    pub fn is_insufficient_funds(&self) -> bool {
        matches!(self, Self::Refused(r) if r.code.as_deref() == Some(INSUFFICIENT_FUNDS))
    }
}

impl From<StripeError> for PluginError {
    fn from(error: StripeError) -> Self {
        match error {
            StripeError::Failed(e) => e,
            StripeError::Refused(r) => {
                let code = r.code.map(|c| format!(" ({c})")).unwrap_or_default();
                let message = format!("stripe refused{code}: {}", r.message);
                PluginError::permanent(message)
            }
        }
    }
}

impl From<PluginError> for StripeError {
    fn from(error: PluginError) -> Self {
        Self::Failed(error)
    }
}

/// Options of one write.
#[derive(Debug, Clone, Default)]
pub struct Write<'a> {
    /// The `Idempotency-Key`; without one the request is sent only once.
    pub idempotency_key: Option<&'a str>,
    /// The connected account to act as (`Stripe-Account`).
    pub account: Option<&'a str>,
}

/// A client for the tenant's Stripe.
#[derive(Debug, Clone)]
pub struct Stripe {
    api: String,
    connect: String,
}

impl Stripe {
    /// The tenant's Stripe, from its settings.
    pub fn from_config() -> Result<Self, PluginError> {
        Ok(Self {
            api: settings::stripe_api_url()?,
            connect: settings::stripe_connect_url()?,
        })
    }

    /// `POST {api}{path}` with `form`.
    pub fn post(&self, path: &str, form: &Form, write: &Write<'_>) -> Result<Value, StripeError> {
        let mut request = self.request(Request::post(format!("{}{path}", self.api)));
        if let Some(key) = write.idempotency_key {
            request = request.idempotency_key(key);
        }
        if let Some(account) = write.account {
            request = request.header("Stripe-Account", account);
        }
        send(&request.form(form))
    }

    /// `GET {api}{path}`, as the platform or as `account`.
    pub fn get(&self, path: &str, account: Option<&str>) -> Result<Value, StripeError> {
        let mut request = self.request(Request::get(format!("{}{path}", self.api)));
        if let Some(account) = account {
            request = request.header("Stripe-Account", account);
        }
        send(&request)
    }

    /// `POST {connect}{path}` with `form`: the OAuth endpoints, never
    /// retried (a code is single-use, a retry would only be refused).
    pub fn oauth(&self, path: &str, form: &Form) -> Result<Value, StripeError> {
        let request = self.request(Request::post(format!("{}{path}", self.connect)));
        send(&request.form(form))
    }

    fn request(&self, request: Request) -> Request {
        request
            .header("Accept", "application/json")
            .header("Stripe-Version", STRIPE_VERSION)
            .credential(Credential::basic(STRIPE_SECRET_KEY))
            .timeout_ms(TIMEOUT_MS)
    }
}

/// Sends with the SDK's retry policy (only idempotent requests are
/// repeated), then reads the answer.
fn send(request: &Request) -> Result<Value, StripeError> {
    let response = request.send_retrying(&Retry::default())?;
    if response.is_client_error() {
        return Err(StripeError::Refused(refusal(&response)));
    }
    let response = request.success(response)?;
    let value: Value = response.json()?;
    if !value.is_object() {
        let message = format!(
            "{}: answered something other than an object",
            request.describe()
        );
        return Err(StripeError::Failed(PluginError::permanent(message)));
    }
    Ok(value)
}

/// Reads Stripe's `{"error": {code, message}}` or OAuth's flat
/// `{"error": "invalid_grant", "error_description": …}`.
fn refusal(response: &Response) -> Refusal {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let code = body
        .pointer("/error/code")
        .or_else(|| body.get("error").filter(|e| e.is_string()))
        .and_then(Value::as_str)
        .filter(|c| is_plain_id(c))
        .map(str::to_owned);
    let message =
        upstream_message(&response.body).unwrap_or_else(|| format!("answered {}", response.status));
    Refusal {
        status: response.status,
        code,
        message,
    }
}

/// A string field of a Stripe object that must be a plain id with
/// `prefix` (`acct_`, `tr_`, `po_`), or an error naming the field.
pub fn id_field(object: &Value, field: &str, prefix: &str) -> Result<String, PluginError> {
    object
        .get(field)
        .and_then(Value::as_str)
        .filter(|id| id.starts_with(prefix) && is_plain_id(id))
        .map(str::to_owned)
        .ok_or_else(|| PluginError::permanent(format!("stripe answered no usable {field}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_plugin_sdk::testing::TestHost;

    fn host() -> TestHost {
        let host = TestHost::install();
        host.config("stripe_api_url", "https://stripe.test/");
        host
    }

    #[test]
    fn sends_forms_with_key_account_and_version() {
        let host = host();
        host.on_http(|_| Ok(Response::json_value(200, &json!({"id": "tr_1"}))));
        let write = Write {
            idempotency_key: Some("k1"),
            account: Some("acct_1"),
        };
        let form = Form::new().field("amount", 5);
        let answer = Stripe::from_config()
            .unwrap()
            .post("/v1/transfers", &form, &write);
        assert_eq!(answer.unwrap()["id"], "tr_1");
        let sent = &host.requests()[0];
        assert_eq!(sent.url(), "https://stripe.test/v1/transfers");
        assert_eq!(sent.header_value("Idempotency-Key"), Some("k1"));
        assert_eq!(sent.header_value("Stripe-Account"), Some("acct_1"));
        assert_eq!(sent.body_bytes(), Some(&b"amount=5"[..]));
        assert_eq!(
            sent.credential_ref(),
            Some(&Credential::basic("stripe_secret_key"))
        );
    }

    #[test]
    fn reads_api_and_oauth_refusals() {
        let host = host();
        let body = json!({"error": {"code": "balance_insufficient", "message": "too low"}});
        host.on_http(move |_| Ok(Response::json_value(400, &body)));
        let stripe = Stripe::from_config().unwrap();
        let error = stripe.post("/v1/transfers", &Form::new(), &Write::default());
        assert!(
            error
                .as_ref()
                .is_err_and(StripeError::is_insufficient_funds)
        );

        let flat = json!({"error": "invalid_grant", "error_description": "used"});
        host.on_http(move |_| Ok(Response::json_value(400, &flat)));
        let error = stripe.oauth("/oauth/token", &Form::new()).unwrap_err();
        let plugin = PluginError::from(error);
        assert_eq!(plugin.message(), "stripe refused (invalid_grant): used");
    }

    #[test]
    fn retries_keyed_writes_on_5xx_only() {
        let host = host();
        host.on_http(|_| Ok(Response::new(503, "")));
        let stripe = Stripe::from_config().unwrap();
        let keyed = Write {
            idempotency_key: Some("k"),
            account: None,
        };
        let error = stripe
            .post("/v1/transfers", &Form::new(), &keyed)
            .unwrap_err();
        assert!(matches!(error, StripeError::Failed(e) if e.is_retryable()));
        assert_eq!(host.requests().len(), 3);
    }

    #[test]
    fn id_fields_must_be_plain_and_prefixed() {
        let object = json!({"id": "tr_1", "bad": "tr_../x", "other": "po_1"});
        assert_eq!(id_field(&object, "id", "tr_").unwrap(), "tr_1");
        assert!(id_field(&object, "bad", "tr_").is_err());
        assert!(id_field(&object, "other", "tr_").is_err());
    }
}
