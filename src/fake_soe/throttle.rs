//! The site's two per-token limiters: a burst window and a token bucket, with their headers.
//!
//! Every authenticated API request costs one call from both limiters. The burst limiter allows
//! `burst_calls` per `burst_window` (a fixed window that starts with the first call); the bucket
//! holds at most `bucket_max` calls and gains `refill_amount` every `refill_every`. When either
//! is empty the request is refused (429) without costing anything. Invariants: time is
//! `tokio::time::Instant`, so tests that pause tokio time control the windows; header values are
//! whole seconds, rounded up.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// Throttle settings (the site's defaults: 50 calls per 2 s; bucket of 5,000 refilled by 100
/// every 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Calls allowed per burst window.
    pub burst_calls: u32,
    /// The burst window.
    pub burst_window: Duration,
    /// Bucket capacity.
    pub bucket_max: u32,
    /// Calls added per refill.
    pub refill_amount: u32,
    /// Time between refills.
    pub refill_every: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            burst_calls: 50,
            burst_window: Duration::from_secs(2),
            bucket_max: 5_000,
            refill_amount: 100,
            refill_every: Duration::from_secs(60),
        }
    }
}

/// The values of the five throttle headers after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThrottleState {
    pub burst_left: u32,
    pub burst_full_in: u64,
    pub bucket_left: u32,
    pub bucket_full_in: u64,
    pub bucket_next_refill_in: u64,
}

impl ThrottleState {
    /// The state reported while a fault pretends the token is throttled for `secs`.
    pub fn exhausted(secs: u64) -> Self {
        Self {
            burst_left: 0,
            burst_full_in: secs,
            bucket_left: 0,
            bucket_full_in: secs,
            bucket_next_refill_in: secs,
        }
    }

    /// The response headers.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("x-burst-throttle-calls-left", self.burst_left.to_string()),
            (
                "x-burst-throttle-seconds-until-full",
                self.burst_full_in.to_string(),
            ),
            ("x-token-bucket-calls-left", self.bucket_left.to_string()),
            (
                "x-token-bucket-seconds-until-full",
                self.bucket_full_in.to_string(),
            ),
            (
                "x-token-bucket-seconds-until-next-refill",
                self.bucket_next_refill_in.to_string(),
            ),
        ]
    }
}

/// What the limiters said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Served; one call was spent.
    Allowed(ThrottleState),
    /// Refused; retry after this many seconds.
    Limited(ThrottleState, u64),
}

#[derive(Debug)]
struct TokenLimiter {
    window_start: Instant,
    window_calls: u32,
    bucket: u32,
    last_refill: Instant,
}

/// Limiter state for every token seen.
#[derive(Debug)]
pub(crate) struct Throttles {
    limits: ThrottleLimits,
    tokens: HashMap<String, TokenLimiter>,
}

fn ceil_secs(d: Duration) -> u64 {
    let secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

impl Throttles {
    /// Empty state with these limits.
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            tokens: HashMap::new(),
        }
    }

    /// Spends one call for `token`, or refuses.
    pub fn check(&mut self, token: &str) -> Verdict {
        let l = self.limits;
        let now = Instant::now();
        let t = self
            .tokens
            .entry(token.to_string())
            .or_insert_with(|| TokenLimiter {
                window_start: now,
                window_calls: 0,
                bucket: l.bucket_max,
                last_refill: now,
            });
        if now.duration_since(t.window_start) >= l.burst_window {
            t.window_start = now;
            t.window_calls = 0;
        }
        if t.bucket >= l.bucket_max {
            // A full bucket has no refill pending; the refill clock starts when it is spent.
            t.last_refill = now;
        } else if !l.refill_every.is_zero() {
            let elapsed = now.duration_since(t.last_refill);
            let refills = (elapsed.as_nanos() / l.refill_every.as_nanos()) as u32;
            if refills > 0 {
                t.bucket = t
                    .bucket
                    .saturating_add(refills.saturating_mul(l.refill_amount))
                    .min(l.bucket_max);
                t.last_refill += l.refill_every * refills;
            }
        }
        let limited = t.window_calls >= l.burst_calls || t.bucket == 0;
        if !limited {
            t.window_calls += 1;
            t.bucket -= 1;
        }
        let window_left = l
            .burst_window
            .saturating_sub(now.duration_since(t.window_start));
        let next_refill = l
            .refill_every
            .saturating_sub(now.duration_since(t.last_refill));
        let missing = l.bucket_max.saturating_sub(t.bucket);
        let refills_needed = if l.refill_amount == 0 {
            0
        } else {
            missing.div_ceil(l.refill_amount)
        };
        let bucket_full_in = if refills_needed == 0 {
            Duration::ZERO
        } else {
            next_refill + l.refill_every * (refills_needed - 1)
        };
        let state = ThrottleState {
            burst_left: l.burst_calls.saturating_sub(t.window_calls),
            burst_full_in: if t.window_calls == 0 {
                0
            } else {
                ceil_secs(window_left)
            },
            bucket_left: t.bucket,
            bucket_full_in: ceil_secs(bucket_full_in),
            bucket_next_refill_in: if t.bucket >= l.bucket_max {
                0
            } else {
                ceil_secs(next_refill)
            },
        };
        if limited {
            let mut wait = Duration::ZERO;
            if t.window_calls >= l.burst_calls {
                wait = wait.max(window_left);
            }
            if t.bucket == 0 {
                wait = wait.max(next_refill);
            }
            Verdict::Limited(state, ceil_secs(wait).max(1))
        } else {
            Verdict::Allowed(state)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Throttles {
        Throttles::new(ThrottleLimits {
            burst_calls: 2,
            burst_window: Duration::from_secs(2),
            bucket_max: 3,
            refill_amount: 1,
            refill_every: Duration::from_secs(60),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn burst_window_refuses_then_reopens() {
        let mut t = tiny();
        assert!(matches!(t.check("a"), Verdict::Allowed(s) if s.burst_left == 1));
        assert!(matches!(t.check("a"), Verdict::Allowed(s) if s.burst_left == 0));
        match t.check("a") {
            Verdict::Limited(s, retry) => {
                assert_eq!(s.burst_left, 0);
                assert_eq!(retry, 2);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(
            matches!(t.check("b"), Verdict::Allowed(_)),
            "tokens are separate"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(matches!(t.check("a"), Verdict::Allowed(s) if s.bucket_left == 0));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_empties_and_refills() {
        let mut t = tiny();
        for _ in 0..2 {
            t.check("a");
        }
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(matches!(t.check("a"), Verdict::Allowed(s) if s.bucket_left == 0));
        tokio::time::advance(Duration::from_secs(3)).await;
        match t.check("a") {
            Verdict::Limited(s, retry) => {
                assert_eq!(s.bucket_left, 0);
                assert!((50..=60).contains(&retry), "{retry}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(matches!(t.check("a"), Verdict::Allowed(_)));
    }
}
