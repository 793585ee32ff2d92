//! Who is calling: the platform's secret key (HTTP Basic `sk_…:` or
//! `Bearer sk_…`) and the connected account it acts as (`Stripe-Account`).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::error::ApiError;
use super::routes::AppState;
use super::state::Owner;
use crate::lock;

/// The key a request presents, from `Bearer <key>` or `Basic
/// base64(<key>:<anything>)`.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(token.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(token).ok()?).ok()?;
    let user = decoded
        .split_once(':')
        .map_or(decoded.as_str(), |(user, _)| user);
    Some(user.to_owned())
}

/// Shows enough of a wrong key to recognise it, never all of it.
fn masked(key: &str) -> String {
    let head: String = key.chars().take(8).collect();
    let tail: Vec<char> = key.chars().rev().take(4).collect();
    let tail: String = tail.into_iter().rev().collect();
    if key.chars().count() <= 12 {
        "****".to_owned()
    } else {
        format!("{head}****{tail}")
    }
}

/// Middleware: only the configured secret key gets through.
pub(crate) async fn authenticate(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match presented_key(request.headers()) {
        Some(key) if key == shared.secret_key => next.run(request).await,
        Some(key) if !key.is_empty() => {
            let message = format!("Invalid API Key provided: {}", masked(&key));
            ApiError::authentication(message).into_response()
        }
        _ => {
            let message = "You did not provide an API key. Send it as the HTTP Basic username \
                           or as a Bearer token.";
            ApiError::authentication(message.to_owned()).into_response()
        }
    }
}

/// The owner a request acts as: the platform, or the connected account
/// named by `Stripe-Account`, which must exist and still be connected.
pub(crate) struct Acting(pub Owner);

impl FromRequestParts<AppState> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("stripe-account") else {
            return Ok(Self(None));
        };
        let account = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
        lock(&shared.state).check_access(&account)?;
        Ok(Self(Some(account)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(authorization).expect("valid header");
        headers.insert(header::AUTHORIZATION, value);
        headers
    }

    #[test]
    fn reads_basic_and_bearer_keys() {
        let basic = format!("Basic {}", BASE64.encode("sk_test_123:"));
        assert_eq!(
            presented_key(&headers(&basic)).as_deref(),
            Some("sk_test_123")
        );
        let with_password = format!("basic {}", BASE64.encode("sk_test_123:ignored"));
        assert_eq!(
            presented_key(&headers(&with_password)).as_deref(),
            Some("sk_test_123")
        );
        let bearer = presented_key(&headers("Bearer sk_test_123"));
        assert_eq!(bearer.as_deref(), Some("sk_test_123"));
    }

    #[test]
    fn ignores_other_schemes_and_garbage() {
        for value in [
            "Token sk_test_123",
            "Basic !!!",
            "Basic",
            "sk_test_123",
            "Basic /w==",
        ] {
            assert_eq!(presented_key(&headers(value)), None, "{value}");
        }
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }

    #[test]
    fn masks_keys_in_messages() {
        assert_eq!(masked("sk_test_abcdefghijkl"), "sk_test_****ijkl");
        assert_eq!(masked("short"), "****");
        assert_eq!(masked("sk_tëst_ünïcödé_kéy"), "sk_tëst_****_kéy");
    }
}
