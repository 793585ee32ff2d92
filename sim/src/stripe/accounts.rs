//! Connected accounts (`/v1/accounts`), onboarding links
//! (`/v1/account_links`) and the simulated onboarding page those links
//! open, which finishes onboarding and sends the user to `return_url`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::list::{self, PAGING};
use super::objects::{self, AccountKind};
use super::params::{Params, Query, apply_metadata};
use super::routes::{AnswerJson, AppState};
use super::state::{Link, State as Ledger, merge_into};
use crate::clock::unix_secs;
use crate::{ids, lock};

const CREATE_PARAMS: [&str; 10] = [
    "type",
    "controller",
    "country",
    "email",
    "business_type",
    "business_profile",
    "capabilities",
    "default_currency",
    "metadata",
    "settings",
];
const UPDATE_PARAMS: [&str; 7] = [
    "email",
    "business_type",
    "business_profile",
    "capabilities",
    "default_currency",
    "metadata",
    "settings",
];
const LINK_PARAMS: [&str; 6] = [
    "account",
    "type",
    "refresh_url",
    "return_url",
    "collect",
    "collection_options",
];
const BUSINESS_TYPES: [&str; 4] = ["individual", "company", "non_profit", "government_entity"];
const INTERVALS: [&str; 4] = ["manual", "daily", "weekly", "monthly"];
/// Account links expire after five minutes, like Stripe's.
const LINK_LIFETIME_SECS: u64 = 300;

impl Ledger {
    /// `POST /v1/accounts`.
    pub(crate) fn create_account(&mut self, params: &Params) -> Result<Value, ApiError> {
        params.only(&CREATE_PARAMS)?;
        let kind = account_kind(params)?;
        if kind == AccountKind::Custom && !params.has("capabilities") {
            return Err(ApiError::missing("capabilities"));
        }
        let mut account =
            objects::account(&ids::stripe("acct"), kind, &country(params)?, unix_secs());
        apply_account_params(&mut account, params)?;
        self.accounts.push(account.clone());
        Ok(account)
    }

    /// `POST /v1/accounts/{id}`: changes are checked in full before any applies.
    pub(crate) fn update_account(&mut self, id: &str, params: &Params) -> Result<Value, ApiError> {
        params.only(&UPDATE_PARAMS)?;
        let found = self.connected(id).cloned();
        let mut account = found.ok_or_else(|| ApiError::no_such("account", id, None))?;
        apply_account_params(&mut account, params)?;
        if let Some(stored) = self.account_mut(id) {
            *stored = account.clone();
        }
        Ok(account)
    }

    /// Marks an account fully onboarded: charges and payouts enabled,
    /// details submitted, nothing due, requested capabilities active, a
    /// test bank account attached.
    pub(crate) fn complete_onboarding(&mut self, id: &str) -> Option<Value> {
        let account = self.account_mut(id)?;
        merge_into(account, onboarded_patch(account).as_object()?);
        let banks = account["external_accounts"]["data"].as_array();
        if banks.is_none_or(Vec::is_empty) {
            merge_into(account, bank_patch(account, id).as_object()?);
        }
        Some(account.clone())
    }

    /// `POST /v1/account_links`: a single-use link to the simulated
    /// onboarding page under `base_url`.
    pub(crate) fn create_link(
        &mut self,
        params: &Params,
        base_url: &str,
    ) -> Result<Value, ApiError> {
        params.only(&LINK_PARAMS)?;
        let account = params.required("account")?.to_owned();
        self.check_link_type(&account, params)?;
        let (refresh_url, return_url) = (url(params, "refresh_url")?, url(params, "return_url")?);
        let (token, created) = (ids::alphanumeric(24), unix_secs());
        let url = format!("{base_url}/setup/s/{account}/{token}");
        let expires_at = created + LINK_LIFETIME_SECS;
        let link = Link {
            account,
            refresh_url,
            return_url,
            expires_at,
            used: false,
        };
        self.links.insert(token, link);
        Ok(objects::account_link(&url, created, expires_at))
    }

    /// The account must be connected; `account_update` is refused for
    /// accounts with a Stripe-hosted dashboard (`UPSTREAMS.md` §0.3).
    fn check_link_type(&self, account: &str, params: &Params) -> Result<(), ApiError> {
        let kind = params.choice("type", &["account_onboarding", "account_update"])?;
        let kind = kind.ok_or_else(|| ApiError::missing("type"))?;
        let found = self.connected(account);
        let found = found.ok_or_else(|| ApiError::no_such("account", account, Some("account")))?;
        if kind == "account_update" && has_stripe_dashboard(found) {
            let message = "account_update links cannot be created for accounts with a Stripe \
                           dashboard (Express and Standard); use account_onboarding.";
            return Err(ApiError::invalid("type", None, message.to_owned()));
        }
        Ok(())
    }

    /// A visit to an onboarding link: the first visit within its lifetime
    /// completes onboarding; later or late visits are sent to `refresh_url`.
    fn visit_link(&mut self, account: &str, token: &str) -> Visit {
        let Some(link) = self
            .links
            .get_mut(token)
            .filter(|link| link.account == account)
        else {
            return Visit::Unknown;
        };
        if link.used || unix_secs() > link.expires_at {
            return Visit::Expired(link.refresh_url.clone());
        }
        link.used = true;
        let return_url = link.return_url.clone();
        self.complete_onboarding(account);
        Visit::Completed(return_url)
    }
}

/// What finishing onboarding changes on an account.
fn onboarded_patch(account: &Value) -> Value {
    json!({
        "capabilities": active_capabilities(&account["capabilities"]),
        "charges_enabled": true,
        "payouts_enabled": true,
        "details_submitted": true,
        "requirements": objects::requirements(&[]),
        "tos_acceptance": {"date": unix_secs(), "ip": "127.0.0.1", "user_agent": "sim"}
    })
}

/// Attaches a test bank account in the account's country and currency.
fn bank_patch(account: &Value, id: &str) -> Value {
    let country = account["country"].as_str().unwrap_or("US");
    let currency = account["default_currency"].as_str().unwrap_or("usd");
    let bank = objects::bank_account(id, country, currency);
    json!({"external_accounts": {"data": [bank]}})
}

fn account_kind(params: &Params) -> Result<AccountKind, ApiError> {
    if let Some(text) = params.text("type")? {
        let message = "Invalid type: must be one of express, standard, custom".to_owned();
        return AccountKind::parse(text).ok_or_else(|| ApiError::invalid("type", None, message));
    }
    let controller = params.nested("controller")?.unwrap_or_default();
    let dashboard = controller.nested("stripe_dashboard")?.unwrap_or_default();
    Ok(match dashboard.text("type")? {
        Some("express") => AccountKind::Express,
        Some("none") => AccountKind::Custom,
        _ => AccountKind::Standard,
    })
}

fn country(params: &Params) -> Result<String, ApiError> {
    let country = params.text("country")?.unwrap_or("US");
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
        let message = format!("Invalid country: {country}");
        return Err(ApiError::invalid("country", None, message));
    }
    Ok(country.to_ascii_uppercase())
}

/// Applies the creation or update parameters an account shares.
fn apply_account_params(account: &mut Value, params: &Params) -> Result<(), ApiError> {
    if let Some(email) = params.text("email")? {
        account["email"] = json!(email);
    }
    if let Some(business_type) = params.choice("business_type", &BUSINESS_TYPES)? {
        account["business_type"] = json!(business_type);
    }
    if let Some(currency) = params.text("default_currency")? {
        account["default_currency"] = json!(currency.to_ascii_lowercase());
    }
    if let Some(profile) = params.nested("business_profile")? {
        merge_into(&mut account["business_profile"], profile.as_json());
    }
    apply_capabilities(account, params)?;
    apply_settings(account, params)?;
    if let Some(patch) = params.metadata()? {
        apply_metadata(account, patch);
    }
    Ok(())
}

/// `capabilities[name][requested]=true|false`: a new request starts
/// `inactive` until onboarding completes (`active` once it has).
fn apply_capabilities(account: &mut Value, params: &Params) -> Result<(), ApiError> {
    let Some(requests) = params.nested("capabilities")? else {
        return Ok(());
    };
    let status = if account["charges_enabled"] == true {
        "active"
    } else {
        "inactive"
    };
    let mut capabilities = account["capabilities"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for name in requests.keys() {
        let request = requests.nested(name)?.unwrap_or_default();
        match request.boolean("requested")? {
            Some(true) => {
                capabilities
                    .entry(name.clone())
                    .or_insert_with(|| json!(status));
            }
            Some(false) => {
                capabilities.remove(name);
            }
            None => {}
        }
    }
    account["capabilities"] = Value::Object(capabilities);
    Ok(())
}

/// `settings[payouts][schedule][…]` is checked and typed; other settings
/// are kept as sent.
fn apply_settings(account: &mut Value, params: &Params) -> Result<(), ApiError> {
    let Some(settings) = params.nested("settings")? else {
        return Ok(());
    };
    let payouts = settings.nested("payouts")?.unwrap_or_default();
    let schedule = payouts.nested("schedule")?.unwrap_or_default();
    let mut typed_schedule = Map::new();
    if let Some(interval) = schedule.choice("interval", &INTERVALS)? {
        typed_schedule.insert("interval".into(), json!(interval));
    }
    if let Some(days) = schedule.count("delay_days")? {
        typed_schedule.insert("delay_days".into(), json!(days));
    }
    let mut typed_payouts = Map::from_iter([("schedule".into(), Value::Object(typed_schedule))]);
    if let Some(flag) = payouts.boolean("debit_negative_balances")? {
        typed_payouts.insert("debit_negative_balances".into(), json!(flag));
    }
    merge_into(&mut account["settings"], settings.as_json());
    let typed = Map::from_iter([("payouts".into(), Value::Object(typed_payouts))]);
    merge_into(&mut account["settings"], &typed);
    Ok(())
}

/// Every requested capability active; `transfers` and `card_payments`
/// when none was requested.
fn active_capabilities(capabilities: &Value) -> Value {
    let mut names: Vec<&str> = capabilities
        .as_object()
        .map(|map| map.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        names = vec!["card_payments", "transfers"];
    }
    Value::Object(
        names
            .into_iter()
            .map(|name| (name.to_owned(), json!("active")))
            .collect(),
    )
}

fn has_stripe_dashboard(account: &Value) -> bool {
    let dashboard = &account["controller"]["stripe_dashboard"]["type"];
    dashboard == "express" || dashboard == "full" || account["controller"]["type"] == "account"
}

/// A redirect URL parameter: http(s) and usable as a `Location` header.
fn url(params: &Params, key: &str) -> Result<Option<String>, ApiError> {
    let Some(url) = params.text(key)? else {
        return Ok(None);
    };
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok || HeaderValue::from_str(url).is_err() {
        return Err(ApiError::invalid(
            key,
            None,
            format!("Invalid {key}: not a URL"),
        ));
    }
    Ok(Some(url.to_owned()))
}

enum Visit {
    Completed(Option<String>),
    Expired(Option<String>),
    Unknown,
}

/// `GET /v1/accounts`: the platform's connected accounts, newest first.
pub(crate) async fn list_accounts(
    State(shared): State<AppState>,
    Query(query): Query,
) -> AnswerJson {
    query.only(&PAGING)?;
    let state = lock(&shared.state);
    let accounts: Vec<&Value> = state.accounts.iter().rev().collect();
    Ok(Json(list::page(&accounts, &query, "/v1/accounts")?))
}

/// `POST /v1/accounts`.
pub(crate) async fn create_account(State(shared): State<AppState>, params: Params) -> AnswerJson {
    Ok(Json(lock(&shared.state).create_account(&params)?))
}

/// `GET /v1/accounts/{id}`.
pub(crate) async fn get_account(
    State(shared): State<AppState>,
    Path(id): Path<String>,
) -> AnswerJson {
    let state = lock(&shared.state);
    let account = state
        .connected(&id)
        .ok_or_else(|| ApiError::no_such("account", &id, None))?;
    Ok(Json(account.clone()))
}

/// `POST /v1/accounts/{id}`.
pub(crate) async fn update_account(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> AnswerJson {
    Ok(Json(lock(&shared.state).update_account(&id, &params)?))
}

/// `POST /v1/account_links`.
pub(crate) async fn create_link(State(shared): State<AppState>, params: Params) -> AnswerJson {
    Ok(Json(
        lock(&shared.state).create_link(&params, &shared.base_url)?,
    ))
}

/// `GET /setup/s/{account}/{token}`: the simulated onboarding page.
pub(crate) async fn visit_link(
    State(shared): State<AppState>,
    Path((account, token)): Path<(String, String)>,
) -> Response {
    let visit = lock(&shared.state).visit_link(&account, &token);
    match visit {
        Visit::Completed(Some(url)) | Visit::Expired(Some(url)) => redirect(&url),
        Visit::Completed(None) => format!("Onboarding of {account} is complete.").into_response(),
        Visit::Expired(None) => (StatusCode::GONE, "This link has expired.").into_response(),
        Visit::Unknown => (StatusCode::NOT_FOUND, "Unknown onboarding link.").into_response(),
    }
}

fn redirect(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "unusable redirect URL").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Params {
        Params::parse(body.as_bytes()).expect("parses")
    }

    fn express(state: &mut Ledger) -> Value {
        let body = "type=express&country=us&email=v@example.com\
                    &capabilities[transfers][requested]=true&metadata[vendor_id]=v1\
                    &settings[payouts][schedule][interval]=manual";
        state.create_account(&params(body)).expect("created")
    }

    #[test]
    fn creates_express_accounts_that_still_need_onboarding() {
        let mut state = Ledger::default();
        let account = express(&mut state);
        assert!(
            account["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("acct_"))
        );
        assert_eq!(account["type"], "express");
        assert_eq!(account["country"], "US");
        assert_eq!(account["capabilities"], json!({"transfers": "inactive"}));
        assert_eq!(account["charges_enabled"], false);
        assert_eq!(account["metadata"], json!({"vendor_id": "v1"}));
        assert_eq!(
            account["settings"]["payouts"]["schedule"]["interval"],
            "manual"
        );
        assert_eq!(account["settings"]["payouts"]["schedule"]["delay_days"], 2);
        assert_eq!(account["controller"]["stripe_dashboard"]["type"], "express");
    }

    #[test]
    fn refuses_unknown_and_invalid_parameters() {
        let mut state = Ledger::default();
        for body in [
            "type=platinum",
            "colour=red",
            "type=custom",
            "country=USA",
            "type=express&capabilities[transfers][requested]=maybe",
            "type=express&settings[payouts][schedule][interval]=hourly",
        ] {
            assert!(state.create_account(&params(body)).is_err(), "{body}");
        }
        assert!(state.accounts.is_empty());
    }

    #[test]
    fn onboarding_enables_the_account_and_its_capabilities() {
        let mut state = Ledger::default();
        let id = express(&mut state)["id"].as_str().expect("id").to_owned();
        let account = state.complete_onboarding(&id).expect("exists");
        assert_eq!(account["capabilities"], json!({"transfers": "active"}));
        assert_eq!(
            (
                account["charges_enabled"].clone(),
                account["payouts_enabled"].clone()
            ),
            (json!(true), json!(true))
        );
        assert_eq!(account["requirements"]["currently_due"], json!([]));
        assert!(
            account["external_accounts"]["data"][0]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("ba_"))
        );
    }

    #[test]
    fn links_are_single_use_and_refuse_updates_for_express() {
        let mut state = Ledger::default();
        let id = express(&mut state)["id"].as_str().expect("id").to_owned();
        let update = params(&format!("account={id}&type=account_update"));
        assert!(state.create_link(&update, "http://sim").is_err());
        let body = format!(
            "account={id}&type=account_onboarding&return_url=https://host/r\
                            &refresh_url=https://host/f"
        );
        let link = state
            .create_link(&params(&body), "http://sim")
            .expect("link");
        let url = link["url"].as_str().expect("url");
        let token = url.rsplit('/').next().expect("token");
        assert!(
            matches!(state.visit_link(&id, token), Visit::Completed(Some(u)) if u.ends_with("/r"))
        );
        assert!(
            matches!(state.visit_link(&id, token), Visit::Expired(Some(u)) if u == "https://host/f")
        );
        assert_eq!(state.account(&id).expect("exists")["charges_enabled"], true);
    }

    #[test]
    fn updates_merge_metadata_and_leave_state_alone_on_error() {
        let mut state = Ledger::default();
        let id = express(&mut state)["id"].as_str().expect("id").to_owned();
        let updated = state.update_account(&id, &params("metadata[vendor_id]=&metadata[x]=1"));
        assert_eq!(updated.expect("updated")["metadata"], json!({"x": "1"}));
        assert!(
            state
                .update_account(&id, &params("email=new@example.com&type=custom"))
                .is_err()
        );
        assert_eq!(
            state.account(&id).expect("exists")["email"],
            "v@example.com"
        );
    }
}
