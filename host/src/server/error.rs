//! Errors as HTTP answers: a status and a JSON body with a stable `error`
//! code that clients can match on, plus a human message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::runtime::CallError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An answer with `status`, a stable `code` and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409 with `code`: the request conflicts with the resource's state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503: the store could not commit, so nothing was accepted.
    pub fn store_unavailable(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "store unavailable; refusing the request");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "try again later",
        )
    }
}

impl ApiError {
    /// A plugin call that failed on the host's side, with a stable code per
    /// kind of failure.
    pub fn from_call(plugin: &str, err: &CallError) -> Self {
        let (status, code) = match err {
            CallError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "plugin_timeout"),
            CallError::MemoryLimit(_) => (StatusCode::BAD_GATEWAY, "plugin_memory_limit"),
            CallError::FuelExhausted(_) => (StatusCode::BAD_GATEWAY, "plugin_fuel_exhausted"),
            CallError::Trap(_) => (StatusCode::BAD_GATEWAY, "plugin_trapped"),
            CallError::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "plugin_overloaded"),
            CallError::QueueTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "plugin_busy"),
        };
        Self::new(status, code, format!("plugin {plugin}: {err}"))
    }
}

impl ApiError {
    /// The stable code of an answer the framework made (a path, query or
    /// body that did not parse, a wrong content type), by its status.
    pub fn code_for(status: StatusCode) -> &'static str {
        match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            s if s.is_server_error() => "internal_error",
            _ => "request_refused",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.code, "message": self.message }));
        (self.status, body).into_response()
    }
}
