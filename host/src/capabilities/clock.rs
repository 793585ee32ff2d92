//! `clock`: wall-clock time, which tests can fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::runtime::bindings::clock;
use crate::runtime::state::CallState;

/// The host's notion of now, shared by the router, plugins and signature
/// checks so that a fixed clock moves all of them together.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    fixed_ms: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock stopped at `unix_ms`, for tests.
    pub fn fixed(unix_ms: u64) -> Self {
        Self {
            fixed_ms: Some(Arc::new(AtomicU64::new(unix_ms))),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match &self.fixed_ms {
            Some(fixed) => fixed.load(Ordering::Relaxed),
            None => system_now_ms(),
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
