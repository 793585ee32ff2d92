//! `transfer.created`, `transfer.reversed` (and the legacy
//! `transfer.failed`), `payout.paid` and `payout.failed`: find the
//! marketplace payout the Stripe object belongs to and move it on.
//!
//! A transfer names its payout in `metadata.payout_id` (set by this
//! plugin), else its `transfer_group`; a Stripe payout in its metadata or
//! in the link kept when the `payout` action made it. Failing those, the
//! payouts of the vendor owning the account are searched for the object's
//! id or group.

use serde_json::Value;
use switchyard_plugin_sdk::{PluginError, kv, log, metrics};

use crate::event::{StripeEvent, is_plain_id};
use crate::medusa::{Medusa, Payout, PayoutUpdate};
use crate::payout_state::{Position, Status};
use crate::settle::{Observation, Settled, settle};
use crate::stripe::id_field;

/// Failure messages longer than this are cut: enough for a person to read,
/// bounded against hostile bodies.
const MAX_MESSAGE_CHARS: usize = 200;

/// The kv key linking a transfer to its marketplace payout.
pub fn transfer_link(transfer_id: &str) -> String {
    format!("transfer/{transfer_id}")
}

/// The kv key linking a Stripe payout to its marketplace payout.
pub fn stripe_payout_link(payout_id: &str) -> String {
    format!("stripe-payout/{payout_id}")
}

/// A Stripe object an event carries, reduced to what finding and moving
/// a payout needs.
struct Subject<'a> {
    object: &'a Value,
    id: String,
    created: u64,
    /// The connected account whose vendor owns the payout.
    account: Option<String>,
}

impl<'a> Subject<'a> {
    fn read(event: &'a StripeEvent, prefix: &str) -> Result<Self, PluginError> {
        let invalid = |m: &str| PluginError::invalid_input(format!("{}: {m}", event.kind));
        let object = event.object().ok_or_else(|| invalid("no data.object"))?;
        let id = id_field(object, "id", prefix).map_err(|_| invalid("no usable object id"))?;
        let created = object
            .get("created")
            .and_then(Value::as_u64)
            .or(event.created);
        let created = created.ok_or_else(|| invalid("no created time"))?;
        let account = match prefix {
            "tr_" => id_field(object, "destination", "acct_").ok(),
            _ => event.account.clone().filter(|a| is_plain_id(a)),
        };
        Ok(Self {
            object,
            id,
            created,
            account,
        })
    }

    fn text(&self, field: &str) -> Option<&str> {
        self.object.get(field).and_then(Value::as_str)
    }

    fn metadata_payout(&self) -> Option<&str> {
        let id = self
            .object
            .pointer("/metadata/payout_id")
            .and_then(Value::as_str);
        id.filter(|id| is_plain_id(id))
    }

    fn position(&self, status: Status) -> Position {
        Position {
            object_id: self.id.clone(),
            object_created: self.created,
            status,
        }
    }
}

/// Handles a transfer event that calls for `status`.
pub fn handle_transfer(event: &StripeEvent, status: Status) -> Result<String, PluginError> {
    let subject = Subject::read(event, "tr_")?;
    if status == Status::Reversed && event.kind == "transfer.reversed" && !fully_reversed(&subject)
    {
        return Ok(format!(
            "partial reversal of {} recorded, payout left as is",
            subject.id
        ));
    }
    let medusa = Medusa::from_config()?;
    let Some(payout) = find_for_transfer(&medusa, &subject)? else {
        return Ok(unmatched(event, &subject));
    };
    let update = PayoutUpdate {
        status: status.as_str().to_owned(),
        stripe_transfer_id: Some(subject.id.clone()),
        ..PayoutUpdate::default()
    };
    apply(&medusa, &payout, event, subject.position(status), update)
}

/// Handles a Stripe payout event that calls for `status`.
pub fn handle_payout(event: &StripeEvent, status: Status) -> Result<String, PluginError> {
    let subject = Subject::read(event, "po_")?;
    let medusa = Medusa::from_config()?;
    let Some(payout) = find_for_payout(&medusa, &subject)? else {
        return Ok(unmatched(event, &subject));
    };
    let failed = status == Status::Failed;
    let update = PayoutUpdate {
        status: status.as_str().to_owned(),
        stripe_payout_id: Some(subject.id.clone()),
        failure_code: failed.then(|| failure_code(&subject)).flatten(),
        failure_message: failed.then(|| failure_message(&subject)).flatten(),
        ..PayoutUpdate::default()
    };
    apply(&medusa, &payout, event, subject.position(status), update)
}

/// A reversal takes the whole transfer back, or Stripe says it is reversed.
fn fully_reversed(subject: &Subject<'_>) -> bool {
    let int = |f: &str| subject.object.get(f).and_then(Value::as_i64);
    let whole = matches!((int("amount"), int("amount_reversed")), (Some(a), Some(r)) if r >= a);
    whole || subject.object.get("reversed") == Some(&Value::Bool(true))
}

fn failure_code(subject: &Subject<'_>) -> Option<String> {
    subject
        .text("failure_code")
        .filter(|c| is_plain_id(c))
        .map(str::to_owned)
}

fn failure_message(subject: &Subject<'_>) -> Option<String> {
    let text = subject.text("failure_message")?;
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect();
    Some(clean).filter(|m| !m.is_empty())
}

fn apply(
    medusa: &Medusa,
    payout: &Payout,
    event: &StripeEvent,
    position: Position,
    update: PayoutUpdate,
) -> Result<String, PluginError> {
    let observation = Observation {
        position,
        update,
        event_id: Some(event.id.clone()),
    };
    let settled = settle(medusa, payout, &observation)?;
    let status = observation.position.status.as_str();
    let (id, object) = (&payout.id, &observation.position.object_id);
    Ok(match settled {
        Settled::Written => format!("marked payout {id} {status} ({object})"),
        Settled::Unchanged => format!("payout {id} already {status} ({object})"),
        Settled::Stale => stale(event, id, object),
    })
}

fn stale(event: &StripeEvent, payout_id: &str, object: &str) -> String {
    metrics::counter(
        "stripe_events_stale_total",
        1,
        &[("type", kind_label(event))],
    );
    let fields = [("event_id", event.id.as_str()), ("payout_id", payout_id)];
    log::debug("older than the recorded payout state", &fields);
    format!("ignored: payout {payout_id} has newer state than {object}")
}

fn unmatched(event: &StripeEvent, subject: &Subject<'_>) -> String {
    metrics::counter(
        "stripe_objects_unmatched_total",
        1,
        &[("type", kind_label(event))],
    );
    let fields = [
        ("event_id", event.id.as_str()),
        ("object_id", subject.id.as_str()),
    ];
    log::info("no marketplace payout matches the object", &fields);
    format!("no payout matches {}", subject.id)
}

/// The event types this module handles, as metric labels.
fn kind_label(event: &StripeEvent) -> &'static str {
    match event.kind.as_str() {
        "transfer.created" => "transfer.created",
        "transfer.reversed" => "transfer.reversed",
        "transfer.failed" => "transfer.failed",
        "payout.paid" => "payout.paid",
        _ => "payout.failed",
    }
}

/// The payout a transfer pays: by metadata, kept link or group, each
/// accepted only if the payout is not tied to another transfer; else by
/// searching the destination vendor's payouts.
fn find_for_transfer(medusa: &Medusa, s: &Subject<'_>) -> Result<Option<Payout>, PluginError> {
    let linked = linked_id(&transfer_link(&s.id))?;
    let group = s.text("transfer_group").filter(|g| is_plain_id(g));
    let hints = [s.metadata_payout(), linked.as_deref(), group];
    let fits = |p: &Payout| p.stripe_transfer_id.as_deref().is_none_or(|t| t == s.id);
    if let Some(payout) = first_hinted(medusa, &hints, fits)? {
        return Ok(Some(payout));
    }
    let owns = |p: &Payout| {
        p.stripe_transfer_id.as_deref() == Some(&s.id)
            || (p.stripe_transfer_id.is_none()
                && group.is_some()
                && p.transfer_group.as_deref() == group)
    };
    search_vendor(medusa, s.account.as_deref(), owns)
}

/// The payout a Stripe payout took to the bank.
fn find_for_payout(medusa: &Medusa, s: &Subject<'_>) -> Result<Option<Payout>, PluginError> {
    let linked = linked_id(&stripe_payout_link(&s.id))?;
    let hints = [s.metadata_payout(), linked.as_deref()];
    let fits = |p: &Payout| p.stripe_payout_id.as_deref().is_none_or(|id| id == s.id);
    if let Some(payout) = first_hinted(medusa, &hints, fits)? {
        return Ok(Some(payout));
    }
    let owns = |p: &Payout| p.stripe_payout_id.as_deref() == Some(&s.id);
    search_vendor(medusa, s.account.as_deref(), owns)
}

/// A payout id kept in kv under `key`.
fn linked_id(key: &str) -> Result<Option<String>, PluginError> {
    let bytes = kv::get(key)?;
    let text = bytes.and_then(|b| String::from_utf8(b).ok());
    Ok(text.filter(|id| is_plain_id(id)))
}

fn first_hinted(
    medusa: &Medusa,
    hints: &[Option<&str>],
    fits: impl Fn(&Payout) -> bool,
) -> Result<Option<Payout>, PluginError> {
    for id in hints.iter().flatten() {
        if let Some(payout) = medusa.payout(id)?.filter(&fits) {
            return Ok(Some(payout));
        }
    }
    Ok(None)
}

/// Searches the payouts of the vendor linked to `account`.
fn search_vendor(
    medusa: &Medusa,
    account: Option<&str>,
    owns: impl Fn(&Payout) -> bool,
) -> Result<Option<Payout>, PluginError> {
    let Some(account) = account else {
        return Ok(None);
    };
    for vendor in medusa.vendors_by_account(account)? {
        let payouts = medusa.payouts(("vendor_id", &vendor.id))?;
        if let Some(payout) = payouts.into_iter().find(&owns) {
            return Ok(Some(payout));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{medusa_host, payout, vendor};
    use serde_json::json;

    fn event(kind: &str, account: Option<&str>, object: Value) -> StripeEvent {
        let mut body = json!({"id": format!("evt_{}", kind.replace('.', "_")),
            "object": "event", "type": kind, "created": 100, "data": {"object": object}});
        if let Some(account) = account {
            body["account"] = json!(account);
        }
        StripeEvent::parse(body.to_string().as_bytes()).unwrap()
    }

    fn transfer(id: &str, group: &str, reversed: i64) -> Value {
        json!({"id": id, "object": "transfer", "amount": 1000, "amount_reversed": reversed,
               "created": 50, "destination": "acct_1", "transfer_group": group,
               "metadata": {}})
    }

    fn stripe_payout(id: &str, status: &str, created: u64) -> Value {
        json!({"id": id, "object": "payout", "amount": 1000, "created": created,
               "status": status, "failure_code": null, "failure_message": null,
               "metadata": {}})
    }

    fn world() -> (
        switchyard_plugin_sdk::testing::TestHost,
        crate::testkit::World,
    ) {
        let mut grouped = payout("payout_1", "ven_1", 1000, "usd");
        grouped["transfer_group"] = json!("ORDER_1");
        medusa_host(
            vec![vendor("ven_1", Some("acct_1"), "complete")],
            vec![grouped],
        )
    }

    #[test]
    fn transfer_events_find_the_payout_by_group_and_move_it_forward() {
        let (_host, world) = world();
        let created = event("transfer.created", None, transfer("tr_1", "ORDER_1", 0));
        let summary = handle_transfer(&created, Status::Transferred).unwrap();
        assert_eq!(summary, "marked payout payout_1 transferred (tr_1)");
        assert_eq!(
            world.payout("payout_1").stripe_transfer_id.as_deref(),
            Some("tr_1")
        );

        let reversed = event("transfer.reversed", None, transfer("tr_1", "ORDER_1", 1000));
        handle_transfer(&reversed, Status::Reversed).unwrap();
        assert_eq!(world.payout("payout_1").status, "reversed");
        // The creation again, late: reversed stays.
        let summary = handle_transfer(&created, Status::Transferred).unwrap();
        assert!(summary.starts_with("ignored"), "{summary}");
        assert_eq!(world.payout("payout_1").status, "reversed");
    }

    #[test]
    fn a_partial_reversal_leaves_the_payout_alone() {
        let (_host, world) = world();
        let partial = event("transfer.reversed", None, transfer("tr_1", "ORDER_1", 300));
        let summary = handle_transfer(&partial, Status::Reversed).unwrap();
        assert!(summary.starts_with("partial reversal"), "{summary}");
        assert_eq!(world.payout("payout_1").status, "pending");
    }

    #[test]
    fn payout_events_find_the_payout_by_its_stripe_id() {
        let mut linked = payout("payout_2", "ven_1", 1000, "usd");
        linked["status"] = json!("transferred");
        linked["stripe_payout_id"] = json!("po_1");
        let vendors = vec![vendor("ven_1", Some("acct_1"), "complete")];
        let (_host, world) = medusa_host(vendors, vec![linked]);
        let paid = event(
            "payout.paid",
            Some("acct_1"),
            stripe_payout("po_1", "paid", 60),
        );
        assert_eq!(
            handle_payout(&paid, Status::Paid).unwrap(),
            "marked payout payout_2 paid (po_1)"
        );
        let mut object = stripe_payout("po_1", "failed", 60);
        object["failure_code"] = json!("account_closed");
        object["failure_message"] = json!("The bank account has been closed.\n");
        let failed = event("payout.failed", Some("acct_1"), object);
        handle_payout(&failed, Status::Failed).unwrap();
        let stored = world.payout_json("payout_2");
        assert_eq!(stored["status"], "failed");
        assert_eq!(stored["failure_code"], "account_closed");
        assert_eq!(
            stored["failure_message"],
            "The bank account has been closed."
        );
        // paid, late, does not undo the failure.
        assert!(
            handle_payout(&paid, Status::Paid)
                .unwrap()
                .starts_with("ignored")
        );
        assert_eq!(world.payout("payout_2").status, "failed");
    }

    #[test]
    fn metadata_names_the_payout_directly() {
        let (host, world) = world();
        let mut object = stripe_payout("po_9", "paid", 60);
        object["metadata"] = json!({"payout_id": "payout_1"});
        let paid = event("payout.paid", Some("acct_1"), object);
        handle_payout(&paid, Status::Paid).unwrap();
        assert_eq!(world.payout("payout_1").status, "paid");
        let searched = host
            .requests()
            .iter()
            .any(|r| r.url().contains("vendor_id="));
        assert!(!searched, "metadata should spare the search");
    }

    #[test]
    fn an_object_no_payout_matches_is_acknowledged() {
        let (host, _world) = world();
        let paid = event(
            "payout.paid",
            Some("acct_1"),
            stripe_payout("po_x", "paid", 60),
        );
        assert_eq!(
            handle_payout(&paid, Status::Paid).unwrap(),
            "no payout matches po_x"
        );
        assert_eq!(host.counter("stripe_objects_unmatched_total", &[]), 1);
    }

    #[test]
    fn refuses_events_without_a_usable_object() {
        let (_host, _world) = world();
        let bad = event("payout.paid", None, json!({"id": "po_../x", "created": 1}));
        assert!(matches!(
            handle_payout(&bad, Status::Paid),
            Err(PluginError::InvalidInput(_))
        ));
    }
}
