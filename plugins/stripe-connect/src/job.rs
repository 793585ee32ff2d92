//! The daily job `process-vendor-payouts`: one transfer per pending
//! marketplace payout to an onboarded vendor, recorded back in Medusa.
//!
//! Repeating a run, or running again after a crash between a transfer and
//! its write-back, never pays twice:
//!
//! - a transfer is recorded in kv (`payout/{id}`) before Medusa is told, so
//!   a later run that still finds the payout pending only writes it back;
//! - the transfer's `Idempotency-Key` is `payout-{id}-attempt-{n}`, so a
//!   transfer whose answer was lost is replayed by Stripe, not repeated.
//!
//! The attempt number `n` (kv `payout-attempt/{id}`) moves on only after
//! Stripe refused for insufficient funds: Stripe keeps that refusal under
//! the key and would replay it for ever, yet the payout must be tried
//! again once the balance is topped up. A refusal is definitive, so no
//! transfer exists under the old key and the new key cannot pay twice.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use switchyard_plugin_sdk::{JobReport, PluginError, clock, kv, log, metrics};

use crate::actions::currency;
use crate::event::is_plain_id;
use crate::links;
use crate::medusa::{Medusa, Payout, PayoutUpdate, Vendor};
use crate::payout_state::{Status, record_key};
use crate::settings;
use crate::settle::{Observation, read_record, settle};
use crate::stripe::{Stripe, StripeError};
use crate::transfer::{self, Spec};

/// The job's name.
pub const NAME: &str = "process-vendor-payouts";
/// Daily at 03:00 in the tenant's time zone, when the marketplace is quiet.
pub const SCHEDULE: &str = "0 0 3 * * *";
/// Where the last run's report is kept, for the dashboard.
const LAST_RUN_KEY: &str = "job/process-vendor-payouts/last";
/// Names listed per kind in the summary; the counts say the rest.
const MAX_NAMED: usize = 5;

/// What became of one payout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Transferred,
    Skipped(String),
    InsufficientFunds,
    Failed(String),
    Deferred,
}

/// The run's counts and the names behind them.
#[derive(Debug, Default)]
struct Tally {
    counts: BTreeMap<&'static str, u64>,
    skipped_vendors: BTreeSet<String>,
    failures: Vec<String>,
}

/// Runs the job once.
pub fn run() -> Result<JobReport, PluginError> {
    let (medusa, stripe) = (Medusa::from_config()?, Stripe::from_config()?);
    let deadline = clock::now_ms().saturating_add(settings::job_budget_ms()?);
    let pending = medusa.payouts(("status", "pending"))?;
    let mut vendors = BTreeMap::new();
    let mut tally = Tally::default();
    for payout in pending.iter().filter(|p| p.status == "pending") {
        let outcome = if clock::now_ms() >= deadline {
            Outcome::Deferred
        } else {
            process(&medusa, &stripe, &mut vendors, payout)
        };
        tally.add(payout, outcome);
    }
    let report = tally.report();
    remember(&report)?;
    Ok(report)
}

fn process(
    medusa: &Medusa,
    stripe: &Stripe,
    vendors: &mut BTreeMap<String, Option<Vendor>>,
    payout: &Payout,
) -> Outcome {
    let vendor = match vendors.get(&payout.vendor_id) {
        Some(known) => Ok(known.clone()),
        None => medusa.vendor(&payout.vendor_id),
    };
    let vendor = match vendor {
        Ok(vendor) => vendor,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    vendors.insert(payout.vendor_id.clone(), vendor.clone());
    settle_payout(medusa, stripe, vendor.as_ref(), payout)
        .unwrap_or_else(|e| Outcome::Failed(e.to_string()))
}

fn settle_payout(
    medusa: &Medusa,
    stripe: &Stripe,
    vendor: Option<&Vendor>,
    payout: &Payout,
) -> Result<Outcome, PluginError> {
    let (amount, currency) = match amount_of(payout) {
        Ok(found) => found,
        Err(reason) => return Ok(Outcome::Failed(reason)),
    };
    let Some(account) = payable_account(vendor)? else {
        return Ok(Outcome::Skipped(payout.vendor_id.clone()));
    };
    if write_back_recorded(medusa, payout)? {
        return Ok(Outcome::Transferred);
    }
    let attempt_key = format!("payout-attempt/{}", payout.id);
    let attempt = kv::increment(&attempt_key, 0)?.saturating_add(1);
    let key = format!("payout-{}-attempt-{attempt}", payout.id);
    let group = payout.transfer_group.clone().filter(|g| is_plain_id(g));
    let group = group.unwrap_or_else(|| payout.id.clone());
    let spec = Spec {
        amount,
        currency: &currency,
        destination: &account,
        transfer_group: Some(&group),
        source_transaction: None,
        metadata: vec![
            ("payout_id", payout.id.clone()),
            ("vendor_id", payout.vendor_id.clone()),
        ],
        idempotency_key: &key,
    };
    match transfer::create(stripe, &spec) {
        Ok(created) => transfer::record(medusa, payout, &created).map(|_| Outcome::Transferred),
        Err(error) if error.is_insufficient_funds() => {
            // A new key for the next run: Stripe would replay this refusal.
            kv::increment(&attempt_key, 1)?;
            Ok(Outcome::InsufficientFunds)
        }
        Err(StripeError::Refused(refusal)) => refused(medusa, payout, refusal),
        Err(StripeError::Failed(error)) => Err(error),
    }
}

/// The payout's amount as Medusa's contract has it, integer minor units,
/// with its currency; anything else is reported, never guessed at.
fn amount_of(payout: &Payout) -> Result<(i64, String), String> {
    let amount = payout.amount.as_i64().filter(|a| *a > 0);
    let amount =
        amount.ok_or_else(|| format!("amount {} is not positive minor units", payout.amount))?;
    let currency = currency(&payout.currency).map_err(|e| e.message().to_owned())?;
    Ok((amount, currency))
}

/// The vendor's account when the vendor may be paid: onboarded in Medusa
/// and not deauthorized since.
fn payable_account(vendor: Option<&Vendor>) -> Result<Option<String>, PluginError> {
    let Some(vendor) = vendor.filter(|v| v.is_onboarded()) else {
        return Ok(None);
    };
    let account = vendor.stripe_account_id.clone().filter(|a| is_plain_id(a));
    match account {
        Some(account) if !links::is_deauthorized(&account)? => Ok(Some(account)),
        _ => Ok(None),
    }
}

/// Writes back a transfer an earlier run made but could not report: the
/// recorded position is applied again, which writes Medusa if it is behind.
fn write_back_recorded(medusa: &Medusa, payout: &Payout) -> Result<bool, PluginError> {
    let Some(record) = read_record(&record_key(&payout.id))? else {
        return Ok(false);
    };
    if record.transfer_id.is_none() {
        return Ok(false);
    }
    let observation = Observation {
        update: PayoutUpdate {
            status: record.position.status.as_str().to_owned(),
            stripe_transfer_id: record.transfer_id.clone(),
            stripe_payout_id: record.stripe_payout_id.clone(),
            ..PayoutUpdate::default()
        },
        position: record.position,
        event_id: None,
    };
    settle(medusa, payout, &observation)?;
    log::info(
        "wrote back a transfer made by an earlier run",
        &[("payout_id", &payout.id)],
    );
    Ok(true)
}

/// A definitive refusal (other than insufficient funds) ends the payout as
/// `failed` with Stripe's code and words, for a person to look at.
fn refused(
    medusa: &Medusa,
    payout: &Payout,
    refusal: crate::stripe::Refusal,
) -> Result<Outcome, PluginError> {
    let update = PayoutUpdate {
        status: Status::Failed.as_str().to_owned(),
        failure_code: refusal.code.clone(),
        failure_message: Some(refusal.message.clone()),
        ..PayoutUpdate::default()
    };
    medusa.update_payout(&payout.id, &update)?;
    let code = refusal.code.unwrap_or_else(|| refusal.status.to_string());
    Ok(Outcome::Failed(format!("stripe refused ({code})")))
}

impl Tally {
    fn add(&mut self, payout: &Payout, outcome: Outcome) {
        let label = match outcome {
            Outcome::Transferred => "transferred",
            Outcome::Skipped(vendor) => {
                self.skipped_vendors.insert(vendor);
                "skipped"
            }
            Outcome::InsufficientFunds => "insufficient_funds",
            Outcome::Failed(reason) => {
                log::warn(
                    "payout not transferred",
                    &[("payout_id", &payout.id), ("reason", &reason)],
                );
                self.failures.push(format!("{}: {reason}", payout.id));
                "failed"
            }
            Outcome::Deferred => "deferred",
        };
        metrics::counter("vendor_payouts_total", 1, &[("outcome", label)]);
        *self.counts.entry(label).or_default() += 1;
    }

    fn count(&self, label: &str) -> u64 {
        self.counts.get(label).copied().unwrap_or_default()
    }

    fn report(&self) -> JobReport {
        let counts = LABELS
            .iter()
            .map(|l| ((*l).to_owned(), self.count(l)))
            .collect();
        let mut summary = format!(
            "{} transferred, {} skipped, {} insufficient funds, {} failed, {} deferred",
            self.count("transferred"),
            self.count("skipped"),
            self.count("insufficient_funds"),
            self.count("failed"),
            self.count("deferred"),
        );
        summary.push_str(&named("; not onboarded: ", ", ", &self.skipped_vendors));
        summary.push_str(&named("; failures: ", "; ", &self.failures));
        JobReport { counts, summary }
    }
}

/// The counts a run reports, in order; the first four are the job's
/// contract, `deferred` counts payouts left for the next run by the budget.
const LABELS: [&str; 5] = [
    "transferred",
    "skipped",
    "insufficient_funds",
    "failed",
    "deferred",
];

/// `prefix` and the first few `names` joined by `separator`; empty when
/// there are none.
fn named<'a>(prefix: &str, separator: &str, names: impl IntoIterator<Item = &'a String>) -> String {
    let first: Vec<&str> = names
        .into_iter()
        .take(MAX_NAMED)
        .map(String::as_str)
        .collect();
    if first.is_empty() {
        return String::new();
    }
    format!("{prefix}{}", first.join(separator))
}

/// Keeps the run's counts for the dashboard.
fn remember(report: &JobReport) -> Result<(), PluginError> {
    let counts: BTreeMap<&str, u64> = report
        .counts
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    let last =
        json!({"finished_at_ms": clock::now_ms(), "counts": counts, "summary": report.summary});
    kv::set_json(LAST_RUN_KEY, &last, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{World, field, medusa_host, payout, vendor};
    use serde_json::{Value, json};
    use std::cell::RefCell;
    use std::rc::Rc;
    use switchyard_plugin_sdk::http::{Request, Response};
    use switchyard_plugin_sdk::testing::TestHost;

    /// A fake Stripe that transfers while the balance lasts and replays
    /// answers by idempotency key, as Stripe does.
    #[derive(Clone, Default)]
    struct FakeStripe {
        balance: Rc<RefCell<i64>>,
        transfers: Rc<RefCell<Vec<Request>>>,
        answers: Rc<RefCell<BTreeMap<String, Response>>>,
    }

    impl FakeStripe {
        fn install(world: &World, balance: i64) -> Self {
            let fake = Self::default();
            *fake.balance.borrow_mut() = balance;
            let shared = fake.clone();
            world.on_stripe(move |request| shared.answer(request));
            fake
        }

        fn answer(&self, request: &Request) -> Response {
            let key = request
                .header_value("Idempotency-Key")
                .unwrap_or_default()
                .to_owned();
            if let Some(replay) = self.answers.borrow().get(&key) {
                return replay.clone();
            }
            let amount: i64 = field(request, "amount")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            let response = if amount > *self.balance.borrow() {
                Response::json_value(
                    400,
                    &json!({"error": {"code": "balance_insufficient",
                    "message": "not enough"}}),
                )
            } else {
                *self.balance.borrow_mut() -= amount;
                self.transfers.borrow_mut().push(request.clone());
                let id = format!("tr_{}", self.transfers.borrow().len());
                Response::json_value(200, &json!({"id": id, "created": 100, "amount": amount}))
            };
            self.answers.borrow_mut().insert(key, response.clone());
            response
        }

        fn count(&self) -> usize {
            self.transfers.borrow().len()
        }
    }

    fn marketplace(payouts: Vec<Value>) -> (TestHost, World) {
        let vendors = vec![
            vendor("ven_1", Some("acct_1"), "complete"),
            vendor("ven_2", Some("acct_2"), "pending"),
            vendor("ven_3", None, "complete"),
        ];
        medusa_host(vendors, payouts)
    }

    fn counts(report: &JobReport) -> Vec<u64> {
        report.counts.iter().take(4).map(|(_, v)| *v).collect()
    }

    #[test]
    fn transfers_each_payout_once_and_skips_vendors_not_onboarded() {
        let payouts = vec![
            payout("payout_1", "ven_1", 9890, "usd"),
            payout("payout_2", "ven_1", 5000, "jpy"),
            payout("payout_3", "ven_2", 100, "usd"),
            payout("payout_4", "ven_3", 100, "usd"),
        ];
        let (_host, world) = marketplace(payouts);
        let stripe = FakeStripe::install(&world, 1_000_000);
        let report = run().unwrap();
        assert_eq!(counts(&report), [2, 2, 0, 0], "{}", report.summary);
        assert!(
            report.summary.contains("not onboarded: ven_2, ven_3"),
            "{}",
            report.summary
        );
        let sent = stripe.transfers.borrow().clone();
        assert_eq!(field(&sent[0], "amount").as_deref(), Some("9890"));
        assert_eq!(field(&sent[1], "amount").as_deref(), Some("5000"));
        assert_eq!(field(&sent[1], "currency").as_deref(), Some("jpy"));
        assert_eq!(
            field(&sent[0], "transfer_group").as_deref(),
            Some("payout_1")
        );
        assert_eq!(
            sent[0].header_value("Idempotency-Key"),
            Some("payout-payout_1-attempt-1")
        );
        assert_eq!(world.payout("payout_1").status, "transferred");
        assert_eq!(
            world.payout("payout_1").stripe_transfer_id.as_deref(),
            Some("tr_1")
        );

        let again = run().unwrap();
        assert_eq!(counts(&again), [0, 2, 0, 0]);
        assert_eq!(stripe.count(), 2);
    }

    #[test]
    fn a_lost_write_back_is_made_next_run_without_a_second_transfer() {
        let (_host, world) = marketplace(vec![payout("payout_1", "ven_1", 9890, "usd")]);
        let stripe = FakeStripe::install(&world, 1_000_000);
        world.fail_writes(1);
        let first = run().unwrap();
        assert_eq!(counts(&first), [0, 0, 0, 1], "{}", first.summary);
        assert_eq!(world.payout("payout_1").status, "pending");
        let second = run().unwrap();
        assert_eq!(counts(&second), [1, 0, 0, 0], "{}", second.summary);
        assert_eq!(world.payout("payout_1").status, "transferred");
        assert_eq!(stripe.count(), 1);
    }

    #[test]
    fn a_transfer_whose_record_was_lost_is_replayed_by_its_key() {
        let (host, world) = marketplace(vec![payout("payout_1", "ven_1", 9890, "usd")]);
        let stripe = FakeStripe::install(&world, 1_000_000);
        // The store goes down right after Stripe answers: nothing recorded.
        let inner = stripe.clone();
        world.on_stripe(move |request| {
            let answer = inner.answer(request);
            host.kv_unavailable(true);
            answer
        });
        assert!(run().is_err());
        assert_eq!(world.payout("payout_1").status, "pending");
        host.kv_unavailable(false);
        world.on_stripe({
            let inner = stripe.clone();
            move |request| inner.answer(request)
        });
        let report = run().unwrap();
        assert_eq!(counts(&report), [1, 0, 0, 0], "{}", report.summary);
        assert_eq!(stripe.count(), 1);
        assert_eq!(
            world.payout("payout_1").stripe_transfer_id.as_deref(),
            Some("tr_1")
        );
    }

    #[test]
    fn insufficient_funds_leave_the_payout_pending_and_a_new_key_for_later() {
        let (_host, world) = marketplace(vec![payout("payout_1", "ven_1", 9890, "usd")]);
        let stripe = FakeStripe::install(&world, 100);
        let first = run().unwrap();
        assert_eq!(counts(&first), [0, 0, 1, 0]);
        assert_eq!(world.payout("payout_1").status, "pending");
        *stripe.balance.borrow_mut() = 1_000_000;
        let second = run().unwrap();
        assert_eq!(counts(&second), [1, 0, 0, 0], "{}", second.summary);
        let sent = stripe.transfers.borrow()[0].clone();
        assert_eq!(
            sent.header_value("Idempotency-Key"),
            Some("payout-payout_1-attempt-2")
        );
    }

    #[test]
    fn a_refused_transfer_fails_the_payout_with_stripes_reason() {
        let (_host, world) = marketplace(vec![payout("payout_1", "ven_1", 9890, "usd")]);
        world.on_stripe(|_| {
            Response::json_value(
                400,
                &json!({"error": {
            "code": "insufficient_capabilities_for_transfer", "message": "not yet"}}),
            )
        });
        let report = run().unwrap();
        assert_eq!(counts(&report), [0, 0, 0, 1]);
        let stored = world.payout_json("payout_1");
        assert_eq!(stored["status"], "failed");
        assert_eq!(
            stored["failure_code"],
            "insufficient_capabilities_for_transfer"
        );
    }

    #[test]
    fn amounts_that_are_not_minor_units_are_reported_not_guessed() {
        let mut odd = payout("payout_1", "ven_1", 0, "usd");
        odd["amount"] = json!(98.9);
        let (_host, world) = marketplace(vec![odd]);
        let stripe = FakeStripe::install(&world, 1_000_000);
        let report = run().unwrap();
        assert_eq!(counts(&report), [0, 0, 0, 1]);
        assert!(
            report.summary.contains("not positive minor units"),
            "{}",
            report.summary
        );
        assert_eq!(stripe.count(), 0);
    }

    #[test]
    fn reads_every_page_of_pending_payouts() {
        let payouts: Vec<Value> = (0..230)
            .map(|i| payout(&format!("payout_{i}"), "ven_1", 1, "usd"))
            .collect();
        let (host, world) = marketplace(payouts);
        host.config("job_budget_ms", "600000");
        let stripe = FakeStripe::install(&world, 1_000_000);
        let report = run().unwrap();
        assert_eq!(counts(&report), [230, 0, 0, 0]);
        assert_eq!(stripe.count(), 230);
    }
}
