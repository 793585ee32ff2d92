//! What an `account.updated` event means for a vendor's onboarding: pure
//! decisions, kept apart from the calls that act on them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{StripeEvent, is_plain_id};

/// At most this many requirement names are kept per list: enough to show
/// what is due, bounded so a hostile body cannot bloat the kv record.
const MAX_REQUIREMENTS: usize = 50;
/// Requirement names longer than this are cut.
const MAX_REQUIREMENT_LEN: usize = 100;

/// The onboarding facts of a connected account, as Stripe reported them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountState {
    /// The account can take charges.
    pub charges_enabled: bool,
    /// The account can receive payouts.
    pub payouts_enabled: bool,
    /// The vendor finished Stripe's onboarding form.
    pub details_submitted: bool,
    /// Requirements due now (`requirements.currently_due`).
    pub currently_due: Vec<String>,
    /// Requirements overdue, which disable the account (`past_due`).
    pub past_due: Vec<String>,
    /// Why Stripe disabled the account, if it did.
    pub disabled_reason: Option<String>,
}

impl AccountState {
    /// Reads an Account object. A missing or non-boolean flag counts as
    /// false: nothing is approved on data Stripe did not send.
    pub fn from_object(account: &Value) -> Self {
        let flag = |name: &str| account.get(name).and_then(Value::as_bool).unwrap_or(false);
        let requirements = account.get("requirements");
        let list = |name: &str| names(requirements.and_then(|r| r.get(name)));
        let disabled_reason = requirements
            .and_then(|r| r.get("disabled_reason"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(MAX_REQUIREMENT_LEN).collect());
        Self {
            charges_enabled: flag("charges_enabled"),
            payouts_enabled: flag("payouts_enabled"),
            details_submitted: flag("details_submitted"),
            currently_due: list("currently_due"),
            past_due: list("past_due"),
            disabled_reason,
        }
    }

    /// Charges, payouts and details all done.
    pub fn fully_onboarded(&self) -> bool {
        self.charges_enabled && self.payouts_enabled && self.details_submitted
    }

    /// Stripe wants something from the vendor, or has disabled the account.
    pub fn requirements_due(&self) -> bool {
        !self.currently_due.is_empty()
            || !self.past_due.is_empty()
            || self.disabled_reason.is_some()
    }
}

/// The string items of a JSON array, bounded in number and length.
fn names(list: Option<&Value>) -> Vec<String> {
    let items = list
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let names = items.iter().filter_map(Value::as_str);
    names
        .take(MAX_REQUIREMENTS)
        .map(|s| s.chars().take(MAX_REQUIREMENT_LEN).collect())
        .collect()
}

/// The vendor onboarding statuses the plugin writes to Medusa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Onboarding {
    /// Fully onboarded: the vendor can sell and be paid.
    Complete,
    /// Stripe needs more from the vendor.
    Incomplete,
}

impl Onboarding {
    /// The value of the vendor's `onboarding_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Incomplete => "incomplete",
        }
    }
}

/// The status the vendor should have, if the account says. Requirements due
/// win over the enabled flags: Stripe may still have charges enabled while
/// a deadline runs, and the vendor must act before it passes. An account
/// with neither (onboarding under way) says nothing.
pub fn target_status(state: &AccountState) -> Option<Onboarding> {
    if state.requirements_due() {
        Some(Onboarding::Incomplete)
    } else if state.fully_onboarded() {
        Some(Onboarding::Complete)
    } else {
        None
    }
}

/// The status to write to Medusa, or none when the vendor already has it
/// (so an approval is posted once, however often Stripe repeats itself).
pub fn status_change(state: &AccountState, current: Option<&str>) -> Option<Onboarding> {
    target_status(state).filter(|target| current != Some(target.as_str()))
}

/// An `account.updated` event, checked and reduced to what the plugin uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdate {
    /// The event's id.
    pub event_id: String,
    /// When Stripe created the event, in Unix seconds.
    pub created: u64,
    /// The connected account, `acct_…`.
    pub account_id: String,
    /// The vendor named in the account's `metadata.vendor_id`, if any.
    pub vendor_hint: Option<String>,
    /// The account's onboarding facts.
    pub state: AccountState,
}

impl AccountUpdate {
    /// Reads an `account.updated` event. The account is the object's `id`;
    /// an event-level `account` that names another one is refused, as is an
    /// id that is not a plain `acct_…` id.
    pub fn from_event(event: &StripeEvent) -> Result<Self, String> {
        let object = event.object().ok_or("event has no data.object")?;
        let object_id = object
            .get("id")
            .and_then(Value::as_str)
            .ok_or("account has no id")?;
        if !object_id.starts_with("acct_") || !is_plain_id(object_id) {
            return Err("account id is not an acct_ id".to_owned());
        }
        if event.account.as_deref().is_some_and(|a| a != object_id) {
            return Err(format!("event account does not match account {object_id}"));
        }
        let metadata_vendor = object
            .pointer("/metadata/vendor_id")
            .and_then(Value::as_str);
        Ok(Self {
            event_id: event.id.clone(),
            created: event.created.ok_or("event has no created time")?,
            account_id: object_id.to_owned(),
            vendor_hint: metadata_vendor
                .filter(|v| is_plain_id(v))
                .map(str::to_owned),
            state: AccountState::from_object(object),
        })
    }
}

/// What the plugin remembers about a connected account, under
/// `account/{acct_id}` in kv; feeds the dashboard and orders events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The onboarding facts of the newest event applied.
    #[serde(flatten)]
    pub state: AccountState,
    /// That event's id.
    pub event_id: String,
    /// That event's creation time, in Unix seconds.
    pub event_created: u64,
    /// When the plugin wrote this record, in Unix milliseconds.
    pub updated_at_ms: u64,
    /// The vendor that owns the account, once known.
    #[serde(default)]
    pub vendor_id: Option<String>,
    /// The vendor's onboarding status after the plugin acted.
    #[serde(default)]
    pub onboarding_status: Option<String>,
}

impl AccountRecord {
    /// The record for `update`, written at `now_ms`, vendor not yet known.
    pub fn new(update: &AccountUpdate, now_ms: u64) -> Self {
        Self {
            state: update.state.clone(),
            event_id: update.event_id.clone(),
            event_created: update.created,
            updated_at_ms: now_ms,
            vendor_id: None,
            onboarding_status: None,
        }
    }

    /// True when this record comes from an event created after `created`:
    /// an older event arriving late must not undo it. Equal times are not
    /// newer, so a redelivery of the same event is applied again.
    pub fn is_newer_than(&self, created: u64) -> bool {
        self.event_created > created
    }
}

/// The kv key of an account's record.
pub fn record_key(account_id: &str) -> String {
    format!("account/{account_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(json: Value) -> AccountState {
        AccountState::from_object(&json)
    }

    fn onboarded() -> Value {
        json!({"id": "acct_1", "charges_enabled": true, "payouts_enabled": true,
               "details_submitted": true,
               "requirements": {"currently_due": [], "past_due": [], "disabled_reason": null}})
    }

    #[test]
    fn approves_a_fully_onboarded_account_once() {
        let s = state(onboarded());
        assert_eq!(
            status_change(&s, Some("pending")),
            Some(Onboarding::Complete)
        );
        assert_eq!(status_change(&s, None), Some(Onboarding::Complete));
        assert_eq!(status_change(&s, Some("complete")), None);
    }

    #[test]
    fn requirements_due_mark_onboarding_incomplete() {
        let mut account = onboarded();
        account["requirements"]["currently_due"] = json!(["external_account"]);
        assert_eq!(
            status_change(&state(account), Some("complete")),
            Some(Onboarding::Incomplete)
        );

        let mut account = onboarded();
        account["requirements"]["past_due"] = json!(["individual.dob.day"]);
        assert_eq!(target_status(&state(account)), Some(Onboarding::Incomplete));

        let mut account = onboarded();
        account["requirements"]["disabled_reason"] = json!("requirements.past_due");
        let s = state(account);
        assert_eq!(status_change(&s, Some("incomplete")), None);
        assert_eq!(target_status(&s), Some(Onboarding::Incomplete));
    }

    #[test]
    fn onboarding_under_way_changes_nothing() {
        let s = state(json!({"id": "acct_1", "details_submitted": true}));
        assert_eq!(target_status(&s), None);
    }

    #[test]
    fn missing_or_odd_flags_never_approve() {
        let s = state(json!({"charges_enabled": "true", "payouts_enabled": 1,
                             "details_submitted": true, "requirements": "none"}));
        assert!(!s.fully_onboarded());
        assert!(!s.requirements_due());
    }

    #[test]
    fn bounds_requirement_lists() {
        let many: Vec<String> = (0..500)
            .map(|i| format!("{i}{}", "x".repeat(300)))
            .collect();
        let s = state(json!({"requirements": {"currently_due": many, "past_due": [1, null]}}));
        assert_eq!(s.currently_due.len(), MAX_REQUIREMENTS);
        assert!(
            s.currently_due
                .iter()
                .all(|r| r.chars().count() == MAX_REQUIREMENT_LEN)
        );
        assert!(s.past_due.is_empty());
    }

    fn event(account: Option<&str>, object: Value) -> StripeEvent {
        StripeEvent {
            id: "evt_1".into(),
            kind: "account.updated".into(),
            object: Some("event".into()),
            created: Some(10),
            account: account.map(str::to_owned),
            data: Some(crate::event::EventData { object }),
        }
    }

    #[test]
    fn reads_the_account_and_the_vendor_hint() {
        let mut object = onboarded();
        object["metadata"] = json!({"vendor_id": "ven_7"});
        let update = AccountUpdate::from_event(&event(Some("acct_1"), object)).unwrap();
        assert_eq!(update.account_id, "acct_1");
        assert_eq!(update.vendor_hint.as_deref(), Some("ven_7"));
        assert_eq!(update.created, 10);
    }

    #[test]
    fn refuses_mismatched_or_unsafe_accounts() {
        assert!(AccountUpdate::from_event(&event(Some("acct_2"), onboarded())).is_err());
        let bad_id = json!({"id": "acct_../../admin"});
        assert!(AccountUpdate::from_event(&event(None, bad_id)).is_err());
        assert!(AccountUpdate::from_event(&event(None, json!({"id": "cus_1"}))).is_err());
        let mut object = onboarded();
        object["metadata"] = json!({"vendor_id": "../users/1"});
        let update = AccountUpdate::from_event(&event(None, object)).unwrap();
        assert_eq!(update.vendor_hint, None);
    }

    #[test]
    fn orders_records_by_event_creation() {
        let update = AccountUpdate::from_event(&event(None, onboarded())).unwrap();
        let record = AccountRecord::new(&update, 0);
        assert!(record.is_newer_than(9));
        assert!(!record.is_newer_than(10));
        assert!(!record.is_newer_than(11));
    }
}
