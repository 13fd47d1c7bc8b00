//! Per-key request rate limits (a fixed one-second window) and longer budgets, counted in
//! this isolate.
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

type Windows = RefCell<HashMap<String, (i64, u32)>>;

thread_local! {
    static WINDOWS: Windows = RefCell::new(HashMap::new());
    // Budgets apart from the per-second windows: a flood of request keys (one per client
    // address) that clears the windows' table must not refill every budget with it.
    static BUDGETS: Windows = RefCell::new(HashMap::new());
}

/// Counts one request for `key` at `now_ms`; refuses it when the key already made `limit`
/// requests in this second.
///
/// # Errors
/// [`ApiError::RateLimited`] (429, `Retry-After: 1`).
pub fn admit(key: &str, limit: u32, now_ms: i64) -> Result<(), ApiError> {
    if count(&WINDOWS, key, limit, 1000, now_ms) {
        Ok(())
    } else {
        Err(ApiError::RateLimited)
    }
}

/// Counts one request for `key` at `now_ms` in a window of `window_s` seconds (a budget
/// apart from the per-second windows); refuses it when the key already made `limit`
/// requests in the window.
///
/// # Errors
/// [`ApiError::RateLimitedFor`] (429, `Retry-After`: the seconds left in the window).
pub fn admit_per(key: &str, limit: u32, window_s: i64, now_ms: i64) -> Result<(), ApiError> {
    let window_ms = 1000 * window_s.max(1);
    if count(&BUDGETS, key, limit, window_ms, now_ms) {
        Ok(())
    } else {
        let left_ms = (now_ms.div_euclid(window_ms) + 1) * window_ms - now_ms;
        Err(ApiError::RateLimitedFor((left_ms + 999) / 1000))
    }
}

/// Spends one of `limit` uses of budget `key` in the fixed window of `window_ms` that holds
/// `now_ms`; false (and nothing spent) when the window's budget is gone. One budget name
/// always takes the same window length.
pub fn spend(key: &str, limit: u32, window_ms: i64, now_ms: i64) -> bool {
    count(&BUDGETS, key, limit, window_ms, now_ms)
}

fn count(
    table: &'static std::thread::LocalKey<Windows>,
    key: &str,
    limit: u32,
    window_ms: i64,
    now_ms: i64,
) -> bool {
    let window = now_ms.div_euclid(window_ms.max(1));
    table.with(|windows| {
        let mut windows = windows.borrow_mut();
        if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            windows.clear();
        }
        let entry = windows.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            return false;
        }
        entry.1 += 1;
        true
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
    fn a_minute_budget_is_spent_then_refilled_by_the_next_minute() {
        for (at, want) in [
            (60_000, true),
            (61_000, true),
            (119_999, false),
            (120_000, true),
        ] {
            assert_eq!(spend("k-minute", 2, 60_000, at), want, "at {at}");
        }
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
