//! Transfers to connected accounts (`/v1/transfers`) and their reversals.
//! A transfer moves money from the sender's available balance (the
//! platform's, unless `Stripe-Account` says otherwise) to the destination
//! account's; a reversal moves it back.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::auth::Acting;
use super::error::ApiError;
use super::list::{self, PAGING};
use super::objects::{self, TransferFields};
use super::params::{MetadataPatch, Params, Query, apply_metadata};
use super::routes::{AnswerJson, AppState};
use super::state::{Owned, Owner, State as Ledger, int, merge_into};
use crate::clock::unix_secs;
use crate::lock;

const CREATE_PARAMS: [&str; 8] = [
    "amount",
    "currency",
    "destination",
    "description",
    "metadata",
    "source_transaction",
    "source_type",
    "transfer_group",
];
const REVERSAL_PARAMS: [&str; 4] = [
    "amount",
    "description",
    "metadata",
    "refund_application_fee",
];
const FILTERS: [&str; 2] = ["destination", "transfer_group"];
const SOURCE_TYPES: [&str; 3] = ["bank_account", "card", "fpx"];

/// A checked `POST /v1/transfers` body.
struct TransferRequest {
    amount: i64,
    currency: String,
    destination: String,
    description: Option<String>,
    source_transaction: Option<String>,
    source_type: String,
    transfer_group: Option<String>,
    metadata: Option<MetadataPatch>,
}

impl TransferRequest {
    fn read(params: &Params) -> Result<Self, ApiError> {
        params.only(&CREATE_PARAMS)?;
        let owned = |text: Option<&str>| text.map(str::to_owned);
        Ok(Self {
            amount: params
                .amount("amount")?
                .ok_or_else(|| ApiError::missing("amount"))?,
            currency: params.currency()?,
            destination: params.required("destination")?.to_owned(),
            description: owned(params.text("description")?),
            source_transaction: owned(params.text("source_transaction")?),
            source_type: params
                .choice("source_type", &SOURCE_TYPES)?
                .unwrap_or("card")
                .to_owned(),
            transfer_group: owned(params.text("transfer_group")?),
            metadata: params.metadata()?,
        })
    }

    fn fields(&self) -> TransferFields<'_> {
        TransferFields {
            amount: self.amount,
            currency: &self.currency,
            destination: &self.destination,
            description: self.description.as_deref(),
            source_transaction: self.source_transaction.as_deref(),
            source_type: &self.source_type,
            transfer_group: self.transfer_group.as_deref(),
        }
    }
}

impl Ledger {
    /// `POST /v1/transfers`. With `source_transaction` the money comes from
    /// that charge, so the balance is not checked (the simulator keeps no
    /// charges and takes the id on trust).
    fn create_transfer(
        &mut self,
        owner: &Owner,
        request: TransferRequest,
    ) -> Result<Value, ApiError> {
        self.check_destination(&request.destination)?;
        if request.source_transaction.is_none() {
            self.debit(owner, &request.currency, request.amount)?;
        }
        let destination = Some(request.destination.clone());
        self.credit(&destination, &request.currency, request.amount);
        let mut transfer = objects::transfer(&request.fields(), unix_secs());
        if let Some(patch) = request.metadata {
            apply_metadata(&mut transfer, patch);
        }
        self.transfers.push(Owned {
            owner: owner.clone(),
            object: transfer.clone(),
        });
        Ok(transfer)
    }

    /// The destination must be connected and able to receive transfers.
    fn check_destination(&self, destination: &str) -> Result<(), ApiError> {
        let account = self.connected(destination);
        let account = account
            .ok_or_else(|| ApiError::no_such("destination", destination, Some("destination")))?;
        if account["capabilities"]["transfers"] == "active" {
            return Ok(());
        }
        let message = format!(
            "The destination account {destination} needs the `transfers` capability active \
             (onboarding incomplete?) before it can receive transfers."
        );
        Err(ApiError::refused(
            Some("destination"),
            "insufficient_capabilities_for_transfer",
            message,
        ))
    }

    /// `POST /v1/transfers/{id}/reversals`: all of what remains, or `amount`.
    fn reverse_transfer(
        &mut self,
        owner: &Owner,
        id: &str,
        params: &Params,
    ) -> Result<Value, ApiError> {
        params.only(&REVERSAL_PARAMS)?;
        let (requested, metadata) = (params.amount("amount")?, params.metadata()?);
        let index = self.transfer_index(owner, id)?;
        let transfer = self.transfers[index].object.clone();
        let amount = reversal_amount(&transfer, requested)?;
        let currency = transfer["currency"].as_str().unwrap_or("usd").to_owned();
        let destination = transfer["destination"].as_str().map(str::to_owned);
        self.credit(&destination, &currency, -amount);
        self.credit(owner, &currency, amount);
        let mut reversal = objects::transfer_reversal(id, amount, &currency, unix_secs());
        if let Some(patch) = metadata {
            apply_metadata(&mut reversal, patch);
        }
        record_reversal(&mut self.transfers[index].object, &reversal, amount);
        Ok(reversal)
    }

    fn transfer_index(&self, owner: &Owner, id: &str) -> Result<usize, ApiError> {
        let found = self
            .transfers
            .iter()
            .position(|t| t.owner == *owner && t.object["id"] == id);
        found.ok_or_else(|| ApiError::no_such("transfer", id, None))
    }

    /// The transfers `owner` sent, newest first.
    fn transfers_of<'a>(&'a self, owner: &'a Owner) -> impl Iterator<Item = &'a Value> {
        self.transfers
            .iter()
            .rev()
            .filter(move |t| t.owner == *owner)
            .map(|t| &t.object)
    }
}

/// What a reversal takes back: all that remains, or the `requested` part
/// of it.
fn reversal_amount(transfer: &Value, requested: Option<i64>) -> Result<i64, ApiError> {
    let remaining = int(transfer, "amount").saturating_sub(int(transfer, "amount_reversed"));
    let amount = requested.unwrap_or(remaining);
    if remaining > 0 && amount <= remaining {
        return Ok(amount);
    }
    let id = transfer["id"].as_str().unwrap_or_default();
    let message = format!("Cannot reverse {amount}: only {remaining} of {id} remains.");
    Err(ApiError::refused(
        Some("amount"),
        "transfer_reversal_too_large",
        message,
    ))
}

/// Adds a reversal to its transfer: newest first in `reversals.data`.
fn record_reversal(transfer: &mut Value, reversal: &Value, amount: i64) {
    let reversed = int(transfer, "amount_reversed").saturating_add(amount);
    let mut data = transfer["reversals"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    data.insert(0, reversal.clone());
    let patch = json!({
        "amount_reversed": reversed,
        "reversed": reversed >= int(transfer, "amount"),
        "reversals": {"data": data}
    });
    if let Some(patch) = patch.as_object() {
        merge_into(transfer, patch);
    }
}

/// `POST /v1/transfers`.
pub(crate) async fn create(
    State(shared): State<AppState>,
    Acting(owner): Acting,
    params: Params,
) -> AnswerJson {
    let request = TransferRequest::read(&params)?;
    Ok(Json(lock(&shared.state).create_transfer(&owner, request)?))
}

/// `GET /v1/transfers?destination=&transfer_group=`.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Acting(owner): Acting,
    Query(query): Query,
) -> AnswerJson {
    query.only(&[&PAGING[..], &FILTERS[..]].concat())?;
    let (destination, group) = (query.text("destination")?, query.text("transfer_group")?);
    let state = lock(&shared.state);
    let transfers: Vec<&Value> = state
        .transfers_of(&owner)
        .filter(|t| destination.is_none_or(|d| t["destination"] == d))
        .filter(|t| group.is_none_or(|g| t["transfer_group"] == g))
        .collect();
    Ok(Json(list::page(&transfers, &query, "/v1/transfers")?))
}

/// `GET /v1/transfers/{id}`.
pub(crate) async fn get(
    State(shared): State<AppState>,
    Acting(owner): Acting,
    Path(id): Path<String>,
) -> AnswerJson {
    let state = lock(&shared.state);
    let index = state.transfer_index(&owner, &id)?;
    Ok(Json(state.transfers[index].object.clone()))
}

/// `POST /v1/transfers/{id}/reversals`.
pub(crate) async fn reverse(
    State(shared): State<AppState>,
    Acting(owner): Acting,
    Path(id): Path<String>,
    params: Params,
) -> AnswerJson {
    Ok(Json(
        lock(&shared.state).reverse_transfer(&owner, &id, &params)?,
    ))
}

/// `GET /v1/transfers/{id}/reversals`.
pub(crate) async fn list_reversals(
    State(shared): State<AppState>,
    Acting(owner): Acting,
    Path(id): Path<String>,
    Query(query): Query,
) -> AnswerJson {
    query.only(&PAGING)?;
    let state = lock(&shared.state);
    let index = state.transfer_index(&owner, &id)?;
    let data = state.transfers[index].object["reversals"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let reversals: Vec<&Value> = data.iter().collect();
    Ok(Json(list::page(
        &reversals,
        &query,
        &format!("/v1/transfers/{id}/reversals"),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Params {
        Params::parse(body.as_bytes()).expect("parses")
    }

    fn ledger_with_account(transfers: &str) -> Ledger {
        let mut state = Ledger::default();
        let account = json!({"id": "acct_1", "capabilities": {"transfers": transfers}});
        state.accounts.push(account);
        state.set_available(None, "usd", 10_000);
        state
    }

    fn transfer(state: &mut Ledger, body: &str) -> Result<Value, ApiError> {
        let request = TransferRequest::read(&params(body))?;
        state.create_transfer(&None, request)
    }

    #[test]
    fn transfer_moves_money_to_the_destination() {
        let mut state = ledger_with_account("active");
        let body = "amount=9890&currency=usd&destination=acct_1&transfer_group=payout_1\
                    &metadata[payout_id]=payout_1";
        let created = transfer(&mut state, body).expect("created");
        assert_eq!(created["metadata"], json!({"payout_id": "payout_1"}));
        assert_eq!(created["transfer_group"], "payout_1");
        assert_eq!(state.available(&None, "usd"), 110);
        assert_eq!(state.available(&Some("acct_1".into()), "usd"), 9890);
    }

    #[test]
    fn transfer_beyond_the_platform_balance_is_refused_and_moves_nothing() {
        let mut state = ledger_with_account("active");
        let error = transfer(&mut state, "amount=10001&currency=usd&destination=acct_1");
        assert_eq!(
            error.expect_err("insufficient").code(),
            Some("balance_insufficient")
        );
        assert_eq!(state.available(&None, "usd"), 10_000);
        assert!(state.transfers.is_empty());
        let other_currency = transfer(&mut state, "amount=1&currency=eur&destination=acct_1");
        assert_eq!(
            other_currency.expect_err("no eur").code(),
            Some("balance_insufficient")
        );
    }

    #[test]
    fn transfer_from_a_charge_skips_the_balance_check() {
        let mut state = ledger_with_account("active");
        let body = "amount=50000&currency=usd&destination=acct_1&source_transaction=ch_1";
        assert!(transfer(&mut state, body).is_ok());
        assert_eq!(state.available(&None, "usd"), 10_000);
    }

    #[test]
    fn transfer_needs_an_able_destination() {
        let mut state = ledger_with_account("inactive");
        let error =
            transfer(&mut state, "amount=1&currency=usd&destination=acct_1").expect_err("x");
        assert_eq!(error.code(), Some("insufficient_capabilities_for_transfer"));
        let error =
            transfer(&mut state, "amount=1&currency=usd&destination=acct_9").expect_err("x");
        assert_eq!(error.code(), Some("resource_missing"));
        let error = transfer(&mut state, "amount=1&currency=usd").expect_err("x");
        assert_eq!(error.code(), Some("parameter_missing"));
    }

    #[test]
    fn reversals_move_money_back_until_nothing_remains() {
        let mut state = ledger_with_account("active");
        let created = transfer(&mut state, "amount=1000&currency=usd&destination=acct_1");
        let id = created.expect("created")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        state
            .reverse_transfer(&None, &id, &params("amount=400"))
            .expect("partial");
        let rest = state
            .reverse_transfer(&None, &id, &params(""))
            .expect("rest");
        assert_eq!(rest["amount"], 600);
        let stored = &state.transfers[0].object;
        assert_eq!(
            (
                stored["reversed"].clone(),
                stored["amount_reversed"].clone()
            ),
            (json!(true), json!(1000))
        );
        assert_eq!(
            stored["reversals"]["data"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(state.available(&None, "usd"), 10_000);
        assert!(state.reverse_transfer(&None, &id, &params("")).is_err());
        assert!(
            state
                .reverse_transfer(&Some("acct_1".into()), &id, &params(""))
                .is_err()
        );
    }
}
