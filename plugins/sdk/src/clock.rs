//! Wall-clock time as the host sees it; tests may fix it. Use this, not
//! `std::time`, so a plugin's notion of "now" is the host's.

use crate::host;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    host::now_ms()
}

/// Whole seconds since the Unix epoch, as Stripe and most upstreams count.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}
