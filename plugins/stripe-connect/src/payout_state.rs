//! Where a marketplace payout stands, and whether a Stripe observation
//! (an event, or the job's own transfer) may move it: pure decisions.
//!
//! Stripe delivers events late, out of order and more than once. A
//! payout's state is therefore a position: the Stripe object that set it
//! (a transfer `tr_…` or a payout `po_…`), that object's creation time, and
//! the status. The newest object wins; within one object, the status only
//! moves forward (`paid` never goes back to `transferred`, `failed` never
//! back to `paid`).

use serde::{Deserialize, Serialize};

/// A marketplace payout's status, as Medusa spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Decided, not paid yet.
    Pending,
    /// The money reached the vendor's Stripe account.
    Transferred,
    /// The vendor's bank received it.
    Paid,
    /// The payout to the bank failed.
    Failed,
    /// The transfer was taken back.
    Reversed,
}

impl Status {
    /// Reads Medusa's spelling; anything else is unknown.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "transferred" => Some(Self::Transferred),
            "paid" => Some(Self::Paid),
            "failed" => Some(Self::Failed),
            "reversed" => Some(Self::Reversed),
            _ => None,
        }
    }

    /// Medusa's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Transferred => "transferred",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Reversed => "reversed",
        }
    }

    /// How far along the payout's life the status is. Failure and reversal
    /// end it, so they rank highest: Stripe may report a `paid` payout as
    /// `failed` later, never the other way round.
    pub fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Transferred => 1,
            Self::Paid => 2,
            Self::Failed | Self::Reversed => 3,
        }
    }
}

/// A payout's state as one Stripe object set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The transfer or payout id.
    pub object_id: String,
    /// That object's creation time, in Unix seconds.
    pub object_created: u64,
    /// The status it calls for.
    pub status: Status,
}

/// What to do with an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It is news: record it and write it to Medusa.
    Apply,
    /// It was applied before (a repeat, or a retry after a crash): write it
    /// to Medusa only if Medusa is behind.
    AlreadyApplied,
    /// Older than what is known: ignore it.
    Stale,
}

/// Decides on `incoming` given the recorded position, or, with none
/// recorded, Medusa's current status (set by someone else, or before the
/// plugin kept records).
pub fn decide(stored: Option<&Position>, current: Option<Status>, incoming: &Position) -> Decision {
    match stored {
        Some(stored) if stored.object_id == incoming.object_id => {
            by_rank(stored.status, incoming.status)
        }
        Some(stored) => by_age(stored, incoming),
        None => by_rank(current.unwrap_or(Status::Pending), incoming.status),
    }
}

/// Within one object the status only moves forward.
fn by_rank(known: Status, incoming: Status) -> Decision {
    if incoming == known {
        Decision::AlreadyApplied
    } else if incoming.rank() > known.rank() {
        Decision::Apply
    } else {
        Decision::Stale
    }
}

/// Between objects the newer one wins; at equal age (Stripe counts in
/// seconds) the further status does.
fn by_age(stored: &Position, incoming: &Position) -> Decision {
    let key = |p: &Position| (p.object_created, p.status.rank());
    if key(incoming) > key(stored) {
        Decision::Apply
    } else {
        Decision::Stale
    }
}

/// True when Medusa, at `current`, is behind `target` and should be
/// written: a repeat never moves Medusa backwards.
pub fn medusa_behind(current: Option<Status>, target: Status) -> bool {
    let current = current.unwrap_or(Status::Pending);
    current != target && current.rank() <= target.rank()
}

/// What the plugin remembers about a marketplace payout, under
/// `payout/{id}` in kv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRecord {
    /// The newest position applied.
    #[serde(flatten)]
    pub position: Position,
    /// The transfer that paid the payout, once known.
    #[serde(default)]
    pub transfer_id: Option<String>,
    /// The Stripe payout that took it to the bank, once known.
    #[serde(default)]
    pub stripe_payout_id: Option<String>,
    /// The event that set the position, if one did (not the job).
    #[serde(default)]
    pub event_id: Option<String>,
    /// When the plugin wrote the record, in Unix milliseconds.
    pub updated_at_ms: u64,
}

/// The kv key of a payout's record.
pub fn record_key(payout_id: &str) -> String {
    format!("payout/{payout_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(object_id: &str, created: u64, status: Status) -> Position {
        Position {
            object_id: object_id.to_owned(),
            object_created: created,
            status,
        }
    }

    #[test]
    fn a_status_moves_forward_within_one_object() {
        let paid = at("po_1", 10, Status::Paid);
        assert_eq!(
            decide(Some(&paid), None, &at("po_1", 10, Status::Failed)),
            Decision::Apply
        );
        let failed = at("po_1", 10, Status::Failed);
        assert_eq!(decide(Some(&failed), None, &paid), Decision::Stale);
        assert_eq!(decide(Some(&paid), None, &paid), Decision::AlreadyApplied);
    }

    #[test]
    fn paid_never_goes_back_to_transferred() {
        let transfer = at("tr_1", 10, Status::Transferred);
        let paid = at("po_1", 20, Status::Paid);
        assert_eq!(decide(Some(&transfer), None, &paid), Decision::Apply);
        // The transfer's event arrives again, late: the payout is newer.
        assert_eq!(decide(Some(&paid), None, &transfer), Decision::Stale);
    }

    #[test]
    fn a_newer_object_wins_even_at_a_lower_rank() {
        // A payout to the bank failed; a new one, made later, succeeded.
        let failed = at("po_1", 10, Status::Failed);
        assert_eq!(
            decide(Some(&failed), None, &at("po_2", 30, Status::Paid)),
            Decision::Apply
        );
        assert_eq!(
            decide(Some(&at("po_2", 30, Status::Paid)), None, &failed),
            Decision::Stale
        );
    }

    #[test]
    fn equal_ages_fall_back_to_the_rank() {
        let transfer = at("tr_1", 10, Status::Transferred);
        let reversed = at("tr_1", 10, Status::Reversed);
        let paid = at("po_1", 10, Status::Paid);
        assert_eq!(decide(Some(&transfer), None, &paid), Decision::Apply);
        assert_eq!(decide(Some(&paid), None, &transfer), Decision::Stale);
        assert_eq!(decide(Some(&paid), None, &reversed), Decision::Apply);
    }

    #[test]
    fn without_a_record_medusa_status_decides() {
        let paid = at("po_1", 10, Status::Paid);
        assert_eq!(
            decide(None, Some(Status::Transferred), &paid),
            Decision::Apply
        );
        assert_eq!(decide(None, None, &paid), Decision::Apply);
        assert_eq!(
            decide(None, Some(Status::Paid), &paid),
            Decision::AlreadyApplied
        );
        assert_eq!(decide(None, Some(Status::Failed), &paid), Decision::Stale);
    }

    #[test]
    fn medusa_is_written_only_when_behind() {
        assert!(medusa_behind(Some(Status::Pending), Status::Transferred));
        assert!(medusa_behind(None, Status::Paid));
        assert!(!medusa_behind(Some(Status::Paid), Status::Paid));
        assert!(!medusa_behind(Some(Status::Paid), Status::Transferred));
    }

    #[test]
    fn parses_medusa_spellings() {
        for status in [
            Status::Pending,
            Status::Transferred,
            Status::Paid,
            Status::Failed,
            Status::Reversed,
        ] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("PAID"), None);
    }

    #[test]
    fn records_round_trip_through_json() {
        let record = PayoutRecord {
            position: at("tr_1", 10, Status::Transferred),
            transfer_id: Some("tr_1".into()),
            stripe_payout_id: None,
            event_id: None,
            updated_at_ms: 5,
        };
        let text = serde_json::to_string(&record).unwrap();
        assert!(text.contains(r#""status":"transferred""#), "{text}");
        assert_eq!(serde_json::from_str::<PayoutRecord>(&text).unwrap(), record);
    }
}
