//! Stripe's error bodies: `{"error": {type, code, message, param}}` for
//! the API and the flat `{error, error_description}` of OAuth.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Marks a response an idempotency key must not keep: the request failed
/// validation before anything ran, so the client may retry with the key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unstored;

/// An API error as Stripe renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
    stored: bool,
}

impl ApiError {
    fn request(status: StatusCode, code: Option<&'static str>, message: String) -> Self {
        let kind = "invalid_request_error";
        Self {
            status,
            kind,
            code,
            message,
            param: None,
            stored: false,
        }
    }

    fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// Keeps the error under an idempotency key: it happened while the
    /// request was executing (insufficient funds, for one).
    fn stored(mut self) -> Self {
        self.stored = true;
        self
    }

    /// 400 `parameter_missing`.
    pub(crate) fn missing(param: &str) -> Self {
        let message = format!("Missing required param: {param}.");
        Self::request(StatusCode::BAD_REQUEST, Some("parameter_missing"), message).with_param(param)
    }

    /// 400 `parameter_unknown`.
    pub(crate) fn unknown_param(param: &str) -> Self {
        let message = format!("Received unknown parameter: {param}");
        Self::request(StatusCode::BAD_REQUEST, Some("parameter_unknown"), message).with_param(param)
    }

    /// 400 with a parameter to blame and an optional code.
    pub(crate) fn invalid(param: &str, code: Option<&'static str>, message: String) -> Self {
        Self::request(StatusCode::BAD_REQUEST, code, message).with_param(param)
    }

    /// 400 for a body that is not a form at all.
    pub(crate) fn malformed(message: String) -> Self {
        Self::request(StatusCode::BAD_REQUEST, None, message)
    }

    /// `resource_missing`: 404 for an object named in the path, 400 with
    /// `param` for one named in the body.
    pub(crate) fn no_such(object: &str, id: &str, param: Option<&str>) -> Self {
        let message = format!("No such {object}: '{id}'");
        match param {
            None => Self::request(StatusCode::NOT_FOUND, Some("resource_missing"), message),
            Some(param) => {
                Self::request(StatusCode::BAD_REQUEST, Some("resource_missing"), message)
                    .with_param(param)
            }
        }
    }

    /// 400 raised while executing; an idempotency key replays it.
    pub(crate) fn refused(param: Option<&str>, code: &'static str, message: String) -> Self {
        let error = Self::request(StatusCode::BAD_REQUEST, Some(code), message).stored();
        match param {
            Some(param) => error.with_param(param),
            None => error,
        }
    }

    /// 400 `balance_insufficient`, stored under an idempotency key.
    pub(crate) fn balance_insufficient(currency: &str) -> Self {
        let message = format!(
            "The available balance in {currency} cannot cover this amount; add funds or wait \
             for pending funds to become available."
        );
        Self::refused(None, "balance_insufficient", message)
    }

    /// 401 for a missing or wrong secret key.
    pub(crate) fn authentication(message: String) -> Self {
        Self::request(StatusCode::UNAUTHORIZED, None, message)
    }

    /// 403 for a `Stripe-Account` the platform cannot act as.
    pub(crate) fn account_access(account: &str) -> Self {
        let message = format!(
            "The provided key does not have access to account '{account}' (or that account \
             does not exist)."
        );
        Self::request(StatusCode::FORBIDDEN, Some("account_invalid"), message)
    }

    /// 400 `idempotency_error`: the key was first used with other parameters.
    pub(crate) fn idempotency_mismatch(key: &str) -> Self {
        let message = format!(
            "Keys for idempotent requests can only be reused with the same parameters; \
             '{key}' was first used with different ones."
        );
        let error = Self::request(StatusCode::BAD_REQUEST, None, message);
        Self {
            kind: "idempotency_error",
            ..error
        }
    }

    /// 409: another request with the same key is still running.
    pub(crate) fn idempotency_in_use(key: &str) -> Self {
        let message = format!("Another request with idempotency key '{key}' is in progress.");
        Self::request(
            StatusCode::CONFLICT,
            Some("idempotency_key_in_use"),
            message,
        )
    }

    /// 404 for a path the simulator does not serve.
    pub(crate) fn unknown_route(method: &str, path: &str) -> Self {
        let message = format!("Unrecognized request URL ({method}: {path}).");
        Self::request(StatusCode::NOT_FOUND, None, message)
    }

    /// The status, for tests.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The `code` field, for tests.
    #[cfg(test)]
    pub(crate) fn code(&self) -> Option<&'static str> {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind));
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = self.param {
            error.insert("param".into(), json!(param));
        }
        let mut response =
            (self.status, Json(json!({"error": Value::Object(error)}))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static("Basic realm=\"Stripe\"");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if !self.stored {
            response.extensions_mut().insert(Unstored);
        }
        response
    }
}

/// An OAuth error: flat `{error, error_description}`, 400 unless the
/// client itself is unknown (401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    error: &'static str,
    description: String,
}

impl OAuthError {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`…
    pub(crate) fn new(error: &'static str, description: String) -> Self {
        Self { error, description }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = json!({"error": self.error, "error_description": self.description});
        (status, Json(body)).into_response()
    }
}
