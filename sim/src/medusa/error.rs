//! Medusa's error body `{type, message, code?}` and the statuses it maps
//! to (`UPSTREAMS.md` §5.4).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered the way Medusa's error handler answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MedusaError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
}

impl MedusaError {
    /// 404 `not_found`: `Vendor with id: x was not found`.
    pub(crate) fn not_found(entity: &str, id: &str) -> Self {
        let message = format!("{entity} with id: {id} was not found");
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "not_found",
            code: None,
            message,
        }
    }

    /// 400 `invalid_data`, for malformed bodies and query values.
    pub(crate) fn invalid_data(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_data",
            code: None,
            message,
        }
    }

    /// 409 `conflict` with code `invalid_state_error`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        let (status, code) = (StatusCode::CONFLICT, Some("invalid_state_error"));
        Self {
            status,
            kind: "conflict",
            code,
            message: message.into(),
        }
    }

    /// 500 `unknown_error`, for what should not happen.
    pub(crate) fn unknown(message: impl Into<String>) -> Self {
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        Self {
            status,
            kind: "unknown_error",
            code: None,
            message: message.into(),
        }
    }

    /// 500 `database_error` with code `api_error`, as Medusa answers when
    /// its database fails mid-request.
    pub(crate) fn database(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "database_error",
            code: Some("api_error"),
            message: message.into(),
        }
    }

    /// The `type` field, for tests.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }
}

impl IntoResponse for MedusaError {
    fn into_response(self) -> Response {
        let mut body = json!({"type": self.kind, "message": self.message});
        if let Some(code) = self.code {
            body["code"] = json!(code);
        }
        (self.status, Json(body)).into_response()
    }
}
