//! Reading request bodies with a size limit: JSON 413 past it, 431 for
//! oversized headers, 400 for a body that cannot be read at all.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::ApiError;

/// Most bytes of header names and values a webhook or action may carry.
/// Headers are stored with each delivery, so they are held to a bound of
/// their own, apart from the body's.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How long a client may take to send a body once its headers are in.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the whole body, refusing one over `limit` bytes before reading it
/// when the sender declares its length, and while reading otherwise.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    check_header_size(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    let collected = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect());
    let Ok(collected) = collected.await else {
        let message = format!("the body did not arrive within {BODY_READ_TIMEOUT:?}");
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            message,
        ));
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(err) => Err(ApiError::bad_request(
            "unreadable_body",
            format!("cannot read the request body: {err}"),
        )),
    }
}

fn check_header_size(headers: &HeaderMap) -> Result<(), ApiError> {
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size <= MAX_HEADER_BYTES {
        return Ok(());
    }
    let message = format!("headers are limited to {MAX_HEADER_BYTES} bytes, these have {size}");
    Err(ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
        message,
    ))
}

fn too_large(limit: usize) -> ApiError {
    let message = format!("bodies are limited to {limit} bytes");
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
}

/// Headers as (lower-case name, value) pairs, as plugins see and the inbox
/// stores them. A value that is not UTF-8 is refused rather than decoded
/// lossily: two different values must never reach a plugin as one (a
/// plugin may take an event id from a header).
pub fn header_pairs(headers: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    headers
        .iter()
        .map(
            |(name, value)| match std::str::from_utf8(value.as_bytes()) {
                Ok(text) => Ok((name.as_str().to_owned(), text.to_owned())),
                Err(_) => Err(ApiError::bad_request(
                    "invalid_header",
                    format!("header {name} is not UTF-8 text"),
                )),
            },
        )
        .collect()
}
