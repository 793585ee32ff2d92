//! Payouts (`/v1/payouts`) from the available balance of the platform or,
//! with `Stripe-Account`, of a connected account, and `GET /v1/balance`.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::auth::Acting;
use super::error::ApiError;
use super::list::{self, PAGING};
use super::objects::{self, PayoutFields};
use super::params::{MetadataPatch, Params, Query, apply_metadata};
use super::routes::{AnswerJson, AppState};
use super::state::{Owned, Owner, State as Ledger, int, merge_into};
use crate::clock::unix_secs;
use crate::{ids, lock};

const CREATE_PARAMS: [&str; 8] = [
    "amount",
    "currency",
    "description",
    "destination",
    "metadata",
    "method",
    "source_type",
    "statement_descriptor",
];
const FILTERS: [&str; 2] = ["status", "destination"];
const STATUSES: [&str; 5] = ["pending", "in_transit", "paid", "failed", "canceled"];
/// Stripe's limit on a statement descriptor.
const DESCRIPTOR_CHARS: usize = 22;

/// A checked `POST /v1/payouts` body.
struct PayoutRequest {
    amount: i64,
    currency: String,
    description: Option<String>,
    destination: Option<String>,
    method: String,
    source_type: String,
    statement_descriptor: Option<String>,
    metadata: Option<MetadataPatch>,
}

impl PayoutRequest {
    fn read(params: &Params) -> Result<Self, ApiError> {
        params.only(&CREATE_PARAMS)?;
        let owned = |text: Option<&str>| text.map(str::to_owned);
        let descriptor = owned(params.text("statement_descriptor")?);
        if descriptor
            .as_ref()
            .is_some_and(|text| text.chars().count() > DESCRIPTOR_CHARS)
        {
            let message =
                format!("statement_descriptor is limited to {DESCRIPTOR_CHARS} characters");
            return Err(ApiError::invalid("statement_descriptor", None, message));
        }
        Ok(Self {
            amount: params
                .amount("amount")?
                .ok_or_else(|| ApiError::missing("amount"))?,
            currency: params.currency()?,
            description: owned(params.text("description")?),
            destination: owned(params.text("destination")?),
            method: params
                .choice("method", &["standard", "instant"])?
                .unwrap_or("standard")
                .to_owned(),
            source_type: params
                .choice("source_type", &["bank_account", "card", "fpx"])?
                .unwrap_or("card")
                .to_owned(),
            statement_descriptor: descriptor,
            metadata: params.metadata()?,
        })
    }
}

impl Ledger {
    /// `POST /v1/payouts`: debits the owner's balance; the payout starts
    /// `pending` until a test settles it with [`Ledger::set_payout_status`].
    fn create_payout(&mut self, owner: &Owner, request: PayoutRequest) -> Result<Value, ApiError> {
        let destination = match request.destination.clone() {
            Some(destination) => destination,
            None => self.default_destination(owner)?,
        };
        self.debit(owner, &request.currency, request.amount)?;
        let fields = PayoutFields {
            amount: request.amount,
            currency: &request.currency,
            description: request.description.as_deref(),
            destination: &destination,
            method: &request.method,
            source_type: &request.source_type,
            statement_descriptor: request.statement_descriptor.as_deref(),
        };
        let mut payout = objects::payout(&fields, unix_secs());
        if let Some(patch) = request.metadata {
            apply_metadata(&mut payout, patch);
        }
        self.payouts.push(Owned {
            owner: owner.clone(),
            object: payout.clone(),
        });
        Ok(payout)
    }

    /// The default external account: the platform's own, or the connected
    /// account's first, which it only has once payouts are enabled.
    fn default_destination(&mut self, owner: &Owner) -> Result<String, ApiError> {
        let Some(account_id) = owner else {
            return Ok(self
                .platform_bank
                .get_or_insert_with(|| ids::stripe("ba"))
                .clone());
        };
        let account = self
            .connected(account_id)
            .ok_or_else(|| ApiError::account_access(account_id))?;
        let bank = account["external_accounts"]["data"][0]["id"].as_str();
        match bank {
            Some(bank) if account["payouts_enabled"] == true => Ok(bank.to_owned()),
            _ => {
                let message = format!(
                    "Payouts are not enabled for {account_id} yet; finish onboarding first."
                );
                Err(ApiError::refused(None, "payouts_not_allowed", message))
            }
        }
    }

    /// Moves a payout to `status`. A failed or canceled payout returns its
    /// amount to the balance it came from.
    pub(crate) fn set_payout_status(
        &mut self,
        id: &str,
        status: &str,
        failure: Option<(&str, &str)>,
    ) -> Option<Value> {
        let index = self
            .payouts
            .iter()
            .position(|payout| payout.object["id"] == id)?;
        let Owned { owner, object } = self.payouts[index].clone();
        if returns_funds(&object, status) {
            let currency = object["currency"].as_str().unwrap_or("usd");
            self.credit(&owner, currency, int(&object, "amount"));
        }
        let (code, message) = failure.unzip();
        let patch = json!({"status": status, "failure_code": code, "failure_message": message});
        let stored = &mut self.payouts[index].object;
        merge_into(stored, patch.as_object()?);
        Some(stored.clone())
    }

    fn payout_of(&self, owner: &Owner, id: &str) -> Result<&Value, ApiError> {
        let found = self
            .payouts
            .iter()
            .find(|payout| payout.owner == *owner && payout.object["id"] == id);
        found
            .map(|payout| &payout.object)
            .ok_or_else(|| ApiError::no_such("payout", id, None))
    }
}

/// Whether moving `payout` to `status` gives its money back: it fails or
/// is canceled, and had not already.
fn returns_funds(payout: &Value, status: &str) -> bool {
    let undone = |status: Option<&str>| matches!(status, Some("failed" | "canceled"));
    undone(Some(status)) && !undone(payout["status"].as_str())
}

/// `POST /v1/payouts`.
pub(crate) async fn create(
    State(shared): State<AppState>,
    Acting(owner): Acting,
    params: Params,
) -> AnswerJson {
    let request = PayoutRequest::read(&params)?;
    Ok(Json(lock(&shared.state).create_payout(&owner, request)?))
}

/// `GET /v1/payouts?status=&destination=`.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Acting(owner): Acting,
    Query(query): Query,
) -> AnswerJson {
    query.only(&[&PAGING[..], &FILTERS[..]].concat())?;
    let status = query.choice("status", &STATUSES)?;
    let destination = query.text("destination")?;
    let state = lock(&shared.state);
    let payouts: Vec<&Value> = state
        .payouts
        .iter()
        .rev()
        .filter(|payout| payout.owner == owner)
        .map(|payout| &payout.object)
        .filter(|payout| status.is_none_or(|s| payout["status"] == s))
        .filter(|payout| destination.is_none_or(|d| payout["destination"] == d))
        .collect();
    Ok(Json(list::page(&payouts, &query, "/v1/payouts")?))
}

/// `GET /v1/payouts/{id}`.
pub(crate) async fn get(
    State(shared): State<AppState>,
    Acting(owner): Acting,
    Path(id): Path<String>,
) -> AnswerJson {
    Ok(Json(lock(&shared.state).payout_of(&owner, &id)?.clone()))
}

/// `GET /v1/balance`.
pub(crate) async fn balance(State(shared): State<AppState>, Acting(owner): Acting) -> AnswerJson {
    Ok(Json(lock(&shared.state).balance(&owner)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Params {
        Params::parse(body.as_bytes()).expect("parses")
    }

    fn ledger(payouts_enabled: bool) -> (Ledger, Owner) {
        let mut state = Ledger::default();
        let bank = json!({"data": [{"id": "ba_1"}]});
        let account =
            json!({"id": "acct_1", "payouts_enabled": payouts_enabled, "external_accounts": bank});
        state.accounts.push(account);
        let owner = Some("acct_1".to_owned());
        state.set_available(owner.clone(), "usd", 5000);
        (state, owner)
    }

    fn payout(state: &mut Ledger, owner: &Owner, body: &str) -> Result<Value, ApiError> {
        state.create_payout(owner, PayoutRequest::read(&params(body))?)
    }

    #[test]
    fn payout_debits_the_connected_account() {
        let (mut state, owner) = ledger(true);
        let created =
            payout(&mut state, &owner, "amount=3000&currency=usd&metadata[p]=1").expect("ok");
        assert_eq!(
            (created["status"].clone(), created["destination"].clone()),
            (json!("pending"), json!("ba_1"))
        );
        assert_eq!(state.available(&owner, "usd"), 2000);
        let error =
            payout(&mut state, &owner, "amount=2001&currency=usd").expect_err("insufficient");
        assert_eq!(error.code(), Some("balance_insufficient"));
    }

    #[test]
    fn payout_needs_payouts_enabled() {
        let (mut state, owner) = ledger(false);
        let error = payout(&mut state, &owner, "amount=1&currency=usd").expect_err("refused");
        assert_eq!(error.code(), Some("payouts_not_allowed"));
        assert_eq!(state.available(&owner, "usd"), 5000);
    }

    #[test]
    fn failed_payouts_return_their_funds_once() {
        let (mut state, owner) = ledger(true);
        let id = payout(&mut state, &owner, "amount=3000&currency=usd").expect("ok")["id"].clone();
        let id = id.as_str().expect("id");
        let failed = state.set_payout_status(id, "failed", Some(("account_closed", "closed")));
        assert_eq!(failed.expect("exists")["failure_code"], "account_closed");
        state.set_payout_status(id, "failed", None);
        assert_eq!(state.available(&owner, "usd"), 5000);
    }
}
