//! `account.updated`: record the connected account's onboarding state,
//! find the vendor that owns the account, and bring the vendor's onboarding
//! status in Medusa in line with it.
//!
//! Deliveries come late, out of order and more than once. The kv record of
//! the account orders them: an event older than the one recorded is
//! ignored, and the record is claimed with compare-and-swap so two
//! deliveries running at once cannot both think they are the newest.

use switchyard_plugin_sdk::{PluginError, clock, kv, log, metrics};

use crate::account::{AccountRecord, AccountUpdate, Onboarding, record_key, status_change};
use crate::event::StripeEvent;
use crate::links;
use crate::medusa::{Medusa, Vendor};

/// Tries at claiming the record before giving up for now: each failed try
/// means another delivery for the same account wrote in between.
const CLAIM_ATTEMPTS: usize = 5;

/// Handles one `account.updated` event; the summary says what was done.
pub fn handle(event: &StripeEvent) -> Result<String, PluginError> {
    let update = AccountUpdate::from_event(event).map_err(PluginError::invalid_input)?;
    if links::is_deauthorized(&update.account_id)? {
        return Ok(format!("ignored: {} was deauthorized", update.account_id));
    }
    let key = record_key(&update.account_id);
    let record = AccountRecord::new(&update, clock::now_ms());
    let claimed = match claim(&key, &record)? {
        Claim::Stale(newer) => return Ok(stale(&update, newer)),
        Claim::Claimed(bytes) => bytes,
    };

    let medusa = Medusa::from_config()?;
    let Some(vendor) = find_vendor(&medusa, &update)? else {
        return Ok(unowned(&update));
    };
    let outcome = apply(&medusa, &update, &vendor)?;
    remember(&key, &claimed, record, &vendor, &outcome)?;
    Ok(outcome.summary(&update, &vendor))
}

/// What claiming the account's record found.
enum Claim {
    /// A newer event is recorded; its creation time.
    Stale(u64),
    /// This event's record is stored; the bytes written.
    Claimed(Vec<u8>),
}

/// Stores `record` unless a newer event is recorded already.
fn claim(key: &str, record: &AccountRecord) -> Result<Claim, PluginError> {
    let new = kv::to_json(key, record)?;
    for _ in 0..CLAIM_ATTEMPTS {
        let current = kv::get(key)?;
        let stored = current.as_deref().and_then(|bytes| decode(key, bytes));
        if let Some(stored) = stored
            && stored.is_newer_than(record.event_created)
        {
            return Ok(Claim::Stale(stored.event_created));
        }
        if kv::compare_and_swap(key, current.as_deref(), Some(&new))? {
            return Ok(Claim::Claimed(new));
        }
    }
    Err(PluginError::retryable(format!(
        "{key} kept changing while this event was recorded"
    )))
}

/// A stored record, or none when it no longer decodes: it is then simply
/// replaced, since the next event restates the whole account anyway.
fn decode(key: &str, bytes: &[u8]) -> Option<AccountRecord> {
    let record = serde_json::from_slice(bytes);
    if record.is_err() {
        log::warn(
            "replacing an account record that does not decode",
            &[("key", key)],
        );
    }
    record.ok()
}

fn stale(update: &AccountUpdate, newer: u64) -> String {
    metrics::counter(
        "stripe_events_stale_total",
        1,
        &[("type", "account.updated")],
    );
    let (event, account) = (update.event_id.as_str(), update.account_id.as_str());
    log::debug(
        "older than the recorded state",
        &[("event_id", event), ("account", account)],
    );
    format!("ignored: {account} already has state from an event created at {newer}")
}

fn unowned(update: &AccountUpdate) -> String {
    metrics::counter("stripe_accounts_unowned_total", 1, &[]);
    let (event, account) = (update.event_id.as_str(), update.account_id.as_str());
    log::info(
        "no vendor owns the account",
        &[("event_id", event), ("account", account)],
    );
    format!("no vendor owns {account}")
}

/// The vendor named in the account's metadata when it may own the account,
/// else the one vendor Medusa links to it, else none.
fn find_vendor(medusa: &Medusa, update: &AccountUpdate) -> Result<Option<Vendor>, PluginError> {
    if let Some(vendor) = hinted_vendor(medusa, update)? {
        return Ok(Some(vendor));
    }
    let mut vendors = medusa.vendors_by_account(&update.account_id)?;
    if vendors.len() > 1 {
        let n = vendors.len();
        let message = format!("{n} vendors are linked to {}", update.account_id);
        return Err(PluginError::permanent(message));
    }
    Ok(vendors.pop())
}

/// The vendor named in the account's metadata, else the one the plugin
/// linked the account to (an OAuth account carries no metadata of ours).
fn hinted_vendor(medusa: &Medusa, update: &AccountUpdate) -> Result<Option<Vendor>, PluginError> {
    let linked = links::link(&update.account_id)?.map(|l| l.vendor_id);
    let Some(id) = update.vendor_hint.as_deref().or(linked.as_deref()) else {
        return Ok(None);
    };
    let vendor = medusa.vendor(id)?;
    let owns = vendor
        .as_ref()
        .is_some_and(|v| v.may_own(&update.account_id));
    if vendor.is_some() && !owns {
        let fields = [("account", update.account_id.as_str()), ("vendor_id", id)];
        log::warn(
            "account metadata names a vendor linked to another account",
            &fields,
        );
    }
    Ok(vendor.filter(|_| owns))
}

/// What the event did to the vendor.
enum Outcome {
    /// The status was written.
    Changed(Onboarding),
    /// The vendor already had the status the account calls for, or the
    /// account calls for none yet.
    Unchanged,
    /// A newer event was recorded while this one was looking up the
    /// vendor; that one decides.
    Superseded,
}

/// Writes the status the account calls for, if the vendor does not have it.
/// The vendor was read just now, so a status written by an earlier delivery
/// is seen and not written twice.
fn apply(medusa: &Medusa, update: &AccountUpdate, vendor: &Vendor) -> Result<Outcome, PluginError> {
    let current = vendor.onboarding_status.as_deref();
    let Some(status) = status_change(&update.state, current) else {
        return Ok(Outcome::Unchanged);
    };
    if superseded(update)? {
        return Ok(Outcome::Superseded);
    }
    medusa.set_onboarding_status(&vendor.id, status)?;
    report_change(update, vendor, status);
    Ok(Outcome::Changed(status))
}

fn superseded(update: &AccountUpdate) -> Result<bool, PluginError> {
    let key = record_key(&update.account_id);
    let stored = kv::get(&key)?;
    let stored = stored.as_deref().and_then(|bytes| decode(&key, bytes));
    Ok(stored.is_some_and(|r| r.is_newer_than(update.created)))
}

fn report_change(update: &AccountUpdate, vendor: &Vendor, status: Onboarding) {
    let metric = match status {
        Onboarding::Complete => "vendors_approved_total",
        Onboarding::Incomplete => "vendors_marked_incomplete_total",
    };
    metrics::counter(metric, 1, &[]);
    let fields = [
        ("event_id", update.event_id.as_str()),
        ("account", update.account_id.as_str()),
        ("vendor_id", vendor.id.as_str()),
        ("onboarding_status", status.as_str()),
    ];
    log::info("vendor onboarding status updated", &fields);
}

/// Adds the vendor and its status to the record, unless a newer event has
/// replaced the record since it was claimed (then that one's record stays).
fn remember(
    key: &str,
    claimed: &[u8],
    mut record: AccountRecord,
    vendor: &Vendor,
    outcome: &Outcome,
) -> Result<(), PluginError> {
    record.vendor_id = Some(vendor.id.clone());
    record.onboarding_status = match outcome {
        Outcome::Changed(status) => Some(status.as_str().to_owned()),
        Outcome::Unchanged | Outcome::Superseded => vendor.onboarding_status.clone(),
    };
    let new = kv::to_json(key, &record)?;
    kv::compare_and_swap(key, Some(claimed), Some(&new))?;
    Ok(())
}

impl Outcome {
    fn summary(&self, update: &AccountUpdate, vendor: &Vendor) -> String {
        let (account, id) = (&update.account_id, &vendor.id);
        match self {
            Self::Changed(Onboarding::Complete) => format!("approved vendor {id} ({account})"),
            Self::Changed(Onboarding::Incomplete) => {
                let due = update.state.currently_due.len() + update.state.past_due.len();
                format!("marked vendor {id} incomplete ({account}): {due} requirements due")
            }
            Self::Unchanged => match vendor.onboarding_status.as_deref() {
                Some(status) => format!("no change for vendor {id} ({account}): {status}"),
                None => format!("no change for vendor {id} ({account})"),
            },
            Self::Superseded => format!("skipped vendor {id}: a newer event for {account} arrived"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{posts, setup, vendor};
    use serde_json::{Value, json};
    use switchyard_plugin_sdk::http::{Credential, Response};

    fn account(id: &str, onboarded: bool, due: &[&str]) -> Value {
        json!({"id": id, "object": "account", "charges_enabled": onboarded,
               "payouts_enabled": onboarded, "details_submitted": onboarded,
               "metadata": {},
               "requirements": {"currently_due": due, "past_due": [], "disabled_reason": null}})
    }

    fn event(created: u64, object: Value) -> StripeEvent {
        let body = json!({"id": format!("evt_{created}"), "object": "event",
                          "type": "account.updated", "created": created,
                          "account": object["id"], "data": {"object": object}});
        StripeEvent::parse(body.to_string().as_bytes()).unwrap()
    }

    fn status(vendors: &crate::testkit::Vendors, index: usize) -> String {
        vendors.borrow()[index]["onboarding_status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn approves_an_onboarded_vendor_named_in_metadata_once() {
        let (host, vendors) = setup(vec![vendor("ven_1", Some("acct_1"), "pending")], true);
        let mut object = account("acct_1", true, &[]);
        object["metadata"]["vendor_id"] = json!("ven_1");

        let summary = handle(&event(10, object.clone())).unwrap();
        assert_eq!(summary, "approved vendor ven_1 (acct_1)");
        assert_eq!(status(&vendors, 0), "complete");
        let post = &posts(&host)[0];
        assert_eq!(post.url(), "https://medusa.test/admin/vendors/ven_1");
        assert_eq!(
            post.body_bytes(),
            Some(&br#"{"onboarding_status":"complete"}"#[..])
        );
        assert_eq!(
            post.credential_ref(),
            Some(&Credential::basic("medusa_api_key"))
        );
        assert_eq!(host.counter("vendors_approved_total", &[]), 1);

        // Stripe repeats itself: the vendor, read again, is already complete.
        let summary = handle(&event(11, object)).unwrap();
        assert_eq!(summary, "no change for vendor ven_1 (acct_1): complete");
        assert_eq!(posts(&host).len(), 1);
    }

    #[test]
    fn records_the_account_state_in_kv() {
        let (host, _) = setup(vec![vendor("ven_1", Some("acct_1"), "pending")], true);
        handle(&event(10, account("acct_1", true, &[]))).unwrap();
        let stored = host.kv_value("account/acct_1").unwrap();
        let record: AccountRecord = serde_json::from_slice(&stored).unwrap();
        assert!(record.state.fully_onboarded());
        assert_eq!(
            (record.event_id.as_str(), record.event_created),
            ("evt_10", 10)
        );
        assert_eq!(record.vendor_id.as_deref(), Some("ven_1"));
        assert_eq!(record.onboarding_status.as_deref(), Some("complete"));
        assert_eq!(record.updated_at_ms, host.now_ms());
    }

    #[test]
    fn finds_the_vendor_by_account_when_metadata_names_none() {
        let (host, vendors) = setup(vec![vendor("ven_2", Some("acct_2"), "pending")], true);
        let summary = handle(&event(10, account("acct_2", true, &[]))).unwrap();
        assert_eq!(summary, "approved vendor ven_2 (acct_2)");
        let search = &host.requests()[0];
        assert!(
            search
                .url()
                .ends_with("/admin/vendors?stripe_account_id=acct_2&limit=10")
        );
        assert_eq!(status(&vendors, 0), "complete");
    }

    #[test]
    fn ignores_vendors_a_backend_returns_for_other_accounts() {
        let listed = vec![
            vendor("ven_9", Some("acct_9"), "pending"),
            vendor("ven_8", None, "x"),
        ];
        let (host, vendors) = setup(listed, false);
        let summary = handle(&event(10, account("acct_1", true, &[]))).unwrap();
        assert_eq!(summary, "no vendor owns acct_1");
        assert!(posts(&host).is_empty());
        assert_eq!(status(&vendors, 0), "pending");
    }

    #[test]
    fn acknowledges_an_account_no_vendor_owns() {
        let (host, _) = setup(Vec::new(), true);
        let summary = handle(&event(10, account("acct_1", true, &[]))).unwrap();
        assert_eq!(summary, "no vendor owns acct_1");
        assert!(host.kv_value("account/acct_1").is_some());
        assert_eq!(host.counter("stripe_accounts_unowned_total", &[]), 1);
    }

    #[test]
    fn does_not_trust_metadata_naming_a_vendor_of_another_account() {
        let (host, _) = setup(vec![vendor("ven_1", Some("acct_9"), "pending")], true);
        let mut object = account("acct_1", true, &[]);
        object["metadata"]["vendor_id"] = json!("ven_1");
        assert_eq!(handle(&event(10, object)).unwrap(), "no vendor owns acct_1");
        assert!(posts(&host).is_empty());
    }

    #[test]
    fn ignores_an_event_older_than_the_recorded_state() {
        let (host, vendors) = setup(vec![vendor("ven_1", Some("acct_1"), "pending")], true);
        handle(&event(20, account("acct_1", true, &[]))).unwrap();
        let requests = host.requests().len();

        let late = handle(&event(10, account("acct_1", false, &["external_account"]))).unwrap();
        assert!(
            late.starts_with("ignored: acct_1 already has state"),
            "{late}"
        );
        assert_eq!(host.requests().len(), requests);
        assert_eq!(status(&vendors, 0), "complete");
    }

    #[test]
    fn marks_onboarding_incomplete_once_when_requirements_are_due() {
        let (host, vendors) = setup(vec![vendor("ven_1", Some("acct_1"), "complete")], true);
        let object = account("acct_1", true, &["external_account", "tos_acceptance.date"]);
        let summary = handle(&event(10, object.clone())).unwrap();
        assert_eq!(
            summary,
            "marked vendor ven_1 incomplete (acct_1): 2 requirements due"
        );
        assert_eq!(status(&vendors, 0), "incomplete");
        handle(&event(11, object)).unwrap();
        assert_eq!(posts(&host).len(), 1);
        assert_eq!(host.counter("vendors_marked_incomplete_total", &[]), 1);
    }

    #[test]
    fn refuses_an_account_two_vendors_claim() {
        let linked = vec![
            vendor("ven_1", Some("acct_1"), "x"),
            vendor("ven_2", Some("acct_1"), "x"),
        ];
        let (host, _) = setup(linked, true);
        let error = handle(&event(10, account("acct_1", true, &[]))).unwrap_err();
        assert!(matches!(error, PluginError::Permanent(m) if m.contains("2 vendors")));
        assert!(posts(&host).is_empty());
    }

    #[test]
    fn ignores_an_account_deauthorized_since_and_finds_oauth_links() {
        let (host, vendors) = setup(vec![vendor("ven_1", None, "pending")], true);
        links::remember("ven_1", "acct_1", links::Kind::Standard).unwrap();
        // No metadata names the vendor: the OAuth link does.
        assert_eq!(
            handle(&event(10, account("acct_1", true, &[]))).unwrap(),
            "approved vendor ven_1 (acct_1)"
        );
        links::deauthorized("acct_1", 11, Some("ven_1")).unwrap();
        let summary = handle(&event(12, account("acct_1", false, &["x"]))).unwrap();
        assert_eq!(summary, "ignored: acct_1 was deauthorized");
        assert_eq!(status(&vendors, 0), "complete");
        assert_eq!(posts(&host).len(), 1);
    }

    #[test]
    fn medusa_outages_are_retryable() {
        let (host, _) = setup(Vec::new(), true);
        host.on_http(|_| Ok(Response::new(503, "")));
        let error = handle(&event(10, account("acct_1", true, &[]))).unwrap_err();
        assert!(error.is_retryable(), "{error}");
    }

    #[test]
    fn a_refused_update_is_permanent() {
        let (host, _) = setup(Vec::new(), true);
        let listed = json!({"vendors": [vendor("ven_1", Some("acct_1"), "pending")]});
        host.on_http(move |request| match request.method() {
            switchyard_plugin_sdk::http::Method::Get => Ok(Response::json_value(200, &listed)),
            _ => Ok(Response::json_value(400, &json!({"message": "bad status"}))),
        });
        let error = handle(&event(10, account("acct_1", true, &[]))).unwrap_err();
        assert!(
            matches!(&error, PluginError::Permanent(m) if m.contains("bad status")),
            "{error}"
        );
    }

    #[test]
    fn a_store_outage_is_retryable() {
        let (host, _) = setup(Vec::new(), true);
        host.kv_unavailable(true);
        assert!(
            handle(&event(10, account("acct_1", true, &[])))
                .unwrap_err()
                .is_retryable()
        );
    }
}
