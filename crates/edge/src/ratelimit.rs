//! Per-key request rate limits: a fixed window (a second, or longer) counted in this isolate.
//!
//! Approximate by design: each isolate (each location, each instance) counts on its own, so
//! the effective global ceiling is the limit times the number of isolates serving the key.
//! It stops a runaway client in one place cheaply, with no storage round trip; it is not a
//! billing control (usage limits are exact and live in D1).

use crate::ApiError;
use std::cell::RefCell;
use std::collections::HashMap;

/// Windows beyond this many keys clear the table (bounded memory).
const MAX_KEYS: usize = 10_000;

thread_local! {
    static WINDOWS: RefCell<HashMap<String, (i64, u32)>> = RefCell::new(HashMap::new());
}

/// Counts one request for `key` at `now_ms`; refuses it when the key already made `limit`
/// requests in this second.
///
/// # Errors
/// [`ApiError::RateLimited`] (429, `Retry-After: 1`).
pub fn admit(key: &str, limit: u32, now_ms: i64) -> Result<(), ApiError> {
    admit_per(key, limit, 1, now_ms)
}

/// Counts one request for `key` at `now_ms` in a window of `window_s` seconds; refuses it
/// when the key already made `limit` requests in the window.
///
/// # Errors
/// [`ApiError::RateLimited`] (429, `Retry-After`: the seconds left in the window).
pub fn admit_per(key: &str, limit: u32, window_s: i64, now_ms: i64) -> Result<(), ApiError> {
    let window = now_ms.div_euclid(1000 * window_s.max(1));
    WINDOWS.with(|windows| {
        let mut windows = windows.borrow_mut();
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            windows.clear();
        }
        let entry = windows.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            let left_ms = (window + 1) * 1000 * window_s.max(1) - now_ms;
            return Err(if window_s > 1 {
                ApiError::RateLimitedFor((left_ms + 999) / 1000)
            } else {
                ApiError::RateLimited
            });
        }
        entry.1 += 1;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_limit_per_second_then_a_fresh_window() {
        for _ in 0..3 {
            assert!(admit("k-window", 3, 5_000).is_ok());
        }
        assert!(matches!(
            admit("k-window", 3, 5_999),
            Err(ApiError::RateLimited)
        ));
        assert!(
            admit("k-window", 3, 6_000).is_ok(),
            "a new second starts over"
        );
    }

    #[test]
    fn a_longer_window_says_how_long_is_left() {
        assert!(admit_per("k-minute", 1, 60, 60_000).is_ok());

        let refused = admit_per("k-minute", 1, 60, 100_500);

        assert!(matches!(refused, Err(ApiError::RateLimitedFor(20))));
        assert!(
            admit_per("k-minute", 1, 60, 120_000).is_ok(),
            "the next minute starts over"
        );
    }

    #[test]
    fn keys_are_counted_apart() {
        assert!(admit("k-a", 1, 1_000).is_ok());
        assert!(admit("k-b", 1, 1_000).is_ok());
        assert!(admit("k-a", 1, 1_000).is_err());
    }
}
