//! `clock`: wall-clock time, which tests can fix and move by hand.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::runtime::bindings::clock;
use crate::runtime::state::CallState;

/// A sleeper on the system clock wakes at least this often, so a wall
/// clock that jumps (NTP, a suspended VM) is noticed within this long.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// The host's notion of now, shared by the router, plugins, the dispatcher
/// and the scheduler, so that a fixed clock moves all of them together.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    fixed_ms: Option<Arc<watch::Sender<u64>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock stopped at `unix_ms`, for tests; [`Clock::set_ms`] moves it.
    pub fn fixed(unix_ms: u64) -> Self {
        Self {
            fixed_ms: Some(Arc::new(watch::Sender::new(unix_ms))),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match &self.fixed_ms {
            Some(fixed) => *fixed.borrow(),
            None => system_now_ms(),
        }
    }

    /// Moves a fixed clock to `unix_ms` and wakes everything waiting on it;
    /// false (and nothing changes) for the system clock.
    pub fn set_ms(&self, unix_ms: u64) -> bool {
        match &self.fixed_ms {
            Some(fixed) => {
                fixed.send_replace(unix_ms);
                true
            }
            None => false,
        }
    }

    /// Waits until the clock reads `unix_ms` or later.
    pub async fn sleep_until_ms(&self, unix_ms: u64) {
        match &self.fixed_ms {
            Some(fixed) => {
                let mut moved = fixed.subscribe();
                // The sender lives as long as this clock, so this only ends
                // when the time has come.
                let _ = moved.wait_for(|now| *now >= unix_ms).await;
            }
            None => loop {
                let now = system_now_ms();
                if now >= unix_ms {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(unix_ms - now).min(MAX_SLEEP)).await;
            },
        }
    }

    /// Waits until a fixed clock is moved; never returns on the system
    /// clock.
    pub async fn moved(&self) {
        match &self.fixed_ms {
            Some(fixed) => {
                let mut moved = fixed.subscribe();
                let _ = moved.changed().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// True when the clock was fixed for a test.
    pub fn is_fixed(&self) -> bool {
        self.fixed_ms.is_some()
    }
}

fn system_now_ms() -> u64 {
    // A system clock before 1970 is a broken machine; zero keeps us running.
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

impl clock::Host for CallState {
    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(self.host.clock.now_ms())
    }
}
