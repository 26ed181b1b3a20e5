//! citadel-limits: rate limits for the gateway, as token buckets keyed by any string.
//!
//! A [`Limit`] of `capacity` per minute is a token bucket that holds at most `capacity` units
//! (the burst) and refills continuously at `capacity` units per 60 seconds. A fresh or idle
//! bucket is full. Arithmetic is exact integer arithmetic on clock ticks (nanoseconds in
//! process, microseconds in Redis): after `t` of refill a bucket has gained exactly
//! `floor(t · capacity / 60 s)` whole units, and a refused request is told exactly how long to
//! wait.
//!
//! Two operations serve the two kinds of limit the gateway keeps:
//! - [`RateLimiter::acquire`] takes `cost` units if the bucket holds them, and otherwise says
//!   when it will (requests per minute: `cost` 1). A `cost` of 0 is an admission probe: it is
//!   allowed while at least one whole unit is left and takes nothing.
//! - [`RateLimiter::charge`] debits after the fact and may push the bucket into debt (tokens per
//!   minute: admit with `acquire(key, limit, 0)`, charge the completion's real token count when
//!   it is known). Debt is capped at [`MAX_DEBT_MINUTES`] minutes of refill.
//!
//! Backends: [`RateLimiter::in_process`] keeps sharded maps of buckets (no global lock, full
//! buckets are dropped since they equal a fresh one, so memory follows the keys active in the
//! last refill window); [`RateLimiter::redis`] keeps them in Redis, one atomic Lua script per
//! decision timed by the server's `TIME`, so every replica sharing the server shares the limits.
//! When Redis does not answer, decisions fall back to in-process buckets, the limiter reports
//! itself degraded ([`RateLimiter::status`]) and logs the outage once.
//!
//! ```no_run
//! # async fn gateway() -> Result<(), citadel_limits::LimitError> {
//! use citadel_limits::{Limit, Outcome, RateLimiter, RedisConfig, RedisUrl};
//!
//! let limiter = RateLimiter::redis(RedisConfig::new(RedisUrl::parse("redis://127.0.0.1:6379")?)).await;
//! let (rpm, tpm) = (Limit::per_minute(600)?, Limit::per_minute(100_000)?);
//! for (key, limit, cost) in [("rpm:principal:42", rpm, 1), ("tpm:principal:42", tpm, 0)] {
//!     if let Some(seconds) = limiter.acquire(key, limit, cost).await?.retry_after_secs() {
//!         return Ok(()); // answer 429 with `Retry-After: {seconds}`
//!     }
//! }
//! let completion_tokens = 312; // known once the model has answered
//! limiter.charge("tpm:principal:42", tpm, completion_tokens).await;
//! # Ok(())
//! # }
//! ```

mod clock;
mod local;
mod redis;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::redis::{RedisConfig, RedisUrl};

use crate::local::LocalBuckets;
use crate::redis::RedisBackend;

/// The largest capacity a [`Limit`] may have: ten million units per minute. Redis evaluates the
/// buckets in Lua, whose numbers are doubles; below this bound every quantity the script handles
/// (including the largest debt) stays an exact integer.
pub const MAX_CAPACITY: u64 = 10_000_000;

/// How far [`RateLimiter::charge`] may push a bucket into debt, in minutes of refill: at most
/// `10 × capacity` units. Charges beyond that are forgiven, so a single huge completion blocks
/// its key for at most eleven minutes.
pub const MAX_DEBT_MINUTES: u64 = 10;

/// Errors of the rate limiter.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// A limit of zero or above [`MAX_CAPACITY`].
    #[error("a rate limit of {capacity} per minute is out of range: use 1 to {MAX_CAPACITY} (leave the limit out to not limit at all)")]
    InvalidLimit {
        /// The capacity that was asked for.
        capacity: u64,
    },
    /// A request costs more than its bucket can ever hold, so waiting would never help.
    #[error("this request needs {cost} units but the limit allows at most {capacity} per minute: make the request smaller (for example fewer max_tokens) or raise the limit")]
    CostExceedsCapacity {
        /// What the request costs.
        cost: u64,
        /// The limit's capacity.
        capacity: u64,
    },
    /// The Redis URL is malformed or names an unsupported scheme.
    #[error("invalid Redis URL {url}: {reason}; expected redis://[user:password@]host[:port][/db], rediss://… for TLS, or redis+unix:///path")]
    InvalidRedisUrl {
        /// The URL with its credentials masked.
        url: String,
        /// Why it was refused.
        reason: String,
    },
}

/// A rate limit: a token bucket with burst `capacity` refilling `capacity` units per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    capacity: u64,
}

impl Limit {
    /// A limit of `capacity` units per minute (1 to [`MAX_CAPACITY`]).
    pub fn per_minute(capacity: u64) -> Result<Self, LimitError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(LimitError::InvalidLimit { capacity });
        }
        Ok(Self { capacity })
    }

    /// Units per minute, which is also the burst.
    pub fn capacity(self) -> u64 {
        self.capacity
    }
}

/// The decision on one [`RateLimiter::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The units were taken; `remaining` whole units are left.
    Allowed {
        /// Whole units left in the bucket after this request.
        remaining: u64,
    },
    /// Nothing was taken: the units will be there after `retry_after` (exact; round it up to
    /// whole seconds for a `Retry-After` header).
    Limited {
        /// Time until the bucket holds what the request needs.
        retry_after: Duration,
    },
}

impl Outcome {
    /// Whether the request may go ahead.
    pub fn is_allowed(self) -> bool {
        matches!(self, Outcome::Allowed { .. })
    }

    /// For a limited request, the wait rounded up to whole seconds (at least 1), as a
    /// `Retry-After` header wants it; `None` when allowed.
    pub fn retry_after_secs(self) -> Option<u64> {
        match self {
            Outcome::Allowed { .. } => None,
            Outcome::Limited { retry_after } => {
                let whole = retry_after.as_secs();
                let round_up = u64::from(retry_after.subsec_nanos() > 0);
                Some(whole.saturating_add(round_up).max(1))
            }
        }
    }
}

/// Which backend a limiter uses and how it is doing, for the gateway's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// `"in_process"` or `"redis"`.
    pub backend: &'static str,
    /// Redis is configured but not answering: decisions are being made in process, so each
    /// replica enforces the limits on its own.
    pub degraded: bool,
    /// Decisions made in process because Redis did not answer, since start.
    pub fallback_decisions: u64,
    /// Times Redis went from answering to not answering (including a failed first connection).
    pub outages: u64,
    /// Buckets held in this process (the whole state of the in-process backend; the fallback's
    /// state with Redis).
    pub local_buckets: usize,
}

/// A rate limiter shared by every request: cheap to clone (one `Arc`), `Send + Sync`.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    local: LocalBuckets,
    redis: Option<RedisBackend>,
}

impl RateLimiter {
    /// In-process buckets on the system's monotonic clock.
    pub fn in_process() -> Self {
        Self::in_process_with_clock(Arc::new(SystemClock::new()))
    }

    /// In-process buckets on `clock` (a [`ManualClock`] makes tests exact without sleeping).
    pub fn in_process_with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                local: LocalBuckets::new(clock),
                redis: None,
            }),
        }
    }

    /// Buckets in the Redis server of `config`, shared with every limiter using the same server
    /// and key prefix. Connects once before returning; if that fails the limiter starts degraded
    /// (in-process decisions) and keeps retrying in the background of later requests, so a
    /// gateway can start while Redis is down.
    pub async fn redis(config: RedisConfig) -> Self {
        let backend = RedisBackend::connect(config).await;
        Self {
            inner: Arc::new(Inner {
                local: LocalBuckets::new(Arc::new(SystemClock::new())),
                redis: Some(backend),
            }),
        }
    }

    /// Takes `cost` units from `key`'s bucket if it holds them (with `cost` 0: allowed while at
    /// least one unit is left, taking nothing). A `cost` above the limit's capacity could never
    /// be served and is an error.
    pub async fn acquire(&self, key: &str, limit: Limit, cost: u64) -> Result<Outcome, LimitError> {
        if cost > limit.capacity {
            return Err(LimitError::CostExceedsCapacity {
                cost,
                capacity: limit.capacity,
            });
        }
        if let Some(redis) = &self.inner.redis {
            if let Some(outcome) = redis.acquire(key, limit, cost).await {
                return Ok(outcome);
            }
        }
        Ok(self.inner.local.acquire(key, limit, cost))
    }

    /// Debits `cost` units from `key`'s bucket after the fact, going into debt if needed (at most
    /// [`MAX_DEBT_MINUTES`] minutes of refill). Later acquires wait until the debt is repaid.
    pub async fn charge(&self, key: &str, limit: Limit, cost: u64) {
        let cost = cost.min(local::max_charge(limit));
        if let Some(redis) = &self.inner.redis {
            if redis.charge(key, limit, cost).await {
                return;
            }
        }
        self.inner.local.charge(key, limit, cost);
    }

    /// The backend in use and its health.
    pub fn status(&self) -> Status {
        let local_buckets = self.inner.local.len();
        match &self.inner.redis {
            None => Status {
                backend: "in_process",
                degraded: false,
                fallback_decisions: 0,
                outages: 0,
                local_buckets,
            },
            Some(redis) => Status {
                backend: "redis",
                degraded: redis.is_degraded(),
                fallback_decisions: redis.fallback_decisions(),
                outages: redis.outages(),
                local_buckets,
            },
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("RateLimiter");
        match &self.inner.redis {
            None => s.field("backend", &"in_process"),
            Some(redis) => s.field("backend", &"redis").field("redis", redis),
        };
        s.field("local_buckets", &self.inner.local.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_out_of_range_are_refused_with_the_range() {
        for capacity in [0, MAX_CAPACITY + 1] {
            let err = Limit::per_minute(capacity).unwrap_err();
            assert!(err.to_string().contains("use 1 to 10000000"), "{err}");
        }
        assert_eq!(
            Limit::per_minute(MAX_CAPACITY).unwrap().capacity(),
            MAX_CAPACITY
        );
    }

    #[tokio::test]
    async fn a_cost_above_capacity_is_an_error_not_a_wait() {
        let limiter = RateLimiter::in_process_with_clock(Arc::new(ManualClock::new()));
        let limit = Limit::per_minute(10).unwrap();
        let err = limiter.acquire("k", limit, 11).await.unwrap_err();
        assert!(matches!(
            err,
            LimitError::CostExceedsCapacity {
                cost: 11,
                capacity: 10
            }
        ));
        assert!(err.to_string().contains("at most 10 per minute"));
        // Nothing was taken: the full burst is still there.
        assert_eq!(
            limiter.acquire("k", limit, 10).await.unwrap(),
            Outcome::Allowed { remaining: 0 }
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_for_the_header() {
        let limited = |nanos| Outcome::Limited {
            retry_after: Duration::from_nanos(nanos),
        };
        assert_eq!(limited(8_571_428_572).retry_after_secs(), Some(9));
        assert_eq!(limited(12_000_000_000).retry_after_secs(), Some(12));
        assert_eq!(limited(1).retry_after_secs(), Some(1));
        assert_eq!(limited(0).retry_after_secs(), Some(1));
        assert_eq!(Outcome::Allowed { remaining: 3 }.retry_after_secs(), None);
    }

    #[test]
    fn the_limiter_is_cheap_to_share_across_tasks() {
        fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
        assert_shareable::<RateLimiter>();
        assert_eq!(
            std::mem::size_of::<RateLimiter>(),
            std::mem::size_of::<usize>()
        );
    }
}
