//! In-process token buckets: a fixed number of mutex-guarded shards chosen by key hash, so
//! concurrent requests for different keys rarely meet on a lock, and full buckets swept away so
//! memory follows the keys active within the last refill window rather than every key ever seen.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::{Clock, Limit, Outcome, MAX_DEBT_MINUTES};

/// Clock ticks (nanoseconds) in a minute: one unit of a bucket is this many ticks, and a limit
/// of `capacity` per minute adds `capacity` ticks per nanosecond, so refill is exact.
const TICKS_PER_MINUTE: i128 = 60_000_000_000;

/// Shards of the map; a power of two comfortably above the cores of a gateway host.
const SHARDS: usize = 64;

/// A shard is swept when it has grown to twice its size after the last sweep, and never below
/// this many entries.
const MIN_SWEEP_LEN: usize = 64;

/// A shard is also swept on first use after this long without a sweep, so memory is given back
/// once traffic stops creating keys.
const SWEEP_INTERVAL_NANOS: u64 = 60_000_000_000;

/// The most [`crate::RateLimiter::charge`] can take at once: a full bucket pushed to the
/// deepest debt allowed. Larger charges are clamped to it (the rest would be forgiven anyway).
pub(crate) fn max_charge(limit: Limit) -> u64 {
    limit.capacity().saturating_mul(MAX_DEBT_MINUTES + 1)
}

/// One bucket: its level in ticks (negative when in debt) as of `last`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: i128,
    last: u64,
}

impl Bucket {
    fn full(limit: Limit) -> i128 {
        i128::from(limit.capacity()) * TICKS_PER_MINUTE
    }

    fn fresh(limit: Limit, now: u64) -> Self {
        Self {
            level: Self::full(limit),
            last: now,
        }
    }

    /// Brings the level up to `now` (never beyond full; a clock reading before `last` adds
    /// nothing).
    fn refill(&mut self, limit: Limit, now: u64) {
        let full = Self::full(limit);
        if now > self.last {
            let gained = i128::from(now - self.last) * i128::from(limit.capacity());
            self.level = self.level.saturating_add(gained);
            self.last = now;
        }
        self.level = self.level.min(full);
    }

    fn is_full_at(&self, limit: Limit, now: u64) -> bool {
        let mut probe = *self;
        probe.refill(limit, now);
        probe.level >= Self::full(limit)
    }

    fn acquire(&mut self, limit: Limit, now: u64, cost: u64) -> Outcome {
        self.refill(limit, now);
        let need = i128::from(cost.max(1)) * TICKS_PER_MINUTE;
        if self.level >= need {
            self.level -= i128::from(cost) * TICKS_PER_MINUTE;
            let remaining = u64::try_from(self.level / TICKS_PER_MINUTE).unwrap_or(0);
            Outcome::Allowed { remaining }
        } else {
            let deficit = need - self.level;
            let capacity = i128::from(limit.capacity());
            // Ceiling division: deficit and capacity are positive.
            let nanos = (deficit + capacity - 1) / capacity;
            Outcome::Limited {
                retry_after: Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)),
            }
        }
    }

    fn charge(&mut self, limit: Limit, now: u64, cost: u64) {
        self.refill(limit, now);
        let floor = -Self::full(limit) * i128::from(MAX_DEBT_MINUTES);
        self.level = (self.level - i128::from(cost) * TICKS_PER_MINUTE).max(floor);
    }
}

/// Each bucket remembers the limit it was last used with, so a sweep can tell whether it is full.
#[derive(Debug)]
struct Entry {
    bucket: Bucket,
    limit: Limit,
}

#[derive(Debug, Default)]
struct Shard {
    buckets: HashMap<Box<str>, Entry>,
    sweep_at_len: usize,
    last_sweep: u64,
}

impl Shard {
    /// Runs `op` on `key`'s bucket. Full buckets are never kept: a full bucket behaves exactly
    /// like a fresh one, so a probe of an unknown key allocates nothing.
    fn apply<R>(
        &mut self,
        key: &str,
        limit: Limit,
        now: u64,
        op: impl FnOnce(&mut Bucket) -> R,
    ) -> R {
        if now.saturating_sub(self.last_sweep) >= SWEEP_INTERVAL_NANOS {
            self.sweep(now);
        }
        let full = Bucket::full(limit);
        if let Some(entry) = self.buckets.get_mut(key) {
            entry.limit = limit;
            let result = op(&mut entry.bucket);
            if entry.bucket.level >= full {
                self.buckets.remove(key);
            }
            return result;
        }
        let mut bucket = Bucket::fresh(limit, now);
        let result = op(&mut bucket);
        if bucket.level < full {
            if self.buckets.len() >= self.sweep_at_len.max(MIN_SWEEP_LEN) {
                self.sweep(now);
            }
            self.buckets.insert(Box::from(key), Entry { bucket, limit });
        }
        result
    }

    /// Drops every bucket that is full by now: a full bucket behaves exactly like a fresh one.
    fn sweep(&mut self, now: u64) {
        self.buckets
            .retain(|_, entry| !entry.bucket.is_full_at(entry.limit, now));
        if self.buckets.capacity() > 4 * self.buckets.len().max(MIN_SWEEP_LEN) {
            self.buckets.shrink_to(2 * self.buckets.len());
        }
        self.sweep_at_len = 2 * self.buckets.len();
        self.last_sweep = now;
    }
}

/// The in-process backend (and the Redis backend's fallback).
#[derive(Debug)]
pub(crate) struct LocalBuckets {
    clock: Arc<dyn Clock>,
    hasher: std::collections::hash_map::RandomState,
    shards: Box<[Mutex<Shard>]>,
}

impl LocalBuckets {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        let now = clock.now_nanos();
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        last_sweep: now,
                        ..Shard::default()
                    })
                })
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            clock,
        }
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        // SHARDS is a power of two: the low bits of the hash pick the shard.
        let index = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        &self.shards[index]
    }

    pub(crate) fn acquire(&self, key: &str, limit: Limit, cost: u64) -> Outcome {
        let mut shard = self.shard(key).lock();
        let now = self.clock.now_nanos();
        shard.apply(key, limit, now, |bucket| bucket.acquire(limit, now, cost))
    }

    pub(crate) fn charge(&self, key: &str, limit: Limit, cost: u64) {
        let mut shard = self.shard(key).lock();
        let now = self.clock.now_nanos();
        shard.apply(key, limit, now, |bucket| bucket.charge(limit, now, cost));
    }

    /// Buckets currently held, across all shards.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().buckets.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, RateLimiter};

    fn limit(n: u64) -> Limit {
        Limit::per_minute(n).unwrap()
    }

    fn setup() -> (Arc<ManualClock>, RateLimiter) {
        let clock = Arc::new(ManualClock::new());
        let limiter = RateLimiter::in_process_with_clock(clock.clone());
        (clock, limiter)
    }

    async fn drain(limiter: &RateLimiter, key: &str, limit: Limit) -> u64 {
        let mut allowed = 0;
        while limiter.acquire(key, limit, 1).await.unwrap().is_allowed() {
            allowed += 1;
        }
        allowed
    }

    #[tokio::test]
    async fn capacity_n_allows_exactly_n_at_once_then_says_when() {
        let (_clock, limiter) = setup();
        let l = limit(7);
        for expected_remaining in (0..7).rev() {
            assert_eq!(
                limiter.acquire("k", l, 1).await.unwrap(),
                Outcome::Allowed {
                    remaining: expected_remaining
                }
            );
        }
        // One unit every 60/7 s = 8_571_428_571.43 ns: the exact wait is the ceiling.
        assert_eq!(
            limiter.acquire("k", l, 1).await.unwrap(),
            Outcome::Limited {
                retry_after: Duration::from_nanos(8_571_428_572)
            }
        );
    }

    #[tokio::test]
    async fn retry_after_is_exactly_when_the_units_are_there() {
        let (clock, limiter) = setup();
        let l = limit(7);
        assert_eq!(drain(&limiter, "k", l).await, 7);
        let Outcome::Limited { retry_after } = limiter.acquire("k", l, 3).await.unwrap() else {
            panic!("a drained bucket must be limited");
        };
        // Three units take 3 × 60/7 s = 25_714_285_714.29 ns.
        assert_eq!(retry_after, Duration::from_nanos(25_714_285_715));
        clock.advance(retry_after - Duration::from_nanos(1));
        assert!(!limiter.acquire("k", l, 3).await.unwrap().is_allowed());
        clock.advance(Duration::from_nanos(1));
        assert_eq!(
            limiter.acquire("k", l, 3).await.unwrap(),
            Outcome::Allowed { remaining: 0 }
        );
    }

    #[tokio::test]
    async fn refill_after_t_gives_floor_of_t_times_rate() {
        let (clock, limiter) = setup();
        let l = limit(7);
        drain(&limiter, "k", l).await;
        let mut elapsed = Duration::ZERO;
        let mut refilled = 0;
        for step_ms in [1, 999, 7_570, 30_000, 13_001, 5_000, 1] {
            let step = Duration::from_millis(step_ms);
            clock.advance(step);
            elapsed += step;
            refilled += drain(&limiter, "k", l).await;
            let expected = (elapsed.as_nanos() * 7 / 60_000_000_000) as u64;
            assert_eq!(refilled, expected, "after {elapsed:?}");
        }
        // A long idle time refills to the burst, never beyond.
        clock.advance(Duration::from_secs(3600));
        assert_eq!(drain(&limiter, "k", l).await, 7);
    }

    #[tokio::test]
    async fn a_probe_of_cost_zero_takes_nothing_and_needs_one_unit() {
        let (clock, limiter) = setup();
        let l = limit(60);
        assert_eq!(
            limiter.acquire("k", l, 0).await.unwrap(),
            Outcome::Allowed { remaining: 60 }
        );
        assert_eq!(drain(&limiter, "k", l).await, 60);
        assert_eq!(
            limiter.acquire("k", l, 0).await.unwrap(),
            Outcome::Limited {
                retry_after: Duration::from_secs(1)
            }
        );
        clock.advance(Duration::from_millis(1500));
        assert_eq!(
            limiter.acquire("k", l, 0).await.unwrap(),
            Outcome::Allowed { remaining: 1 }
        );
    }

    #[tokio::test]
    async fn charge_pushes_into_debt_that_must_be_repaid() {
        let (clock, limiter) = setup();
        let l = limit(600); // ten units a second
        assert!(limiter.acquire("tpm", l, 0).await.unwrap().is_allowed());
        limiter.charge("tpm", l, 900).await; // 600 - 900 = -300
        assert_eq!(
            limiter.acquire("tpm", l, 0).await.unwrap(),
            Outcome::Limited {
                retry_after: Duration::from_millis(30_100)
            }
        );
        clock.advance(Duration::from_millis(30_099));
        assert!(!limiter.acquire("tpm", l, 0).await.unwrap().is_allowed());
        clock.advance(Duration::from_millis(1));
        assert_eq!(
            limiter.acquire("tpm", l, 0).await.unwrap(),
            Outcome::Allowed { remaining: 1 }
        );
    }

    #[tokio::test]
    async fn debt_is_capped_at_ten_minutes_of_refill() {
        let (_clock, limiter) = setup();
        let l = limit(60);
        limiter.charge("k", l, u64::MAX).await;
        // Level -600 units: 601 units at one a second to admit again.
        assert_eq!(
            limiter.acquire("k", l, 0).await.unwrap(),
            Outcome::Limited {
                retry_after: Duration::from_secs(601)
            }
        );
        limiter.charge("k", l, 5).await;
        assert_eq!(
            limiter.acquire("k", l, 0).await.unwrap(),
            Outcome::Limited {
                retry_after: Duration::from_secs(601)
            }
        );
    }

    #[tokio::test]
    async fn keys_do_not_share_buckets() {
        let (_clock, limiter) = setup();
        let l = limit(3);
        assert_eq!(drain(&limiter, "principal:a", l).await, 3);
        assert_eq!(drain(&limiter, "principal:b", l).await, 3);
        limiter.charge("endpoint:x", l, 100).await;
        assert!(!limiter
            .acquire("endpoint:x", l, 0)
            .await
            .unwrap()
            .is_allowed());
        assert!(limiter
            .acquire("endpoint:y", l, 0)
            .await
            .unwrap()
            .is_allowed());
    }

    #[tokio::test]
    async fn a_smaller_limit_caps_a_bucket_at_its_new_burst() {
        let (_clock, limiter) = setup();
        assert!(limiter
            .acquire("k", limit(100), 1)
            .await
            .unwrap()
            .is_allowed());
        assert_eq!(drain(&limiter, "k", limit(5)).await, 5);
    }

    #[tokio::test]
    async fn eviction_keeps_memory_to_the_keys_active_in_the_refill_window() {
        let (clock, limiter) = setup();
        let l = limit(60); // a used bucket is full again one second later
        for i in 0..200_000u32 {
            assert!(limiter
                .acquire(&format!("key-{i}"), l, 1)
                .await
                .unwrap()
                .is_allowed());
            clock.advance(Duration::from_millis(1));
        }
        // About 1,000 keys were used in the last second; each of the 64 shards holds at most
        // twice its live keys or its sweep floor of 64 before sweeping.
        let held = limiter.status().local_buckets;
        assert!(
            held <= SHARDS * MIN_SWEEP_LEN + 2 * 1_000,
            "{held} buckets held"
        );
        // Once traffic stops, the next touch of each shard after the sweep interval frees it.
        clock.advance(Duration::from_secs(61));
        for i in 0..2_000u32 {
            limiter.acquire(&format!("late-{i}"), l, 0).await.unwrap();
        }
        assert_eq!(limiter.status().local_buckets, 0);
    }

    #[tokio::test]
    async fn a_bucket_in_debt_is_not_evicted_before_it_is_full() {
        let (clock, limiter) = setup();
        let l = limit(60);
        limiter.charge("indebted", l, 120).await; // -60: full again after 120 s
        clock.advance(Duration::from_secs(61));
        for i in 0..10_000u32 {
            limiter.acquire(&format!("other-{i}"), l, 0).await.unwrap();
        }
        // Level -60 + 61 = 1: a fresh bucket would have had the whole burst.
        assert_eq!(
            limiter.acquire("indebted", l, 0).await.unwrap(),
            Outcome::Allowed { remaining: 1 }
        );
    }
}
