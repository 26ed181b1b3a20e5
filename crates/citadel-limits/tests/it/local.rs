//! Many tasks on many threads sharing in-process buckets never get more than the limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use citadel_limits::{Limit, ManualClock, Outcome, RateLimiter};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acquires_never_over_admit() {
    let limiter = RateLimiter::in_process_with_clock(Arc::new(ManualClock::new()));
    let limit = Limit::per_minute(1_000).unwrap();
    let keys = ["principal:a", "principal:b", "endpoint:x"];
    let allowed: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let mut tasks = Vec::new();
    for task in 0..32 {
        let limiter = limiter.clone();
        let allowed = allowed.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                let k = (task + i) % keys.len();
                // Mixed costs: 1, 2 and 3 units.
                let cost = 1 + (i % 3) as u64;
                if let Outcome::Allowed { .. } =
                    limiter.acquire(keys[k], limit, cost).await.unwrap()
                {
                    allowed[k].fetch_add(cost, Ordering::Relaxed);
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // The clock never moved: each bucket gave out at most its burst of 1,000 units, and with
    // 32 × 200 requests of up to 3 units asking for far more, nearly all of it (at most two
    // units can be stranded below a 3-unit request's need).
    for (key, units) in keys.iter().zip(allowed.iter()) {
        let units = units.load(Ordering::Relaxed);
        assert!(
            (998..=1_000).contains(&units),
            "{key}: {units} units admitted"
        );
        let probe = limiter.acquire(key, limit, 0).await.unwrap();
        if units == 1_000 {
            assert!(!probe.is_allowed(), "{key}: {probe:?}");
        } else {
            assert_eq!(
                probe,
                Outcome::Allowed {
                    remaining: 1_000 - units
                },
                "{key}"
            );
        }
    }
}
