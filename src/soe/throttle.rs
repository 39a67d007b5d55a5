//! Per-token pauses driven by SOE's throttle headers.
//!
//! SOE throttles each access token with a burst limiter (`x-burst-throttle-*`, 50 requests per
//! 2 s by default) and a token bucket (`x-token-bucket-*`, 5,000 max, +100 per minute). When a
//! response says a limiter is empty, or a 429 arrives, that token is paused: its next request
//! waits out a short pause or fails fast with `RateLimited` when the pause is long. Other
//! tokens are unaffected. Invariants: tokens are keyed by a SHA-256 fingerprint, never stored;
//! time is `tokio::time`, so tests control it with `tokio::time::pause()`; whatever the headers
//! say (huge, negative, NaN, garbage), reading them never panics and no pause is longer than
//! [`MAX_PAUSE`], so a broken or hostile response cannot silence a token for days.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::header::HeaderMap;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// A token's fingerprint: the first 16 bytes of SHA-256(token). Enough to tell tokens apart,
/// useless for recovering one.
pub(crate) type TokenKey = [u8; 16];

/// Fingerprints a token.
pub(crate) fn token_key(token: &str) -> TokenKey {
    let digest = Sha256::digest(token.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The longest pause any response can impose on a token (SOE's own refills take at most a
/// minute; anything longer is a broken header, and the member is told to retry later).
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(300);

/// `secs` as a pause, clamped to `0..=MAX_PAUSE` (NaN counts as no wait). Never panics, unlike
/// `Duration::from_secs_f64` on values out of range.
fn capped(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    if secs >= MAX_PAUSE.as_secs_f64() {
        return MAX_PAUSE;
    }
    Duration::from_secs_f64(secs)
}

/// What the throttle headers of one response said.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Headroom {
    /// `x-burst-throttle-calls-left`.
    pub burst_left: Option<u64>,
    /// `x-burst-throttle-seconds-until-full`.
    pub burst_full_in: Option<f64>,
    /// `x-token-bucket-calls-left`.
    pub bucket_left: Option<u64>,
    /// `x-token-bucket-seconds-until-next-refill`.
    pub bucket_refill_in: Option<f64>,
    /// `Retry-After` (seconds form).
    pub retry_after: Option<f64>,
}

impl Headroom {
    /// Reads the throttle headers.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        Headroom {
            burst_left: num("x-burst-throttle-calls-left").map(|v| v as u64),
            burst_full_in: num("x-burst-throttle-seconds-until-full"),
            bucket_left: num("x-token-bucket-calls-left").map(|v| v as u64),
            bucket_refill_in: num("x-token-bucket-seconds-until-next-refill")
                .or_else(|| num("x-token-bucket-seconds-until-full")),
            retry_after: num("retry-after"),
        }
    }

    /// How long the token must rest, if a limiter is empty. The longest applicable wait wins.
    pub fn pause(&self) -> Option<Duration> {
        let mut wait: Option<f64> = None;
        let mut consider = |secs: Option<f64>| {
            if let Some(s) = secs {
                wait = Some(wait.map_or(s, |w| w.max(s)));
            }
        };
        if self.burst_left == Some(0) {
            consider(self.burst_full_in.or(Some(2.0)));
        }
        if self.bucket_left == Some(0) {
            consider(self.bucket_refill_in.or(Some(60.0)));
        }
        wait.map(capped)
    }

    /// How long a 429 asks the caller to wait: `Retry-After`, else the throttle headers, else
    /// 60 s (what the vendor's own scripts wait); at most [`MAX_PAUSE`].
    pub fn retry_after_429(&self) -> Duration {
        self.retry_after
            .map(capped)
            .or_else(|| self.pause())
            .or_else(|| self.burst_full_in.map(capped))
            .unwrap_or(Duration::from_secs(60))
    }
}

/// The pause table shared by every handle of one [`super::HttpSoe`].
#[derive(Debug, Default)]
pub(crate) struct Throttles {
    /// Token fingerprint → the instant it may be used again.
    paused_until: Mutex<HashMap<TokenKey, Instant>>,
}

/// Pauses longer than this make a request fail fast instead of waiting: a member would rather
/// read "busy, retry in 40 s" than stare at "thinking…".
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(3);

impl Throttles {
    /// Pauses `key` for `for_` (at most [`MAX_PAUSE`]). An existing longer pause is kept.
    pub fn pause(&self, key: TokenKey, for_: Duration) {
        let now = Instant::now();
        let until = now + for_.min(MAX_PAUSE);
        let mut map = self.paused_until.lock();
        if map.len() > 4096 {
            map.retain(|_, t| *t > now);
        }
        let entry = map.entry(key).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }

    /// How long `key` must still wait, if at all.
    pub fn remaining(&self, key: &TokenKey) -> Option<Duration> {
        let mut map = self.paused_until.lock();
        let now = Instant::now();
        match map.get(key) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn empty_burst_pauses_until_full() {
        let h = Headroom::from_headers(&headers(&[
            ("x-burst-throttle-calls-left", "0"),
            ("x-burst-throttle-seconds-until-full", "2"),
            ("x-token-bucket-calls-left", "4000"),
        ]));
        assert_eq!(h.pause(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn headroom_left_means_no_pause() {
        let h = Headroom::from_headers(&headers(&[
            ("x-burst-throttle-calls-left", "12"),
            ("x-token-bucket-calls-left", "1"),
        ]));
        assert_eq!(h.pause(), None);
    }

    #[test]
    fn empty_bucket_waits_for_refill_and_longest_wins() {
        let h = Headroom::from_headers(&headers(&[
            ("x-burst-throttle-calls-left", "0"),
            ("x-burst-throttle-seconds-until-full", "1.5"),
            ("x-token-bucket-calls-left", "0"),
            ("x-token-bucket-seconds-until-next-refill", "37"),
        ]));
        assert_eq!(h.pause(), Some(Duration::from_secs(37)));
    }

    #[test]
    fn retry_after_header_wins_for_429() {
        let h = Headroom::from_headers(&headers(&[("retry-after", "7")]));
        assert_eq!(h.retry_after_429(), Duration::from_secs(7));
        assert_eq!(
            Headroom::default().retry_after_429(),
            Duration::from_secs(60)
        );
    }

    /// About five minutes: the longest pause any header may cause (issue 8, part 4).
    const CAP: Duration = Duration::from_secs(300);

    #[test]
    fn the_cap_is_the_modules_max_pause() {
        assert_eq!(MAX_PAUSE, CAP);
    }

    #[test]
    fn absurd_values_never_panic_and_every_pause_is_capped() {
        for value in [
            "1e20",
            "1e300",
            "18446744073709551616",
            "99999999999999999999999",
            "3.4e38",
            "-5",
            "-0",
            "NaN",
            "inf",
            "-inf",
            "garbage",
            "",
            "0x10",
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ] {
            let h = Headroom::from_headers(&headers(&[
                ("x-burst-throttle-calls-left", "0"),
                ("x-burst-throttle-seconds-until-full", value),
                ("x-token-bucket-calls-left", "0"),
                ("x-token-bucket-seconds-until-next-refill", value),
                ("retry-after", value),
            ]));
            let pause = h.pause().expect("both limiters are empty");
            assert!(pause <= CAP, "{value}: paused {pause:?}");
            let retry = h.retry_after_429();
            assert!(retry <= CAP, "{value}: retry after {retry:?}");
        }
    }

    #[test]
    fn a_day_long_refill_is_capped_at_five_minutes() {
        let h = Headroom::from_headers(&headers(&[
            ("x-token-bucket-calls-left", "0"),
            ("x-token-bucket-seconds-until-next-refill", "86400"),
            ("retry-after", "86400"),
        ]));
        assert_eq!(h.pause(), Some(CAP));
        assert_eq!(h.retry_after_429(), CAP);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pause_table_caps_whatever_it_is_given() {
        let t = Throttles::default();
        let k = token_key("a");
        t.pause(k, Duration::MAX);
        let left = t.remaining(&k).expect("paused");
        assert!(left <= CAP, "{left:?}");
        tokio::time::advance(CAP + Duration::from_secs(1)).await;
        assert!(t.remaining(&k).is_none());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Header values as a server (or a broken proxy) might send them.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<f64>().prop_map(|v| v.to_string()),
                any::<f64>().prop_map(|v| format!("{v:e}")),
                any::<i128>().prop_map(|v| v.to_string()),
                any::<u64>().prop_map(|v| v.to_string()),
                "[ -~]{0,40}",
                "[0-9]{15,40}(\\.[0-9]{0,10})?",
            ]
        }

        fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                if let Ok(v) = HeaderValue::from_str(v) {
                    h.insert(*k, v);
                }
            }
            h
        }

        proptest! {
            #[test]
            fn no_header_value_panics_or_pauses_longer_than_the_cap(
                burst_left in value(),
                burst_full in value(),
                bucket_left in value(),
                refill in value(),
                retry in value(),
            ) {
                let h = Headroom::from_headers(&header_map(&[
                    ("x-burst-throttle-calls-left", burst_left),
                    ("x-burst-throttle-seconds-until-full", burst_full),
                    ("x-token-bucket-calls-left", bucket_left),
                    ("x-token-bucket-seconds-until-next-refill", refill),
                    ("retry-after", retry),
                ]));
                if let Some(p) = h.pause() {
                    prop_assert!(p <= CAP, "{p:?}");
                }
                prop_assert!(h.retry_after_429() <= CAP);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_expire_with_time() {
        let t = Throttles::default();
        let k = token_key("a");
        t.pause(k, Duration::from_secs(5));
        assert!(t.remaining(&k).is_some());
        assert!(t.remaining(&token_key("b")).is_none());
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(t.remaining(&k).is_none());
    }
}
