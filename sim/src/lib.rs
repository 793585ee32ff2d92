//! Local simulators of the upstream services Switchyard's plugins talk to.
//!
//! Each upstream has its own module and a handle type that starts an HTTP
//! server on `127.0.0.1` in a tokio task, exposes its base URL, lets a test
//! read and seed the simulated state, and lists every request it received:
//!
//! - [`medusa::Medusa`]: the Medusa v2 admin API plus the marketplace routes
//!   (tenants, vendors, vendor balances, payouts) of `UPSTREAMS.md` §5.6;
//! - [`stripe::Stripe`]: the Stripe Connect subset the `stripe-connect`
//!   plugin uses (accounts, account links, transfers, payouts, balances,
//!   OAuth), plus helpers that sign and send webhook events.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use switchyard_sim::medusa::{Medusa, MedusaConfig};
//!
//! let medusa = Medusa::start(MedusaConfig::demo()).await?;
//! let url = format!("{}/admin/vendors/vendor_01DEMO", medusa.base_url());
//! # let _ = url;
//! assert!(medusa.vendor("vendor_01DEMO").is_some());
//! # Ok(())
//! # }
//! ```
//!
//! The simulators keep everything in memory and are meant for tests and
//! demos on a developer machine, never for anything reachable from outside.

mod clock;
pub mod form;
mod ids;
pub mod medusa;
mod recorder;
mod server;
pub mod stripe;

pub use recorder::RecordedRequest;

/// Locks a mutex, carrying on past poisoning: state is only mutated in
/// short sections that do not panic, so a poisoned lock still holds
/// consistent data, and a test should see it rather than a second panic.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
