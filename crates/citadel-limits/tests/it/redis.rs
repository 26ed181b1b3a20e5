//! The Redis backend against a real server: exact decisions, limits shared by two limiters,
//! concurrency, expiry, and the fallback to in-process buckets when the server goes away.
//!
//! The server comes from `CITADEL_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`, which
//! `.ci/run` starts). A missing server fails these tests; `CITADEL_TEST_REDIS_URL=skip` skips
//! them. Each test uses its own key prefix and deletes its keys at the end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use citadel_limits::{Limit, LimitError, Outcome, RateLimiter, RedisConfig, RedisUrl};
use redis::{Commands, ConnectionAddr};

use crate::proxy::Proxy;

/// A test's Redis: its URL, its key prefix, and the cleanup of that prefix on drop.
struct TestRedis {
    url: String,
    prefix: String,
}

impl TestRedis {
    /// `None` when the tests are told to skip Redis; a failure when Redis does not answer.
    fn new(test: &str) -> Option<Self> {
        let url = std::env::var("CITADEL_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        if url == "skip" {
            eprintln!("{test}: skipped (CITADEL_TEST_REDIS_URL=skip)");
            return None;
        }
        let redacted = RedisUrl::parse(&url).unwrap().redacted().to_owned();
        let answered = redis::Client::open(url.as_str())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
            .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection));
        if let Err(err) = answered {
            panic!(
                "no Redis at {redacted} ({err}): start one (redis-server --port 6379), point \
                 CITADEL_TEST_REDIS_URL at one, or set CITADEL_TEST_REDIS_URL=skip"
            );
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!("citadel-test:{}:{test}:{nanos}:", std::process::id());
        Some(Self { url, prefix })
    }

    fn config(&self) -> RedisConfig {
        let mut config = RedisConfig::new(RedisUrl::parse(&self.url).unwrap());
        config.key_prefix = self.prefix.clone();
        config
    }

    async fn limiter(&self) -> RateLimiter {
        let limiter = RateLimiter::redis(self.config()).await;
        assert!(!limiter.status().degraded, "{:?}", limiter.status());
        limiter
    }

    fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    fn upstream(&self) -> SocketAddr {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        match &client.get_connection_info().addr {
            ConnectionAddr::Tcp(host, port) => {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))
                    .unwrap()
                    .next()
                    .unwrap()
            }
            other => panic!("the proxy test needs a plain TCP Redis URL, not {other}"),
        }
    }

    /// The test's URL with the server's address swapped for `addr`.
    fn url_via(&self, addr: SocketAddr) -> String {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let info = &client.get_connection_info().redis;
        let credentials = match (&info.username, &info.password) {
            (Some(user), Some(password)) => format!("{user}:{password}@"),
            (None, Some(password)) => format!(":{password}@"),
            _ => String::new(),
        };
        format!("redis://{credentials}{addr}/{}", info.db)
    }

    fn keys(&self) -> Vec<String> {
        self.connection().keys(format!("{}*", self.prefix)).unwrap()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let keys = self.keys();
        if !keys.is_empty() {
            let _: () = self.connection().del(keys).unwrap();
        }
    }
}

fn limit(n: u64) -> Limit {
    Limit::per_minute(n).unwrap()
}

async fn drain(limiter: &RateLimiter, key: &str, limit: Limit) -> u64 {
    let mut allowed = 0;
    while limiter.acquire(key, limit, 1).await.unwrap().is_allowed() {
        allowed += 1;
    }
    allowed
}

#[tokio::test]
async fn capacity_n_allows_n_then_says_how_long_to_wait() {
    let Some(redis) = TestRedis::new("exact") else {
        return;
    };
    let limiter = redis.limiter().await;
    let l = limit(5); // one unit every 12 s
    let start = Instant::now();
    for expected in (0..5).rev() {
        assert_eq!(
            limiter.acquire("k", l, 1).await.unwrap(),
            Outcome::Allowed {
                remaining: expected
            }
        );
    }
    let Outcome::Limited { retry_after } = limiter.acquire("k", l, 1).await.unwrap() else {
        panic!("the sixth request must be limited");
    };
    let elapsed = start.elapsed();
    assert!(retry_after <= Duration::from_secs(12), "{retry_after:?}");
    assert!(
        retry_after >= Duration::from_secs(12) - elapsed,
        "{retry_after:?} after {elapsed:?}"
    );
    // A probe needs one unit too; two units take one refill period more.
    assert!(!limiter.acquire("k", l, 0).await.unwrap().is_allowed());
    let Outcome::Limited { retry_after: two } = limiter.acquire("k", l, 2).await.unwrap() else {
        panic!("two units are not there either");
    };
    assert!(
        two > Duration::from_secs(12) && two <= Duration::from_secs(24),
        "{two:?}"
    );
    assert!(matches!(
        limiter.acquire("k", l, 6).await,
        Err(LimitError::CostExceedsCapacity {
            cost: 6,
            capacity: 5
        })
    ));
    assert_eq!(limiter.status().fallback_decisions, 0);
}

#[tokio::test]
async fn refill_follows_the_server_clock() {
    let Some(redis) = TestRedis::new("refill") else {
        return;
    };
    let limiter = redis.limiter().await;
    let l = limit(600);
    // Ten units a second. The burst, plus whatever refilled while draining took its round
    // trips (a busy machine can take over 100 ms for 600 of them).
    let drained = drain(&limiter, "k", l).await;
    assert!((600..=620).contains(&drained), "{drained}");
    // The wait for one unit is at most 100 ms and never short: sleeping it out admits exactly one.
    let Outcome::Limited { retry_after } = limiter.acquire("k", l, 1).await.unwrap() else {
        panic!("a drained bucket must be limited");
    };
    assert!(retry_after <= Duration::from_millis(100), "{retry_after:?}");
    tokio::time::sleep(retry_after).await;
    assert!(limiter.acquire("k", l, 1).await.unwrap().is_allowed());
    // After 350 ms more, at least three and at most a few more (the round trips take time).
    let before = Instant::now();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let refilled = drain(&limiter, "k", l).await;
    let elapsed = before.elapsed();
    let upper = (elapsed.as_millis() as u64 + 100) / 100;
    assert!(
        (3..=upper).contains(&refilled),
        "{refilled} units after {elapsed:?}"
    );
}

#[tokio::test]
async fn two_limiters_on_one_server_share_their_buckets() {
    let Some(redis) = TestRedis::new("shared") else {
        return;
    };
    let a = redis.limiter().await;
    let b = redis.limiter().await;
    let l = limit(5);
    for _ in 0..3 {
        assert!(a.acquire("principal:p", l, 1).await.unwrap().is_allowed());
    }
    assert_eq!(
        b.acquire("principal:p", l, 1).await.unwrap(),
        Outcome::Allowed { remaining: 1 }
    );
    assert!(a.acquire("principal:p", l, 1).await.unwrap().is_allowed());
    assert!(!b.acquire("principal:p", l, 1).await.unwrap().is_allowed());
    assert!(!a.acquire("principal:p", l, 1).await.unwrap().is_allowed());
    // Other keys, and the same key under another prefix, are untouched.
    assert_eq!(drain(&b, "principal:q", l).await, 5);
    let other = TestRedis::new("shared-other").unwrap();
    assert_eq!(drain(&other.limiter().await, "principal:p", l).await, 5);
}

#[tokio::test]
async fn charges_put_the_shared_bucket_in_debt() {
    let Some(redis) = TestRedis::new("debt") else {
        return;
    };
    let a = redis.limiter().await;
    let b = redis.limiter().await;
    let l = limit(600); // ten units a second
    assert!(a.acquire("tpm", l, 0).await.unwrap().is_allowed());
    a.charge("tpm", l, 900).await; // 600 - 900 = -300: 301 units, 30.1 s, to admit again
    let Outcome::Limited { retry_after } = b.acquire("tpm", l, 0).await.unwrap() else {
        panic!("a bucket in debt must be limited");
    };
    assert!(
        retry_after > Duration::from_secs(30) && retry_after <= Duration::from_millis(30_100),
        "{retry_after:?}"
    );
    // Debt is capped at ten minutes of refill.
    b.charge("tpm", l, u64::MAX).await;
    let Outcome::Limited { retry_after } = a.acquire("tpm", l, 0).await.unwrap() else {
        panic!("a bucket in debt must be limited");
    };
    assert!(
        retry_after > Duration::from_secs(600) && retry_after <= Duration::from_millis(600_100),
        "{retry_after:?}"
    );
}

#[tokio::test]
async fn buckets_expire_once_full_and_full_ones_are_not_stored() {
    let Some(redis) = TestRedis::new("expiry") else {
        return;
    };
    let limiter = redis.limiter().await;
    let l = limit(60); // one unit a second
    assert!(limiter.acquire("probe", l, 0).await.unwrap().is_allowed());
    assert!(redis.keys().is_empty(), "a full bucket was stored");
    assert!(limiter.acquire("used", l, 2).await.unwrap().is_allowed());
    let key = format!("{}used", redis.prefix);
    let ttl: i64 = redis.connection().pttl(&key).unwrap();
    // Full again in 2 s; the key lives a second longer than that at most.
    assert!((1_900..=3_000).contains(&ttl), "pttl {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acquires_through_two_limiters_never_over_admit() {
    let Some(redis) = TestRedis::new("concurrent") else {
        return;
    };
    let limiters = [redis.limiter().await, redis.limiter().await];
    let l = limit(40); // one unit every 1.5 s
    let allowed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..32 {
        let limiter = limiters[task % 2].clone();
        let allowed = allowed.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                if limiter
                    .acquire("endpoint:e", l, 1)
                    .await
                    .unwrap()
                    .is_allowed()
                {
                    allowed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed();
    let allowed = allowed.load(Ordering::Relaxed);
    // The burst, plus what refilled while the test ran, and not one more.
    let refilled = (elapsed.as_micros() * 40 / 60_000_000) as u64;
    assert!(
        (40..=40 + refilled).contains(&allowed),
        "{allowed} admitted in {elapsed:?}"
    );
    for limiter in &limiters {
        assert_eq!(limiter.status().fallback_decisions, 0);
    }
}

#[tokio::test]
async fn an_unreachable_server_falls_back_to_in_process_buckets_and_says_so_once() {
    // A port that was free a moment ago and has no listener now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = RedisConfig::new(
        RedisUrl::parse(&format!(
            "redis://:fallback-password-1234@127.0.0.1:{port}/0"
        ))
        .unwrap(),
    );
    config.retry_interval = Duration::from_millis(20);
    let limiter = RateLimiter::redis(config).await;
    let status = limiter.status();
    assert!(status.degraded && status.outages == 1, "{status:?}");
    assert!(!format!("{limiter:?}").contains("fallback-password-1234"));

    let l = limit(3);
    let started = Instant::now();
    assert_eq!(drain(&limiter, "k", l).await, 3);
    // Retries after the interval fail again without counting a new outage.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(!limiter.acquire("k", l, 1).await.unwrap().is_allowed());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a dead Redis stalled requests"
    );
    let status = limiter.status();
    assert!(status.degraded, "{status:?}");
    assert_eq!(status.outages, 1);
    assert_eq!(status.fallback_decisions, 5);
    assert_eq!(status.local_buckets, 1);
}

#[tokio::test]
async fn an_outage_falls_back_and_recovery_shares_the_limits_again() {
    let Some(redis) = TestRedis::new("outage") else {
        return;
    };
    let proxy = Proxy::start(redis.upstream()).await;
    let mut config = redis.config();
    config.url = RedisUrl::parse(&redis.url_via(proxy.addr)).unwrap();
    config.retry_interval = Duration::from_millis(50);
    let proxied = RateLimiter::redis(config).await;
    let direct = redis.limiter().await;
    let l = limit(10);
    assert!(proxied.acquire("k", l, 4).await.unwrap().is_allowed());

    proxy.down();
    // Redis is gone for the proxied limiter: it decides alone, on a fresh local bucket.
    assert_eq!(
        proxied.acquire("k", l, 1).await.unwrap(),
        Outcome::Allowed { remaining: 9 }
    );
    let status = proxied.status();
    assert!(status.degraded && status.outages == 1, "{status:?}");

    proxy.up();
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let outcome = proxied.acquire("k", l, 1).await.unwrap();
        if !proxied.status().degraded {
            break outcome;
        }
        assert!(
            Instant::now() < deadline,
            "never recovered: {:?}",
            proxied.status()
        );
    };
    // Back on the shared bucket: 10 - 4 - 1 = 5 (plus whatever refilled meanwhile).
    let Outcome::Allowed { remaining } = outcome else {
        panic!("{outcome:?}");
    };
    assert!((5..=6).contains(&remaining), "{remaining}");
    assert_eq!(drain(&direct, "k", l).await, remaining);
    assert_eq!(proxied.status().outages, 1);
}
