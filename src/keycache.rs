//! The key cache's rules: which lookups an isolate remembers and for how long, how many failed
//! lookups a client address may cost storage, and when a lookup may be written back.
//!
//! Storage I/O happens at the edge (`tollgate-edge::keyauth`); everything deciding *whether*
//! to do it lives here, with time passed in, so it runs natively under `cargo test`.
//!
//! - Found keys live in a least-recently-used map: a flood of other keys evicts the coldest
//!   entries one by one, never the whole cache, so hot keys keep needing no storage at all.
//! - Unknown keys live in their own, smaller LRU map, so made-up keys can neither evict found
//!   ones nor grow memory without bound.
//! - Each client address may cost storage a budget of failed lookups per window.
//!   A spent budget refuses only lookups of keys this isolate has never seen valid: a key it
//!   has served (even one whose entry is past its lifetime) is still looked up and served.
//! - A write-back carries the version it read; it holds only if the version is unchanged
//!   after the write (see [`write_back_holds`]), so a revoke that commits in between wins.

use std::collections::{HashMap, VecDeque};

/// A map of at most `capacity` entries that evicts the least recently used one when full.
///
/// Uses are queued lazily: each use appends `(tick, key)`; queue entries whose tick is no
/// longer the key's last use are skipped on eviction and dropped once the queue grows past
/// twice the capacity, so every operation is amortised O(1).
#[derive(Debug)]
pub struct Lru<V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (V, u64)>,
    uses: VecDeque<(u64, String)>,
}

impl<V> Lru<V> {
    /// An empty map that holds at most `capacity` entries (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
            uses: VecDeque::new(),
        }
    }

    /// How many entries it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn used(&mut self, key: &str) -> u64 {
        self.tick += 1;
        if self.uses.len() >= 2 * self.capacity {
            let entries = &self.entries;
            self.uses
                .retain(|(tick, name)| entries.get(name).is_some_and(|(_, last)| last == tick));
        }
        self.uses.push_back((self.tick, key.to_owned()));
        self.tick
    }

    /// The entry for `key`, marked as just used.
    pub fn get(&mut self, key: &str) -> Option<&mut V> {
        if !self.entries.contains_key(key) {
            return None;
        }
        let tick = self.used(key);
        let (value, last) = self.entries.get_mut(key)?;
        *last = tick;
        Some(value)
    }

    /// Stores `value` under `key` as just used, evicting the least recently used entry when
    /// the map is full.
    pub fn insert(&mut self, key: String, value: V) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            while let Some((tick, name)) = self.uses.pop_front() {
                if self
                    .entries
                    .get(&name)
                    .is_some_and(|(_, last)| *last == tick)
                {
                    self.entries.remove(&name);
                    break;
                }
            }
        }
        let tick = self.used(&key);
        self.entries.insert(key, (value, tick));
    }

    /// Drops the entry for `key` (its queued uses become stale).
    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.entries.remove(key).map(|(value, _)| value)
    }
}

/// How long an unknown key is remembered at most: short, so a key created a moment after
/// someone tried it starts working soon.
pub const MISSING_TTL_MS: i64 = 5_000;

/// What the isolate knows about a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Cached<V> {
    /// Found within its lifetime: answer from it, no storage.
    Found(V),
    /// Unknown within [`MISSING_TTL_MS`]: refuse it, no storage.
    Missing,
    /// Found once here, but past its lifetime: look it up again, whatever the budget.
    Seen,
    /// Never seen (or forgotten): a lookup the client's failure budget must allow.
    Unknown,
}

/// An isolate's key lookups: found keys and unknown keys in separate LRU maps, and an epoch
/// that [`KeyCache::forget`] advances so a lookup that began before a forget is not
/// remembered after it.
#[derive(Debug)]
pub struct KeyCache<V> {
    /// `(Some(value), read at)`; both maps share one type, so one copy of the code.
    found: Lru<(Option<V>, i64)>,
    /// `(None, read at)`.
    missing: Lru<(Option<V>, i64)>,
    epoch: u64,
}

impl<V: Clone> KeyCache<V> {
    /// A cache of at most `found` found keys and `missing` unknown ones.
    #[must_use]
    pub fn new(found: usize, missing: usize) -> Self {
        Self {
            found: Lru::new(found),
            missing: Lru::new(missing),
            epoch: 0,
        }
    }

    /// What is known about `key` at `now` when found keys live `ttl_ms` (unknown ones at most
    /// [`MISSING_TTL_MS`]).
    pub fn get(&mut self, key: &str, now: i64, ttl_ms: i64) -> Cached<V> {
        if let Some((value, at)) = self.found.get(key) {
            return match value {
                Some(value) if now - *at < ttl_ms => Cached::Found(value.clone()),
                _ => Cached::Seen,
            };
        }
        match self.missing.get(key) {
            Some((_, at)) if now - *at < MISSING_TTL_MS.min(ttl_ms) => Cached::Missing,
            _ => Cached::Unknown,
        }
    }

    /// The epoch to hand back to [`KeyCache::found`] / [`KeyCache::missing`] once a lookup
    /// that starts now finishes.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Remembers a found key, unless a forget happened since `epoch`; says whether it did.
    pub fn found(&mut self, key: String, value: V, now: i64, epoch: u64) -> bool {
        if epoch != self.epoch {
            return false;
        }
        self.missing.remove(&key);
        self.found.insert(key, (Some(value), now));
        true
    }

    /// Remembers an unknown key, unless a forget happened since `epoch`.
    pub fn missing(&mut self, key: String, now: i64, epoch: u64) {
        if epoch == self.epoch {
            self.found.remove(&key);
            self.missing.insert(key, (None, now));
        }
    }

    /// Drops what is known about `key`; lookups already under way are not remembered.
    pub fn forget(&mut self, key: &str) {
        self.epoch += 1;
        self.found.remove(key);
        self.missing.remove(key);
    }
}

/// A client's failed lookups per fixed window, counted for at most `clients` addresses.
#[derive(Debug)]
pub struct FailureBudget {
    window_ms: i64,
    clients: usize,
    /// Address → (window index, failures in it).
    windows: HashMap<String, (i64, u32)>,
}

impl FailureBudget {
    /// Failures counted per `window_ms` per address, for at most `clients` addresses. When
    /// full, counts of past windows go first; if every address failed in this window, all
    /// counts start over (an attacker with that many addresses gets as many budgets anyway).
    #[must_use]
    pub fn new(window_ms: i64, clients: usize) -> Self {
        Self {
            window_ms: window_ms.max(1),
            clients: clients.max(1),
            windows: HashMap::new(),
        }
    }

    /// `Ok` while `client` has made fewer than `limit` failed lookups in the window of `now`;
    /// otherwise the seconds until its window ends (at least 1), for `Retry-After`.
    ///
    /// # Errors
    /// The seconds to wait when the budget is spent.
    pub fn check(&mut self, client: &str, limit: u32, now: i64) -> Result<(), i64> {
        let window = now.div_euclid(self.window_ms);
        match self.windows.get(client) {
            Some((at, failures)) if *at == window && *failures >= limit => {
                let end = (window + 1) * self.window_ms;
                Err(((end - now + 999) / 1000).max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed lookup for `client` at `now`.
    pub fn fail(&mut self, client: &str, now: i64) {
        let window = now.div_euclid(self.window_ms);
        if let Some((at, failures)) = self.windows.get_mut(client) {
            *failures = if *at == window {
                failures.saturating_add(1)
            } else {
                1
            };
            *at = window;
            return;
        }
        if self.windows.len() >= self.clients {
            self.windows.retain(|_, (at, _)| *at == window);
            if self.windows.len() >= self.clients {
                self.windows.clear();
            }
        }
        self.windows.insert(client.to_owned(), (window, 1));
    }
}

/// Whether a lookup that read version `read` may stay written back, given the version
/// storage holds after the write (`None`: the record is gone). Any change means a revoke,
/// rotation or setting change committed while the lookup ran, and the write-back is stale.
#[must_use]
pub fn write_back_holds(read: i64, current: Option<i64>) -> bool {
    current == Some(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_lru_evicts_the_least_recently_used_entry_only() {
        let mut lru = Lru::new(3);
        for key in ["a", "b", "c"] {
            lru.insert(key.to_owned(), key);
        }
        assert!(
            lru.get("a").is_some(),
            "a is used again, so b is now the coldest"
        );

        lru.insert("d".to_owned(), "d");

        assert_eq!(lru.len(), 3);
        assert!(lru.get("b").is_none());
        for key in ["a", "c", "d"] {
            assert!(lru.get(key).is_some(), "{key} stays");
        }
    }

    #[test]
    fn replacing_an_entry_neither_grows_the_map_nor_evicts() {
        let mut lru = Lru::new(2);
        lru.insert("a".to_owned(), 1);
        lru.insert("b".to_owned(), 2);

        lru.insert("a".to_owned(), 3);

        assert_eq!(lru.len(), 2);
        assert_eq!(lru.get("a").copied(), Some(3));
        assert_eq!(lru.get("b").copied(), Some(2));
    }

    #[test]
    fn a_removed_entry_leaves_no_trace_in_the_eviction_order() {
        let mut lru = Lru::new(2);
        lru.insert("a".to_owned(), ());
        lru.insert("b".to_owned(), ());
        assert!(lru.remove("a").is_some());

        lru.insert("c".to_owned(), ());

        assert!(lru.get("b").is_some() && lru.get("c").is_some());
        assert!(lru.remove("a").is_none());
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn a_hot_key_survives_a_flood_of_cold_ones() {
        let mut lru = Lru::new(100);
        lru.insert("hot".to_owned(), ());
        for i in 0..10_000 {
            lru.insert(format!("cold{i}"), ());
            if i % 50 == 0 {
                assert!(lru.get("hot").is_some(), "hot is used every 50 inserts");
            }
        }
        assert_eq!(lru.len(), 100);
        assert!(lru.get("hot").is_some());
        assert!(
            lru.uses.len() <= 200,
            "the use queue stays within twice the capacity"
        );
    }

    #[test]
    fn the_cache_answers_by_entry_kind_and_age() {
        let ttl = 30_000;
        let mut cache: KeyCache<&str> = KeyCache::new(10, 10);
        let epoch = cache.epoch();
        assert!(cache.found("sk:a".into(), "auth", 1_000, epoch));
        cache.missing("sk:b".into(), 1_000, epoch);
        let cases = [
            ("sk:a", 1_000 + ttl - 1, Cached::Found("auth")),
            ("sk:a", 1_000 + ttl, Cached::Seen),
            ("sk:b", 1_000 + MISSING_TTL_MS - 1, Cached::Missing),
            ("sk:b", 1_000 + MISSING_TTL_MS, Cached::Unknown),
            ("sk:c", 1_000, Cached::Unknown),
        ];
        for (key, now, expected) in cases {
            assert_eq!(cache.get(key, now, ttl), expected, "{key} at {now}");
        }
    }

    #[test]
    fn unknown_keys_are_remembered_no_longer_than_found_ones() {
        let mut cache: KeyCache<()> = KeyCache::new(10, 10);
        cache.missing("k".into(), 0, cache.epoch());
        assert_eq!(cache.get("k", 1_000, 1_000), Cached::Unknown);
        assert_eq!(cache.get("k", 999, 1_000), Cached::Missing);
    }

    #[test]
    fn a_flood_of_unknown_keys_never_evicts_a_found_one() {
        let mut cache: KeyCache<u8> = KeyCache::new(2, 3);
        let epoch = cache.epoch();
        cache.found("hot".into(), 1, 0, epoch);
        for i in 0..1_000 {
            cache.missing(format!("made-up{i}"), 0, epoch);
        }
        assert_eq!(cache.get("hot", 1, 30_000), Cached::Found(1));
        assert_eq!(
            cache.missing.len(),
            3,
            "unknown keys stay within their own bound"
        );
    }

    #[test]
    fn a_lookup_that_began_before_a_forget_is_not_remembered() {
        let mut cache: KeyCache<&str> = KeyCache::new(10, 10);
        let started = cache.epoch();

        cache.forget("sk:a");
        let kept = cache.found("sk:a".into(), "stale", 5, started);
        cache.missing("sk:b".into(), 5, started);

        assert!(!kept);
        assert_eq!(cache.get("sk:a", 6, 30_000), Cached::Unknown);
        assert_eq!(cache.get("sk:b", 6, 30_000), Cached::Unknown);
        assert!(cache.found("sk:a".into(), "fresh", 7, cache.epoch()));
    }

    #[test]
    fn finding_a_key_clears_its_unknown_entry_and_the_reverse() {
        let mut cache: KeyCache<u8> = KeyCache::new(10, 10);
        let epoch = cache.epoch();
        cache.missing("k".into(), 0, epoch);
        cache.found("k".into(), 1, 1, epoch);
        assert_eq!(cache.get("k", 2, 30_000), Cached::Found(1));
        cache.missing("k".into(), 3, epoch);
        assert_eq!(cache.get("k", 4, 30_000), Cached::Missing);
    }

    #[test]
    fn a_client_gets_its_budget_of_failures_per_window() {
        let mut budget = FailureBudget::new(60_000, 100);
        for _ in 0..3 {
            assert_eq!(budget.check("203.0.113.7", 3, 1_000), Ok(()));
            budget.fail("203.0.113.7", 1_000);
        }
        let cases = [
            (1_000, Err(59)),
            (59_001, Err(1)),
            (59_999, Err(1)),
            (60_000, Ok(())),
        ];
        for (now, expected) in cases {
            assert_eq!(budget.check("203.0.113.7", 3, now), expected, "at {now}");
        }
    }

    #[test]
    fn clients_are_budgeted_apart() {
        let mut budget = FailureBudget::new(60_000, 100);
        budget.fail("a", 0);
        assert!(budget.check("a", 1, 0).is_err());
        assert_eq!(budget.check("b", 1, 0), Ok(()));
    }

    #[test]
    fn the_budget_tracks_a_bounded_number_of_clients() {
        let mut budget = FailureBudget::new(60_000, 2);
        budget.fail("old", 0);
        budget.fail("a", 60_000);

        budget.fail("b", 60_000);

        assert_eq!(
            budget.windows.len(),
            2,
            "the past window's count went first"
        );
        assert!(budget.check("a", 1, 60_000).is_err());
        assert!(budget.check("b", 1, 60_000).is_err());
        budget.fail("c", 60_000);
        assert!(
            budget.windows.len() <= 2,
            "still bounded when every count is current"
        );
    }

    #[test]
    fn a_write_back_holds_only_while_the_version_is_unchanged() {
        let cases = [
            (4, Some(4), true),
            (4, Some(5), false),
            (4, Some(3), false),
            (4, None, false),
        ];
        for (read, current, holds) in cases {
            assert_eq!(
                write_back_holds(read, current),
                holds,
                "{read} vs {current:?}"
            );
        }
    }
}
