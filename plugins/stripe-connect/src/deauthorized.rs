//! `account.application.deauthorized`: the account left the platform, so
//! the vendor that had it is unlinked in Medusa and must onboard again.
//!
//! A deauthorization older than the account's latest link (the vendor
//! connected again since) is stale and changes nothing.

use switchyard_plugin_sdk::{PluginError, log, metrics};

use crate::event::{StripeEvent, is_plain_id};
use crate::links;
use crate::medusa::Medusa;

/// Handles one `account.application.deauthorized` event.
pub fn handle(event: &StripeEvent) -> Result<String, PluginError> {
    let account = event
        .account
        .as_deref()
        .filter(|a| a.starts_with("acct_") && is_plain_id(a))
        .ok_or_else(|| PluginError::invalid_input("deauthorization names no acct_ account"))?;
    let created = event.created.unwrap_or_default();
    if let Some(link) = links::link(account)?
        && link.linked_at > created
    {
        return Ok(format!(
            "ignored: {account} was linked again after this event"
        ));
    }
    let medusa = Medusa::from_config()?;
    let vendors = medusa.vendors_by_account(account)?;
    let first = vendors.first().map(|v| v.id.clone());
    links::deauthorized(account, created, first.as_deref())?;
    for vendor in &vendors {
        medusa.unlink_account(&vendor.id)?;
        let fields = [("account", account), ("vendor_id", vendor.id.as_str())];
        log::info("vendor unlinked after deauthorization", &fields);
    }
    metrics::counter("stripe_accounts_deauthorized_total", 1, &[]);
    Ok(summary(account, &vendors))
}

fn summary(account: &str, vendors: &[crate::medusa::Vendor]) -> String {
    match vendors {
        [] => format!("no vendor had {account}"),
        [one] => format!("unlinked vendor {} from {account}", one.id),
        many => format!("unlinked {} vendors from {account}", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{medusa_host, vendor};
    use serde_json::json;

    fn event(account: &str, created: u64) -> StripeEvent {
        let body = json!({"id": "evt_d", "object": "event", "created": created,
            "type": "account.application.deauthorized", "account": account,
            "data": {"object": {"id": "ca_1", "object": "application", "name": "Market"}}});
        StripeEvent::parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn unlinks_the_vendor_and_remembers_the_deauthorization() {
        let (host, world) = medusa_host(vec![vendor("ven_1", Some("acct_1"), "complete")], vec![]);
        assert_eq!(
            handle(&event("acct_1", 10)).unwrap(),
            "unlinked vendor ven_1 from acct_1"
        );
        let stored = world.vendors.borrow()[0].clone();
        assert_eq!(stored["stripe_account_id"], serde_json::Value::Null);
        assert_eq!(stored["onboarding_status"], "pending");
        assert!(host.kv_value("deauthorized/acct_1").is_some());
        assert_eq!(
            handle(&event("acct_1", 10)).unwrap(),
            "no vendor had acct_1"
        );
    }

    #[test]
    fn a_deauthorization_older_than_a_new_link_is_stale() {
        let (host, world) = medusa_host(vec![vendor("ven_1", Some("acct_1"), "complete")], vec![]);
        links::remember("ven_1", "acct_1", links::Kind::Standard).unwrap();
        let before = host.now_ms() / 1000 - 60;
        let summary = handle(&event("acct_1", before)).unwrap();
        assert!(summary.starts_with("ignored"), "{summary}");
        assert_eq!(world.vendors.borrow()[0]["stripe_account_id"], "acct_1");
    }

    #[test]
    fn refuses_an_event_without_an_account() {
        let (_host, _world) = medusa_host(vec![], vec![]);
        let body = json!({"id": "evt_d", "type": "account.application.deauthorized"});
        let event = StripeEvent::parse(body.to_string().as_bytes()).unwrap();
        assert!(matches!(handle(&event), Err(PluginError::InvalidInput(_))));
    }
}
