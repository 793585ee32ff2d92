//! Moving a marketplace payout to a new state: claim the position in kv
//! (compare-and-swap, so two deliveries for one payout cannot both win),
//! then write Medusa if it is behind. Shared by the webhook handlers and
//! the payout job.
//!
//! The kv record is written before Medusa on purpose: if the Medusa write
//! fails, the retry finds the position already applied and writes Medusa
//! then; a write that got through is never repeated backwards.

use switchyard_plugin_sdk::{PluginError, clock, kv, log};

use crate::medusa::{Medusa, Payout, PayoutUpdate};
use crate::payout_state::record_key;
use crate::payout_state::{Decision, PayoutRecord, Position, Status, decide, medusa_behind};

/// Tries at claiming a record before giving up for now: each failed try
/// means another delivery for the same payout wrote in between.
const CLAIM_ATTEMPTS: usize = 5;

/// A Stripe observation about one marketplace payout.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The position it calls for.
    pub position: Position,
    /// What Medusa is told when the position is applied.
    pub update: PayoutUpdate,
    /// The event that brought it, if any.
    pub event_id: Option<String>,
}

/// What came of an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Medusa was written.
    Written,
    /// Nothing to write: Medusa already shows it, or a newer delivery
    /// claimed the payout meanwhile.
    Unchanged,
    /// Older than what is known; ignored.
    Stale,
}

/// Applies `observation` to `payout` (as Medusa showed it just now).
pub fn settle(
    medusa: &Medusa,
    payout: &Payout,
    observation: &Observation,
) -> Result<Settled, PluginError> {
    let key = record_key(&payout.id);
    let current = Status::parse(&payout.status);
    if claim(&key, current, observation)? == Decision::Stale {
        return Ok(Settled::Stale);
    }
    let target = observation.position.status;
    if !medusa_behind(current, target) || superseded(&key, &observation.position)? {
        return Ok(Settled::Unchanged);
    }
    medusa.update_payout(&payout.id, &observation.update)?;
    log_written(payout, observation);
    Ok(Settled::Written)
}

/// Records the observation unless it is stale or recorded already.
fn claim(key: &str, current: Option<Status>, obs: &Observation) -> Result<Decision, PluginError> {
    for _ in 0..CLAIM_ATTEMPTS {
        let bytes = kv::get(key)?;
        let stored = bytes.as_deref().and_then(|b| decode(key, b));
        let decision = decide(stored.as_ref().map(|r| &r.position), current, &obs.position);
        if decision != Decision::Apply {
            return Ok(decision);
        }
        let record = kv::to_json(key, &next_record(stored, obs))?;
        if kv::compare_and_swap(key, bytes.as_deref(), Some(&record))? {
            return Ok(decision);
        }
    }
    Err(PluginError::retryable(format!(
        "{key} kept changing while a payout state was recorded"
    )))
}

/// The record after `obs`, keeping the ids the stored one already knew.
fn next_record(stored: Option<PayoutRecord>, obs: &Observation) -> PayoutRecord {
    let (transfer_id, stripe_payout_id) = stored
        .map(|r| (r.transfer_id, r.stripe_payout_id))
        .unwrap_or_default();
    PayoutRecord {
        position: obs.position.clone(),
        transfer_id: obs.update.stripe_transfer_id.clone().or(transfer_id),
        stripe_payout_id: obs.update.stripe_payout_id.clone().or(stripe_payout_id),
        event_id: obs.event_id.clone(),
        updated_at_ms: clock::now_ms(),
    }
}

/// The record under `key`, or none when absent or no longer decoding (it
/// is then replaced: Medusa's status still guards against going back).
pub fn read_record(key: &str) -> Result<Option<PayoutRecord>, PluginError> {
    Ok(kv::get(key)?.as_deref().and_then(|b| decode(key, b)))
}

fn decode(key: &str, bytes: &[u8]) -> Option<PayoutRecord> {
    let record = serde_json::from_slice(bytes);
    if record.is_err() {
        log::warn(
            "replacing a payout record that does not decode",
            &[("key", key)],
        );
    }
    record.ok()
}

/// True when a newer position replaced `ours` since it was claimed; that
/// delivery writes Medusa instead.
fn superseded(key: &str, ours: &Position) -> Result<bool, PluginError> {
    Ok(read_record(key)?.is_some_and(|r| r.position != *ours))
}

fn log_written(payout: &Payout, observation: &Observation) {
    let fields = [
        ("payout_id", payout.id.as_str()),
        ("object_id", observation.position.object_id.as_str()),
        ("status", observation.position.status.as_str()),
        ("event_id", observation.event_id.as_deref().unwrap_or("-")),
    ];
    log::info("payout status updated", &fields);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{medusa_host, payout};

    fn observation(object: &str, created: u64, status: Status) -> Observation {
        Observation {
            position: Position {
                object_id: object.to_owned(),
                object_created: created,
                status,
            },
            update: PayoutUpdate {
                status: status.as_str().to_owned(),
                ..PayoutUpdate::default()
            },
            event_id: None,
        }
    }

    #[test]
    fn writes_forward_and_ignores_what_is_older() {
        let (_host, state) = medusa_host(vec![], vec![payout("payout_1", "ven_1", 100, "usd")]);
        let medusa = Medusa::from_config().unwrap();
        let read = || state.payout("payout_1");
        let paid = observation("po_1", 20, Status::Paid);
        assert_eq!(settle(&medusa, &read(), &paid), Ok(Settled::Written));
        assert_eq!(read().status, "paid");
        let transferred = observation("tr_1", 10, Status::Transferred);
        assert_eq!(settle(&medusa, &read(), &transferred), Ok(Settled::Stale));
        assert_eq!(settle(&medusa, &read(), &paid), Ok(Settled::Unchanged));
        assert_eq!(read().status, "paid");
    }

    #[test]
    fn a_failed_medusa_write_is_made_on_the_retry() {
        let (host, state) = medusa_host(vec![], vec![payout("payout_1", "ven_1", 100, "usd")]);
        let medusa = Medusa::from_config().unwrap();
        state.fail_writes(1);
        let paid = observation("po_1", 20, Status::Paid);
        assert!(settle(&medusa, &state.payout("payout_1"), &paid).is_err());
        assert!(host.kv_value("payout/payout_1").is_some());
        assert_eq!(
            settle(&medusa, &state.payout("payout_1"), &paid),
            Ok(Settled::Written)
        );
        assert_eq!(state.payout("payout_1").status, "paid");
    }
}
