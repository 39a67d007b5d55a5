//! Wall-clock time, injected.
//!
//! Every TTL, expiry and rate limit in the bot reads the time through [`Clock`], never through
//! `Utc::now()` directly, so tests can stand still or jump forward with [`FixedClock`].
//! Monotonic waits (retry backoff, throttle pauses) use `tokio::time`, which tests pause with
//! `tokio::time::pause()`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

/// A source of the current UTC time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Clones share the same time, so a test can keep one
/// handle and advance the clock that the code under test holds.
#[derive(Debug, Clone)]
pub struct FixedClock {
    /// Shared so that every clone observes `advance` and `set`.
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl FixedClock {
    /// A clock standing at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// A clock standing at 2026-01-01T00:00:00Z, a fixed point that keeps snapshots stable.
    pub fn epoch() -> Self {
        Self::at(DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default())
    }

    /// Moves the clock forward (or backward, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        *now += by;
    }

    /// Moves the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock() = to;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock()
    }
}

/// The clock handle the rest of the crate passes around.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_clones_share_time() {
        let a = FixedClock::epoch();
        let b = a.clone();
        let start = b.now();
        a.advance(Duration::seconds(61));
        assert_eq!(b.now() - start, Duration::seconds(61));
    }
}
