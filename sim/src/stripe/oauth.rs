//! Connect OAuth for Standard accounts: `POST /oauth/token` exchanges an
//! `ac_…` code (or a refresh token) for the connected account's id, and
//! `POST /oauth/deauthorize` disconnects an account. Errors are flat
//! `{error, error_description}` bodies, unlike the rest of the API.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::auth::presented_key;
use super::error::OAuthError;
use super::objects;
use super::params::Params;
use super::routes::{AppState, Shared};
use super::state::State as Ledger;
use crate::clock::unix_secs;
use crate::{ids, lock};

impl Ledger {
    /// Hands out a code that connects `account` (created on exchange when it
    /// does not exist yet), or a new Standard account when `None`.
    pub(crate) fn issue_code(&mut self, account: Option<&str>) -> String {
        let code = format!("ac_{}", ids::alphanumeric(24));
        self.oauth_codes
            .insert(code.clone(), (account.map(str::to_owned), false));
        code
    }

    /// Spends a code. Codes the simulator never issued are accepted once
    /// too, each connecting a new Standard account, so a browser flow can
    /// be faked with any `ac_…` value.
    fn exchange_code(&mut self, code: &str) -> Result<String, OAuthError> {
        if !code.starts_with("ac_") {
            return Err(OAuthError::new(
                "invalid_grant",
                format!("Authorization code does not exist: {code}"),
            ));
        }
        let (account, used) = self.oauth_codes.get(code).cloned().unwrap_or((None, false));
        if used {
            return Err(OAuthError::new(
                "invalid_grant",
                format!("Authorization code already used: {code}"),
            ));
        }
        self.oauth_codes
            .insert(code.to_owned(), (account.clone(), true));
        let account = account.unwrap_or_else(|| ids::stripe("acct"));
        self.connect(&account);
        Ok(account)
    }

    /// Connects (or reconnects) an account, creating it when unknown.
    fn connect(&mut self, account: &str) {
        if self.account(account).is_none() {
            self.accounts
                .push(objects::standard_oauth_account(account, unix_secs()));
        }
        self.disconnected.remove(account);
    }

    /// The account a token request is granted for.
    fn grant(&mut self, params: &Params) -> Result<String, OAuthError> {
        match required(params, "grant_type")? {
            "authorization_code" => self.exchange_code(required(params, "code")?),
            "refresh_token" => self.refresh(required(params, "refresh_token")?),
            other => {
                let message = format!("Unsupported grant type: {other}");
                Err(OAuthError::new("unsupported_grant_type", message))
            }
        }
    }

    fn refresh(&self, token: &str) -> Result<String, OAuthError> {
        let account = self
            .refresh_tokens
            .get(token)
            .filter(|account| self.connected(account).is_some());
        let message = || format!("Invalid refresh token: {token}");
        account
            .cloned()
            .ok_or_else(|| OAuthError::new("invalid_grant", message()))
    }

    /// The token response; the refresh token is remembered.
    fn token_response(&mut self, account: &str, scope: &str) -> Value {
        let refresh_token = format!("rt_{}", ids::alphanumeric(32));
        self.refresh_tokens
            .insert(refresh_token.clone(), account.to_owned());
        json!({
            "access_token": format!("sk_test_{}", ids::alphanumeric(32)),
            "livemode": false,
            "refresh_token": refresh_token,
            "scope": scope,
            "stripe_publishable_key": format!("pk_test_{}", ids::alphanumeric(32)),
            "stripe_user_id": account,
            "token_type": "bearer"
        })
    }

    /// Disconnects an account: the platform may no longer act for it.
    fn deauthorize(&mut self, account: &str) -> Result<(), OAuthError> {
        if self.connected(account).is_none() {
            let message = format!("Stripe account {account} is not connected to this platform.");
            return Err(OAuthError::new("invalid_client", message));
        }
        self.disconnected.insert(account.to_owned());
        Ok(())
    }
}

/// The platform key from the `Authorization` header or a `client_secret`
/// parameter, which Stripe also takes.
fn check_client(shared: &Shared, headers: &HeaderMap, params: &Params) -> Result<(), OAuthError> {
    let from_param = optional(params, "client_secret")?.map(str::to_owned);
    let presented = presented_key(headers).or(from_param);
    if presented.as_deref() == Some(shared.secret_key.as_str()) {
        return Ok(());
    }
    Err(OAuthError::new(
        "invalid_client",
        "No valid API key provided.".to_owned(),
    ))
}

fn form(body: &[u8]) -> Result<Params, OAuthError> {
    Params::parse(body).map_err(|_| {
        OAuthError::new(
            "invalid_request",
            "The body is not a valid form.".to_owned(),
        )
    })
}

/// A text parameter, if sent; a nested value is an `invalid_request`.
fn optional<'a>(params: &'a Params, key: &str) -> Result<Option<&'a str>, OAuthError> {
    let invalid = |_| OAuthError::new("invalid_request", format!("Invalid {key}: must be text."));
    params.text(key).map_err(invalid)
}

/// A text parameter that must be sent and non-empty.
fn required<'a>(params: &'a Params, key: &str) -> Result<&'a str, OAuthError> {
    let value = optional(params, key)?.filter(|value| !value.is_empty());
    value.ok_or_else(|| OAuthError::new("invalid_request", format!("No {key} was provided.")))
}

/// `POST /oauth/token`.
pub(crate) async fn token(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, OAuthError> {
    let params = form(&body)?;
    check_client(&shared, &headers, &params)?;
    let scope = optional(&params, "scope")?.unwrap_or("read_write");
    let mut state = lock(&shared.state);
    let account = state.grant(&params)?;
    Ok(Json(state.token_response(&account, scope)))
}

/// `POST /oauth/deauthorize`.
pub(crate) async fn deauthorize(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, OAuthError> {
    let params = form(&body)?;
    check_client(&shared, &headers, &params)?;
    let client_id = required(&params, "client_id")?;
    if !client_id.starts_with("ca_") {
        return Err(OAuthError::new(
            "invalid_client",
            format!("No such application: {client_id}"),
        ));
    }
    let account = required(&params, "stripe_user_id")?;
    lock(&shared.state).deauthorize(account)?;
    Ok(Json(json!({"stripe_user_id": account})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_codes_connect_their_account_once() {
        let mut state = Ledger::default();
        let code = state.issue_code(Some("acct_given"));
        assert_eq!(state.exchange_code(&code), Ok("acct_given".to_owned()));
        assert_eq!(
            state.account("acct_given").expect("created")["type"],
            "standard"
        );
        assert!(state.exchange_code(&code).is_err());
    }

    #[test]
    fn unknown_ac_codes_make_new_accounts_and_others_are_refused() {
        let mut state = Ledger::default();
        let account = state.exchange_code("ac_anything").expect("accepted");
        assert!(account.starts_with("acct_"));
        assert!(state.exchange_code("ac_anything").is_err());
        assert!(state.exchange_code("code_1").is_err());
    }

    #[test]
    fn deauthorized_accounts_lose_access_until_reconnected() {
        let mut state = Ledger::default();
        let account = state.exchange_code("ac_1").expect("accepted");
        let refresh = state.token_response(&account, "read_write")["refresh_token"].clone();
        state.deauthorize(&account).expect("connected");
        assert!(state.check_access(&account).is_err());
        assert!(state.refresh(refresh.as_str().expect("token")).is_err());
        assert!(state.deauthorize(&account).is_err());
        let code = state.issue_code(Some(&account));
        state.exchange_code(&code).expect("reconnects");
        assert!(state.check_access(&account).is_ok());
    }
}
