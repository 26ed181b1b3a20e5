//! Loaded models: one slot per endpoint and version with a concurrency limit and a bounded queue
//! (503 with `Retry-After` when full), loading on first use and unloading when idle (scale to
//! zero).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::backend::Backend;
use crate::error::{ApiError, ErrorCode};

/// Which model a slot holds: an endpoint's id and one of its versions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotKey {
    pub endpoint: String,
    pub version: u32,
}

/// How many calls a slot runs at once and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLimits {
    pub max_concurrency: u32,
    pub max_queue: u32,
}

#[derive(Debug)]
struct Slot {
    backend: OnceCell<Arc<dyn Backend>>,
    permits: Arc<Semaphore>,
    concurrency: u32,
    waiting: AtomicU32,
    /// Milliseconds since the pool started, at the last call's end.
    last_used: AtomicU64,
}

/// Every loaded model of the gateway.
#[derive(Debug)]
pub struct ModelPool {
    slots: Mutex<HashMap<SlotKey, Arc<Slot>>>,
    started: Instant,
    loads: AtomicU64,
    unloads: AtomicU64,
}

/// A model held for one call; the slot's permit is released when it drops.
#[derive(Debug)]
pub struct Lease {
    pub backend: Arc<dyn Backend>,
    slot: Arc<Slot>,
    started: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let now = self.started.elapsed().as_millis();
        self.slot
            .last_used
            .store(u64::try_from(now).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl Default for ModelPool {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            started: Instant::now(),
            loads: AtomicU64::new(0),
            unloads: AtomicU64::new(0),
        }
    }
}

impl ModelPool {
    /// Waits for a free place in `key`'s slot (refusing at once when its queue is full), loading
    /// the model with `load` when the slot is empty.
    pub async fn acquire<F, Fut>(
        &self,
        key: &SlotKey,
        limits: SlotLimits,
        load: F,
    ) -> Result<Lease, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<dyn Backend>, ApiError>>,
    {
        let slot = self.slot(key, limits);
        let permit = match Arc::clone(&slot.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = slot.waiting.fetch_add(1, Ordering::AcqRel);
                let _leave = Leave(&slot.waiting);
                if queued >= limits.max_queue {
                    return Err(ApiError::new(
                        ErrorCode::Overloaded,
                        format!(
                            "the model is busy ({} running, {} waiting); retry shortly",
                            slot.concurrency, limits.max_queue
                        ),
                    )
                    .retry_after(1));
                }
                Arc::clone(&slot.permits)
                    .acquire_owned()
                    .await
                    .map_err(ApiError::internal)?
            }
        };
        let backend = slot
            .backend
            .get_or_try_init(|| async {
                let backend = load().await?;
                self.loads.fetch_add(1, Ordering::Relaxed);
                Ok::<_, ApiError>(backend)
            })
            .await?;
        Ok(Lease {
            backend: Arc::clone(backend),
            slot: Arc::clone(&slot),
            started: self.started,
            _permit: permit,
        })
    }

    fn slot(&self, key: &SlotKey, limits: SlotLimits) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.entry(key.clone()).or_insert_with(|| {
            Arc::new(Slot {
                backend: OnceCell::new(),
                permits: Arc::new(Semaphore::new(limits.max_concurrency.max(1) as usize)),
                concurrency: limits.max_concurrency.max(1),
                waiting: AtomicU32::new(0),
                last_used: AtomicU64::new(0),
            })
        });
        Arc::clone(slot)
    }

    /// Drops models idle for longer than `idle(key)` (None = keep) with no call in flight; the
    /// next call loads them again. Returns how many were unloaded.
    pub fn unload_idle(&self, idle: impl Fn(&SlotKey) -> Option<Duration>) -> usize {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let before = slots.len();
        slots.retain(|key, slot| {
            let Some(limit) = idle(key) else {
                return true;
            };
            let busy = slot.permits.available_permits() < slot.concurrency as usize
                || slot.waiting.load(Ordering::Acquire) > 0;
            let idle_for = now.saturating_sub(slot.last_used.load(Ordering::Relaxed));
            busy || u128::from(idle_for) < limit.as_millis() || Arc::strong_count(slot) > 1
        });
        let unloaded = before - slots.len();
        self.unloads.fetch_add(unloaded as u64, Ordering::Relaxed);
        unloaded
    }

    /// Drops every slot of endpoints not in `keep` (deleted or reconfigured endpoints).
    pub fn retain_endpoints(&self, keep: impl Fn(&SlotKey) -> bool) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|key, _| keep(key));
    }

    /// Models loaded and unloaded since the start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.loads.load(Ordering::Relaxed),
            self.unloads.load(Ordering::Relaxed),
        )
    }

    /// Models currently loaded.
    pub fn loaded(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.values().filter(|s| s.backend.initialized()).count()
    }
}

/// Leaves the queue when the waiting call ends, however it ends.
struct Leave<'a>(&'a AtomicU32);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::StubBackend;

    fn stub() -> Arc<dyn Backend> {
        Arc::new(StubBackend { reply: "ok".into() })
    }

    fn key() -> SlotKey {
        SlotKey {
            endpoint: "e".into(),
            version: 1,
        }
    }

    const ONE: SlotLimits = SlotLimits {
        max_concurrency: 1,
        max_queue: 1,
    };

    #[tokio::test]
    async fn loads_once_and_refuses_beyond_the_queue() {
        let pool = Arc::new(ModelPool::default());
        let first = pool
            .acquire(&key(), ONE, || async { Ok(stub()) })
            .await
            .unwrap();
        // One may wait...
        let waiter = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pool.acquire(&key(), ONE, || async { Ok(stub()) })
                    .await
                    .map(|_| ())
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // ...the next is refused with 503 and Retry-After.
        let refused = pool
            .acquire(&key(), ONE, || async { Ok(stub()) })
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::Overloaded);
        assert_eq!(refused.retry_after, Some(1));
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(pool.counts().0, 1, "loaded once");
    }

    #[tokio::test]
    async fn idle_models_unload_and_reload_on_demand() {
        let pool = ModelPool::default();
        drop(
            pool.acquire(&key(), ONE, || async { Ok(stub()) })
                .await
                .unwrap(),
        );
        assert_eq!(pool.loaded(), 1);
        assert_eq!(pool.unload_idle(|_| Some(Duration::from_secs(3600))), 0);
        assert_eq!(pool.unload_idle(|_| None), 0);
        assert_eq!(pool.unload_idle(|_| Some(Duration::ZERO)), 1);
        assert_eq!(pool.loaded(), 0);
        drop(
            pool.acquire(&key(), ONE, || async { Ok(stub()) })
                .await
                .unwrap(),
        );
        assert_eq!(pool.counts(), (2, 1));
    }

    #[tokio::test]
    async fn a_busy_model_is_not_unloaded() {
        let pool = ModelPool::default();
        let lease = pool
            .acquire(&key(), ONE, || async { Ok(stub()) })
            .await
            .unwrap();
        assert_eq!(pool.unload_idle(|_| Some(Duration::ZERO)), 0);
        drop(lease);
        assert_eq!(pool.unload_idle(|_| Some(Duration::ZERO)), 1);
    }

    #[tokio::test]
    async fn a_failed_load_is_retried_by_the_next_call() {
        let pool = ModelPool::default();
        let err = pool
            .acquire(&key(), ONE, || async {
                Err(ApiError::internal("weights failed verification"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
        pool.acquire(&key(), ONE, || async { Ok(stub()) })
            .await
            .unwrap();
    }
}
