//! The Stripe simulator's in-memory ledger: connected accounts, the
//! objects owned by the platform or by an account, and the available
//! balance of each, with the checks every route shares.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::error::ApiError;
use super::objects;

/// Who an object or balance belongs to: `None` is the platform itself,
/// `Some(acct_…)` a connected account (the `Stripe-Account` header).
pub(crate) type Owner = Option<String>;

/// An object kept with its owner, for `Stripe-Account` scoping.
#[derive(Debug, Clone)]
pub(crate) struct Owned {
    pub owner: Owner,
    pub object: Value,
}

/// An account link handed out and not yet visited.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub account: String,
    pub refresh_url: Option<String>,
    pub return_url: Option<String>,
    pub expires_at: u64,
    pub used: bool,
}

/// The whole simulated Stripe.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Connected accounts, oldest first.
    pub accounts: Vec<Value>,
    /// Accounts that deauthorized the platform; they stay listed but the
    /// platform may no longer act for them or pay them.
    pub disconnected: HashSet<String>,
    pub transfers: Vec<Owned>,
    pub payouts: Vec<Owned>,
    /// Available balance per owner and currency, in minor units.
    pub balances: HashMap<Owner, BTreeMap<String, i64>>,
    /// Account links by token.
    pub links: HashMap<String, Link>,
    /// OAuth codes (`ac_…` → account to connect, or `None` for a new one)
    /// and whether each was used.
    pub oauth_codes: HashMap<String, (Option<String>, bool)>,
    /// OAuth refresh tokens → account.
    pub refresh_tokens: HashMap<String, String>,
    /// The platform's own bank account, made on its first payout.
    pub platform_bank: Option<String>,
}

impl State {
    /// An account by id, connected or not.
    pub(crate) fn account(&self, id: &str) -> Option<&Value> {
        self.accounts.iter().find(|account| account["id"] == id)
    }

    /// A connected account by id (mutable).
    pub(crate) fn account_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.accounts.iter_mut().find(|account| account["id"] == id)
    }

    /// An account the platform may still act for.
    pub(crate) fn connected(&self, id: &str) -> Option<&Value> {
        self.account(id).filter(|_| !self.disconnected.contains(id))
    }

    /// Refuses a `Stripe-Account` the platform cannot act as.
    pub(crate) fn check_access(&self, account: &str) -> Result<(), ApiError> {
        match self.connected(account) {
            Some(_) => Ok(()),
            None => Err(ApiError::account_access(account)),
        }
    }

    /// The available balance of `owner` in `currency`.
    pub(crate) fn available(&self, owner: &Owner, currency: &str) -> i64 {
        let balances = self.balances.get(owner);
        balances
            .and_then(|by_currency| by_currency.get(currency))
            .copied()
            .unwrap_or_default()
    }

    /// Sets the available balance, as a test hook does.
    pub(crate) fn set_available(&mut self, owner: Owner, currency: &str, amount: i64) {
        self.balances
            .entry(owner)
            .or_default()
            .insert(currency.to_owned(), amount);
    }

    /// Adds `amount` (negative to take away; balances may go negative, as a
    /// reversal can push a connected account below zero).
    pub(crate) fn credit(&mut self, owner: &Owner, currency: &str, amount: i64) {
        let by_currency = self.balances.entry(owner.clone()).or_default();
        let balance = by_currency.entry(currency.to_owned()).or_default();
        *balance = balance.saturating_add(amount);
    }

    /// Takes `amount` out, refusing with `balance_insufficient` when the
    /// available balance cannot cover it.
    pub(crate) fn debit(
        &mut self,
        owner: &Owner,
        currency: &str,
        amount: i64,
    ) -> Result<(), ApiError> {
        if self.available(owner, currency) < amount {
            return Err(ApiError::balance_insufficient(currency));
        }
        self.credit(owner, currency, -amount);
        Ok(())
    }

    /// The balance object of `owner`.
    pub(crate) fn balance(&self, owner: &Owner) -> Value {
        let empty = BTreeMap::new();
        objects::balance(self.balances.get(owner).unwrap_or(&empty).iter())
    }
}

/// Deep-merges `patch` into `target`, replacing any non-object on the way
/// by an object, so that no path through hostile input can panic.
pub(crate) fn merge_into(target: &mut Value, patch: &Map<String, Value>) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(fields) = target else {
        return;
    };
    for (key, value) in patch {
        match value {
            Value::Object(inner) => {
                merge_into(fields.entry(key.clone()).or_insert(Value::Null), inner)
            }
            other => {
                fields.insert(key.clone(), other.clone());
            }
        }
    }
}

/// An integer field of a stored object (0 when absent).
pub(crate) fn int(object: &Value, field: &str) -> i64 {
    object[field].as_i64().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debits_refuse_beyond_the_available_balance() {
        let mut state = State::default();
        state.set_available(None, "usd", 1000);
        let error = state.debit(&None, "usd", 1001).expect_err("insufficient");
        assert_eq!(error.code(), Some("balance_insufficient"));
        assert_eq!(state.available(&None, "usd"), 1000);
        state.debit(&None, "usd", 1000).expect("covered");
        assert_eq!(state.available(&None, "usd"), 0);
        assert!(state.debit(&None, "eur", 1).is_err());
    }

    #[test]
    fn merge_replaces_scalars_on_the_path() {
        let mut target = json!({"a": "text", "b": {"c": 1}});
        let patch = json!({"a": {"x": "1"}, "b": {"d": "2"}});
        merge_into(&mut target, patch.as_object().expect("object"));
        assert_eq!(target, json!({"a": {"x": "1"}, "b": {"c": 1, "d": "2"}}));
    }
}
